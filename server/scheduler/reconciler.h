// The reconciler (the rescuer): finds out what became of calls this worker
// does not track itself — placed by a worker whose lease ended, or claimed by
// this worker in a transaction whose commit it never learned of — through
// the provider, never by dialing again; polls calls in progress that another
// worker placed; and finalises cancels no live lease holds.
#ifndef CAMPAIGN_SERVER_SCHEDULER_RECONCILER_H_
#define CAMPAIGN_SERVER_SCHEDULER_RECONCILER_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/dialer/dialer.h"
#include "server/scheduler/held_run.h"
#include "server/store/lease_repository.h"

namespace campaign::scheduler {

class Reconciler {
 public:
  // None is owned.
  Reconciler(store::LeaseRepository* leases, dialer::Dialer* dialer, SchedulerMetrics* metrics,
             std::string worker)
      : leases_(leases), dialer_(dialer), metrics_(metrics), worker_(std::move(worker)) {}

  // Looks up at the provider the run's dialing and calling jobs this worker
  // does not track and that were claimed at least `min_age` ago (on
  // acquisition: zero, all of them; periodically: the lease TTL, i.e. its
  // own claims whose commit outcome was unknown). Finished calls and calls
  // the provider never saw (failed, never redialed) are queued as results,
  // calls in progress are tracked as remote (and their start queued when not
  // recorded yet); the completer records them.
  // Jobs still dialing with a token of one of `in_doubt_claims` (the claim
  // ids of this worker's claims that failed with their commit in doubt,
  // whatever their age) were committed but never handed to this worker, so
  // never dialed: they go to run.unstarted (queued again by Settle) and to
  // `requeued`, not to the provider.
  absl::Status Reconcile(HeldRun& run, absl::Duration min_age,
                         const std::set<std::string>& in_doubt_claims = {},
                         std::vector<store::ClaimedJob>* requeued = nullptr);

  // Looks up the run's remote calls and queues the results of those that
  // ended (or that the provider lost). Lookup errors are retried next time.
  void PollRemoteCalls(HeldRun& run);

  // Finalises up to `max_runs` pending cancels no live lease holds.
  void FinalizeAbandonedCancels(int max_runs);

 private:
  store::LeaseRepository* leases_;
  dialer::Dialer* dialer_;
  SchedulerMetrics* metrics_;
  const std::string worker_;
};

}  // namespace campaign::scheduler

#endif  // CAMPAIGN_SERVER_SCHEDULER_RECONCILER_H_
