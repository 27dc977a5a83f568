#include "server/observability/rpc_interceptor.h"

#include <grpcpp/server_context.h>

#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/observability/logging.h"
#include "server/observability/metrics.h"
#include "server/util/crypto.h"
#include "server/util/logging.h"

namespace campaign::observability {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RpcInterceptor : public grpc::experimental::Interceptor {
 public:
  RpcInterceptor(grpc::experimental::ServerRpcInfo* info, Metrics* metrics)
      : info_(info),
        metrics_(metrics),
        method_(info->method() != nullptr ? info->method() : ""),
        start_(absl::Now()) {}

  ~RpcInterceptor() override {
    absl::MutexLock lock(&mu_);
    // A call that ended without sending a status (the client went away).
    if (!finished_) Finish("CANCELLED", /*call_alive=*/false);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    {
      absl::MutexLock lock(&mu_);
      if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
        TakeRequestId(methods->GetRecvInitialMetadata());
      }
      if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
        methods->GetSendInitialMetadata()->emplace(kRequestIdHeader, RequestId());
      }
      if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
        status_ = methods->GetSendStatus();
        Finish(StatusCodeName(status_->error_code()), /*call_alive=*/true);
      }
    }
    // Not under the lock: Proceed may run the rest of the batch, and with it
    // this interceptor again.
    methods->Proceed();
  }

 private:
  // The caller's x-request-id when acceptable, else a generated one, which
  // replaces whatever the caller sent so the handler sees exactly one.
  void TakeRequestId(std::multimap<grpc::string_ref, grpc::string_ref>* metadata)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto [begin, end] = metadata->equal_range(kRequestIdHeader);
    if (begin != end && std::next(begin) == end) {
      const absl::string_view sent(begin->second.data(), begin->second.size());
      if (IsAcceptableRequestId(sent)) {
        request_id_ = std::string(sent);
        return;
      }
    }
    metadata->erase(begin, end);
    request_id_ = RandomToken(12);
    // The map holds references: the id lives in this interceptor, which
    // lives as long as the call.
    metadata->emplace(grpc::string_ref(kRequestIdHeader),
                      grpc::string_ref(request_id_.data(), request_id_.size()));
  }

  const std::string& RequestId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Initial metadata always arrives first; generated here only if not.
    if (request_id_.empty()) request_id_ = RandomToken(12);
    return request_id_;
  }

  // `call_alive`: the call may still be asked for its peer (not while the
  // server context is being destroyed).
  void Finish(absl::string_view code, bool call_alive) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    finished_ = true;
    const absl::Duration elapsed = absl::Now() - start_;
    const bool unary = info_->type() == grpc::experimental::ServerRpcInfo::Type::UNARY;
    if (metrics_ != nullptr) {
      metrics_->RecordRpc(
          method_, code,
          unary ? std::optional<double>(absl::ToDoubleSeconds(elapsed)) : std::nullopt);
    }
    ScopedLogFields fields(
        {{"request_id", RequestId()}, {"method", method_}, {"code", std::string(code)}});
    fields.AddNumber("latency_ms", absl::ToDoubleMilliseconds(elapsed));
    std::string peer;
    if (call_alive && info_->server_context() != nullptr) peer = info_->server_context()->peer();
    fields.Add("peer", peer);
    // Health checks and reflection are frequent and routine: debug only.
    const bool routine = absl::StartsWith(method_, "/grpc.");
    const bool server_fault = code == "INTERNAL" || code == "UNKNOWN" || code == "DATA_LOSS";
    const spdlog::level::level_enum level =
        server_fault ? spdlog::level::warn : (routine ? spdlog::level::debug : spdlog::level::info);
    if (status_ && !status_->ok()) {
      spdlog::log(level, "rpc {} {} in {:.1f} ms: {}", method_, code,
                  absl::ToDoubleMilliseconds(elapsed), status_->error_message());
    } else {
      spdlog::log(level, "rpc {} {} in {:.1f} ms", method_, code,
                  absl::ToDoubleMilliseconds(elapsed));
    }
  }

  grpc::experimental::ServerRpcInfo* info_;
  Metrics* metrics_;
  const std::string method_;
  const absl::Time start_;
  // gRPC runs a call's hook points, and destroys its interceptor, on
  // different threads, ordered through atomics inside the library, which
  // ThreadSanitizer cannot see (Debian's gRPC is not instrumented). Each
  // Intercept and the destructor hold this lock, so that order is visible
  // in our own code; it is per call and never contended.
  absl::Mutex mu_;
  std::string request_id_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

bool IsAcceptableRequestId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        absl::string_view("-_.:/+=").find(c) == absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

absl::string_view StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

grpc::experimental::Interceptor* RpcInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcInterceptor(info, metrics_);
}

}  // namespace campaign::observability
