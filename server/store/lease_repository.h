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
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
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

// A job claimed for dialing, with what the dialing rules decide it by.
struct ClaimedJob {
  ClaimedJob() = default;
  ClaimedJob(int64_t job_id, int64_t lead_id, std::string phone, std::string token)
      : job_id(job_id), lead_id(lead_id), phone(std::move(phone)), token(std::move(token)) {}

  int64_t job_id = 0;
  int64_t lead_id = 0;
  std::string phone;
  std::string token;
  // The job's attempts, this claim's included (the attempt's number).
  int attempts = 1;
  // The job's zone spec and sticky caller id (empty: none).
  std::string time_zone;
  std::string caller_id;
  // On the business's do-not-call list at the claim.
  bool on_do_not_call = false;
  // The number's dials in the per-number window before the claim's `now`
  // across the business (this claim's not counted), and the oldest of them;
  // counted only when the claim asked (ClaimOptions::per_number_window).
  int recent_dials = 0;
  absl::Time oldest_recent_dial = absl::InfinitePast();
};

// What a claim takes.
struct ClaimOptions {
  // Most jobs.
  int max_jobs = 0;
  // The scheduler's clock: only jobs with next_attempt_at <= now are due.
  absl::Time now;
  // > 0: count each claimed number's dials in this window before `now`
  // (the per-number cap); zero: not counted.
  absl::Duration per_number_window = absl::ZeroDuration();
  // Read, after the claim committed and on the connection that committed
  // it, a WAL position at or past the claim's commit record
  // (ClaimRate::commit_lsn): the replicated-claims gate waits for a
  // synchronous standby to flush that far. Off: no extra statement.
  bool read_commit_lsn = false;
  // The prefix of this claim's dial tokens (`<claim_id>.<job id>`), chosen by
  // the caller before the claim: when the claim fails with its commit in
  // doubt, jobs found dialing later with this prefix were committed but
  // never handed to the caller, so it knows they were never dialed and can
  // queue them again. Empty: the store picks a random one.
  std::string claim_id;
};

// The claim id of a dial token (`<claim_id>.<job id>`, ClaimOptions::
// claim_id); empty for a token of another form (the random UUIDs of claims
// made by earlier versions).
inline absl::string_view ClaimIdOfToken(absl::string_view token) {
  const size_t dot = token.rfind('.');
  return dot == absl::string_view::npos ? absl::string_view() : token.substr(0, dot);
}

// The stored dialing policy rows a run dials by (fields not set are empty),
// and its schedule.
struct RunDialingRules {
  // The business default (dialing_policy run_id 0) and the run's overrides.
  DialingPolicy business;
  DialingPolicy run;
  std::optional<absl::Time> start_at;
  std::optional<absl::Time> end_at;
};

// A claim the dialing rules vetoed before its dial, for UndoClaims.
struct ClaimUndo {
  int64_t job_id = 0;
  std::string token;
  // kQueued (deferred until `until`, for `wait`) or kSkipped (`skip`).
  JobStatus to = JobStatus::kQueued;
  absl::Time until = absl::InfinitePast();
  WaitReason wait = WaitReason::kNone;
  SkipReason skip = SkipReason::kNone;
  // The rule behind it (the job's error message).
  std::string rule;
};

// The due queued jobs of one zone spec (DueZones).
struct ZoneDue {
  std::string zone;
  int64_t jobs = 0;
};

// What the screen does with the due jobs of a closed zone (ScreenZones).
struct ZoneScreen {
  std::string zone;
  // True: skipped (the window never opens); false: deferred until `until`.
  bool skip = false;
  absl::Time until = absl::InfinitePast();
  // The rule, for a person (error message of skipped jobs).
  std::string rule;
};

// A run's state after a claim found nothing due (NoteWaiting).
struct RunWaiting {
  RunControl control;
  // When the earliest queued job becomes due, if in the future.
  std::optional<absl::Time> next_due;
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
  // With ClaimOptions::read_commit_lsn: the WAL position (bytes since 0/0)
  // at or past the claim's commit record on the server that committed it;
  // unset when not asked for or when it could not be read (the claim still
  // committed: such a batch can never be confirmed and is given back).
  std::optional<uint64_t> commit_lsn;
};

// The primary's replication as the replicated-claims gate sees it
// (LeaseRepository::ReadReplication).
struct ReplicationState {
  // The primary's synchronous_standby_names (empty: synchronous replication
  // is off).
  std::string synchronous_standby_names;
  // Standbys streaming from the primary (rows of pg_stat_replication).
  int64_t standbys = 0;
  // Of those, the ones whose state this role may not read.
  int64_t unreadable = 0;
  // The highest flush position (bytes since 0/0) of the standbys that are
  // synchronous now (sync_state sync or quorum); unset when none is.
  std::optional<uint64_t> sync_flushed;
  // Whether the role may read pg_stat_replication's positions (it has
  // pg_read_all_stats, or is a superuser).
  bool can_read_positions = false;
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
  // The job's attempts (this call's number).
  int attempts = 1;
};

// A call the provider accepted, for RecordCalls.
struct CallStart {
  int64_t job_id = 0;
  std::string token;
  std::string call_sid;
};

// The final result of one job, for RecordCalls.
struct JobResult {
  JobResult() = default;
  JobResult(int64_t job_id, std::string token, JobStatus status, std::string error,
            std::string call_sid)
      : job_id(job_id),
        token(std::move(token)),
        status(status),
        error(std::move(error)),
        call_sid(std::move(call_sid)) {}

  int64_t job_id = 0;
  std::string token;
  // kCompleted, kFailed, kNoAnswer or kBusy.
  JobStatus status = JobStatus::kCompleted;
  std::string error;
  // The provider's call id when known and not yet recorded; empty otherwise.
  std::string call_sid;
  // When set, the job is not final: it goes back to queued, due then
  // (waiting_reason retry_delay), a new attempt of the same lead.
  std::optional<absl::Time> retry_at;
  // What the provider said about who answered, and when; empty / unset when
  // not reported.
  std::string answered_by;
  std::optional<absl::Time> answered_at;
  // Whether the outcome is the provider's (a retry may follow); false for
  // dials whose fate is unknown (failed, never redialed).
  bool retryable = true;
  // The attempt that ended (the job's attempts; a retry is decided by it).
  int attempts = 1;
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
  // Claims up to `options.max_jobs` due queued jobs of a dispatchable run,
  // each with its attempt's ledger row and its facts for the dialing rules;
  // when calls per second are enforced, never more than the business's
  // bucket holds. `rate` (may be null) receives what the governor did.
  virtual absl::StatusOr<std::vector<ClaimedJob>> Claim(const Lease& lease,
                                                        const ClaimOptions& options,
                                                        ClaimRate* rate) = 0;
  // Claim of jobs due now (absl::Now()), nothing counted for the cap.
  absl::StatusOr<std::vector<ClaimedJob>> Claim(const Lease& lease, int max_jobs,
                                                ClaimRate* rate) {
    ClaimOptions options;
    options.max_jobs = max_jobs;
    options.now = absl::Now();
    return Claim(lease, options, rate);
  }
  // Claim without the governor's answer.
  absl::StatusOr<std::vector<ClaimedJob>> Claim(const Lease& lease, int max_jobs) {
    return Claim(lease, max_jobs, nullptr);
  }
  // The run's stored dialing policy rows and schedule.
  virtual absl::StatusOr<RunDialingRules> DialingRules(const Lease& lease) = 0;
  // Undoes claims the dialing rules vetoed before any dial, in one fenced
  // statement; returns the run's control state.
  virtual absl::StatusOr<RunControl> UndoClaims(const Lease& lease,
                                                const std::vector<ClaimUndo>& undo) = 0;
  // After a claim found nothing due at `now`: notes on the run when its next
  // queued job is due and why (only when that changed); returns the run's
  // control state and that time.
  virtual absl::StatusOr<RunWaiting> NoteWaiting(const Lease& lease, absl::Time now) = 0;
  // The run's due queued jobs at `now`, counted by zone spec.
  virtual absl::StatusOr<std::vector<ZoneDue>> DueZones(const Lease& lease, absl::Time now) = 0;
  // Defers or skips every due queued job (at `now`) of the zones in
  // `screens`, in one fenced statement; returns the run's control state.
  virtual absl::StatusOr<RunControl> ScreenZones(const Lease& lease, absl::Time now,
                                                 const std::vector<ZoneScreen>& screens) = 0;
  // The run's end_at passed: cancels its queued jobs with `reason` (counted)
  // and completes it when no call is in progress; returns the run's control
  // state.
  virtual absl::StatusOr<RunControl> EndAtPassed(const Lease& lease, absl::string_view reason) = 0;
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
  // The primary's replication state (one statement). Repositories of no
  // replicated database (the unit tests' fakes) answer: no standby, nothing
  // synchronous, positions readable.
  virtual absl::StatusOr<ReplicationState> ReadReplication() {
    ReplicationState none;
    none.can_read_positions = true;
    return none;
  }
};

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_LEASE_REPOSITORY_H_
