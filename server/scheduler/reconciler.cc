#include "server/scheduler/reconciler.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/util/logging.h"

namespace campaign::scheduler {
namespace {

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

// What the provider knows of a call: by its id once recorded, else by the
// token it was placed with.
absl::StatusOr<std::optional<dialer::CallState>> LookUp(dialer::Dialer* dialer,
                                                        const std::string& token,
                                                        const std::string& call_sid) {
  return call_sid.empty() ? dialer->LookupByToken(token) : dialer->LookupByCallId(call_sid);
}

}  // namespace

absl::Status Reconciler::Reconcile(HeldRun& run, absl::Duration min_age,
                                   const std::set<std::string>& in_doubt_claims,
                                   std::vector<store::ClaimedJob>* requeued) {
  absl::StatusOr<std::vector<store::ActiveJob>> active = leases_->ActiveJobs(run.lease);
  if (!active.ok()) return active.status();
  const bool acquired = min_age == absl::ZeroDuration();
  const absl::Time cutoff = absl::Now() - min_age;
  std::set<int64_t> skip;
  for (const store::ClaimedJob& job : run.unstarted) skip.insert(job.job_id);
  for (const store::JobResult& result : run.results) skip.insert(result.job_id);
  for (const store::ClaimUndo& undo : run.vetoed) skip.insert(undo.job_id);
  for (const GatedBatch& batch : run.gated) {
    for (const store::ClaimedJob& job : batch.jobs) skip.insert(job.job_id);
  }
  int looked_up = 0, finished = 0, never_dialed = 0;
  for (const store::ActiveJob& job : *active) {
    if (run.calls.count(job.job_id) > 0) continue;  // tracked already
    if (skip.count(job.job_id) > 0) continue;       // ours, recorded or undone later
    if (job.call_sid.empty() && job.status == JobStatus::kDialing &&
        in_doubt_claims.count(std::string(store::ClaimIdOfToken(job.token))) > 0) {
      // Claimed by a commit this worker never heard back from: it never had
      // the token, so it never dialed. Back to the queue, not failed.
      store::ClaimedJob claim(job.job_id, job.lead_id, job.phone, job.token);
      claim.attempts = job.attempts;
      run.unstarted.push_back(claim);
      if (requeued != nullptr) requeued->push_back(claim);
      metrics_->JobReconciled("requeued");
      ++never_dialed;
      continue;
    }
    if (job.dial_started_at > cutoff) continue;
    ++looked_up;
    absl::StatusOr<std::optional<dialer::CallState>> state =
        LookUp(dialer_, job.token, job.call_sid);
    TrackedCall remote;
    remote.job_id = job.job_id;
    remote.token = job.token;
    remote.call_sid = job.call_sid;
    remote.remote = true;
    remote.attempts = job.attempts;
    if (!state.ok()) {
      spdlog::warn("run {}: cannot look up job {} at the provider: {}; retrying later",
                   run.lease.run_id, job.job_id, state.status().ToString());
      metrics_->JobReconciled("error");
      run.calls[job.job_id] = std::move(remote);
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
        error = UnknownDialError(job, worker_,
                                 "the commit of its claim was in doubt, so it never dialed");
      }
      run.results.push_back(store::JobResult{job.job_id, job.token, JobStatus::kFailed, error, ""});
      // Its fate is unknown: never redialed, not even as a retry.
      run.results.back().retryable = false;
      run.results.back().attempts = job.attempts;
      metrics_->JobReconciled("lost");
      ++finished;
      continue;
    }
    const dialer::CallState& call = **state;
    if (call.outcome) {
      run.results.push_back(store::JobResult{job.job_id, job.token, call.outcome->status,
                                             call.outcome->error, call.call_sid});
      run.results.back().attempts = job.attempts;
      metrics_->JobReconciled("finished");
      ++finished;
      continue;
    }
    if (job.call_sid.empty()) {
      run.starts.push_back(store::CallStart{job.job_id, job.token, call.call_sid});
    }
    remote.call_sid = call.call_sid;
    run.calls[job.job_id] = std::move(remote);
    metrics_->JobReconciled("in_progress");
  }
  if (never_dialed > 0) {
    spdlog::warn(
        "run {}: {} jobs claimed by a commit this worker never heard back from (never dialed) "
        "go back to the queue",
        run.lease.run_id, never_dialed);
  }
  if (looked_up > 0) {
    spdlog::info("run {}: reconciled {} {} jobs ({} finished)", run.lease.run_id, looked_up,
                 acquired ? "active" : "untracked dialing", finished);
  }
  return absl::OkStatus();
}

void Reconciler::PollRemoteCalls(HeldRun& run) {
  std::set<int64_t> queued;
  for (const store::JobResult& result : run.results) queued.insert(result.job_id);
  for (auto& [job_id, call] : run.calls) {
    if (!call.remote || queued.count(job_id) > 0) continue;
    absl::StatusOr<std::optional<dialer::CallState>> state =
        LookUp(dialer_, call.token, call.call_sid);
    if (!state.ok()) continue;  // try again next time
    if (!state->has_value()) {
      run.results.push_back(store::JobResult{
          job_id, call.token, JobStatus::kFailed,
          call.call_sid.empty()
              ? absl::StrCat("dial outcome unknown: no call id was recorded and the provider "
                             "has no record of token ",
                             call.token, "; not redialed")
              : absl::StrCat("call lost: the provider has no record of call ", call.call_sid),
          ""});
      run.results.back().retryable = false;  // fate unknown: never redialed
      run.results.back().attempts = call.attempts;
    } else if ((*state)->outcome) {
      run.results.push_back(store::JobResult{job_id, call.token, (*state)->outcome->status,
                                             (*state)->outcome->error, (*state)->call_sid});
      run.results.back().attempts = call.attempts;
    } else if (call.call_sid.empty()) {
      // Found in progress after an earlier lookup error: record its start.
      call.call_sid = (*state)->call_sid;
      run.starts.push_back(store::CallStart{job_id, call.token, call.call_sid});
    }
  }
}

void Reconciler::FinalizeAbandonedCancels(int max_runs) {
  absl::StatusOr<int64_t> finalised = leases_->FinalizeAbandonedCancels(max_runs);
  if (!finalised.ok()) {
    spdlog::warn("worker {} cannot finalise abandoned cancels: {}", worker_,
                 finalised.status().ToString());
  } else if (*finalised > 0) {
    spdlog::info("worker {} finalised {} cancel requests no holder would", worker_, *finalised);
  }
}

}  // namespace campaign::scheduler
