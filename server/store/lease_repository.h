// The scheduler's side of the database as an interface: leases on runs,
// fenced claims of queued jobs, and the recording of dials and outcomes.
// LeaseStore implements it on PostgreSQL; unit tests of the scheduler's own
// decisions implement it with a fake.
#ifndef CAMPAIGN_SERVER_STORE_LEASE_REPOSITORY_H_
#define CAMPAIGN_SERVER_STORE_LEASE_REPOSITORY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/model/model.h"

namespace campaign::store {

// A run held by a worker: the fencing token of every write for it.
struct Lease {
  int64_t run_id = 0;
  int64_t business_id = 0;
  int64_t epoch = 0;
  std::string worker;
};

// A run a worker just acquired.
struct AcquiredRun {
  Lease lease;
  int32_t concurrency = 0;
  // The worker that held it before (its lease expired, or it released it).
  std::string previous_worker;
  // CreateRun's call settings (they never change, so they are read once
  // here rather than with every claim).
  CallSettings call_settings;
};

// What a worker needs to know of its run before it claims or dials.
struct RunControl {
  std::optional<RunStatus> status;
  bool cancel_requested = false;
  int64_t queued = 0;
  int64_t in_progress = 0;
  // When the run ended (stopped, cancelled, completed, failed); unset before.
  std::optional<absl::Time> ended_at;
  // Whether the run's calls in progress are hung up once it has ended (the
  // hang_up of its first StopRun or CancelRun; true otherwise).
  bool hang_up_on_end = true;

  // True when new dials may start: running and no cancel requested.
  bool Dispatchable() const { return status == RunStatus::kRunning && !cancel_requested; }
};

// A job claimed for dialing.
struct ClaimedJob {
  int64_t job_id = 0;
  int64_t lead_id = 0;
  std::string phone;
  std::string token;
};

// What the rate governor (the business's calls per second, enforced by a
// replica that dials a real provider) did to one claim.
struct ClaimRate {
  // The business's bucket held fewer whole tokens than the run had free
  // slots: the claim took fewer jobs than it could have.
  bool limited = false;
  // How long until the bucket holds a whole token again; zero when it holds
  // one now (or the governor is off). No claim of the business gets a job
  // before then.
  absl::Duration next_token_in = absl::ZeroDuration();
};

// A job in dialing or calling, as found when a worker acquires a run.
struct ActiveJob {
  int64_t job_id = 0;
  int64_t lead_id = 0;
  std::string phone;
  std::string token;
  // Empty while dialing.
  std::string call_sid;
  JobStatus status = JobStatus::kDialing;
  absl::Time dial_started_at;
};

// A call the provider accepted, for RecordCalls.
struct CallStart {
  int64_t job_id = 0;
  std::string token;
  std::string call_sid;
};

// The final result of one job, for RecordCalls.
struct JobResult {
  int64_t job_id = 0;
  std::string token;
  // kCompleted, kFailed, kNoAnswer or kBusy.
  JobStatus status = JobStatus::kCompleted;
  std::string error;
  // The provider's call id when known and not yet recorded; empty otherwise.
  std::string call_sid;
};

// Which runs Acquire looks at.
enum class AcquireMode {
  // Runs no worker holds.
  kFree,
  // Runs whose holder's lease expired (the sweep); one sweeper at a time
  // across replicas, through an advisory lock.
  kExpired,
};

// True for the status of a write whose lease was lost (ABORTED, marked as a
// lease loss): the worker must let the run go. Other ABORTED statuses are not
// lease losses.
bool IsLeaseLost(const absl::Status& status);

// The status of a write whose lease on `lease.run_id` was lost: ABORTED,
// marked so that IsLeaseLost recognises it. Fakes of LeaseRepository use it
// to report a lease loss exactly as LeaseStore does.
absl::Status LeaseLostError(const Lease& lease);

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
  // Renews every lease of `worker` in `leases` in one statement; returns the
  // control state of each run still held, by run id (a lease missing from
  // the answer was lost).
  virtual absl::StatusOr<std::map<int64_t, RunControl>> RenewLeases(
      const std::string& worker, const std::vector<Lease>& leases) = 0;
  // Reads the run's control state.
  virtual absl::StatusOr<RunControl> Control(const Lease& lease) = 0;
  // Claims up to `max_jobs` queued jobs of a dispatchable run; when calls
  // per second are enforced, never more than the business's bucket holds.
  // `rate` (may be null) receives what the governor did.
  virtual absl::StatusOr<std::vector<ClaimedJob>> Claim(const Lease& lease, int max_jobs,
                                                        ClaimRate* rate) = 0;
  // Claim without the governor's answer.
  absl::StatusOr<std::vector<ClaimedJob>> Claim(const Lease& lease, int max_jobs) {
    return Claim(lease, max_jobs, nullptr);
  }
  // Runs `dial` (at most once) while the run is locked against changes and
  // verified running, uncancelled and still held; false, without running
  // it, when the run may not dial any more.
  virtual absl::StatusOr<bool> GateDials(const Lease& lease, const std::function<void()>& dial) = 0;
  // Undoes a claim whose dial never started; returns the job's new status.
  virtual absl::StatusOr<JobStatus> ReleaseClaim(const Lease& lease, const ClaimedJob& job) = 0;
  // Records a batch of accepted calls and of final outcomes in one
  // transaction; returns the run's control state.
  virtual absl::StatusOr<RunControl> RecordCalls(const Lease& lease,
                                                 const std::vector<CallStart>& starts,
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
