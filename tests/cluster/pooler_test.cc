// campaignd behind PgBouncer (issue 14, "the pooler is a first-class
// deployment"): a real PgBouncer 1.18 process (tests/support/pgbouncer.h) in
// transaction (or session) pooling mode in front of the test PostgreSQL.
// Waits poll an observable condition with a bound; nothing sleeps to
// synchronise.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
#include "server/app/server.h"
#include "server/observability/metrics.h"
#include "server/store/database.h"
#include "server/store/embedded_migrations.h"
#include "server/store/notification_listener.h"
#include "tests/scheduler/scheduler_test_support.h"
#include "tests/support/leads.h"
#include "tests/support/pgbouncer.h"
#include "tests/support/test_database.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace campaign {
namespace {

namespace pb = ::outbound::v1;
using testing::CallContext;
using testing::MakeLead;
using testing::PgBouncer;
using testing::PgBouncerOptions;
using testing::PhoneOf;
using testing::TestDatabase;
using testing::WaitUntil;

// Server connections (backends) of the test database other than the caller's.
int64_t Backends(const TestDatabase& db) {
  return db.QueryInt(
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
      "pg_backend_pid()");
}

// One in-process campaignd that dials (simulated calls of 20 ms) through
// PgBouncer in transaction mode; its LISTEN connection goes to
// `listen_url` ("" : through PgBouncer as well).
class PoolerServerTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& listen_url) {
    db_.Migrate();
    business_ = db_.CreateBusiness("pooler");
    owner_ = db_.CreateApiKey(business_, Role::kOwner).key;
    app::ServerConfig config;
    config.database_url = bouncer_.Through(db_.app_url());
    config.listen_database_url = listen_url;
    config.listen = "127.0.0.1:0";
    config.db_pool_size = 4;
    config.db_prepared_statements = false;  // required by transaction pooling
    config.listener_probe_interval = absl::Milliseconds(500);
    config.listener_probe_timeout = absl::Seconds(2);
    config.health_probe_interval = absl::Milliseconds(100);
    config.scheduler_enabled = true;
    config.lease_ttl = absl::Seconds(3);
    config.scheduler.poll_interval = absl::Milliseconds(20);
    config.scheduler.heartbeat_interval = absl::Milliseconds(300);
    config.scheduler.sweep_interval = absl::Milliseconds(500);
    config.simulated_dialer.call_duration = absl::Milliseconds(20);
    config.default_dialing_policy.calling_windows.clear();
    for (int day = 1; day <= 7; ++day) {
      config.default_dialing_policy.calling_windows.push_back({day, 0, 24 * 60});
    }
    absl::StatusOr<std::unique_ptr<app::CampaignServer>> server =
        app::CampaignServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = pb::CampaignService::NewStub(channel_);
  }

  // The health service's status of the listener detail.
  grpc::health::v1::HealthCheckResponse::ServingStatus ListenerHealth() {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(store::kListenerHealthService);
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!health->Check(&context, request, &response).ok()) {
      return grpc::health::v1::HealthCheckResponse::UNKNOWN;
    }
    return response.status();
  }

  TestDatabase db_;
  PgBouncer bouncer_{PgBouncerOptions{.pool_mode = "transaction", .pool_size = 3}};
  int64_t business_ = 0;
  std::string owner_;
  std::unique_ptr<app::CampaignServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::CampaignService::Stub> stub_;
};

// --database-url through PgBouncer (transaction mode, 3 server connections
// for a pool of 4), --listen-database-url straight to PostgreSQL: a WatchRun
// stream follows a dispatched run to its completion, and the listener's
// probe keeps coming back.
TEST_F(PoolerServerTest, WatchRunFollowsARunToCompletionWithADirectListener) {
  StartServer(db_.app_url());
  store::NotificationListener* listener = server_->progress_listener();
  ASSERT_TRUE(WaitUntil([&] { return listener->healthy(); }, absl::Seconds(30)));
  ASSERT_TRUE(WaitUntil(
      [&] { return ListenerHealth() == grpc::health::v1::HealthCheckResponse::SERVING; },
      absl::Seconds(30)));

  pb::CreateRunRequest create;
  create.set_request_id("pooler-watch");
  create.set_concurrency(4);
  create.set_start_paused(true);
  for (int i = 1; i <= 30; ++i) *create.add_leads() = MakeLead(i, PhoneOf(i), "Lead");
  pb::CreateRunResponse created;
  grpc::Status status = stub_->CreateRun(CallContext(owner_).get(), create, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();

  auto context = CallContext(owner_);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  pb::WatchRunRequest watch;
  watch.set_run_id(created.run().id());
  auto reader = stub_->WatchRun(context.get(), watch);
  pb::WatchRunResponse message;
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_EQ(message.run().status(), pb::RUN_STATUS_PAUSED);
  pb::ResumeRunRequest resume;
  resume.set_run_id(created.run().id());
  pb::OutboundCallRun resumed;
  ASSERT_TRUE(stub_->ResumeRun(CallContext(owner_).get(), resume, &resumed).ok());
  int messages = 1;
  int64_t version = message.version();
  while (reader->Read(&message)) {
    EXPECT_GT(message.version(), version);
    version = message.version();
    ++messages;
  }
  status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(message.run().status(), pb::RUN_STATUS_COMPLETED);
  EXPECT_EQ(message.run().cursor_position(), 30);
  EXPECT_GE(messages, 3);
  EXPECT_EQ(listener->probe_failures(), 0);
  EXPECT_TRUE(listener->healthy());
  // The pool's transactions shared PgBouncer's 3 server connections; the
  // listener has its own: at most 4 backends for this replica.
  const int64_t backends = Backends(db_);
  std::cout << "backends of one replica (pool 4 through PgBouncer pool 3, direct listener): "
            << backends << std::endl;
  EXPECT_LE(backends, 4);
}

// The LISTEN through PgBouncer in transaction mode (the silent freeze of
// issue 14): the probe does not come back, which is counted, logged, shown as
// the listener's health detail and followed by reconnects.
TEST_F(PoolerServerTest, ListenThroughTransactionPoolingIsNoticed) {
  StartServer("");
  store::NotificationListener* listener = server_->progress_listener();
  const absl::Time started = absl::Now();
  ASSERT_TRUE(WaitUntil([&] { return listener->probe_failures() >= 1; }, absl::Seconds(20)))
      << "the listener never noticed that its LISTEN does not hold";
  // First probe at connect; it must be noticed within its bound (2 s) plus
  // scheduling slack.
  EXPECT_LT(absl::Now() - started, absl::Seconds(10));
  EXPECT_FALSE(listener->healthy());
  ASSERT_TRUE(WaitUntil(
      [&] { return ListenerHealth() == grpc::health::v1::HealthCheckResponse::NOT_SERVING; },
      absl::Seconds(10)));
  const std::string metrics = server_->metrics()->Render();
  EXPECT_TRUE(absl::StrContains(metrics, "campaign_listener_up 0")) << metrics;
  EXPECT_TRUE(absl::StrContains(metrics, "campaign_listener_probe_failures_total"));
  EXPECT_FALSE(absl::StrContains(metrics, "campaign_listener_probe_failures_total 0\n"));
  // It reconnects and keeps failing (and saying so) while the LISTEN goes
  // through the pooler.
  ASSERT_TRUE(WaitUntil([&] { return listener->connections() >= 2; }, absl::Seconds(20)));
  ASSERT_TRUE(WaitUntil([&] { return listener->probe_failures() >= 2; }, absl::Seconds(20)));
}

// Runs `campaignd migrate` through `url` under a 90 s kill timeout; its exit
// status (124/137 when it hung).
int RunMigrate(const std::string& url, const std::string& log) {
  const std::string command = absl::StrCat("timeout -s KILL 90 '", CAMPAIGND_PATH,
                                           "' migrate --database-url='", url, "' >'", log,
                                           "' 2>&1");
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Ten `campaignd migrate` processes at once through PgBouncer in transaction
// mode with 3 server connections all finish; the schema is at the latest
// version, each migration recorded once, and no advisory lock is left.
TEST(PoolerMigrateTest, TenConcurrentMigratesFinishWithNoAdvisoryLockLeft) {
  TestDatabase db;
  PgBouncer bouncer(PgBouncerOptions{.pool_mode = "transaction", .pool_size = 3});
  const std::string url = bouncer.Through(db.app_url());
  constexpr int kProcesses = 10;
  std::vector<int> codes(kProcesses, -1);
  std::vector<std::string> logs;
  for (int i = 0; i < kProcesses; ++i) {
    logs.push_back(absl::StrCat("/tmp/pooler-migrate-", getpid(), "-", i, ".log"));
  }
  const absl::Time started = absl::Now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kProcesses; ++i) {
    threads.emplace_back([&, i] { codes[i] = RunMigrate(url, logs[i]); });
  }
  for (std::thread& thread : threads) thread.join();
  std::cout << kProcesses << " concurrent migrates through PgBouncer took "
            << absl::FormatDuration(absl::Now() - started) << std::endl;
  for (int i = 0; i < kProcesses; ++i) {
    EXPECT_EQ(codes[i], 0) << "migrate " << i << ":\n" << ReadFile(logs[i]);
    std::remove(logs[i].c_str());
  }
  const std::vector<store::MigrationFile>& files = store::EmbeddedMigrations();
  EXPECT_EQ(db.QueryInt("SELECT max(version) FROM schema_migrations"), files.back().version);
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM schema_migrations"),
            static_cast<int64_t>(files.size()));
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                        "database = (SELECT oid FROM pg_database WHERE datname = "
                        "current_database())"),
            0);
  EXPECT_FALSE(absl::StrContains(bouncer.Log(), "you don't own a lock"));
}

// The pool's idle_in_transaction_session_timeout is per transaction: through
// PgBouncer (one server connection, so every client shares it) the service's
// transactions see it, and another client of the same server connection sees
// the server's default afterwards. It is still enforced inside a
// transaction: a transaction left idle past it loses its connection and is
// retried on a fresh one.
TEST(PoolerSettingsTest, IdleTimeoutIsPerTransactionAndStillApplies) {
  TestDatabase db;
  db.Migrate();
  PgBouncer bouncer(PgBouncerOptions{.pool_mode = "transaction", .pool_size = 1});
  const std::string url = bouncer.Through(db.app_url());
  store::Database database(url, store::PoolOptions{.size = 2,
                                                   .idle_in_transaction_timeout =
                                                       absl::Milliseconds(1500),
                                                   .prepared_statements = false});
  int64_t service_pid = 0;
  for (int i = 0; i < 3; ++i) {
    absl::Status status =
        database.Transact(store::Tenancy::AllBusinesses(), "show", [&](pqxx::work& txn) {
          EXPECT_EQ(txn.exec1("SHOW idle_in_transaction_session_timeout")[0].as<std::string>(),
                    "1500ms");
          service_pid = txn.exec1("SELECT pg_backend_pid()")[0].as<int64_t>();
          return absl::OkStatus();
        });
    ASSERT_TRUE(status.ok()) << status;
  }
  pqxx::connection other(url);
  pqxx::nontransaction txn(other);
  EXPECT_EQ(txn.exec1("SELECT pg_backend_pid()")[0].as<int64_t>(), service_pid)
      << "not the same server connection: the check would prove nothing";
  EXPECT_EQ(txn.exec1("SHOW idle_in_transaction_session_timeout")[0].as<std::string>(), "0");

  store::Database short_timeout(url, store::PoolOptions{.size = 1,
                                                        .idle_in_transaction_timeout =
                                                            absl::Milliseconds(300),
                                                        .prepared_statements = false});
  int attempts = 0;
  absl::Status status =
      short_timeout.Transact(store::Tenancy::AllBusinesses(), "idle", [&](pqxx::work& txn) {
        ++attempts;
        txn.exec("SELECT 1");
        // Idle inside the transaction past the timeout: the behaviour under
        // test, not a synchronisation.
        if (attempts == 1) absl::SleepFor(absl::Seconds(1));
        txn.exec("SELECT 1");
        return absl::OkStatus();
      });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(attempts, 2) << "the idle transaction was not ended by the server";
}

// Starts campaignd serve with a pool of 4 through a session-mode PgBouncer
// of `server_connections`; returns its log once it serves.
std::string ServeThroughSessionPool(const TestDatabase& db, int server_connections) {
  PgBouncer bouncer(PgBouncerOptions{.pool_mode = "session", .pool_size = server_connections});
  static std::atomic<int> started{0};
  testing::sched::Campaignd serve(absl::StrCat("pooler-", started++),
                                  {{"database-url", bouncer.Through(db.app_url())},
                                   {"listen-database-url", db.app_url()},
                                   {"db-pool-size", "4"},
                                   {"db-prepared-statements", "false"},
                                   {"scheduler", "false"},
                                   {"migrate", "false"},
                                   {"db-pool-check-timeout", "1s"},
                                   {"listen", "127.0.0.1:0"}});
  EXPECT_TRUE(WaitUntil(
      [&] {
        return serve.WaitExit(absl::ZeroDuration()).has_value() ||
               absl::StrContains(serve.Stderr(), "campaignd serving on");
      },
      absl::Seconds(30)));
  return serve.Stderr();
}

// A pool that cannot fit is named in one warning line at start (and the
// replica still starts); one that fits gets no warning.
TEST(PoolerStartupTest, WarnsWhenThePoolCannotFit) {
  TestDatabase db;
  db.Migrate();
  const std::string starved = ServeThroughSessionPool(db, 2);
  EXPECT_TRUE(absl::StrContains(starved, "campaignd serving on")) << starved;
  EXPECT_TRUE(absl::StrContains(starved, "pool check: only 2 of 4 database connections")) << starved;
  EXPECT_TRUE(absl::StrContains(starved, "--db-pool-size")) << starved;
  const std::string fits = ServeThroughSessionPool(db, 4);
  EXPECT_TRUE(absl::StrContains(fits, "campaignd serving on")) << fits;
  EXPECT_FALSE(absl::StrContains(fits, "pool check: only")) << fits;
  EXPECT_TRUE(absl::StrContains(fits, "pool check: 4 database connections")) << fits;
}

}  // namespace
}  // namespace campaign
