#include "server/api/call.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/api/status.h"
#include "server/observability/logging.h"
#include "server/util/logging.h"

namespace campaign::api {
namespace {

// Refused calls logged per second at most, so a flood of bad keys cannot
// flood the log; the next line logged says how many were left out.
constexpr int kRefusalLogsPerSecond = 20;

ABSL_CONST_INIT absl::Mutex refusal_log_mu(absl::kConstInit);
// The start of the current one-second window, lines logged in it, and
// refusals left out since the last line.
absl::Time refusal_window_start ABSL_GUARDED_BY(refusal_log_mu);
int refusals_logged ABSL_GUARDED_BY(refusal_log_mu) = 0;
int64_t refusals_dropped ABSL_GUARDED_BY(refusal_log_mu) = 0;

// Whether this refusal may be logged now; `suppressed` gets the number of
// refusals left out since the last one logged.
bool MayLogRefusal(int64_t* suppressed) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&refusal_log_mu);
  if (now - refusal_window_start >= absl::Seconds(1)) {
    refusal_window_start = now;
    refusals_logged = 0;
  }
  if (refusals_logged >= kRefusalLogsPerSecond) {
    ++refusals_dropped;
    return false;
  }
  ++refusals_logged;
  *suppressed = refusals_dropped;
  refusals_dropped = 0;
  return true;
}

// Logs (rate-limited) a call whose key was refused.
void LogRefusal(const grpc::ServerContextBase& context, const absl::Status& status) {
  int64_t suppressed = 0;
  if (status.code() != absl::StatusCode::kUnauthenticated || !MayLogRefusal(&suppressed)) return;
  spdlog::warn("security: refused a call from {}: {}{}", context.peer(), status.message(),
               suppressed == 0
                   ? std::string()
                   : absl::StrCat(" (", suppressed, " refusals not logged before this one)"));
}

// Every value of metadata `key`.
std::vector<absl::string_view> ValuesOf(
    const std::multimap<grpc::string_ref, grpc::string_ref>& received, absl::string_view key) {
  std::vector<absl::string_view> values;
  auto [begin, end] = received.equal_range(grpc::string_ref(key.data(), key.size()));
  for (auto it = begin; it != end; ++it) values.emplace_back(it->second.data(), it->second.size());
  return values;
}

}  // namespace

std::string RequestIdOf(const grpc::ServerContextBase& context) {
  auto found = context.client_metadata().find(kRequestIdHeader);
  if (found == context.client_metadata().end()) return std::string();
  return std::string(found->second.data(), found->second.size());
}

CallContext MakeCallContext(const std::multimap<grpc::string_ref, grpc::string_ref>& received,
                            auth::Authenticator* authenticator) {
  CallContext context;
  context.metadata = auth::ParseTenantMetadata(ValuesOf(received, auth::kAuthorizationKey),
                                               ValuesOf(received, auth::kBusinessIdKey));
  if (context.metadata.ok()) {
    context.cached = authenticator->AuthenticateCached(context.metadata->authorization);
  }
  return context;
}

CallRegistry::~CallRegistry() {
  absl::MutexLock lock(&mu_);
  calls_.clear();
}

void CallRegistry::Put(const grpc::ServerContextBase* call,
                       std::shared_ptr<const CallContext> context) {
  absl::MutexLock lock(&mu_);
  calls_[call] = std::move(context);
}

std::shared_ptr<const CallContext> CallRegistry::Find(const grpc::ServerContextBase* call) const {
  absl::MutexLock lock(&mu_);
  auto found = calls_.find(call);
  return found == calls_.end() ? nullptr : found->second;
}

void CallRegistry::Erase(const grpc::ServerContextBase* call, const CallContext* context) {
  absl::MutexLock lock(&mu_);
  auto found = calls_.find(call);
  if (found != calls_.end() && found->second.get() == context) calls_.erase(found);
}

size_t CallRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return calls_.size();
}

CallRunner::CallRunner(const CallRegistry* registry, auth::Authenticator* authenticator,
                       Executor* executor)
    : registry_(registry), authenticator_(authenticator), executor_(executor) {}

void CallRunner::Run(grpc::CallbackServerContext* context, std::function<bool()> cancelled,
                     std::function<void(grpc::Status)> refuse,
                     std::function<void(const AuthenticatedCall&)> body) {
  std::shared_ptr<const CallContext> call = registry_->Find(context);
  if (call == nullptr) {
    // Fail closed: without the tenant interceptor no call is authenticated.
    spdlog::error("a call reached its handler without a call context (tenant interceptor missing)");
    refuse(grpc::Status(grpc::StatusCode::INTERNAL, "the call context is missing"));
    return;
  }
  // Refused early, on the gRPC thread: malformed metadata and keys the cache
  // answers for cost no executor slot.
  if (!call->metadata.ok() || (call->cached.has_value() && !call->cached->ok())) {
    observability::ScopedLogFields log_fields({{"request_id", RequestIdOf(*context)}});
    const absl::Status status =
        call->metadata.ok() ? call->cached->status() : call->metadata.status();
    if (call->metadata.ok()) LogRefusal(*context, status);
    refuse(ToGrpcStatus(status));
    return;
  }
  auto task = [this, context, call, cancelled = std::move(cancelled), refuse,
               body = std::move(body)] {
    // Every line logged for this call (security warnings included) carries
    // its request id, and its principal once known.
    observability::ScopedLogFields log_fields({{"request_id", RequestIdOf(*context)}});
    if (cancelled()) {
      refuse(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
      return;
    }
    absl::StatusOr<Principal> principal =
        call->cached.has_value() ? *call->cached
                                 : authenticator_->Authenticate(call->metadata->authorization);
    if (!principal.ok()) {
      LogRefusal(*context, principal.status());
      refuse(ToGrpcStatus(principal.status()));
      return;
    }
    log_fields.Add("principal", auth::DescribePrincipal(*principal));
    body(AuthenticatedCall{auth::Caller{*std::move(principal), call->metadata->x_business_id},
                           call->metadata->authorization});
  };
  if (absl::Status submitted = executor_->Submit(std::move(task)); !submitted.ok()) {
    refuse(ToGrpcStatus(submitted));
  }
}

grpc::ServerUnaryReactor* CallRunner::ServeUnary(
    grpc::CallbackServerContext* context, std::function<absl::Status(const auth::Caller&)> body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Run(
      context, [context] { return context->IsCancelled(); },
      [reactor](grpc::Status status) { reactor->Finish(std::move(status)); },
      [reactor, body = std::move(body)](const AuthenticatedCall& call) {
        reactor->Finish(ToGrpcStatus(body(call.caller)));
      });
  return reactor;
}

}  // namespace campaign::api
