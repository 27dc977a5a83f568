#include "server/api/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include "server/util/logging.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "server/api/campaign_handlers.h"
#include "server/api/executor.h"
#include "server/api/watch_handlers.h"
#include "server/auth/auth.h"
#include "server/progress/hub.h"
#include "server/service/run_service.h"
#include "server/store/api_key_store.h"
#include "server/store/database.h"
#include "server/store/lease_store.h"
#include "server/store/notification_listener.h"
#include "server/store/progress_store.h"
#include "server/store/run_store.h"

namespace campaign::api {
namespace {

// Bytes a lead may take on the wire at most: id, a phone of up to 32 bytes,
// a 255-byte name, and field tags.
constexpr int64_t kMaxLeadWireBytes = 320;
// Headroom for the rest of a request.
constexpr int64_t kRequestOverheadBytes = 1 << 20;
// Tasks that may wait for a handler thread before calls are refused.
constexpr size_t kMaxQueuedCalls = 10'000;

constexpr char kRoleCheckSql[] =
    "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user";

}  // namespace

int MaxReceiveMessageBytes(const Limits& limits) {
  const int64_t bytes = limits.max_leads_per_request * kMaxLeadWireBytes + kRequestOverheadBytes;
  return static_cast<int>(std::min<int64_t>(bytes, std::numeric_limits<int>::max()));
}

struct CampaignServer::Parts {
  std::unique_ptr<store::Database> database;
  std::unique_ptr<store::RunStore> run_store;
  std::unique_ptr<store::ApiKeyStore> key_store;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<RunService> service;
  std::unique_ptr<Executor> executor;
  std::unique_ptr<store::ProgressStore> progress_store;
  std::unique_ptr<progress::ProgressHub> hub;
  // Feeds the hub; goes before it.
  std::unique_ptr<store::NotificationListener> listener;
  std::unique_ptr<WatchHandlers> watch_handlers;
  std::unique_ptr<CampaignHandlers> handlers;
  std::unique_ptr<store::LeaseStore> lease_store;
  std::unique_ptr<dialer::SimulatedDialer> dialer;
  std::unique_ptr<scheduler::Scheduler> scheduler;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  bool shut_down = false;
};

absl::StatusOr<std::unique_ptr<CampaignServer>> CampaignServer::Start(const ServerConfig& config) {
  auto parts = std::make_unique<Parts>();
  parts->database = std::make_unique<store::Database>(
      config.database_url, store::PoolOptions{.size = config.db_pool_size});
  absl::StatusOr<bool> bypasses_rls = parts->database->Transact(
      store::Tenancy::AllBusinesses(), "check database role",
      [](pqxx::work& txn) -> absl::StatusOr<bool> {
        return txn.exec(kRoleCheckSql)[0][0].as<bool>();
      });
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
      config.auth_cache_ttl);
  parts->service = std::make_unique<RunService>(parts->run_store.get(), config.limits);
  parts->executor = std::make_unique<Executor>(config.handler_threads, kMaxQueuedCalls);
  parts->progress_store = std::make_unique<store::ProgressStore>(parts->database.get());
  parts->hub = std::make_unique<progress::ProgressHub>(
      parts->progress_store.get(),
      progress::HubOptions{.max_streams = config.watch_max_streams,
                           .max_streams_per_business = config.watch_max_streams_per_business,
                           .max_rate = config.watch_max_rate});
  parts->hub->Start();
  progress::ProgressHub* hub = parts->hub.get();
  parts->listener = std::make_unique<store::NotificationListener>(
      config.database_url,
      store::ListenerCallbacks{
          .on_notification =
              [hub](const store::RunNotification& change) {
                hub->OnNotification(change.business_id, change.run_id, change.version);
              },
          // Whatever changed while nobody listened reaches open streams
          // through a fresh read.
          .on_listening = [hub] { hub->RefreshAll(); }});
  parts->listener->Start();
  parts->watch_handlers = std::make_unique<WatchHandlers>(
      parts->hub.get(), parts->authenticator.get(), parts->executor.get(),
      parts->run_store.get());
  parts->handlers = std::make_unique<CampaignHandlers>(
      parts->service.get(), parts->authenticator.get(), parts->executor.get(),
      parts->watch_handlers.get());

  // The health service's descriptor must be linked in for reflection to
  // describe it; naming it here keeps the linker from dropping it.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(), &parts->port);
  builder.SetMaxReceiveMessageSize(MaxReceiveMessageBytes(config.limits));
  builder.RegisterService(parts->handlers.get());
  parts->server = builder.BuildAndStart();
  if (parts->server == nullptr || parts->port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on \"", config.listen, "\" (--listen / CAMPAIGN_LISTEN)"));
  }
  parts->lease_store = std::make_unique<store::LeaseStore>(parts->database.get(), config.lease_ttl);
  parts->dialer = std::make_unique<dialer::SimulatedDialer>(config.simulated_dialer);
  if (config.scheduler_enabled) {
    scheduler::SchedulerOptions options = config.scheduler;
    options.lease_ttl = config.lease_ttl;
    parts->scheduler = std::make_unique<scheduler::Scheduler>(parts->lease_store.get(),
                                                              parts->dialer.get(), options);
    parts->scheduler->Start();
  }
  return std::unique_ptr<CampaignServer>(new CampaignServer(std::move(parts)));
}

CampaignServer::CampaignServer(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

CampaignServer::~CampaignServer() {
  Shutdown(absl::Seconds(5));
  parts_->server->Wait();
  // The scheduler goes before the dialer whose outcomes it receives.
  parts_->scheduler.reset();
}

int CampaignServer::port() const { return parts_->port; }

void CampaignServer::Shutdown(absl::Duration grace) {
  if (parts_->shut_down) return;
  parts_->shut_down = true;
  // Watch streams end first, with UNAVAILABLE, so their clients reconnect
  // elsewhere instead of holding the server's shutdown until the deadline.
  parts_->listener->Stop();
  parts_->hub->Shutdown();
  if (parts_->scheduler != nullptr) parts_->scheduler->Shutdown(grace);
  parts_->server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
}

scheduler::Scheduler* CampaignServer::scheduler() const { return parts_->scheduler.get(); }

dialer::SimulatedDialer* CampaignServer::simulated_dialer() const { return parts_->dialer.get(); }

progress::ProgressHub* CampaignServer::progress_hub() const { return parts_->hub.get(); }

store::NotificationListener* CampaignServer::progress_listener() const { return parts_->listener.get(); }

void CampaignServer::Wait() { parts_->server->Wait(); }

}  // namespace campaign::api
