#include "server/scheduler/completer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/util/logging.h"

namespace campaign::scheduler {

void Completer::Apply(HeldRun& run, const dialer::DialEvent& event) {
  auto it = run.calls.find(event.request.job_id);
  if (it == run.calls.end() || it->second.token != event.request.token || it->second.remote) {
    return;
  }
  TrackedCall& call = it->second;
  switch (event.kind) {
    case dialer::DialEvent::Kind::kAccepted:
      call.call_sid = event.call_sid;
      run.starts.push_back(store::CallStart{call.job_id, call.token, call.call_sid});
      // Accepted after its run ended: end it now (when the run's calls are
      // to be hung up; counted as dialed after the end either way).
      if (run.Ended()) EnforceRunEnd(run);
      return;
    case dialer::DialEvent::Kind::kRejected:
      run.results.push_back(store::JobResult{call.job_id, call.token, JobStatus::kFailed,
                                             absl::StrCat("dial failed: ", event.outcome.error),
                                             ""});
      run.results.back().attempts = call.attempts;
      return;
    case dialer::DialEvent::Kind::kEnded: {
      // The start and the end in one record when the start is still queued.
      run.starts.erase(std::remove_if(run.starts.begin(), run.starts.end(),
                                      [&](const store::CallStart& start) {
                                        return start.job_id == call.job_id;
                                      }),
                       run.starts.end());
      std::string error = event.outcome.error;
      if (call.hung_up && event.outcome.status == JobStatus::kFailed) {
        error = absl::StrCat("hung up: the run was ",
                             run.control.status ? RunStatusName(*run.control.status) : "ended");
      }
      run.results.push_back(store::JobResult{call.job_id, call.token, event.outcome.status,
                                             std::move(error), event.call_sid});
      run.results.back().attempts = call.attempts;
      // A call hung up because its run ended is not retried.
      run.results.back().retryable = !call.hung_up;
      return;
    }
  }
}

absl::Status Completer::Flush(HeldRun& run) {
  if (run.starts.empty() && run.results.empty()) return absl::OkStatus();
  if (rules_ != nullptr && !run.rules_loaded && !run.results.empty()) {
    return absl::OkStatus();  // retries depend on the policy: next round
  }
  const absl::Time now = clock_();
  for (store::JobResult& result : run.results) {
    result.retry_at = rules_ == nullptr || run.Ended() ? std::nullopt
                                                       : rules_->RetryAt(run, result, now);
  }
  absl::StatusOr<store::RunControl> control =
      leases_->RecordCalls(run.lease, run.starts, run.results);
  if (!control.ok()) return control.status();
  metrics_->CallsRecorded(static_cast<int>(run.starts.size()),
                          static_cast<int>(run.results.size()));
  run.control = *control;
  // Count the finished calls dialed after the run ended before they go.
  for (const store::JobResult& result : run.results) {
    auto it = run.calls.find(result.job_id);
    if (it == run.calls.end()) continue;
    CountIfDialedAfterEnd(run, it->second);
    run.calls.erase(it);
  }
  run.starts.clear();
  run.results.clear();
  if (run.control.status == RunStatus::kCompleted) {
    spdlog::info("run {} completed", run.lease.run_id);
  }
  EnforceRunEnd(run);
  return absl::OkStatus();
}

void Completer::CountIfDialedAfterEnd(const HeldRun& run, TrackedCall& call) {
  if (call.remote || call.counted_after_end || !run.control.ended_at) return;
  if (call.dialed_at <= *run.control.ended_at) return;
  call.counted_after_end = true;
  metrics_->DialedAfterRunEnded();
  spdlog::warn("run {}: job {} was dialed {} after the run ended", run.lease.run_id, call.job_id,
               absl::FormatDuration(call.dialed_at - *run.control.ended_at));
}

void Completer::EnforceRunEnd(HeldRun& run) {
  if (!run.Ended()) return;
  for (auto& [job_id, call] : run.calls) {
    CountIfDialedAfterEnd(run, call);
    // StopRun or CancelRun with hang_up = false: the call ends on its own
    // and its outcome is recorded as usual.
    if (!run.control.hang_up_on_end) continue;
    if (call.hung_up || call.call_sid.empty()) continue;  // not accepted yet: on acceptance
    call.hung_up = true;
    absl::Status hung = dialer_->HangUp(call.call_sid);
    if (hung.ok()) {
      metrics_->CallHungUpOnRunEnd();
    } else if (hung.code() != absl::StatusCode::kNotFound) {
      // The call ends on its own; its outcome is recorded as usual.
      spdlog::warn("run {}: cannot hang up call {}: {}", run.lease.run_id, call.call_sid,
                   hung.ToString());
    }
  }
}

}  // namespace campaign::scheduler
