// The Database pool and the LISTEN connection against a real PostgreSQL:
// transactions never outlive their lease of a connection, connection settings
// survive reconnects, exhausted conflict retries are not lease losses, and the
// listener notices a silent network partition.

#include "server/store/database.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <latch>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/store/lease_store.h"
#include "server/store/notification_listener.h"
#include "tests/support/tcp_proxy.h"
#include "tests/support/test_database.h"
#include "tests/support/wait.h"

namespace campaign {
namespace {

using store::Database;
using store::PoolOptions;
using store::Tenancy;
using testing::TestDatabase;

// A status a failing body returns, chosen by iteration.
absl::Status FailureFor(int i) {
  switch (i % 4) {
    case 0:
      return absl::NotFoundError("run 9 not found");
    case 1:
      return absl::FailedPreconditionError("run is stopped");
    case 2:
      return absl::AlreadyExistsError("request_id reused");
    default:
      return absl::AbortedError("lease lost");
  }
}

// A small pool shared by many threads whose transactions mix failures (body
// returns an error after writing) and successes. Each transaction must start
// clean (no setting of an earlier one), see only its own state, and only the
// successful ones may leave rows behind.
TEST(DatabasePoolTest, FailingTransactionsNeverLeakIntoTheNextBorrower) {
  TestDatabase db;
  PoolOptions options;
  options.size = 2;
  options.acquire_timeout = absl::Seconds(30);
  Database database(db.app_url(), options);
  ASSERT_TRUE(database
                  .Transact(Tenancy::AllBusinesses(), "create probe table",
                            [](pqxx::work& txn) {
                              txn.exec("CREATE TABLE probe (thread int NOT NULL, n int NOT NULL)");
                              return absl::OkStatus();
                            })
                  .ok());

  constexpr int kThreads = 8;
  constexpr int kIterations = 150;
  std::atomic<int> wrong_status{0}, dirty_start{0}, foreign_value{0};
  std::vector<int> successes(kThreads, 0);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kIterations; ++i) {
        const std::string tag = absl::StrCat(t, "/", i);
        const bool fail = (i + t) % 2 == 0;
        absl::StatusOr<std::string> result = database.Transact(
            Tenancy::AllBusinesses(), "probe", [&](pqxx::work& txn) -> absl::StatusOr<std::string> {
              // An earlier transaction's SET LOCAL must be gone.
              const std::string before =
                  txn.exec1("SELECT coalesce(current_setting('campaign.probe', true), '')")[0]
                      .as<std::string>();
              if (!before.empty()) ++dirty_start;
              txn.exec_params("SELECT set_config('campaign.probe', $1, true)", tag);
              txn.exec_params("INSERT INTO probe VALUES ($1, $2)", t, fail ? -1 - i : i);
              if (fail) return FailureFor(i);
              return txn.exec1("SELECT current_setting('campaign.probe')")[0].as<std::string>();
            });
        if (fail) {
          if (result.status() != FailureFor(i)) {
            ++wrong_status;
            ADD_FAILURE() << tag << ": " << result.status();
          }
        } else if (!result.ok()) {
          ++wrong_status;
          ADD_FAILURE() << tag << ": " << result.status();
        } else {
          ++successes[t];
          if (*result != tag) ++foreign_value;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(wrong_status.load(), 0);
  EXPECT_EQ(dirty_start.load(), 0) << "transactions started with another's SET LOCAL";
  EXPECT_EQ(foreign_value.load(), 0) << "transactions saw another's setting";
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM probe WHERE n < 0"), 0)
      << "rows of failed transactions were committed";
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(db.QueryInt(absl::StrCat("SELECT count(*) FROM probe WHERE thread = ", t)),
              successes[t])
        << "thread " << t;
    EXPECT_EQ(successes[t], kIterations / 2) << "thread " << t;
  }
  EXPECT_EQ(database.BusyConnections(), 0);
  EXPECT_LE(database.OpenConnections(), 2);
}

// idle_in_transaction_session_timeout through the pool: its value, where it
// came from ("client" would be a startup parameter, which a pooler may refuse
// or pass to other clients; the pool sets it locally in each transaction),
// and the backend's pid.
struct IdleTimeout {
  std::string value;
  std::string source;
  int64_t pid = 0;
};
IdleTimeout ShowIdleTimeout(Database& database) {
  IdleTimeout shown;
  absl::Status status = database.Transact(Tenancy::AllBusinesses(), "show", [&](pqxx::work& txn) {
    shown.value = txn.exec1("SHOW idle_in_transaction_session_timeout")[0].as<std::string>();
    shown.source = txn.exec1(
                          "SELECT source FROM pg_settings"
                          " WHERE name = 'idle_in_transaction_session_timeout'")[0]
                       .as<std::string>();
    shown.pid = txn.exec1("SELECT pg_backend_pid()")[0].as<int64_t>();
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  return shown;
}

// The pool's idle-in-transaction timeout is set in every transaction, so
// libpqxx's transparent reconnect of a pooled connection keeps it; it is
// never a startup parameter.
TEST(DatabasePoolTest, IdleInTransactionTimeoutSurvivesAReconnect) {
  TestDatabase db;
  PoolOptions options;
  options.size = 1;
  options.idle_in_transaction_timeout = absl::Milliseconds(4321);
  Database database(db.app_url(), options);
  const IdleTimeout before = ShowIdleTimeout(database);
  EXPECT_EQ(before.value, "4321ms");
  EXPECT_NE(before.source, "client");

  // Kill the pooled connection's backend (waiting until it is gone).
  EXPECT_EQ(db.QueryInt(absl::StrCat("SELECT pg_terminate_backend(", before.pid, ", 10000)::int")),
            1);
  const IdleTimeout after = ShowIdleTimeout(database);
  EXPECT_NE(after.pid, before.pid);
  EXPECT_EQ(after.value, "4321ms");
  EXPECT_NE(after.source, "client");
}

// The setting applies with every form of connection string, and options
// already there are kept.
TEST(DatabasePoolTest, IdleInTransactionTimeoutMergesIntoEveryUrlForm) {
  TestDatabase db;
  const std::string uri = db.app_url();  // postgresql://user@host:port/name
  const size_t at = uri.find('@'), colon = uri.rfind(':'), slash = uri.rfind('/');
  const std::string user = uri.substr(13, at - 13), host = uri.substr(at + 1, colon - at - 1),
                    port = uri.substr(colon + 1, slash - colon - 1), name = uri.substr(slash + 1);
  const std::vector<std::string> urls = {
      uri,
      absl::StrCat(uri, "?application_name=probe"),
      absl::StrCat(uri, "?options=-c%20statement_timeout%3D7s&application_name=probe"),
      absl::StrCat("host=", host, " port=", port, " user=", user, " dbname=", name),
      absl::StrCat("host=", host, " port=", port, " user=", user, " dbname=", name,
                   " options='-c statement_timeout=7s'"),
  };
  for (const std::string& url : urls) {
    SCOPED_TRACE(url);
    PoolOptions options;
    options.size = 1;
    options.idle_in_transaction_timeout = absl::Seconds(3);
    Database database(url, options);
    absl::Status status = database.Transact(Tenancy::AllBusinesses(), "show", [&](pqxx::work& txn) {
      EXPECT_EQ(txn.exec1("SHOW idle_in_transaction_session_timeout")[0].as<std::string>(), "3s");
      EXPECT_EQ(txn.exec1("SELECT current_user")[0].as<std::string>(), user);
      EXPECT_EQ(txn.exec1("SELECT current_database()")[0].as<std::string>(), name);
      if (url.find("statement_timeout") != std::string::npos) {
        EXPECT_EQ(txn.exec1("SHOW statement_timeout")[0].as<std::string>(), "7s");
      }
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
  }
}

// A body that deadlocks on every attempt ends in a status the scheduler
// does not take for a lost lease (it would drop the run).
TEST(DatabasePoolTest, ExhaustedDeadlockRetriesAreNotALeaseLoss) {
  TestDatabase db;
  Database database(db.app_url(), PoolOptions{});
  int attempts = 0;
  absl::Status status =
      database.Transact(Tenancy::AllBusinesses(), "record outcomes", [&](pqxx::work& txn) {
        ++attempts;
        txn.exec("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$");
        return absl::OkStatus();
      });
  EXPECT_EQ(attempts, store::kMaxTransactionAttempts);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_FALSE(store::IsLeaseLost(status)) << status;
  EXPECT_EQ(database.BusyConnections(), 0);
}

// A listener whose connection silently stops carrying bytes (a partition:
// sockets open, nothing arrives) notices and reconnects within seconds.
TEST(NotificationListenerTest, ReconnectsAfterASilentPartition) {
  TestDatabase db;
  const std::string uri = db.app_url();
  const size_t colon = uri.rfind(':'), slash = uri.rfind('/');
  testing::TcpProxy proxy("127.0.0.1", std::stoi(uri.substr(colon + 1, slash - colon - 1)));
  store::ListenerOptions options;
  options.probe_interval = absl::Seconds(1);
  options.probe_timeout = absl::Seconds(2);
  // on_listening calls, counted.
  absl::Mutex mu;
  int listening = 0;
  auto await_listening = [&](int count, absl::Duration timeout) {
    absl::MutexLock lock(&mu);
    auto reached = [&] { return listening >= count; };
    return mu.AwaitWithTimeout(absl::Condition(&reached), timeout);
  };
  store::NotificationListener listener(testing::WithPort(uri, proxy.port()),
                                       {.on_notification = nullptr,
                                        .on_listening =
                                            [&] {
                                              absl::MutexLock lock(&mu);
                                              ++listening;
                                            }},
                                       options);
  listener.Start();
  ASSERT_TRUE(await_listening(1, absl::Seconds(30)));
  ASSERT_EQ(proxy.accepted(), 1);

  proxy.BlackholeOpenConnections();
  const absl::Time blackholed = absl::Now();
  ASSERT_TRUE(await_listening(2, absl::Seconds(20))) << "no reconnect after the partition";
  EXPECT_LT(absl::Now() - blackholed, absl::Seconds(15));
  EXPECT_EQ(listener.connections(), 2);
  EXPECT_EQ(proxy.accepted(), 2);  // the new connection went through the proxy
  listener.Stop();
}

// A connection lost after the COMMIT was sent leaves the outcome unknown: the
// body must not run again (it would repeat effects, e.g. claim more jobs),
// and the caller learns that the outcome is unknown.
TEST(DatabasePoolTest, ConnectionLostDuringCommitIsNotRetried) {
  TestDatabase db;
  db.ExecAsAdmin("CREATE TABLE commit_probe (id serial PRIMARY KEY)");
  db.ExecAsAdmin("GRANT ALL ON commit_probe, commit_probe_id_seq TO PUBLIC");
  const std::string uri = db.app_url();
  const size_t colon = uri.rfind(':'), slash = uri.rfind('/');
  testing::TcpProxy proxy("127.0.0.1", std::stoi(uri.substr(colon + 1, slash - colon - 1)));
  // Forward the COMMIT, then cut the connection before its answer returns.
  proxy.SetClientBytesHook([](absl::string_view bytes) {
    return absl::StrContains(bytes, "COMMIT") ? testing::TcpProxy::Verdict::kForwardThenCut
                                              : testing::TcpProxy::Verdict::kForward;
  });
  PoolOptions options;
  options.size = 1;
  Database database(testing::WithPort(uri, proxy.port()), options);
  int attempts = 0;
  absl::Status status =
      database.Transact(Tenancy::AllBusinesses(), "insert probe", [&](pqxx::work& txn) {
        ++attempts;
        txn.exec("INSERT INTO commit_probe DEFAULT VALUES");
        return absl::OkStatus();
      });
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "outcome is unknown")) << status;
  // The commit reached the server: exactly one row, never two. The client
  // learns of the cut at once, possibly before the server has finished the
  // COMMIT it was sent, so wait for the row to become visible.
  EXPECT_TRUE(testing::WaitUntil(
      [&] { return db.QueryInt("SELECT count(*) FROM commit_probe") >= 1; }, absl::Seconds(10)))
      << "the COMMIT that was sent never took effect";
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM commit_probe"), 1);
  EXPECT_EQ(database.BusyConnections(), 0);
}

}  // namespace
}  // namespace campaign
