#include "server/app/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>

#include <algorithm>
#include <atomic>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "server/api/call.h"
#include "server/api/campaign_handlers.h"
#include "server/api/executor.h"
#include "server/api/tenant_interceptor.h"
#include "server/api/watch_handlers.h"
#include "server/app/tls.h"
#include "server/app/twilio_inbox.h"
#include "server/auth/auth.h"
#include "server/observability/health_probe.h"
#include "server/observability/metrics.h"
#include "server/observability/metrics_dialer.h"
#include "server/observability/rpc_interceptor.h"
#include "server/progress/hub.h"
#include "server/service/attempt_service.h"
#include "server/service/dnc_service.h"
#include "server/service/policy_service.h"
#include "server/service/preview_service.h"
#include "server/store/preview_store.h"
#include "server/service/run_service.h"
#include "server/service/validation.h"
#include "server/store/api_key_store.h"
#include "server/store/attempt_store.h"
#include "server/store/call_event_store.h"
#include "server/store/database.h"
#include "server/store/do_not_call_store.h"
#include "server/store/lease_store.h"
#include "server/store/notification_listener.h"
#include "server/store/policy_store.h"
#include "server/store/progress_store.h"
#include "server/store/role_check.h"
#include "server/store/run_store.h"
#include "server/store/stats_store.h"
#include "server/twilio/callback_server.h"
#include "server/twilio/rest_client.h"
#include "server/twilio/twilio_dialer.h"
#include "server/util/logging.h"
#include "server/util/status_macros.h"

namespace campaign::app {
namespace {

// Bytes a lead may take on the wire at most: id, a phone of up to 32 bytes,
// a 255-byte name, and field tags.
constexpr int64_t kMaxLeadWireBytes = 320;
// Headroom for the rest of a request.
constexpr int64_t kRequestOverheadBytes = 1 << 20;
// Threads gRPC may run for synchronous services (reflection) under the
// resource quota; our own RPCs run on the executor.
constexpr int kMaxGrpcThreads = 32;

// The service name the health service reports besides the overall "".
constexpr char kServiceName[] = "outbound.v1.CampaignService";
// The health detail of the replicated-claims gate: NOT_SERVING while claims
// cannot be confirmed on a synchronous standby (given back undialed, or the
// role cannot read pg_stat_replication); SERVING otherwise (gate off too).
constexpr char kReplicatedClaimsHealthName[] = "campaign.ReplicatedClaims";
// The full names of its methods start with this; the tenant interceptor
// handles these calls only.
constexpr char kServiceMethodPrefix[] = "/outbound.v1.CampaignService/";

// https, or http to a loopback host (the rule CreateRun's TwiML URL follows
// too: service/validation.h).
absl::Status CheckUrl(absl::string_view flag, absl::string_view url) {
  return ValidateHttpsUrl(url, flag);
}

// +, then 2 to 15 digits, the first not 0.
bool IsE164(absl::string_view phone) {
  if (phone.size() < 3 || phone.size() > 16 || phone[0] != '+' || phone[1] == '0') return false;
  for (const char c : phone.substr(1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "AC"/"SK" and 32 hex digits.
bool IsSid(absl::string_view sid, absl::string_view prefix) {
  if (sid.size() != 34 || !absl::StartsWith(sid, prefix)) return false;
  for (const char c : sid.substr(2)) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Opens as many connections as this replica holds at once (the pool, and the
// LISTEN connection when it goes the same way) and warns, in one line, when
// not all of them answer within the bound: a session-mode pooler's pool or
// PostgreSQL's max_connections is too small, and part of the pool (or the
// listener) would wait for a connection forever. Never fails the start.
void CheckPoolFits(const ServerConfig& config, bool listener_shares_url) {
  const int wanted = config.db_pool_size + (listener_shares_url ? 1 : 0);
  const absl::Time started = absl::Now();
  const int answered =
      store::CountAnsweringConnections(config.database_url, wanted, config.db_pool_check_timeout);
  if (answered == 0) return;  // the database does not answer: the start fails next, saying so
  if (answered >= wanted) {
    spdlog::info("pool check: {} database connections opened and answered in {}", wanted,
                 absl::FormatDuration(absl::Trunc(absl::Now() - started, absl::Milliseconds(1))));
    return;
  }
  spdlog::warn(
      "pool check: only {} of {} database connections (--db-pool-size {}{}) answered within {}: "
      "the pooler's pool (PgBouncer default_pool_size/max_db_connections in session mode) or "
      "PostgreSQL's max_connections is smaller than replicas x (--db-pool-size + 1); lower "
      "--db-pool-size, raise the pool or max_connections, or point --listen-database-url "
      "straight at PostgreSQL (--db-pool-check-timeout=0 skips this check)",
      answered, wanted, config.db_pool_size, listener_shares_url ? " + 1 LISTEN" : "",
      absl::FormatDuration(config.db_pool_check_timeout));
}

// With the replicated-claims gate on (or auto with replication in sight),
// the service role must read pg_stat_replication's positions, or no claim
// could ever be confirmed and nothing would be dialed: refuse to start,
// saying which grant is missing.
absl::Status CheckReplicatedClaimsPrivilege(store::LeaseStore* leases,
                                            const scheduler::ReplicationGateOptions& gate) {
  if (gate.mode == scheduler::ReplicatedClaimsMode::kOff) return absl::OkStatus();
  absl::StatusOr<store::ReplicationState> state = leases->ReadReplication();
  if (!state.ok()) return state.status();
  const bool gated = gate.mode == scheduler::ReplicatedClaimsMode::kOn || gate.multi_host ||
                     state->standbys > 0 || !state->synchronous_standby_names.empty();
  if (gated && !state->can_read_positions) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--require-replicated-claims=", scheduler::ReplicatedClaimsModeName(gate.mode),
        " gates claims on a synchronous standby, but the database role cannot read "
        "pg_stat_replication's positions: run GRANT pg_read_all_stats TO <the service role> as a "
        "superuser (or set --require-replicated-claims=off on a database with no standby)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTwilioConfig(const ServerConfig& config) {
  const TwilioConfig& twilio = config.twilio;
  if (config.dialer == DialerKind::kTwilio) {
    if (twilio.account_sid.empty()) {
      return absl::InvalidArgumentError(
          "--dialer=twilio needs --twilio-account-sid (or CAMPAIGN_TWILIO_ACCOUNT_SID)");
    }
    if (!IsSid(twilio.account_sid, "AC")) {
      return absl::InvalidArgumentError(
          "--twilio-account-sid must be AC followed by 32 hex digits");
    }
    if (twilio.api_key_sid.empty() != twilio.api_key_secret.empty()) {
      return absl::InvalidArgumentError(
          "--twilio-api-key-sid and --twilio-api-key-secret go together");
    }
    if (!twilio.api_key_sid.empty() && !IsSid(twilio.api_key_sid, "SK")) {
      return absl::InvalidArgumentError(
          "--twilio-api-key-sid must be SK followed by 32 hex digits");
    }
    if (twilio.auth_token.empty()) {
      return absl::InvalidArgumentError(
          "--dialer=twilio needs --twilio-auth-token or --twilio-auth-token-file (or "
          "CAMPAIGN_TWILIO_AUTH_TOKEN / CAMPAIGN_TWILIO_AUTH_TOKEN_FILE): it signs the status "
          "callbacks");
    }
    RETURN_IF_ERROR(CheckUrl("--twilio-api-base", twilio.api_base));
    if (twilio.from.empty()) {
      return absl::InvalidArgumentError(
          "--dialer=twilio needs --twilio-from (or CAMPAIGN_TWILIO_FROM)");
    }
    if (!IsE164(twilio.from)) {
      return absl::InvalidArgumentError(absl::StrCat("--twilio-from \"", twilio.from,
                                                     "\" is not an E.164 number (+14155550100)"));
    }
    RETURN_IF_ERROR(CheckUrl("--twilio-twiml-url", twilio.twiml_url));
    RETURN_IF_ERROR(CheckUrl("--webhook-public-url", twilio.webhook_public_url));
    if (twilio.ring_timeout < absl::Seconds(1) || twilio.ring_timeout > absl::Seconds(600)) {
      return absl::InvalidArgumentError("--twilio-ring-timeout must be within 1s..600s");
    }
    if (twilio.max_call_duration <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("--twilio-max-call-duration must be > 0");
    }
    if (twilio.poll_interval <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("--twilio-poll-interval must be > 0");
    }
  }
  if (!twilio.webhook_listen.empty()) {
    if (absl::StatusOr<twilio::ListenAddress> listen =
            twilio::ParseListenAddress(twilio.webhook_listen);
        !listen.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--webhook-listen: ", listen.status().message()));
    }
    RETURN_IF_ERROR(CheckUrl("--webhook-public-url", twilio.webhook_public_url));
    if (twilio.auth_token.empty()) {
      return absl::InvalidArgumentError(
          "--webhook-listen needs --twilio-auth-token or --twilio-auth-token-file (the key of "
          "the callbacks' signatures)");
    }
  }
  return absl::OkStatus();
}

int MaxReceiveMessageBytes(const Limits& limits) {
  const int64_t bytes = limits.max_leads_per_request * kMaxLeadWireBytes + kRequestOverheadBytes;
  return static_cast<int>(std::min<int64_t>(bytes, std::numeric_limits<int>::max()));
}

struct CampaignServer::Parts {
  // First: everything below may report to it until destroyed.
  std::unique_ptr<observability::Metrics> metrics;
  std::unique_ptr<store::Database> database;
  std::unique_ptr<store::RunStore> run_store;
  std::unique_ptr<store::ApiKeyStore> key_store;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<RunService> service;
  // The do-not-call list and the attempt ledger (their RPCs).
  std::unique_ptr<store::DoNotCallStore> do_not_call_store;
  std::unique_ptr<store::AttemptStore> attempt_store;
  std::unique_ptr<DoNotCallService> do_not_call_service;
  std::unique_ptr<AttemptService> attempt_service;
  // Dialing policies (their RPCs).
  std::unique_ptr<store::PolicyStore> policy_store;
  std::unique_ptr<PolicyService> policy_service;
  std::unique_ptr<store::PreviewStore> preview_store;
  std::unique_ptr<PreviewService> preview_service;
  std::unique_ptr<api::Executor> executor;
  // Per-call contexts (filled by the tenant interceptor) and the preamble
  // every handler runs calls through.
  std::unique_ptr<api::CallRegistry> calls;
  std::unique_ptr<api::CallRunner> call_runner;
  std::unique_ptr<store::ProgressStore> progress_store;
  std::unique_ptr<progress::ProgressHub> hub;
  // Feeds the hub; goes before it.
  std::unique_ptr<store::NotificationListener> listener;
  std::unique_ptr<api::WatchHandlers> watch_handlers;
  std::unique_ptr<api::CampaignHandlers> handlers;
  // The scheduler's parts, only when it is enabled.
  std::unique_ptr<store::LeaseStore> lease_store;
  // Twilio's status callbacks: the inbox (also without the scheduler: any
  // replica records what it receives) and the listener.
  std::unique_ptr<store::CallEventStore> call_events;
  std::unique_ptr<StoreCallEventInbox> inbox;
  std::unique_ptr<twilio::CallbackServer> callback_server;
  // The Twilio dialer once it exists (the listener starts before it and
  // hands it what it recorded); null without one.
  std::atomic<twilio::TwilioDialer*> callback_dialer{nullptr};
  // The provider: one of these.
  std::unique_ptr<dialer::SimulatedDialer> dialer;
  std::unique_ptr<twilio::TwilioDialer> twilio_dialer;
  // Counts the scheduler's dials; wraps the provider.
  std::unique_ptr<observability::MetricsDialer> metrics_dialer;
  std::unique_ptr<scheduler::Scheduler> scheduler;
  std::unique_ptr<grpc::Server> server;
  // Drives the health service from the database's reachability.
  std::unique_ptr<observability::HealthProbe> health_probe;
  int port = 0;
  bool shut_down = false;
};

absl::StatusOr<std::unique_ptr<CampaignServer>> CampaignServer::Start(const ServerConfig& config) {
  RETURN_IF_ERROR(ValidateTwilioConfig(config));
  auto parts = std::make_unique<Parts>();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(TlsFiles{.cert_path = config.tls_cert_path,
                                     .key_path = config.tls_key_path,
                                     .client_ca_path = config.tls_client_ca_path});
  if (!credentials.ok()) return credentials.status();
  parts->metrics = std::make_unique<observability::Metrics>();
  observability::Metrics* metrics = parts->metrics.get();
  parts->database = std::make_unique<store::Database>(
      config.database_url,
      store::PoolOptions{.size = config.db_pool_size,
                         // A worker frozen inside a transaction (SIGSTOP, a
                         // paused VM) must not hold its run's row lock past
                         // the lease TTL, or nobody could take the run over.
                         .idle_in_transaction_timeout = std::clamp(
                             config.lease_ttl / 2, absl::Milliseconds(100), absl::Seconds(10)),
                         .on_error = [metrics](const absl::Status& error) {
                           metrics->RecordDatabaseError(error);
                         },
                         .prepared_statements = config.db_prepared_statements});
  const std::string& listen_url =
      config.listen_database_url.empty() ? config.database_url : config.listen_database_url;
  if (config.db_pool_check_timeout > absl::ZeroDuration()) {
    CheckPoolFits(config, listen_url == config.database_url);
  }
  absl::StatusOr<bool> bypasses_rls = store::RoleBypassesRowSecurity(parts->database.get());
  if (!bypasses_rls.ok()) return bypasses_rls.status();
  if (*bypasses_rls) {
    spdlog::warn(
        "the database role is a superuser or has BYPASSRLS: row-level security, the second "
        "wall between businesses, is off; connect as an ordinary role");
  }
  parts->run_store = std::make_unique<store::RunStore>(parts->database.get(), config.lease_ttl);
  parts->key_store = std::make_unique<store::ApiKeyStore>(parts->database.get());
  parts->authenticator = std::make_unique<auth::Authenticator>(
      [keys = parts->key_store.get()](absl::string_view hash) { return keys->FindByHash(hash); },
      auth::AuthenticatorOptions{.cache_ttl = config.auth_cache_ttl,
                                 .unknown_lookups_per_second = config.auth_lookups_per_second,
                                 .unknown_lookup_burst = config.auth_lookups_per_second});
  parts->service = std::make_unique<RunService>(parts->run_store.get(), config.limits);
  parts->do_not_call_store = std::make_unique<store::DoNotCallStore>(parts->database.get());
  parts->attempt_store = std::make_unique<store::AttemptStore>(parts->database.get());
  parts->do_not_call_service = std::make_unique<DoNotCallService>(parts->do_not_call_store.get());
  parts->attempt_service =
      std::make_unique<AttemptService>(parts->attempt_store.get(), parts->run_store.get());
  parts->policy_store = std::make_unique<store::PolicyStore>(parts->database.get());
  parts->policy_service = std::make_unique<PolicyService>(
      parts->policy_store.get(), parts->run_store.get(), config.default_dialing_policy);
  parts->preview_store = std::make_unique<store::PreviewStore>(parts->database.get());
  parts->preview_service =
      std::make_unique<PreviewService>(parts->service.get(), parts->policy_service.get(),
                                       parts->preview_store.get(), config.limits);
  parts->executor = std::make_unique<api::Executor>(
      config.handler_threads, static_cast<size_t>(config.executor_queue_limit));
  parts->calls = std::make_unique<api::CallRegistry>();
  parts->call_runner = std::make_unique<api::CallRunner>(
      parts->calls.get(), parts->authenticator.get(), parts->executor.get());
  parts->progress_store = std::make_unique<store::ProgressStore>(parts->database.get());
  parts->hub = std::make_unique<progress::ProgressHub>(
      parts->progress_store.get(),
      progress::HubOptions{.max_streams = config.watch_max_streams,
                           .max_streams_per_business = config.watch_max_streams_per_business,
                           .max_rate = config.watch_max_rate});
  parts->hub->Start();
  progress::ProgressHub* hub = parts->hub.get();
  store::Database* pool = parts->database.get();
  parts->listener = std::make_unique<store::NotificationListener>(
      listen_url,
      store::ListenerCallbacks{
          .on_notification =
              [hub](const store::RunNotification& change) {
                hub->OnNotification(change.business_id, change.run_id);
              },
          // Whatever changed while nobody listened reaches open streams
          // through a fresh read.
          .on_listening = [hub] { hub->RefreshAll(); },
          // The probe takes the run notifications' path: a transaction of
          // the pool (through the pooler, when there is one).
          .send_probe =
              [pool](absl::string_view channel, absl::string_view payload) {
                return store::NotifyThroughPool(*pool, channel, payload);
              },
          .on_probe =
              [metrics](bool came_back) {
                if (!came_back) metrics->ListenerProbeFailed();
              }},
      store::ListenerOptions{.probe_interval = config.listener_probe_interval,
                             .probe_timeout = config.listener_probe_timeout});
  parts->listener->Start();
  parts->watch_handlers = std::make_unique<api::WatchHandlers>(
      parts->hub.get(), parts->authenticator.get(), parts->call_runner.get(),
      parts->run_store.get(),
      std::clamp(config.auth_cache_ttl / 2, absl::Milliseconds(100), absl::Seconds(30)));
  parts->handlers = std::make_unique<api::CampaignHandlers>(
      parts->service.get(), parts->call_runner.get(), parts->watch_handlers.get(),
      parts->policy_service.get(),
      api::LedgerServices{.do_not_call = parts->do_not_call_service.get(),
                          .attempts = parts->attempt_service.get(),
                          .preview = parts->preview_service.get()});

  // The health service's descriptor must be linked in for reflection to
  // describe it; naming it here keeps the linker from dropping it.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, *credentials, &parts->port);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<observability::RpcInterceptorFactory>(metrics));
  interceptors.push_back(std::make_unique<api::TenantInterceptorFactory>(
      parts->calls.get(), parts->authenticator.get(), kServiceMethodPrefix));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.SetMaxReceiveMessageSize(MaxReceiveMessageBytes(config.limits));
  // Bounds on what callers can cost before any handler has seen them: the
  // quota covers connection buffers and requests being received (gRPC
  // cancels calls under memory pressure), and each connection may carry at
  // most max_concurrent_streams calls at once.
  grpc::ResourceQuota quota("campaignd");
  quota.Resize(static_cast<size_t>(config.memory_quota_bytes));
  quota.SetMaxThreads(kMaxGrpcThreads);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config.max_concurrent_streams);
  builder.RegisterService(parts->handlers.get());
  parts->server = builder.BuildAndStart();
  if (parts->server == nullptr || parts->port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on \"", config.listen, "\" (--listen / CAMPAIGN_LISTEN)"));
  }
  // Health follows the database: SERVING only while it answers.
  grpc::HealthCheckServiceInterface* health = parts->server->GetHealthCheckService();
  store::Database* database = parts->database.get();
  store::NotificationListener* listener = parts->listener.get();
  parts->health_probe =
      std::make_unique<observability::HealthProbe>(observability::HealthProbeOptions{
          .interval = config.health_probe_interval,
          .check = [url = config.database_url] { return store::CheckConnection(url); },
          .on_change =
              [health, metrics](bool healthy) {
                metrics->SetDatabaseUp(healthy);
                if (health == nullptr) return;
                health->SetServingStatus("", healthy);
                health->SetServingStatus(kServiceName, healthy);
              },
          .refresh =
              [database, metrics] {
                absl::StatusOr<std::map<std::string, int64_t>> runs =
                    store::CountRunsByStatus(database);
                if (runs.ok()) metrics->SetRunsByStatus(*runs);
              },
          .refresh_interval = config.runs_gauge_interval,
          // The LISTEN connection's probe, as its own service name: the
          // overall status follows the database (dialing and the API work
          // without live progress).
          .details = {{.name = store::kListenerHealthService,
                       .healthy = [listener] { return listener->healthy(); }}},
          .on_detail_change =
              [health](const std::string& name, bool healthy) {
                if (health != nullptr) health->SetServingStatus(name, healthy);
              }});
  parts->health_probe->Start();
  metrics->AddScrapeGauge("campaign_db_pool_open_connections",
                          "Database connections open in the pool",
                          [database] { return database->OpenConnections(); });
  metrics->AddScrapeGauge("campaign_db_pool_busy_connections",
                          "Database connections of the pool in use",
                          [database] { return database->BusyConnections(); });
  metrics->AddScrapeGauge("campaign_listener_up",
                          "1 while the LISTEN connection's last liveness probe came back",
                          [listener] { return listener->healthy() ? 1 : 0; });
  metrics->AddScrapeGauge("campaign_watch_streams", "Open WatchRun and WatchRuns streams",
                          [hub] { return hub->stats().streams; });
  if (!config.metrics_listen.empty()) {
    if (absl::Status served = metrics->Serve(config.metrics_listen); !served.ok()) {
      return served;
    }
    spdlog::info("metrics served on http://{}/metrics (port {})", config.metrics_listen,
                 metrics->port());
  }
  const TwilioConfig& twilio_config = config.twilio;
  if (!twilio_config.webhook_listen.empty() || config.dialer == DialerKind::kTwilio) {
    parts->call_events = std::make_unique<store::CallEventStore>(parts->database.get());
    parts->inbox = std::make_unique<StoreCallEventInbox>(parts->call_events.get());
  }
  if (!twilio_config.webhook_listen.empty()) {
    twilio::CallbackServerOptions options;
    options.listen = *twilio::ParseListenAddress(twilio_config.webhook_listen);
    options.public_url = twilio_config.webhook_public_url;
    options.auth_token = twilio_config.auth_token;
    absl::StatusOr<std::unique_ptr<twilio::CallbackServer>> callbacks =
        twilio::CallbackServer::Start(
            options,
            [inbox = parts->inbox.get(), dialer = &parts->callback_dialer](
                absl::Span<const twilio::StatusCallback> callbacks) {
              absl::Status recorded = inbox->RecordAll(callbacks).status();
              // Stored first: a call ended here is ended in the inbox too.
              if (twilio::TwilioDialer* local = dialer->load(); recorded.ok() && local) {
                local->OnCallbacksRecorded(callbacks);
              }
              return recorded;
            });
    if (!callbacks.ok()) {
      return absl::Status(callbacks.status().code(),
                          absl::StrCat("--webhook-listen: ", callbacks.status().message()));
    }
    parts->callback_server = *std::move(callbacks);
    spdlog::info("twilio status callbacks on {} (port {}), public URL {}",
                 parts->callback_server->LocalUrl(), parts->callback_server->port(),
                 twilio_config.webhook_public_url);
  }
  if (config.scheduler_enabled) {
    parts->lease_store = std::make_unique<store::LeaseStore>(
        parts->database.get(), config.lease_ttl, config.enforce_calls_per_second);
    spdlog::info("calls per second {}", config.enforce_calls_per_second
                                            ? "enforced (each business's max_calls_per_second)"
                                            : "not enforced (--enforce-calls-per-second=false)");
    dialer::Dialer* provider = nullptr;
    if (config.dialer == DialerKind::kTwilio) {
      twilio::RestClientOptions client_options;
      client_options.api_base = twilio_config.api_base;
      client_options.account_sid = twilio_config.account_sid;
      client_options.api_key_sid = twilio_config.api_key_sid;
      client_options.secret = twilio_config.api_key_sid.empty() ? twilio_config.auth_token
                                                                : twilio_config.api_key_secret;
      absl::StatusOr<std::unique_ptr<twilio::RestClient>> client =
          twilio::RestClient::Create(client_options);
      if (!client.ok()) return client.status();
      twilio::TwilioDialerOptions options;
      options.from = twilio_config.from;
      options.twiml_url = twilio_config.twiml_url;
      options.public_url = twilio_config.webhook_public_url;
      options.ring_timeout = twilio_config.ring_timeout;
      options.max_call_duration = twilio_config.max_call_duration;
      options.poll_interval = twilio_config.poll_interval;
      parts->twilio_dialer =
          std::make_unique<twilio::TwilioDialer>(*std::move(client), parts->inbox.get(), options);
      provider = parts->twilio_dialer.get();
      parts->callback_dialer.store(parts->twilio_dialer.get());
      spdlog::info("dialing through twilio at {} as account {}, from {}", twilio_config.api_base,
                   twilio_config.account_sid, twilio_config.from);
    } else {
      parts->dialer = std::make_unique<dialer::SimulatedDialer>(config.simulated_dialer);
      provider = parts->dialer.get();
    }
    scheduler::SchedulerOptions options = config.scheduler;
    options.lease_ttl = config.lease_ttl;
    options.replication.multi_host = scheduler::NamesSeveralHosts(config.database_url);
    if (absl::Status readable =
            CheckReplicatedClaimsPrivilege(parts->lease_store.get(), options.replication);
        !readable.ok()) {
      return readable;
    }
    options.replication.on_health = [health](bool ok, const std::string& why) {
      if (ok) {
        spdlog::info("replicated-claims gate healthy ({})", why);
      } else {
        spdlog::warn("replicated-claims gate unhealthy: {}", why);
      }
      if (health != nullptr) health->SetServingStatus(kReplicatedClaimsHealthName, ok);
    };
    options.default_policy = config.default_dialing_policy;
    options.metrics = metrics->scheduler_metrics();
    parts->metrics_dialer = std::make_unique<observability::MetricsDialer>(provider, metrics);
    parts->scheduler = std::make_unique<scheduler::Scheduler>(parts->lease_store.get(),
                                                              parts->metrics_dialer.get(), options);
    parts->scheduler->Start();
  }
  return std::unique_ptr<CampaignServer>(new CampaignServer(std::move(parts)));
}

CampaignServer::CampaignServer(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

CampaignServer::~CampaignServer() {
  // No scrape reads the parts below once they start going away.
  parts_->metrics->StopServing();
  Shutdown(absl::Seconds(5));
  parts_->server->Wait();
  // Callbacks already acknowledged are recorded before the database goes.
  if (parts_->callback_server != nullptr) parts_->callback_server->Stop();
  parts_->callback_dialer.store(nullptr);
  // The scheduler is stopped (Shutdown); the dialer goes next, joining its
  // thread so no outcome callback can reach the scheduler once it is gone.
  parts_->dialer.reset();
  parts_->twilio_dialer.reset();
  parts_->scheduler.reset();
}

int CampaignServer::port() const { return parts_->port; }

void CampaignServer::Shutdown(absl::Duration grace) {
  if (parts_->shut_down) return;
  parts_->shut_down = true;
  // NOT_SERVING while draining: load balancers stop sending new calls. The
  // health service ignores the probe from now on.
  parts_->health_probe->Stop();
  if (grpc::HealthCheckServiceInterface* health = parts_->server->GetHealthCheckService();
      health != nullptr) {
    health->Shutdown();
  }
  // Watch streams end first, with UNAVAILABLE, so their clients reconnect
  // elsewhere instead of holding the server's shutdown until the deadline.
  parts_->listener->Stop();
  parts_->hub->Shutdown();
  const absl::Time deadline = absl::Now() + grace;
  if (parts_->scheduler != nullptr) parts_->scheduler->Shutdown(grace);
  // Our RPCs drain: new ones are refused with UNAVAILABLE, those running
  // finish (up to the deadline). Then the gRPC server stops at once: waiting
  // in grpc::Server::Shutdown itself also waited on idle client connections
  // (about 10 s with a client that kept its channel open).
  parts_->executor->StopAccepting();
  if (!parts_->executor->AwaitIdle(deadline)) {
    spdlog::warn("RPCs still running after the shutdown grace; cancelling them");
  }
  parts_->server->Shutdown(absl::ToChronoTime(absl::Now()));
}

scheduler::Scheduler* CampaignServer::scheduler() const { return parts_->scheduler.get(); }

dialer::SimulatedDialer* CampaignServer::simulated_dialer() const { return parts_->dialer.get(); }

int CampaignServer::webhook_port() const {
  return parts_->callback_server != nullptr ? parts_->callback_server->port() : 0;
}

progress::ProgressHub* CampaignServer::progress_hub() const { return parts_->hub.get(); }

store::NotificationListener* CampaignServer::progress_listener() const {
  return parts_->listener.get();
}

observability::Metrics* CampaignServer::metrics() const { return parts_->metrics.get(); }

auth::AuthStats CampaignServer::auth_stats() const { return parts_->authenticator->stats(); }

int CampaignServer::metrics_port() const { return parts_->metrics->port(); }

void CampaignServer::Wait() { parts_->server->Wait(); }

}  // namespace campaign::app
