// The dial pipeline: hands claimed jobs to the asynchronous dialer the moment
// they are claimed and carries the dialer's events back to the dispatcher
// thread. Many dials are in flight at once, bounded by the runs' free slots
// (the claimer) and the worker's cap (`max_dials_in_flight`), so a slow
// provider costs latency, not throughput.
#ifndef CAMPAIGN_SERVER_SCHEDULER_DIAL_PIPELINE_H_
#define CAMPAIGN_SERVER_SCHEDULER_DIAL_PIPELINE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/dialer/dialer.h"
#include "server/scheduler/held_run.h"

namespace campaign::scheduler {

class DialPipeline {
 public:
  // `dialer` is not owned. A batch claimed more than `stall_limit` ago is
  // not dialed (see Dial).
  DialPipeline(dialer::Dialer* dialer, std::string worker, absl::Duration stall_limit)
      : dialer_(dialer), worker_(std::move(worker)), stall_limit_(stall_limit) {}

  // Dials every job of `jobs`, claimed for `run` at `claimed_at`, and tracks
  // each in run.calls. Before each dial: when the claim is older than the
  // stall limit, this worker stalled (paused, swapped, starved) since the
  // claim and another worker may be taking the run over, so that job and
  // the rest are not dialed but go to run.unstarted to be undone. Returns
  // how many were dialed.
  int Dial(HeldRun& run, const std::vector<store::ClaimedJob>& jobs, absl::Time claimed_at);

  // Calls of every held run this worker dialed that have not ended.
  static int InFlight(const std::map<int64_t, HeldRun>& runs);

  // Thread-safe: the dialer's event callback.
  void OnEvent(const dialer::DialEvent& event);
  // Takes the events delivered since the last call, in delivery order.
  std::vector<dialer::DialEvent> TakeEvents();
  // Waits until an event is delivered, Wake is called, or `timeout` passes.
  void Wait(absl::Duration timeout);
  // Ends the current or next Wait at once (shutdown).
  void Wake();

 private:
  dialer::Dialer* dialer_;
  const std::string worker_;
  const absl::Duration stall_limit_;

  absl::Mutex mu_;
  std::vector<dialer::DialEvent> events_ ABSL_GUARDED_BY(mu_);
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace campaign::scheduler

#endif  // CAMPAIGN_SERVER_SCHEDULER_DIAL_PIPELINE_H_
