#include "server/api/tenant_interceptor.h"

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"

namespace campaign::api {
namespace {

using grpc::experimental::InterceptionHookPoints;

// Records the call's context when its initial metadata arrives and forgets
// it when the call ends (the interceptor is destroyed with the call).
class TenantInterceptor : public grpc::experimental::Interceptor {
 public:
  TenantInterceptor(const grpc::ServerContextBase* call, CallRegistry* registry,
                    auth::Authenticator* authenticator)
      : call_(call), registry_(registry), authenticator_(authenticator) {}

  ~TenantInterceptor() override {
    const CallContext* recorded = nullptr;
    {
      absl::MutexLock lock(&mu_);
      recorded = recorded_;
    }
    if (recorded != nullptr) registry_->Erase(call_, recorded);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    {
      absl::MutexLock lock(&mu_);
      if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA) &&
          recorded_ == nullptr) {
        auto context = std::make_shared<const CallContext>(
            MakeCallContext(*methods->GetRecvInitialMetadata(), authenticator_));
        recorded_ = context.get();
        registry_->Put(call_, std::move(context));
      }
    }
    // Not under the lock: Proceed may run the rest of the batch, and with it
    // this interceptor again.
    methods->Proceed();
  }

 private:
  const grpc::ServerContextBase* const call_;
  CallRegistry* const registry_;
  auth::Authenticator* const authenticator_;
  // gRPC runs a call's hook points, and destroys its interceptor, on
  // different threads, ordered through atomics inside the library, which
  // ThreadSanitizer cannot see (Debian's gRPC is not instrumented). Each
  // Intercept and the destructor hold this lock, so that order is visible
  // in our own code; it is never contended.
  absl::Mutex mu_;
  // The context recorded for this call, or null before its metadata.
  const CallContext* recorded_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace

TenantInterceptorFactory::TenantInterceptorFactory(CallRegistry* registry,
                                                   auth::Authenticator* authenticator,
                                                   std::string method_prefix)
    : registry_(registry),
      authenticator_(authenticator),
      method_prefix_(std::move(method_prefix)) {}

grpc::experimental::Interceptor* TenantInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  // Health, reflection and anything else pass through untouched.
  if (info->method() == nullptr || !absl::StartsWith(info->method(), method_prefix_)) {
    return nullptr;
  }
  return new TenantInterceptor(info->server_context(), registry_, authenticator_);
}

}  // namespace campaign::api
