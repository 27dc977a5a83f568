// The rule keeper: applies the dialing rules (server/rules) to the runs a
// worker holds. It keeps each run's effective policy and schedule (read at
// acquisition, then at most every kPolicyRefresh: policies are live), vets
// every claimed job through rules::Decide (dial now, or undo the claim as a
// deferral or a skip), screens the run's due jobs by zone so that a closed
// window does not cost a claim per job, decides retries by outcome
// (rules::RetryAt), and ends a run at its end_at. Every rule decision is taken
// at the scheduler's clock (SchedulerOptions::clock).
#ifndef CAMPAIGN_SERVER_SCHEDULER_RULE_KEEPER_H_
#define CAMPAIGN_SERVER_SCHEDULER_RULE_KEEPER_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/scheduler/held_run.h"
#include "server/store/lease_repository.h"

namespace campaign::scheduler {

// The error message of the queued jobs a run's end_at cancels.
inline constexpr char kEndAtPassedReason[] = "the run's end_at passed";

class RuleKeeper {
 public:
  // How long a run's policy and schedule are used before they are read
  // again: an UpdateDialingPolicy applies to a held run's claims within
  // this bound.
  static constexpr absl::Duration kPolicyRefresh = absl::Seconds(5);
  // Longest time between two screens of a run's due jobs by zone (leads
  // AddLeads added to a zone whose window is closed are deferred that late
  // at most; the claim vets them meanwhile).
  static constexpr absl::Duration kScreenInterval = absl::Seconds(30);

  // `leases` is not owned. `defaults` is the server's default policy (every
  // field set).
  RuleKeeper(store::LeaseRepository* leases, DialingPolicy defaults)
      : leases_(leases), defaults_(std::move(defaults)) {}

  // Reads the run's policy rows and schedule when never read, when `force`,
  // or when kPolicyRefresh passed since the last read (at `now`); the
  // effective policy is rules::Effective(defaults, business, run). A changed
  // policy asks for a screen. Errors go to the loop; the run keeps what it
  // had (or, never read, does not claim: run.rules_loaded stays false).
  absl::Status Refresh(HeldRun& run, absl::Time now, bool force = false);

  // Decides each claimed job at `now`: the jobs to dial (in claim order)
  // are returned; the others are appended to `vetoed` as claims to undo
  // (deferred or skipped, with the rule). A job on the do-not-call list is
  // never returned.
  std::vector<store::ClaimedJob> Vet(const HeldRun& run, const std::vector<store::ClaimedJob>& jobs,
                                     absl::Time now, std::vector<store::ClaimUndo>* vetoed) const;

  // When the run's screen is due (policy (re)loaded, the earliest window
  // change of its zones passed, or kScreenInterval): reads its due queued
  // jobs by zone (one statement), decides each zone with rules::Window at
  // `now`, and defers (until the zone opens, calling_window) or skips (the
  // window never opens before end_at / within the horizon) every due job of
  // a closed zone in one statement. Nothing when the run is not
  // dispatchable.
  absl::Status Screen(HeldRun& run, absl::Time now);

  // The next attempt after a call of `run` that ended as `result` at `now`
  // (rules::RetryAt with result.attempts), or nullopt: final. Never for a
  // result whose fate is unknown (not retryable), nor at or after the run's
  // end_at.
  std::optional<absl::Time> RetryAt(const HeldRun& run, const store::JobResult& result,
                                    absl::Time now) const;

  // True when the run's end_at has passed at `now`: nothing is claimed.
  static bool PastEnd(const HeldRun& run, absl::Time now) {
    return run.schedule.end_at && now >= *run.schedule.end_at;
  }

  // At end_at: cancels the run's queued jobs ("the run's end_at passed",
  // counted) and completes it once its calls in progress have ended (one
  // store call when there is something to do). Updates run.control.
  absl::Status EnforceEndAt(HeldRun& run, absl::Time now);

 private:
  store::LeaseRepository* leases_;
  const DialingPolicy defaults_;
};

}  // namespace campaign::scheduler

#endif  // CAMPAIGN_SERVER_SCHEDULER_RULE_KEEPER_H_
