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
#include "server/scheduler/scheduler.h"

namespace campaign::scheduler {
namespace {

constexpr int64_t kRun = 1;
constexpr int64_t kBusiness = 7;
// Longest wait for something the dispatcher thread does.
constexpr absl::Duration kDeadline = absl::Seconds(20);

// What LeaseStore answers when a fenced write finds its lease gone.
absl::Status LeaseLostStatus() {
  store::Lease lease;
  lease.run_id = kRun;
  return store::LeaseLostError(lease);
}

// One run (kRun) with queued jobs, handed to the first Acquire of free runs.
// Records every call; failures and stalls are scripted per test. Thread-safe:
// the scheduler calls it from its dispatcher thread.
class FakeLeases : public store::LeaseRepository {
 public:
  explicit FakeLeases(int queued_jobs) {
    control_.status = RunStatus::kRunning;
    for (int i = 1; i <= queued_jobs; ++i) queue_.push_back(i);
    control_.queued = queued_jobs;
  }

  // Waits until `done` holds for this fake's state (checked whenever it
  // changes); false after kDeadline.
  bool WaitFor(const std::function<bool(const FakeLeases&)>& done) {
    absl::MutexLock lock(&mu_);
    auto check = [&] { return done(*this); };
    return mu_.AwaitWithTimeout(absl::Condition(&check), kDeadline);
  }

  // Scripted behaviour (set before Start).
  void SetClaimErrors(int count, absl::Status status) {
    absl::MutexLock lock(&mu_);
    claim_errors_left_ = count;
    claim_error_ = std::move(status);
  }
  void StallFirstClaim(absl::Duration stall) {
    absl::MutexLock lock(&mu_);
    first_claim_stall_ = stall;
  }
  void SetCancelRequested() {
    absl::MutexLock lock(&mu_);
    control_.cancel_requested = true;
  }

  // Read under the fake's lock (inside WaitFor, or via Snapshot).
  int claims = 0;
  std::vector<store::ClaimedJob> claimed;
  std::vector<store::ClaimedJob> released_claims;
  std::vector<std::string> started_calls;  // tokens
  std::vector<store::JobResult> outcomes;
  std::vector<std::string> failed_runs;  // errors
  int finalized_cancels = 0;
  int releases = 0;

  // The lock of the fields above.
  absl::Mutex& mu() { return mu_; }

  absl::StatusOr<std::vector<store::AcquiredRun>> Acquire(const std::string& worker, int max_runs,
                                                          store::AcquireMode mode,
                                                          int max_runs_per_business) override {
    absl::MutexLock lock(&mu_);
    if (mode != store::AcquireMode::kFree || handed_out_) return std::vector<store::AcquiredRun>{};
    handed_out_ = true;
    store::AcquiredRun run;
    run.lease = store::Lease{kRun, kBusiness, /*epoch=*/1, worker};
    run.concurrency = 1;
    return std::vector<store::AcquiredRun>{run};
  }

  absl::StatusOr<store::RunControl> Heartbeat(const store::Lease& lease) override {
    absl::MutexLock lock(&mu_);
    return control_;
  }

  absl::StatusOr<store::RunControl> Control(const store::Lease& lease) override {
    absl::MutexLock lock(&mu_);
    return control_;
  }

  absl::StatusOr<std::vector<store::ClaimedJob>> Claim(const store::Lease& lease,
                                                       int max_jobs) override {
    absl::Duration stall;
    std::vector<store::ClaimedJob> jobs;
    {
      absl::MutexLock lock(&mu_);
      ++claims;
      if (claim_errors_left_ > 0) {
        --claim_errors_left_;
        return claim_error_;
      }
      if (!control_.Dispatchable() || queue_.empty()) return jobs;
      const int64_t job_id = queue_.front();
      queue_.pop_front();
      --control_.queued;
      ++control_.in_progress;
      jobs.push_back(store::ClaimedJob{job_id, /*lead_id=*/job_id, "+14155550100",
                                       absl::StrCat("token-", job_id, "-", claims)});
      claimed.push_back(jobs.back());
      stall = std::exchange(first_claim_stall_, absl::ZeroDuration());
    }
    // A worker stalled between its claim and its dial (swapped out, paused).
    if (stall > absl::ZeroDuration()) absl::SleepFor(stall);
    return jobs;
  }

  absl::StatusOr<JobStatus> ReleaseClaim(const store::Lease& lease,
                                         const store::ClaimedJob& job) override {
    absl::MutexLock lock(&mu_);
    released_claims.push_back(job);
    queue_.push_front(job.job_id);
    ++control_.queued;
    --control_.in_progress;
    return JobStatus::kQueued;
  }

  absl::Status RecordCallStarted(const store::Lease& lease, int64_t job_id, absl::string_view token,
                                 absl::string_view call_sid) override {
    absl::MutexLock lock(&mu_);
    started_calls.emplace_back(token);
    return absl::OkStatus();
  }

  absl::StatusOr<store::RunControl> RecordOutcomes(
      const store::Lease& lease, const std::vector<store::JobResult>& results) override {
    absl::MutexLock lock(&mu_);
    for (const store::JobResult& result : results) {
      outcomes.push_back(result);
      --control_.in_progress;
    }
    return control_;
  }

  absl::StatusOr<int64_t> FinalizeCancel(const store::Lease& lease) override {
    absl::MutexLock lock(&mu_);
    ++finalized_cancels;
    const int64_t cancelled = control_.queued;
    queue_.clear();
    control_.queued = 0;
    control_.status = RunStatus::kCancelled;
    return cancelled;
  }

  absl::StatusOr<bool> CompleteIfDone(const store::Lease& lease) override { return false; }

  absl::Status FailRun(const store::Lease& lease, absl::string_view error) override {
    absl::MutexLock lock(&mu_);
    failed_runs.emplace_back(error);
    control_.status = RunStatus::kFailed;
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<store::ActiveJob>> ActiveJobs(const store::Lease& lease) override {
    return std::vector<store::ActiveJob>{};
  }

  absl::Status Release(const store::Lease& lease) override {
    absl::MutexLock lock(&mu_);
    ++releases;
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> FinalizeAbandonedCancels(int max_runs) override { return 0; }

 private:
  absl::Mutex mu_;
  store::RunControl control_;
  std::deque<int64_t> queue_;
  bool handed_out_ = false;
  int claim_errors_left_ = 0;
  absl::Status claim_error_;
  absl::Duration first_claim_stall_;
};

// Accepts every call (or refuses the first `refusals`) and never ends one on
// its own; knows no calls it did not place.
class FakeDialer : public dialer::Dialer {
 public:
  explicit FakeDialer(int refusals = 0) : refusals_left_(refusals) {}

  absl::StatusOr<std::string> Dial(const dialer::DialRequest& request) override {
    absl::MutexLock lock(&mu_);
    dialed_.push_back(request.token);
    if (refusals_left_ > 0) {
      --refusals_left_;
      return absl::UnavailableError("provider refused");
    }
    return absl::StrCat("CA", request.job_id);
  }
  absl::StatusOr<std::optional<dialer::CallState>> LookupByToken(absl::string_view) override {
    return std::optional<dialer::CallState>();
  }
  absl::StatusOr<std::optional<dialer::CallState>> LookupByCallId(absl::string_view) override {
    return std::optional<dialer::CallState>();
  }
  absl::Status HangUp(absl::string_view) override { return absl::OkStatus(); }
  void SetOutcomeCallback(dialer::OutcomeCallback callback) override {}

  // Tokens dialed, in order.
  std::vector<std::string> dialed() {
    absl::MutexLock lock(&mu_);
    return dialed_;
  }

 private:
  absl::Mutex mu_;
  int refusals_left_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> dialed_ ABSL_GUARDED_BY(mu_);
};

SchedulerOptions FastOptions() {
  SchedulerOptions options;
  options.worker_id = "unit";
  options.poll_interval = absl::Milliseconds(1);
  options.sweep_interval = absl::Hours(1);
  options.heartbeat_interval = absl::Hours(1);
  options.reconcile_interval = absl::Hours(1);
  options.lease_ttl = absl::Hours(2);
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

}  // namespace
}  // namespace campaign::scheduler
