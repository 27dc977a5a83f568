// The composition root: assembles the service from its parts (database
// pool, stores, authenticator, handlers and their interceptors, progress hub,
// metrics and health, and the scheduler with its dialer when enabled) and
// runs the gRPC server with health and reflection. Used by `campaignd serve`
// and by the end-to-end tests (which listen on port 0).
#ifndef CAMPAIGN_SERVER_APP_SERVER_H_
#define CAMPAIGN_SERVER_APP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth/auth.h"
#include "server/dialer/simulated_dialer.h"
#include "server/model/model.h"
#include "server/rules/dialing_rules.h"
#include "server/scheduler/scheduler.h"
#include "server/service/validation.h"

namespace grpc {
class Server;
}

namespace campaign::progress {
class ProgressHub;
}  // namespace campaign::progress

namespace campaign::store {
class NotificationListener;
}  // namespace campaign::store

namespace campaign::observability {
class Metrics;
}  // namespace campaign::observability

namespace campaign::app {

// The Twilio dialer's and the status-callback listener's settings (flags
// --twilio-*, --webhook-*; docs/twilio.md).
struct TwilioConfig {
  // "AC…" (34 characters).
  std::string account_sid;
  // The account's auth token: basic auth of the REST API (unless an API key
  // is given) and always the key of the callbacks' signatures. Never logged.
  std::string auth_token;
  // An API key ("SK…") and its secret for the REST API instead of the auth
  // token; optional.
  std::string api_key_sid;
  std::string api_key_secret;
  // Scheme and host of the REST API (tests: a loopback fake).
  std::string api_base = "https://api.twilio.com";
  // The caller id (E.164) and the TwiML URL of every call.
  std::string from;
  std::string twiml_url;
  // host:port of this replica's status-callback listener; empty: none.
  std::string webhook_listen;
  // The base URL Twilio calls back (the listener, behind any proxy).
  std::string webhook_public_url;
  // Ring time of each call, longest call, how often the call-event inbox is
  // read for the calls in flight.
  absl::Duration ring_timeout = absl::Seconds(30);
  absl::Duration max_call_duration = absl::Hours(4);
  absl::Duration poll_interval = absl::Milliseconds(250);
};

// Which provider the scheduler dials through.
enum class DialerKind { kSimulated, kTwilio };

// Everything `serve` is configured with.
struct ServerConfig {
  // libpq connection string or URI; the role must not bypass row-level security.
  std::string database_url;
  // Where the LISTEN connection of live progress goes; empty: database_url.
  // Behind a transaction-pooling pooler (PgBouncer) it must reach PostgreSQL
  // directly (or through a session-mode pool): LISTEN is session state.
  std::string listen_database_url;
  // The LISTEN connection's liveness probe: a self-NOTIFY sent every
  // interval that must come back within the timeout
  // (store::ListenerOptions).
  absl::Duration listener_probe_interval = absl::Seconds(5);
  absl::Duration listener_probe_timeout = absl::Seconds(5);
  // At start, how long every connection of the pool (and the LISTEN
  // connection when it shares the URL) may take to open and answer before
  // campaignd warns that the pooler's pool or max_connections is too small;
  // zero: no check.
  absl::Duration db_pool_check_timeout = absl::Seconds(5);
  // host:port to listen on; port 0 picks a free one (see CampaignServer::port).
  std::string listen = "127.0.0.1:50051";
  // Database connections, and threads running handler work.
  int db_pool_size = 16;
  int handler_threads = 16;
  // Whether the pool prepares its hottest statements (store::PoolOptions).
  bool db_prepared_statements = true;
  // Request limits.
  Limits limits;
  // The dialing policy of last resort (every field set): what a business
  // without its own default and a run without overrides dial by. Its
  // calling windows come from campaignd --default-calling-hours.
  DialingPolicy default_dialing_policy = rules::ServerDefaultPolicy();
  // How long a resolved API key is trusted before it is looked up again;
  // open watch streams re-check their key at least this often.
  absl::Duration auth_cache_ttl = absl::Seconds(5);
  // Database lookups per second (also the burst) of API keys this process
  // does not know; beyond it such calls are UNAVAILABLE without a lookup.
  double auth_lookups_per_second = 50;
  // What an unauthenticated or slow caller can cost: most concurrent calls
  // (HTTP/2 streams) per client connection; bytes gRPC may hold for
  // connections and requests being received (a grpc::ResourceQuota; past it
  // gRPC cancels calls with RESOURCE_EXHAUSTED); calls waiting for a handler
  // thread (beyond it new calls are RESOURCE_EXHAUSTED).
  int max_concurrent_streams = 1000;
  int64_t memory_quota_bytes = int64_t{1} << 30;
  int executor_queue_limit = 1000;
  // A lease older than this is expired (its worker is presumed dead).
  absl::Duration lease_ttl = absl::Seconds(30);
  // Run a scheduler worker next to the API (off for API-only replicas; off by
  // default here so API tests see runs stay as created).
  bool scheduler_enabled = false;
  // The worker's settings; its lease_ttl is taken from `lease_ttl` above,
  // its default_policy from `default_dialing_policy`.
  scheduler::SchedulerOptions scheduler;
  // The provider, and each provider's settings. The Twilio settings also
  // configure the status-callback listener, which runs whenever
  // twilio.webhook_listen is set (with any dialer, with or without the
  // scheduler).
  DialerKind dialer = DialerKind::kSimulated;
  // Every claim takes from its business's calls-per-second bucket (the rate
  // governor, --enforce-calls-per-second: on by default with the Twilio
  // dialer, off with the simulated one); off, claims never touch it.
  bool enforce_calls_per_second = false;
  dialer::SimulatedDialerOptions simulated_dialer;
  TwilioConfig twilio;
  // Live progress streams (WatchRun, WatchRuns): most open in the process,
  // most per business, and most messages per second per run and stream.
  int watch_max_streams = 1000;
  int watch_max_streams_per_business = 100;
  double watch_max_rate = 10;
  // host:port of the Prometheus endpoint (GET /metrics); empty: not served.
  // Port 0 picks a free one (see CampaignServer::metrics_port).
  std::string metrics_listen;
  // How often the health probe asks the database, and how often the
  // campaign_runs gauge is refreshed.
  absl::Duration health_probe_interval = absl::Seconds(1);
  absl::Duration runs_gauge_interval = absl::Seconds(5);
  // PEM files. With a certificate and key the server speaks TLS only; with a
  // client CA too it requires client certificates signed by it (mutual TLS).
  std::string tls_cert_path;
  std::string tls_key_path;
  std::string tls_client_ca_path;
};

// A running server. Destroying it shuts it down.
class CampaignServer {
 public:
  // Connects to the database (failing fast when it does not answer), then
  // starts listening. INVALID_ARGUMENT for an address it cannot listen on.
  static absl::StatusOr<std::unique_ptr<CampaignServer>> Start(const ServerConfig& config);
  ~CampaignServer();

  // The port actually listened on.
  int port() const;
  // Sets the health service to NOT_SERVING, ends open watch streams with
  // UNAVAILABLE, drains the scheduler (no new
  // dials; up to `grace` for calls in progress, then leases are released),
  // then stops accepting RPCs and waits up to `grace` for RPCs in flight.
  void Shutdown(absl::Duration grace);

  // The scheduler worker, or null when disabled.
  scheduler::Scheduler* scheduler() const;
  // The simulated dialer the scheduler dials through, or null when the
  // scheduler is disabled or dials through Twilio.
  dialer::SimulatedDialer* simulated_dialer() const;
  // The port of the status-callback listener, or 0 when there is none.
  int webhook_port() const;
  // The fan-out of live progress to watch streams.
  progress::ProgressHub* progress_hub() const;
  // The process's LISTEN connection.
  store::NotificationListener* progress_listener() const;
  // The metrics (always collected; served only with metrics_listen).
  observability::Metrics* metrics() const;
  // The authenticator's counters (key lookups, throttled and malformed keys).
  auth::AuthStats auth_stats() const;
  // The port metrics are served on, or 0.
  int metrics_port() const;
  // Blocks until the server has shut down.
  void Wait();

 private:
  struct Parts;
  explicit CampaignServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

// Checks the Twilio settings `config` needs (with DialerKind::kTwilio, the
// REST API's and the calls'; with a webhook listener, the listener's):
// INVALID_ARGUMENT naming the first missing or malformed flag. The caller id
// must be E.164; URLs must be https, except http to a loopback host
// (127.0.0.1, [::1], localhost) for tests and local fakes.
absl::Status ValidateTwilioConfig(const ServerConfig& config);

// Largest request message accepted: fits max_leads_per_request leads of the
// largest allowed size.
int MaxReceiveMessageBytes(const Limits& limits);

}  // namespace campaign::app

#endif  // CAMPAIGN_SERVER_APP_SERVER_H_
