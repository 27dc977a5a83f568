#include "server/api/tenant_interceptor.h"

#include <memory>
#include <utility>

#include "absl/strings/match.h"

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
    if (recorded_ != nullptr) registry_->Erase(call_, recorded_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA) &&
        recorded_ == nullptr) {
      auto context = std::make_shared<const CallContext>(
          MakeCallContext(*methods->GetRecvInitialMetadata(), authenticator_));
      recorded_ = context.get();
      registry_->Put(call_, std::move(context));
    }
    methods->Proceed();
  }

 private:
  const grpc::ServerContextBase* const call_;
  CallRegistry* const registry_;
  auth::Authenticator* const authenticator_;
  // The context recorded for this call, or null before its metadata.
  const CallContext* recorded_ = nullptr;
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
