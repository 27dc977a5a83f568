// The claimer (the producer of the dial pipeline): per run and round, ONE
// fenced statement claims as many queued jobs as the run has free slots and
// the worker has dials to spare. The claim is the pre-dial check: it locks
// the run row and re-checks status, cancel flag and lease epoch, so a Stop,
// Cancel or Pause that commits first wins, and nothing else is read before a
// dial.
#ifndef CAMPAIGN_SERVER_SCHEDULER_CLAIMER_H_
#define CAMPAIGN_SERVER_SCHEDULER_CLAIMER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/scheduler/held_run.h"
#include "server/store/lease_repository.h"

namespace campaign::scheduler {

class Claimer {
 public:
  // `leases` and `metrics` (may be null) are not owned. At most `max_batch`
  // jobs per claim; a run with nothing queued (as last read) is probed again
  // every `probe_interval` (leads added to a running run are found that late
  // at most).
  Claimer(store::LeaseRepository* leases, int max_batch, absl::Duration probe_interval,
          SchedulerMetrics* metrics = nullptr)
      : leases_(leases),
        max_batch_(max_batch),
        probe_interval_(probe_interval),
        metrics_(metrics) {}

  // How many jobs a claim for `run` would ask for with `budget` dials to
  // spare: zero when the run is not dispatchable, has no free slot, has nothing queued (or nothing due, as its
  // last claim found) and is not due for a probe, or its business's
  // calls-per-second bucket has no whole token before run.next_token.
  int Wanted(const HeldRun& run, int budget, absl::Time now) const;

  // Claims up to Wanted() jobs of `run` due at `rules_now` (the scheduler's
  // clock; nothing, without a database call, when Wanted() is zero or the
  // run's end_at passed), counting each number's recent dials when the
  // run's policy caps them. When the business's calls-per-second bucket
  // limited the claim, notes when its next token is due (run.next_token) and
  // since when the run waits (run.rate_waiting_since). When nothing could be
  // claimed for another reason, reads the run's state to learn why (with
  // queued jobs none of which is due: notes on the run when the next one is,
  // NoteWaiting), and completes a run with nothing left. Updates
  // run.control. Errors are returned for the loop to decide on.
  // With `commit_lsn` (the replicated-claims gate is on), receives a WAL
  // position at or past the claim's commit record when jobs were claimed
  // (unset when it could not be read). `claim_id` prefixes the claimed jobs'
  // dial tokens (store::ClaimOptions::claim_id; empty: the store picks one).
  absl::StatusOr<std::vector<store::ClaimedJob>> Claim(
      HeldRun& run, int budget, absl::Time rules_now = absl::Now(),
      std::optional<uint64_t>* commit_lsn = nullptr, const std::string& claim_id = "");

 private:
  store::LeaseRepository* leases_;
  int max_batch_;
  absl::Duration probe_interval_;
  SchedulerMetrics* metrics_;
};

}  // namespace campaign::scheduler

#endif  // CAMPAIGN_SERVER_SCHEDULER_CLAIMER_H_
