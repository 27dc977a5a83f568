// An asynchronous client of Twilio's REST API (Programmable Voice calls) on
// libcurl's multi interface: one worker thread drives every request, many
// requests are in flight at once over reused connections, and each answer
// reaches its `done` callback on that thread.
//
// Retries. HTTP 429 and 5xx answers, and connection failures before any byte
// of the request was sent (could not resolve, could not connect, connect
// timeout), are retried with exponential backoff and full jitter, at most
// `max_attempts` attempts in all (a 429's Retry-After is honoured up to
// `max_backoff`). Any other 4xx is final and carries Twilio's error code and
// message. A timeout or lost connection after the request may have been
// sent is kUnknownOutcome and is never retried: for a create, Twilio may have
// placed the call, so the caller must reconcile before dialing again.
//
// The secret (auth token or API key secret) is never logged.
#ifndef CAMPAIGN_SERVER_TWILIO_REST_CLIENT_H_
#define CAMPAIGN_SERVER_TWILIO_REST_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/twilio/call_resource.h"
#include "server/twilio/form.h"

namespace campaign::twilio {

// How the client reaches Twilio.
struct RestClientOptions {
  // Scheme and host (and port); tests point it at a local fake.
  std::string api_base = "https://api.twilio.com";
  // "AC…": the account in every request path.
  std::string account_sid;
  // Basic-auth user: empty for the account SID itself (with the auth token as
  // `secret`), or an API key SID "SK…" (with the key's secret).
  std::string api_key_sid;
  // The auth token or the API key secret. Never logged.
  std::string secret;
  // TCP (and TLS) connect timeout of one attempt.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Whole-request timeout of one attempt, connect included.
  absl::Duration request_timeout = absl::Seconds(15);
  // Attempts per request, the first included (>= 1).
  int max_attempts = 4;
  // Backoff before retry n (1-based) is uniform in
  // [0, min(max_backoff, initial_backoff * 2^(n-1))].
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(8);
  // Open connections kept for reuse (CURLMOPT_MAXCONNECTS; 0: libcurl's
  // default of 4 per request handle added).
  long max_idle_connections = 0;
};

// The parameters of one call creation (POST …/Calls.json).
struct CreateCallParams {
  // E.164.
  std::string to;
  std::string from;
  // The TwiML URL Twilio fetches when the call is answered.
  std::string url;
  // Our status callback URL (StatusCallbackUrl); events initiated, ringing,
  // answered and completed are asked for, by POST.
  std::string status_callback;
  // Ring time before no-answer (Twilio's `Timeout`, whole seconds).
  absl::Duration timeout = absl::Seconds(30);
  // Twilio's MachineDetection ("Enable", "DetectMessageEnd"); empty: off.
  std::string machine_detection;
};

// The form fields of a create request, in the order sent (exposed for tests
// and logs).
FormParams CreateCallForm(const CreateCallParams& params);

// What became of one request.
struct RestResult {
  enum class Kind {
    // Twilio answered 2xx; `call` holds the resource.
    kOk,
    // Definitely not done: a 4xx, retries used up on 429/5xx or on connection
    // failures before sending, a malformed 2xx body, or a local error.
    kFailed,
    // The request may have reached Twilio (timeout or connection loss after
    // sending): never retried; reconcile.
    kUnknownOutcome,
    // The client was destroyed first. Not sent if `attempts` is 0; otherwise
    // its outcome is unknown, as for kUnknownOutcome.
    kCancelled,
  };
  Kind kind = Kind::kFailed;
  // The last HTTP status (0 when none arrived).
  int http_status = 0;
  // Twilio's error code and message for a 4xx/5xx (code 0 when the body had
  // none); else a description of the transport error.
  int twilio_code = 0;
  std::string message;
  // Attempts made (requests started).
  int attempts = 0;
  // Set for kOk.
  std::optional<CallResource> call;

  bool ok() const { return kind == Kind::kOk; }
  // Twilio does not know the resource (HTTP 404).
  bool NotFound() const { return kind == Kind::kFailed && http_status == 404; }
};

// The name of a result kind ("ok", "failed", "unknown_outcome", "cancelled").
absl::string_view RestResultKindName(RestResult::Kind kind);

// Receives a request's result, once, on the client's worker thread. Must be
// quick and must not destroy the client.
using RestCallback = std::function<void(RestResult result)>;

// The client. Thread-safe; the destructor ends every pending request
// (kCancelled) exactly once and joins the worker.
class RestClient {
 public:
  // INVALID_ARGUMENT when an option is missing or out of range.
  static absl::StatusOr<std::unique_ptr<RestClient>> Create(RestClientOptions options);
  ~RestClient();
  RestClient(const RestClient&) = delete;
  RestClient& operator=(const RestClient&) = delete;

  // POST {api_base}/2010-04-01/Accounts/{account}/Calls.json.
  void CreateCall(const CreateCallParams& params, RestCallback done);
  // GET …/Calls/{sid}.json.
  void FetchCall(absl::string_view call_sid, RestCallback done);
  // POST …/Calls/{sid}.json with Status=`status` ("completed" ends a call in
  // progress, "canceled" one still queued or ringing).
  void UpdateCall(absl::string_view call_sid, absl::string_view status, RestCallback done);

  // Requests not yet finished (queued, in flight or waiting for a retry).
  int Pending() const;

  class Impl;

 private:
  explicit RestClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace campaign::twilio

#endif  // CAMPAIGN_SERVER_TWILIO_REST_CLIENT_H_
