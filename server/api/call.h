// The per-call context of a CampaignService call and the steps every handler
// shares (unary calls and both watches): the tenant metadata the tenant
// interceptor parsed, the request id, authentication (from the cache on the
// gRPC thread, else once on the executor) and running the work on the
// Executor. Authorisation rules live in server/auth/.
#ifndef CAMPAIGN_SERVER_API_CALL_H_
#define CAMPAIGN_SERVER_API_CALL_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/string_ref.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/api/executor.h"
#include "server/auth/auth.h"
#include "server/auth/caller.h"
#include "server/auth/tenant_metadata.h"
#include "server/model/model.h"

namespace campaign::api {

// Metadata keys the service reads.
inline constexpr const char* kAuthorizationHeader = auth::kAuthorizationKey;
inline constexpr const char* kBusinessIdHeader = auth::kBusinessIdKey;
// Set by the RPC interceptor (server/observability/rpc_interceptor.h) to the
// caller's value or a generated one: exactly one per call.
inline constexpr char kRequestIdHeader[] = "x-request-id";

// The call's request id (empty if none), for log lines.
std::string RequestIdOf(const grpc::ServerContextBase& context);

// What the tenant interceptor learnt about a call before its handler ran.
// Built only from the call's metadata by MakeCallContext, never read back
// from metadata, so nothing a client sends can fill it in.
struct CallContext {
  // The checked tenant metadata, or the status the call is refused with.
  absl::StatusOr<auth::TenantMetadata> metadata;
  // The principal as far as it is known without blocking: the refusal of a
  // malformed key or a cached answer. nullopt: the key must be looked up
  // (on the executor).
  std::optional<absl::StatusOr<Principal>> cached;
};

// Parses and checks the tenant metadata of `received` (see
// auth::ParseTenantMetadata) and asks `authenticator` for a cached answer
// when the metadata is well formed. Never blocks on the store.
CallContext MakeCallContext(const std::multimap<grpc::string_ref, grpc::string_ref>& received,
                            auth::Authenticator* authenticator);

// The contexts of the calls in progress, keyed by the call's ServerContext
// (an address no client can choose). The tenant interceptor adds a call's
// context when its initial metadata arrives, before the handler runs, and
// removes it when the call ends. Thread-safe.
class CallRegistry {
 public:
  CallRegistry() = default;
  // Takes the lock once more, so the last Erase (from a call's interceptor,
  // on a gRPC thread; gRPC destroys every call before its server) is ordered
  // before the map goes away in a way ThreadSanitizer can see: gRPC's own
  // ordering uses atomics inside the uninstrumented library.
  ~CallRegistry();
  CallRegistry(const CallRegistry&) = delete;
  CallRegistry& operator=(const CallRegistry&) = delete;

  // Records the context of `call`.
  void Put(const grpc::ServerContextBase* call, std::shared_ptr<const CallContext> context);
  // The context of `call`, or null when the interceptor has not seen it.
  std::shared_ptr<const CallContext> Find(const grpc::ServerContextBase* call) const;
  // Forgets `call` if its context is still `context` (a later call on a
  // reused address keeps its own).
  void Erase(const grpc::ServerContextBase* call, const CallContext* context);
  // Calls recorded now.
  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<const grpc::ServerContextBase*, std::shared_ptr<const CallContext>> calls_
      ABSL_GUARDED_BY(mu_);
};

// An authenticated call, as handlers get it.
struct AuthenticatedCall {
  auth::Caller caller;
  // The authorization metadata the call was authenticated with (watch
  // streams check it again while open).
  std::string authorization;
};

// Runs handler work for authenticated calls: the one preamble of every
// CampaignService handler.
class CallRunner {
 public:
  // None is owned; all must outlive the runner.
  CallRunner(const CallRegistry* registry, auth::Authenticator* authenticator, Executor* executor);

  // Runs `body` for the call of `context` once the caller is authenticated.
  // A call refused before any work (its context missing, malformed metadata,
  // a key refused from the cache, the executor full or stopping) is refused
  // at once; otherwise, on the executor, with the call's request id (and its
  // principal once known) on every log line: `cancelled` is asked first
  // (CANCELLED when true), then a key not answered from the cache is looked
  // up (once) and `body` runs. `refuse` gets the status of a refused call,
  // exactly once, and `body` is then not run.
  void Run(grpc::CallbackServerContext* context, std::function<bool()> cancelled,
           std::function<void(grpc::Status)> refuse,
           std::function<void(const AuthenticatedCall&)> body);

  // Run for a unary call: finishes the call with the status `body` returns.
  grpc::ServerUnaryReactor* ServeUnary(grpc::CallbackServerContext* context,
                                       std::function<absl::Status(const auth::Caller&)> body);

 private:
  const CallRegistry* registry_;
  auth::Authenticator* authenticator_;
  Executor* executor_;
};

}  // namespace campaign::api

#endif  // CAMPAIGN_SERVER_API_CALL_H_
