// The scheduler's side of the database: leases on runs, fenced claims of
// queued jobs, and the recording of dials and their outcomes. Every write for
// a run is fenced on the lease epoch the worker acquired it with, so a worker
// that lost its lease can no longer change anything.
#ifndef CAMPAIGN_SERVER_STORE_LEASE_STORE_H_
#define CAMPAIGN_SERVER_STORE_LEASE_STORE_H_

#include <cstdint>
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
  LeaseStore(Database* database, absl::Duration lease_ttl);

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

  // Renews the lease (lock_ts = now) and returns the run's control state.
  absl::StatusOr<RunControl> Heartbeat(const Lease& lease) override;

  // Reads the run's control state; ABORTED when the lease is lost. Called
  // before every dial.
  absl::StatusOr<RunControl> Control(const Lease& lease) override;

  // Claims up to `max_jobs` queued jobs in id order, never more than the
  // run's free concurrency slots, in one statement that also checks the run
  // is running, not cancel-requested and still leased by this worker: a
  // Stop, Cancel, Pause or lease loss that commits first wins. Claimed jobs
  // become dialing with a fresh token, dial_started_at and attempts + 1.
  absl::StatusOr<std::vector<ClaimedJob>> Claim(const Lease& lease, int max_jobs) override;

  // Undoes a claim whose dial never started, decided on the run row locked
  // in the same transaction (so a Stop or Cancel that committed first wins
  // over whatever the worker read before): the job goes back to queued when
  // the run is running or paused with no cancel requested, else it becomes
  // cancelled ("Stopped by user", "Cancelled by user" or "Run failed: ...").
  // Returns the status chosen; a claim already undone is left alone.
  absl::StatusOr<JobStatus> ReleaseClaim(const Lease& lease, const ClaimedJob& job) override;

  // Records that the provider accepted the call: calling, call_sid,
  // started_at, and the run's version bumped so watchers see it.
  absl::Status RecordCallStarted(const Lease& lease, int64_t job_id, absl::string_view token,
                                 absl::string_view call_sid) override;

  // Finishes jobs (dialing or calling) with their outcomes in one transaction,
  // counters and cursor included; completes the run when nothing is queued or
  // in progress any more. Jobs already final are left alone.
  absl::StatusOr<RunControl> RecordOutcomes(const Lease& lease,
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
};

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_LEASE_STORE_H_
