#include "server/model/transitions.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace campaign {
namespace {

absl::Status Illegal(const Run& run, RunAction action, absl::string_view why) {
  return absl::FailedPreconditionError(
      absl::StrCat("cannot ", RunActionName(action), " run ", run.id, ": it is ",
                   run.status ? RunStatusName(*run.status) : "in an unknown status", why));
}

Transition Noop() { return Transition{.noop = true}; }

}  // namespace

absl::StatusOr<Transition> PlanTransition(const Run& run, RunAction action,
                                          bool held_by_live_worker) {
  if (!run.status.has_value()) return Illegal(run, action, "");
  const RunStatus current = *run.status;
  switch (action) {
    case RunAction::kStop:
      // Stopping a finished run is a no-op success: the caller's intent holds.
      if (IsTerminal(current)) return Noop();
      return Transition{.to = RunStatus::kStopped,
                        .request_cancel = true,
                        .cancel_queued_jobs = true,
                        .ends_run = true};
    case RunAction::kCancel:
      if (current == RunStatus::kCancelled) return Noop();
      if (IsTerminal(current)) return Illegal(run, action, "");
      if (held_by_live_worker) {
        if (run.cancel_requested) return Noop();
        return Transition{.to = current, .request_cancel = true};
      }
      return Transition{.to = RunStatus::kCancelled,
                        .request_cancel = true,
                        .cancel_queued_jobs = true,
                        .ends_run = true};
    case RunAction::kPause:
      if (current == RunStatus::kPaused) return Noop();
      if (IsTerminal(current)) return Illegal(run, action, "");
      if (run.cancel_requested) return Illegal(run, action, " and being cancelled");
      return Transition{.to = RunStatus::kPaused};
    case RunAction::kResume:
      if (current == RunStatus::kPending || current == RunStatus::kRunning) return Noop();
      if (IsTerminal(current)) return Illegal(run, action, "");
      if (run.cancel_requested) return Illegal(run, action, " and being cancelled");
      // A run no worker has started yet goes back to pending.
      return Transition{.to =
                            run.started_at.has_value() ? RunStatus::kRunning : RunStatus::kPending};
  }
  return absl::InternalError("unknown run action");
}

}  // namespace campaign
