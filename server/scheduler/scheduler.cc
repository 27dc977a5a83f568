#include "server/scheduler/scheduler.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "server/util/crypto.h"
#include "server/util/logging.h"
#include "server/util/status_macros.h"

namespace campaign::scheduler {
namespace {

// Consecutive unexpected errors on one run before the worker fails it.
constexpr int kMaxConsecutiveErrors = 5;
// Longest pause after database errors.
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

bool IsFinal(std::optional<RunStatus> status) { return status && IsTerminal(*status); }

// What is known of a dialing job whose call nobody can find: when and by
// whom it was claimed (`how` says why the claimer never recorded a call id).
std::string UnknownDialError(const store::ActiveJob& job, absl::string_view claimer,
                             absl::string_view how) {
  return absl::StrCat(
      "dial outcome unknown: claimed at ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", job.dial_started_at, absl::UTCTimeZone()), " by ",
      claimer.empty() ? "an earlier holder of the run" : absl::StrCat("worker ", claimer), " (",
      how, "); no call id was recorded and the provider has no record of token ", job.token,
      "; not redialed");
}

SchedulerMetrics* NoMetrics() {
  static SchedulerMetrics* const none = new SchedulerMetrics();
  return none;
}

}  // namespace

std::string DefaultWorkerId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host[0] != '\0' ? host : "unknown", ":", getpid(), ":", RandomToken(6));
}

Scheduler::Scheduler(store::LeaseRepository* leases, dialer::Dialer* dialer,
                     SchedulerOptions options)
    : leases_(leases), dialer_(dialer), options_(std::move(options)) {
  if (options_.worker_id.empty()) options_.worker_id = DefaultWorkerId();
  if (options_.metrics == nullptr) options_.metrics = NoMetrics();
  dialer_->SetOutcomeCallback(
      [this](const dialer::DialRequest& request, const std::string& call_sid,
             const dialer::CallOutcome& outcome) { OnOutcome(request, call_sid, outcome); });
}

Scheduler::~Scheduler() { Shutdown(absl::ZeroDuration()); }

void Scheduler::Start() {
  absl::MutexLock lock(&signal_mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
  spdlog::info("scheduler worker {} started", options_.worker_id);
}

void Scheduler::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&signal_mu_);
    if (!started_ || !thread_.joinable()) return;
    if (!draining_) {
      draining_ = true;
      drain_deadline_ = absl::Now() + grace;
    } else {
      drain_deadline_ = std::min(drain_deadline_, absl::Now() + grace);
    }
  }
  thread_.join();
}

std::vector<int64_t> Scheduler::HeldRuns() const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> ids;
  for (const auto& [id, run] : runs_) ids.push_back(id);
  return ids;
}

int Scheduler::SweepNow() {
  absl::MutexLock lock(&mu_);
  FinalizeAbandonedCancels();
  const size_t before = runs_.size();
  AcquireRuns(store::AcquireMode::kExpired);
  return static_cast<int>(runs_.size() - before);
}

void Scheduler::OnOutcome(const dialer::DialRequest& request, const std::string& call_sid,
                          const dialer::CallOutcome& outcome) {
  absl::MutexLock lock(&signal_mu_);
  outcomes_.push_back(Outcome{request, call_sid, outcome});
}

void Scheduler::Loop() {
  absl::BitGen random;
  for (;;) {
    bool draining = false;
    absl::Time drain_deadline;
    {
      absl::MutexLock lock(&signal_mu_);
      draining = draining_;
      drain_deadline = drain_deadline_;
    }
    absl::Duration wait = absl::ZeroDuration();
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      more_work_ = false;
      if (!draining && now >= next_sweep_) {
        FinalizeAbandonedCancels();
        AcquireRuns(store::AcquireMode::kExpired);
        next_sweep_ = now + options_.sweep_interval * absl::Uniform(random, 0.5, 1.5);
      }
      if (!draining && now >= next_acquire_) {
        AcquireRuns(store::AcquireMode::kFree);
        next_acquire_ = now + options_.poll_interval;
      }
      if (now >= next_heartbeat_) {
        HeartbeatAll();
        next_heartbeat_ = now + options_.heartbeat_interval;
      }
      RecordDelivered();
      if (now >= next_reconcile_) {
        PollRemoteCalls();
        next_reconcile_ = now + options_.reconcile_interval;
      }
      if (now >= next_untracked_check_) {
        ReconcileUntracked();
        next_untracked_check_ = now + options_.lease_ttl;
      }
      if (!draining && !runs_.empty()) {
        // Round robin: start after the run that went first last time.
        std::vector<int64_t> order;
        for (const auto& [id, run] : runs_) order.push_back(id);
        std::rotate(order.begin(), std::upper_bound(order.begin(), order.end(), next_run_turn_),
                    order.end());
        next_run_turn_ = order.front();
        for (int64_t id : order) {
          auto it = runs_.find(id);
          if (it != runs_.end()) Dispatch(it->second);
        }
      }
      ReleaseIdleRuns();
      if (draining) {
        bool calls_left = false;
        for (const auto& [id, run] : runs_) calls_left |= !run.calls.empty();
        if (!calls_left || absl::Now() >= drain_deadline) {
          ReleaseAll();
          spdlog::info("scheduler worker {} stopped", options_.worker_id);
          return;
        }
      }
      if (!more_work_) wait = options_.poll_interval + backoff_;
    }
    // Sleep until an outcome arrives, a shutdown begins, or the wait ends.
    absl::MutexLock lock(&signal_mu_);
    std::pair<Scheduler*, bool> seen{this, draining};
    signal_mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::pair<Scheduler*, bool>* arg) ABSL_NO_THREAD_SAFETY_ANALYSIS {
              return !arg->first->outcomes_.empty() || arg->first->draining_ != arg->second;
            },
            &seen),
        wait);
  }
}

void Scheduler::AcquireRuns(store::AcquireMode mode) {
  const int room = options_.max_runs - static_cast<int>(runs_.size());
  if (room <= 0) return;
  absl::StatusOr<std::vector<store::AcquiredRun>> acquired =
      leases_->Acquire(options_.worker_id, room, mode, options_.max_runs_per_business);
  if (!acquired.ok()) {
    spdlog::warn("worker {} cannot acquire runs: {}", options_.worker_id,
                 acquired.status().ToString());
    backoff_ = std::min(kMaxBackoff, std::max(options_.poll_interval, backoff_ * 2));
    return;
  }
  backoff_ = absl::ZeroDuration();
  for (store::AcquiredRun& run : *acquired) {
    if (run.previous_worker.empty()) {
      spdlog::info("worker {} acquired run {} (epoch {})", options_.worker_id, run.lease.run_id,
                   run.lease.epoch);
    } else {
      options_.metrics->LeaseTakenOver();
      spdlog::warn("worker {} took over run {} from {} (epoch {})", options_.worker_id,
                   run.lease.run_id, run.previous_worker, run.lease.epoch);
    }
    HeldRun& held = runs_[run.lease.run_id];
    held.lease = run.lease;
    held.concurrency = run.concurrency;
    held.previous_worker = run.previous_worker;
    absl::StatusOr<store::RunControl> control = leases_->Control(held.lease);
    if (!control.ok()) {
      if (HandleError(held, control.status())) continue;
    } else {
      held.control = *control;
    }
    // Whatever is dialing or calling now was started by another worker (or
    // by an earlier life of this one): find out what became of it.
    Reconcile(held, absl::ZeroDuration());
  }
}

void Scheduler::FinalizeAbandonedCancels() {
  absl::StatusOr<int64_t> finalised = leases_->FinalizeAbandonedCancels(options_.max_runs);
  if (!finalised.ok()) {
    spdlog::warn("worker {} cannot finalise abandoned cancels: {}", options_.worker_id,
                 finalised.status().ToString());
  } else if (*finalised > 0) {
    spdlog::info("worker {} finalised {} cancel requests no holder would", options_.worker_id,
                 *finalised);
  }
}

void Scheduler::ReconcileUntracked() {
  std::vector<int64_t> ids;
  for (const auto& [id, run] : runs_) ids.push_back(id);
  for (int64_t id : ids) {
    auto it = runs_.find(id);
    // Older than the lease TTL: no claim of this worker is still on its way
    // to a dial (the stall guard undoes those), so an untracked dialing job
    // is a claim whose commit this worker never learned of.
    if (it != runs_.end()) Reconcile(it->second, options_.lease_ttl);
  }
}

void Scheduler::Reconcile(HeldRun& run, absl::Duration min_age) {
  absl::StatusOr<std::vector<store::ActiveJob>> active = leases_->ActiveJobs(run.lease);
  if (!active.ok()) {
    HandleError(run, active.status());
    return;
  }
  const bool acquired = min_age == absl::ZeroDuration();
  const absl::Time cutoff = absl::Now() - min_age;
  std::set<int64_t> unstarted;
  for (const store::ClaimedJob& job : run.unstarted) unstarted.insert(job.job_id);
  std::vector<store::JobResult> results;
  int looked_up = 0;
  for (const store::ActiveJob& job : *active) {
    if (run.calls.count(job.job_id) > 0) continue;  // ours, in progress
    if (unstarted.count(job.job_id) > 0) continue;  // ours, undone later
    if (job.dial_started_at > cutoff) continue;
    ++looked_up;
    absl::StatusOr<std::optional<dialer::CallState>> state =
        job.call_sid.empty() ? dialer_->LookupByToken(job.token)
                             : dialer_->LookupByCallId(job.call_sid);
    if (!state.ok()) {
      spdlog::warn("run {}: cannot look up job {} at the provider: {}; retrying later",
                   run.lease.run_id, job.job_id, state.status().ToString());
      options_.metrics->JobReconciled("error");
      run.calls[job.job_id] = Call{job.job_id, job.token, job.call_sid, /*remote=*/true};
      continue;
    }
    if (!state->has_value()) {
      // Never blindly again: a dial whose fate is unknown is failed, not requeued.
      std::string error;
      if (!job.call_sid.empty()) {
        error = absl::StrCat("call lost: the provider has no record of call ", job.call_sid);
      } else if (acquired) {
        error = UnknownDialError(job, run.previous_worker,
                                 "its lease ended before it recorded a call id");
      } else {
        error = UnknownDialError(job, options_.worker_id,
                                 "the commit of its claim was in doubt, so it never dialed");
      }
      results.push_back(store::JobResult{job.job_id, job.token, JobStatus::kFailed, error, ""});
      options_.metrics->JobReconciled("lost");
      continue;
    }
    const dialer::CallState& call = **state;
    if (call.outcome) {
      results.push_back(store::JobResult{job.job_id, job.token, call.outcome->status,
                                         call.outcome->error, call.call_sid});
      options_.metrics->JobReconciled("finished");
      continue;
    }
    if (job.call_sid.empty()) {
      absl::Status recorded =
          leases_->RecordCallStarted(run.lease, job.job_id, job.token, call.call_sid);
      if (!recorded.ok() && HandleError(run, recorded)) return;
    }
    run.calls[job.job_id] = Call{job.job_id, job.token, call.call_sid, /*remote=*/true};
    options_.metrics->JobReconciled("in_progress");
  }
  if (looked_up > 0) {
    spdlog::info("run {}: reconciled {} {} jobs ({} finished)", run.lease.run_id, looked_up,
                 acquired ? "active" : "untracked dialing", results.size());
  }
  if (!results.empty()) Record(run, std::move(results));
}

void Scheduler::HeartbeatAll() {
  std::vector<int64_t> ids;
  for (const auto& [id, run] : runs_) ids.push_back(id);
  for (int64_t id : ids) {
    auto it = runs_.find(id);
    if (it == runs_.end()) continue;
    absl::StatusOr<store::RunControl> control = leases_->Heartbeat(it->second.lease);
    if (!control.ok()) {
      HandleError(it->second, control.status());
    } else {
      it->second.control = *control;
    }
  }
}

void Scheduler::RecordDelivered() {
  std::deque<Outcome> delivered;
  {
    absl::MutexLock lock(&signal_mu_);
    delivered.swap(outcomes_);
  }
  std::map<int64_t, std::vector<store::JobResult>> by_run;
  for (const Outcome& outcome : delivered) {
    auto it = runs_.find(outcome.request.run_id);
    // A run this worker no longer holds: its new holder reconciles the call.
    if (it == runs_.end() || it->second.calls.count(outcome.request.job_id) == 0) continue;
    by_run[outcome.request.run_id].push_back(
        store::JobResult{outcome.request.job_id, outcome.request.token, outcome.outcome.status,
                         outcome.outcome.error, outcome.call_sid});
  }
  for (auto& [run_id, results] : by_run) {
    auto it = runs_.find(run_id);
    if (it != runs_.end()) Record(it->second, std::move(results));
  }
}

void Scheduler::PollRemoteCalls() {
  std::vector<int64_t> ids;
  for (const auto& [id, run] : runs_) ids.push_back(id);
  for (int64_t id : ids) {
    auto it = runs_.find(id);
    if (it == runs_.end()) continue;
    HeldRun& run = it->second;
    std::vector<store::JobResult> results;
    for (auto& [job_id, call] : run.calls) {
      if (!call.remote) continue;
      absl::StatusOr<std::optional<dialer::CallState>> state =
          call.call_sid.empty() ? dialer_->LookupByToken(call.token)
                                : dialer_->LookupByCallId(call.call_sid);
      if (!state.ok()) continue;  // try again next time
      if (!state->has_value()) {
        results.push_back(store::JobResult{
            job_id, call.token, JobStatus::kFailed,
            call.call_sid.empty()
                ? absl::StrCat("dial outcome unknown: no call id was recorded and the provider "
                               "has no record of token ",
                               call.token, "; not redialed")
                : absl::StrCat("call lost: the provider has no record of call ", call.call_sid),
            ""});
      } else if ((*state)->outcome) {
        results.push_back(store::JobResult{job_id, call.token, (*state)->outcome->status,
                                           (*state)->outcome->error, (*state)->call_sid});
      }
    }
    if (!results.empty()) Record(run, std::move(results));
  }
}

void Scheduler::Dispatch(HeldRun& run) {
  if (!RetryPending(run)) return;
  if (run.control.cancel_requested && !IsFinal(run.control.status) && !run.cancel_finalized) {
    absl::StatusOr<int64_t> cancelled = leases_->FinalizeCancel(run.lease);
    if (!cancelled.ok()) {
      HandleError(run, cancelled.status());
      return;
    }
    run.cancel_finalized = true;
    spdlog::info("run {} cancelled by request: {} queued jobs cancelled, {} calls finishing",
                 run.lease.run_id, *cancelled, run.calls.size());
    absl::StatusOr<store::RunControl> control = leases_->Control(run.lease);
    if (!control.ok()) {
      HandleError(run, control.status());
      return;
    }
    run.control = *control;
  }
  if (!run.control.Dispatchable()) return;
  // Runs take turns: at most max_claim_batch dials per run per round.
  const int turn =
      std::min(run.concurrency - static_cast<int>(run.calls.size()), options_.max_claim_batch);
  const int64_t run_id = run.lease.run_id;
  for (int dialed = 0; dialed < turn; ++dialed) {
    // A dial may drop the run (lease lost): look it up again each time.
    auto it = runs_.find(run_id);
    if (it == runs_.end() || !ClaimAndDial(it->second)) return;
  }
  if (turn > 0) more_work_ = true;
}

bool Scheduler::ClaimAndDial(HeldRun& run) {
  const int64_t run_id = run.lease.run_id;
  // The claim is the pre-dial check: one statement that locks the run row,
  // proves the lease (and renews it) and re-checks that the run is running
  // with no cancel requested, so a Stop, Cancel or Pause that commits first
  // wins. Only the job dialed right now is claimed: a crash leaves at most
  // that one job with an unknown outcome.
  const absl::Time claim_started = absl::Now();
  absl::StatusOr<std::vector<store::ClaimedJob>> claimed = leases_->Claim(run.lease, 1);
  if (!claimed.ok()) {
    HandleError(run, claimed.status());
    return false;
  }
  if (claimed->empty()) {
    // Nothing claimed: learn why (paused, stopped, cancel, lease lost, or
    // nothing left) before the next round.
    absl::StatusOr<store::RunControl> control = leases_->Control(run.lease);
    if (!control.ok()) {
      HandleError(run, control.status());
      return false;
    }
    run.control = *control;
    if (run.control.Dispatchable() && run.control.queued == 0 && run.control.in_progress == 0 &&
        run.calls.empty()) {
      absl::StatusOr<bool> completed = leases_->CompleteIfDone(run.lease);
      if (!completed.ok()) {
        HandleError(run, completed.status());
        return false;
      }
      if (*completed) run.control.status = RunStatus::kCompleted;
    }
    return false;
  }
  consecutive_errors_.erase(run_id);
  DialClaimed(run, claimed->front(), claim_started);
  auto it = runs_.find(run_id);
  return it != runs_.end() && it->second.unstarted.empty() && it->second.unrecorded.empty();
}

void Scheduler::DialClaimed(HeldRun& run, const store::ClaimedJob& job, absl::Time claim_started) {
  if (absl::Now() - claim_started > options_.lease_ttl / 2) {
    // This worker stalled (paused, swapped, starved) between the claim (which
    // renewed the lease) and now: another worker may be taking the run over.
    // Do not dial on a lease that may be gone; the claim is undone.
    spdlog::warn("run {}: worker {} stalled before dialing job {}; not dialing it",
                 run.lease.run_id, options_.worker_id, job.job_id);
    absl::Status undone = UndoClaim(run, job);
    if (!undone.ok() && !HandleError(run, undone)) run.unstarted.push_back(job);
    return;
  }
  dialer::DialRequest request{run.lease.business_id, run.lease.run_id, job.job_id,
                              job.lead_id,           job.phone,        job.token,
                              options_.worker_id};
  absl::StatusOr<std::string> call_sid = dialer_->Dial(request);
  if (!call_sid.ok()) {
    Record(run, {store::JobResult{job.job_id, job.token, JobStatus::kFailed,
                                  absl::StrCat("dial failed: ", call_sid.status().message()), ""}});
    return;
  }
  run.calls[job.job_id] = Call{job.job_id, job.token, *call_sid, /*remote=*/false};
  absl::Status recorded = leases_->RecordCallStarted(run.lease, job.job_id, job.token, *call_sid);
  if (!recorded.ok()) HandleError(run, recorded);
}

absl::Status Scheduler::UndoClaim(HeldRun& run, const store::ClaimedJob& job) {
  ASSIGN_OR_RETURN(const JobStatus undone, leases_->ReleaseClaim(run.lease, job));
  spdlog::info("run {}: claim of job {} undone: {}", run.lease.run_id, job.job_id,
               JobStatusName(undone));
  return absl::OkStatus();
}

bool Scheduler::RetryPending(HeldRun& run) {
  if (!run.unrecorded.empty()) {
    std::vector<store::JobResult> results;
    results.swap(run.unrecorded);
    const int64_t run_id = run.lease.run_id;
    Record(run, std::move(results));
    auto it = runs_.find(run_id);
    if (it == runs_.end() || !it->second.unrecorded.empty()) return false;
  }
  while (!run.unstarted.empty()) {
    absl::Status undone = UndoClaim(run, run.unstarted.back());
    if (!undone.ok()) {
      HandleError(run, undone);
      return false;
    }
    run.unstarted.pop_back();
  }
  return true;
}

void Scheduler::Record(HeldRun& run, std::vector<store::JobResult> results) {
  absl::StatusOr<store::RunControl> control = leases_->RecordOutcomes(run.lease, results);
  if (!control.ok()) {
    // Kept for the next round unless the run was dropped (its new holder
    // reconciles the calls through the provider).
    if (!HandleError(run, control.status())) {
      run.unrecorded.insert(run.unrecorded.end(), results.begin(), results.end());
    }
    return;
  }
  run.control = *control;
  for (const store::JobResult& result : results) run.calls.erase(result.job_id);
  if (run.control.status == RunStatus::kCompleted) {
    spdlog::info("run {} completed", run.lease.run_id);
  }
}

bool Scheduler::HandleError(HeldRun& run, const absl::Status& status) {
  const int64_t run_id = run.lease.run_id;
  if (store::IsLeaseLost(status)) {
    spdlog::warn("worker {} lost its lease on run {}: {}; letting go", options_.worker_id, run_id,
                 status.message());
    consecutive_errors_.erase(run_id);
    runs_.erase(run_id);
    return true;
  }
  if (status.code() == absl::StatusCode::kUnavailable ||
      status.code() == absl::StatusCode::kDeadlineExceeded) {
    // The database is away: nothing is dialed until claims can be recorded.
    backoff_ = std::min(kMaxBackoff, std::max(options_.poll_interval, backoff_ * 2));
    spdlog::warn("run {}: database unavailable ({}); backing off {}", run_id, status.message(),
                 absl::FormatDuration(backoff_));
    return false;
  }
  const int errors = ++consecutive_errors_[run_id];
  spdlog::error("run {}: {} (error {} of {})", run_id, status.ToString(), errors,
                kMaxConsecutiveErrors);
  if (errors >= kMaxConsecutiveErrors) {
    absl::Status failed = leases_->FailRun(run.lease, status.message());
    spdlog::error("run {} failed: {}{}", run_id, status.message(),
                  failed.ok() ? "" : absl::StrCat(" (could not record: ", failed.message(), ")"));
    absl::Status released = leases_->Release(run.lease);
    (void)released;
    consecutive_errors_.erase(run_id);
    runs_.erase(run_id);
    return true;
  }
  return false;
}

void Scheduler::ReleaseIdleRuns() {
  std::vector<int64_t> idle;
  for (const auto& [id, run] : runs_) {
    if (!run.calls.empty()) continue;
    const bool finished = IsFinal(run.control.status);
    const bool paused = run.control.status == RunStatus::kPaused;
    if (finished || paused) idle.push_back(id);
  }
  for (int64_t id : idle) {
    HeldRun& run = runs_[id];
    absl::Status released = leases_->Release(run.lease);
    if (!released.ok()) {
      if (!HandleError(run, released)) continue;
    } else {
      spdlog::info("worker {} released run {} ({})", options_.worker_id, id,
                   run.control.status ? RunStatusName(*run.control.status) : "unknown");
    }
    runs_.erase(id);
  }
}

void Scheduler::ReleaseAll() {
  for (auto& [id, run] : runs_) {
    absl::Status released = leases_->Release(run.lease);
    if (released.ok()) {
      spdlog::info("worker {} handed run {} back ({} calls still in progress)", options_.worker_id,
                   id, run.calls.size());
    } else {
      spdlog::warn("worker {} could not release run {}: {}", options_.worker_id, id,
                   released.ToString());
    }
  }
  runs_.clear();
}

}  // namespace campaign::scheduler
