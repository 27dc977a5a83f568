// The completer: turns the dialer's events into records and writes each
// run's records in one fenced transaction per round (accepted calls and
// outcomes as arrays, the run's counters moved once), and hangs up the calls
// of a run that ended (unless its StopRun or CancelRun said hang_up = false).
#ifndef CAMPAIGN_SERVER_SCHEDULER_COMPLETER_H_
#define CAMPAIGN_SERVER_SCHEDULER_COMPLETER_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/dialer/dialer.h"
#include "server/scheduler/held_run.h"
#include "server/scheduler/rule_keeper.h"
#include "server/store/lease_repository.h"

namespace campaign::scheduler {

class Completer {
 public:
  // None is owned. `rules` decides retries (null: every result is final)
  // at `clock` (null: absl::Now).
  Completer(store::LeaseRepository* leases, dialer::Dialer* dialer, SchedulerMetrics* metrics,
            const RuleKeeper* rules = nullptr, std::function<absl::Time()> clock = nullptr)
      : leases_(leases),
        dialer_(dialer),
        metrics_(metrics),
        rules_(rules),
        clock_(clock ? std::move(clock) : [] { return absl::Now(); }) {}

  // Queues what `event` (of a call this worker placed for `run`) means for
  // the run: an accepted call is a call start (hung up at once when the run
  // has ended meanwhile), a refusal or an ended call a result (merging a call
  // start not recorded yet). Events of calls the run does not track (already
  // reconciled, or from before a lease loss) are ignored.
  void Apply(HeldRun& run, const dialer::DialEvent& event);

  // Records the run's queued call starts and results in one transaction;
  // a busy, unanswered or failed call whose policy retries it goes back to
  // queued (its retry_at), every other result is final. Nothing is recorded
  // before the run's dialing rules were read (retries depend on them). On
  // success, finished calls stop being tracked and run.control is what
  // the database says now; on error everything stays queued for the next
  // round and the status goes to the loop.
  absl::Status Flush(HeldRun& run);

  // When the run has ended: counts calls dialed after its end, and, unless
  // the run's hang_up_on_end is false, hangs up its calls in progress (once
  // each; their outcomes arrive as events).
  void EnforceRunEnd(HeldRun& run);

 private:
  void CountIfDialedAfterEnd(const HeldRun& run, TrackedCall& call);

  store::LeaseRepository* leases_;
  dialer::Dialer* dialer_;
  SchedulerMetrics* metrics_;
  const RuleKeeper* rules_;
  std::function<absl::Time()> clock_;
};

}  // namespace campaign::scheduler

#endif  // CAMPAIGN_SERVER_SCHEDULER_COMPLETER_H_
