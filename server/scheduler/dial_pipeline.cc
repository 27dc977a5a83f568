#include "server/scheduler/dial_pipeline.h"

#include <utility>

#include "absl/time/clock.h"
#include "server/util/logging.h"

namespace campaign::scheduler {

int DialPipeline::Dial(HeldRun& run, const std::vector<store::ClaimedJob>& jobs,
                       absl::Time claimed_at) {
  int dialed = 0;
  for (const store::ClaimedJob& job : jobs) {
    // Checked before every dial, not once per batch: a worker stopped in the
    // middle of a batch (SIGSTOP, swapped out) may have lost the run by the
    // time it resumes, and must not place the rest.
    const absl::Time now = absl::Now();
    if (now - claimed_at > stall_limit_) {
      spdlog::warn(
          "run {}: worker {} stalled {} between claiming jobs and dialing them; not dialing "
          "the {} left",
          run.lease.run_id, worker_, absl::FormatDuration(now - claimed_at), jobs.size() - dialed);
      run.unstarted.insert(run.unstarted.end(), jobs.begin() + dialed, jobs.end());
      break;
    }
    TrackedCall& call = run.calls[job.job_id];
    call.job_id = job.job_id;
    call.token = job.token;
    call.dialed_at = now;
    call.attempts = job.attempts;
    // The job's sticky caller id (from the run's pool) overrides the run's.
    CallSettings settings = run.call_settings;
    if (!job.caller_id.empty()) settings.caller_id = job.caller_id;
    // Tracked before the dial: its events may arrive before Dial returns.
    dialer_->Dial(dialer::DialRequest{run.lease.business_id, run.lease.run_id, job.job_id,
                                      job.lead_id, job.phone, job.token, worker_,
                                      std::move(settings)});
    ++dialed;
  }
  return dialed;
}

int DialPipeline::InFlight(const std::map<int64_t, HeldRun>& runs) {
  int in_flight = 0;
  for (const auto& [id, run] : runs) {
    for (const auto& [job_id, call] : run.calls) in_flight += call.remote ? 0 : 1;
    in_flight += run.GatedJobs();  // held by the replicated-claims gate
  }
  return in_flight;
}

void DialPipeline::OnEvent(const dialer::DialEvent& event) {
  absl::MutexLock lock(&mu_);
  events_.push_back(event);
}

std::vector<dialer::DialEvent> DialPipeline::TakeEvents() {
  absl::MutexLock lock(&mu_);
  std::vector<dialer::DialEvent> events;
  events.swap(events_);
  return events;
}

void DialPipeline::Wait(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(
                           +[](DialPipeline* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
                             return !self->events_.empty() || self->woken_;
                           },
                           this),
                       timeout);
  woken_ = false;
}

void DialPipeline::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

}  // namespace campaign::scheduler
