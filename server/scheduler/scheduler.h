// The scheduler: leases runs, keeps at most `concurrency` calls of each in
// flight, honours pause, stop and cancel before every dial, reconciles the
// calls of runs it takes over, and hands its runs over on shutdown.
//
// One dispatcher thread does all the database work of this worker; dialer
// outcome events only enqueue. Every write is fenced on the lease epoch
// (store/lease_store.h), so at most one dial per job is guaranteed by the
// database, not by timing.
#ifndef CAMPAIGN_SERVER_SCHEDULER_SCHEDULER_H_
#define CAMPAIGN_SERVER_SCHEDULER_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/dialer/dialer.h"
#include "server/store/lease_repository.h"
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
};

// Settings of a worker (flags of `campaignd serve`).
struct SchedulerOptions {
  // Identity written to locked_by_worker; "host:pid:random" when empty.
  std::string worker_id;
  // How often held leases are renewed.
  absl::Duration heartbeat_interval = absl::Seconds(5);
  // A lease older than this is expired and may be taken over (must be
  // larger than heartbeat_interval).
  absl::Duration lease_ttl = absl::Seconds(30);
  // How often expired leases are swept (each time with up to 50% jitter).
  absl::Duration sweep_interval = absl::Seconds(10);
  // How often free runs are looked for, and the dispatcher's idle wake-up.
  absl::Duration poll_interval = absl::Milliseconds(200);
  // How often calls placed by other (dead) workers are looked up. Dialing
  // jobs of a held run that this worker does not track (a claim whose commit
  // outcome was unknown) are reconciled once they are older than lease_ttl,
  // checked every lease_ttl.
  absl::Duration reconcile_interval = absl::Seconds(1);
  // Most runs this worker holds at once.
  int max_runs = 50;
  // Most runs of one business this worker holds at once, so one business
  // cannot fill a worker; 0: no cap (businesses still take turns at every
  // acquisition).
  int max_runs_per_business = 25;
  // Most jobs dialed for one run per round, so runs take turns. Jobs are
  // claimed one at a time, each dialed right after its claim.
  int max_claim_batch = 20;
  // Receives metrics events; not owned; none when null.
  SchedulerMetrics* metrics = nullptr;
};

// A worker of the scheduler. Thread-safe.
class Scheduler {
 public:
  // `leases` (LeaseStore in the server, a fake in unit tests) and `dialer`
  // are not owned and must outlive the scheduler.
  Scheduler(store::LeaseRepository* leases, dialer::Dialer* dialer, SchedulerOptions options);
  // Shuts down with no grace if still running.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts the dispatcher thread.
  void Start();

  // Stops claiming, waits up to `grace` for calls in progress to end and be
  // recorded, then releases every lease so another worker takes the runs at
  // once (calls still in progress are reconciled by that worker).
  void Shutdown(absl::Duration grace);

  // The identity this worker writes to locked_by_worker.
  const std::string& worker_id() const { return options_.worker_id; }

  // Runs this worker holds now (for tests and metrics).
  std::vector<int64_t> HeldRuns() const;

  // Finalises pending cancels of runs no live lease holds and takes over runs
  // whose leases expired, once, now (the periodic sweep does the same with
  // jitter); returns how many runs it took.
  int SweepNow();

 private:
  // A call in progress that this worker tracks.
  struct Call {
    int64_t job_id = 0;
    std::string token;
    std::string call_sid;
    // Placed by another worker: its outcome is polled, not delivered.
    bool remote = false;
  };
  // A run this worker holds.
  struct HeldRun {
    store::Lease lease;
    int32_t concurrency = 0;
    store::RunControl control;
    std::map<int64_t, Call> calls;  // by job id
    // The worker that held the run before this one (empty if none or
    // unknown): who claimed the dialing jobs found on acquisition.
    std::string previous_worker;
    // Claims whose dial never started and could not be undone yet (the
    // database was away); retried every round.
    std::vector<store::ClaimedJob> unstarted;
    // Outcomes that could not be recorded yet; retried every round.
    std::vector<store::JobResult> unrecorded;
    bool cancel_finalized = false;
  };
  // An outcome delivered by the dialer.
  struct Outcome {
    dialer::DialRequest request;
    std::string call_sid;
    dialer::CallOutcome outcome;
  };

  void Loop();
  void AcquireRuns(store::AcquireMode mode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Looks up at the provider the run's dialing and calling jobs this worker
  // does not track and that were claimed at least `min_age` ago (on
  // acquisition: all; periodically: its own claims whose commit outcome
  // was unknown), and records or tracks what became of them.
  void Reconcile(HeldRun& run, absl::Duration min_age) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reconcile(min_age = lease_ttl) for every held run.
  void ReconcileUntracked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Part of the sweep: see LeaseStore::FinalizeAbandonedCancels.
  void FinalizeAbandonedCancels() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HeartbeatAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordDelivered() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PollRemoteCalls() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Dispatch(HeldRun& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Claims one job and dials it at once; false when nothing was dialed (no
  // free job, not dispatchable, an error) or the run was dropped.
  bool ClaimAndDial(HeldRun& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DialClaimed(HeldRun& run, const store::ClaimedJob& job, absl::Time claim_started)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Record(HeldRun& run, std::vector<store::JobResult> results)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Retries what an earlier database error left undone; false if the run
  // was dropped or the database is still away.
  bool RetryPending(HeldRun& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Undoes a claim whose dial did not start (the store decides, from the
  // locked run row, whether it goes back to the queue or is cancelled).
  absl::Status UndoClaim(HeldRun& run, const store::ClaimedJob& job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Handles a failed store call for `run`: true when the run was dropped.
  bool HandleError(HeldRun& run, const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseIdleRuns() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnOutcome(const dialer::DialRequest& request, const std::string& call_sid,
                 const dialer::CallOutcome& outcome);

  store::LeaseRepository* leases_;
  dialer::Dialer* dialer_;
  SchedulerOptions options_;

  // Guards the held runs; the dispatcher holds it while it works, other
  // threads only briefly (HeldRuns, Shutdown).
  mutable absl::Mutex mu_;
  std::map<int64_t, HeldRun> runs_ ABSL_GUARDED_BY(mu_);
  int64_t next_run_turn_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time next_acquire_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_heartbeat_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_reconcile_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_untracked_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  // Set when a round left work undone (a full turn of dials): no idle wait.
  bool more_work_ ABSL_GUARDED_BY(mu_) = false;
  std::map<int64_t, int> consecutive_errors_ ABSL_GUARDED_BY(mu_);

  // Outcomes waiting to be recorded and the shutdown signal; a separate lock
  // so the dialer and Shutdown never wait for database work.
  absl::Mutex signal_mu_;
  std::deque<Outcome> outcomes_ ABSL_GUARDED_BY(signal_mu_);
  bool draining_ ABSL_GUARDED_BY(signal_mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(signal_mu_) = absl::InfiniteFuture();
  bool started_ ABSL_GUARDED_BY(signal_mu_) = false;

  std::thread thread_;
};

// "hostname:pid:random": unique per process start.
std::string DefaultWorkerId();

}  // namespace campaign::scheduler

#endif  // CAMPAIGN_SERVER_SCHEDULER_SCHEDULER_H_
