#include "server/store/lease_store.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "server/store/rows.h"

namespace campaign::store {
namespace {

// One sweeper at a time across replicas (transaction-scoped advisory lock).
constexpr int64_t kSweepLockKey = 0x0CA11'0002;
constexpr char kTrySweepLockSql[] = "SELECT pg_try_advisory_xact_lock($1)";

// Leases runs to dispatch, and runs with calls left to reconcile. `$4` picks
// free runs (false) or runs whose lease expired (true). Businesses take
// turns: each candidate's turn is the number of runs of its business this
// worker (`$1`) already holds plus its rank among its business's candidates
// (oldest first), and candidates are taken by turn, then id, so the oldest
// waiting run of every business comes before a second run of any. `$5` > 0
// caps the runs of one business this worker holds. Rows the run checks would
// refuse (legacy rows before migration 0007) are never candidates, so one
// such row cannot fail the statement for every other run. Candidates are
// locked with SKIP LOCKED (the ranking reads without locks; a row another
// worker holds locked is skipped). The pre-update holder is read from the
// same snapshot.
constexpr char kAcquireSql[] = R"sql(
WITH eligible AS (
  SELECT r.id, r.business_id
    FROM outbound_call_runs r
   WHERE (r.status IN ('pending', 'running')
          OR (r.status IN ('paused', 'stopped', 'cancelled', 'failed')
              AND r.in_progress_count > 0))
     AND r.concurrency > 0 AND r.total_leads >= 0 AND r.queued_count >= 0
     AND r.in_progress_count >= 0 AND r.completed_count >= 0 AND r.failed_count >= 0
     AND r.cancelled_count >= 0 AND r.cursor_position >= 0
     AND r.cursor_position <= r.total_leads),
held AS (
  SELECT e.business_id, count(*) AS runs
    FROM eligible e JOIN outbound_call_runs r ON r.id = e.id
   WHERE r.locked_by_worker = $1
   GROUP BY e.business_id),
ranked AS (
  SELECT e.id,
         coalesce(h.runs, 0)
           + row_number() OVER (PARTITION BY e.business_id ORDER BY e.id) AS turn
    FROM eligible e
    JOIN outbound_call_runs r ON r.id = e.id
    LEFT JOIN held h ON h.business_id = e.business_id
   WHERE CASE WHEN $4
              THEN r.locked_by_worker IS NOT NULL
                   AND (r.lock_ts IS NULL
                        OR r.lock_ts < now() - $2::float8 * interval '1 microsecond')
              ELSE r.locked_by_worker IS NULL END),
candidates AS (
  SELECT r.id, r.locked_by_worker AS previous_worker
    FROM outbound_call_runs r
    JOIN ranked k ON k.id = r.id
   WHERE ($5::int <= 0 OR k.turn <= $5::int)
     AND (r.status IN ('pending', 'running')
          OR (r.status IN ('paused', 'stopped', 'cancelled', 'failed')
              AND r.in_progress_count > 0))
     AND CASE WHEN $4
              THEN r.locked_by_worker IS NOT NULL
                   AND (r.lock_ts IS NULL
                        OR r.lock_ts < now() - $2::float8 * interval '1 microsecond')
              ELSE r.locked_by_worker IS NULL END
   ORDER BY k.turn, r.id
   LIMIT $3
   FOR UPDATE OF r SKIP LOCKED)
UPDATE outbound_call_runs r
   SET locked_by_worker = $1, lock_ts = now(), lease_epoch = r.lease_epoch + 1,
       status = CASE WHEN r.status = 'pending' THEN 'running' ELSE r.status END,
       started_at = CASE WHEN r.status = 'pending' THEN coalesce(r.started_at, now())
                         ELSE r.started_at END,
       version = r.version + 1, updated_at = now()
  FROM candidates c
 WHERE r.id = c.id
RETURNING r.id, r.business_id, r.lease_epoch, r.concurrency, coalesce(c.previous_worker, ''))sql";

// The fence of every write: the run row, locked, if this lease still holds.
constexpr char kFenceSql[] =
    "SELECT 1 FROM outbound_call_runs"
    " WHERE id = $1 AND lease_epoch = $2 AND locked_by_worker = $3 FOR NO KEY UPDATE";

constexpr char kControlSql[] =
    "SELECT status, cancel_requested, queued_count, in_progress_count FROM outbound_call_runs"
    " WHERE id = $1 AND lease_epoch = $2 AND locked_by_worker = $3";

constexpr char kHeartbeatSql[] =
    "UPDATE outbound_call_runs SET lock_ts = now()"
    " WHERE id = $1 AND lease_epoch = $2 AND locked_by_worker = $3"
    " RETURNING status, cancel_requested, queued_count, in_progress_count";

// Claims queued jobs with the run row locked and re-checked in the same
// statement; never more than the run's free slots.
constexpr char kClaimSql[] = R"sql(
WITH run AS (
  SELECT r.id, r.version, greatest(0, least($4::int, r.concurrency - r.in_progress_count)) AS free
    FROM outbound_call_runs r
   WHERE r.id = $1 AND r.lease_epoch = $2 AND r.locked_by_worker = $3
     AND r.status = 'running' AND NOT r.cancel_requested
   FOR NO KEY UPDATE),
picked AS (
  SELECT j.id
    FROM outbound_call_jobs j
   WHERE j.run_id = (SELECT id FROM run) AND j.status = 'queued'
   ORDER BY j.id
   LIMIT (SELECT free FROM run)
   FOR UPDATE SKIP LOCKED),
claimed AS (
  UPDATE outbound_call_jobs j
     SET status = 'dialing', dial_lock_token = gen_random_uuid()::text,
         dial_started_at = now(), attempts = j.attempts + 1,
         run_version = (SELECT version + 1 FROM run)
    FROM picked
   WHERE j.id = picked.id
  RETURNING j.id, j.lead_id, coalesce(j.phone, '') AS phone, j.dial_lock_token),
counted AS (
  UPDATE outbound_call_runs r
     SET queued_count = r.queued_count - (SELECT count(*) FROM claimed),
         in_progress_count = r.in_progress_count + (SELECT count(*) FROM claimed),
         lock_ts = now(), version = r.version + 1, updated_at = now()
   WHERE r.id = (SELECT id FROM run) AND EXISTS (SELECT 1 FROM claimed)
  RETURNING 1)
SELECT id, lead_id, phone, dial_lock_token FROM claimed ORDER BY id)sql";

constexpr char kReleaseClaimSql[] =
    "UPDATE outbound_call_jobs"
    "   SET status = $4::text, error_message = nullif($5, ''),"
    "       completed_at = CASE WHEN $4::text = 'queued' THEN NULL ELSE now() END,"
    "       dial_lock_token = CASE WHEN $4::text = 'queued' THEN NULL ELSE dial_lock_token END,"
    "       dial_started_at = CASE WHEN $4::text = 'queued' THEN NULL ELSE dial_started_at END,"
    "       attempts = attempts - 1,"
    "       run_version = (SELECT r.version + 1 FROM outbound_call_runs r WHERE r.id = $2)"
    " WHERE id = $1 AND run_id = $2 AND dial_lock_token = $3 AND status = 'dialing'"
    "   AND call_sid IS NULL";

// The run state an undone claim is decided on, read after the fence locked
// the run row: a Stop or Cancel that committed first is seen.
constexpr char kRunStateSql[] =
    "SELECT status, cancel_requested, coalesce(last_error, '') FROM outbound_call_runs"
    " WHERE id = $1";

// Marks the job calling and bumps the run's version in the same statement,
// so the job's run_version is covered by the run's version (watchers read
// "jobs changed since version v").
constexpr char kCallStartedSql[] = R"sql(
WITH started AS (
  UPDATE outbound_call_jobs
     SET status = 'calling', call_sid = $4, started_at = now(),
         run_version = (SELECT r.version + 1 FROM outbound_call_runs r WHERE r.id = $2)
   WHERE id = $1 AND run_id = $2 AND dial_lock_token = $3 AND status = 'dialing'
  RETURNING 1)
UPDATE outbound_call_runs
   SET version = version + 1, updated_at = now()
 WHERE id = $2 AND EXISTS (SELECT 1 FROM started))sql";

constexpr char kFinishJobSql[] =
    "UPDATE outbound_call_jobs"
    "   SET status = $4, error_message = nullif($5, ''), completed_at = now(),"
    "       call_sid = coalesce(nullif($6, ''), call_sid),"
    "       started_at = CASE WHEN $6 <> '' THEN coalesce(started_at, now()) ELSE started_at END,"
    "       run_version = (SELECT r.version + 1 FROM outbound_call_runs r WHERE r.id = $2)"
    " WHERE id = $1 AND run_id = $2 AND dial_lock_token = $3"
    "   AND status IN ('dialing', 'calling')";

// Applies counter deltas; returns the control state afterwards.
constexpr char kCountSql[] =
    "UPDATE outbound_call_runs r"
    "   SET queued_count = r.queued_count + $2, in_progress_count = r.in_progress_count + $3,"
    "       completed_count = r.completed_count + $4, failed_count = r.failed_count + $5,"
    "       cancelled_count = r.cancelled_count + $6, cursor_position = r.cursor_position + $7,"
    "       busy_count = r.busy_count + $8, no_answer_count = r.no_answer_count + $9,"
    "       version = r.version + 1, updated_at = now()"
    " WHERE r.id = $1"
    " RETURNING r.status, r.cancel_requested, r.queued_count, r.in_progress_count";

constexpr char kCompleteSql[] =
    "UPDATE outbound_call_runs"
    "   SET status = 'completed', ended_at = now(), completed_at = now(),"
    "       version = version + 1, updated_at = now()"
    " WHERE id = $1 AND status = 'running' AND NOT cancel_requested"
    "   AND queued_count = 0 AND in_progress_count = 0"
    " RETURNING status, cancel_requested, queued_count, in_progress_count";

// Ends a run with `$2` (cancelled or failed) after `$3` queued jobs were
// cancelled; `$4` is the error (failed runs only).
constexpr char kEndRunSql[] =
    "UPDATE outbound_call_runs"
    "   SET status = $2, ended_at = now(), completed_at = now(),"
    "       last_error = coalesce(nullif($4, ''), last_error),"
    "       queued_count = queued_count - $3, cancelled_count = cancelled_count + $3,"
    "       cursor_position = cursor_position + $3,"
    "       version = version + 1, updated_at = now()"
    " WHERE id = $1 AND status IN ('pending', 'running', 'paused')";

constexpr char kActiveJobsSql[] =
    "SELECT id, lead_id, coalesce(phone, ''), coalesce(dial_lock_token, ''),"
    "       coalesce(call_sid, ''), status,"
    "       (extract(epoch from coalesce(dial_started_at, created_at)) * 1000000)::int8"
    "  FROM outbound_call_jobs"
    " WHERE run_id = $1 AND status IN ('dialing', 'calling') ORDER BY id";

// The run this lease holds, locked, with whether a cancel is pending; no
// row when the lease was lost.
constexpr char kPendingCancelSql[] =
    "SELECT cancel_requested AND status IN ('pending', 'running', 'paused')"
    "  FROM outbound_call_runs"
    " WHERE id = $1 AND lease_epoch = $2 AND locked_by_worker = $3 FOR NO KEY UPDATE";

// Runs with a pending cancel that no live lease holds (`$1`: lease TTL in
// microseconds): nothing else would finalise them (a paused run with no
// calls is never acquired again).
constexpr char kAbandonedCancelsSql[] =
    "SELECT id, business_id FROM outbound_call_runs"
    " WHERE cancel_requested AND status IN ('pending', 'running', 'paused')"
    "   AND (locked_by_worker IS NULL OR lock_ts IS NULL"
    "        OR lock_ts < now() - $1::float8 * interval '1 microsecond')"
    " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED";

constexpr char kReleaseSql[] =
    "UPDATE outbound_call_runs SET locked_by_worker = NULL, lock_ts = NULL"
    " WHERE id = $1 AND lease_epoch = $2 AND locked_by_worker = $3";

// Cancels the queued jobs of a run whose cancel was requested and ends it
// cancelled; returns the jobs cancelled. The run row must be locked.
int64_t EndCancelledRun(pqxx::work& txn, int64_t run_id, int64_t business_id) {
  const int64_t cancelled = CancelQueuedJobs(txn, run_id, business_id, "Cancelled by user");
  txn.exec_params(kEndRunSql, run_id, std::string(RunStatusName(RunStatus::kCancelled)), cancelled,
                  std::string());
  return cancelled;
}

// The payload that marks a lease loss (see IsLeaseLost).
constexpr char kLeaseLostPayload[] = "campaign.store/lease_lost";

absl::Status LeaseLost(const Lease& lease) {
  absl::Status status = absl::AbortedError(absl::StrCat(
      "lease on run ", lease.run_id, " (epoch ", lease.epoch, ") was lost to another worker"));
  status.SetPayload(kLeaseLostPayload, absl::Cord(absl::StrCat(lease.run_id)));
  return status;
}

RunControl ControlFromRow(const pqxx::row& row) {
  RunControl control;
  control.status = ParseRunStatus(row[0].as<std::string>());
  control.cancel_requested = row[1].as<bool>();
  control.queued = row[2].as<int64_t>();
  control.in_progress = row[3].as<int64_t>();
  return control;
}

// Changes of the run's counters caused by job transitions.
struct CounterDelta {
  int64_t queued = 0;
  int64_t in_progress = 0;
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t cancelled = 0;
  int64_t cursor = 0;
  // Of `failed`: busy and unanswered calls.
  int64_t busy = 0;
  int64_t no_answer = 0;

  // Accounts for `count` jobs moving from `from` to `to`.
  void Move(JobStatus from, JobStatus to, int64_t count) {
    Add(from, -count);
    Add(to, count);
  }

 private:
  void Add(JobStatus status, int64_t count) {
    switch (status) {
      case JobStatus::kQueued:
        queued += count;
        return;
      case JobStatus::kDialing:
      case JobStatus::kCalling:
        in_progress += count;
        return;
      case JobStatus::kCompleted:
        completed += count;
        cursor += count;
        return;
      case JobStatus::kNoAnswer:
        no_answer += count;
        failed += count;
        cursor += count;
        return;
      case JobStatus::kBusy:
        busy += count;
        failed += count;
        cursor += count;
        return;
      case JobStatus::kFailed:
        failed += count;
        cursor += count;
        return;
      case JobStatus::kCancelled:
        cancelled += count;
        cursor += count;
        return;
    }
  }
};

RunControl ApplyCounts(pqxx::work& txn, int64_t run_id, const CounterDelta& delta) {
  return ControlFromRow(txn.exec_params1(kCountSql, run_id, delta.queued, delta.in_progress,
                                         delta.completed, delta.failed, delta.cancelled,
                                         delta.cursor, delta.busy, delta.no_answer));
}

// Runs `body` in a transaction of the lease's business after checking (and
// locking) the lease; ABORTED when it was lost.
template <typename Body>
auto Fenced(Database* database, const Lease& lease, absl::string_view what, Body&& body)
    -> std::invoke_result_t<Body&, pqxx::work&> {
  using Result = std::invoke_result_t<Body&, pqxx::work&>;
  return database->Transact(
      Tenancy::Business(lease.business_id), what, [&](pqxx::work& txn) -> Result {
        if (txn.exec_params(kFenceSql, lease.run_id, lease.epoch, lease.worker).empty()) {
          return Result(LeaseLost(lease));
        }
        return body(txn);
      });
}

}  // namespace

bool IsLeaseLost(const absl::Status& status) {
  return status.code() == absl::StatusCode::kAborted &&
         status.GetPayload(kLeaseLostPayload).has_value();
}

LeaseStore::LeaseStore(Database* database, absl::Duration lease_ttl)
    : database_(database), lease_ttl_(lease_ttl) {}

absl::StatusOr<std::vector<AcquiredRun>> LeaseStore::Acquire(const std::string& worker,
                                                             int max_runs, AcquireMode mode,
                                                             int max_runs_per_business) {
  const bool expired = mode == AcquireMode::kExpired;
  return database_->Transact(
      Tenancy::AllBusinesses(), expired ? "sweep expired leases" : "acquire runs",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<AcquiredRun>> {
        std::vector<AcquiredRun> acquired;
        if (max_runs <= 0) return acquired;
        if (expired && !txn.exec_params1(kTrySweepLockSql, kSweepLockKey)[0].as<bool>()) {
          return acquired;  // another replica is sweeping right now
        }
        for (const auto& row :
             txn.exec_params(kAcquireSql, worker, absl::ToDoubleMicroseconds(lease_ttl_), max_runs,
                             expired, max_runs_per_business)) {
          AcquiredRun run;
          run.lease.run_id = row[0].as<int64_t>();
          run.lease.business_id = row[1].as<int64_t>();
          run.lease.epoch = row[2].as<int64_t>();
          run.lease.worker = worker;
          run.concurrency = row[3].as<int32_t>();
          run.previous_worker = row[4].as<std::string>();
          acquired.push_back(std::move(run));
        }
        return acquired;
      });
}

absl::StatusOr<RunControl> LeaseStore::Heartbeat(const Lease& lease) {
  return database_->Transact(Tenancy::Business(lease.business_id), "heartbeat",
                             [&](pqxx::work& txn) -> absl::StatusOr<RunControl> {
                               pqxx::result rows = txn.exec_params(kHeartbeatSql, lease.run_id,
                                                                   lease.epoch, lease.worker);
                               if (rows.empty()) return LeaseLost(lease);
                               return ControlFromRow(rows[0]);
                             });
}

absl::StatusOr<RunControl> LeaseStore::Control(const Lease& lease) {
  return database_->Transact(Tenancy::Business(lease.business_id), "read run control",
                             [&](pqxx::work& txn) -> absl::StatusOr<RunControl> {
                               pqxx::result rows = txn.exec_params(kControlSql, lease.run_id,
                                                                   lease.epoch, lease.worker);
                               if (rows.empty()) return LeaseLost(lease);
                               return ControlFromRow(rows[0]);
                             });
}

absl::StatusOr<std::vector<ClaimedJob>> LeaseStore::Claim(const Lease& lease, int max_jobs) {
  return database_->Transact(
      Tenancy::Business(lease.business_id), "claim jobs",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<ClaimedJob>> {
        std::vector<ClaimedJob> jobs;
        for (const auto& row :
             txn.exec_params(kClaimSql, lease.run_id, lease.epoch, lease.worker, max_jobs)) {
          jobs.push_back(ClaimedJob{row[0].as<int64_t>(), row[1].as<int64_t>(),
                                    row[2].as<std::string>(), row[3].as<std::string>()});
        }
        // Nothing claimed: a lost lease is reported as such, like every
        // other fenced write.
        if (jobs.empty() &&
            txn.exec_params(kControlSql, lease.run_id, lease.epoch, lease.worker).empty()) {
          return LeaseLost(lease);
        }
        return jobs;
      });
}

absl::StatusOr<JobStatus> LeaseStore::ReleaseClaim(const Lease& lease, const ClaimedJob& job) {
  return Fenced(
      database_, lease, "release claim", [&](pqxx::work& txn) -> absl::StatusOr<JobStatus> {
        // The fence locked the run row: its state cannot change until commit.
        const pqxx::row run = txn.exec_params1(kRunStateSql, lease.run_id);
        const std::optional<RunStatus> status = ParseRunStatus(run[0].as<std::string>());
        const bool cancel_requested = run[1].as<bool>();
        const bool requeue =
            !cancel_requested && (status == RunStatus::kRunning || status == RunStatus::kPaused ||
                                  status == RunStatus::kPending);
        const JobStatus to = requeue ? JobStatus::kQueued : JobStatus::kCancelled;
        std::string reason;
        if (!requeue) {
          reason = status == RunStatus::kStopped ? "Stopped by user"
                   : status == RunStatus::kFailed
                       ? absl::StrCat("Run failed: ", run[2].as<std::string>())
                       : "Cancelled by user";
        }
        const int64_t moved = txn.exec_params(kReleaseClaimSql, job.job_id, lease.run_id, job.token,
                                              std::string(JobStatusName(to)), reason)
                                  .affected_rows();
        CounterDelta delta;
        delta.Move(JobStatus::kDialing, to, moved);
        if (moved > 0) ApplyCounts(txn, lease.run_id, delta);
        return to;
      });
}

absl::Status LeaseStore::RecordCallStarted(const Lease& lease, int64_t job_id,
                                           absl::string_view token, absl::string_view call_sid) {
  return Fenced(database_, lease, "record call start", [&](pqxx::work& txn) -> absl::Status {
    txn.exec_params(kCallStartedSql, job_id, lease.run_id, std::string(token),
                    std::string(call_sid));
    return absl::OkStatus();
  });
}

absl::StatusOr<RunControl> LeaseStore::RecordOutcomes(const Lease& lease,
                                                      const std::vector<JobResult>& results) {
  return Fenced(database_, lease, "record call outcomes",
                [&](pqxx::work& txn) -> absl::StatusOr<RunControl> {
                  CounterDelta delta;
                  for (const JobResult& result : results) {
                    const int64_t finished =
                        txn.exec_params(kFinishJobSql, result.job_id, lease.run_id, result.token,
                                        std::string(JobStatusName(result.status)), result.error,
                                        result.call_sid)
                            .affected_rows();
                    // dialing and calling both count as in progress.
                    delta.Move(JobStatus::kDialing, result.status, finished);
                  }
                  RunControl control = ApplyCounts(txn, lease.run_id, delta);
                  if (control.status == RunStatus::kRunning && !control.cancel_requested &&
                      control.queued == 0 && control.in_progress == 0) {
                    pqxx::result completed = txn.exec_params(kCompleteSql, lease.run_id);
                    if (!completed.empty()) control = ControlFromRow(completed[0]);
                  }
                  return control;
                });
}

absl::StatusOr<int64_t> LeaseStore::FinalizeCancel(const Lease& lease) {
  return Fenced(database_, lease, "cancel run", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    return EndCancelledRun(txn, lease.run_id, lease.business_id);
  });
}

absl::StatusOr<bool> LeaseStore::CompleteIfDone(const Lease& lease) {
  return Fenced(database_, lease, "complete run", [&](pqxx::work& txn) -> absl::StatusOr<bool> {
    return !txn.exec_params(kCompleteSql, lease.run_id).empty();
  });
}

absl::Status LeaseStore::FailRun(const Lease& lease, absl::string_view error) {
  return Fenced(database_, lease, "fail run", [&](pqxx::work& txn) -> absl::Status {
    const int64_t cancelled =
        CancelQueuedJobs(txn, lease.run_id, lease.business_id, absl::StrCat("Run failed: ", error));
    txn.exec_params(kEndRunSql, lease.run_id, std::string(RunStatusName(RunStatus::kFailed)),
                    cancelled, std::string(error));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<ActiveJob>> LeaseStore::ActiveJobs(const Lease& lease) {
  return Fenced(database_, lease, "list active jobs",
                [&](pqxx::work& txn) -> absl::StatusOr<std::vector<ActiveJob>> {
                  std::vector<ActiveJob> jobs;
                  for (const auto& row : txn.exec_params(kActiveJobsSql, lease.run_id)) {
                    ActiveJob job;
                    job.job_id = row[0].as<int64_t>();
                    job.lead_id = row[1].as<int64_t>();
                    job.phone = row[2].as<std::string>();
                    job.token = row[3].as<std::string>();
                    job.call_sid = row[4].as<std::string>();
                    job.status =
                        ParseJobStatus(row[5].as<std::string>()).value_or(JobStatus::kDialing);
                    job.dial_started_at = absl::FromUnixMicros(row[6].as<int64_t>());
                    jobs.push_back(std::move(job));
                  }
                  return jobs;
                });
}

absl::Status LeaseStore::Release(const Lease& lease) {
  return database_->Transact(
      Tenancy::Business(lease.business_id), "release lease", [&](pqxx::work& txn) -> absl::Status {
        pqxx::result pending =
            txn.exec_params(kPendingCancelSql, lease.run_id, lease.epoch, lease.worker);
        if (pending.empty()) return absl::OkStatus();  // lost already: nothing to give up
        // A cancel requested while this worker held the run ends it now: once
        // released, a paused run with no calls is never acquired again.
        if (pending[0][0].as<bool>()) EndCancelledRun(txn, lease.run_id, lease.business_id);
        txn.exec_params(kReleaseSql, lease.run_id, lease.epoch, lease.worker);
        return absl::OkStatus();
      });
}

absl::StatusOr<int64_t> LeaseStore::FinalizeAbandonedCancels(int max_runs) {
  return database_->Transact(
      Tenancy::AllBusinesses(), "finalise abandoned cancels",
      [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
        int64_t finalised = 0;
        for (const auto& row : txn.exec_params(kAbandonedCancelsSql,
                                               absl::ToDoubleMicroseconds(lease_ttl_), max_runs)) {
          EndCancelledRun(txn, row[0].as<int64_t>(), row[1].as<int64_t>());
          ++finalised;
        }
        return finalised;
      });
}

}  // namespace campaign::store
