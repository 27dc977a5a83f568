#include "server/cli/cli.h"

#include <malloc.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/app/server.h"
#include "server/observability/logging.h"
#include "server/observability/metrics.h"
#include "server/rules/dialing_rules.h"
#include "server/rules/time_zone_map.h"
#include "server/store/api_key_store.h"
#include "server/store/database.h"
#include "server/store/embedded_migrations.h"
#include "server/store/migrator.h"
#include "server/util/logging.h"

namespace {

// The value of environment variable `name`, or `fallback` when unset.
std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

}  // namespace

ABSL_FLAG(std::string, database_url, EnvOr("CAMPAIGN_DATABASE_URL", ""),
          "PostgreSQL connection string or URI (env CAMPAIGN_DATABASE_URL)");
ABSL_FLAG(std::string, listen, EnvOr("CAMPAIGN_LISTEN", "127.0.0.1:50051"),
          "gRPC listen address host:port (env CAMPAIGN_LISTEN)");
ABSL_FLAG(std::string, log_level, EnvOr("CAMPAIGN_LOG_LEVEL", "info"),
          "trace, debug, info, warn, error (env CAMPAIGN_LOG_LEVEL)");
ABSL_FLAG(std::string, log_format, EnvOr("CAMPAIGN_LOG_FORMAT", "text"),
          "text or json (one JSON object per line) (env CAMPAIGN_LOG_FORMAT)");
ABSL_FLAG(std::string, metrics_listen, EnvOr("CAMPAIGN_METRICS_LISTEN", ""),
          "serve Prometheus metrics on host:port at /metrics; empty: off "
          "(env CAMPAIGN_METRICS_LISTEN)");
ABSL_FLAG(std::string, tls_cert, "", "serve: PEM certificate (chain); with --tls-key enables TLS");
ABSL_FLAG(std::string, tls_key, "", "serve: PEM private key of --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "serve: PEM CA bundle; clients must present a certificate it signed (mutual TLS)");
ABSL_FLAG(std::string, listen_database_url, EnvOr("CAMPAIGN_LISTEN_DATABASE_URL", ""),
          "serve: PostgreSQL connection string or URI of the LISTEN connection (live progress); "
          "empty: --database-url. Behind a transaction-pooling pooler (PgBouncer) point it "
          "straight at PostgreSQL (env CAMPAIGN_LISTEN_DATABASE_URL)");
ABSL_FLAG(absl::Duration, listener_probe_interval, absl::Seconds(5),
          "serve: how often the LISTEN connection proves it still receives (a self-NOTIFY)");
ABSL_FLAG(absl::Duration, listener_probe_timeout, absl::Seconds(5),
          "serve: how long the self-NOTIFY may take to come back before the LISTEN connection "
          "is replaced (logged, campaign_listener_probe_failures_total, health service "
          "campaignd.progress_listener NOT_SERVING)");
ABSL_FLAG(absl::Duration, db_pool_check_timeout, absl::Seconds(5),
          "serve: at start, how long the whole pool (+1 LISTEN connection when it shares "
          "--database-url) may take to open and answer before a warning that the pooler's "
          "pool or max_connections is too small; 0: no check");
ABSL_FLAG(int, db_pool_size, 16, "database connections of serve");
ABSL_FLAG(bool, db_prepared_statements, true,
          "serve: run the hottest statements as server-side prepared statements; false behind "
          "a pooler that does not keep them across transactions (PgBouncer 1.18, transaction "
          "pooling)");
ABSL_FLAG(int, handler_threads, 16, "threads running RPC work");
ABSL_FLAG(int, max_concurrency, 100, "highest concurrency a run may ask for");
ABSL_FLAG(std::string, default_calling_hours, "08:00-21:00",
          "serve: the calling window of every day, in the callee's local time, for businesses "
          "and runs whose dialing policy sets none (\"HH:MM-HH:MM\"; 00:00-24:00 is all day)");
ABSL_FLAG(int64_t, max_leads_per_request, 100'000, "most leads in one CreateRun or AddLeads");
ABSL_FLAG(absl::Duration, auth_cache_ttl, absl::Seconds(5),
          "how long a resolved API key is cached (a revoked key stops working within it)");
ABSL_FLAG(absl::Duration, lease_ttl, absl::Seconds(30),
          "a run lease older than this is expired (its worker presumed dead)");
ABSL_FLAG(bool, migrate, true, "serve: apply pending migrations before serving");
ABSL_FLAG(bool, scheduler, true, "serve: run a scheduler worker (false for API-only replicas)");
ABSL_FLAG(std::string, worker_id, "",
          "scheduler identity in locked_by_worker (default host:pid:random)");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(5),
          "how often held leases are renewed (and at once when the database answers again)");
ABSL_FLAG(std::string, require_replicated_claims, "auto",
          "serve: dial a claimed batch only once a synchronous standby flushed its claim: on, "
          "off, or auto (on once the primary has or had a standby, synchronous_standby_names "
          "is or was set, or --database-url names several hosts); needs GRANT "
          "pg_read_all_stats to the service role when on");
ABSL_FLAG(absl::Duration, replicated_claim_timeout, absl::Seconds(2),
          "serve: longest a claimed batch waits for a synchronous standby before its claims "
          "go back to the queue undialed (capped at a quarter of --lease-ttl)");
ABSL_FLAG(absl::Duration, sweep_interval, absl::Seconds(10),
          "how often expired leases are taken over (with up to 50% jitter)");
ABSL_FLAG(absl::Duration, poll_interval, absl::Milliseconds(200),
          "how often a worker looks for new runs when idle");
ABSL_FLAG(int, max_runs, 50, "most runs one worker holds at once");
ABSL_FLAG(int, max_runs_per_business, 25,
          "most runs of one business one worker holds at once (0: no cap; businesses still "
          "take turns), so one business cannot fill a worker");
ABSL_FLAG(int, max_dials_in_flight, 1000,
          "most calls one worker has in flight at once, across all its runs (the replica's cap "
          "on provider load)");
ABSL_FLAG(int, max_claim_batch, 1000,
          "most jobs one worker claims for one run in one statement, so runs take turns");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(30),
          "on SIGTERM/SIGINT, how long calls in progress may finish before leases are released");
ABSL_FLAG(int, watch_max_streams, 1000, "most open WatchRun/WatchRuns streams per process");
ABSL_FLAG(int, watch_max_streams_per_business, 100,
          "most open WatchRun/WatchRuns streams per business and process");
ABSL_FLAG(double, watch_max_rate, 10, "most watch messages per second per run and stream");
// What an unauthenticated or slow caller can cost (API hardening).
ABSL_FLAG(int, max_concurrent_streams, 1000,
          "most concurrent calls (HTTP/2 streams) per client connection");
ABSL_FLAG(int64_t, memory_quota_mb, 1024,
          "MiB gRPC may hold for connections and requests being received; past it calls are "
          "cancelled with RESOURCE_EXHAUSTED");
ABSL_FLAG(int, executor_queue_limit, 1000,
          "calls waiting for a handler thread; beyond it new calls are RESOURCE_EXHAUSTED");
ABSL_FLAG(double, auth_lookups_per_second, 50,
          "database lookups per second (and burst) of API keys this process does not know; "
          "beyond it such calls are UNAVAILABLE");
ABSL_FLAG(std::string, time_zone_map, "",
          "serve: a libphonenumber map_data.txt (prefix -> time zones) to use instead of the "
          "table built in (server/rules/data/map_data.txt)");
ABSL_FLAG(std::string, dialer, EnvOr("CAMPAIGN_DIALER", "simulated"),
          "telephony provider: simulated or twilio (env CAMPAIGN_DIALER)");
ABSL_FLAG(std::optional<bool>, enforce_calls_per_second, std::nullopt,
          "serve: every claim takes from its business's calls-per-second bucket "
          "(business.max_calls_per_second, set with set-business-limits) so a business never "
          "dials faster, across all replicas; true or false (default: true with "
          "--dialer=twilio, false with --dialer=simulated)");
ABSL_FLAG(std::string, twilio_account_sid, EnvOr("CAMPAIGN_TWILIO_ACCOUNT_SID", ""),
          "twilio: the account SID AC... (env CAMPAIGN_TWILIO_ACCOUNT_SID)");
ABSL_FLAG(std::string, twilio_auth_token, EnvOr("CAMPAIGN_TWILIO_AUTH_TOKEN", ""),
          "twilio: the account's auth token; signs the status callbacks and, without an API "
          "key, authenticates REST requests. Prefer --twilio-auth-token-file; never logged "
          "(env CAMPAIGN_TWILIO_AUTH_TOKEN)");
ABSL_FLAG(std::string, twilio_auth_token_file, EnvOr("CAMPAIGN_TWILIO_AUTH_TOKEN_FILE", ""),
          "twilio: a file holding the auth token (surrounding whitespace ignored) "
          "(env CAMPAIGN_TWILIO_AUTH_TOKEN_FILE)");
ABSL_FLAG(std::string, twilio_api_key_sid, EnvOr("CAMPAIGN_TWILIO_API_KEY_SID", ""),
          "twilio: an API key SK... for REST requests instead of the auth token "
          "(env CAMPAIGN_TWILIO_API_KEY_SID)");
ABSL_FLAG(std::string, twilio_api_key_secret, EnvOr("CAMPAIGN_TWILIO_API_KEY_SECRET", ""),
          "twilio: the API key's secret; never logged (env CAMPAIGN_TWILIO_API_KEY_SECRET)");
ABSL_FLAG(std::string, twilio_api_base, EnvOr("CAMPAIGN_TWILIO_API_BASE", "https://api.twilio.com"),
          "twilio: scheme and host of the REST API (env CAMPAIGN_TWILIO_API_BASE)");
ABSL_FLAG(std::string, twilio_from, EnvOr("CAMPAIGN_TWILIO_FROM", ""),
          "twilio: the caller id of calls whose run names none, E.164 (env "
          "CAMPAIGN_TWILIO_FROM)");
ABSL_FLAG(std::string, twilio_twiml_url, EnvOr("CAMPAIGN_TWILIO_TWIML_URL", ""),
          "twilio: the TwiML URL Twilio fetches when a call is answered, for runs naming "
          "none, https (env CAMPAIGN_TWILIO_TWIML_URL)");
ABSL_FLAG(absl::Duration, twilio_ring_timeout, absl::Seconds(30),
          "twilio: how long a call rings before no-answer, for runs naming no ring timeout");
ABSL_FLAG(absl::Duration, twilio_max_call_duration, absl::Hours(4),
          "twilio: longest call; a call with no final status callback after ring timeout + "
          "this is looked up at Twilio");
ABSL_FLAG(absl::Duration, twilio_poll_interval, absl::Milliseconds(250),
          "twilio: how often the recorded status callbacks are read for the calls in flight");
ABSL_FLAG(std::string, webhook_listen, EnvOr("CAMPAIGN_WEBHOOK_LISTEN", ""),
          "host:port of the Twilio status-callback listener (plain HTTP, behind a TLS proxy); "
          "empty: none (env CAMPAIGN_WEBHOOK_LISTEN)");
ABSL_FLAG(std::string, webhook_public_url, EnvOr("CAMPAIGN_WEBHOOK_PUBLIC_URL", ""),
          "the base URL Twilio calls back, exactly as Twilio sees it (signatures are computed "
          "over it), e.g. https://hooks.example.com/campaign (env CAMPAIGN_WEBHOOK_PUBLIC_URL)");
ABSL_FLAG(uint64_t, sim_seed, 1, "simulated dialer: seed of the outcome draw");
ABSL_FLAG(absl::Duration, sim_call_duration, absl::Seconds(3),
          "simulated dialer: call length, from the provider's acceptance to the outcome");
ABSL_FLAG(absl::Duration, sim_dial_latency, absl::ZeroDuration(),
          "simulated dialer: how long the provider takes to accept or refuse a dial (the answer "
          "time of a real provider's create-call request)");
ABSL_FLAG(std::string, sim_outcomes, "completed=80,no_answer=10,busy=5",
          "simulated dialer: outcome mix in percent; failed takes the rest");
ABSL_FLAG(std::string, sim_dial_log, "", "simulated dialer: append one line per dial to this file");
ABSL_FLAG(std::string, name, "", "create-business: the business name");
ABSL_FLAG(int64_t, business_id, 0,
          "create-api-key: the key's business (not for system_admin); set-business-limits: the "
          "business");
ABSL_FLAG(double, max_calls_per_second, 0,
          "set-business-limits: the business's calls-per-second limit (> 0, at most 1000; "
          "fractions allowed, 0.5 is a call every two seconds)");
ABSL_FLAG(std::string, role, "", "create-api-key: system_admin, owner, admin or agent");
ABSL_FLAG(int64_t, user_id, 0, "create-api-key: the CRM user behind the key (optional)");
ABSL_FLAG(std::string, label, "", "create-api-key: a note to recognise the key by");
ABSL_FLAG(int64_t, id, 0, "revoke-api-key: the key's id");

namespace campaign::cli {
namespace {

constexpr char kUsage[] =
    "campaignd <command> [flags]\n"
    "commands:\n"
    "  serve            run the gRPC API\n"
    "  migrate          apply pending database migrations\n"
    "  create-business  --name NAME; prints the new business id\n"
    "  create-api-key   [--business-id ID] --role ROLE [--user-id ID] [--label TEXT];\n"
    "                   prints the key (shown once; only its hash is stored)\n"
    "  revoke-api-key   --id ID\n"
    "  set-business-limits --business-id ID --max-calls-per-second N;\n"
    "                   prints the business with its limits\n"
    "Every command needs --database-url or CAMPAIGN_DATABASE_URL.";

// Prints one line naming the problem and returns the exit code for it.
int Fail(const std::string& message) {
  std::cerr << "campaignd: " << message << "\n";
  return 2;
}

int Fail(const absl::Status& status) {
  return Fail(absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message()));
}

absl::Status ConfigureLogging() {
  const std::string level = absl::GetFlag(FLAGS_log_level);
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-level \"", level, "\" is not one of trace, debug, info, warn, error"));
  }
  const std::string format_name = absl::GetFlag(FLAGS_log_format);
  std::optional<observability::LogFormat> format = observability::ParseLogFormat(format_name);
  if (!format) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-format \"", format_name, "\" is not one of text, json"));
  }
  // Logs go to stderr; stdout carries command results only.
  spdlog::set_default_logger(spdlog::stderr_color_mt("campaignd"));
  spdlog::set_formatter(observability::MakeLogFormatter(*format));
  spdlog::set_level(parsed);
  return absl::OkStatus();
}

// Checks the form host:port (port 0..65535) before anything else is done;
// whether the address can be bound is only known when serving starts.
absl::Status ValidateListenAddress(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(listen).substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--listen (or CAMPAIGN_LISTEN) \"", listen,
                                                   "\" is not host:port with a port 0..65535"));
  }
  return absl::OkStatus();
}

// The Twilio and webhook flags; the auth token from its file when one is
// named (never both).
absl::Status TwilioSettings(app::TwilioConfig* twilio) {
  twilio->account_sid = absl::GetFlag(FLAGS_twilio_account_sid);
  twilio->auth_token = absl::GetFlag(FLAGS_twilio_auth_token);
  const std::string token_file = absl::GetFlag(FLAGS_twilio_auth_token_file);
  if (!token_file.empty()) {
    if (!twilio->auth_token.empty()) {
      return absl::InvalidArgumentError(
          "give the Twilio auth token once: --twilio-auth-token or --twilio-auth-token-file");
    }
    std::ifstream file(token_file);
    std::stringstream text;
    text << file.rdbuf();
    if (!file.good() && !file.eof()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--twilio-auth-token-file \"", token_file, "\" cannot be read"));
    }
    twilio->auth_token = std::string(absl::StripAsciiWhitespace(text.str()));
    if (twilio->auth_token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--twilio-auth-token-file \"", token_file, "\" is empty or unreadable"));
    }
  }
  twilio->api_key_sid = absl::GetFlag(FLAGS_twilio_api_key_sid);
  twilio->api_key_secret = absl::GetFlag(FLAGS_twilio_api_key_secret);
  twilio->api_base = absl::GetFlag(FLAGS_twilio_api_base);
  twilio->from = absl::GetFlag(FLAGS_twilio_from);
  twilio->twiml_url = absl::GetFlag(FLAGS_twilio_twiml_url);
  twilio->ring_timeout = absl::GetFlag(FLAGS_twilio_ring_timeout);
  twilio->max_call_duration = absl::GetFlag(FLAGS_twilio_max_call_duration);
  twilio->poll_interval = absl::GetFlag(FLAGS_twilio_poll_interval);
  twilio->webhook_listen = absl::GetFlag(FLAGS_webhook_listen);
  twilio->webhook_public_url = absl::GetFlag(FLAGS_webhook_public_url);
  return absl::OkStatus();
}

absl::StatusOr<std::string> DatabaseUrl() {
  std::string url = absl::GetFlag(FLAGS_database_url);
  if (url.empty()) {
    return absl::InvalidArgumentError("--database-url (or CAMPAIGN_DATABASE_URL) is required");
  }
  return url;
}

int Migrate(const std::string& url) {
  absl::StatusOr<store::MigrationReport> report = store::Migrate(url, store::EmbeddedMigrations());
  if (!report.ok()) return Fail(report.status());
  spdlog::info("database at migration {} ({} applied now{}{})", report->current_version,
               report->applied.size(), report->applied.empty() ? "" : ": ",
               absl::StrJoin(report->applied, ", "));
  return 0;
}

// Keeps the resident size of a long-running replica from ratcheting up with
// every large request. glibc raises its mmap threshold after each large free,
// so the next 100,000-lead CreateRun's buffers come from a thread's arena
// and stay there (the API replica grew 40 -> 108 MB over six such calls);
// with the threshold fixed, large buffers are mapped and unmapped, and free
// memory above 1 MiB at a heap's top goes back to the system (peak 77 MB,
// flat, same speed: docs/benchmarks.md).
void TuneAllocator() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
#endif
}

int Serve(const std::string& url) {
  TuneAllocator();
  app::ServerConfig config;
  config.database_url = url;
  config.listen_database_url = absl::GetFlag(FLAGS_listen_database_url);
  if (!config.listen_database_url.empty()) {
    if (absl::StatusOr<std::string> parsed =
            store::WithConnectionSettings(config.listen_database_url, {}, {});
        !parsed.ok()) {
      return Fail(absl::StrCat("--listen-database-url: ", parsed.status().message()));
    }
    if (absl::Status status = store::CheckConnection(config.listen_database_url); !status.ok()) {
      return Fail(absl::StrCat(status.message(),
                               " (--listen-database-url / CAMPAIGN_LISTEN_DATABASE_URL)"));
    }
  }
  config.listener_probe_interval = absl::GetFlag(FLAGS_listener_probe_interval);
  config.listener_probe_timeout = absl::GetFlag(FLAGS_listener_probe_timeout);
  if (config.listener_probe_interval <= absl::ZeroDuration()) {
    return Fail(absl::StrCat("--listener-probe-interval (",
                             absl::FormatDuration(config.listener_probe_interval),
                             ") must be > 0"));
  }
  if (config.listener_probe_timeout <= absl::ZeroDuration()) {
    return Fail(absl::StrCat("--listener-probe-timeout (",
                             absl::FormatDuration(config.listener_probe_timeout), ") must be > 0"));
  }
  config.db_pool_check_timeout = absl::GetFlag(FLAGS_db_pool_check_timeout);
  if (config.db_pool_check_timeout < absl::ZeroDuration()) {
    return Fail(absl::StrCat("--db-pool-check-timeout (",
                             absl::FormatDuration(config.db_pool_check_timeout),
                             ") must be >= 0"));
  }
  config.listen = absl::GetFlag(FLAGS_listen);
  config.db_pool_size = absl::GetFlag(FLAGS_db_pool_size);
  config.db_prepared_statements = absl::GetFlag(FLAGS_db_prepared_statements);
  config.handler_threads = absl::GetFlag(FLAGS_handler_threads);
  config.limits.max_concurrency = absl::GetFlag(FLAGS_max_concurrency);
  config.limits.max_leads_per_request = absl::GetFlag(FLAGS_max_leads_per_request);
  config.auth_cache_ttl = absl::GetFlag(FLAGS_auth_cache_ttl);
  config.lease_ttl = absl::GetFlag(FLAGS_lease_ttl);
  {
    absl::StatusOr<std::vector<DailyWindow>> windows =
        rules::ParseDailyHours(absl::GetFlag(FLAGS_default_calling_hours));
    if (!windows.ok()) {
      return Fail(absl::StrCat("--default-calling-hours: ", windows.status().message()));
    }
    config.default_dialing_policy = rules::ServerDefaultPolicy();
    config.default_dialing_policy.calling_windows = *std::move(windows);
  }
  if (absl::Status status = ValidateListenAddress(config.listen); !status.ok()) {
    return Fail(std::string(status.message()));
  }
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (!config.metrics_listen.empty()) {
    if (absl::Status status = observability::ValidateMetricsAddress(config.metrics_listen);
        !status.ok()) {
      return Fail(std::string(status.message()));
    }
  }
  config.tls_cert_path = absl::GetFlag(FLAGS_tls_cert);
  config.tls_key_path = absl::GetFlag(FLAGS_tls_key);
  config.tls_client_ca_path = absl::GetFlag(FLAGS_tls_client_ca);
  if (config.db_pool_size < 1) return Fail("--db-pool-size must be >= 1");
  if (config.handler_threads < 1) return Fail("--handler-threads must be >= 1");
  if (config.limits.max_concurrency < 1) return Fail("--max-concurrency must be >= 1");
  if (config.limits.max_leads_per_request < 1 || config.limits.max_leads_per_request > 5'000'000) {
    return Fail("--max-leads-per-request must be within 1..5000000");
  }
  if (config.auth_cache_ttl < absl::ZeroDuration()) return Fail("--auth-cache-ttl must be >= 0");
  if (config.lease_ttl <= absl::ZeroDuration()) return Fail("--lease-ttl must be > 0");
  config.scheduler_enabled = absl::GetFlag(FLAGS_scheduler);
  config.scheduler.worker_id = absl::GetFlag(FLAGS_worker_id);
  config.scheduler.heartbeat_interval = absl::GetFlag(FLAGS_heartbeat_interval);
  config.scheduler.sweep_interval = absl::GetFlag(FLAGS_sweep_interval);
  config.scheduler.poll_interval = absl::GetFlag(FLAGS_poll_interval);
  config.scheduler.max_runs = absl::GetFlag(FLAGS_max_runs);
  config.scheduler.max_runs_per_business = absl::GetFlag(FLAGS_max_runs_per_business);
  if (config.scheduler.heartbeat_interval <= absl::ZeroDuration() ||
      config.scheduler.heartbeat_interval >= config.lease_ttl) {
    return Fail(absl::StrCat("--heartbeat-interval (",
                             absl::FormatDuration(config.scheduler.heartbeat_interval),
                             ") must be > 0 and shorter than --lease-ttl (",
                             absl::FormatDuration(config.lease_ttl), ")"));
  }
  if (config.scheduler.sweep_interval <= absl::ZeroDuration()) {
    return Fail("--sweep-interval must be > 0");
  }
  if (config.scheduler.poll_interval <= absl::ZeroDuration()) {
    return Fail("--poll-interval must be > 0");
  }
  if (config.scheduler.max_runs < 1) return Fail("--max-runs must be >= 1");
  absl::StatusOr<scheduler::ReplicatedClaimsMode> replicated =
      scheduler::ParseReplicatedClaimsMode(absl::GetFlag(FLAGS_require_replicated_claims));
  if (!replicated.ok()) return Fail(std::string(replicated.status().message()));
  config.scheduler.replication.mode = *replicated;
  config.scheduler.replication.timeout = absl::GetFlag(FLAGS_replicated_claim_timeout);
  if (config.scheduler.replication.timeout <= absl::ZeroDuration()) {
    return Fail(absl::StrCat("--replicated-claim-timeout (",
                             absl::FormatDuration(config.scheduler.replication.timeout),
                             ") must be > 0"));
  }
  config.scheduler.max_dials_in_flight = absl::GetFlag(FLAGS_max_dials_in_flight);
  config.scheduler.max_claim_batch = absl::GetFlag(FLAGS_max_claim_batch);
  if (config.scheduler.max_dials_in_flight < 1) {
    return Fail("--max-dials-in-flight must be >= 1");
  }
  if (config.scheduler.max_claim_batch < 1) return Fail("--max-claim-batch must be >= 1");
  if (config.scheduler.max_runs_per_business < 0) {
    return Fail("--max-runs-per-business must be >= 0 (0: no cap)");
  }
  if (config.scheduler.worker_id.size() > 128) return Fail("--worker-id must be at most 128 bytes");
  config.watch_max_streams = absl::GetFlag(FLAGS_watch_max_streams);
  config.watch_max_streams_per_business = absl::GetFlag(FLAGS_watch_max_streams_per_business);
  config.watch_max_rate = absl::GetFlag(FLAGS_watch_max_rate);
  if (config.watch_max_streams < 0) return Fail("--watch-max-streams must be >= 0");
  if (config.watch_max_streams_per_business < 0) {
    return Fail("--watch-max-streams-per-business must be >= 0");
  }
  if (!(config.watch_max_rate > 0)) return Fail("--watch-max-rate must be > 0");
  config.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  config.executor_queue_limit = absl::GetFlag(FLAGS_executor_queue_limit);
  config.auth_lookups_per_second = absl::GetFlag(FLAGS_auth_lookups_per_second);
  const int64_t memory_quota_mb = absl::GetFlag(FLAGS_memory_quota_mb);
  if (config.max_concurrent_streams < 1) return Fail("--max-concurrent-streams must be >= 1");
  if (config.executor_queue_limit < 1) return Fail("--executor-queue-limit must be >= 1");
  if (!(config.auth_lookups_per_second >= 1)) return Fail("--auth-lookups-per-second must be >= 1");
  if (memory_quota_mb < 16 || memory_quota_mb > (int64_t{1} << 30)) {
    return Fail("--memory-quota-mb must be within 16..1073741824");
  }
  config.memory_quota_bytes = memory_quota_mb << 20;
  if (config.memory_quota_bytes < app::MaxReceiveMessageBytes(config.limits)) {
    return Fail(absl::StrCat("--memory-quota-mb (", memory_quota_mb,
                             ") must hold the largest request --max-leads-per-request allows (",
                             (app::MaxReceiveMessageBytes(config.limits) >> 20) + 1, " MiB)"));
  }
  const absl::Duration shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (shutdown_grace < absl::ZeroDuration()) return Fail("--shutdown-grace must be >= 0");
  const std::string dialer_name = absl::GetFlag(FLAGS_dialer);
  if (dialer_name == "twilio") {
    config.dialer = app::DialerKind::kTwilio;
  } else if (dialer_name != "simulated") {
    return Fail(absl::StrCat("--dialer \"", dialer_name, "\" is not one of simulated, twilio"));
  }
  config.enforce_calls_per_second = absl::GetFlag(FLAGS_enforce_calls_per_second)
                                        .value_or(config.dialer == app::DialerKind::kTwilio);
  if (absl::Status status = TwilioSettings(&config.twilio); !status.ok()) {
    return Fail(std::string(status.message()));
  }
  if (absl::Status status = app::ValidateTwilioConfig(config); !status.ok()) {
    return Fail(std::string(status.message()));
  }
  config.simulated_dialer.seed = absl::GetFlag(FLAGS_sim_seed);
  config.simulated_dialer.call_duration = absl::GetFlag(FLAGS_sim_call_duration);
  config.simulated_dialer.dial_latency = absl::GetFlag(FLAGS_sim_dial_latency);
  config.simulated_dialer.dial_log_path = absl::GetFlag(FLAGS_sim_dial_log);
  if (config.simulated_dialer.call_duration < absl::ZeroDuration()) {
    return Fail("--sim-call-duration must be >= 0");
  }
  if (config.simulated_dialer.dial_latency < absl::ZeroDuration()) {
    return Fail("--sim-dial-latency must be >= 0");
  }
  if (absl::Status status =
          dialer::ParseOutcomeMix(absl::GetFlag(FLAGS_sim_outcomes), &config.simulated_dialer);
      !status.ok()) {
    return Fail(std::string(status.message()));
  }

  if (const std::string path = absl::GetFlag(FLAGS_time_zone_map); !path.empty()) {
    absl::StatusOr<rules::TimeZoneMap> map = rules::TimeZoneMap::Load(path);
    if (!map.ok()) return Fail(map.status());
    spdlog::info("time-zone map: {} prefixes from {}", map->size(), path);
    rules::SetTimeZones(*std::move(map));
  } else {
    rules::TimeZones();  // Parses the built-in table now rather than on the first lead.
  }

  if (absl::GetFlag(FLAGS_migrate)) {
    if (int code = Migrate(url); code != 0) return code;
  }
  // Block the shutdown signals in every thread; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<app::CampaignServer>> server = app::CampaignServer::Start(config);
  if (!server.ok()) return Fail(server.status());
  spdlog::info("campaignd serving on {} (port {})", config.listen, (*server)->port());

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("received {}, shutting down", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->Shutdown(shutdown_grace);
  (*server)->Wait();
  spdlog::info("campaignd stopped");
  return 0;
}

int CreateBusiness(const std::string& url) {
  store::Database database(url, store::PoolOptions{.size = 1});
  store::ApiKeyStore keys(&database);
  absl::StatusOr<int64_t> id = keys.CreateBusiness(absl::GetFlag(FLAGS_name));
  if (!id.ok()) return Fail(id.status());
  std::cout << *id << std::endl;
  return 0;
}

int CreateApiKey(const std::string& url) {
  const std::string role_name = absl::GetFlag(FLAGS_role);
  std::optional<Role> role = ParseRole(role_name);
  if (!role) {
    return Fail(
        absl::StrCat("--role \"", role_name, "\" is not one of system_admin, owner, admin, agent"));
  }
  const int64_t business = absl::GetFlag(FLAGS_business_id);
  if (business < 0) return Fail("--business-id must be > 0");
  store::Database database(url, store::PoolOptions{.size = 1});
  store::ApiKeyStore keys(&database);
  absl::StatusOr<store::NewApiKey> key =
      keys.CreateApiKey(business == 0 ? std::nullopt : std::optional(business), *role,
                        absl::GetFlag(FLAGS_user_id), absl::GetFlag(FLAGS_label));
  if (!key.ok()) return Fail(key.status());
  spdlog::info("created api key {} ({}); it is shown once", key->id, role_name);
  std::cout << key->key << std::endl;
  return 0;
}

int RevokeApiKey(const std::string& url) {
  const int64_t id = absl::GetFlag(FLAGS_id);
  if (id <= 0) return Fail("--id must be > 0");
  store::Database database(url, store::PoolOptions{.size = 1});
  store::ApiKeyStore keys(&database);
  if (absl::Status status = keys.RevokeApiKey(id); !status.ok()) return Fail(status);
  spdlog::info("revoked api key {}", id);
  return 0;
}

int SetBusinessLimits(const std::string& url) {
  const int64_t business = absl::GetFlag(FLAGS_business_id);
  if (business <= 0) return Fail("--business-id must be > 0");
  const double cps = absl::GetFlag(FLAGS_max_calls_per_second);
  if (!(cps > 0 && cps <= store::kMaxCallsPerSecond)) {
    return Fail(
        absl::StrCat("--max-calls-per-second must be > 0 and at most ", store::kMaxCallsPerSecond));
  }
  store::Database database(url, store::PoolOptions{.size = 1});
  store::ApiKeyStore keys(&database);
  absl::StatusOr<Business> updated = keys.SetBusinessLimits(business, cps);
  if (!updated.ok()) return Fail(updated.status());
  spdlog::info("business {} may dial {} calls per second", updated->id,
               updated->max_calls_per_second);
  std::cout << "id=" << updated->id << " name=" << updated->name
            << " max_calls_per_second=" << updated->max_calls_per_second << std::endl;
  return 0;
}

// Abseil spells flags with underscores; campaignd's documented spelling uses
// dashes (--database-url). Both are accepted: dashes in a flag's name (not
// its value) become underscores.
std::vector<std::string> NormalizeFlagNames(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    std::string& arg = args[i];
    if (arg == "--") break;
    if (arg.size() < 3 || arg[0] != '-' || arg[1] != '-') continue;
    const size_t end = std::min(arg.find('='), arg.size());
    for (size_t k = 2; k < end; ++k) {
      if (arg[k] == '-') arg[k] = '_';
    }
  }
  return args;
}

}  // namespace

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<std::string> args = NormalizeFlagNames(argc, argv);
  std::vector<char*> arg_pointers;
  for (std::string& arg : args) arg_pointers.push_back(arg.data());
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(arg_pointers.size()), arg_pointers.data());
  if (positional.size() != 2) {
    return Fail(positional.size() < 2
                    ? absl::StrCat("a command is required\n", kUsage)
                    : absl::StrCat("unexpected argument \"", positional[2], "\""));
  }
  if (absl::Status status = ConfigureLogging(); !status.ok()) return Fail(status.message().data());
  // Debian's Abseil is built with lock-order (deadlock) detection on: every
  // Mutex acquisition updates a global lock graph, 2-3% of a busy replica's
  // CPU (perf, streaming and unary benchmarks). The in-process tests keep
  // it; the service turns it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string command = positional[1];
  using Command = int (*)(const std::string&);
  const std::vector<std::pair<std::string, Command>> commands = {
      {"serve", Serve},
      {"migrate", Migrate},
      {"create-business", CreateBusiness},
      {"create-api-key", CreateApiKey},
      {"revoke-api-key", RevokeApiKey},
      {"set-business-limits", SetBusinessLimits},
  };
  for (const auto& [name, run] : commands) {
    if (name != command) continue;
    absl::StatusOr<std::string> url = DatabaseUrl();
    if (!url.ok()) return Fail(std::string(url.status().message()));
    if (absl::Status status = store::CheckConnection(*url); !status.ok()) {
      return Fail(absl::StrCat(status.message(), " (--database-url / CAMPAIGN_DATABASE_URL)"));
    }
    return run(*url);
  }
  return Fail(absl::StrCat("unknown command \"", command, "\"\n", kUsage));
}

}  // namespace campaign::cli
