#include "server/scheduler/claimer.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "server/util/logging.h"
#include "server/util/status_macros.h"

namespace campaign::scheduler {

int Claimer::Wanted(const HeldRun& run, int budget, absl::Time now) const {
  if (!run.control.Dispatchable()) return 0;
  if (run.control.queued <= 0 && now < run.next_probe) return 0;
  if (now < run.next_token) return 0;
  return std::max(0, std::min({run.FreeSlots(), budget, max_batch_}));
}

absl::StatusOr<std::vector<store::ClaimedJob>> Claimer::Claim(HeldRun& run, int budget) {
  const absl::Time now = absl::Now();
  const int wanted = Wanted(run, budget, now);
  if (wanted == 0) return std::vector<store::ClaimedJob>{};
  store::ClaimRate rate;
  ASSIGN_OR_RETURN(std::vector<store::ClaimedJob> jobs, leases_->Claim(run.lease, wanted, &rate));
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
    // The claim moved them from queued to in progress; the next read says
    // exactly, this keeps the estimate close meanwhile.
    run.control.queued = std::max<int64_t>(0, run.control.queued - jobs.size());
    run.control.in_progress += jobs.size();
    return jobs;
  }
  // The bucket was empty: nothing to learn about the run itself.
  if (rate.limited) return jobs;
  // Nothing claimed: learn why (paused, stopped, cancel, nothing left).
  ASSIGN_OR_RETURN(run.control, leases_->Control(run.lease));
  run.next_probe = now + probe_interval_;
  if (run.control.Dispatchable() && run.control.queued == 0 && run.control.in_progress == 0 &&
      run.calls.empty()) {
    ASSIGN_OR_RETURN(const bool completed, leases_->CompleteIfDone(run.lease));
    if (completed) run.control.status = RunStatus::kCompleted;
  }
  return jobs;
}

}  // namespace campaign::scheduler
