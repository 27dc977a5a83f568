// A small typed C++ client for outbound.v1.CampaignService.
//
//   outbound::client::ClientOptions options;
//   options.address = "127.0.0.1:50051";
//   options.api_key = "ocs_...";
//   auto client = outbound::client::Client::Create(options);
//   if (!client.ok()) return;
//   outbound::v1::CreateRunRequest request;  // request_id left empty:
//   request.set_concurrency(2);              // the client generates one
//   ...add leads...
//   auto created = (*client)->CreateRun(request);
//   (*client)->WatchRun(created->run().id(), 0, [](const auto& message) {
//     return true;  // false stops watching
//   });
//
// Every call sends `authorization: Bearer <api_key>` and, when set,
// `x-business-id`; runs under one deadline that covers its retries; and
// retries UNAVAILABLE with exponential backoff and jitter when repeating it is
// safe (see Client's method comments). Errors are the server's gRPC status as
// an absl::Status with the same code and message.
//
// This header pulls in the generated messages only (not grpcpp).
#ifndef OUTBOUND_CAMPAIGN_CLIENT_H_
#define OUTBOUND_CAMPAIGN_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "outbound/v1/campaign_service.pb.h"
#include "outbound/v1/resources.pb.h"

namespace outbound::client {

// Transport security. With no CA the channel is plaintext.
struct TlsOptions {
  // PEM file of the CA(s) that signed the server's certificate; empty means
  // plaintext (no TLS at all).
  std::string ca_cert_path;
  // PEM certificate chain and private key presented to a server that asks
  // for client certificates (mutual TLS). Both or neither; need ca_cert_path.
  std::string client_cert_path;
  std::string client_key_path;
  // Name checked against the server's certificate instead of the host in
  // `address` (for servers reached through an address their certificate
  // does not name). Empty: the host in `address`.
  std::string server_name_override;
};

// How UNAVAILABLE is retried, for the calls where repeating is safe.
struct RetryPolicy {
  // Attempts in all, the first included; 1 turns retries off. For the watch
  // streams: consecutive attempts that received no message.
  int max_attempts = 5;
  // Wait before the first retry; each later wait is `multiplier` times the
  // previous one, at most `max_backoff`.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  double multiplier = 2.0;
  // Each wait is drawn uniformly from [1 - jitter, 1 + jitter] times the
  // nominal one (0..1), so clients that failed together retry apart.
  double jitter = 0.2;
};

// One retry about to happen (for logging and tests).
struct RetryEvent {
  // The RPC's method name, e.g. "CreateRun" or "WatchRun".
  std::string method;
  // The attempt that failed (1 for the first).
  int attempt = 0;
  // Why it failed (always UNAVAILABLE).
  absl::Status status;
  // How long the client waits before the next attempt.
  std::chrono::milliseconds backoff{0};
};

// What a Client is built from.
struct ClientOptions {
  // host:port (or any gRPC target, e.g. "dns:///campaign.internal:443").
  std::string address = "127.0.0.1:50051";
  // Sent as `authorization: Bearer <api_key>`; empty sends none (every RPC
  // is then UNAUTHENTICATED).
  std::string api_key;
  // Sent as `x-business-id` when not empty: a system admin key names the
  // business a call acts on; for other keys it must be their own business.
  std::string business_id;
  // Deadline of each unary call, retries and backoff included. The watch
  // streams have none (they end with the run, or when the callback says so).
  std::chrono::milliseconds deadline{30000};
  TlsOptions tls;
  RetryPolicy retry;
  // Called on the calling thread before each retry's wait; may be empty.
  std::function<void(const RetryEvent&)> on_retry;
};

// Called with each message of a watch stream; return false to stop watching.
template <typename Message>
using WatchCallback = std::function<bool(const Message&)>;

// A new random request id (a version 4 UUID from the kernel's CSPRNG), as
// CreateRun uses when the caller gives none.
std::string NewRequestId();

// A connection to the service. Thread-safe: one client may serve many
// threads at once (calls share one gRPC channel). Calls in progress must end
// before it is destroyed.
class Client {
 public:
  // Builds the channel (reading the TLS files, if any). INVALID_ARGUMENT for
  // an empty address, unreadable TLS files, or a client certificate without
  // its key (or without a CA). Connects lazily, on the first call.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientOptions& options() const;

  // Creates a run. When request.request_id() is empty a random one is
  // generated (NewRequestId) and kept for every retry of this call; the
  // response's run().request_id() tells which. Retried: the server returns
  // the run already created for a repeated request_id (same business, same
  // payload), so a retry after a lost response never makes a second run.
  absl::StatusOr<v1::CreateRunResponse> CreateRun(v1::CreateRunRequest request);

  // Appends leads to a run. Retried: leads already in the run are skipped,
  // so repeating the call adds nothing twice. After a retry whose first
  // attempt did reach the server, `added` and `duplicates_skipped` describe
  // the last attempt only (the leads count as skipped).
  absl::StatusOr<v1::AddLeadsResponse> AddLeads(const v1::AddLeadsRequest& request);

  // Reads; retried (they change nothing).
  absl::StatusOr<v1::OutboundCallRun> GetRun(int64_t run_id);
  absl::StatusOr<v1::ListRunsResponse> ListRuns(const v1::ListRunsRequest& request);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request);

  // Run controls; retried: repeating a transition that already happened
  // succeeds without change on the server (stopping a finished run, pausing
  // a paused one, ...), so a retry after a lost response has the effect of
  // one call. (A retry can still fail with FAILED_PRECONDITION when another
  // caller moved the run in between, exactly as a single late call would.)
  absl::StatusOr<v1::StopRunResponse> StopRun(int64_t run_id);
  absl::StatusOr<v1::OutboundCallRun> CancelRun(int64_t run_id);
  // The same with every field of the request, e.g. `hang_up: false` to let
  // the run's calls in progress finish (unset: they are hung up).
  absl::StatusOr<v1::StopRunResponse> StopRun(const v1::StopRunRequest& request);
  absl::StatusOr<v1::OutboundCallRun> CancelRun(const v1::CancelRunRequest& request);
  absl::StatusOr<v1::OutboundCallRun> PauseRun(int64_t run_id);
  absl::StatusOr<v1::OutboundCallRun> ResumeRun(int64_t run_id);

  // Dialing rules. Reads; retried (they change nothing): the effective
  // dialing policy of the business (run_id 0) or of a run, a page of the
  // do-not-call list, a page of a run's attempt ledger, and PreviewRun (which
  // writes nothing).
  absl::StatusOr<v1::DialingPolicy> GetDialingPolicy(int64_t run_id);
  absl::StatusOr<v1::ListDoNotCallNumbersResponse> ListDoNotCallNumbers(
      const v1::ListDoNotCallNumbersRequest& request);
  absl::StatusOr<v1::ListAttemptsResponse> ListAttempts(const v1::ListAttemptsRequest& request);
  absl::StatusOr<v1::PreviewRunResponse> PreviewRun(const v1::PreviewRunRequest& request);

  // Sets fields of a policy (see the RPC: the fields named in update_mask,
  // else all, are replaced). Retried: it sets values rather than changing
  // them by an amount, so a repeated call leaves the policy as one call does
  // (a retry may undo a change another caller made in between, exactly as a
  // late single call would).
  absl::StatusOr<v1::DialingPolicy> UpdateDialingPolicy(
      const v1::UpdateDialingPolicyRequest& request);

  // Add numbers to, or remove them from, the do-not-call list. Retried: the
  // list is a set, so repeating a call leaves it as one call does. After a
  // retry whose first attempt did reach the server, `added` / `removed`
  // describe the last attempt only (the numbers it found already added or
  // removed are not counted).
  absl::StatusOr<v1::AddDoNotCallNumbersResponse> AddDoNotCallNumbers(
      const v1::AddDoNotCallNumbersRequest& request);
  absl::StatusOr<v1::RemoveDoNotCallNumbersResponse> RemoveDoNotCallNumbers(
      const v1::RemoveDoNotCallNumbersRequest& request);

  // Streams snapshots of a run to `on_message` (on this thread) until the
  // run reaches a terminal status (returns OK after delivering that
  // message), the callback returns false (returns CANCELLED), or the stream
  // fails. When the stream breaks with UNAVAILABLE (a replica shutting down
  // or unreachable) it reconnects with backoff and resumes after the last
  // version delivered, so no snapshot is repeated and no job update lost;
  // it gives up after retry.max_attempts consecutive attempts without a
  // message. `after_version` is the last version the caller already has
  // (0 for none).
  absl::Status WatchRun(int64_t run_id, int64_t after_version,
                        const WatchCallback<v1::WatchRunResponse>& on_message);

  // Streams the runs of the business (see the RPC) to `on_message` until the
  // callback returns false (returns CANCELLED) or the stream fails; the
  // stream never ends by itself. On UNAVAILABLE it reconnects with backoff
  // and the server sends the current set again: a run may then be delivered
  // again with a version already seen (compare versions to skip it).
  absl::Status WatchRuns(const v1::WatchRunsRequest& request,
                         const WatchCallback<v1::WatchRunsResponse>& on_message);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace outbound::client

#endif  // OUTBOUND_CAMPAIGN_CLIENT_H_
