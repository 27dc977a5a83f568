// The run state machine of DESIGN.md as a pure function, so every rule is
// unit-tested and the store only applies what it decides.
#ifndef CAMPAIGN_SERVER_MODEL_TRANSITIONS_H_
#define CAMPAIGN_SERVER_MODEL_TRANSITIONS_H_

#include "absl/status/statusor.h"
#include "server/model/model.h"

namespace campaign {

// What applying an action to a run must write.
struct Transition {
  // The action already happened (or is already requested): change nothing.
  bool noop = false;
  // The status to write.
  RunStatus to = RunStatus::kPending;
  // Set cancel_requested.
  bool request_cancel = false;
  // Cancel every queued job in the same transaction.
  bool cancel_queued_jobs = false;
  // The run reaches a terminal status: set ended_at.
  bool ends_run = false;
};

// Decides what `action` does to `run`. `held_by_live_worker` says whether a
// worker holds an unexpired lease on the run (CancelRun then only requests
// the cancellation, which the worker finalises before its next dial).
// Illegal transitions are FAILED_PRECONDITION naming the current status.
absl::StatusOr<Transition> PlanTransition(const Run& run, RunAction action,
                                          bool held_by_live_worker);

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_MODEL_TRANSITIONS_H_
