// The scheduler's side of the database as an interface: leases on runs,
// fenced claims of queued jobs, and the recording of dials and outcomes.
// LeaseStore implements it on PostgreSQL; unit tests of the scheduler's own
// decisions implement it with a fake. The value types are declared with
// LeaseStore (store/lease_store.h).
#ifndef CAMPAIGN_SERVER_STORE_LEASE_REPOSITORY_H_
#define CAMPAIGN_SERVER_STORE_LEASE_REPOSITORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/model/model.h"

namespace campaign::store {

// Defined in store/lease_store.h.
struct Lease;
struct AcquiredRun;
struct RunControl;
struct ClaimedJob;
struct ActiveJob;
struct JobResult;
enum class AcquireMode;

// Leases, claims and outcomes (the contract of each method is written on
// LeaseStore). Every write for a run is fenced on the lease it names: a write
// whose lease was lost is ABORTED and recognised by IsLeaseLost, and the
// worker must let the run go. Implementations are thread-safe.
class LeaseRepository {
 public:
  virtual ~LeaseRepository() = default;

  // Leases up to `max_runs` runs for `worker` (no more than
  // `max_runs_per_business` of one business when > 0).
  virtual absl::StatusOr<std::vector<AcquiredRun>> Acquire(const std::string& worker, int max_runs,
                                                           AcquireMode mode,
                                                           int max_runs_per_business) = 0;
  // Renews the lease and returns the run's control state.
  virtual absl::StatusOr<RunControl> Heartbeat(const Lease& lease) = 0;
  // Reads the run's control state.
  virtual absl::StatusOr<RunControl> Control(const Lease& lease) = 0;
  // Claims up to `max_jobs` queued jobs of a dispatchable run.
  virtual absl::StatusOr<std::vector<ClaimedJob>> Claim(const Lease& lease, int max_jobs) = 0;
  // Undoes a claim whose dial never started; returns the job's new status.
  virtual absl::StatusOr<JobStatus> ReleaseClaim(const Lease& lease, const ClaimedJob& job) = 0;
  // Records that the provider accepted the call.
  virtual absl::Status RecordCallStarted(const Lease& lease, int64_t job_id,
                                         absl::string_view token, absl::string_view call_sid) = 0;
  // Finishes jobs with their outcomes; returns the run's control state.
  virtual absl::StatusOr<RunControl> RecordOutcomes(const Lease& lease,
                                                    const std::vector<JobResult>& results) = 0;
  // Honours a cancel request; returns the queued jobs cancelled.
  virtual absl::StatusOr<int64_t> FinalizeCancel(const Lease& lease) = 0;
  // Completes a running run with nothing queued or in progress.
  virtual absl::StatusOr<bool> CompleteIfDone(const Lease& lease) = 0;
  // Fails the run with `error`.
  virtual absl::Status FailRun(const Lease& lease, absl::string_view error) = 0;
  // The run's jobs in dialing or calling.
  virtual absl::StatusOr<std::vector<ActiveJob>> ActiveJobs(const Lease& lease) = 0;
  // Gives the lease up so another worker can take the run at once.
  virtual absl::Status Release(const Lease& lease) = 0;
  // Finalises up to `max_runs` pending cancels no live lease holds.
  virtual absl::StatusOr<int64_t> FinalizeAbandonedCancels(int max_runs) = 0;
};

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_LEASE_REPOSITORY_H_
