// Decisions the scheduler takes itself, against a fake lease repository and a
// fake dialer (no PostgreSQL): what it does on a lost lease, a refused dial,
// a stall between claim and dial, repeated store errors, a cancel request and
// a shutdown with calls in progress. The same behaviours against the real
// database are in tests/scheduler/.
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/rules/dialing_rules.h"
#include "server/scheduler/scheduler.h"
#include "server/scheduler/scheduler_fakes.h"

namespace campaign::scheduler {
namespace {

using testing::FakeDialer;
using testing::FakeLeases;
using testing::kRun;
using testing::LeaseLostStatus;

SchedulerOptions FastOptions() {
  SchedulerOptions options;
  options.worker_id = "unit";
  options.poll_interval = absl::Milliseconds(1);
  options.sweep_interval = absl::Hours(1);
  options.heartbeat_interval = absl::Hours(1);
  options.reconcile_interval = absl::Hours(1);
  options.lease_ttl = absl::Hours(2);
  // Calls allowed at any hour: these tests are not about calling windows
  // (the server default, 08:00-21:00 UTC, failed them at night).
  options.default_policy = rules::AllDayPolicy();
  return options;
}

// Runs a worker on `leases` until it lets the run go (one Release), then
// shuts it down; false if that did not happen within kDeadline or the worker
// still held a run after the release.
bool RunUntilReleased(FakeLeases& leases, FakeDialer& dialer) {
  Scheduler scheduler(&leases, &dialer, FastOptions());
  scheduler.Start();
  const bool released = leases.WaitFor([](const FakeLeases& f) { return f.releases == 1; });
  const bool holds_none = scheduler.HeldRuns().empty();
  scheduler.Shutdown(absl::ZeroDuration());
  return released && holds_none;
}

TEST(SchedulerUnitTest, LostLeaseStatusIsWhatTheStoreReports) {
  EXPECT_TRUE(store::IsLeaseLost(LeaseLostStatus()));
  EXPECT_FALSE(store::IsLeaseLost(absl::AbortedError("lease lost")));
}

TEST(SchedulerUnitTest, ALostLeaseLetsTheRunGoWithoutDialingReleasingOrFailingIt) {
  FakeLeases leases(/*queued_jobs=*/3);
  leases.SetClaimErrors(1, LeaseLostStatus());
  FakeDialer dialer;
  Scheduler scheduler(&leases, &dialer, FastOptions());
  scheduler.Start();

  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.claims >= 1; }));
  // The dispatcher drops the run in the round of the failed claim, before it
  // lets go of its lock, so HeldRuns (which takes that lock) sees it gone.
  EXPECT_TRUE(scheduler.HeldRuns().empty());
  scheduler.Shutdown(absl::ZeroDuration());
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.claims, 1);    // never claimed again
  EXPECT_EQ(leases.releases, 0);  // the lease is another worker's now
  EXPECT_TRUE(leases.failed_runs.empty());
  EXPECT_TRUE(dialer.dialed().empty());
}

TEST(SchedulerUnitTest, ARefusedDialFailsThatJobOnceAndTheRunGoesOn) {
  FakeLeases leases(/*queued_jobs=*/2);
  FakeDialer dialer(/*refusals=*/1);
  Scheduler scheduler(&leases, &dialer, FastOptions());
  scheduler.Start();

  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.started_calls.size() == 1; }));
  scheduler.Shutdown(absl::ZeroDuration());
  absl::MutexLock lock(&leases.mu());
  ASSERT_EQ(leases.claimed.size(), 2u);
  ASSERT_EQ(leases.outcomes.size(), 1u);
  const store::JobResult& failed = leases.outcomes[0];
  EXPECT_EQ(failed.job_id, 1);
  EXPECT_EQ(failed.token, leases.claimed[0].token);
  EXPECT_EQ(failed.status, JobStatus::kFailed);
  EXPECT_EQ(failed.error, "dial failed: provider refused");
  // Job 1 was dialed once (not retried), then job 2.
  EXPECT_EQ(dialer.dialed(),
            (std::vector<std::string>{leases.claimed[0].token, leases.claimed[1].token}));
  EXPECT_EQ(leases.started_calls, std::vector<std::string>{leases.claimed[1].token});
}

TEST(SchedulerUnitTest, AClaimThatStalledPastHalfTheLeaseTtlIsUndoneNotDialed) {
  SchedulerOptions options = FastOptions();
  options.lease_ttl = absl::Seconds(1);
  options.heartbeat_interval = absl::Milliseconds(250);
  FakeLeases leases(/*queued_jobs=*/1);
  leases.StallFirstClaim(options.lease_ttl);  // more than lease_ttl / 2
  FakeDialer dialer;
  Scheduler scheduler(&leases, &dialer, options);
  scheduler.Start();

  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.started_calls.size() == 1; }));
  scheduler.Shutdown(absl::ZeroDuration());
  absl::MutexLock lock(&leases.mu());
  ASSERT_EQ(leases.claimed.size(), 2u);
  ASSERT_EQ(leases.released_claims.size(), 1u);
  EXPECT_EQ(leases.released_claims[0].token, leases.claimed[0].token);
  // Only the second, timely claim of the same job was dialed.
  EXPECT_EQ(leases.claimed[1].job_id, leases.claimed[0].job_id);
  EXPECT_EQ(dialer.dialed(), std::vector<std::string>{leases.claimed[1].token});
}

TEST(SchedulerUnitTest, RepeatedUnexpectedErrorsFailTheRunAndReleaseIt) {
  FakeLeases leases(/*queued_jobs=*/1);
  leases.SetClaimErrors(100, absl::InternalError("constraint violated"));
  FakeDialer dialer;
  ASSERT_TRUE(RunUntilReleased(leases, dialer));
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.claims, 5);  // kMaxConsecutiveErrors, then no more
  EXPECT_EQ(leases.failed_runs, std::vector<std::string>{"constraint violated"});
  EXPECT_TRUE(dialer.dialed().empty());
}

TEST(SchedulerUnitTest, AnUnavailableDatabaseNeverFailsTheRun) {
  FakeLeases leases(/*queued_jobs=*/1);
  leases.SetClaimErrors(8, absl::UnavailableError("database away"));
  FakeDialer dialer;
  Scheduler scheduler(&leases, &dialer, FastOptions());
  scheduler.Start();

  // After more errors than fail a run otherwise, the job is still dialed.
  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.started_calls.size() == 1; }));
  scheduler.Shutdown(absl::ZeroDuration());
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.claims, 9);
  EXPECT_TRUE(leases.failed_runs.empty());
  EXPECT_EQ(dialer.dialed().size(), 1u);
}

TEST(SchedulerUnitTest, ACancelRequestIsFinalisedBeforeAnyClaimAndTheRunReleased) {
  FakeLeases leases(/*queued_jobs=*/3);
  leases.SetCancelRequested();
  FakeDialer dialer;
  ASSERT_TRUE(RunUntilReleased(leases, dialer));
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.finalized_cancels, 1);
  EXPECT_EQ(leases.claims, 0);
  EXPECT_TRUE(dialer.dialed().empty());
}

TEST(SchedulerUnitTest, ShutdownWithoutGraceHandsBackARunWithACallInProgress) {
  FakeLeases leases(/*queued_jobs=*/2);
  FakeDialer dialer;
  Scheduler scheduler(&leases, &dialer, FastOptions());
  scheduler.Start();

  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.started_calls.size() == 1; }));
  scheduler.Shutdown(absl::ZeroDuration());
  EXPECT_TRUE(scheduler.HeldRuns().empty());
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.releases, 1);
  // The call's outcome is left to the next holder (it reconciles it); the
  // other queued job was never claimed (concurrency 1).
  EXPECT_TRUE(leases.outcomes.empty());
  EXPECT_EQ(leases.claimed.size(), 1u);
}

TEST(SchedulerUnitTest, ARateLimitedRunIsClaimedFromWhenItsNextTokenIsDueAndNotBefore) {
  SchedulerOptions options = FastOptions();
  // Rounds come from events and token due times only.
  options.poll_interval = absl::Hours(1);
  FakeLeases leases(/*queued_jobs=*/10, /*concurrency=*/5);
  const absl::Duration token_interval = absl::Milliseconds(100);
  leases.SetBucket(/*tokens=*/1, token_interval);
  FakeDialer dialer;
  Scheduler scheduler(&leases, &dialer, options);
  const absl::Time start = absl::Now();
  scheduler.Start();

  // A token every 100 ms, one call each: five calls fill the run's slots.
  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.started_calls.size() == 5; }));
  const absl::Duration elapsed = absl::Now() - start;
  scheduler.Shutdown(absl::ZeroDuration());
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.claimed.size(), 5u);
  EXPECT_GE(elapsed, 4 * token_interval);
  // No spinning while the bucket is empty: at most one claim per token due
  // time (a claim that found another claimer's token gone waits again), and
  // not a claim per round.
  EXPECT_LE(leases.claims, elapsed / token_interval + 2) << elapsed;
  EXPECT_GE(leases.rate_limited_claims, 4);
}

// Counts the replicated-claims gate's events (read after Shutdown).
class GateMetrics : public SchedulerMetrics {
 public:
  void ReplicationGateOn(bool on) override { gate_on = on; }
  void ClaimsHeld(double seconds, bool confirmed, int jobs) override {
    (confirmed ? confirmed_jobs : given_back_jobs) += jobs;
  }
  std::atomic<bool> gate_on{false};
  std::atomic<int> confirmed_jobs{0};
  std::atomic<int> given_back_jobs{0};
};

store::ReplicationState Replication(int standbys, std::optional<uint64_t> sync_flushed) {
  store::ReplicationState state;
  state.standbys = standbys;
  state.synchronous_standby_names = sync_flushed ? "standby1" : "";
  state.sync_flushed = sync_flushed;
  state.can_read_positions = true;
  return state;
}

// Issue 14, the wait_primary window: the primary has a standby but nothing
// synchronous (synchronous replication turned off). Claims are held, never
// dialed, and go back to the queue after the timeout; once a synchronous
// standby has flushed them, the run dials each lead once.
TEST(SchedulerUnitTest, TheReplicatedClaimsGateNeverDialsAClaimNoSynchronousStandbyFlushed) {
  SchedulerOptions options = FastOptions();
  GateMetrics metrics;
  options.metrics = &metrics;
  options.replication.mode = ReplicatedClaimsMode::kOn;
  options.replication.timeout = absl::Milliseconds(50);
  options.replication.poll_interval = absl::Milliseconds(5);
  absl::Mutex health_mu;
  std::vector<std::pair<bool, std::string>> health;
  options.replication.on_health = [&](bool ok, const std::string& why) {
    absl::MutexLock lock(&health_mu);
    health.emplace_back(ok, why);
  };
  FakeLeases leases(/*queued_jobs=*/2, /*concurrency=*/2);
  leases.SetReplication(Replication(/*standbys=*/1, std::nullopt));
  FakeDialer dialer;
  Scheduler scheduler(&leases, &dialer, options);
  scheduler.Start();

  // Two rounds of claims held past the timeout and given back.
  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.released_claims.size() >= 4; }));
  EXPECT_TRUE(dialer.dialed().empty());
  {
    absl::MutexLock lock(&health_mu);
    ASSERT_FALSE(health.empty());
    EXPECT_FALSE(health.back().first);
    EXPECT_NE(health.back().second.find("none synchronous"), std::string::npos)
        << health.back().second;
  }
  // Synchronous replication is back: the next claim is confirmed and dialed.
  leases.SetReplication(Replication(/*standbys=*/1, uint64_t{1} << 40));
  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.started_calls.size() == 2; }));
  scheduler.Shutdown(absl::ZeroDuration());
  EXPECT_EQ(scheduler.UndispatchedClaims(), 0);
  {
    absl::MutexLock health_lock(&health_mu);
    EXPECT_TRUE(health.back().first);
  }
  absl::MutexLock lock(&leases.mu());
  std::map<int64_t, int> dials_per_job;
  std::map<std::string, int64_t> job_of_token;
  for (const store::ClaimedJob& job : leases.claimed) job_of_token[job.token] = job.job_id;
  for (const std::string& token : dialer.dialed()) ++dials_per_job[job_of_token[token]];
  EXPECT_EQ(dials_per_job, (std::map<int64_t, int>{{1, 1}, {2, 1}}));
  // Every dialed token is one of the last claims (never a given-back one).
  for (const store::ClaimedJob& given_back : leases.released_claims) {
    for (const std::string& token : dialer.dialed()) EXPECT_NE(token, given_back.token);
  }
  EXPECT_TRUE(leases.outcomes.empty());
  EXPECT_EQ(leases.lsn_claims, leases.claims - leases.waiting_notes);
  EXPECT_TRUE(metrics.gate_on);
  EXPECT_GE(metrics.given_back_jobs, 4);
  EXPECT_EQ(metrics.confirmed_jobs, 2);
}

// Off costs nothing: no replication read and no commit position per claim;
// auto without any replication in sight reads the state now and then but
// holds nothing; auto with a standby gates.
TEST(SchedulerUnitTest, TheReplicatedClaimsGateOffOrAutoWithoutStandbysHoldsNothing) {
  for (const ReplicatedClaimsMode mode :
       {ReplicatedClaimsMode::kOff, ReplicatedClaimsMode::kAuto}) {
    SchedulerOptions options = FastOptions();
    GateMetrics metrics;
    options.metrics = &metrics;
    options.replication.mode = mode;
    FakeLeases leases(/*queued_jobs=*/3, /*concurrency=*/3);
    FakeDialer dialer;
    Scheduler scheduler(&leases, &dialer, options);
    scheduler.Start();
    ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.started_calls.size() == 3; }));
    scheduler.Shutdown(absl::ZeroDuration());
    absl::MutexLock lock(&leases.mu());
    EXPECT_EQ(leases.lsn_claims, 0) << ReplicatedClaimsModeName(mode);
    EXPECT_EQ(leases.replication_reads > 0, mode == ReplicatedClaimsMode::kAuto);
    EXPECT_FALSE(metrics.gate_on);
    EXPECT_EQ(metrics.confirmed_jobs + metrics.given_back_jobs, 0);
  }
  SchedulerOptions options = FastOptions();
  FakeLeases leases(/*queued_jobs=*/3, /*concurrency=*/3);
  leases.SetReplication(Replication(/*standbys=*/1, uint64_t{1} << 40));
  FakeDialer dialer;
  Scheduler scheduler(&leases, &dialer, options);
  scheduler.Start();
  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.started_calls.size() == 3; }));
  scheduler.Shutdown(absl::ZeroDuration());
  absl::MutexLock lock(&leases.mu());
  EXPECT_GE(leases.lsn_claims, 1);
}

TEST(SchedulerUnitTest, NamesSeveralHostsReadsMultiHostUrls) {
  EXPECT_TRUE(NamesSeveralHosts("postgresql://a:5432,b:5433/db?target_session_attrs=read-write"));
  EXPECT_TRUE(NamesSeveralHosts("host=a,b port=1,2 dbname=x"));
  EXPECT_FALSE(NamesSeveralHosts("postgresql://a:5432/db"));
  EXPECT_FALSE(NamesSeveralHosts("host=/tmp dbname=x"));
  EXPECT_TRUE(ParseReplicatedClaimsMode("on").ok());
  EXPECT_EQ(ParseReplicatedClaimsMode("yes").status().message(),
            "--require-replicated-claims \"yes\" is not one of auto, on, off");
}

// Issue 14, part 3: a database outage longer than the TTL. The worker's
// claims were never dialed (the dial gate and then every release failed),
// its lease lapsed, and it takes its own run back: those claims go back to
// the queue and are dialed once, never failed as "dial outcome unknown".
TEST(SchedulerUnitTest, AWorkerTakingItsOwnRunBackRequeuesTheClaimsItNeverDialed) {
  SchedulerOptions options = FastOptions();
  options.lease_ttl = absl::Seconds(3);  // back-off at most 300 ms
  FakeLeases leases(/*queued_jobs=*/3, /*concurrency=*/3);
  leases.SetGateErrors(1, absl::UnavailableError("database away"));
  leases.SetReleaseErrors(1'000'000, absl::UnavailableError("database away"));
  FakeDialer dialer;
  Scheduler scheduler(&leases, &dialer, options);
  scheduler.Start();

  ASSERT_TRUE(
      leases.WaitFor([](const FakeLeases& f) { return f.gates == 1 && f.release_attempts >= 2; }));
  EXPECT_EQ(scheduler.UndispatchedClaims(), 3);
  leases.ExpireLeaseForTakeover();
  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.started_calls.size() == 3; }));
  scheduler.Shutdown(absl::ZeroDuration());
  EXPECT_EQ(scheduler.UndispatchedClaims(), 0);
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.acquired_epochs, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(leases.previous_workers, (std::vector<std::string>{"", "unit"}));
  // Nothing was failed (no outcome at all: the fake's calls never end).
  EXPECT_TRUE(leases.outcomes.empty());
  EXPECT_TRUE(leases.failed_runs.empty());
  ASSERT_EQ(leases.claimed.size(), 6u);
  std::set<std::string> first_claims;
  for (int i = 0; i < 3; ++i) first_claims.insert(leases.claimed[i].token);
  std::set<std::string> released;
  for (const store::ClaimedJob& job : leases.released_claims) released.insert(job.token);
  EXPECT_EQ(released, first_claims);
  std::map<int64_t, int> dials_per_job;
  for (int i = 3; i < 6; ++i) {
    for (const std::string& token : dialer.dialed()) {
      dials_per_job[leases.claimed[i].job_id] += token == leases.claimed[i].token;
    }
  }
  EXPECT_EQ(dials_per_job, (std::map<int64_t, int>{{1, 1}, {2, 1}, {3, 1}}));
  EXPECT_EQ(dialer.dialed().size(), 3u);
}

// Issue 14: a claim's COMMIT took effect but its answer was lost (a
// failover). The worker never had those jobs' tokens, so it never dialed
// them: as soon as the database answers it finds them dialing under the
// claim id it chose, queues them again and dials each once, never failing
// one as "dial outcome unknown".
TEST(SchedulerUnitTest, JobsOfAClaimWhoseCommitWasInDoubtAreQueuedAgainAndDialedOnce) {
  FakeLeases leases(/*queued_jobs=*/3, /*concurrency=*/3);
  leases.SetClaimsCommitThenFail(
      1, absl::UnavailableError("claim jobs: the database connection was lost during commit; "
                                "the outcome is unknown"));
  FakeDialer dialer;
  Scheduler scheduler(&leases, &dialer, FastOptions());
  scheduler.Start();
  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.started_calls.size() == 3; }));
  scheduler.Shutdown(absl::ZeroDuration());

  absl::MutexLock lock(&leases.mu());
  ASSERT_EQ(leases.in_doubt_claimed.size(), 3u);
  std::set<std::string> in_doubt, released;
  for (const store::ClaimedJob& job : leases.in_doubt_claimed) in_doubt.insert(job.token);
  for (const store::ClaimedJob& job : leases.released_claims) released.insert(job.token);
  EXPECT_EQ(released, in_doubt);
  EXPECT_EQ(store::ClaimIdOfToken(leases.in_doubt_claimed[0].token).size(), 22u);
  std::map<int64_t, int> dials_per_job;
  for (const std::string& token : dialer.dialed()) {
    EXPECT_EQ(in_doubt.count(token), 0u) << token;
    for (const store::ClaimedJob& job : leases.claimed) {
      if (job.token == token) ++dials_per_job[job.job_id];
    }
  }
  EXPECT_EQ(dials_per_job, (std::map<int64_t, int>{{1, 1}, {2, 1}, {3, 1}}));
  EXPECT_TRUE(leases.outcomes.empty());  // nothing failed (the fake's calls never end)
  EXPECT_TRUE(leases.failed_runs.empty());
}

// The leases are renewed as soon as the database answers again, not a
// heartbeat (here an hour) later.
TEST(SchedulerUnitTest, LeasesAreRenewedAsSoonAsTheDatabaseAnswersAgain) {
  SchedulerOptions options = FastOptions();
  options.lease_ttl = absl::Seconds(3);
  FakeLeases leases(/*queued_jobs=*/1);
  leases.SetClaimErrors(3, absl::UnavailableError("database away"));
  FakeDialer dialer;
  Scheduler scheduler(&leases, &dialer, options);
  scheduler.Start();
  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.started_calls.size() == 1; }));
  scheduler.Shutdown(absl::ZeroDuration());
  absl::MutexLock lock(&leases.mu());
  EXPECT_GE(leases.renewals, 2);  // the first round's and the one after recovery
}

}  // namespace
}  // namespace campaign::scheduler
