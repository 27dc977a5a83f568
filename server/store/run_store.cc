#include "server/store/run_store.h"

#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "server/model/transitions.h"
#include "server/store/rows.h"

namespace campaign::store {
namespace {

// CreateRun, step 1: the run row, unless this business already used the
// request_id (then nothing is returned and the existing run is read).
constexpr char kInsertRunSql[] = R"sql(
INSERT INTO outbound_call_runs AS r
  (business_id, outbound_list_id, created_by_user_id, request_id, request_digest,
   concurrency, status, project_id, total_leads, queued_count)
VALUES ($1, nullif($2::int8, 0), nullif($3::int8, 0), $4, $5, $6, $7, nullif($8::int8, 0), 0, 0)
ON CONFLICT (business_id, request_id) DO NOTHING
RETURNING r.id)sql";

constexpr char kRunByRequestIdSql[] =
    "SELECT r.request_digest, " CAMPAIGN_RUN_COLUMNS
    " FROM outbound_call_runs r WHERE r.business_id = $1 AND r.request_id = $2";

constexpr char kBusinessExistsSql[] = "SELECT 1 FROM business WHERE id = $1";

// Leads arrive through COPY into a transaction-local table (COPY cannot write
// into a table with row-level security), then move into jobs in one INSERT.
constexpr char kCreateIncomingSql[] = R"sql(
CREATE TEMP TABLE incoming_leads (
  ord bigint NOT NULL, lead_id bigint NOT NULL, phone text NOT NULL, lead_name text NOT NULL
) ON COMMIT DROP)sql";
constexpr char kIncomingTable[] = "incoming_leads";

constexpr char kInsertJobsSql[] = R"sql(
INSERT INTO outbound_call_jobs (run_id, business_id, lead_id, phone, lead_name, project_id, status)
SELECT $1, $2, i.lead_id, i.phone, nullif(i.lead_name, ''), $3, 'queued'
  FROM incoming_leads i
 ORDER BY i.ord
ON CONFLICT (run_id, lead_id) DO NOTHING)sql";

// Adds `$3` new queued jobs to the run's counters.
constexpr char kCountAddedJobsSql[] =
    "UPDATE outbound_call_runs r"
    "   SET total_leads = total_leads + $3, queued_count = queued_count + $3,"
    "       version = version + 1, updated_at = now()"
    " WHERE r.id = $1 AND r.business_id = $2"
    " RETURNING " CAMPAIGN_RUN_COLUMNS;

constexpr char kGetRunSql[] = "SELECT " CAMPAIGN_RUN_COLUMNS
                              " FROM outbound_call_runs r WHERE r.id = $1 AND r.business_id = $2";

// The run row locked for a change, and whether a worker holds a live lease.
// NO KEY UPDATE: it serialises with claims (the same lock) but not with the
// foreign-key KEY SHARE locks of an AddLeads still inserting jobs.
constexpr char kLockRunSql[] =
    "SELECT " CAMPAIGN_RUN_COLUMNS
    ", (r.locked_by_worker IS NOT NULL AND r.lock_ts > now() - $3::float8 * interval '1 "
    "microsecond')"
    " FROM outbound_call_runs r WHERE r.id = $1 AND r.business_id = $2 FOR NO KEY UPDATE";

// AddLeads' last step: the run row locked for its counter update (a
// NO KEY UPDATE lock, like a claim's), with the state to re-check.
constexpr char kLockRunForCountSql[] = "SELECT " CAMPAIGN_RUN_COLUMNS
                                       " FROM outbound_call_runs r"
                                       " WHERE r.id = $1 AND r.business_id = $2"
                                       " FOR NO KEY UPDATE";

constexpr char kProjectOfRunSql[] =
    "SELECT r.project_id FROM outbound_call_runs r WHERE r.id = $1 AND r.business_id = $2";

constexpr char kListRunsSql[] = "SELECT " CAMPAIGN_RUN_COLUMNS
                                " FROM outbound_call_runs r"
                                " WHERE ($1::int8 IS NULL OR r.business_id = $1)"
                                "   AND ($2::text IS NULL OR r.status = $2)"
                                "   AND ($3::int8 IS NULL OR r.id < $3)"
                                " ORDER BY r.id DESC LIMIT $4";

constexpr char kListJobsSql[] = "SELECT " CAMPAIGN_JOB_COLUMNS
                                " FROM outbound_call_jobs j"
                                " WHERE j.run_id = $1 AND j.business_id = $2"
                                "   AND ($3::text IS NULL OR j.status = $3)"
                                "   AND ($4::int8 IS NULL OR j.id > $4)"
                                " ORDER BY j.id LIMIT $5";

// Writes a planned transition; `$6` queued jobs moved to cancelled.
constexpr char kApplyTransitionSql[] =
    "UPDATE outbound_call_runs r"
    "   SET status = $3,"
    "       cancel_requested = r.cancel_requested OR $4,"
    "       ended_at = CASE WHEN $5 THEN now() ELSE r.ended_at END,"
    "       completed_at = CASE WHEN $5 THEN now() ELSE r.completed_at END,"
    "       queued_count = r.queued_count - $6,"
    "       cancelled_count = r.cancelled_count + $6,"
    "       cursor_position = r.cursor_position + $6,"
    "       version = r.version + 1, updated_at = now()"
    " WHERE r.id = $1 AND r.business_id = $2"
    " RETURNING " CAMPAIGN_RUN_COLUMNS;

constexpr char kRunOwnerSql[] = "SELECT business_id FROM outbound_call_runs WHERE id = $1";

std::optional<std::string> StatusFilter(std::optional<RunStatus> status) {
  if (!status) return std::nullopt;
  return std::string(RunStatusName(*status));
}

std::optional<std::string> StatusFilter(std::optional<JobStatus> status) {
  if (!status) return std::nullopt;
  return std::string(JobStatusName(*status));
}

// COPYs leads into incoming_leads of this transaction.
void StageLeads(pqxx::work& txn, const std::vector<Lead>& leads) {
  txn.exec(kCreateIncomingSql);
  pqxx::stream_to stream(txn, kIncomingTable);
  int64_t ord = 0;
  for (const Lead& lead : leads) {
    stream << std::make_tuple(ord++, lead.lead_id, lead.phone, lead.name);
  }
  stream.complete();
}

// Inserts the staged leads as queued jobs; returns how many were new.
int64_t InsertStagedJobs(pqxx::work& txn, int64_t run_id, int64_t business_id,
                         std::optional<int64_t> project_id) {
  return txn.exec_params(kInsertJobsSql, run_id, business_id, project_id).affected_rows();
}

// OK when leads may be added to `run`: pending, running or paused, and no
// cancel requested.
absl::Status CheckLeadsMayBeAdded(const Run& run, int64_t run_id) {
  if (run.status && !IsTerminal(*run.status) && !run.cancel_requested) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "cannot add leads to run ", run_id, ": it is ",
      run.status ? RunStatusName(*run.status) : "in an unknown status",
      run.cancel_requested && run.status && !IsTerminal(*run.status) ? " and being cancelled" : "",
      "; leads can be added to pending, running or paused runs"));
}

std::string ActionMessage(RunAction action) {
  return action == RunAction::kStop ? "Stopped by user" : "Cancelled by user";
}

}  // namespace

std::string RunNotFoundMessage(int64_t run_id) {
  return absl::StrCat("run ", run_id, " not found");
}

RunStore::RunStore(Database* database, absl::Duration lease_ttl)
    : database_(database), lease_ttl_(lease_ttl) {}

absl::StatusOr<CreatedRun> RunStore::CreateRun(const NewRun& run) {
  return database_->Transact(
      Tenancy::Business(run.business_id), "create run",
      [&](pqxx::work& txn) -> absl::StatusOr<CreatedRun> {
        if (txn.exec_params(kBusinessExistsSql, run.business_id).empty()) {
          return absl::NotFoundError(absl::StrCat("business ", run.business_id, " not found"));
        }
        const RunStatus initial = run.start_paused ? RunStatus::kPaused : RunStatus::kPending;
        pqxx::result inserted =
            txn.exec_params(kInsertRunSql, run.business_id, run.outbound_list_id,
                            run.created_by_user_id, run.request_id, run.request_digest,
                            run.concurrency, std::string(RunStatusName(initial)), run.project_id);
        if (inserted.empty()) {
          // Another request with this request_id committed first (ON CONFLICT
          // waited for it); this statement's fresh snapshot sees its run.
          pqxx::result existing =
              txn.exec_params(kRunByRequestIdSql, run.business_id, run.request_id);
          if (existing.empty()) {
            return absl::AbortedError("create run: the concurrent request was rolled back; retry");
          }
          if (existing[0][0].is_null() || existing[0][0].as<std::string>() != run.request_digest) {
            return absl::AlreadyExistsError(
                absl::StrCat("request_id \"", run.request_id, "\" was already used for run ",
                             existing[0][1].as<int64_t>(),
                             " with a different request; use a new request_id for a new run"));
          }
          return CreatedRun{RunFromRow(existing[0], 1), false};
        }
        const int64_t run_id = inserted[0][0].as<int64_t>();
        StageLeads(txn, run.leads);
        const int64_t added =
            InsertStagedJobs(txn, run_id, run.business_id,
                             run.project_id == 0 ? std::nullopt : std::optional(run.project_id));
        pqxx::result counted = txn.exec_params(kCountAddedJobsSql, run_id, run.business_id, added);
        return CreatedRun{RunFromRow(counted[0]), true};
      });
}

// The run row is not locked while the leads are staged (COPY) and inserted:
// the inserts take only the foreign key's KEY SHARE lock on it, which neither
// a claim nor a heartbeat waits for (both take NO KEY UPDATE). The row is
// locked at the end, for the counter update, and the state is checked again
// then. A Stop, Cancel or completion that commits while the leads are being
// inserted is seen by that check and the whole AddLeads rolls back (its jobs
// were never visible). A Stop that locks the row after this transaction did
// waits for its commit and then cancels the added jobs too (each statement
// of a READ COMMITTED transaction sees what committed before it); either way
// no queued job is left in a stopped run.
absl::StatusOr<AddedLeads> RunStore::AddLeads(int64_t business_id, int64_t run_id,
                                              const std::vector<Lead>& leads) {
  return database_->Transact(
      Tenancy::Business(business_id), "add leads",
      [&](pqxx::work& txn) -> absl::StatusOr<AddedLeads> {
        // Early answer, before any COPY, for a run that cannot take leads.
        pqxx::result current = txn.exec_params(kGetRunSql, run_id, business_id);
        if (current.empty()) return absl::NotFoundError(RunNotFoundMessage(run_id));
        if (absl::Status allowed = CheckLeadsMayBeAdded(RunFromRow(current[0]), run_id);
            !allowed.ok()) {
          return allowed;
        }
        pqxx::result project = txn.exec_params(kProjectOfRunSql, run_id, business_id);
        if (project.empty()) return absl::NotFoundError(RunNotFoundMessage(run_id));
        StageLeads(txn, leads);
        const int64_t added =
            InsertStagedJobs(txn, run_id, business_id, project[0][0].get<int64_t>());
        pqxx::result locked = txn.exec_params(kLockRunForCountSql, run_id, business_id);
        if (locked.empty()) return absl::NotFoundError(RunNotFoundMessage(run_id));
        if (absl::Status allowed = CheckLeadsMayBeAdded(RunFromRow(locked[0]), run_id);
            !allowed.ok()) {
          return allowed;
        }
        pqxx::result counted = txn.exec_params(kCountAddedJobsSql, run_id, business_id, added);
        return AddedLeads{RunFromRow(counted[0]), added,
                          static_cast<int64_t>(leads.size()) - added};
      });
}

absl::StatusOr<Run> RunStore::GetRun(int64_t business_id, int64_t run_id) {
  return database_->Transact(Tenancy::Business(business_id), "get run",
                             [&](pqxx::work& txn) -> absl::StatusOr<Run> {
                               pqxx::result rows = txn.exec_params(kGetRunSql, run_id, business_id);
                               if (rows.empty()) {
                                 return absl::NotFoundError(RunNotFoundMessage(run_id));
                               }
                               return RunFromRow(rows[0]);
                             });
}

absl::StatusOr<Page<Run>> RunStore::ListRuns(std::optional<int64_t> business_id,
                                             std::optional<RunStatus> status,
                                             std::optional<int64_t> after_id, int32_t limit) {
  const Tenancy tenancy = business_id ? Tenancy::Business(*business_id) : Tenancy::AllBusinesses();
  return database_->Transact(
      tenancy, "list runs", [&](pqxx::work& txn) -> absl::StatusOr<Page<Run>> {
        pqxx::result rows =
            txn.exec_params(kListRunsSql, business_id, StatusFilter(status), after_id, limit + 1);
        Page<Run> page;
        for (const auto& row : rows) {
          if (static_cast<int32_t>(page.items.size()) == limit) {
            page.next_after_id = page.items.back().id;
            break;
          }
          page.items.push_back(RunFromRow(row));
        }
        return page;
      });
}

absl::StatusOr<Page<Job>> RunStore::ListJobs(int64_t business_id, int64_t run_id,
                                             std::optional<JobStatus> status,
                                             std::optional<int64_t> after_id, int32_t limit) {
  return database_->Transact(Tenancy::Business(business_id), "list jobs",
                             [&](pqxx::work& txn) -> absl::StatusOr<Page<Job>> {
                               if (txn.exec_params(kGetRunSql, run_id, business_id).empty()) {
                                 return absl::NotFoundError(RunNotFoundMessage(run_id));
                               }
                               pqxx::result rows =
                                   txn.exec_params(kListJobsSql, run_id, business_id,
                                                   StatusFilter(status), after_id, limit + 1);
                               Page<Job> page;
                               for (const auto& row : rows) {
                                 if (static_cast<int32_t>(page.items.size()) == limit) {
                                   page.next_after_id = page.items.back().id;
                                   break;
                                 }
                                 page.items.push_back(JobFromRow(row));
                               }
                               return page;
                             });
}

absl::StatusOr<ChangedRun> RunStore::ApplyAction(int64_t business_id, int64_t run_id,
                                                 RunAction action) {
  return database_->Transact(
      Tenancy::Business(business_id), absl::StrCat(RunActionName(action), " run"),
      [&](pqxx::work& txn) -> absl::StatusOr<ChangedRun> {
        pqxx::result locked = txn.exec_params(kLockRunSql, run_id, business_id,
                                              absl::ToInt64Microseconds(lease_ttl_));
        if (locked.empty()) return absl::NotFoundError(RunNotFoundMessage(run_id));
        const Run current = RunFromRow(locked[0]);
        const bool held_by_live_worker = locked[0][kRunColumnCount].as<bool>();
        absl::StatusOr<Transition> plan = PlanTransition(current, action, held_by_live_worker);
        if (!plan.ok()) return plan.status();
        if (plan->noop) return ChangedRun{current, 0};
        int64_t cancelled = 0;
        if (plan->cancel_queued_jobs) {
          cancelled = CancelQueuedJobs(txn, run_id, business_id, ActionMessage(action));
        }
        pqxx::result updated = txn.exec_params(kApplyTransitionSql, run_id, business_id,
                                               std::string(RunStatusName(plan->to)),
                                               plan->request_cancel, plan->ends_run, cancelled);
        return ChangedRun{RunFromRow(updated[0]), cancelled};
      });
}

absl::StatusOr<std::optional<int64_t>> RunStore::RunOwner(int64_t run_id) {
  return database_->Transact(Tenancy::AllBusinesses(), "look up run owner",
                             [&](pqxx::work& txn) -> absl::StatusOr<std::optional<int64_t>> {
                               pqxx::result rows = txn.exec_params(kRunOwnerSql, run_id);
                               if (rows.empty()) return std::optional<int64_t>();
                               return std::optional<int64_t>(rows[0][0].as<int64_t>());
                             });
}

}  // namespace campaign::store
