#include "server/store/lease_store.h"

#include <algorithm>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "server/store/pg_array.h"
#include "server/store/queries.h"
#include "server/store/rows.h"
#include "server/util/crypto.h"

namespace campaign::store {
namespace {

// One sweeper at a time across replicas (transaction-scoped advisory lock).
constexpr int64_t kSweepLockKey = 0x0CA11'0002;

// Cancels the queued jobs of a run whose cancel was requested and ends it
// cancelled; returns the jobs cancelled. The run row must be locked.
int64_t EndCancelledRun(pqxx::work& txn, int64_t run_id, int64_t business_id) {
  const int64_t cancelled =
      CancelQueuedJobs(txn, run_id, business_id, CancelReason(RunStatus::kCancelled));
  txn.exec_params(sql::kEndRun, run_id, business_id,
                  std::string(RunStatusName(RunStatus::kCancelled)), cancelled, std::string());
  return cancelled;
}

// The payload that marks a lease loss (see IsLeaseLost).
constexpr char kLeaseLostPayload[] = "campaign.store/lease_lost";

}  // namespace

absl::Status LeaseLostError(const Lease& lease) {
  absl::Status status = absl::AbortedError(absl::StrCat(
      "lease on run ", lease.run_id, " (epoch ", lease.epoch, ") was lost to another worker"));
  status.SetPayload(kLeaseLostPayload, absl::Cord(absl::StrCat(lease.run_id)));
  return status;
}

namespace {

RunControl ControlFromRow(const pqxx::row& row) {
  RunControl control;
  control.status = ParseRunStatus(row["status"].as<std::string>());
  control.cancel_requested = row["cancel_requested"].as<bool>();
  control.queued = row["queued_count"].as<int64_t>();
  control.in_progress = row["in_progress_count"].as<int64_t>();
  if (!row["ended_at_us"].is_null()) {
    control.ended_at = absl::FromUnixMicros(row["ended_at_us"].as<int64_t>());
  }
  control.hang_up_on_end = row["hang_up_on_end"].as<bool>();
  return control;
}

// Changes of the run's counters caused by job transitions.
struct CounterDelta {
  int64_t queued = 0;
  int64_t in_progress = 0;
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t cancelled = 0;
  int64_t skipped = 0;
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
      case JobStatus::kSkipped:
        skipped += count;
        cursor += count;
        return;
    }
  }
};

RunControl ApplyCounts(pqxx::work& txn, const Lease& lease, const CounterDelta& delta) {
  return ControlFromRow(txn.exec_params1(
      sql::kCountJobMoves, lease.run_id, lease.business_id, delta.queued, delta.in_progress,
      delta.completed, delta.failed, delta.cancelled, delta.cursor, delta.busy, delta.no_answer,
      delta.skipped));
}

// Runs `body` in a transaction of the lease's business after checking (and
// locking) the lease; ABORTED when it was lost.
template <typename Body>
auto Fenced(Database* database, const Lease& lease, absl::string_view what, Body&& body)
    -> std::invoke_result_t<Body&, pqxx::work&> {
  using Result = std::invoke_result_t<Body&, pqxx::work&>;
  return database->Transact(Tenancy::Business(lease.business_id), what,
                            [&](pqxx::work& txn) -> Result {
                              if (txn.exec_params(sql::kLockLeasedRun, lease.run_id,
                                                  lease.business_id, lease.epoch, lease.worker)
                                      .empty()) {
                                return Result(LeaseLostError(lease));
                              }
                              return body(txn);
                            });
}

// Microseconds since the epoch of a finite time (the statements' time
// parameters).
int64_t Micros(absl::Time time) { return absl::ToUnixMicros(time); }

ClaimedJob ClaimedJobFromRow(const pqxx::row& row) {
  ClaimedJob job;
  job.job_id = row["id"].as<int64_t>();
  job.lead_id = row["lead_id"].as<int64_t>();
  job.phone = row["phone"].as<std::string>();
  job.token = row["dial_lock_token"].as<std::string>();
  job.attempts = row["attempts"].as<int>();
  job.time_zone = row["time_zone"].as<std::string>();
  job.caller_id = row["caller_id"].as<std::string>();
  job.on_do_not_call = row["on_do_not_call"].as<bool>();
  job.recent_dials = row["recent_dials"].as<int>();
  if (!row["oldest_recent_dial_us"].is_null()) {
    job.oldest_recent_dial = absl::FromUnixMicros(row["oldest_recent_dial_us"].as<int64_t>());
  }
  return job;
}

}  // namespace

bool IsLeaseLost(const absl::Status& status) {
  return status.code() == absl::StatusCode::kAborted &&
         status.GetPayload(kLeaseLostPayload).has_value();
}

LeaseStore::LeaseStore(Database* database, absl::Duration lease_ttl, bool enforce_calls_per_second)
    : database_(database),
      lease_ttl_(lease_ttl),
      enforce_calls_per_second_(enforce_calls_per_second) {}

absl::StatusOr<std::vector<AcquiredRun>> LeaseStore::Acquire(const std::string& worker,
                                                             int max_runs, AcquireMode mode,
                                                             int max_runs_per_business) {
  const bool expired = mode == AcquireMode::kExpired;
  return database_->Transact(
      Tenancy::AllBusinesses(), expired ? "sweep expired leases" : "acquire runs",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<AcquiredRun>> {
        std::vector<AcquiredRun> acquired;
        if (max_runs <= 0) return acquired;
        if (expired && !txn.exec_params1(sql::kTrySweepLock, kSweepLockKey)["locked"].as<bool>()) {
          return acquired;  // another replica is sweeping right now
        }
        for (const auto& row :
             txn.exec_params(sql::kAcquireRuns, worker, absl::ToDoubleMicroseconds(lease_ttl_),
                             max_runs, expired, max_runs_per_business)) {
          AcquiredRun run;
          run.lease.run_id = row["id"].as<int64_t>();
          run.lease.business_id = row["business_id"].as<int64_t>();
          run.lease.epoch = row["lease_epoch"].as<int64_t>();
          run.lease.worker = worker;
          run.concurrency = row["concurrency"].as<int32_t>();
          run.previous_worker = row["previous_worker"].as<std::string>();
          run.call_settings = CallSettingsFromRow(row);
          acquired.push_back(std::move(run));
        }
        return acquired;
      });
}

absl::StatusOr<std::map<int64_t, RunControl>> LeaseStore::RenewLeases(
    const std::string& worker, const std::vector<Lease>& leases) {
  std::map<int64_t, RunControl> held;
  if (leases.empty()) return held;
  std::vector<int64_t> run_ids, business_ids, epochs;
  for (const Lease& lease : leases) {
    run_ids.push_back(lease.run_id);
    business_ids.push_back(lease.business_id);
    epochs.push_back(lease.epoch);
  }
  return database_->Transact(
      Tenancy::AllBusinesses(), "renew leases",
      [&](pqxx::work& txn) -> absl::StatusOr<std::map<int64_t, RunControl>> {
        for (const auto& row : txn.exec_params(sql::kRenewLeases, worker, PgArray(run_ids),
                                               PgArray(business_ids), PgArray(epochs))) {
          held[row["id"].as<int64_t>()] = ControlFromRow(row);
        }
        return held;
      });
}

absl::StatusOr<RunControl> LeaseStore::Control(const Lease& lease) {
  return database_->Transact(Tenancy::Business(lease.business_id), "read run control",
                             [&](pqxx::work& txn) -> absl::StatusOr<RunControl> {
                               pqxx::result rows =
                                   txn.exec_params(sql::kReadControl, lease.run_id,
                                                   lease.business_id, lease.epoch, lease.worker);
                               if (rows.empty()) return LeaseLostError(lease);
                               return ControlFromRow(rows[0]);
                             });
}

absl::StatusOr<std::vector<ClaimedJob>> LeaseStore::Claim(const Lease& lease,
                                                          const ClaimOptions& options,
                                                          ClaimRate* rate) {
  const int max_jobs = options.max_jobs;
  const int64_t now_us = Micros(options.now);
  const int64_t window_us =
      std::max<int64_t>(0, absl::ToInt64Microseconds(options.per_number_window));
  const std::string claim_id = options.claim_id.empty() ? RandomToken(16) : options.claim_id;
  return database_->Transact(
      Tenancy::Business(lease.business_id), "claim jobs",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<ClaimedJob>> {
        std::vector<ClaimedJob> jobs;
        ClaimRate governed;
        if (!enforce_calls_per_second_) {
          for (const auto& row :
               txn.exec_params(sql::kClaimJobs, lease.run_id, lease.business_id, lease.epoch,
                               lease.worker, max_jobs, now_us, window_us, claim_id)) {
            jobs.push_back(ClaimedJobFromRow(row));
          }
        } else {
          // At most twice: a business with no bucket row yet gets a full one
          // (nothing was claimed or locked by the first attempt but the run
          // row, which this transaction keeps).
          for (int attempt = 0; attempt < 2; ++attempt) {
            pqxx::result rows =
                txn.exec_params(sql::kClaimJobsGoverned, lease.run_id, lease.business_id,
                                lease.epoch, lease.worker, max_jobs, now_us, window_us, claim_id);
            const pqxx::row state = rows[0];
            if (!state["bucket_found"].as<bool>()) {
              txn.exec_params(sql::kCreateDialRate, lease.business_id);
              continue;
            }
            governed.limited = state["limited"].as<bool>();
            governed.next_token_in = absl::Microseconds(state["next_token_us"].as<int64_t>());
            for (const auto& row : rows) {
              if (row["id"].is_null()) continue;
              jobs.push_back(ClaimedJobFromRow(row));
            }
            break;
          }
        }
        // Nothing claimed: a lost lease is reported as such, like every
        // other fenced write.
        if (jobs.empty() && txn.exec_params(sql::kReadControl, lease.run_id, lease.business_id,
                                            lease.epoch, lease.worker)
                                .empty()) {
          return LeaseLostError(lease);
        }
        if (rate != nullptr) *rate = governed;
        return jobs;
      },
      [&](pqxx::connection& connection) {
        if (!options.read_commit_lsn || rate == nullptr) return;
        pqxx::nontransaction read(connection);
        const pqxx::row row = read.exec1(sql::kCommitWalPosition);
        rate->commit_lsn = row["lsn"].as<uint64_t>();
      });
}

absl::StatusOr<ReplicationState> LeaseStore::ReadReplication() {
  static constexpr sql::NamedQuery kQuery{"ReplicationState", sql::kReplicationState};
  return database_->ReadOnce("read replication state", kQuery,
                             [](const pqxx::result& rows) -> absl::StatusOr<ReplicationState> {
                               const pqxx::row row = rows.at(0);
                               ReplicationState state;
                               state.synchronous_standby_names =
                                   row["sync_names"].as<std::string>();
                               state.standbys = row["standbys"].as<int64_t>();
                               state.unreadable = row["unreadable"].as<int64_t>();
                               if (!row["sync_flushed"].is_null())
                                 state.sync_flushed = row["sync_flushed"].as<uint64_t>();
                               state.can_read_positions = row["can_read"].as<bool>();
                               return state;
                             });
}

absl::StatusOr<bool> LeaseStore::GateDials(const Lease& lease, const std::function<void()>& dial) {
  bool dialed = false;
  absl::StatusOr<bool> gated = database_->Transact(
      Tenancy::Business(lease.business_id), "dial gate",
      [&](pqxx::work& txn) -> absl::StatusOr<bool> {
        if (dialed) return true;  // a retry after the dials: never again
        pqxx::result rows = txn.exec_params(sql::kDialGate, lease.run_id, lease.business_id,
                                            lease.epoch, lease.worker);
        if (rows.empty()) return LeaseLostError(lease);
        if (!rows[0]["dispatchable"].as<bool>()) return false;
        dial();
        dialed = true;
        return true;
      });
  // Once dialed, a failed commit changes nothing (the gate wrote nothing).
  if (dialed) return true;
  return gated;
}

absl::StatusOr<JobStatus> LeaseStore::ReleaseClaim(const Lease& lease, const ClaimedJob& job) {
  return Fenced(
      database_, lease, "release claim", [&](pqxx::work& txn) -> absl::StatusOr<JobStatus> {
        // The fence locked the run row: its state cannot change until commit.
        const pqxx::row run = txn.exec_params1(sql::kRunState, lease.run_id, lease.business_id);
        const std::optional<RunStatus> status = ParseRunStatus(run["status"].as<std::string>());
        const bool cancel_requested = run["cancel_requested"].as<bool>();
        const bool requeue =
            !cancel_requested && (status == RunStatus::kRunning || status == RunStatus::kPaused ||
                                  status == RunStatus::kPending);
        const JobStatus to = requeue ? JobStatus::kQueued : JobStatus::kCancelled;
        const std::string reason = requeue ? std::string()
                                           : CancelReason(status.value_or(RunStatus::kCancelled),
                                                          run["last_error"].as<std::string>());
        const int64_t moved =
            txn.exec_params1(sql::kReleaseClaim, job.job_id, lease.run_id, lease.business_id,
                             job.token, std::string(JobStatusName(to)), reason)["moved"]
                .as<int64_t>();
        CounterDelta delta;
        delta.Move(JobStatus::kDialing, to, moved);
        if (moved > 0) ApplyCounts(txn, lease, delta);
        return to;
      });
}

absl::StatusOr<RunControl> LeaseStore::RecordCalls(const Lease& lease,
                                                   const std::vector<CallStart>& starts,
                                                   const std::vector<JobResult>& results) {
  return Fenced(
      database_, lease, "record calls", [&](pqxx::work& txn) -> absl::StatusOr<RunControl> {
        if (!starts.empty()) {
          std::vector<int64_t> ids;
          std::vector<std::string> tokens, sids;
          for (const CallStart& start : starts) {
            ids.push_back(start.job_id);
            tokens.push_back(start.token);
            sids.push_back(start.call_sid);
          }
          txn.exec_params(sql::kRecordCallsStarted, lease.run_id, lease.business_id, PgArray(ids),
                          PgArray(tokens), PgArray(sids));
        }
        std::vector<int64_t> ids, retry_at_us, answered_at_us;
        std::vector<std::string> tokens, statuses, errors, sids, answered_by;
        for (const JobResult& result : results) {
          ids.push_back(result.job_id);
          tokens.push_back(result.token);
          statuses.emplace_back(JobStatusName(result.status));
          errors.push_back(result.error);
          sids.push_back(result.call_sid);
          retry_at_us.push_back(result.retry_at ? Micros(*result.retry_at) : 0);
          answered_by.push_back(result.answered_by);
          answered_at_us.push_back(result.answered_at ? Micros(*result.answered_at) : 0);
        }
        RunControl control =
            results.empty()
                ? ControlFromRow(txn.exec_params1(sql::kReadControl, lease.run_id,
                                                  lease.business_id, lease.epoch, lease.worker))
                : ControlFromRow(txn.exec_params1(
                      sql::kFinishJobs, lease.run_id, lease.business_id, PgArray(ids),
                      PgArray(tokens), PgArray(statuses), PgArray(errors), PgArray(sids),
                      PgArray(retry_at_us), PgArray(answered_by), PgArray(answered_at_us)));
        if (control.status == RunStatus::kRunning && !control.cancel_requested &&
            control.queued == 0 && control.in_progress == 0) {
          pqxx::result completed =
              txn.exec_params(sql::kCompleteRun, lease.run_id, lease.business_id);
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
    return !txn.exec_params(sql::kCompleteRun, lease.run_id, lease.business_id).empty();
  });
}

absl::Status LeaseStore::FailRun(const Lease& lease, absl::string_view error) {
  return Fenced(database_, lease, "fail run", [&](pqxx::work& txn) -> absl::Status {
    const int64_t cancelled = CancelQueuedJobs(txn, lease.run_id, lease.business_id,
                                               CancelReason(RunStatus::kFailed, error));
    txn.exec_params(sql::kEndRun, lease.run_id, lease.business_id,
                    std::string(RunStatusName(RunStatus::kFailed)), cancelled, std::string(error));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<ActiveJob>> LeaseStore::ActiveJobs(const Lease& lease) {
  return Fenced(
      database_, lease, "list active jobs",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<ActiveJob>> {
        std::vector<ActiveJob> jobs;
        for (const auto& row : txn.exec_params(sql::kActiveJobs, lease.run_id, lease.business_id)) {
          ActiveJob job;
          job.job_id = row["id"].as<int64_t>();
          job.lead_id = row["lead_id"].as<int64_t>();
          job.phone = row["phone"].as<std::string>();
          job.token = row["token"].as<std::string>();
          job.call_sid = row["call_sid"].as<std::string>();
          job.status =
              ParseJobStatus(row["status"].as<std::string>()).value_or(JobStatus::kDialing);
          job.dial_started_at = absl::FromUnixMicros(row["dial_started_at_us"].as<int64_t>());
          job.attempts = row["attempts"].as<int>();
          jobs.push_back(std::move(job));
        }
        return jobs;
      });
}

absl::Status LeaseStore::Release(const Lease& lease) {
  return database_->Transact(
      Tenancy::Business(lease.business_id), "release lease", [&](pqxx::work& txn) -> absl::Status {
        pqxx::result pending = txn.exec_params(sql::kPendingCancel, lease.run_id, lease.business_id,
                                               lease.epoch, lease.worker);
        if (pending.empty()) return absl::OkStatus();  // lost already: nothing to give up
        // A cancel requested while this worker held the run ends it now: once
        // released, a paused run with no calls is never acquired again.
        if (pending[0]["cancel_pending"].as<bool>())
          EndCancelledRun(txn, lease.run_id, lease.business_id);
        txn.exec_params(sql::kReleaseLease, lease.run_id, lease.business_id, lease.epoch,
                        lease.worker);
        return absl::OkStatus();
      });
}

absl::StatusOr<RunDialingRules> LeaseStore::DialingRules(const Lease& lease) {
  return database_->Transact(
      Tenancy::Business(lease.business_id), "read dialing rules",
      [&](pqxx::work& txn) -> absl::StatusOr<RunDialingRules> {
        RunDialingRules rules;
        for (const auto& row : txn.exec_params(sql::kRunDialingRules, lease.run_id,
                                               lease.business_id)) {
          (row["is_run"].as<bool>() ? rules.run : rules.business) = PolicyFromRow(row);
        }
        pqxx::result schedule = txn.exec_params(sql::kRunSchedule, lease.run_id, lease.business_id);
        if (!schedule.empty()) {
          if (!schedule[0]["start_at_us"].is_null()) {
            rules.start_at = absl::FromUnixMicros(schedule[0]["start_at_us"].as<int64_t>());
          }
          if (!schedule[0]["end_at_us"].is_null()) {
            rules.end_at = absl::FromUnixMicros(schedule[0]["end_at_us"].as<int64_t>());
          }
        }
        return rules;
      });
}

absl::StatusOr<RunControl> LeaseStore::UndoClaims(const Lease& lease,
                                                  const std::vector<ClaimUndo>& undo) {
  return Fenced(
      database_, lease, "undo vetoed claims", [&](pqxx::work& txn) -> absl::StatusOr<RunControl> {
        // The fence locked the run row: a Stop or Cancel that committed
        // first is seen, and a deferral then becomes a cancel.
        const pqxx::row run = txn.exec_params1(sql::kRunState, lease.run_id, lease.business_id);
        const std::optional<RunStatus> status = ParseRunStatus(run["status"].as<std::string>());
        const bool live = !run["cancel_requested"].as<bool>() &&
                          (status == RunStatus::kRunning || status == RunStatus::kPaused ||
                           status == RunStatus::kPending);
        const std::string cancel_reason = CancelReason(status.value_or(RunStatus::kCancelled),
                                                       run["last_error"].as<std::string>());
        std::vector<int64_t> ids, next_at_us;
        std::vector<std::string> tokens, statuses, waits, skips, errors;
        for (const ClaimUndo& job : undo) {
          const bool cancel = job.to == JobStatus::kQueued && !live;
          ids.push_back(job.job_id);
          tokens.push_back(job.token);
          statuses.emplace_back(JobStatusName(cancel ? JobStatus::kCancelled : job.to));
          next_at_us.push_back(job.until == absl::InfinitePast() || job.until == absl::InfiniteFuture()
                                   ? 0
                                   : Micros(job.until));
          waits.emplace_back(WaitReasonName(job.wait));
          skips.emplace_back(SkipReasonName(job.skip));
          errors.push_back(cancel ? cancel_reason : job.rule);
        }
        return ControlFromRow(txn.exec_params1(
            sql::kUndoClaims, lease.run_id, lease.business_id, PgArray(ids), PgArray(tokens),
            PgArray(statuses), PgArray(next_at_us), PgArray(waits), PgArray(skips),
            PgArray(errors)));
      });
}

absl::StatusOr<RunWaiting> LeaseStore::NoteWaiting(const Lease& lease, absl::Time now) {
  return Fenced(database_, lease, "note waiting run",
                [&](pqxx::work& txn) -> absl::StatusOr<RunWaiting> {
                  const pqxx::row row = txn.exec_params1(sql::kNoteWaiting, lease.run_id,
                                                         lease.business_id, Micros(now));
                  RunWaiting waiting;
                  waiting.control = ControlFromRow(row);
                  if (!row["next_due_us"].is_null()) {
                    waiting.next_due = absl::FromUnixMicros(row["next_due_us"].as<int64_t>());
                  }
                  return waiting;
                });
}

absl::StatusOr<std::vector<ZoneDue>> LeaseStore::DueZones(const Lease& lease, absl::Time now) {
  return database_->Transact(
      Tenancy::Business(lease.business_id), "read due zones",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<ZoneDue>> {
        std::vector<ZoneDue> zones;
        for (const auto& row :
             txn.exec_params(sql::kDueZones, lease.run_id, lease.business_id, Micros(now))) {
          zones.push_back(ZoneDue{row["time_zone"].as<std::string>(), row["jobs"].as<int64_t>()});
        }
        return zones;
      });
}

absl::StatusOr<RunControl> LeaseStore::ScreenZones(const Lease& lease, absl::Time now,
                                                   const std::vector<ZoneScreen>& screens) {
  return Fenced(
      database_, lease, "screen zones", [&](pqxx::work& txn) -> absl::StatusOr<RunControl> {
        std::vector<std::string> zones, statuses, rules;
        std::vector<int64_t> until_us;
        for (const ZoneScreen& screen : screens) {
          zones.push_back(screen.zone);
          statuses.emplace_back(JobStatusName(screen.skip ? JobStatus::kSkipped : JobStatus::kQueued));
          until_us.push_back(screen.skip || screen.until == absl::InfiniteFuture() ||
                                     screen.until == absl::InfinitePast()
                                 ? 0
                                 : Micros(screen.until));
          rules.push_back(screen.rule);
        }
        return ControlFromRow(txn.exec_params1(sql::kScreenZones, lease.run_id, lease.business_id,
                                               Micros(now), PgArray(zones), PgArray(until_us),
                                               PgArray(statuses), PgArray(rules)));
      });
}

absl::StatusOr<RunControl> LeaseStore::EndAtPassed(const Lease& lease, absl::string_view reason) {
  return Fenced(
      database_, lease, "end at end_at", [&](pqxx::work& txn) -> absl::StatusOr<RunControl> {
        const int64_t cancelled =
            CancelQueuedJobs(txn, lease.run_id, lease.business_id, std::string(reason));
        CounterDelta delta;
        delta.Move(JobStatus::kQueued, JobStatus::kCancelled, cancelled);
        RunControl control = ApplyCounts(txn, lease, delta);
        if (control.status == RunStatus::kRunning && !control.cancel_requested &&
            control.queued == 0 && control.in_progress == 0) {
          pqxx::result completed =
              txn.exec_params(sql::kCompleteRun, lease.run_id, lease.business_id);
          if (!completed.empty()) control = ControlFromRow(completed[0]);
        }
        return control;
      });
}

absl::StatusOr<int64_t> LeaseStore::FinalizeAbandonedCancels(int max_runs) {
  return database_->Transact(
      Tenancy::AllBusinesses(), "finalise abandoned cancels",
      [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
        int64_t finalised = 0;
        for (const auto& row : txn.exec_params(sql::kAbandonedCancels,
                                               absl::ToDoubleMicroseconds(lease_ttl_), max_runs)) {
          EndCancelledRun(txn, row["id"].as<int64_t>(), row["business_id"].as<int64_t>());
          ++finalised;
        }
        return finalised;
      });
}

}  // namespace campaign::store
