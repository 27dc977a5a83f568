// The scheduler's side of the database: leases on runs, fenced claims of
// queued jobs, and the recording of dials and their outcomes. Every write for
// a run is fenced on the lease epoch the worker acquired it with, so a worker
// that lost its lease can no longer change anything.
#ifndef CAMPAIGN_SERVER_STORE_LEASE_STORE_H_
#define CAMPAIGN_SERVER_STORE_LEASE_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/store/database.h"
#include "server/store/lease_repository.h"

namespace campaign::store {

// Leases, claims and outcomes. A write whose lease was lost is ABORTED (see
// IsLeaseLost).
class LeaseStore : public LeaseRepository {
 public:
  // With `enforce_calls_per_second`, every claim takes from its business's
  // dial-rate bucket (the rate governor); without, claims never touch it.
  LeaseStore(Database* database, absl::Duration lease_ttl, bool enforce_calls_per_second = false);

  // Leases up to `max_runs` runs for `worker`: runs to dispatch (pending or
  // running) and runs that still have calls to reconcile (paused, stopped or
  // cancelled with jobs in progress). A pending run becomes running with
  // started_at set. Each acquisition increments the run's lease epoch.
  // Businesses take turns (the oldest waiting run of each first, fewest held
  // by this worker first); when `max_runs_per_business` > 0 the worker never
  // holds more runs of one business than that. Legacy rows the run checks
  // refuse are skipped, never an error for the other runs.
  absl::StatusOr<std::vector<AcquiredRun>> Acquire(const std::string& worker, int max_runs,
                                                   AcquireMode mode,
                                                   int max_runs_per_business = 0) override;

  // Renews the leases `worker` holds among `leases` (lock_ts = now) in one
  // statement, locking the run rows in id order; returns the control state of
  // each run still held by this worker at the lease's epoch, by run id. A
  // lease missing from the answer was lost. The only per-run work of lease
  // keeping: claims and recorded calls do not renew.
  absl::StatusOr<std::map<int64_t, RunControl>> RenewLeases(
      const std::string& worker, const std::vector<Lease>& leases) override;

  // Reads the run's control state; ABORTED when the lease is lost. Called
  // before every dial.
  absl::StatusOr<RunControl> Control(const Lease& lease) override;

  // Claims up to `options.max_jobs` due queued jobs (next_attempt_at <=
  // options.now) in (next_attempt_at, id) order, never more than the run's
  // free concurrency slots, in one statement that also checks the run is
  // running, not cancel-requested and still leased by this worker: a Stop,
  // Cancel, Pause or lease loss that commits first wins. Claimed jobs become
  // dialing with a fresh token, dial_started_at and attempts + 1, and each
  // gets its attempt's row in call_attempts (the ledger) in the same
  // statement; each comes back with the facts rules::Decide needs (zone
  // spec, caller id, attempts, on do-not-call, and the number's recent dials
  // when options.per_number_window > 0). The run's next_dial_at /
  // waiting_reason are cleared when a job is claimed.
  // When calls per second are enforced, the same statement also takes no
  // more jobs than the business's bucket holds whole tokens and debits them
  // (a business with no bucket row gets a full one first); `rate` says
  // whether the bucket limited the claim and when its next token is due.
  absl::StatusOr<std::vector<ClaimedJob>> Claim(const Lease& lease, const ClaimOptions& options,
                                                ClaimRate* rate) override;
  using LeaseRepository::Claim;

  // The business default and run override rows of dialing_policy (fields
  // not set are empty) and the run's start_at / end_at.
  absl::StatusOr<RunDialingRules> DialingRules(const Lease& lease) override;

  // Undoes vetoed claims in one fenced statement: a deferred job goes back
  // to queued (next_attempt_at, waiting_reason), a skipped one to skipped
  // (skip_reason, error_message = the rule; counted in skipped_count and
  // cursor_position); either way the attempt and token are given back and
  // the attempt's ledger row deleted. When the run was stopped or cancelled
  // meanwhile (seen on the locked row), a deferral becomes a cancel.
  absl::StatusOr<RunControl> UndoClaims(const Lease& lease,
                                        const std::vector<ClaimUndo>& undo) override;

  // Writes the run's next_dial_at / waiting_reason from its earliest queued
  // job when that is in the future and differs from what is shown (one
  // fenced statement, no write when unchanged); returns the control state
  // and that time.
  absl::StatusOr<RunWaiting> NoteWaiting(const Lease& lease, absl::Time now) override;

  // The due queued jobs at `now`, counted by zone spec (one statement).
  absl::StatusOr<std::vector<ZoneDue>> DueZones(const Lease& lease, absl::Time now) override;

  // Defers (next_attempt_at = the zone's opening, waiting_reason
  // calling_window) or skips (window_unreachable, counted) every due queued
  // job of each zone of `screens`, in one fenced statement.
  absl::StatusOr<RunControl> ScreenZones(const Lease& lease, absl::Time now,
                                         const std::vector<ZoneScreen>& screens) override;

  // Cancels the queued jobs with `reason` (counted as cancelled) and
  // completes the run when nothing is in progress, in one fenced
  // transaction; calls in progress end as usual and the run completes with
  // the last of them (RecordCalls).
  absl::StatusOr<RunControl> EndAtPassed(const Lease& lease, absl::string_view reason) override;

  // The dial gate: runs `dial` inside a transaction that holds the run row
  // share-locked after checking the lease and that the run is running with
  // no cancel requested. A Stop, Cancel, Pause or takeover (each updates the
  // row) either committed before, and then `dial` is not run (false), or
  // waits until `dial` returned: no call of a claimed batch is placed after
  // StopRun or CancelRun returned. `dial` runs at most once, also when the
  // transaction is retried or fails after it ran (the gate writes nothing).
  absl::StatusOr<bool> GateDials(const Lease& lease, const std::function<void()>& dial) override;

  // One read of pg_stat_replication and synchronous_standby_names (see
  // ReplicationState in queries/leases.sql), in one round trip.
  absl::StatusOr<ReplicationState> ReadReplication() override;

  // Undoes a claim whose dial never started, decided on the run row locked
  // in the same transaction (so a Stop or Cancel that committed first wins
  // over whatever the worker read before): the job goes back to queued when
  // the run is running or paused with no cancel requested, else it becomes
  // cancelled ("Stopped by user", "Cancelled by user" or "Run failed: ...").
  // Returns the status chosen; a claim already undone is left alone.
  absl::StatusOr<JobStatus> ReleaseClaim(const Lease& lease, const ClaimedJob& job) override;

  // Records, in one fenced transaction, that the provider accepted the calls
  // of `starts` (dialing → calling with call_sid and started_at, one
  // statement; the ledger row gets the call id) and finishes the jobs of
  // `results` (dialing or calling → their outcome, or back to queued when
  // the result carries a retry_at; one statement that also fills each
  // attempt's ledger row and moves the run's counters and cursor once);
  // completes the run when nothing is queued or in progress any more.
  // A job whose token no longer matches, or that is already past the state a
  // record expects, is left alone (a duplicate record changes nothing).
  // Watchers see one version bump per statement.
  absl::StatusOr<RunControl> RecordCalls(const Lease& lease, const std::vector<CallStart>& starts,
                                         const std::vector<JobResult>& results) override;

  // Honours a cancel request: queued jobs become cancelled ("Cancelled by
  // user") and the run cancelled with ended_at. Returns the jobs cancelled.
  absl::StatusOr<int64_t> FinalizeCancel(const Lease& lease) override;

  // Completes a running run with nothing queued or in progress; true if it did.
  absl::StatusOr<bool> CompleteIfDone(const Lease& lease) override;

  // Fails the run with `error`: queued jobs are cancelled, last_error set.
  absl::Status FailRun(const Lease& lease, absl::string_view error) override;

  // The run's jobs in dialing or calling.
  absl::StatusOr<std::vector<ActiveJob>> ActiveJobs(const Lease& lease) override;

  // Gives the lease up so another worker can take the run at once. A cancel
  // requested meanwhile is finalised first (as FinalizeCancel), so a paused
  // run is never left behind with a pending cancel.
  absl::Status Release(const Lease& lease) override;

  // Finalises (as FinalizeCancel) up to `max_runs` runs with a pending
  // cancel that no live lease holds; returns how many. Part of the sweep.
  absl::StatusOr<int64_t> FinalizeAbandonedCancels(int max_runs) override;

 private:
  Database* database_;
  absl::Duration lease_ttl_;
  bool enforce_calls_per_second_;
};

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_LEASE_STORE_H_
