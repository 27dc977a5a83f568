// Unit tests of the run state machine (PlanTransition) and of the name
// mappings of the domain enums. No database: the rules are pure functions.
#include "server/model/transitions.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/model/model.h"

namespace campaign {
namespace {

const std::vector<RunStatus> kAllRunStatuses = {
    RunStatus::kPending,   RunStatus::kRunning,   RunStatus::kPaused, RunStatus::kStopped,
    RunStatus::kCancelled, RunStatus::kCompleted, RunStatus::kFailed,
};
const std::vector<RunStatus> kActiveStatuses = {RunStatus::kPending, RunStatus::kRunning,
                                                RunStatus::kPaused};
const std::vector<RunStatus> kTerminalStatuses = {RunStatus::kStopped, RunStatus::kCancelled,
                                                  RunStatus::kCompleted, RunStatus::kFailed};
const std::vector<RunAction> kAllActions = {RunAction::kStop, RunAction::kCancel, RunAction::kPause,
                                            RunAction::kResume};

// A run in `status`; `started` says whether a worker ever started it.
Run MakeRun(std::optional<RunStatus> status, bool cancel_requested, bool started = true) {
  Run run;
  run.id = 4242;
  run.business_id = 7;
  run.status = status;
  run.cancel_requested = cancel_requested;
  if (started) run.started_at = absl::FromUnixSeconds(1'700'000'000);
  return run;
}

// Describes one case for failure messages.
std::string Describe(std::optional<RunStatus> status, RunAction action, bool held,
                     bool cancel_requested) {
  return absl::StrCat(RunActionName(action), " on ",
                      status ? RunStatusName(*status) : "<unknown status>",
                      held ? ", held by a live worker" : ", not held",
                      cancel_requested ? ", cancel requested" : "");
}

// Asserts that `result` is the no-op success.
void ExpectNoop(const absl::StatusOr<Transition>& result, const std::string& what) {
  ASSERT_TRUE(result.ok()) << what << ": " << result.status();
  EXPECT_TRUE(result->noop) << what;
  EXPECT_FALSE(result->cancel_queued_jobs) << what;
  EXPECT_FALSE(result->ends_run) << what;
}

// Asserts that `result` writes exactly the given change.
void ExpectChange(const absl::StatusOr<Transition>& result, const std::string& what, RunStatus to,
                  bool request_cancel, bool cancel_queued_jobs, bool ends_run) {
  ASSERT_TRUE(result.ok()) << what << ": " << result.status();
  EXPECT_FALSE(result->noop) << what;
  EXPECT_EQ(result->to, to) << what << ": got " << RunStatusName(result->to) << ", want "
                            << RunStatusName(to);
  EXPECT_EQ(result->request_cancel, request_cancel) << what;
  EXPECT_EQ(result->cancel_queued_jobs, cancel_queued_jobs) << what;
  EXPECT_EQ(result->ends_run, ends_run) << what;
}

// Asserts that `result` is FAILED_PRECONDITION naming the action, the run and
// the current status, as the API promises.
void ExpectIllegal(const absl::StatusOr<Transition>& result, const std::string& what,
                   RunAction action, absl::string_view status_name) {
  ASSERT_FALSE(result.ok()) << what << ": expected FAILED_PRECONDITION, got a transition";
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition)
      << what << ": " << result.status();
  const std::string message(result.status().message());
  EXPECT_TRUE(absl::StrContains(message, status_name))
      << what << ": message does not name the status \"" << status_name << "\": " << message;
  EXPECT_TRUE(absl::StrContains(message, RunActionName(action)))
      << what << ": message does not name the action: " << message;
  EXPECT_TRUE(absl::StrContains(message, "4242"))
      << what << ": message does not name the run: " << message;
}

// StopRun is immediate from every active status, whoever holds the run: it
// stops the run, requests cancellation, cancels queued jobs and ends it.
TEST(PlanTransitionStopTest, ActiveRunStopsAtOnce) {
  for (RunStatus status : kActiveStatuses) {
    for (bool held : {false, true}) {
      for (bool cancel_requested : {false, true}) {
        const std::string what = Describe(status, RunAction::kStop, held, cancel_requested);
        ExpectChange(PlanTransition(MakeRun(status, cancel_requested), RunAction::kStop, held),
                     what, RunStatus::kStopped, /*request_cancel=*/true,
                     /*cancel_queued_jobs=*/true, /*ends_run=*/true);
      }
    }
  }
}

// Stopping a finished run (of any terminal kind) succeeds and changes nothing.
TEST(PlanTransitionStopTest, FinishedRunIsNoop) {
  for (RunStatus status : kTerminalStatuses) {
    for (bool held : {false, true}) {
      for (bool cancel_requested : {false, true}) {
        const std::string what = Describe(status, RunAction::kStop, held, cancel_requested);
        ExpectNoop(PlanTransition(MakeRun(status, cancel_requested), RunAction::kStop, held), what);
      }
    }
  }
}

// CancelRun on a run no live worker holds cancels it at once, queued jobs
// included; a stale cancel_requested (its worker died) does not prevent that.
TEST(PlanTransitionCancelTest, UnheldActiveRunIsCancelledAtOnce) {
  for (RunStatus status : kActiveStatuses) {
    for (bool cancel_requested : {false, true}) {
      const std::string what = Describe(status, RunAction::kCancel, false, cancel_requested);
      ExpectChange(PlanTransition(MakeRun(status, cancel_requested), RunAction::kCancel, false),
                   what, RunStatus::kCancelled, /*request_cancel=*/true,
                   /*cancel_queued_jobs=*/true, /*ends_run=*/true);
    }
  }
}

// CancelRun on a run a live worker holds only requests the cancellation and
// keeps the status; the worker finalises it before its next dial.
TEST(PlanTransitionCancelTest, HeldActiveRunOnlyRequestsCancel) {
  for (RunStatus status : kActiveStatuses) {
    const std::string what = Describe(status, RunAction::kCancel, true, false);
    ExpectChange(PlanTransition(MakeRun(status, false), RunAction::kCancel, true), what, status,
                 /*request_cancel=*/true, /*cancel_queued_jobs=*/false, /*ends_run=*/false);
  }
}

// Repeating CancelRun while the request is pending on a held run is a no-op.
TEST(PlanTransitionCancelTest, RepeatedCancelOnHeldRunIsNoop) {
  for (RunStatus status : kActiveStatuses) {
    const std::string what = Describe(status, RunAction::kCancel, true, true);
    ExpectNoop(PlanTransition(MakeRun(status, true), RunAction::kCancel, true), what);
  }
}

// Cancelling a cancelled run is a no-op success.
TEST(PlanTransitionCancelTest, CancelledRunIsNoop) {
  for (bool held : {false, true}) {
    for (bool cancel_requested : {false, true}) {
      const std::string what =
          Describe(RunStatus::kCancelled, RunAction::kCancel, held, cancel_requested);
      ExpectNoop(PlanTransition(MakeRun(RunStatus::kCancelled, cancel_requested),
                                RunAction::kCancel, held),
                 what);
    }
  }
}

// A run that ended otherwise (stopped, completed, failed) cannot be cancelled.
TEST(PlanTransitionCancelTest, OtherwiseFinishedRunIsIllegal) {
  for (RunStatus status : {RunStatus::kStopped, RunStatus::kCompleted, RunStatus::kFailed}) {
    for (bool held : {false, true}) {
      for (bool cancel_requested : {false, true}) {
        const std::string what = Describe(status, RunAction::kCancel, held, cancel_requested);
        ExpectIllegal(PlanTransition(MakeRun(status, cancel_requested), RunAction::kCancel, held),
                      what, RunAction::kCancel, RunStatusName(status));
      }
    }
  }
}

// Pending and running runs pause, whoever holds them.
TEST(PlanTransitionPauseTest, PendingOrRunningRunPauses) {
  for (RunStatus status : {RunStatus::kPending, RunStatus::kRunning}) {
    for (bool held : {false, true}) {
      const std::string what = Describe(status, RunAction::kPause, held, false);
      ExpectChange(PlanTransition(MakeRun(status, false), RunAction::kPause, held), what,
                   RunStatus::kPaused, /*request_cancel=*/false, /*cancel_queued_jobs=*/false,
                   /*ends_run=*/false);
    }
  }
}

// Pausing a paused run is a no-op success.
TEST(PlanTransitionPauseTest, PausedRunIsNoop) {
  for (bool held : {false, true}) {
    for (bool cancel_requested : {false, true}) {
      const std::string what =
          Describe(RunStatus::kPaused, RunAction::kPause, held, cancel_requested);
      ExpectNoop(
          PlanTransition(MakeRun(RunStatus::kPaused, cancel_requested), RunAction::kPause, held),
          what);
    }
  }
}

// A run being cancelled cannot be paused; the message says why.
TEST(PlanTransitionPauseTest, RunBeingCancelledIsIllegal) {
  for (RunStatus status : {RunStatus::kPending, RunStatus::kRunning}) {
    for (bool held : {false, true}) {
      const std::string what = Describe(status, RunAction::kPause, held, true);
      auto result = PlanTransition(MakeRun(status, true), RunAction::kPause, held);
      ExpectIllegal(result, what, RunAction::kPause, RunStatusName(status));
      EXPECT_TRUE(absl::StrContains(result.status().message(), "cancel"))
          << what << ": " << result.status();
    }
  }
}

// Finished runs cannot be paused.
TEST(PlanTransitionPauseTest, FinishedRunIsIllegal) {
  for (RunStatus status : kTerminalStatuses) {
    for (bool held : {false, true}) {
      for (bool cancel_requested : {false, true}) {
        const std::string what = Describe(status, RunAction::kPause, held, cancel_requested);
        ExpectIllegal(PlanTransition(MakeRun(status, cancel_requested), RunAction::kPause, held),
                      what, RunAction::kPause, RunStatusName(status));
      }
    }
  }
}

// A paused run that a worker had started resumes to running.
TEST(PlanTransitionResumeTest, StartedPausedRunResumesToRunning) {
  for (bool held : {false, true}) {
    const std::string what = Describe(RunStatus::kPaused, RunAction::kResume, held, false);
    ExpectChange(PlanTransition(MakeRun(RunStatus::kPaused, false, /*started=*/true),
                                RunAction::kResume, held),
                 what, RunStatus::kRunning, /*request_cancel=*/false,
                 /*cancel_queued_jobs=*/false, /*ends_run=*/false);
  }
}

// A run paused before any worker started it (start_paused) resumes to pending.
TEST(PlanTransitionResumeTest, NeverStartedPausedRunResumesToPending) {
  for (bool held : {false, true}) {
    const std::string what =
        Describe(RunStatus::kPaused, RunAction::kResume, held, false) + ", never started";
    ExpectChange(PlanTransition(MakeRun(RunStatus::kPaused, false, /*started=*/false),
                                RunAction::kResume, held),
                 what, RunStatus::kPending, /*request_cancel=*/false,
                 /*cancel_queued_jobs=*/false, /*ends_run=*/false);
  }
}

// Resuming a pending or running run is a no-op success.
TEST(PlanTransitionResumeTest, PendingOrRunningRunIsNoop) {
  for (RunStatus status : {RunStatus::kPending, RunStatus::kRunning}) {
    for (bool held : {false, true}) {
      for (bool started : {false, true}) {
        const std::string what = Describe(status, RunAction::kResume, held, false);
        ExpectNoop(PlanTransition(MakeRun(status, false, started), RunAction::kResume, held), what);
      }
    }
  }
}

// A paused run being cancelled cannot be resumed.
TEST(PlanTransitionResumeTest, PausedRunBeingCancelledIsIllegal) {
  for (bool held : {false, true}) {
    const std::string what = Describe(RunStatus::kPaused, RunAction::kResume, held, true);
    auto result = PlanTransition(MakeRun(RunStatus::kPaused, true), RunAction::kResume, held);
    ExpectIllegal(result, what, RunAction::kResume, "paused");
    EXPECT_TRUE(absl::StrContains(result.status().message(), "cancel"))
        << what << ": " << result.status();
  }
}

// Finished runs cannot be resumed; e.g. the message names "completed".
TEST(PlanTransitionResumeTest, FinishedRunIsIllegal) {
  for (RunStatus status : kTerminalStatuses) {
    for (bool held : {false, true}) {
      for (bool cancel_requested : {false, true}) {
        const std::string what = Describe(status, RunAction::kResume, held, cancel_requested);
        ExpectIllegal(PlanTransition(MakeRun(status, cancel_requested), RunAction::kResume, held),
                      what, RunAction::kResume, RunStatusName(status));
      }
    }
  }
  auto completed = PlanTransition(MakeRun(RunStatus::kCompleted, false), RunAction::kResume,
                                  /*held_by_live_worker=*/false);
  ASSERT_FALSE(completed.ok());
  EXPECT_TRUE(absl::StrContains(completed.status().message(), "completed")) << completed.status();
}

// Invariants over every action x status x lease x cancel_requested x started:
// refusals are FAILED_PRECONDITION naming the status, a finished run never
// changes, ends_run is set exactly when the target status is terminal, and
// queued jobs are only cancelled by a transition that ends the run.
TEST(PlanTransitionTest, EveryCombinationIsConsistent) {
  for (RunStatus status : kAllRunStatuses) {
    for (RunAction action : kAllActions) {
      for (bool held : {false, true}) {
        for (bool cancel_requested : {false, true}) {
          for (bool started : {false, true}) {
            const std::string what = Describe(status, action, held, cancel_requested);
            auto result = PlanTransition(MakeRun(status, cancel_requested, started), action, held);
            if (!result.ok()) {
              EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << what;
              EXPECT_TRUE(absl::StrContains(result.status().message(), RunStatusName(status)))
                  << what << ": " << result.status();
              continue;
            }
            if (result->noop) continue;
            EXPECT_FALSE(IsTerminal(status)) << what << ": a finished run changed";
            EXPECT_EQ(result->ends_run, IsTerminal(result->to)) << what;
            // Cancelling queued jobs only ever happens when the run ends.
            if (result->cancel_queued_jobs) {
              EXPECT_TRUE(result->ends_run) << what;
            }
            // Ending through stop or cancel always leaves cancel_requested set.
            if (result->ends_run) {
              EXPECT_TRUE(result->request_cancel) << what;
            }
          }
        }
      }
    }
  }
}

// A run whose stored status this version does not know is refused for every
// action (never guessed at), with a message saying so.
TEST(PlanTransitionTest, UnknownStatusIsIllegalForEveryAction) {
  for (RunAction action : kAllActions) {
    for (bool held : {false, true}) {
      const std::string what = Describe(std::nullopt, action, held, false);
      auto result = PlanTransition(MakeRun(std::nullopt, false), action, held);
      ASSERT_FALSE(result.ok()) << what;
      EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << what;
      EXPECT_TRUE(absl::StrContains(result.status().message(), "unknown"))
          << what << ": " << result.status();
    }
  }
}

// Every run status has a distinct lowercase name that parses back to it.
TEST(RunStatusNameTest, RoundTrips) {
  const std::vector<std::pair<RunStatus, std::string>> expected = {
      {RunStatus::kPending, "pending"},     {RunStatus::kRunning, "running"},
      {RunStatus::kPaused, "paused"},       {RunStatus::kStopped, "stopped"},
      {RunStatus::kCancelled, "cancelled"}, {RunStatus::kCompleted, "completed"},
      {RunStatus::kFailed, "failed"},
  };
  for (const auto& [status, name] : expected) {
    EXPECT_EQ(RunStatusName(status), name);
    EXPECT_EQ(ParseRunStatus(name), status) << name;
  }
}

// Names this version does not know, or in another spelling, parse to nullopt.
TEST(RunStatusNameTest, UnknownNamesAreNullopt) {
  for (const char* name : {"", "PENDING", "Pending", "pending ", " running", "canceled", "queued",
                           "unknown", "RUN_STATUS_PENDING", "archived"}) {
    EXPECT_FALSE(ParseRunStatus(name).has_value()) << "\"" << name << "\"";
  }
}

// Only stopped, cancelled, completed and failed are terminal.
TEST(RunStatusNameTest, TerminalStatuses) {
  EXPECT_FALSE(IsTerminal(RunStatus::kPending));
  EXPECT_FALSE(IsTerminal(RunStatus::kRunning));
  EXPECT_FALSE(IsTerminal(RunStatus::kPaused));
  EXPECT_TRUE(IsTerminal(RunStatus::kStopped));
  EXPECT_TRUE(IsTerminal(RunStatus::kCancelled));
  EXPECT_TRUE(IsTerminal(RunStatus::kCompleted));
  EXPECT_TRUE(IsTerminal(RunStatus::kFailed));
}

// Every job status has a distinct lowercase name that parses back to it.
TEST(JobStatusNameTest, RoundTrips) {
  const std::vector<std::pair<JobStatus, std::string>> expected = {
      {JobStatus::kQueued, "queued"},   {JobStatus::kDialing, "dialing"},
      {JobStatus::kCalling, "calling"}, {JobStatus::kCompleted, "completed"},
      {JobStatus::kFailed, "failed"},   {JobStatus::kNoAnswer, "no_answer"},
      {JobStatus::kBusy, "busy"},       {JobStatus::kCancelled, "cancelled"},
  };
  for (const auto& [status, name] : expected) {
    EXPECT_EQ(JobStatusName(status), name);
    EXPECT_EQ(ParseJobStatus(name), status) << name;
  }
}

// Unknown job status names parse to nullopt.
TEST(JobStatusNameTest, UnknownNamesAreNullopt) {
  for (const char* name :
       {"", "QUEUED", "no-answer", "noanswer", "busy ", "pending", "ringing", "JOB_STATUS_BUSY"}) {
    EXPECT_FALSE(ParseJobStatus(name).has_value()) << "\"" << name << "\"";
  }
}

// Every role has its stored name, which parses back to it.
TEST(RoleNameTest, RoundTrips) {
  const std::vector<std::pair<Role, std::string>> expected = {
      {Role::kSystemAdmin, "system_admin"},
      {Role::kOwner, "owner"},
      {Role::kAdmin, "admin"},
      {Role::kAgent, "agent"},
  };
  for (const auto& [role, name] : expected) {
    EXPECT_EQ(RoleName(role), name);
    EXPECT_EQ(ParseRole(name), role) << name;
  }
}

// Unknown role names parse to nullopt (no case folding, no aliases).
TEST(RoleNameTest, UnknownNamesAreNullopt) {
  for (const char* name :
       {"", "root", "Owner", "ADMIN", "system-admin", "systemadmin", "agent ", "superuser"}) {
    EXPECT_FALSE(ParseRole(name).has_value()) << "\"" << name << "\"";
  }
}

// Actions have the names used in error messages.
TEST(RunActionNameTest, Names) {
  EXPECT_EQ(RunActionName(RunAction::kStop), "stop");
  EXPECT_EQ(RunActionName(RunAction::kCancel), "cancel");
  EXPECT_EQ(RunActionName(RunAction::kPause), "pause");
  EXPECT_EQ(RunActionName(RunAction::kResume), "resume");
}

}  // namespace
}  // namespace campaign
