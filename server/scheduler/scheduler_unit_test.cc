// Decisions the scheduler takes itself, against a fake lease repository and a
// fake dialer (no PostgreSQL): what it does on a lost lease, a refused dial,
// a stall between claim and dial, repeated store errors, a cancel request and
// a shutdown with calls in progress. The same behaviours against the real
// database are in tests/scheduler/.
#include <deque>
#include <functional>
#include <map>
#include <optional>
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

}  // namespace
}  // namespace campaign::scheduler
