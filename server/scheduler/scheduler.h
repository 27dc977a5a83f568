// The scheduler: leases runs, keeps at most `concurrency` calls of each in
// flight, honours pause, stop and cancel before every dial, reconciles the
// calls of runs it takes over, and hands its runs over on shutdown.
//
// One dispatcher thread runs the loop (this file) over the roles, one file
// each: the lease keeper (acquire, renew all leases in one statement,
// release), the claimer (one fenced claim per run per round: the pre-dial
// check), the dial pipeline (asynchronous dials, events back to the loop),
// the completer (call starts and outcomes recorded per run per round in one
// transaction) and the reconciler (calls this worker does not track). The
// error handler decides keep / drop / fail; only the loop drops runs. Every
// write is fenced on the lease epoch (store/lease_store.h), so at most one
// dial per job is guaranteed by the database, not by timing.
#ifndef CAMPAIGN_SERVER_SCHEDULER_SCHEDULER_H_
#define CAMPAIGN_SERVER_SCHEDULER_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/dialer/dialer.h"
#include "server/scheduler/claimer.h"
#include "server/scheduler/completer.h"
#include "server/scheduler/dial_pipeline.h"
#include "server/scheduler/error_handler.h"
#include "server/scheduler/held_run.h"
#include "server/scheduler/lease_keeper.h"
#include "server/scheduler/reconciler.h"
#include "server/scheduler/replication_gate.h"
#include "server/scheduler/rule_keeper.h"
#include "server/store/lease_repository.h"

namespace campaign::scheduler {

// Settings of a worker (flags of `campaignd serve`).
struct SchedulerOptions {
  // Identity written to locked_by_worker; "host:pid:random" when empty.
  std::string worker_id;
  // How often held leases are renewed (and at once when the database
  // answers again after errors).
  absl::Duration heartbeat_interval = absl::Seconds(5);
  // A lease older than this is expired and may be taken over (must be
  // larger than heartbeat_interval). With the defaults a write outage of
  // up to TTL - heartbeat - the largest back-off (30 - 5 - 3 = 22 s) costs
  // no takeover: the back-off is capped at a tenth of the TTL
  // (ErrorHandler::MaxBackoffFor) and the leases are renewed as soon as the
  // database answers (docs/design.md, "Leases that survive a failover").
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
  // Most jobs claimed for one run per round (one statement), so runs take
  // turns within the worker's cap.
  int max_claim_batch = 1000;
  // Most calls this worker has in flight at once, across all its runs
  // (--max-dials-in-flight): the replica's cap on provider load.
  int max_dials_in_flight = 1000;
  // Receives metrics events; not owned; none when null.
  SchedulerMetrics* metrics = nullptr;
  // The server's default dialing policy (every field set): what a run dials
  // by where neither its own policy nor its business's sets a field
  // (campaignd --default-calling-hours sets its windows).
  DialingPolicy default_policy = rules::ServerDefaultPolicy();
  // The clock of every dialing-rule decision and of every rules timestamp
  // written (next_attempt_at, next_dial_at; the claim's due filter); null:
  // absl::Now. Tests inject one to place windows relative to it.
  std::function<absl::Time()> clock;
  // The replicated-claims gate (--require-replicated-claims); its timeout
  // is capped at a quarter of lease_ttl.
  ReplicationGateOptions replication;
};

// A worker of the scheduler. Thread-safe.
// How long (in lease TTLs) a worker remembers a failed claim's id when it
// never holds the run again: by then the run's next holder has dealt with
// the claim's jobs.
inline constexpr int kInDoubtClaimRetention = 10;

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

  // Claims this worker made and never handed to the dialer, not given back
  // yet (held by the replicated-claims gate, undone later, or left behind
  // by a lost lease), across all runs: kept for the process's life so a
  // run this worker takes over again returns them to the queue.
  int UndispatchedClaims() const;

 private:
  void Loop();
  // One round of the loop; returns how long to wait for the next one.
  absl::Duration Round(bool draining, absl::Time drain_deadline, bool* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AcquireRuns(store::AcquireMode mode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Renews every held lease; false when the database did not answer.
  bool RenewLeases() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands the dialer's events to the completer, per run.
  void ApplyEvents() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records, undoes and finalises what each run has pending.
  void Settle(int64_t run_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Claims and dials for the runs in turn, within the worker's cap.
  void ClaimAndDial() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies the error handler's decision on `status` (not OK) for `run_id`;
  // true when the run was dropped.
  bool Handle(int64_t run_id, const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Lets a run go from this worker (no database call).
  void Drop(int64_t run_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The held runs' ids, in turn order (round robin from the run after the
  // one that went first last time).
  std::vector<int64_t> TurnOrder() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseIdleRuns() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The earliest time a held run waits for its business's next
  // calls-per-second token and for nothing else (`now` or earlier: it may
  // claim at once); InfiniteFuture when none waits.
  absl::Time NextTokenDue(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The scheduler's clock (options.clock).
  absl::Time RulesNow() const { return options_.clock(); }
  // Undoes the run's vetoed claims; false when that failed (handled).
  bool UndoVetoed(int64_t run_id, HeldRun& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Passes `jobs` (claimed at `claimed_at`) through the dial gate to the
  // dialer; what is not dialed is undone in the next round.
  void DialBatch(int64_t run_id, HeldRun& run, const std::vector<store::ClaimedJob>& jobs,
                 absl::Time claimed_at, int* budget) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Checks every batch the replicated-claims gate holds with one statement:
  // dials the confirmed ones, gives back those held past the timeout (all
  // of them when draining). Returns when to check again (InfiniteFuture:
  // nothing held).
  absl::Time ConfirmHeld(bool draining) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Bookkeeping of claims never handed to the dialer (undispatched_).
  void NoteClaimed(int64_t run_id, const std::vector<store::ClaimedJob>& jobs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteGone(int64_t run_id, const std::string& token) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Remembers the id of a claim of run `run_id` that failed (in_doubt_claims_).
  void NoteInDoubt(int64_t run_id, const std::string& claim_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reconciles run `run_id` (Reconciler::Reconcile with `min_age`) with the
  // claim ids of its in-doubt claims; once that succeeds they are forgotten
  // (every job they committed was seen and is being queued again).
  absl::Status ReconcileRun(int64_t run_id, absl::Duration min_age)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  store::LeaseRepository* leases_;
  dialer::Dialer* dialer_;
  SchedulerOptions options_;
  ErrorHandler errors_;
  LeaseKeeper keeper_;
  Claimer claimer_;
  DialPipeline pipeline_;
  Completer completer_;
  Reconciler reconciler_;
  RuleKeeper rule_keeper_;
  ReplicationGate gate_;

  // Guards the held runs; the dispatcher holds it while it works, other
  // threads only briefly (HeldRuns, SweepNow).
  mutable absl::Mutex mu_;
  std::map<int64_t, HeldRun> runs_ ABSL_GUARDED_BY(mu_);
  int64_t next_run_turn_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time next_acquire_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_renewal_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_reconcile_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_untracked_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Set when a round left work undone: no idle wait.
  bool more_work_ ABSL_GUARDED_BY(mu_) = false;
  // When the batches held by the replicated-claims gate are checked next.
  absl::Time next_gate_poll_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // Claims never handed to the dialer and not given back, by run id and
  // token; survives Drop (a lost lease), so that when this worker takes the
  // run over again it returns them to the queue rather than reconciling
  // them as dials of unknown outcome.
  std::map<int64_t, std::map<std::string, store::ClaimedJob>> undispatched_ ABSL_GUARDED_BY(mu_);
  // The claim ids of claims that failed (their commit possibly in doubt),
  // by run id, with when they failed: jobs found dialing with one of them
  // were never handed to the dialer and go back to the queue (ReconcileRun,
  // next round or on acquisition). Survives Drop like undispatched_;
  // entries older than kInDoubtClaimRetention lease TTLs are dropped.
  std::map<int64_t, std::map<std::string, absl::Time>> in_doubt_claims_ ABSL_GUARDED_BY(mu_);

  // The shutdown signal; a separate lock so Shutdown never waits for
  // database work.
  absl::Mutex signal_mu_;
  bool draining_ ABSL_GUARDED_BY(signal_mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(signal_mu_) = absl::InfiniteFuture();
  bool started_ ABSL_GUARDED_BY(signal_mu_) = false;

  std::thread thread_;
};

// "hostname:pid:random": unique per process start.
std::string DefaultWorkerId();

}  // namespace campaign::scheduler

#endif  // CAMPAIGN_SERVER_SCHEDULER_SCHEDULER_H_
