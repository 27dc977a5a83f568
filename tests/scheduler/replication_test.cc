// The replicated-claims gate (issue 14, part 1) against a real primary with
// a streaming standby (tests/support/standby_pair.h; label `replication`):
// what a plain role may read of pg_stat_replication, a run dispatched with
// the gate on, and the wait_primary window (synchronous replication turned
// off on the primary while it keeps taking writes): no claim made then is
// dialed; the claims go back to the queue and are dialed once, after
// synchronous replication is back. The simulated dialer's dial log is the
// oracle.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/dialer/simulated_dialer.h"
#include "server/scheduler/scheduler.h"
#include "server/store/api_key_store.h"
#include "server/store/database.h"
#include "server/store/lease_store.h"
#include "server/store/run_store.h"
#include "tests/scheduler/scheduler_test_support.h"
#include "tests/support/leads.h"
#include "tests/support/standby_pair.h"
#include "tests/support/wait.h"

namespace campaign {
namespace {

using testing::MakeLeads;
using testing::StandbyPair;
using testing::WaitUntil;
using testing::sched::AllFinal;
using testing::sched::AtMostOnce;
using testing::sched::CountersExact;
using testing::sched::DialsOfRun;
using testing::sched::DialsPerLead;
using testing::sched::Inspector;
using testing::sched::ReadDialLog;
using testing::sched::RunRow;
using testing::sched::SimulatedWorker;
using testing::sched::TempPath;
using testing::sched::WaitForRunState;

constexpr absl::Duration kLeaseTtl = absl::Seconds(3);

// The gate's events, as the scheduler reports them (read with the worker
// stopped, or as atomics while it runs).
class GateMetrics : public scheduler::SchedulerMetrics {
 public:
  void ReplicationGateOn(bool on) override { gate_on = on; }
  void ClaimsHeld(double seconds, bool confirmed, int jobs) override {
    if (confirmed) {
      confirmed_jobs += jobs;
      ++confirmed_batches;
      absl::MutexLock lock(&mu_);
      confirmed_seconds_ += seconds;
      max_confirmed_seconds_ = std::max(max_confirmed_seconds_, seconds);
    } else {
      given_back_jobs += jobs;
    }
  }
  double mean_confirmed_seconds() {
    absl::MutexLock lock(&mu_);
    return confirmed_batches == 0 ? 0 : confirmed_seconds_ / confirmed_batches;
  }
  double max_confirmed_seconds() {
    absl::MutexLock lock(&mu_);
    return max_confirmed_seconds_;
  }
  std::atomic<bool> gate_on{false};
  std::atomic<int> confirmed_jobs{0};
  std::atomic<int> confirmed_batches{0};
  std::atomic<int> given_back_jobs{0};

 private:
  absl::Mutex mu_;
  double confirmed_seconds_ ABSL_GUARDED_BY(mu_) = 0;
  double max_confirmed_seconds_ ABSL_GUARDED_BY(mu_) = 0;
};

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = std::make_unique<store::Database>(pair_.app_url(), store::PoolOptions{.size = 4});
    leases_ = std::make_unique<store::LeaseStore>(database_.get(), kLeaseTtl);
    runs_ = std::make_unique<store::RunStore>(database_.get(), kLeaseTtl);
    inspect_ = std::make_unique<Inspector>(pair_.admin_url());
    store::ApiKeyStore keys(database_.get());
    absl::StatusOr<int64_t> business = keys.CreateBusiness("replication test");
    ASSERT_TRUE(business.ok()) << business.status();
    business_id_ = *business;
  }

  int64_t CreateRun(int leads, int32_t concurrency) {
    static std::atomic<int> counter{0};
    return testing::sched::CreateStoreRun(*runs_, business_id_, absl::StrCat("repl-", counter++),
                                          concurrency, MakeLeads(leads));
  }

  // A worker with short intervals, the gate in `mode`, 10 ms calls.
  std::unique_ptr<SimulatedWorker> MakeWorker(scheduler::ReplicatedClaimsMode mode,
                                              GateMetrics* metrics) {
    dialer::SimulatedDialerOptions sim;
    sim.seed = 1;
    sim.call_duration = absl::Milliseconds(10);
    sim.dial_log_path = dial_log_.path();
    scheduler::SchedulerOptions options;
    options.worker_id = "repl-worker";
    options.heartbeat_interval = absl::Milliseconds(300);
    options.lease_ttl = kLeaseTtl;
    options.sweep_interval = absl::Milliseconds(500);
    options.poll_interval = absl::Milliseconds(20);
    options.reconcile_interval = absl::Milliseconds(100);
    options.metrics = metrics;
    options.replication.mode = mode;
    options.replication.timeout = absl::Milliseconds(300);
    options.replication.on_health = [this](bool ok, const std::string& why) {
      absl::MutexLock lock(&health_mu_);
      health_.emplace_back(ok, why);
    };
    return std::make_unique<SimulatedWorker>(leases_.get(), sim, options);
  }

  std::pair<bool, std::string> LastHealth() {
    absl::MutexLock lock(&health_mu_);
    return health_.empty() ? std::make_pair(true, std::string("none")) : health_.back();
  }

  void GrantPositions() {
    pair_.ExecAsAdmin(absl::StrCat("GRANT pg_read_all_stats TO ", StandbyPair::kAppRole));
  }

  StandbyPair pair_;
  std::unique_ptr<store::Database> database_;
  std::unique_ptr<store::LeaseStore> leases_;
  std::unique_ptr<store::RunStore> runs_;
  std::unique_ptr<Inspector> inspect_;
  int64_t business_id_ = 0;
  TempPath dial_log_{"replication-dial-log"};
  absl::Mutex health_mu_;
  std::vector<std::pair<bool, std::string>> health_ ABSL_GUARDED_BY(health_mu_);
};

// A plain role sees the standby's row but none of its positions; with
// pg_read_all_stats it sees the synchronous standby's flush position, and
// a claim's commit position is covered by it.
TEST_F(ReplicationTest, APlainRoleNeedsPgReadAllStatsToSeeTheStandbysPositions) {
  absl::StatusOr<store::ReplicationState> plain = leases_->ReadReplication();
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->standbys, 1);
  EXPECT_EQ(plain->unreadable, 1);
  EXPECT_FALSE(plain->can_read_positions);
  EXPECT_FALSE(plain->sync_flushed.has_value());
  EXPECT_EQ(plain->synchronous_standby_names, StandbyPair::kStandbyName);

  GrantPositions();
  absl::StatusOr<store::ReplicationState> granted = leases_->ReadReplication();
  ASSERT_TRUE(granted.ok()) << granted.status();
  EXPECT_EQ(granted->unreadable, 0);
  EXPECT_TRUE(granted->can_read_positions);
  ASSERT_TRUE(granted->sync_flushed.has_value());
  const uint64_t wal =
      std::stoull(pair_.QueryText("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text"));
  // Synchronous commit: everything committed so far is flushed on the standby.
  EXPECT_GE(*granted->sync_flushed + (1 << 20), wal);
}

// With the gate on and the standby synchronous, a run dispatches completely
// and every lead is dialed once; every batch was confirmed, none given back.
TEST_F(ReplicationTest, WithASynchronousStandbyARunDispatchesCompletely) {
  GrantPositions();
  constexpr int kLeads = 300;
  const int64_t run = CreateRun(kLeads, /*concurrency=*/30);
  GateMetrics metrics;
  auto worker = MakeWorker(scheduler::ReplicatedClaimsMode::kOn, &metrics);
  const absl::Time start = absl::Now();
  worker->scheduler().Start();
  RunRow done;
  ASSERT_TRUE(WaitForRunState(
      *inspect_, run, [](const RunRow& r) { return r.status == "completed"; }, "completed", &done));
  const absl::Duration took = absl::Now() - start;
  worker.reset();
  const auto dials = DialsOfRun(ReadDialLog(dial_log_.path()), run);
  EXPECT_EQ(DialsPerLead(dials).size(), static_cast<size_t>(kLeads));
  EXPECT_TRUE(AtMostOnce(dials));
  EXPECT_TRUE(AllFinal(inspect_->Jobs(run)));
  EXPECT_TRUE(CountersExact(done, inspect_->Jobs(run)));
  EXPECT_TRUE(metrics.gate_on);
  EXPECT_EQ(metrics.confirmed_jobs, kLeads);
  EXPECT_EQ(metrics.given_back_jobs, 0);
  // What the gate's two extra statements cost alone: the commit position
  // read after each claim, and the replication check per round.
  constexpr int kSamples = 200;
  absl::Time begin = absl::Now();
  for (int i = 0; i < kSamples; ++i) ASSERT_TRUE(leases_->ReadReplication().ok());
  const absl::Duration check = (absl::Now() - begin) / kSamples;
  pqxx::connection connection(pair_.app_url());
  begin = absl::Now();
  for (int i = 0; i < kSamples; ++i) {
    pqxx::nontransaction read(connection);
    read.exec1("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text");
  }
  const absl::Duration position = (absl::Now() - begin) / kSamples;
  std::printf(
      "[ measured ] gate on, sync standby on loopback: %d leads in %s, %d batches held, hold "
      "per batch (claim committed -> confirmed, check included) mean %.3f ms, max %.3f ms; "
      "replication check %.3f ms, commit position read %.3f ms per statement\n",
      kLeads, absl::FormatDuration(took).c_str(), metrics.confirmed_batches.load(),
      metrics.mean_confirmed_seconds() * 1000, metrics.max_confirmed_seconds() * 1000,
      absl::ToDoubleMilliseconds(check), absl::ToDoubleMilliseconds(position));
}

// The wait_primary window of issue 14: the primary turns synchronous
// replication off and keeps taking writes (the standby still streams,
// asynchronously). The gate (auto: the primary has a standby) holds every
// claim made then and gives it back undialed; health says why. Once
// synchronous replication is back, the run completes with every lead
// dialed exactly once.
TEST_F(ReplicationTest, NoClaimMadeWhileSynchronousReplicationIsOffIsDialed) {
  GrantPositions();
  pair_.SetSynchronous(false);
  constexpr int kLeads = 100;
  const int64_t run = CreateRun(kLeads, /*concurrency=*/10);
  GateMetrics metrics;
  auto worker = MakeWorker(scheduler::ReplicatedClaimsMode::kAuto, &metrics);
  worker->scheduler().Start();
  // Claims were made, held and given back several times over.
  ASSERT_TRUE(WaitUntil([&] { return metrics.given_back_jobs >= 30; }, absl::Seconds(30)))
      << metrics.given_back_jobs;
  EXPECT_TRUE(metrics.gate_on);
  EXPECT_TRUE(DialsOfRun(ReadDialLog(dial_log_.path()), run).empty());
  EXPECT_EQ(metrics.confirmed_jobs, 0);
  const auto [healthy, why] = LastHealth();
  EXPECT_FALSE(healthy);
  EXPECT_TRUE(absl::StrContains(why, "none synchronous")) << why;
  // Given back, not failed: nothing final yet, the attempts given back too.
  EXPECT_EQ(inspect_->Int(absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ",
                                       run, " AND status NOT IN ('queued', 'dialing')")),
            0);
  // The ledger holds only the claims held right now (at most the run's
  // concurrency), none with a call.
  EXPECT_LE(inspect_->Int(absl::StrCat("SELECT count(*) FROM call_attempts WHERE run_id = ", run)),
            10);
  EXPECT_EQ(
      inspect_->Int(absl::StrCat(
          "SELECT count(*) FROM call_attempts WHERE call_sid IS NOT NULL AND run_id = ", run)),
      0);
  const absl::Time back_on = absl::Now();
  pair_.SetSynchronous(true);
  RunRow done;
  ASSERT_TRUE(WaitForRunState(
      *inspect_, run, [](const RunRow& r) { return r.status == "completed"; }, "completed", &done));
  worker.reset();
  const auto dials = DialsOfRun(ReadDialLog(dial_log_.path()), run);
  EXPECT_EQ(DialsPerLead(dials).size(), static_cast<size_t>(kLeads));
  EXPECT_TRUE(AtMostOnce(dials));
  for (const auto& dial : dials) EXPECT_GE(dial.time, back_on) << dial.token;
  const auto jobs = inspect_->Jobs(run);
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(done, jobs));
  // One ledger row per lead: every given-back attempt was removed.
  EXPECT_EQ(inspect_->Int(absl::StrCat("SELECT count(*) FROM call_attempts WHERE run_id = ", run)),
            kLeads);
  for (const auto& job : jobs) {
    EXPECT_EQ(job.attempts, 1) << job.id;
    EXPECT_FALSE(absl::StrContains(job.error, "unknown")) << job.error;
  }
  EXPECT_TRUE(LastHealth().first);
}

}  // namespace
}  // namespace campaign
