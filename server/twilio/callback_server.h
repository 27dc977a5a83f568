// The HTTP listener for Twilio's status callbacks (cpp-httplib, plain HTTP:
// TLS ends at the proxy in front of it).
//
// POST /twilio/status: the full public URL is rebuilt as `public_url` + the
// request's path and raw query exactly as received, and X-Twilio-Signature
// is checked over it and the decoded POST parameters. A missing or wrong
// signature is answered 403 with a security warning (remote address and
// path, nothing secret) and nothing is passed on. A signed callback is
// parsed (ParseStatusCallback; 400 when malformed) and queued for the handler
// thread, and answered 204 at once, so Twilio's 15 s limit holds however slow
// the handler (the database) is; when the queue is full the answer is 503
// and Twilio retries. Duplicates are passed on (the store makes applying one
// twice harmless). Because the answer precedes the handler, a callback whose
// handler fails is lost; reconciliation by lookup covers it.
//
// GET /healthz answers 200 "ok".
#ifndef CAMPAIGN_SERVER_TWILIO_CALLBACK_SERVER_H_
#define CAMPAIGN_SERVER_TWILIO_CALLBACK_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "absl/strings/string_view.h"
#include "server/twilio/call_status.h"

namespace campaign::twilio {

// A `--webhook-listen` value: "host:port", "[v6-address]:port"; port 0 picks
// a free port.
struct ListenAddress {
  std::string host;
  int port = 0;
};

// Parses a `--webhook-listen` value; INVALID_ARGUMENT saying what is wrong.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text);

// How the listener is set up.
struct CallbackServerOptions {
  ListenAddress listen = {"127.0.0.1", 0};
  // The base URL Twilio calls (scheme, host, port if any, path prefix the
  // proxy strips), e.g. "https://hooks.example.com/campaign". Required.
  std::string public_url;
  // The account's auth token (the signing key). Required; never logged.
  std::string auth_token;
  // Signed callbacks waiting for the handler; beyond it: 503.
  int queue_capacity = 1024;
  // Most callbacks handed to the handler at once: the handler takes what
  // queued while it was busy in one call (one database write for a batch).
  int handler_batch = 256;
  // HTTP worker threads. cpp-httplib serves a connection on one thread for
  // as long as it is kept alive (idle ones are closed after 2 s), so this is
  // also how many connections Twilio can hold open at once.
  int http_threads = 32;
  // Accept queue length (cpp-httplib's own is 5; see listen_backlog.h).
  int listen_backlog = 1024;
  // Larger bodies are refused (413).
  size_t max_body_bytes = 64 * 1024;
};

// Receives the signed, well-formed callbacks on the handler thread, in
// arrival order, in batches of what queued since its last call (1 to
// handler_batch). An error is logged; the callbacks are not retried.
using StatusCallbackHandler =
    std::function<absl::Status(absl::Span<const StatusCallback> callbacks)>;

// What the listener did so far.
struct CallbackServerStats {
  int64_t queued = 0;
  int64_t handled = 0;
  int64_t handler_errors = 0;
  // 403: missing or wrong signature.
  int64_t rejected_signature = 0;
  // 400/413/415: signed but malformed, or not a form.
  int64_t rejected_malformed = 0;
  // 503: queue full.
  int64_t rejected_full = 0;
};

// The running listener. Stop (or the destructor) stops taking requests,
// lets the handler finish what was queued (it was acknowledged), and joins
// every thread.
class CallbackServer {
 public:
  // Binds, starts the listener and handler threads and returns once the
  // listener accepts connections. INVALID_ARGUMENT for bad options,
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<CallbackServer>> Start(CallbackServerOptions options,
                                                               StatusCallbackHandler handler);
  ~CallbackServer();
  CallbackServer(const CallbackServer&) = delete;
  CallbackServer& operator=(const CallbackServer&) = delete;

  // The port bound (the chosen one when the option was 0).
  int port() const;
  // "http://host:port" of the listener itself (for local clients and tests).
  std::string LocalUrl() const;
  // Counters (see CallbackServerStats).
  CallbackServerStats stats() const;
  // Idempotent.
  void Stop();

  class Impl;

 private:
  explicit CallbackServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace campaign::twilio

#endif  // CAMPAIGN_SERVER_TWILIO_CALLBACK_SERVER_H_
