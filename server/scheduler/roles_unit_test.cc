// Each role of the scheduler on its own, against the fakes (no database, no
// provider, no loop): the error handler's decisions, the claimer's sizing,
// the dial pipeline's stall guard and event queue, the completer's batching
// and hang-ups, the lease keeper's report of lost leases. The loop's
// behaviour with all of them is in scheduler_unit_test.cc.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/scheduler/claimer.h"
#include "server/scheduler/completer.h"
#include "server/scheduler/dial_pipeline.h"
#include "server/scheduler/error_handler.h"
#include "server/scheduler/held_run.h"
#include "server/scheduler/lease_keeper.h"
#include "server/scheduler/scheduler_fakes.h"

namespace campaign::scheduler {
namespace {

using testing::FakeDialer;
using testing::FakeLeases;
using testing::kBusiness;
using testing::kRun;
using testing::LeaseLostStatus;

// A run held at epoch 1 with `concurrency` and the fake's control state.
HeldRun Held(FakeLeases& leases, int concurrency) {
  HeldRun run;
  run.lease = store::Lease{kRun, kBusiness, 1, "unit"};
  run.concurrency = concurrency;
  run.control = *leases.Control(run.lease);
  return run;
}

// Counts what the roles report.
class CountingMetrics : public SchedulerMetrics {
 public:
  void DialedAfterRunEnded() override { ++dialed_after_end; }
  void CallHungUpOnRunEnd() override { ++hung_up; }
  void ClaimRateLimited() override { ++rate_limited; }
  void CallsRecorded(int starts, int results) override {
    ++batches;
    recorded_starts += starts;
    recorded_results += results;
  }
  int dialed_after_end = 0;
  int hung_up = 0;
  int rate_limited = 0;
  int batches = 0;
  int recorded_starts = 0;
  int recorded_results = 0;
};

TEST(ErrorHandlerTest, ALostLeaseDropsTheRun) {
  ErrorHandler errors(absl::Milliseconds(10), absl::Hours(1));
  EXPECT_EQ(errors.Decide(kRun, LeaseLostStatus()), ErrorAction::kDrop);
  EXPECT_EQ(errors.backoff(), absl::ZeroDuration());
}

TEST(ErrorHandlerTest, AnAwayDatabaseKeepsTheRunAndBacksOffUpToTheCap) {
  ErrorHandler errors(absl::Milliseconds(10), absl::Hours(1));
  absl::Duration last = absl::ZeroDuration();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(errors.Decide(kRun, absl::UnavailableError("away")), ErrorAction::kKeep) << i;
    EXPECT_GE(errors.backoff(), last);
    last = errors.backoff();
  }
  EXPECT_EQ(errors.backoff(), ErrorHandler::kMaxBackoff);
  EXPECT_EQ(errors.Decide(kRun, absl::DeadlineExceededError("slow")), ErrorAction::kKeep);
  errors.DatabaseAnswered(absl::OkStatus());
  EXPECT_EQ(errors.backoff(), absl::ZeroDuration());
  errors.DatabaseAnswered(absl::UnavailableError("away"));
  EXPECT_EQ(errors.backoff(), absl::Milliseconds(10));
}

// The issue-14 failover: a 3 s lease with a back-off of up to 5 s outlived
// the lease during a 3-7 s write outage. The pause stays a tenth of the TTL.
TEST(ErrorHandlerTest, TheBackOffStaysWellInsideTheLeaseTtl) {
  for (const absl::Duration ttl : {absl::Seconds(3), absl::Seconds(10), absl::Seconds(30)}) {
    ErrorHandler errors(absl::Milliseconds(50), ttl);
    for (int i = 0; i < 30; ++i) errors.DatabaseAnswered(absl::UnavailableError("away"));
    EXPECT_EQ(errors.backoff(), std::min(ErrorHandler::kMaxBackoff, ttl / 10)) << ttl;
    EXPECT_LE(errors.backoff() * 5, ttl) << ttl;
  }
  // Never below the first pause, whatever the TTL.
  EXPECT_EQ(ErrorHandler::MaxBackoffFor(absl::Milliseconds(100), absl::Milliseconds(50)),
            absl::Milliseconds(50));
}

TEST(ErrorHandlerTest, TheFirstAnswerAfterABackOffAsksForARenewalOnce) {
  ErrorHandler errors(absl::Milliseconds(10), absl::Seconds(3));
  errors.DatabaseAnswered(absl::OkStatus());
  EXPECT_FALSE(errors.TakeRecovered());  // no back-off before: nothing to recover from
  EXPECT_EQ(errors.Decide(kRun, absl::UnavailableError("away")), ErrorAction::kKeep);
  EXPECT_FALSE(errors.TakeRecovered());
  errors.DatabaseAnswered(absl::OkStatus());
  EXPECT_TRUE(errors.TakeRecovered());
  EXPECT_FALSE(errors.TakeRecovered());
}

TEST(ErrorHandlerTest, RepeatedUnexpectedErrorsFailTheRunUnlessASuccessComesBetween) {
  ErrorHandler errors(absl::Milliseconds(10), absl::Hours(1));
  for (int i = 1; i < ErrorHandler::kMaxConsecutiveErrors; ++i) {
    EXPECT_EQ(errors.Decide(kRun, absl::InternalError("bad")), ErrorAction::kKeep) << i;
  }
  errors.Succeeded(kRun);
  for (int i = 1; i < ErrorHandler::kMaxConsecutiveErrors; ++i) {
    EXPECT_EQ(errors.Decide(kRun, absl::InternalError("bad")), ErrorAction::kKeep) << i;
  }
  // Another run's errors are counted apart.
  EXPECT_EQ(errors.Decide(kRun + 1, absl::InternalError("bad")), ErrorAction::kKeep);
  EXPECT_EQ(errors.Decide(kRun, absl::InternalError("bad")), ErrorAction::kFail);
  // Counting starts again after a failure.
  EXPECT_EQ(errors.Decide(kRun, absl::InternalError("bad")), ErrorAction::kKeep);
}

TEST(ClaimerTest, OneClaimAsksForTheFreeSlotsWithinTheBudgetAndTheBatch) {
  FakeLeases leases(/*queued_jobs=*/100, /*concurrency=*/50);
  HeldRun run = Held(leases, 50);
  Claimer claimer(&leases, /*max_batch=*/40, absl::Seconds(1));
  EXPECT_EQ(claimer.Wanted(run, /*budget=*/1000, absl::Now()), 40);
  EXPECT_EQ(claimer.Wanted(run, /*budget=*/7, absl::Now()), 7);
  run.calls[1] = TrackedCall{};
  run.calls[2] = TrackedCall{};
  EXPECT_EQ(claimer.Wanted(Held(leases, 3), 1000, absl::Now()), 3);

  absl::StatusOr<std::vector<store::ClaimedJob>> jobs = claimer.Claim(run, /*budget=*/30);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ(jobs->size(), 30u);
  EXPECT_EQ(run.control.queued, 70);
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.claims, 1) << "one statement for the whole batch";
  EXPECT_EQ(leases.max_jobs_asked, std::vector<int>{30});
  EXPECT_EQ(leases.control_reads, 2) << "a claim that got jobs reads nothing more (the two "
                                        "reads are the Held() calls above)";
}

TEST(ClaimerTest, NothingIsClaimedFromARunThatIsNotDispatchable) {
  FakeLeases leases(/*queued_jobs=*/5, /*concurrency=*/5);
  leases.SetCancelRequested();
  HeldRun run = Held(leases, 5);
  Claimer claimer(&leases, 40, absl::Seconds(1));
  EXPECT_EQ(claimer.Wanted(run, 1000, absl::Now()), 0);
  absl::StatusOr<std::vector<store::ClaimedJob>> jobs = claimer.Claim(run, 1000);
  ASSERT_TRUE(jobs.ok());
  EXPECT_TRUE(jobs->empty());
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.claims, 0) << "no database call for a run that cannot dial";
}

TEST(ClaimerTest, AnEmptyClaimReadsWhyAndProbesAgainOnlyAfterTheInterval) {
  FakeLeases leases(/*queued_jobs=*/0, /*concurrency=*/5);
  HeldRun run = Held(leases, 5);
  run.control.queued = 1;  // stale: the leads went elsewhere
  Claimer claimer(&leases, 40, absl::Hours(1));
  absl::StatusOr<std::vector<store::ClaimedJob>> jobs = claimer.Claim(run, 1000);
  ASSERT_TRUE(jobs.ok());
  EXPECT_TRUE(jobs->empty());
  EXPECT_EQ(run.control.queued, 0) << "the state was read again";
  EXPECT_GT(run.next_probe, absl::Now());
  EXPECT_EQ(claimer.Wanted(run, 1000, absl::Now()), 0) << "probed again before the interval";
  EXPECT_EQ(claimer.Wanted(run, 1000, run.next_probe), 5);
}

TEST(ClaimerTest, ClaimErrorsGoToTheCaller) {
  FakeLeases leases(/*queued_jobs=*/5, /*concurrency=*/5);
  leases.SetClaimErrors(1, absl::InternalError("boom"));
  HeldRun run = Held(leases, 5);
  Claimer claimer(&leases, 40, absl::Seconds(1));
  EXPECT_EQ(claimer.Claim(run, 1000).status().code(), absl::StatusCode::kInternal);
}

TEST(ClaimerTest, ARateLimitedClaimWaitsForTheNextTokenWithoutReadingTheRun) {
  FakeLeases leases(/*queued_jobs=*/10, /*concurrency=*/5);
  leases.SetBucket(/*tokens=*/1, /*next_token_in=*/absl::Milliseconds(200));
  HeldRun run = Held(leases, 5);
  CountingMetrics metrics;
  Claimer claimer(&leases, 40, absl::Seconds(1), &metrics);

  // One token, five free slots: one job, and the next token is due later.
  const absl::Time before = absl::Now();
  absl::StatusOr<std::vector<store::ClaimedJob>> jobs = claimer.Claim(run, 1000);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ(jobs->size(), 1u);
  EXPECT_EQ(metrics.rate_limited, 1);
  EXPECT_GE(run.next_token, before + absl::Milliseconds(200));
  EXPECT_LE(run.next_token, absl::Now() + absl::Milliseconds(200));
  EXPECT_NE(run.rate_waiting_since, absl::InfiniteFuture()) << "the run waits for tokens";
  // Before the token is due the run is not claimed from: no database call.
  EXPECT_EQ(claimer.Wanted(run, 1000, absl::Now()), 0);
  ASSERT_TRUE(claimer.Claim(run, 1000).ok());
  {
    absl::MutexLock lock(&leases.mu());
    EXPECT_EQ(leases.claims, 1) << "no claim before the next token";
  }
  // Once due, it is; the empty bucket (a token another replica took) gives
  // nothing and a new due time, without reading why (the run is fine).
  EXPECT_EQ(claimer.Wanted(run, 1000, run.next_token), 5);
  run.next_token = absl::InfinitePast();
  leases.SetBucket(/*tokens=*/0, absl::Milliseconds(300));
  jobs = claimer.Claim(run, 1000);
  ASSERT_TRUE(jobs.ok());
  EXPECT_TRUE(jobs->empty());
  EXPECT_GT(run.next_token, absl::Now() + absl::Milliseconds(200));
  EXPECT_EQ(run.next_probe, absl::InfinitePast()) << "not taken for a run with nothing queued";
  EXPECT_EQ(metrics.rate_limited, 2);
  {
    absl::MutexLock lock(&leases.mu());
    EXPECT_EQ(leases.claims, 2);
    EXPECT_EQ(leases.control_reads, 1) << "only Held() read the run's state";
  }
  // Tokens for every free slot: not limited, no wait.
  leases.AddTokens(10);
  run.next_token = absl::InfinitePast();
  jobs = claimer.Claim(run, 1000);
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->size(), 5u);
  EXPECT_EQ(run.next_token, absl::InfinitePast());
  EXPECT_EQ(run.rate_waiting_since, absl::InfiniteFuture());
  EXPECT_EQ(metrics.rate_limited, 2);
}

TEST(DialPipelineTest, EveryClaimedJobIsDialedAtOnceAndTracked) {
  FakeLeases leases(/*queued_jobs=*/3, /*concurrency=*/3);
  HeldRun run = Held(leases, 3);
  FakeDialer dialer;
  DialPipeline pipeline(&dialer, "unit", absl::Seconds(10));
  dialer.SetEventCallback([&](const dialer::DialEvent& event) { pipeline.OnEvent(event); });
  const std::vector<store::ClaimedJob> jobs = *leases.Claim(run.lease, 3);
  EXPECT_EQ(pipeline.Dial(run, jobs, absl::Now()), 3);
  EXPECT_EQ(dialer.dialed().size(), 3u);
  ASSERT_EQ(run.calls.size(), 3u);
  for (const store::ClaimedJob& job : jobs) EXPECT_EQ(run.calls[job.job_id].token, job.token);
  std::map<int64_t, HeldRun> runs;
  runs[kRun] = run;
  TrackedCall& remote = runs[kRun].calls[99];
  remote.job_id = 99;
  remote.remote = true;
  EXPECT_EQ(DialPipeline::InFlight(runs), 3) << "remote calls are not this worker's dials";

  pipeline.Wait(absl::Seconds(10));  // returns at once: events are waiting
  std::vector<dialer::DialEvent> events = pipeline.TakeEvents();
  ASSERT_EQ(events.size(), 3u);
  for (const dialer::DialEvent& event : events) {
    EXPECT_EQ(event.kind, dialer::DialEvent::Kind::kAccepted);
  }
  EXPECT_TRUE(pipeline.TakeEvents().empty());
}

TEST(DialPipelineTest, AClaimOlderThanTheStallLimitIsNotDialedButUndone) {
  FakeLeases leases(/*queued_jobs=*/2, /*concurrency=*/2);
  HeldRun run = Held(leases, 2);
  FakeDialer dialer;
  DialPipeline pipeline(&dialer, "unit", absl::Milliseconds(500));
  const std::vector<store::ClaimedJob> jobs = *leases.Claim(run.lease, 2);
  EXPECT_EQ(pipeline.Dial(run, jobs, absl::Now() - absl::Seconds(1)), 0);
  EXPECT_TRUE(dialer.dialed().empty());
  EXPECT_TRUE(run.calls.empty());
  ASSERT_EQ(run.unstarted.size(), 2u);
}

TEST(DialPipelineTest, WakeEndsAWait) {
  FakeDialer dialer;
  DialPipeline pipeline(&dialer, "unit", absl::Seconds(1));
  pipeline.Wake();
  const absl::Time before = absl::Now();
  pipeline.Wait(absl::Hours(1));
  EXPECT_LT(absl::Now() - before, absl::Minutes(1));
}

// A run with `jobs` queued jobs at that concurrency, its dial pipeline and a
// completer, on the fakes.
struct CompleterRig {
  explicit CompleterRig(int jobs, int refusals = 0)
      : leases(jobs, jobs),
        run(Held(leases, jobs)),
        dialer(refusals),
        pipeline(&dialer, "unit", absl::Seconds(10)),
        completer(&leases, &dialer, &metrics) {
    dialer.SetEventCallback([this](const dialer::DialEvent& event) { pipeline.OnEvent(event); });
  }

  // Dials `count` jobs of the run and applies their events.
  void DialAndApply(int count) {
    pipeline.Dial(run, *leases.Claim(run.lease, count), absl::Now());
    for (const dialer::DialEvent& event : pipeline.TakeEvents()) completer.Apply(run, event);
  }

  // Dials jobs 1 and 2, then ends the run (stopped, with `hang_up`) as if
  // StopRun came between the two dials, and flushes.
  void StopBetweenTwoDials(bool hang_up) {
    DialAndApply(2);
    const absl::Time stopped_at = run.calls[2].dialed_at - absl::Milliseconds(1);
    run.calls[1].dialed_at = stopped_at - absl::Seconds(1);
    leases.EndRun(RunStatus::kStopped, stopped_at, hang_up);
    ASSERT_TRUE(completer.Flush(run).ok());
    EXPECT_TRUE(run.Ended());
  }

  // The provider accepts job 3's call ("CA3") after the run ended.
  void AcceptLateCall() {
    TrackedCall& late = run.calls[3];
    late.job_id = 3;
    late.token = "t3";
    late.dialed_at = absl::Now();
    dialer::DialEvent accepted;
    accepted.kind = dialer::DialEvent::Kind::kAccepted;
    accepted.request.job_id = 3;
    accepted.request.token = "t3";
    accepted.call_sid = "CA3";
    completer.Apply(run, accepted);
  }

  FakeLeases leases;
  HeldRun run;
  FakeDialer dialer;
  DialPipeline pipeline;
  CountingMetrics metrics;
  Completer completer;
};

TEST(CompleterTest, StartsAndOutcomesOfARoundAreOneBatchAndAStartEndedMeanwhileIsMerged) {
  CompleterRig rig(/*jobs=*/4, /*refusals=*/1);
  FakeLeases& leases = rig.leases;
  HeldRun& run = rig.run;
  CountingMetrics& metrics = rig.metrics;
  Completer& completer = rig.completer;
  rig.DialAndApply(4);
  // Job 1 refused; 2..4 accepted; 2 ends before anything was recorded.
  ASSERT_EQ(run.starts.size(), 3u);
  ASSERT_EQ(run.results.size(), 1u);
  EXPECT_EQ(run.results[0].error, "dial failed: provider refused");
  dialer::DialEvent ended;
  ended.kind = dialer::DialEvent::Kind::kEnded;
  ended.request.job_id = 2;
  ended.request.token = run.calls[2].token;
  ended.call_sid = "CA2";
  ended.outcome = dialer::CallOutcome{JobStatus::kBusy, "line busy"};
  completer.Apply(run, ended);
  EXPECT_EQ(run.starts.size(), 2u) << "the start of an ended call is merged into its result";
  ASSERT_EQ(run.results.size(), 2u);
  EXPECT_EQ(run.results[1].call_sid, "CA2");

  // Events of calls the run does not track change nothing.
  dialer::DialEvent stranger = ended;
  stranger.request.job_id = 77;
  completer.Apply(run, stranger);
  dialer::DialEvent stale = ended;
  stale.request.token = "another-attempt";
  completer.Apply(run, stale);
  EXPECT_EQ(run.results.size(), 2u);

  ASSERT_TRUE(completer.Flush(run).ok());
  EXPECT_EQ(metrics.batches, 1);
  EXPECT_EQ(metrics.recorded_starts, 2);
  EXPECT_EQ(metrics.recorded_results, 2);
  EXPECT_EQ(run.calls.size(), 2u) << "finished calls are no longer tracked";
  EXPECT_TRUE(run.starts.empty());
  EXPECT_TRUE(run.results.empty());
  ASSERT_TRUE(completer.Flush(run).ok());
  EXPECT_EQ(metrics.batches, 1) << "nothing to record: no transaction";
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.record_batches, 1);
}

TEST(CompleterTest, AFailedFlushKeepsEverythingForTheNextRound) {
  CompleterRig rig(/*jobs=*/2);
  FakeLeases& leases = rig.leases;
  HeldRun& run = rig.run;
  Completer& completer = rig.completer;
  rig.DialAndApply(2);
  leases.SetRecordErrors(1, absl::UnavailableError("away"));
  EXPECT_EQ(completer.Flush(run).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(run.starts.size(), 2u);
  ASSERT_TRUE(completer.Flush(run).ok());
  EXPECT_TRUE(run.starts.empty());
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.started_calls.size(), 2u);
}

TEST(CompleterTest, AnEndedRunsCallsAreHungUpOnceAndLateDialsCounted) {
  CompleterRig rig(/*jobs=*/3);
  HeldRun& run = rig.run;
  FakeDialer& dialer = rig.dialer;
  DialPipeline& pipeline = rig.pipeline;
  CountingMetrics& metrics = rig.metrics;
  Completer& completer = rig.completer;
  // The run was stopped before job 2 was dialed.
  rig.StopBetweenTwoDials(/*hang_up=*/true);
  EXPECT_EQ(dialer.hung_up(), (std::vector<std::string>{"CA1", "CA2"}));
  EXPECT_EQ(metrics.hung_up, 2);
  EXPECT_EQ(metrics.dialed_after_end, 1) << "only job 2 was dialed after the stop";
  completer.EnforceRunEnd(run);
  EXPECT_EQ(dialer.hung_up().size(), 2u) << "hung up once";
  EXPECT_EQ(metrics.dialed_after_end, 1) << "counted once";

  // A hung-up call's outcome says why.
  dialer.EndAll(JobStatus::kFailed);
  for (const dialer::DialEvent& event : pipeline.TakeEvents()) completer.Apply(run, event);
  ASSERT_EQ(run.results.size(), 2u);
  EXPECT_EQ(run.results[0].error, "hung up: the run was stopped");

  // A call the provider accepts after the end is hung up on acceptance.
  rig.AcceptLateCall();
  EXPECT_EQ(dialer.hung_up().back(), "CA3");
  EXPECT_EQ(metrics.dialed_after_end, 2);
}

TEST(CompleterTest, ARunStoppedWithoutHangUpLetsItsCallsEndOnTheirOwn) {
  CompleterRig rig(/*jobs=*/3);
  FakeLeases& leases = rig.leases;
  HeldRun& run = rig.run;
  FakeDialer& dialer = rig.dialer;
  DialPipeline& pipeline = rig.pipeline;
  CountingMetrics& metrics = rig.metrics;
  Completer& completer = rig.completer;
  // StopRun(hang_up = false) before job 2 was dialed.
  rig.StopBetweenTwoDials(/*hang_up=*/false);
  EXPECT_FALSE(run.control.hang_up_on_end);
  completer.EnforceRunEnd(run);
  EXPECT_TRUE(dialer.hung_up().empty()) << "nothing is hung up";
  EXPECT_EQ(metrics.hung_up, 0);
  EXPECT_EQ(metrics.dialed_after_end, 1) << "a dial after the stop is still counted";

  // A call accepted after the stop is not hung up either (but counted).
  rig.AcceptLateCall();
  EXPECT_TRUE(dialer.hung_up().empty());
  EXPECT_EQ(metrics.dialed_after_end, 2);

  // The calls end with their real outcomes, recorded as usual.
  dialer.EndAll(JobStatus::kCompleted);
  for (const dialer::DialEvent& event : pipeline.TakeEvents()) completer.Apply(run, event);
  ASSERT_EQ(run.results.size(), 2u);
  for (const store::JobResult& result : run.results) {
    EXPECT_EQ(result.status, JobStatus::kCompleted);
    EXPECT_EQ(result.error, "") << "not reported as hung up";
  }
  ASSERT_TRUE(completer.Flush(run).ok());
  EXPECT_EQ(run.calls.size(), 1u) << "only the late call is still in progress";
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.outcomes.size(), 2u);
}

TEST(CompleterTest, HangUpIsDecidedByTheRunNotByTheCall) {
  // The same run state with hang_up_on_end true (StopRun's default) and
  // false: only the former hangs up, its accepted calls and late ones alike.
  for (const bool hang_up : {true, false}) {
    CompleterRig rig(/*jobs=*/2);
    rig.DialAndApply(2);
    rig.leases.EndRun(RunStatus::kCancelled, absl::Now(), hang_up);
    ASSERT_TRUE(rig.completer.Flush(rig.run).ok());
    EXPECT_EQ(rig.dialer.hung_up().size(), hang_up ? 2u : 0u) << hang_up;
    EXPECT_EQ(rig.metrics.hung_up, hang_up ? 2 : 0) << hang_up;
    for (const auto& [job_id, call] : rig.run.calls) EXPECT_EQ(call.hung_up, hang_up) << job_id;
  }
}

TEST(LeaseKeeperTest, ARenewalReportsEveryLeaseItDidNotRenewAsLost) {
  FakeLeases leases(/*queued_jobs=*/1);
  LeaseKeeper keeper(&leases, "unit", 10, 0);
  std::map<int64_t, HeldRun> runs;
  runs[kRun] = Held(leases, 1);
  absl::StatusOr<LeaseKeeper::Renewal> renewal = keeper.Renew(runs);
  ASSERT_TRUE(renewal.ok());
  EXPECT_EQ(renewal->held.size(), 1u);
  EXPECT_TRUE(renewal->lost.empty());
  leases.LoseLease();
  renewal = keeper.Renew(runs);
  ASSERT_TRUE(renewal.ok());
  EXPECT_TRUE(renewal->held.empty());
  EXPECT_EQ(renewal->lost, std::vector<int64_t>{kRun});
  absl::MutexLock lock(&leases.mu());
  EXPECT_EQ(leases.renewals, 2) << "one statement per renewal";
}

TEST(LeaseKeeperTest, NothingIsAcquiredPastMaxRuns) {
  FakeLeases leases(/*queued_jobs=*/1);
  LeaseKeeper keeper(&leases, "unit", /*max_runs=*/2, 0);
  absl::StatusOr<std::vector<store::AcquiredRun>> none =
      keeper.Acquire(/*held=*/2, store::AcquireMode::kFree);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  absl::StatusOr<std::vector<store::AcquiredRun>> one =
      keeper.Acquire(/*held=*/1, store::AcquireMode::kFree);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
}

}  // namespace
}  // namespace campaign::scheduler
