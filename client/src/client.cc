#include "outbound_campaign/client.h"

#include <grpcpp/grpcpp.h>
#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include "outbound/v1/campaign_service.grpc.pb.h"

namespace outbound::client {
namespace {

using Stub = v1::CampaignService::Stub;

// Whether a method may be sent again after UNAVAILABLE. Every RPC the
// service has today is safe (see the reasons on Client's methods in
// client.h); a new RPC that is not (one whose repetition would act twice)
// must pass kNever.
enum class Retry { kNever, kOnUnavailable };

absl::Status ToAbsl(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // gRPC and Abseil share the canonical code numbering.
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream file(path, std::ios::binary);
  const std::string error = std::string("cannot read ") + what + " " + path;
  if (!file) return absl::InvalidArgumentError(error);
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) return absl::InvalidArgumentError(error);
  return text.str();
}

// Fills `out` from the kernel's CSPRNG (getrandom(2) on the urandom source).
bool SecureRandomBytes(unsigned char* out, size_t size) {
  size_t filled = 0;
  while (filled < size) {
    const ssize_t got = getrandom(out + filled, size - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    filled += static_cast<size_t>(got);
  }
  return true;
}

// Exponential backoff with multiplicative jitter. Jitter only spreads
// retries apart, so a seeded PRNG per thread is enough here.
class Backoff {
 public:
  explicit Backoff(const RetryPolicy& policy) : policy_(policy), next_(policy.initial_backoff) {}

  std::chrono::milliseconds Next() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const double nominal = static_cast<double>(next_.count());
    next_ = std::min(policy_.max_backoff,
                     std::chrono::milliseconds(static_cast<int64_t>(nominal * policy_.multiplier)));
    std::uniform_real_distribution<double> factor(1.0 - policy_.jitter, 1.0 + policy_.jitter);
    return std::chrono::milliseconds(static_cast<int64_t>(nominal * factor(rng)));
  }

  void Reset() { next_ = policy_.initial_backoff; }

 private:
  const RetryPolicy& policy_;
  std::chrono::milliseconds next_;
};

// Clamps a policy into its documented ranges.
RetryPolicy Sanitize(RetryPolicy policy) {
  policy.max_attempts = std::max(policy.max_attempts, 1);
  policy.initial_backoff = std::max(policy.initial_backoff, std::chrono::milliseconds(1));
  policy.max_backoff = std::max(policy.max_backoff, policy.initial_backoff);
  policy.multiplier = std::max(policy.multiplier, 1.0);
  policy.jitter = std::clamp(policy.jitter, 0.0, 1.0);
  return policy;
}

}  // namespace

std::string NewRequestId() {
  std::array<unsigned char, 16> bytes{};
  if (!SecureRandomBytes(bytes.data(), bytes.size())) {
    // getrandom(2) exists on every kernel gRPC supports; this is a last
    // resort that still draws from the C++ library's entropy source.
    std::random_device device;
    for (unsigned char& byte : bytes) byte = static_cast<unsigned char>(device());
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char text[37];
  std::snprintf(text, sizeof(text),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
                bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
                bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
  return text;
}

struct Client::Impl {
  ClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<Stub> stub;

  // Adds the API key and business metadata to a call.
  void Prepare(grpc::ClientContext& context) const {
    if (!options.api_key.empty()) context.AddMetadata("authorization", "Bearer " + options.api_key);
    if (!options.business_id.empty()) context.AddMetadata("x-business-id", options.business_id);
  }

  void NotifyRetry(const char* method, int attempt, const absl::Status& status,
                   std::chrono::milliseconds backoff) const {
    if (options.on_retry) options.on_retry(RetryEvent{method, attempt, status, backoff});
  }

  // One unary RPC under one deadline, retrying UNAVAILABLE when `retry`
  // allows it, as long as the next attempt can start before the deadline.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Unary(const char* method_name,
                                 grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                              Response*),
                                 const Request& request, Retry retry) const {
    const auto deadline = std::chrono::system_clock::now() + options.deadline;
    const int max_attempts = retry == Retry::kOnUnavailable ? options.retry.max_attempts : 1;
    Backoff backoff(options.retry);
    for (int attempt = 1;; ++attempt) {
      grpc::ClientContext context;
      Prepare(context);
      context.set_deadline(deadline);
      Response response;
      const grpc::Status status = (stub.get()->*method)(&context, request, &response);
      if (status.ok()) return response;
      absl::Status error = ToAbsl(status);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE || attempt >= max_attempts) {
        return error;
      }
      const std::chrono::milliseconds wait = backoff.Next();
      if (std::chrono::system_clock::now() + wait >= deadline) return error;
      NotifyRetry(method_name, attempt, error, wait);
      std::this_thread::sleep_for(wait);
    }
  }

  // A server stream read to its end, delivering each message to
  // `on_message`; on UNAVAILABLE it reopens the stream with backoff.
  // `open` starts a stream for `request`; `advance` updates the request
  // after a delivered message so a reopened stream resumes after it.
  template <typename Request, typename Response, typename Open, typename Advance>
  absl::Status Watch(const char* method_name, Request request, const Open& open,
                     const Advance& advance, const WatchCallback<Response>& on_message) const {
    Backoff backoff(options.retry);
    int failed_attempts = 0;
    while (true) {
      grpc::ClientContext context;
      Prepare(context);
      std::unique_ptr<grpc::ClientReader<Response>> reader = open(&context, request);
      Response message;
      bool received = false;
      while (reader->Read(&message)) {
        received = true;
        advance(request, message);
        if (!on_message(message)) {
          context.TryCancel();
          while (reader->Read(&message)) {
          }
          reader->Finish();
          return absl::CancelledError(std::string(method_name) + " stopped by the callback");
        }
      }
      const grpc::Status status = reader->Finish();
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return ToAbsl(status);
      // A stream that delivered something made progress: the next failure
      // starts a fresh count and backoff (a replica restart is one hiccup).
      if (received) {
        failed_attempts = 0;
        backoff.Reset();
      }
      ++failed_attempts;
      const absl::Status error = ToAbsl(status);
      if (failed_attempts >= options.retry.max_attempts) return error;
      const std::chrono::milliseconds wait = backoff.Next();
      NotifyRetry(method_name, failed_attempts, error, wait);
      std::this_thread::sleep_for(wait);
    }
  }
};

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.address.empty()) return absl::InvalidArgumentError("address is empty");
  options.retry = Sanitize(options.retry);
  const TlsOptions& tls = options.tls;
  if (tls.client_cert_path.empty() != tls.client_key_path.empty()) {
    return absl::InvalidArgumentError(
        "tls client_cert_path and client_key_path go together (mutual TLS needs both)");
  }
  if (!tls.client_cert_path.empty() && tls.ca_cert_path.empty()) {
    return absl::InvalidArgumentError("a tls client certificate needs ca_cert_path (TLS) too");
  }

  grpc::ChannelArguments arguments;
  // Reconnect at the pace of the retry policy, so a retry after a server
  // came back does not meet a channel still waiting out gRPC's default
  // backoff (1 s growing to 120 s).
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                   static_cast<int>(options.retry.initial_backoff.count()));
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                   static_cast<int>(options.retry.max_backoff.count()));
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (tls.ca_cert_path.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> ca = ReadFile(tls.ca_cert_path, "tls ca_cert_path");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    if (!tls.client_cert_path.empty()) {
      absl::StatusOr<std::string> cert = ReadFile(tls.client_cert_path, "tls client_cert_path");
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadFile(tls.client_key_path, "tls client_key_path");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
    if (!tls.server_name_override.empty()) {
      arguments.SetSslTargetNameOverride(tls.server_name_override);
    }
  }

  auto impl = std::make_unique<Impl>();
  impl->channel = grpc::CreateCustomChannel(options.address, credentials, arguments);
  impl->stub = v1::CampaignService::NewStub(impl->channel);
  impl->options = std::move(options);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

const ClientOptions& Client::options() const { return impl_->options; }

absl::StatusOr<v1::CreateRunResponse> Client::CreateRun(v1::CreateRunRequest request) {
  // The id is chosen once, before the first attempt, so every retry carries
  // the same one: that is what makes retrying CreateRun safe.
  if (request.request_id().empty()) request.set_request_id(NewRequestId());
  return impl_->Unary("CreateRun", &Stub::CreateRun, request, Retry::kOnUnavailable);
}

absl::StatusOr<v1::AddLeadsResponse> Client::AddLeads(const v1::AddLeadsRequest& request) {
  // Safe: the server skips leads already in the run (UNIQUE (run_id,
  // lead_id)), so a repeated request adds nothing twice.
  return impl_->Unary("AddLeads", &Stub::AddLeads, request, Retry::kOnUnavailable);
}

absl::StatusOr<v1::OutboundCallRun> Client::GetRun(int64_t run_id) {
  v1::GetRunRequest request;
  request.set_run_id(run_id);
  return impl_->Unary("GetRun", &Stub::GetRun, request, Retry::kOnUnavailable);  // a read
}

absl::StatusOr<v1::ListRunsResponse> Client::ListRuns(const v1::ListRunsRequest& request) {
  return impl_->Unary("ListRuns", &Stub::ListRuns, request, Retry::kOnUnavailable);  // a read
}

absl::StatusOr<v1::ListJobsResponse> Client::ListJobs(const v1::ListJobsRequest& request) {
  return impl_->Unary("ListJobs", &Stub::ListJobs, request, Retry::kOnUnavailable);  // a read
}

// The four controls are idempotent on the server: a transition that already
// happened succeeds again without change.
absl::StatusOr<v1::StopRunResponse> Client::StopRun(int64_t run_id) {
  v1::StopRunRequest request;
  request.set_run_id(run_id);
  return StopRun(request);
}

absl::StatusOr<v1::StopRunResponse> Client::StopRun(const v1::StopRunRequest& request) {
  return impl_->Unary("StopRun", &Stub::StopRun, request, Retry::kOnUnavailable);
}

absl::StatusOr<v1::OutboundCallRun> Client::CancelRun(int64_t run_id) {
  v1::CancelRunRequest request;
  request.set_run_id(run_id);
  return CancelRun(request);
}

absl::StatusOr<v1::OutboundCallRun> Client::CancelRun(const v1::CancelRunRequest& request) {
  return impl_->Unary("CancelRun", &Stub::CancelRun, request, Retry::kOnUnavailable);
}

absl::StatusOr<v1::OutboundCallRun> Client::PauseRun(int64_t run_id) {
  v1::PauseRunRequest request;
  request.set_run_id(run_id);
  return impl_->Unary("PauseRun", &Stub::PauseRun, request, Retry::kOnUnavailable);
}

absl::StatusOr<v1::OutboundCallRun> Client::ResumeRun(int64_t run_id) {
  v1::ResumeRunRequest request;
  request.set_run_id(run_id);
  return impl_->Unary("ResumeRun", &Stub::ResumeRun, request, Retry::kOnUnavailable);
}

absl::StatusOr<v1::DialingPolicy> Client::GetDialingPolicy(int64_t run_id) {
  v1::GetDialingPolicyRequest request;
  request.set_run_id(run_id);
  return impl_->Unary("GetDialingPolicy", &Stub::GetDialingPolicy, request,
                      Retry::kOnUnavailable);  // a read
}

absl::StatusOr<v1::ListDoNotCallNumbersResponse> Client::ListDoNotCallNumbers(
    const v1::ListDoNotCallNumbersRequest& request) {
  return impl_->Unary("ListDoNotCallNumbers", &Stub::ListDoNotCallNumbers, request,
                      Retry::kOnUnavailable);  // a read
}

absl::StatusOr<v1::ListAttemptsResponse> Client::ListAttempts(
    const v1::ListAttemptsRequest& request) {
  return impl_->Unary("ListAttempts", &Stub::ListAttempts, request,
                      Retry::kOnUnavailable);  // a read
}

absl::StatusOr<v1::PreviewRunResponse> Client::PreviewRun(const v1::PreviewRunRequest& request) {
  // Writes nothing (a proposed run is only evaluated).
  return impl_->Unary("PreviewRun", &Stub::PreviewRun, request, Retry::kOnUnavailable);
}

absl::StatusOr<v1::DialingPolicy> Client::UpdateDialingPolicy(
    const v1::UpdateDialingPolicyRequest& request) {
  // Sets values: repeating it has the effect of one call.
  return impl_->Unary("UpdateDialingPolicy", &Stub::UpdateDialingPolicy, request,
                      Retry::kOnUnavailable);
}

// The do-not-call list is a set: adding a number twice, or removing it
// twice, leaves it as once.
absl::StatusOr<v1::AddDoNotCallNumbersResponse> Client::AddDoNotCallNumbers(
    const v1::AddDoNotCallNumbersRequest& request) {
  return impl_->Unary("AddDoNotCallNumbers", &Stub::AddDoNotCallNumbers, request,
                      Retry::kOnUnavailable);
}

absl::StatusOr<v1::RemoveDoNotCallNumbersResponse> Client::RemoveDoNotCallNumbers(
    const v1::RemoveDoNotCallNumbersRequest& request) {
  return impl_->Unary("RemoveDoNotCallNumbers", &Stub::RemoveDoNotCallNumbers, request,
                      Retry::kOnUnavailable);
}

absl::Status Client::WatchRun(int64_t run_id, int64_t after_version,
                              const WatchCallback<v1::WatchRunResponse>& on_message) {
  v1::WatchRunRequest request;
  request.set_run_id(run_id);
  request.set_after_version(after_version);
  Stub& stub = *impl_->stub;
  return impl_->Watch<v1::WatchRunRequest, v1::WatchRunResponse>(
      "WatchRun", request,
      [&stub](grpc::ClientContext* context, const v1::WatchRunRequest& req) {
        return stub.WatchRun(context, req);
      },
      // Resume after the newest version delivered: the server skips
      // snapshots at or below it and sends the job updates since it.
      [](v1::WatchRunRequest& req, const v1::WatchRunResponse& message) {
        req.set_after_version(std::max(req.after_version(), message.version()));
      },
      on_message);
}

absl::Status Client::WatchRuns(const v1::WatchRunsRequest& request,
                               const WatchCallback<v1::WatchRunsResponse>& on_message) {
  Stub& stub = *impl_->stub;
  return impl_->Watch<v1::WatchRunsRequest, v1::WatchRunsResponse>(
      "WatchRuns", request,
      [&stub](grpc::ClientContext* context, const v1::WatchRunsRequest& req) {
        return stub.WatchRuns(context, req);
      },
      // WatchRuns has no resume point: a new stream starts from the
      // current set.
      [](v1::WatchRunsRequest&, const v1::WatchRunsResponse&) {}, on_message);
}

}  // namespace outbound::client
