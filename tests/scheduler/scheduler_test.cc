// The scheduler in-process against a real PostgreSQL: several Scheduler
// instances (each with its own pool, LeaseStore and SimulatedDialer, all
// appending to one dial log) play the replicas of issue 3. Intervals are
// short (heartbeat 100 ms, poll 20 ms, sweep 200 ms, lease TTL 1 s) and calls
// last 5-20 ms, so whole runs finish in about a second. Waits poll the
// database for a state (bounded); nothing sleeps to synchronise.

#include "server/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/dialer/simulated_dialer.h"
#include "server/model/model.h"
#include "server/store/database.h"
#include "server/store/lease_store.h"
#include "server/store/progress_store.h"
#include "server/store/run_store.h"
#include "tests/scheduler/commit_cutting_proxy.h"
#include "tests/scheduler/scheduler_test_support.h"
#include "tests/support/test_database.h"

namespace campaign {
namespace {

using testing::MakeLeads;
using testing::TestDatabase;
using testing::WaitUntil;
using testing::sched::AllFinal;
using testing::sched::AtMostOnce;
using testing::sched::AttemptsAre;
using testing::sched::CommitCuttingProxy;
using testing::sched::CountersExact;
using testing::sched::DialLine;
using testing::sched::DialsMatchJobs;
using testing::sched::DialsOfRun;
using testing::sched::DialsPerLead;
using testing::sched::Inspector;
using testing::sched::JobRow;
using testing::sched::kDialOutcomeUnknown;
using testing::sched::PlannedStatus;
using testing::sched::Problems;
using testing::sched::ReadDialLog;
using testing::sched::RunRow;
using testing::sched::TempPath;
using testing::sched::UndialedJobsAreUnknown;

constexpr absl::Duration kLeaseTtl = absl::Seconds(1);

// How a test worker is set up.
struct WorkerOptions {
  absl::Duration call_duration = absl::Milliseconds(10);
  absl::Duration lease_ttl = kLeaseTtl;
  int max_runs = 50;
  // The database the worker connects to; the test database when empty.
  std::string database_url;
  // When set, the scheduler dials through the dialer this returns (given the
  // worker's simulated dialer) instead of the simulated dialer itself.
  std::function<std::unique_ptr<dialer::Dialer>(dialer::Dialer*)> wrap_dialer;
};

// One replica: its own connection pool, lease store, simulated dialer (seed
// 1, default mix, appending to the test's dial log) and scheduler. Torn down
// in the order that keeps every callback target alive: the scheduler thread
// stops first, then the dialer (whose outcomes go to the scheduler), then
// the scheduler object.
struct Worker {
  std::string id;
  std::unique_ptr<store::Database> database;
  std::unique_ptr<store::LeaseStore> leases;
  std::unique_ptr<dialer::SimulatedDialer> dialer;
  // What the scheduler dials through when the test wraps the dialer.
  std::unique_ptr<dialer::Dialer> wrapper;
  std::unique_ptr<scheduler::Scheduler> scheduler;

  ~Worker() {
    if (scheduler != nullptr) scheduler->Shutdown(absl::ZeroDuration());
    dialer.reset();
    wrapper.reset();
    scheduler.reset();
    leases.reset();
    database.reset();
  }
};

// Wraps a dialer; holds the `hold_at`-th dial (1-based) until Open(), so a
// test can look at the database while the worker is inside that dial.
class GateDialer : public dialer::Dialer {
 public:
  GateDialer(dialer::Dialer* inner, int hold_at) : inner_(inner), hold_at_(hold_at) {}

  void Dial(const dialer::DialRequest& request) override {
    {
      absl::MutexLock lock(&mu_);
      if (++entered_ == hold_at_) {
        held_job_ = request.job_id;
        mu_.Await(absl::Condition(&open_));
      }
    }
    inner_->Dial(request);
  }
  absl::StatusOr<std::optional<dialer::CallState>> LookupByToken(absl::string_view token) override {
    return inner_->LookupByToken(token);
  }
  absl::StatusOr<std::optional<dialer::CallState>> LookupByCallId(
      absl::string_view call_sid) override {
    return inner_->LookupByCallId(call_sid);
  }
  absl::Status HangUp(absl::string_view call_sid) override { return inner_->HangUp(call_sid); }
  void SetEventCallback(dialer::DialEventCallback callback) override {
    inner_->SetEventCallback(std::move(callback));
  }

  // The job of the held dial once the worker is inside it; 0 before.
  int64_t held_job() {
    absl::MutexLock lock(&mu_);
    return entered_ >= hold_at_ ? held_job_ : 0;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }

 private:
  dialer::Dialer* const inner_;
  const int hold_at_;
  absl::Mutex mu_;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t held_job_ ABSL_GUARDED_BY(mu_) = 0;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
};

// A migrated database with one business, a RunStore to create and change
// runs as the API would, an Inspector for superuser reads, a shared dial log
// and the workers a test adds.
class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_.Migrate();
    business_id_ = db_.CreateBusiness("scheduler test");
    database_ = std::make_unique<store::Database>(db_.app_url(), store::PoolOptions{.size = 4});
    runs_ = std::make_unique<store::RunStore>(database_.get(), kLeaseTtl);
    inspect_ = std::make_unique<Inspector>(db_.admin_url());
  }

  // Creates a run through RunStore::CreateRun; returns its id.
  int64_t CreateRun(std::vector<Lead> leads, int32_t concurrency) {
    static std::atomic<int> counter{0};
    return testing::sched::CreateStoreRun(*runs_, business_id_, absl::StrCat("sched-", counter++),
                                          concurrency, std::move(leads));
  }

  // Adds a worker (not started).
  Worker& AddWorker(const std::string& id, WorkerOptions options = {}) {
    auto worker = std::make_unique<Worker>();
    worker->id = id;
    worker->database = std::make_unique<store::Database>(
        options.database_url.empty() ? db_.app_url() : options.database_url,
        store::PoolOptions{.size = 4});
    worker->leases = std::make_unique<store::LeaseStore>(worker->database.get(), options.lease_ttl);
    dialer::SimulatedDialerOptions sim;
    sim.seed = 1;
    sim.call_duration = options.call_duration;
    sim.dial_log_path = dial_log_.path();
    worker->dialer = std::make_unique<dialer::SimulatedDialer>(sim);
    if (options.wrap_dialer) worker->wrapper = options.wrap_dialer(worker->dialer.get());
    scheduler::SchedulerOptions sched;
    sched.worker_id = id;
    sched.heartbeat_interval = absl::Milliseconds(100);
    sched.lease_ttl = options.lease_ttl;
    sched.sweep_interval = absl::Milliseconds(200);
    sched.poll_interval = absl::Milliseconds(20);
    sched.reconcile_interval = absl::Milliseconds(50);
    sched.max_runs = options.max_runs;
    sched.default_policy = testing::sched::AllDayPolicy();
    dialer::Dialer* dials_through =
        worker->wrapper != nullptr ? worker->wrapper.get() : worker->dialer.get();
    worker->scheduler =
        std::make_unique<scheduler::Scheduler>(worker->leases.get(), dials_through, sched);
    workers_.push_back(std::move(worker));
    return *workers_.back();
  }

  Worker* FindWorker(const std::string& id) {
    for (auto& worker : workers_) {
      if (worker->id == id) return worker.get();
    }
    return nullptr;
  }

  // Waits until `condition` holds for the run (polling every 20 ms, up to
  // `timeout`); `last` receives the last state seen.
  ::testing::AssertionResult WaitForRun(int64_t run_id,
                                        const std::function<bool(const RunRow&)>& condition,
                                        absl::string_view what, RunRow* last = nullptr,
                                        absl::Duration timeout = absl::Seconds(60)) {
    return WaitForRunState(*inspect_, run_id, condition, what, last, timeout);
  }

  std::vector<DialLine> Dials(int64_t run_id) {
    return DialsOfRun(ReadDialLog(dial_log_.path()), run_id);
  }

  // Creates a run of `leads` leads at `concurrency`, starts one worker with
  // 10 ms calls and waits until 200 jobs are final: a run mid-dispatch.
  int64_t DispatchingRun(int leads, int concurrency) {
    const int64_t run = CreateRun(MakeLeads(leads), concurrency);
    Worker& worker = AddWorker("w1", {.call_duration = absl::Milliseconds(10)});
    worker.scheduler->Start();
    EXPECT_TRUE(WaitForRun(
        run, [](const RunRow& r) { return r.cursor >= 200; }, "past 200"));
    return run;
  }

  // The bookkeeping every finished run must satisfy: every job final,
  // counters exact, no lead dialed twice, dials matching the jobs.
  void ExpectConsistent(int64_t run, const RunRow& done, const std::vector<JobRow>& jobs,
                        const std::vector<DialLine>& dials) {
    EXPECT_TRUE(AllFinal(jobs));
    EXPECT_TRUE(CountersExact(done, jobs));
    EXPECT_TRUE(AtMostOnce(dials));
    EXPECT_TRUE(DialsMatchJobs(reference_, run, jobs, dials));
  }

  // Dials whose log time is after `when`.
  static int DialsAfter(const std::vector<DialLine>& dials, absl::Time when) {
    int after = 0;
    for (const DialLine& dial : dials) after += dial.time > when;
    return after;
  }

  // Backdates a run's lease as if its holder had stopped heartbeating an
  // hour ago.
  void ExpireLease(int64_t run_id) {
    inspect_->Exec(absl::StrCat(
        "UPDATE outbound_call_runs SET lock_ts = now() - interval '1 hour' WHERE id = ", run_id));
  }

  TestDatabase db_;
  int64_t business_id_ = 0;
  std::unique_ptr<store::Database> database_;
  std::unique_ptr<store::RunStore> runs_;
  std::unique_ptr<Inspector> inspect_;
  TempPath dial_log_{"scheduler-dial-log"};
  // What the workers' dialers plan for each lead (same seed and mix).
  dialer::SimulatedDialer reference_{dialer::SimulatedDialerOptions{}};
  // Last: workers stop before anything they use goes away.
  std::vector<std::unique_ptr<Worker>> workers_;
};

// Issue test 1. Three workers share one 2,000-lead run: the holder is shut
// down gracefully twice mid-run so every worker dials part of it. The dial
// log holds every lead exactly once, every job is final with attempts == 1
// and records its dial's call id and planned outcome, the counters sum to
// the total, the cursor is at the total and the run completed.
TEST_F(SchedulerTest, ThreeWorkersDialEveryLeadExactlyOnce) {
  constexpr int kLeads = 2000;
  const int64_t run = CreateRun(MakeLeads(kLeads), 40);
  std::vector<Worker*> workers = {&AddWorker("w1", {.call_duration = absl::Milliseconds(5)}),
                                  &AddWorker("w2", {.call_duration = absl::Milliseconds(12)}),
                                  &AddWorker("w3", {.call_duration = absl::Milliseconds(20)})};
  for (Worker* worker : workers) worker->scheduler->Start();

  std::set<std::string> retired;
  for (int64_t threshold : {kLeads / 4, kLeads / 2}) {
    RunRow seen;
    ASSERT_TRUE(WaitForRun(
        run,
        [&](const RunRow& r) {
          return r.cursor >= threshold && !r.worker.empty() && retired.count(r.worker) == 0;
        },
        absl::StrCat("held by a live worker past ", threshold, " final jobs"), &seen));
    ASSERT_EQ(seen.status, "running") << seen;
    Worker* holder = FindWorker(seen.worker);
    ASSERT_NE(holder, nullptr) << "unknown holder " << seen.worker;
    holder->scheduler->Shutdown(absl::Seconds(5));
    retired.insert(holder->id);
    EXPECT_TRUE(holder->scheduler->HeldRuns().empty());
    EXPECT_NE(inspect_->Run(run).worker, holder->id) << "shutdown must release the lease";
  }

  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed" && r.worker.empty(); },
      "completed and released", &done));
  EXPECT_EQ(done.cursor, kLeads);
  EXPECT_EQ(done.total, kLeads);
  EXPECT_TRUE(done.started_at.has_value());
  EXPECT_TRUE(done.ended_at.has_value());
  EXPECT_GE(done.epoch, 3) << "three acquisitions, each a new epoch";

  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_TRUE(AttemptsAre(jobs, 1, [](const JobRow&) { return true; }));

  const std::vector<DialLine> dials = Dials(run);
  EXPECT_TRUE(AtMostOnce(dials));
  EXPECT_EQ(dials.size(), static_cast<size_t>(kLeads));
  EXPECT_EQ(DialsPerLead(dials).size(), static_cast<size_t>(kLeads)) << "every lead dialed";
  EXPECT_TRUE(DialsMatchJobs(reference_, run, jobs, dials));
  std::map<std::string, int> per_worker;
  for (const DialLine& dial : dials) ++per_worker[dial.worker];
  EXPECT_EQ(per_worker.size(), 3u) << "every worker dialed part of the run";
}

// Leases stolen from live workers (lock_ts backdated, then another worker's
// SweepNow) while they dispatch at concurrency 30: the old holder is a
// zombie that learns of its loss only at its next fenced write. Still no lead
// is dialed twice, every job is final with attempts == 1, counters are exact,
// a lead never dialed is a job failed "dial outcome unknown", and each old
// holder lets go of the run.
TEST_F(SchedulerTest, StolenLeasesNeverCauseASecondDial) {
  constexpr int kLeads = 1200;
  const int64_t run = CreateRun(MakeLeads(kLeads), 30);
  Worker& a = AddWorker("a");
  Worker& b = AddWorker("b");
  a.scheduler->Start();
  b.scheduler->Start();

  int steals = 0;
  for (int64_t mark = 150; mark < kLeads * 3 / 4; mark += 150) {
    RunRow seen;
    ASSERT_TRUE(WaitForRun(
        run, [&](const RunRow& r) { return r.cursor >= mark && !r.worker.empty(); },
        absl::StrCat("held past ", mark, " final jobs"), &seen));
    if (seen.status != "running") break;
    Worker& thief = seen.worker == "a" ? b : a;
    // The holder may renew the lease (every claim does) or hold the run row
    // locked (the sweep skips locked rows) between the backdating and the
    // sweep: retry. On a busy machine the run may finish meanwhile.
    bool finished = false;
    ASSERT_TRUE(WaitUntil(
        [&] {
          if (inspect_->Run(run).status != "running") return finished = true;
          ExpireLease(run);
          thief.scheduler->SweepNow();
          return inspect_->Run(run).worker == thief.id;
        },
        absl::Seconds(30), absl::Milliseconds(1)))
        << "worker " << thief.id << " could not take over the expired lease";
    if (finished) break;
    ++steals;
    // The old holder notices at its next fenced write and lets go.
    Worker& zombie = thief.id == "a" ? b : a;
    EXPECT_TRUE(WaitUntil(
        [&] {
          const std::vector<int64_t> held = zombie.scheduler->HeldRuns();
          return std::find(held.begin(), held.end(), run) == held.end();
        },
        absl::Seconds(5)))
        << zombie.id << " still believes it holds the run";
  }
  EXPECT_GE(steals, 3);

  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed" && r.worker.empty(); },
      "completed and released", &done));
  EXPECT_GE(done.epoch, 1 + steals);
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  const std::vector<DialLine> dials = Dials(run);
  EXPECT_TRUE(AtMostOnce(dials));
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_EQ(done.cursor, kLeads);
  EXPECT_TRUE(AttemptsAre(jobs, 1, [](const JobRow&) { return true; }));
  EXPECT_TRUE(UndialedJobsAreUnknown(jobs, dials, /*strict=*/false));
  EXPECT_TRUE(DialsMatchJobs(reference_, run, jobs, dials, /*tolerate_unknown=*/true));
  int unknown = 0;
  for (const JobRow& job : jobs) unknown += absl::StartsWith(job.error, kDialOutcomeUnknown);
  EXPECT_LE(unknown, steals * 30) << "only jobs in flight at a takeover can be unknown";
}

// Issue test 4 (stop). StopRun through RunStore::ApplyAction while one
// worker dispatches at concurrency 50: every job queued at the stop stays
// unclaimed and is cancelled "Stopped by user"; jobs claimed before it are
// either dialed or released as cancelled, never both; no dial happens after
// StopRun returns (the dial gate); every job is final and the counters are
// exact.
TEST_F(SchedulerTest, StopWhileDispatchingWinsOverLaterClaims) {
  constexpr int kLeads = 1500;
  const int64_t run = DispatchingRun(kLeads, 50);
  ASSERT_FALSE(HasFailure());

  absl::StatusOr<store::ChangedRun> stopped =
      runs_->ApplyAction(business_id_, run, RunAction::kStop);
  const absl::Time stop_returned = absl::Now();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->run.status, RunStatus::kStopped);
  const int64_t cancelled_by_stop = stopped->cancelled_jobs;
  EXPECT_GT(cancelled_by_stop, 0);

  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.in_progress == 0 && r.worker.empty(); },
      "drained and released", &done));
  EXPECT_EQ(done.status, "stopped");
  EXPECT_TRUE(done.cancel_requested);
  EXPECT_TRUE(done.ended_at.has_value());

  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  const std::vector<DialLine> dials = Dials(run);
  ExpectConsistent(run, done, jobs, dials);

  std::set<int64_t> dialed;
  for (const DialLine& dial : dials) dialed.insert(dial.lead_id);
  int64_t cancelled = 0, never_claimed = 0, released = 0;
  Problems problems;
  for (const JobRow& job : jobs) {
    if (job.status != "cancelled") continue;
    ++cancelled;
    const std::string what = absl::StrCat("cancelled job ", job.id, " ");
    problems.Check(dialed.count(job.lead_id) == 0, what + "was dialed");
    problems.Check(job.error == "Stopped by user", what + "error: " + job.error);
    problems.Check(job.attempts == 0, absl::StrCat(what, "attempts ", job.attempts));
    (job.token.empty() ? never_claimed : released) += 1;
  }
  EXPECT_TRUE(problems.Result());
  EXPECT_EQ(never_claimed, cancelled_by_stop)
      << "a job queued when the stop committed was claimed afterwards";
  EXPECT_EQ(static_cast<int64_t>(dialed.size()) + released, kLeads - cancelled_by_stop);
  EXPECT_EQ(static_cast<int64_t>(dialed.size()) + cancelled, kLeads);
  EXPECT_EQ(done.cancelled, cancelled);

  // The dial gate: a batch claimed before the Stop is dialed before StopRun
  // can commit, or not at all.
  EXPECT_EQ(DialsAfter(dials, stop_returned), 0) << "dials started after StopRun returned";
}

// Issue test 4 (cancel). CancelRun on a run a live worker dispatches at
// concurrency 50 only requests the cancel; the worker honours it before its
// next dial: queued jobs cancelled "Cancelled by user", the run cancelled
// with ended_at, calls in flight hung up and recorded, no dial after CancelRun
// returned, no cancelled job dialed, counts exact.
TEST_F(SchedulerTest, CancelWhileDispatchingIsHonouredBeforeTheNextDial) {
  constexpr int kLeads = 1500;
  const int64_t run = DispatchingRun(kLeads, 50);
  ASSERT_FALSE(HasFailure());

  absl::StatusOr<store::ChangedRun> requested =
      runs_->ApplyAction(business_id_, run, RunAction::kCancel);
  const absl::Time cancel_returned = absl::Now();
  ASSERT_TRUE(requested.ok()) << requested.status();
  EXPECT_TRUE(requested->run.cancel_requested);
  EXPECT_EQ(requested->run.status, RunStatus::kRunning) << "a live worker finalizes the cancel";

  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run,
      [](const RunRow& r) {
        return r.status != "running" && r.in_progress == 0 && r.worker.empty();
      },
      "ended, drained and released", &done));
  EXPECT_EQ(done.status, "cancelled") << done.last_error;
  EXPECT_TRUE(done.last_error.empty()) << done.last_error;
  EXPECT_TRUE(done.ended_at.has_value());

  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  const std::vector<DialLine> dials = Dials(run);
  ExpectConsistent(run, done, jobs, dials);
  std::set<int64_t> dialed;
  for (const DialLine& dial : dials) dialed.insert(dial.lead_id);
  int64_t cancelled = 0;
  Problems problems;
  for (const JobRow& job : jobs) {
    if (job.status != "cancelled") continue;
    ++cancelled;
    const std::string what = absl::StrCat("cancelled job ", job.id, " ");
    problems.Check(dialed.count(job.lead_id) == 0, what + "was dialed");
    problems.Check(job.error == "Cancelled by user", what + "error: " + job.error);
  }
  EXPECT_TRUE(problems.Result());
  EXPECT_GT(cancelled, 0);
  EXPECT_EQ(static_cast<int64_t>(dialed.size()) + cancelled, kLeads);
  EXPECT_EQ(DialsAfter(dials, cancel_returned), 0) << "dials started after CancelRun returned";
}

// StopRun's hang_up option (issue 12). Three calls are in progress (5 s
// simulated calls) and three leads queued when the run is stopped. With
// hang_up = false the calls are not hung up: they end on their own with the
// outcome the simulation planned for them, recorded as usual (the run's
// bookkeeping checks compare every job with its dial). With the default
// (hang_up unset = true) the same calls are hung up at once. Either way the
// queued leads are cancelled and nothing more is dialed.
class StopHangUpTest : public SchedulerTest {
 protected:
  // Starts a worker on a run of 6 leads at concurrency 3 and waits until 3
  // calls are in progress (accepted: call ids recorded); stops the run with
  // `hang_up` (unset: StopRun's default) and waits until it is drained and
  // released.
  void StopWithCallsInProgress(std::optional<bool> hang_up, int64_t* run_out,
                               store::ChangedRun* stopped_out, RunRow* done_out) {
    const int64_t run = CreateRun(MakeLeads(6), 3);
    *run_out = run;
    Worker& worker = AddWorker("w1", {.call_duration = absl::Seconds(5)});
    worker.scheduler->Start();
    ASSERT_TRUE(WaitUntil(
        [&] {
          int calling = 0;
          for (const JobRow& job : inspect_->Jobs(run)) calling += job.status == "calling";
          return calling == 3;
        },
        absl::Seconds(60)))
        << "3 calls in progress";
    absl::StatusOr<store::ChangedRun> stopped =
        hang_up ? runs_->ApplyAction(business_id_, run, RunAction::kStop, *hang_up)
                : runs_->ApplyAction(business_id_, run, RunAction::kStop);
    ASSERT_TRUE(stopped.ok()) << stopped.status();
    *stopped_out = *stopped;
    ASSERT_EQ(stopped->run.in_progress_count, 3) << "the calls were still in progress";
    EXPECT_EQ(stopped->cancelled_jobs, 3);
    EXPECT_EQ(stopped->run.hang_up_on_end, hang_up.value_or(true));
    ASSERT_TRUE(WaitForRun(
        run, [](const RunRow& r) { return r.in_progress == 0 && r.worker.empty(); },
        "drained and released", done_out));
    EXPECT_EQ(done_out->status, "stopped");
  }
};

TEST_F(StopHangUpTest, WithoutHangUpCallsInProgressEndWithTheirRealOutcomes) {
  int64_t run = 0;
  store::ChangedRun stopped;
  RunRow done;
  ASSERT_NO_FATAL_FAILURE(StopWithCallsInProgress(/*hang_up=*/false, &run, &stopped, &done));
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  const std::vector<DialLine> dials = Dials(run);
  EXPECT_EQ(dials.size(), 3u) << "nothing dialed after the stop";
  // Every dialed job has the outcome its dial planned: none was cut short.
  ExpectConsistent(run, done, jobs, dials);
  int ended = 0;
  for (const JobRow& job : jobs) {
    if (job.status == "cancelled") {
      EXPECT_EQ(job.error, "Stopped by user");
      continue;
    }
    ++ended;
    EXPECT_FALSE(absl::StartsWith(job.error, "hung up")) << job.id << ": " << job.error;
    ASSERT_TRUE(job.started_at && job.completed_at) << job.id;
    EXPECT_GE(*job.completed_at - *job.started_at, absl::Seconds(4))
        << "job " << job.id << " ended before its call's simulated duration";
  }
  EXPECT_EQ(ended, 3);
  // A second Stop asking to hang up does not flip the first choice.
  absl::StatusOr<store::ChangedRun> again =
      runs_->ApplyAction(business_id_, run, RunAction::kStop, /*hang_up=*/true);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->run.hang_up_on_end);
}

TEST_F(StopHangUpTest, ByDefaultCallsInProgressAreHungUp) {
  int64_t run = 0;
  store::ChangedRun stopped;
  RunRow done;
  ASSERT_NO_FATAL_FAILURE(StopWithCallsInProgress(std::nullopt, &run, &stopped, &done));
  int hung_up = 0;
  for (const JobRow& job : inspect_->Jobs(run)) {
    if (job.status == "cancelled") continue;
    EXPECT_EQ(job.status, "failed") << job.id;
    EXPECT_EQ(job.error, "hung up: the run was stopped") << job.id;
    ++hung_up;
  }
  EXPECT_EQ(hung_up, 3);
}

// A cancel of a run whose calls are in flight (1 s calls, concurrency 5) is
// finalized by its worker at once: the run is cancelled with ended_at and
// its queued jobs "Cancelled by user" before the calls end; the calls in
// progress are hung up (failed, "hung up: the run was cancelled"), recorded,
// and the lease is released.
TEST_F(SchedulerTest, CancelOfAHeldRunIsFinalizedByTheWorker) {
  const int64_t run = CreateRun(MakeLeads(40), 5);
  Worker& worker = AddWorker("w1", {.call_duration = absl::Seconds(1)});
  worker.scheduler->Start();
  ASSERT_TRUE(WaitUntil([&] {
    return inspect_->Int(absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ",
                                      run, " AND status = 'calling'")) == 5;
  })) << "five calls in flight";

  absl::StatusOr<store::ChangedRun> requested =
      runs_->ApplyAction(business_id_, run, RunAction::kCancel);
  ASSERT_TRUE(requested.ok()) << requested.status();
  EXPECT_EQ(requested->cancelled_jobs, 0) << "the holder cancels, not the API";

  RunRow cancelled_row;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "cancelled"; }, "cancelled", &cancelled_row));
  ASSERT_TRUE(cancelled_row.ended_at.has_value());
  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.in_progress == 0 && r.worker.empty(); },
      "drained and released", &done));
  EXPECT_EQ(done.status, "cancelled");
  EXPECT_TRUE(done.last_error.empty()) << done.last_error;

  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  const std::vector<DialLine> dials = Dials(run);
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_EQ(dials.size(), 5u);
  EXPECT_TRUE(AtMostOnce(dials));
  std::map<int64_t, std::string> dialed;  // lead → call id
  for (const DialLine& dial : dials) dialed[dial.lead_id] = dial.sid;
  Problems problems;
  for (const JobRow& job : jobs) {
    const std::string what = absl::StrCat("job ", job.id, " ");
    if (dialed.count(job.lead_id) > 0) {
      problems.Check(job.status == "failed" && job.error == "hung up: the run was cancelled",
                     what + "dialed, then " + job.status + " (" + job.error + ")");
      problems.Check(job.call_sid == dialed[job.lead_id], what + "call id " + job.call_sid);
      problems.Check(job.completed_at.has_value() && *job.completed_at > *cancelled_row.ended_at,
                     what + "ended before the run was cancelled: the cancel waited for the call");
    } else {
      problems.Check(job.status == "cancelled" && job.error == "Cancelled by user",
                     what + job.status + " (" + job.error + ")");
    }
  }
  EXPECT_TRUE(problems.Result());
}

// Issue test 5. 300 leads at concurrency 7 with 20 ms calls: the simulated
// dialer never had more than 7 calls of the run at once, the run's
// in_progress_count never exceeded 7 while it ran, and, from the jobs'
// claim and completion times, no job was claimed while 7 others were open.
TEST_F(SchedulerTest, ConcurrencyIsNeverExceeded) {
  constexpr int kLeads = 300;
  constexpr int kConcurrency = 7;
  const int64_t run = CreateRun(MakeLeads(kLeads), kConcurrency);
  Worker& worker = AddWorker("w1", {.call_duration = absl::Milliseconds(20)});
  worker.scheduler->Start();

  int64_t most_in_progress = 0;
  int64_t most_open_jobs = 0;
  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run,
      [&](const RunRow& r) {
        most_in_progress = std::max(most_in_progress, r.in_progress);
        most_open_jobs = std::max(
            most_open_jobs, inspect_->Int(absl::StrCat(
                                "SELECT count(*) FROM outbound_call_jobs WHERE run_id = ", run,
                                " AND status IN ('dialing', 'calling')")));
        return r.status == "completed";
      },
      "completed", &done));
  EXPECT_LE(most_in_progress, kConcurrency);
  EXPECT_LE(most_open_jobs, kConcurrency);
  EXPECT_LE(worker.dialer->MaxConcurrentCalls(run), kConcurrency);
  EXPECT_GE(worker.dialer->MaxConcurrentCalls(run), 2) << "the run should use its slots";
  EXPECT_EQ(worker.dialer->ActiveCalls(run), 0);

  // One worker claims only after recording the outcomes that freed the
  // slots, so [dial_started_at, completed_at) spans are the claimed jobs.
  const int64_t most_overlapping = inspect_->Int(absl::StrCat(
      "SELECT max((SELECT count(*) FROM outbound_call_jobs k"
      "             WHERE k.run_id = j.run_id AND k.dial_started_at <= j.dial_started_at"
      "               AND k.completed_at > j.dial_started_at))"
      "  FROM outbound_call_jobs j WHERE j.run_id = ",
      run));
  EXPECT_LE(most_overlapping, kConcurrency);
  EXPECT_GE(most_overlapping, 2);

  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  const std::vector<DialLine> dials = Dials(run);
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_EQ(dials.size(), static_cast<size_t>(kLeads));
  EXPECT_TRUE(AtMostOnce(dials));
}

// Issue test 6 (pause). Pausing a run dispatching at concurrency 50 stops
// new dials: jobs claimed but not yet dialed go back to the queue
// unattempted (never failed, never dialed), the run stays paused (its worker
// lets it go once its calls ended) and the dial log does not grow while the
// worker completes another run meanwhile (the barrier). Resumed, the run
// completes with every lead dialed exactly once.
TEST_F(SchedulerTest, PauseStopsNewDialsAndResumeFinishes) {
  constexpr int kLeads = 1500;
  const int64_t run = CreateRun(MakeLeads(kLeads), 50);
  Worker& worker = AddWorker("w1", {.call_duration = absl::Milliseconds(5)});
  worker.scheduler->Start();
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.cursor >= 300; }, "past 300"));

  absl::StatusOr<store::ChangedRun> paused =
      runs_->ApplyAction(business_id_, run, RunAction::kPause);
  ASSERT_TRUE(paused.ok()) << paused.status();
  EXPECT_EQ(paused->run.status, RunStatus::kPaused);
  RunRow at_pause;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.in_progress == 0 && r.worker.empty(); },
      "drained and released", &at_pause));
  EXPECT_EQ(at_pause.status, "paused");
  EXPECT_TRUE(CountersExact(at_pause, inspect_->Jobs(run)));
  const size_t dials_at_pause = Dials(run).size();
  EXPECT_LT(dials_at_pause, static_cast<size_t>(kLeads));
  EXPECT_EQ(static_cast<int64_t>(dials_at_pause), at_pause.cursor)
      << "every dial so far is recorded, no other job was touched";
  Problems requeued;
  for (const JobRow& job : inspect_->Jobs(run)) {
    if (job.status != "queued") continue;
    requeued.Check(
        job.attempts == 0 && job.token.empty(),
        absl::StrCat("queued job ", job.id, " attempts ", job.attempts, " token ", job.token));
  }
  EXPECT_TRUE(requeued.Result());

  // Barrier: the worker keeps dispatching (another run, to completion).
  const int64_t other = CreateRun(MakeLeads(20, 100'001), 5);
  ASSERT_TRUE(WaitForRun(
      other, [](const RunRow& r) { return r.status == "completed"; }, "completed"));
  EXPECT_EQ(Dials(run).size(), dials_at_pause) << "a paused run was dialed";
  EXPECT_EQ(inspect_->Run(run).status, "paused");
  const std::vector<int64_t> held = worker.scheduler->HeldRuns();
  EXPECT_EQ(std::count(held.begin(), held.end(), run), 0);

  absl::StatusOr<store::ChangedRun> resumed =
      runs_->ApplyAction(business_id_, run, RunAction::kResume);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->run.status, RunStatus::kRunning);
  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed" && r.worker.empty(); },
      "completed and released", &done));
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  const std::vector<DialLine> dials = Dials(run);
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_EQ(done.cursor, kLeads);
  EXPECT_TRUE(AttemptsAre(jobs, 1, [](const JobRow&) { return true; }));
  EXPECT_TRUE(AtMostOnce(dials));
  EXPECT_EQ(DialsPerLead(dials).size(), static_cast<size_t>(kLeads));
  EXPECT_TRUE(DialsMatchJobs(reference_, run, jobs, dials));
}

// Issue test 6 (fairness). One worker, a 3,000-lead run at concurrency 5 and
// a 10-lead run created after it: the small run completes while the large
// one is still running.
TEST_F(SchedulerTest, SmallRunCompletesWhileALargeRunIsStillRunning) {
  const int64_t large = CreateRun(MakeLeads(3000), 5);
  Worker& worker = AddWorker("w1", {.call_duration = absl::Milliseconds(20)});
  worker.scheduler->Start();
  ASSERT_TRUE(WaitForRun(
      large, [](const RunRow& r) { return r.cursor >= 20; }, "past 20"));

  const int64_t small = CreateRun(MakeLeads(10, 500'001), 5);
  RunRow small_done;
  ASSERT_TRUE(WaitForRun(
      small, [](const RunRow& r) { return r.status == "completed"; }, "completed", &small_done));
  const RunRow large_then = inspect_->Run(large);
  EXPECT_EQ(large_then.status, "running");
  EXPECT_LT(large_then.cursor, large_then.total);
  EXPECT_EQ(large_then.worker, "w1");
  EXPECT_TRUE(CountersExact(small_done, inspect_->Jobs(small)));
  EXPECT_EQ(DialsPerLead(Dials(small)).size(), 10u);

  // Done with the large run.
  ASSERT_TRUE(runs_->ApplyAction(business_id_, large, RunAction::kStop).ok());
  RunRow large_done;
  ASSERT_TRUE(WaitForRun(
      large, [](const RunRow& r) { return r.in_progress == 0 && r.worker.empty(); },
      "drained and released", &large_done));
  EXPECT_TRUE(CountersExact(large_done, inspect_->Jobs(large)));
  EXPECT_TRUE(AtMostOnce(Dials(large)));
}

// Issue test 7, without waiting for any TTL. A run held by a dead worker
// (lease backdated in SQL, epoch 7) with jobs it left behind: dialing jobs it
// never dialed, dialing jobs it did dial (dial log line, call id never
// recorded), calling jobs whose calls ended, and calls still in progress.
// SweepNow takes the run over at once with epoch 8: never-dialed jobs are
// failed "dial outcome unknown", ended calls get their outcomes, calls in
// progress are tracked and recorded when they end, and the rest of the run
// completes with every other lead dialed exactly once. A run whose lease is
// fresh is not taken by the sweep, until it expires.
TEST_F(SchedulerTest, SweepTakesOverAnExpiredLeaseAndReconcilesItsJobs) {
  const int64_t run = CreateRun(MakeLeads(60), 5);
  const int64_t fresh = CreateRun(MakeLeads(5, 9'001), 5);
  std::vector<JobRow> jobs = inspect_->Jobs(run);
  ASSERT_EQ(jobs.size(), 60u);

  // The dead worker's provider: calls that already ended, and calls that
  // last 1.5 s more.
  dialer::SimulatedDialerOptions ended_options;
  ended_options.call_duration = absl::ZeroDuration();
  ended_options.dial_log_path = dial_log_.path();
  dialer::SimulatedDialer ended(ended_options);
  dialer::SimulatedDialerOptions long_options = ended_options;
  long_options.call_duration = absl::Milliseconds(1500);
  dialer::SimulatedDialer long_calls(long_options);
  const std::string dead = "dead:1:x";
  auto token_of = [](const JobRow& job) { return absl::StrCat("dead-tok-", job.id); };
  auto dial = [&](dialer::SimulatedDialer& by, const JobRow& job) {
    by.Dial(dialer::DialRequest{business_id_, run, job.id, job.lead_id, job.phone, token_of(job),
                                dead});
    absl::StatusOr<std::optional<dialer::CallState>> call = by.LookupByToken(token_of(job));
    if (!call.ok() || !call->has_value()) throw std::runtime_error("the dial was refused");
    return (*call)->call_sid;
  };
  auto set_dialing = [&](const JobRow& job) {
    inspect_->Exec(absl::StrCat(
        "UPDATE outbound_call_jobs SET status = 'dialing', dial_lock_token = '", token_of(job),
        "', dial_started_at = now() - interval '1 hour', attempts = 1 WHERE id = ", job.id));
  };
  auto set_calling = [&](const JobRow& job, const std::string& sid) {
    inspect_->Exec(
        absl::StrCat("UPDATE outbound_call_jobs SET status = 'calling', dial_lock_token = '",
                     token_of(job), "', call_sid = '", sid,
                     "', dial_started_at = now() - interval '1 hour',"
                     " started_at = now() - interval '1 hour', attempts = 1 WHERE id = ",
                     job.id));
  };
  // jobs[0..2]: claimed, never dialed.
  for (int i = 0; i <= 2; ++i) set_dialing(jobs[i]);
  // jobs[3..4]: dialed (call ended), call id never recorded.
  std::map<int64_t, std::string> sids;
  for (int i = 3; i <= 4; ++i) {
    sids[jobs[i].id] = dial(ended, jobs[i]);
    set_dialing(jobs[i]);
  }
  // jobs[5..7]: calling, call ended.
  for (int i = 5; i <= 7; ++i) set_calling(jobs[i], sids[jobs[i].id] = dial(ended, jobs[i]));
  // jobs[8]: calling, still in progress; jobs[9]: dialed, in progress, call id not recorded.
  set_calling(jobs[8], sids[jobs[8].id] = dial(long_calls, jobs[8]));
  sids[jobs[9].id] = dial(long_calls, jobs[9]);
  set_dialing(jobs[9]);
  inspect_->Exec(absl::StrCat(
      "UPDATE outbound_call_runs SET status = 'running', started_at = now() - interval '1 hour',"
      " locked_by_worker = '",
      dead,
      "', lock_ts = now() - interval '1 hour', lease_epoch = 7,"
      " queued_count = queued_count - 10, in_progress_count = 10 WHERE id = ",
      run));
  inspect_->Exec(
      absl::StrCat("UPDATE outbound_call_runs SET status = 'running', started_at = now(),"
                   " locked_by_worker = 'alive:2:y', lock_ts = now(), lease_epoch = 3 WHERE id = ",
                   fresh));
  ASSERT_TRUE(CountersExact(inspect_->Run(run), inspect_->Jobs(run)));

  Worker& sweeper = AddWorker("sweeper");
  EXPECT_EQ(sweeper.scheduler->SweepNow(), 1);
  const RunRow taken = inspect_->Run(run);
  EXPECT_EQ(taken.worker, "sweeper");
  EXPECT_EQ(taken.epoch, 8);
  EXPECT_EQ(taken.status, "running");
  EXPECT_EQ(sweeper.scheduler->HeldRuns(), std::vector<int64_t>{run});
  const RunRow untouched = inspect_->Run(fresh);
  EXPECT_EQ(untouched.worker, "alive:2:y") << "a live lease was taken";
  EXPECT_EQ(untouched.epoch, 3);

  jobs = inspect_->Jobs(run);
  EXPECT_TRUE(CountersExact(taken, jobs));
  for (int i = 0; i <= 2; ++i) {
    EXPECT_EQ(jobs[i].status, "failed") << "job " << jobs[i].id;
    EXPECT_TRUE(absl::StartsWith(jobs[i].error, kDialOutcomeUnknown)) << jobs[i].error;
  }
  for (int i = 3; i <= 7; ++i) {
    EXPECT_EQ(jobs[i].status, PlannedStatus(reference_, run, jobs[i])) << "job " << jobs[i].id;
    EXPECT_EQ(jobs[i].call_sid, sids[jobs[i].id]) << "job " << jobs[i].id;
    EXPECT_TRUE(jobs[i].completed_at.has_value());
  }
  for (int i = 8; i <= 9; ++i) {
    EXPECT_EQ(jobs[i].status, "calling") << "job " << jobs[i].id << " is still in progress";
    EXPECT_EQ(jobs[i].call_sid, sids[jobs[i].id]) << "job " << jobs[i].id;
  }
  EXPECT_EQ(taken.in_progress, 2);

  sweeper.scheduler->Start();
  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed" && r.worker.empty(); },
      "completed and released", &done));
  jobs = inspect_->Jobs(run);
  const std::vector<DialLine> dials = Dials(run);
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_EQ(done.cursor, 60);
  EXPECT_TRUE(AtMostOnce(dials));
  EXPECT_EQ(dials.size(), 57u) << "all but the three never-dialed leads, once";
  EXPECT_TRUE(DialsMatchJobs(reference_, run, jobs, dials));
  EXPECT_TRUE(UndialedJobsAreUnknown(jobs, dials, /*strict=*/true));
  EXPECT_TRUE(AttemptsAre(jobs, 1, [](const JobRow&) { return true; }));
  Problems redialed;
  for (const DialLine& d : dials) {
    const bool left_by_dead = d.job_id >= jobs[3].id && d.job_id <= jobs[9].id;
    redialed.Check(d.worker == (left_by_dead ? dead : "sweeper"),
                   absl::StrCat("lead ", d.lead_id, " dialed by ", d.worker));
  }
  EXPECT_TRUE(redialed.Result());

  // Once the fresh lease expires (1 s without heartbeats), the periodic
  // sweep takes that run over too.
  RunRow fresh_done;
  ASSERT_TRUE(WaitForRun(
      fresh, [](const RunRow& r) { return r.status == "completed" && r.worker.empty(); },
      "taken over after its TTL and completed", &fresh_done));
  EXPECT_EQ(fresh_done.epoch, 4);
  EXPECT_TRUE(CountersExact(fresh_done, inspect_->Jobs(fresh)));
}

// Issue test 8. Worker A holds a run with 2 s calls in flight; Shutdown with
// no grace returns without waiting for them and releases the lease; worker B
// (lease TTL 60 s) takes the run at once, reconciles A's calls by call id
// when they end — never redialing them — and finishes the rest.
TEST_F(SchedulerTest, GracefulShutdownHandsTheRunOverWithoutTheTtl) {
  constexpr int kLeads = 30;
  const int64_t run = CreateRun(MakeLeads(kLeads), 10);
  Worker& a = AddWorker("a", {.call_duration = absl::Seconds(2), .lease_ttl = absl::Seconds(60)});
  a.scheduler->Start();
  ASSERT_TRUE(WaitUntil([&] {
    return inspect_->Int(absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ",
                                      run, " AND status = 'calling'")) == 10;
  })) << "ten calls in flight";

  const absl::Time before = absl::Now();
  a.scheduler->Shutdown(absl::ZeroDuration());
  EXPECT_LT(absl::Now() - before, absl::Milliseconds(1500))
      << "Shutdown with no grace waited for the calls";
  const RunRow released = inspect_->Run(run);
  EXPECT_EQ(released.worker, "") << "the lease must be released";
  EXPECT_EQ(released.status, "running");
  EXPECT_EQ(released.in_progress, 10);

  Worker& b =
      AddWorker("b", {.call_duration = absl::Milliseconds(20), .lease_ttl = absl::Seconds(60)});
  b.scheduler->Start();
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.worker == "b"; }, "taken by b", nullptr,
      absl::Seconds(10)))
      << "b must not wait for the 60 s TTL";
  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed" && r.worker.empty(); },
      "completed and released", &done));

  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  const std::vector<DialLine> dials = Dials(run);
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_TRUE(AtMostOnce(dials));
  EXPECT_EQ(dials.size(), static_cast<size_t>(kLeads));
  EXPECT_TRUE(DialsMatchJobs(reference_, run, jobs, dials));
  EXPECT_TRUE(AttemptsAre(jobs, 1, [](const JobRow&) { return true; }));
  std::map<std::string, int> per_worker;
  for (const DialLine& dial : dials) ++per_worker[dial.worker];
  EXPECT_EQ(per_worker["a"], 10);
  EXPECT_EQ(per_worker["b"], kLeads - 10);
}

// Fencing in the store: once another worker acquired the run, every write
// with the old epoch is ABORTED and changes nothing — neither the run row
// nor any job — while the new holder's writes go through.
TEST_F(SchedulerTest, WritesWithALostLeaseAreAbortedAndChangeNothing) {
  const int64_t run = CreateRun(MakeLeads(10), 3);
  store::LeaseStore leases(database_.get(), kLeaseTtl);

  absl::StatusOr<std::vector<store::AcquiredRun>> first =
      leases.Acquire("A", 10, store::AcquireMode::kFree);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  const store::Lease a = (*first)[0].lease;
  EXPECT_EQ(a.run_id, run);
  EXPECT_EQ(a.epoch, 1);
  EXPECT_EQ((*first)[0].previous_worker, "");
  EXPECT_EQ((*first)[0].concurrency, 3);
  RunRow acquired = inspect_->Run(run);
  EXPECT_EQ(acquired.status, "running") << "a pending run starts when acquired";
  EXPECT_TRUE(acquired.started_at.has_value());

  absl::StatusOr<std::vector<store::ClaimedJob>> claimed = leases.Claim(a, 10);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 3u) << "never more than the concurrency";
  ASSERT_TRUE(
      leases
          .RecordCalls(a, {store::CallStart{(*claimed)[0].job_id, (*claimed)[0].token, "SIMx-C-a"}},
                       {})
          .ok());

  // Live lease: neither a free nor an expired acquisition takes it.
  absl::StatusOr<std::vector<store::AcquiredRun>> none =
      leases.Acquire("B", 10, store::AcquireMode::kFree);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  none = leases.Acquire("B", 10, store::AcquireMode::kExpired);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << "a live lease was swept";

  ExpireLease(run);
  absl::StatusOr<std::vector<store::AcquiredRun>> second =
      leases.Acquire("B", 10, store::AcquireMode::kExpired);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->size(), 1u);
  const store::Lease b = (*second)[0].lease;
  EXPECT_EQ(b.epoch, 2);
  EXPECT_EQ((*second)[0].previous_worker, "A");

  auto snapshot = [&] {
    return absl::StrCat(
        inspect_->Text(absl::StrCat("SELECT row_to_json(r)::text FROM outbound_call_runs r"
                                    " WHERE id = ",
                                    run)),
        "\n",
        inspect_->Text(absl::StrCat("SELECT string_agg(row_to_json(j)::text, ',' ORDER BY id)"
                                    " FROM outbound_call_jobs j WHERE run_id = ",
                                    run)));
  };
  const std::string before = snapshot();
  const store::ClaimedJob& job1 = (*claimed)[1];
  const std::vector<std::pair<std::string, std::function<absl::Status()>>> writes = {
      {"Control", [&] { return leases.Control(a).status(); }},
      {"Claim", [&] { return leases.Claim(a, 10).status(); }},
      {"ReleaseClaim", [&] { return leases.ReleaseClaim(a, job1).status(); }},
      {"RecordCalls (start)",
       [&] {
         return leases.RecordCalls(a, {store::CallStart{job1.job_id, job1.token, "SIMx-C-b"}}, {})
             .status();
       }},
      {"RecordCalls (result)",
       [&] {
         return leases
             .RecordCalls(a, {},
                          {store::JobResult{(*claimed)[0].job_id, (*claimed)[0].token,
                                            JobStatus::kCompleted, "", "SIMx-C-a"}})
             .status();
       }},
      {"FinalizeCancel", [&] { return leases.FinalizeCancel(a).status(); }},
      {"CompleteIfDone", [&] { return leases.CompleteIfDone(a).status(); }},
      {"FailRun", [&] { return leases.FailRun(a, "stale"); }},
      {"ActiveJobs", [&] { return leases.ActiveJobs(a).status(); }},
  };
  for (const auto& [name, write] : writes) {
    const absl::Status status = write();
    EXPECT_EQ(status.code(), absl::StatusCode::kAborted)
        << name << " with a lost lease: " << status;
    EXPECT_EQ(snapshot(), before) << name << " with a lost lease changed the database";
  }
  // Renewing a lost lease renews nothing and says it is lost.
  absl::StatusOr<std::map<int64_t, store::RunControl>> renewed_a = leases.RenewLeases("A", {a});
  ASSERT_TRUE(renewed_a.ok()) << renewed_a.status();
  EXPECT_TRUE(renewed_a->empty()) << "a lost lease was renewed";
  EXPECT_EQ(snapshot(), before) << "RenewLeases with a lost lease changed the database";
  // Giving up a lease one no longer holds is harmless.
  (void)leases.Release(a);
  EXPECT_EQ(snapshot(), before) << "Release with a lost lease changed the database";

  // The new holder's lease works, and sees what A left.
  absl::StatusOr<std::map<int64_t, store::RunControl>> renewed = leases.RenewLeases("B", {b});
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  ASSERT_EQ(renewed->count(run), 1u);
  const store::RunControl* control = &renewed->at(run);
  EXPECT_EQ(control->in_progress, 3);
  absl::StatusOr<std::vector<store::ActiveJob>> active = leases.ActiveJobs(b);
  ASSERT_TRUE(active.ok()) << active.status();
  ASSERT_EQ(active->size(), 3u);
  EXPECT_EQ((*active)[0].status, JobStatus::kCalling);
  EXPECT_EQ((*active)[0].call_sid, "SIMx-C-a");
  EXPECT_EQ((*active)[1].status, JobStatus::kDialing);
  absl::StatusOr<std::vector<store::ClaimedJob>> full = leases.Claim(b, 10);
  ASSERT_TRUE(full.ok());
  EXPECT_TRUE(full->empty()) << "all 3 slots are taken by A's jobs";
  ASSERT_TRUE(leases.Release(b).ok());
  EXPECT_EQ(inspect_->Run(run).worker, "");
}

// Leases the one free run (the run the test just created) to `worker`; a
// failure is reported and yields an empty lease (run_id 0).
store::Lease AcquireOnlyRun(store::LeaseStore& leases, const std::string& worker) {
  absl::StatusOr<std::vector<store::AcquiredRun>> acquired =
      leases.Acquire(worker, 10, store::AcquireMode::kFree);
  if (!acquired.ok() || acquired->size() != 1) {
    ADD_FAILURE() << "expected to acquire exactly one run: "
                  << (acquired.ok() ? absl::StrCat(acquired->size(), " acquired")
                                    : acquired.status().ToString());
    return store::Lease{};
  }
  return (*acquired)[0].lease;
}

// A claim's dial tokens are `<claim id>.<job id>` with the claim id its
// caller chose (so a caller whose claim commit was in doubt can recognise the
// jobs it committed), in the job row and its attempt's ledger row alike; a
// caller that chose none gets a random one per claim.
TEST_F(SchedulerTest, ClaimTokensCarryTheCallersClaimId) {
  const int64_t run = CreateRun(MakeLeads(4), 4);
  store::LeaseStore leases(database_.get(), kLeaseTtl);
  const store::Lease lease = AcquireOnlyRun(leases, "A");
  store::ClaimOptions options;
  options.max_jobs = 2;
  options.now = absl::Now();
  options.claim_id = "claim-one";
  absl::StatusOr<std::vector<store::ClaimedJob>> claimed = leases.Claim(lease, options, nullptr);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 2u);
  for (const store::ClaimedJob& job : *claimed) {
    EXPECT_EQ(job.token, absl::StrCat("claim-one.", job.job_id));
    EXPECT_EQ(store::ClaimIdOfToken(job.token), "claim-one");
    EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM call_attempts WHERE job_id = ",
                                        job.job_id, " AND dial_token = '", job.token, "'")),
              1);
  }
  int tokens_in_rows = 0;
  for (const JobRow& row : inspect_->Jobs(run)) {
    tokens_in_rows += absl::StartsWith(row.token, "claim-one.") ? 1 : 0;
  }
  EXPECT_EQ(tokens_in_rows, 2);
  options.claim_id.clear();
  absl::StatusOr<std::vector<store::ClaimedJob>> rest = leases.Claim(lease, options, nullptr);
  ASSERT_TRUE(rest.ok()) << rest.status();
  ASSERT_EQ(rest->size(), 2u);
  const absl::string_view random = store::ClaimIdOfToken((*rest)[0].token);
  EXPECT_GE(random.size(), 16u) << (*rest)[0].token;
  EXPECT_EQ(store::ClaimIdOfToken((*rest)[1].token), random);
  EXPECT_NE(random, "claim-one");
  EXPECT_TRUE(CountersExact(inspect_->Run(run), inspect_->Jobs(run)));
}

// LeaseStore::ReleaseClaim undoes a claim whose dial never started (the
// scheduler's path when it stalled between claim and dial), deciding from
// the run row: running, back to queued with no token, no dial time and the
// attempt given back (claimed again first); stopped, cancelled with the
// reason; counters follow in the same transaction; a claim is released once.
TEST_F(SchedulerTest, ReleaseClaimUndoesAnUndialedClaim) {
  const int64_t run = CreateRun(MakeLeads(10), 3);
  store::LeaseStore leases(database_.get(), kLeaseTtl);
  const store::Lease lease = AcquireOnlyRun(leases, "A");
  ASSERT_EQ(lease.run_id, run);
  absl::StatusOr<std::vector<store::ClaimedJob>> claimed = leases.Claim(lease, 10);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 3u);

  // Running: back to the queue, with no token, no dial time and the attempt
  // given back; it is claimed again first, with a fresh token.
  absl::StatusOr<JobStatus> requeued = leases.ReleaseClaim(lease, (*claimed)[0]);
  ASSERT_TRUE(requeued.ok()) << requeued.status();
  EXPECT_EQ(*requeued, JobStatus::kQueued);
  std::vector<JobRow> jobs = inspect_->Jobs(run);
  EXPECT_TRUE(CountersExact(inspect_->Run(run), jobs));
  EXPECT_EQ(jobs[0].status, "queued");
  EXPECT_EQ(jobs[0].attempts, 0);
  EXPECT_TRUE(jobs[0].token.empty());
  EXPECT_FALSE(jobs[0].dial_started_at.has_value());
  absl::StatusOr<std::vector<store::ClaimedJob>> again = leases.Claim(lease, 10);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 1u) << "3 slots, two still dialing";
  EXPECT_EQ((*again)[0].job_id, (*claimed)[0].job_id);
  EXPECT_NE((*again)[0].token, (*claimed)[0].token);

  // Stopped: cancelled with the reason; counters follow in the same
  // transaction.
  ASSERT_TRUE(runs_->ApplyAction(business_id_, run, RunAction::kStop).ok());
  absl::StatusOr<JobStatus> cancelled = leases.ReleaseClaim(lease, (*claimed)[1]);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(*cancelled, JobStatus::kCancelled);
  jobs = inspect_->Jobs(run);
  RunRow row = inspect_->Run(run);
  EXPECT_TRUE(CountersExact(row, jobs));
  EXPECT_EQ(jobs[1].status, "cancelled");
  EXPECT_EQ(jobs[1].error, "Stopped by user");
  EXPECT_EQ(jobs[1].attempts, 0);
  EXPECT_TRUE(jobs[1].completed_at.has_value());
  EXPECT_EQ(jobs[2].status, "dialing");
  EXPECT_EQ(row.queued, 0);
  EXPECT_EQ(row.in_progress, 2);
  EXPECT_EQ(row.cancelled, 8);

  // Released once: a second release changes nothing.
  EXPECT_TRUE(leases.ReleaseClaim(lease, (*claimed)[1]).ok());
  EXPECT_EQ(inspect_->Jobs(run)[1].status, "cancelled");
  EXPECT_TRUE(CountersExact(inspect_->Run(run), inspect_->Jobs(run)));
}

// Item 3: a claim undone after the run was stopped is cancelled even though
// the worker last read the run as paused: the decision is taken from the
// run row locked in the undo's own transaction.
TEST_F(SchedulerTest, ClaimUndoneAfterAStopIsCancelledWhateverWasReadBefore) {
  const int64_t run = CreateRun(MakeLeads(5), 3);
  store::LeaseStore leases(database_.get(), kLeaseTtl);
  const store::Lease lease = AcquireOnlyRun(leases, "A");
  ASSERT_EQ(lease.run_id, run);
  absl::StatusOr<std::vector<store::ClaimedJob>> claimed = leases.Claim(lease, 1);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 1u);

  ASSERT_TRUE(runs_->ApplyAction(business_id_, run, RunAction::kPause).ok());
  absl::StatusOr<store::RunControl> control = leases.Control(lease);
  ASSERT_TRUE(control.ok()) << control.status();
  ASSERT_EQ(control->status, RunStatus::kPaused) << "the worker reads the run as paused";
  absl::StatusOr<store::ChangedRun> stopped =
      runs_->ApplyAction(business_id_, run, RunAction::kStop);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  ASSERT_EQ(stopped->run.status, RunStatus::kStopped);

  absl::StatusOr<JobStatus> undone = leases.ReleaseClaim(lease, (*claimed)[0]);
  ASSERT_TRUE(undone.ok()) << undone.status();
  EXPECT_EQ(*undone, JobStatus::kCancelled);
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  const RunRow row = inspect_->Run(run);
  EXPECT_EQ(jobs[0].status, "cancelled");
  EXPECT_EQ(jobs[0].error, "Stopped by user");
  EXPECT_EQ(jobs[0].attempts, 0);
  EXPECT_EQ(row.status, "stopped");
  EXPECT_EQ(row.queued, 0);
  EXPECT_EQ(row.in_progress, 0);
  EXPECT_EQ(row.cancelled, 5);
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(row, jobs));
}

// Item 4 (end to end): a cancel that commits just after the last call of a
// paused run was recorded (a deferred trigger sets cancel_requested in the
// recording transaction's COMMIT, after the worker read the run as paused
// and not being cancelled) is finalised when the worker releases the run:
// the run ends cancelled, not paused forever with a pending cancel.
TEST_F(SchedulerTest, CancelLandingAsAPausedRunsLastCallEndsIsFinalisedOnRelease) {
  const int64_t run = CreateRun(MakeLeads(10), 1);
  inspect_->Exec(absl::StrCat(R"sql(
CREATE FUNCTION test_cancel_paused_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE outbound_call_runs SET cancel_requested = true, version = version + 1, updated_at = now()
   WHERE id = NEW.run_id AND status = 'paused' AND NOT cancel_requested;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER test_cancel_paused_run AFTER UPDATE ON outbound_call_jobs
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (NEW.run_id = )sql",
                              run, R"sql( AND OLD.status IN ('dialing', 'calling')
        AND NEW.status NOT IN ('queued', 'dialing', 'calling'))
  EXECUTE FUNCTION test_cancel_paused_run();)sql"));
  // Long calls: the pause lands while the first call is in flight.
  Worker& worker = AddWorker("w1", {.call_duration = absl::Milliseconds(1500)});
  worker.scheduler->Start();
  ASSERT_TRUE(WaitUntil([&] {
    const std::vector<JobRow> jobs = inspect_->Jobs(run);
    return std::any_of(jobs.begin(), jobs.end(),
                       [](const JobRow& job) { return job.status == "calling"; });
  })) << "no call started";
  absl::StatusOr<store::ChangedRun> paused =
      runs_->ApplyAction(business_id_, run, RunAction::kPause);
  ASSERT_TRUE(paused.ok()) << paused.status();
  ASSERT_EQ(paused->run.status, RunStatus::kPaused);

  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.in_progress == 0 && r.worker.empty(); },
      "drained and released", &done));
  EXPECT_EQ(done.status, "cancelled") << done;
  EXPECT_TRUE(done.ended_at.has_value());
  EXPECT_EQ(done.queued, 0);
  EXPECT_EQ(done.cancelled, 9);
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  ExpectConsistent(run, done, jobs, Dials(run));
  absl::StatusOr<store::ChangedRun> resumed =
      runs_->ApplyAction(business_id_, run, RunAction::kResume);
  EXPECT_EQ(resumed.status().code(), absl::StatusCode::kFailedPrecondition) << resumed.status();
}

// Item 4 (sweep): a paused run left with a pending cancel and no live lease
// (what a lost cancel looked like) is finalised by the sweep; one whose
// holder is alive is left to its holder.
TEST_F(SchedulerTest, SweepFinalisesAPendingCancelOfAPausedRunWithoutALiveLease) {
  const int64_t free_run = CreateRun(MakeLeads(4), 2);
  const int64_t expired_run = CreateRun(MakeLeads(4, 11), 2);
  const int64_t live_run = CreateRun(MakeLeads(4, 21), 2);
  for (int64_t run : {free_run, expired_run, live_run}) {
    ASSERT_TRUE(runs_->ApplyAction(business_id_, run, RunAction::kPause).ok());
  }
  inspect_->Exec(absl::StrCat(
      "UPDATE outbound_call_runs SET cancel_requested = true, version = version + 1 WHERE id IN (",
      free_run, ", ", expired_run, ", ", live_run,
      ");"
      "UPDATE outbound_call_runs SET locked_by_worker = 'dead', lock_ts = now() - interval "
      "'1 hour' WHERE id = ",
      expired_run,
      ";"
      "UPDATE outbound_call_runs SET locked_by_worker = 'alive', lock_ts = now() + interval "
      "'1 hour' WHERE id = ",
      live_run));
  Worker& worker = AddWorker("w1");
  worker.scheduler->SweepNow();
  for (int64_t run : {free_run, expired_run}) {
    const RunRow row = inspect_->Run(run);
    EXPECT_EQ(row.status, "cancelled") << "run " << run << " " << row;
    EXPECT_EQ(row.queued, 0);
    EXPECT_EQ(row.cancelled, 4);
    EXPECT_TRUE(row.ended_at.has_value());
    EXPECT_TRUE(CountersExact(row, inspect_->Jobs(run)));
  }
  EXPECT_EQ(inspect_->Run(live_run).status, "paused") << "a live holder finalises its own run";
}

// Item 9: recording that a call started bumps the run's version in the same
// transaction, so a reader of job transitions since version V sees the
// calling transition and the run's version covers it.
TEST_F(SchedulerTest, CallStartBumpsTheRunVersion) {
  const int64_t run = CreateRun(MakeLeads(3), 1);
  store::LeaseStore leases(database_.get(), kLeaseTtl);
  const store::Lease lease = AcquireOnlyRun(leases, "A");
  ASSERT_EQ(lease.run_id, run);
  absl::StatusOr<std::vector<store::ClaimedJob>> claimed = leases.Claim(lease, 1);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 1u);
  const std::string version_sql =
      absl::StrCat("SELECT version FROM outbound_call_runs WHERE id = ", run);
  const int64_t before = inspect_->Int(version_sql);

  const store::CallStart start{(*claimed)[0].job_id, (*claimed)[0].token, "SIMx-C-version"};
  ASSERT_TRUE(leases.RecordCalls(lease, {start}, {}).ok());
  EXPECT_GT(inspect_->Int(version_sql), before) << "a watcher must learn of the calling state";
  store::ProgressStore progress(database_.get());
  absl::StatusOr<store::RunProgress> read = progress.ReadRun(business_id_, run, before, 100);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->jobs.size(), 1u);
  EXPECT_EQ(read->jobs[0].job_id, (*claimed)[0].job_id);
  EXPECT_EQ(read->jobs[0].status, JobStatus::kCalling);
  EXPECT_LE(read->jobs[0].run_version, read->run.version)
      << "a job transition newer than its run's version";
  // A repeated record changes nothing.
  const int64_t after = inspect_->Int(version_sql);
  ASSERT_TRUE(leases.RecordCalls(lease, {start}, {}).ok());
  EXPECT_EQ(inspect_->Int(version_sql), after);
}

// Item 9, with batched claims: a claim's jobs are all handed to the dialer
// in the round that claimed them, before anything else is claimed. While the
// worker is inside the 5th dial, the claimed-but-undialed jobs all come from
// the one claim statement being dialed (one dial_started_at), so a crash at
// that moment leaves at most one claim's jobs (never more than the run's
// free slots) with an unknown outcome, which the next holder fails as
// "dial outcome unknown" and never redials.
TEST_F(SchedulerTest, AClaimsJobsAreDialedBeforeAnythingElseIsClaimed) {
  const int64_t run = CreateRun(MakeLeads(60), 40);
  GateDialer* gate = nullptr;
  Worker& worker = AddWorker(
      "w1", {.call_duration = absl::Milliseconds(300),
             .wrap_dialer = [&gate](dialer::Dialer* inner) -> std::unique_ptr<dialer::Dialer> {
               auto wrapped = std::make_unique<GateDialer>(inner, 5);
               gate = wrapped.get();
               return wrapped;
             }});
  worker.scheduler->Start();
  ASSERT_TRUE(WaitUntil([&] { return gate->held_job() != 0; }));
  std::set<int64_t> dialed;
  for (const DialLine& dial : Dials(run)) dialed.insert(dial.job_id);
  std::vector<std::string> undialed;
  std::set<absl::Time> claims;
  for (const JobRow& job : inspect_->Jobs(run)) {
    if (job.status == "dialing" && dialed.count(job.id) == 0) {
      undialed.push_back(absl::StrCat(job.id));
      if (job.dial_started_at) claims.insert(*job.dial_started_at);
    }
  }
  EXPECT_EQ(dialed.size(), 4u) << "the first four dials of the batch are placed";
  EXPECT_LE(undialed.size(), 40u - 4u) << absl::StrJoin(undialed, ", ");
  EXPECT_GE(undialed.size(), 1u) << "the held dial's job is claimed";
  EXPECT_EQ(claims.size(), 1u) << "undialed jobs from more than one claim: "
                               << absl::StrJoin(undialed, ", ");
  gate->Open();
  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed"; }, "completed", &done));
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  ExpectConsistent(run, done, jobs, Dials(run));
  EXPECT_TRUE(AttemptsAre(jobs, 1, [](const JobRow&) { return true; }));
}

// Item 5: the commit of a claim is cut (the proxy forwards COMMIT, drops the
// answer and the connection): the claim committed but the worker got
// UNAVAILABLE and never learned the tokens. It chose the claim's id, though:
// as soon as the database answers it finds the jobs dialing under that id,
// knows it never dialed them, and queues them again (issue 14). Each lead is
// dialed exactly once, none is failed as unknown, the run completes with its
// first holder.
TEST_F(SchedulerTest, ClaimWhoseCommitIsInDoubtIsQueuedAgainByItsHolder) {
  CommitCuttingProxy proxy(db_.app_url());
  proxy.Arm("dial_lock_token = $8::text");
  const int64_t run = CreateRun(MakeLeads(8), 3);
  Worker& worker = AddWorker("w1", {.database_url = proxy.url()});
  worker.scheduler->Start();
  ASSERT_TRUE(WaitUntil([&] { return proxy.cuts() == 1; }));
  // The cut claim committed: its jobs are dialing and were never dialed
  // (the snapshot may also hold a later claim about to be dialed).
  std::map<int64_t, std::string> cut;  // job id -> token of the cut claim
  const std::vector<DialLine> early = Dials(run);
  std::set<int64_t> dialed_jobs;
  for (const DialLine& dial : early) dialed_jobs.insert(dial.job_id);
  for (const JobRow& job : inspect_->Jobs(run)) {
    if (job.status == "dialing" && job.call_sid.empty() && dialed_jobs.count(job.id) == 0) {
      cut[job.id] = job.token;
    }
  }
  ASSERT_FALSE(cut.empty()) << "the cut claim left no dialing job";

  RunRow done;
  ASSERT_TRUE(WaitForRun(
      run, [](const RunRow& r) { return r.status == "completed"; }, "completed", &done,
      absl::Seconds(20)));
  EXPECT_EQ(done.epoch, 1) << "the run stayed with its first holder";
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  const std::vector<DialLine> dials = Dials(run);
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_TRUE(AtMostOnce(dials));
  EXPECT_TRUE(DialsMatchJobs(reference_, run, jobs, dials));
  std::map<int64_t, int> dials_per_job;
  for (const DialLine& dial : dials) ++dials_per_job[dial.job_id];
  for (const JobRow& job : jobs) {
    EXPECT_EQ(dials_per_job[job.id], 1) << "job " << job.id;
    EXPECT_FALSE(absl::StartsWith(job.error, kDialOutcomeUnknown)) << job.error;
    if (cut.count(job.id) == 0) continue;
    // Queued again: its attempt given back, claimed again with a new token.
    EXPECT_EQ(job.attempts, 1) << "job " << job.id;
    EXPECT_NE(job.token, cut[job.id]) << "job " << job.id;
    for (const DialLine& dial : dials) {
      EXPECT_NE(dial.token, cut[job.id]) << "a token of the cut claim was dialed";
    }
  }
  // Stopped before the proxy goes away.
  worker.scheduler->Shutdown(absl::ZeroDuration());
}

}  // namespace
}  // namespace campaign
