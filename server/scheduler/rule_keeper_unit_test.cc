// The rule keeper on its own and in the loop, against the fakes: when it
// reads a run's policy, how it vets claims (a do-not-call number is never
// dialed), when it screens by zone, which results it retries, and the run's
// end_at. Tests marked "real rules" need server/rules' implementation (the
// placeholder's Window is always open and its RetryAt never retries).
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/rules/dialing_rules.h"
#include "server/scheduler/held_run.h"
#include "server/scheduler/rule_keeper.h"
#include "server/scheduler/scheduler.h"
#include "server/scheduler/scheduler_fakes.h"

namespace campaign::scheduler {
namespace {

using testing::FakeDialer;
using testing::FakeLeases;
using testing::kBusiness;
using testing::kRun;

HeldRun Held(FakeLeases& leases) {
  HeldRun run;
  run.lease = store::Lease{kRun, kBusiness, 1, "unit"};
  run.concurrency = 1;
  run.control = *leases.Control(run.lease);
  return run;
}

// Tuesday 2026-12-01 12:00 UTC.
absl::Time TuesdayNoon() {
  return absl::FromCivil(absl::CivilSecond(2026, 12, 1, 12, 0, 0), absl::UTCTimeZone());
}

TEST(RuleKeeperTest, ReadsThePolicyOnceThenAtMostEveryRefreshInterval) {
  FakeLeases leases(1);
  store::RunDialingRules stored;
  stored.business.max_attempts = 3;
  stored.run.max_dials_per_number = 2;
  stored.end_at = TuesdayNoon() + absl::Hours(1);
  leases.SetDialingRules(stored);
  RuleKeeper keeper(&leases, rules::AllDayPolicy());
  HeldRun run = Held(leases);
  const absl::Time now = TuesdayNoon();
  ASSERT_TRUE(keeper.Refresh(run, now).ok());
  EXPECT_TRUE(run.rules_loaded);
  EXPECT_EQ(run.policy, rules::Effective(rules::AllDayPolicy(), stored.business, stored.run));
  EXPECT_EQ(run.schedule.end_at, stored.end_at);
  ASSERT_TRUE(keeper.Refresh(run, now + RuleKeeper::kPolicyRefresh / 2).ok());
  {
    absl::MutexLock lock(&leases.mu());
    EXPECT_EQ(leases.rules_reads, 1);
  }
  ASSERT_TRUE(keeper.Refresh(run, now + RuleKeeper::kPolicyRefresh).ok());
  ASSERT_TRUE(keeper.Refresh(run, now + RuleKeeper::kPolicyRefresh, /*force=*/true).ok());
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.rules_reads, 3);
}

TEST(RuleKeeperTest, AChangedScheduleOrPolicyAsksForAScreenAnUnchangedOneDoesNot) {
  FakeLeases leases(1);
  RuleKeeper keeper(&leases, rules::AllDayPolicy());
  HeldRun run = Held(leases);
  ASSERT_TRUE(keeper.Refresh(run, TuesdayNoon()).ok());
  run.next_screen = TuesdayNoon() + absl::Minutes(1);
  ASSERT_TRUE(keeper.Refresh(run, TuesdayNoon(), /*force=*/true).ok());
  EXPECT_EQ(run.next_screen, TuesdayNoon() + absl::Minutes(1));
  store::RunDialingRules stored;
  stored.end_at = TuesdayNoon() + absl::Hours(2);
  leases.SetDialingRules(stored);
  ASSERT_TRUE(keeper.Refresh(run, TuesdayNoon(), /*force=*/true).ok());
  EXPECT_EQ(run.next_screen, absl::InfinitePast());
}

TEST(RuleKeeperTest, ADoNotCallNumberIsVetoedAsSkippedTheOthersAreDialedInOrder) {
  FakeLeases leases(0);
  RuleKeeper keeper(&leases, rules::AllDayPolicy());
  HeldRun run = Held(leases);
  ASSERT_TRUE(keeper.Refresh(run, TuesdayNoon()).ok());
  std::vector<store::ClaimedJob> jobs = {{1, 1, "+14155551001", "t1"},
                                         {2, 2, "+14155551002", "t2"},
                                         {3, 3, "+14155551003", "t3"}};
  jobs[1].on_do_not_call = true;
  std::vector<store::ClaimUndo> vetoed;
  const std::vector<store::ClaimedJob> dial = keeper.Vet(run, jobs, TuesdayNoon(), &vetoed);
  ASSERT_EQ(dial.size(), 2u);
  EXPECT_EQ(dial[0].job_id, 1);
  EXPECT_EQ(dial[1].job_id, 3);
  ASSERT_EQ(vetoed.size(), 1u);
  EXPECT_EQ(vetoed[0].job_id, 2);
  EXPECT_EQ(vetoed[0].token, "t2");
  EXPECT_EQ(vetoed[0].to, JobStatus::kSkipped);
  EXPECT_EQ(vetoed[0].skip, SkipReason::kDoNotCall);
  EXPECT_FALSE(vetoed[0].rule.empty());
}

TEST(RuleKeeperTest, AResultWhoseFateIsUnknownOrThatSucceededIsNeverRetried) {
  FakeLeases leases(0);
  DialingPolicy policy = rules::AllDayPolicy();
  policy.max_attempts = 5;
  policy.retry_delays = {{JobStatus::kBusy, absl::Seconds(10)},
                         {JobStatus::kFailed, absl::Seconds(10)}};
  RuleKeeper keeper(&leases, policy);
  HeldRun run = Held(leases);
  ASSERT_TRUE(keeper.Refresh(run, TuesdayNoon()).ok());
  store::JobResult unknown(1, "t1", JobStatus::kFailed, "dial outcome unknown", "");
  unknown.retryable = false;
  EXPECT_FALSE(keeper.RetryAt(run, unknown, TuesdayNoon()));
  store::JobResult completed(2, "t2", JobStatus::kCompleted, "", "CA2");
  EXPECT_FALSE(keeper.RetryAt(run, completed, TuesdayNoon()));
  // Before the policy was read, nothing is retried.
  HeldRun unread = Held(leases);
  store::JobResult busy(3, "t3", JobStatus::kBusy, "line busy", "CA3");
  EXPECT_FALSE(keeper.RetryAt(unread, busy, TuesdayNoon()));
}

// Real rules (RetryAt).
TEST(RuleKeeperTest, ABusyCallIsRetriedAfterItsDelayUpToMaxAttemptsAndNotPastEndAt) {
  FakeLeases leases(0);
  DialingPolicy policy = rules::AllDayPolicy();
  policy.max_attempts = 3;
  policy.retry_delays = {{JobStatus::kBusy, absl::Seconds(10)}};
  RuleKeeper keeper(&leases, policy);
  HeldRun run = Held(leases);
  ASSERT_TRUE(keeper.Refresh(run, TuesdayNoon()).ok());
  store::JobResult busy(3, "t3", JobStatus::kBusy, "line busy", "CA3");
  busy.attempts = 1;
  EXPECT_EQ(keeper.RetryAt(run, busy, TuesdayNoon()), TuesdayNoon() + absl::Seconds(10));
  busy.attempts = 3;
  EXPECT_FALSE(keeper.RetryAt(run, busy, TuesdayNoon()));
  busy.attempts = 1;
  run.schedule.end_at = TuesdayNoon() + absl::Seconds(10);
  EXPECT_FALSE(keeper.RetryAt(run, busy, TuesdayNoon()));
}

TEST(RuleKeeperTest, EndAtCancelsTheQueuedJobsOnceItHasPassedAndNotBefore) {
  FakeLeases leases(5);
  RuleKeeper keeper(&leases, rules::AllDayPolicy());
  HeldRun run = Held(leases);
  ASSERT_TRUE(keeper.Refresh(run, TuesdayNoon()).ok());
  run.schedule.end_at = TuesdayNoon() + absl::Minutes(1);
  ASSERT_TRUE(keeper.EnforceEndAt(run, TuesdayNoon()).ok());
  {
    absl::MutexLock lock(&leases.mu());
    EXPECT_EQ(leases.end_at_calls, 0);
  }
  EXPECT_FALSE(RuleKeeper::PastEnd(run, TuesdayNoon()));
  EXPECT_TRUE(RuleKeeper::PastEnd(run, TuesdayNoon() + absl::Minutes(1)));
  ASSERT_TRUE(keeper.EnforceEndAt(run, TuesdayNoon() + absl::Minutes(1)).ok());
  EXPECT_EQ(run.control.status, RunStatus::kCompleted);
  EXPECT_EQ(run.control.queued, 0);
  // Ended: nothing more to do.
  ASSERT_TRUE(keeper.EnforceEndAt(run, TuesdayNoon() + absl::Minutes(2)).ok());
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.end_at_calls, 1);
}

TEST(RuleKeeperTest, TheScreenReadsZonesOnlyWhenDue) {
  FakeLeases leases(5);
  RuleKeeper keeper(&leases, rules::AllDayPolicy());
  HeldRun run = Held(leases);
  ASSERT_TRUE(keeper.Refresh(run, TuesdayNoon()).ok());
  ASSERT_TRUE(keeper.Screen(run, TuesdayNoon()).ok());
  EXPECT_GT(run.next_screen, TuesdayNoon());
  EXPECT_LE(run.next_screen, TuesdayNoon() + RuleKeeper::kScreenInterval);
  ASSERT_TRUE(keeper.Screen(run, TuesdayNoon() + absl::Milliseconds(500)).ok());
  {
    absl::MutexLock lock(&leases.mu());
    EXPECT_EQ(leases.zone_reads, 1);
  }
  ASSERT_TRUE(keeper.Screen(run, run.next_screen).ok());
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.zone_reads, 2);
  EXPECT_TRUE(leases.screened.empty());  // the window is open all day
}

// Real rules (Window): a zone whose window is closed has its due jobs
// deferred until it opens, or skipped when it opens only after end_at.
TEST(RuleKeeperTest, AClosedZoneIsDeferredUntilItOpensOrSkippedWhenThatIsAfterEndAt) {
  FakeLeases leases(5);
  DialingPolicy policy = rules::AllDayPolicy();
  policy.default_time_zone = "UTC";
  policy.calling_windows = {{1, 9 * 60, 17 * 60}};  // Mondays 09:00-17:00
  RuleKeeper keeper(&leases, policy);
  HeldRun run = Held(leases);
  ASSERT_TRUE(keeper.Refresh(run, TuesdayNoon()).ok());
  ASSERT_TRUE(keeper.Screen(run, TuesdayNoon()).ok());
  const absl::Time monday =
      absl::FromCivil(absl::CivilSecond(2026, 12, 7, 9, 0, 0), absl::UTCTimeZone());
  {
    absl::MutexLock lock(&leases.mu());
    ASSERT_EQ(leases.screened.size(), 1u);
    EXPECT_FALSE(leases.screened[0].skip);
    EXPECT_EQ(leases.screened[0].until, monday);
    leases.screened.clear();
  }
  run.schedule.end_at = monday;
  run.next_screen = absl::InfinitePast();
  ASSERT_TRUE(keeper.Screen(run, TuesdayNoon()).ok());
  absl::MutexLock lock(&leases.mu());
  ASSERT_EQ(leases.screened.size(), 1u);
  EXPECT_TRUE(leases.screened[0].skip);
}

SchedulerOptions FastOptions() {
  SchedulerOptions options;
  options.worker_id = "unit";
  options.poll_interval = absl::Milliseconds(1);
  options.sweep_interval = absl::Hours(1);
  options.heartbeat_interval = absl::Hours(1);
  options.reconcile_interval = absl::Hours(1);
  options.lease_ttl = absl::Hours(2);
  options.default_policy = rules::AllDayPolicy();
  return options;
}

TEST(RuleKeeperLoopTest, ADoNotCallJobIsUndoneAsSkippedAndNeverDialed) {
  FakeLeases leases(/*queued_jobs=*/3, /*concurrency=*/3);
  leases.AddDoNotCall(2);
  FakeDialer dialer;
  Scheduler scheduler(&leases, &dialer, FastOptions());
  scheduler.Start();
  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.undone.size() == 1; }));
  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.started_calls.size() == 2; }));
  scheduler.Shutdown(absl::ZeroDuration());
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.undone[0].job_id, 2);
  EXPECT_EQ(leases.undone[0].to, JobStatus::kSkipped);
  EXPECT_EQ(leases.rules_reads >= 1, true);
  for (const std::string& token : dialer.dialed()) EXPECT_NE(token, leases.undone[0].token);
  EXPECT_EQ(dialer.dialed().size(), 2u);
}

TEST(RuleKeeperLoopTest, NothingIsClaimedOnceEndAtHasPassed) {
  FakeLeases leases(/*queued_jobs=*/3);
  store::RunDialingRules stored;
  stored.end_at = absl::Now() - absl::Seconds(1);
  leases.SetDialingRules(stored);
  FakeDialer dialer;
  Scheduler scheduler(&leases, &dialer, FastOptions());
  scheduler.Start();
  ASSERT_TRUE(leases.WaitFor([](const FakeLeases& f) { return f.end_at_calls == 1; }));
  scheduler.Shutdown(absl::ZeroDuration());
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.claims, 0);
  EXPECT_TRUE(dialer.dialed().empty());
}

}  // namespace
}  // namespace campaign::scheduler
