#include "server/scheduler/claimer.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "server/scheduler/rule_keeper.h"
#include "server/util/logging.h"
#include "server/util/status_macros.h"

namespace campaign::scheduler {

int Claimer::Wanted(const HeldRun& run, int budget, absl::Time now) const {
  if (!run.control.Dispatchable()) return 0;
  if ((run.control.queued <= 0 || run.waiting) && now < run.next_probe) return 0;
  if (now < run.next_token) return 0;
  return std::max(0, std::min({run.FreeSlots(), budget, max_batch_}));
}

absl::StatusOr<std::vector<store::ClaimedJob>> Claimer::Claim(HeldRun& run, int budget,
                                                              absl::Time rules_now,
                                                              std::optional<uint64_t>* commit_lsn,
                                                              const std::string& claim_id) {
  if (commit_lsn != nullptr) commit_lsn->reset();
  const absl::Time now = absl::Now();
  const int wanted = Wanted(run, budget, now);
  if (wanted == 0 || RuleKeeper::PastEnd(run, rules_now)) return std::vector<store::ClaimedJob>{};
  store::ClaimRate rate;
  store::ClaimOptions options;
  options.max_jobs = wanted;
  options.now = rules_now;
  options.read_commit_lsn = commit_lsn != nullptr;
  options.claim_id = claim_id;
  if (run.policy.max_dials_per_number > 0) {
    options.per_number_window = absl::Hours(24) * std::max(1, run.policy.per_number_window_days);
  }
  ASSIGN_OR_RETURN(std::vector<store::ClaimedJob> jobs, leases_->Claim(run.lease, options, &rate));
  if (commit_lsn != nullptr) *commit_lsn = rate.commit_lsn;
  // The next token's time is counted from the answer (a little late rather
  // than early: a claim before it would find the bucket empty).
  run.next_token = rate.next_token_in > absl::ZeroDuration() ? absl::Now() + rate.next_token_in
                                                             : absl::InfinitePast();
  if (!rate.limited) {
    run.rate_waiting_since = absl::InfiniteFuture();
  } else {
    if (metrics_ != nullptr) metrics_->ClaimRateLimited();
    if (run.rate_waiting_since == absl::InfiniteFuture()) {
      spdlog::info("run {} of business {} is dialing at its calls-per-second limit",
                   run.lease.run_id, run.lease.business_id);
    }
    // Served: to the back of the business's queue on this worker.
    if (!jobs.empty() || run.rate_waiting_since == absl::InfiniteFuture()) {
      run.rate_waiting_since = now;
    }
  }
  if (!jobs.empty()) {
    run.waiting = false;
    // The claim moved them from queued to in progress; the next read says
    // exactly, this keeps the estimate close meanwhile.
    run.control.queued = std::max<int64_t>(0, run.control.queued - jobs.size());
    run.control.in_progress += jobs.size();
    return jobs;
  }
  // The bucket was empty: nothing to learn about the run itself.
  if (rate.limited) return jobs;
  // Nothing claimed: learn why (paused, stopped, cancel, nothing left, or
  // nothing due yet: then the run shows when its next job is, and why).
  ASSIGN_OR_RETURN(store::RunWaiting waiting, leases_->NoteWaiting(run.lease, rules_now));
  run.control = waiting.control;
  run.waiting = run.control.queued > 0;
  run.next_probe = now + probe_interval_;
  if (run.control.Dispatchable() && run.control.queued == 0 && run.control.in_progress == 0 &&
      run.calls.empty()) {
    ASSIGN_OR_RETURN(const bool completed, leases_->CompleteIfDone(run.lease));
    if (completed) run.control.status = RunStatus::kCompleted;
  }
  return jobs;
}

}  // namespace campaign::scheduler
