// What a worker knows of one run it holds: the state the scheduler's roles
// (claimer, dial pipeline, completer, reconciler, lease keeper) share. Only
// the dispatcher thread touches it, under the scheduler's lock.
#ifndef CAMPAIGN_SERVER_SCHEDULER_HELD_RUN_H_
#define CAMPAIGN_SERVER_SCHEDULER_HELD_RUN_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/rules/dialing_rules.h"
#include "server/store/lease_repository.h"

namespace campaign::scheduler {

// Events a worker reports for metrics (server/observability implements it);
// the defaults do nothing. Called from the dispatcher thread.
class SchedulerMetrics {
 public:
  virtual ~SchedulerMetrics() = default;
  // A run whose lease had expired was taken over from another worker.
  virtual void LeaseTakenOver() {}
  // A job found dialing or calling in a run just acquired was looked up at the
  // provider: `result` is "finished" (outcome recorded), "lost" (the provider
  // has no record: failed), "in_progress" (tracked until it ends) or "error"
  // (the lookup failed; retried later).
  virtual void JobReconciled(absl::string_view result) {}
  // A claim took fewer jobs than the run had free slots because its
  // business's calls-per-second bucket held fewer whole tokens (the rate
  // governor): the business is dialing at its limit.
  virtual void ClaimRateLimited() {}
  // A call was dialed after its run ended (a job claimed before a Stop or a
  // Cancel, dialed after it committed). The goal is zero.
  virtual void DialedAfterRunEnded() {}
  // A call in progress was hung up because its run ended.
  virtual void CallHungUpOnRunEnd() {}
  // One batch of `starts` accepted calls and `results` outcomes was recorded
  // in one transaction.
  virtual void CallsRecorded(int starts, int results) {}
  // The replicated-claims gate is on (claims wait for a synchronous
  // standby) or off.
  virtual void ReplicationGateOn(bool on) {}
  // The gate held a batch of `jobs` claims for `seconds`; then it was
  // confirmed (dialed) or given back to the queue unconfirmed.
  virtual void ClaimsHeld(double seconds, bool confirmed, int jobs) {}
};

// A claimed batch the replicated-claims gate holds until a synchronous
// standby flushed past `lsn` (never dialed before).
struct GatedBatch {
  std::vector<store::ClaimedJob> jobs;
  // A WAL position at or past the claim's commit record.
  uint64_t lsn = 0;
  // When the claim was asked for (the dial pipeline's stall guard) and when
  // the hold began.
  absl::Time claimed_at;
  absl::Time held_since;
};

// A call of a held run in flight: dialed by this worker (local) or found in
// progress when the run was acquired (remote: polled at the provider).
struct TrackedCall {
  int64_t job_id = 0;
  std::string token;
  // Empty until the provider accepted the call.
  std::string call_sid;
  // When this worker asked the provider for the call; InfinitePast for
  // remote calls.
  absl::Time dialed_at = absl::InfinitePast();
  bool remote = false;
  // A hang-up was asked for (the run ended).
  bool hung_up = false;
  // Already counted as dialed after its run ended.
  bool counted_after_end = false;
  // The job's attempt this call is (its retry is decided by it).
  int attempts = 1;
};

// A run this worker holds.
struct HeldRun {
  store::Lease lease;
  int32_t concurrency = 0;
  // How its calls are placed (read once, at acquisition: never changes).
  CallSettings call_settings;
  // The run's state as last read (every claim, recorded batch and lease
  // renewal refreshes it).
  store::RunControl control;
  // Calls in flight, by job id.
  std::map<int64_t, TrackedCall> calls;
  // The worker that held the run before this one (empty if none or
  // unknown): who claimed the dialing jobs found on acquisition.
  std::string previous_worker;
  // Claims whose dial never started (the worker stalled past the guard), to
  // be undone; retried every round while the database is away.
  std::vector<store::ClaimedJob> unstarted;
  // Claims the dialing rules vetoed (deferred or skipped) that are not
  // undone yet; retried every round while the database is away.
  std::vector<store::ClaimUndo> vetoed;
  // Accepted calls and outcomes not recorded yet; the completer records
  // them in one transaction per run per round.
  std::vector<store::CallStart> starts;
  std::vector<store::JobResult> results;
  // Claimed batches the replicated-claims gate holds (at most one).
  std::vector<GatedBatch> gated;
  bool cancel_finalized = false;
  // Until then, a run with nothing queued (as last read), or nothing due (its
  // last claim found none: `waiting`), is not claimed from.
  absl::Time next_probe = absl::InfinitePast();
  bool waiting = false;
  // The dialing rules (the rule keeper): the effective policy, the run's
  // schedule, when they were read (the scheduler's clock), whether they ever
  // were (no claim before), and when the run's due jobs are next screened
  // by zone (InfinitePast: at once).
  DialingPolicy policy;
  rules::RunSchedule schedule;
  absl::Time rules_read_at = absl::InfinitePast();
  bool rules_loaded = false;
  absl::Time next_screen = absl::InfinitePast();
  // Until then, the business's calls-per-second bucket holds no whole token
  // (as its last claim said): the run is not claimed from (the rate
  // governor; InfinitePast when it is off).
  absl::Time next_token = absl::InfinitePast();
  // Since when the run has waited for its business's tokens (its last claim
  // was limited by the bucket; a limited claim that got jobs starts the
  // wait again); InfiniteFuture when its last claim was not limited. The
  // run that waited longest claims first (fairness between the runs of one
  // business on this worker).
  absl::Time rate_waiting_since = absl::InfiniteFuture();

  // Dial slots of the run's concurrency not taken by a call in flight.
  // (A batch held by the replicated-claims gate takes its slots.)
  int FreeSlots() const { return concurrency - static_cast<int>(calls.size()) - GatedJobs(); }
  // Claims held by the replicated-claims gate.
  int GatedJobs() const {
    int jobs = 0;
    for (const GatedBatch& batch : gated) jobs += static_cast<int>(batch.jobs.size());
    return jobs;
  }
  // True when the run has ended (stopped, cancelled, completed or failed).
  bool Ended() const { return control.status && IsTerminal(*control.status); }
};

}  // namespace campaign::scheduler

#endif  // CAMPAIGN_SERVER_SCHEDULER_HELD_RUN_H_
