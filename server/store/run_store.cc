#include "server/store/run_store.h"

#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "server/model/transitions.h"
#include "server/store/api_key_store.h"
#include "server/store/pg_array.h"
#include "server/store/policy_store.h"
#include "server/store/queries.h"
#include "server/store/rows.h"

namespace campaign::store {
namespace {

// The transaction-local table CreateIncomingLeads creates and COPY fills.
constexpr char kIncomingLeadsTable[] = "incoming_leads";

std::optional<std::string> StatusFilter(std::optional<RunStatus> status) {
  if (!status) return std::nullopt;
  return std::string(RunStatusName(*status));
}

std::optional<std::string> StatusFilter(std::optional<JobStatus> status) {
  if (!status) return std::nullopt;
  return std::string(JobStatusName(*status));
}

// COPYs leads into incoming_leads of this transaction, each with its zone
// spec and caller id (parallel vectors; a missing entry is '').
void StageLeads(pqxx::work& txn, const std::vector<Lead>& leads,
                const std::vector<std::string>& time_zones,
                const std::vector<std::string>& caller_ids) {
  static const std::string kNone;
  txn.exec(sql::kCreateIncomingLeads);
  pqxx::stream_to stream(txn, kIncomingLeadsTable);
  for (size_t i = 0; i < leads.size(); ++i) {
    const Lead& lead = leads[i];
    stream << std::make_tuple(static_cast<int64_t>(i), lead.lead_id, lead.phone, lead.name,
                              i < time_zones.size() ? time_zones[i] : kNone,
                              i < caller_ids.size() ? caller_ids[i] : kNone);
  }
  stream.complete();
}

// A time as microseconds since the epoch; NULL when unset.
std::optional<int64_t> Micros(const std::optional<absl::Time>& time) {
  if (!time) return std::nullopt;
  return absl::ToUnixMicros(*time);
}

// Inserts the staged leads as queued jobs; returns how many were new.
// `new_run`: the run was created by this transaction (no job can conflict).
int64_t InsertStagedJobs(pqxx::work& txn, int64_t run_id, int64_t business_id,
                         std::optional<int64_t> project_id, bool new_run = false) {
  return txn
      .exec_params(new_run ? sql::kInsertStagedNewJobs : sql::kInsertStagedJobs, run_id,
                   business_id, project_id)
      .affected_rows();
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
        if (txn.exec_params(sql::kBusinessExists, run.business_id).empty()) {
          return absl::NotFoundError(absl::StrCat("business ", run.business_id, " not found"));
        }
        const RunStatus initial = run.start_paused ? RunStatus::kPaused : RunStatus::kPending;
        pqxx::result inserted = txn.exec_params(
            sql::kInsertRun, run.business_id, run.outbound_list_id, run.created_by_user_id,
            run.request_id, run.request_digest, run.concurrency,
            std::string(RunStatusName(initial)), run.project_id, run.call_settings.caller_id,
            run.call_settings.twiml_url, run.call_settings.ring_timeout_seconds,
            std::string(MachineDetectionName(run.call_settings.machine_detection)),
            run.caller_ids.empty() ? std::nullopt : std::optional(PgArray(run.caller_ids)),
            run.local_presence, Micros(run.start_at), Micros(run.end_at));
        if (inserted.empty()) {
          // Another request with this request_id committed first (ON CONFLICT
          // waited for it); this statement's fresh snapshot sees its run.
          pqxx::result existing =
              txn.exec_params(sql::kRunByRequestId, run.business_id, run.request_id);
          if (existing.empty()) {
            return absl::AbortedError("create run: the concurrent request was rolled back; retry");
          }
          const pqxx::field digest = existing[0]["request_digest"];
          if (digest.is_null() || digest.as<std::string>() != run.request_digest) {
            return absl::AlreadyExistsError(
                absl::StrCat("request_id \"", run.request_id, "\" was already used for run ",
                             existing[0]["id"].as<int64_t>(),
                             " with a different request; use a new request_id for a new run"));
          }
          return CreatedRun{RunFromRow(existing[0]), false};
        }
        const int64_t run_id = inserted[0]["id"].as<int64_t>();
        if (run.policy != DialingPolicy{}) {
          WritePolicy(txn, run.business_id, run_id, run.policy, PolicyMask::All());
        }
        StageLeads(txn, run.leads, run.lead_time_zones, run.lead_caller_ids);
        const int64_t added =
            InsertStagedJobs(txn, run_id, run.business_id,
                             run.project_id == 0 ? std::nullopt : std::optional(run.project_id),
                             /*new_run=*/true);
        pqxx::result counted =
            txn.exec_params(sql::kCountAddedJobs, run_id, run.business_id, added);
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
                                              const std::vector<Lead>& leads,
                                              const std::vector<std::string>& lead_time_zones,
                                              const std::vector<std::string>& lead_caller_ids) {
  return database_->Transact(
      Tenancy::Business(business_id), "add leads",
      [&](pqxx::work& txn) -> absl::StatusOr<AddedLeads> {
        // Early answer, before any COPY, for a run that cannot take leads.
        pqxx::result current = txn.exec_params(sql::kGetRun, run_id, business_id);
        if (current.empty()) return absl::NotFoundError(RunNotFoundMessage(run_id));
        if (absl::Status allowed = CheckLeadsMayBeAdded(RunFromRow(current[0]), run_id);
            !allowed.ok()) {
          return allowed;
        }
        pqxx::result project = txn.exec_params(sql::kProjectOfRun, run_id, business_id);
        if (project.empty()) return absl::NotFoundError(RunNotFoundMessage(run_id));
        StageLeads(txn, leads, lead_time_zones, lead_caller_ids);
        const int64_t added =
            InsertStagedJobs(txn, run_id, business_id, project[0]["project_id"].get<int64_t>());
        pqxx::result locked = txn.exec_params(sql::kLockRunForCount, run_id, business_id);
        if (locked.empty()) return absl::NotFoundError(RunNotFoundMessage(run_id));
        if (absl::Status allowed = CheckLeadsMayBeAdded(RunFromRow(locked[0]), run_id);
            !allowed.ok()) {
          return allowed;
        }
        pqxx::result counted = txn.exec_params(sql::kCountAddedJobs, run_id, business_id, added);
        return AddedLeads{RunFromRow(counted[0]), added,
                          static_cast<int64_t>(leads.size()) - added};
      });
}

absl::StatusOr<Run> RunStore::GetRun(int64_t business_id, int64_t run_id) {
  // The hottest read (dashboards and backends poll it): one round trip.
  static constexpr sql::NamedQuery kQuery{"ReadRunScoped", sql::kReadRunScoped};
  return database_->ReadOnce(
      "get run", kQuery,
      [&](const pqxx::result& rows) -> absl::StatusOr<Run> {
        if (rows.empty()) return absl::NotFoundError(RunNotFoundMessage(run_id));
        return RunFromRow(rows[0]);
      },
      run_id, business_id);
}

absl::StatusOr<Business> RunStore::GetBusiness(int64_t business_id) {
  ApiKeyStore businesses(database_);
  return businesses.GetBusiness(business_id);
}

absl::StatusOr<Page<Run>> RunStore::ListRuns(std::optional<int64_t> business_id,
                                             std::optional<RunStatus> status,
                                             std::optional<int64_t> after_id, int32_t limit) {
  const Tenancy tenancy = business_id ? Tenancy::Business(*business_id) : Tenancy::AllBusinesses();
  return database_->Transact(
      tenancy, "list runs", [&](pqxx::work& txn) -> absl::StatusOr<Page<Run>> {
        pqxx::result rows = business_id
                                ? txn.exec_params(sql::kListRuns, *business_id,
                                                  StatusFilter(status), after_id, limit + 1)
                                : txn.exec_params(sql::kListRunsAllBusinesses, StatusFilter(status),
                                                  after_id, limit + 1);
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
                               if (txn.exec_params(sql::kGetRun, run_id, business_id).empty()) {
                                 return absl::NotFoundError(RunNotFoundMessage(run_id));
                               }
                               pqxx::result rows =
                                   txn.exec_params(sql::kListJobs, run_id, business_id,
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
                                                 RunAction action, bool hang_up) {
  return database_->Transact(
      Tenancy::Business(business_id), absl::StrCat(RunActionName(action), " run"),
      [&](pqxx::work& txn) -> absl::StatusOr<ChangedRun> {
        pqxx::result locked = txn.exec_params(sql::kLockRunForChange, run_id, business_id,
                                              absl::ToInt64Microseconds(lease_ttl_));
        if (locked.empty()) return absl::NotFoundError(RunNotFoundMessage(run_id));
        const Run current = RunFromRow(locked[0]);
        const bool held_by_live_worker = locked[0]["held_by_live_worker"].as<bool>();
        absl::StatusOr<Transition> plan = PlanTransition(current, action, held_by_live_worker);
        if (!plan.ok()) return plan.status();
        if (plan->noop) return ChangedRun{current, 0};
        int64_t cancelled = 0;
        if (plan->cancel_queued_jobs) {
          cancelled =
              CancelQueuedJobs(txn, run_id, business_id,
                               CancelReason(action == RunAction::kStop ? RunStatus::kStopped
                                                                       : RunStatus::kCancelled));
        }
        // The first Stop or Cancel decides whether calls in progress are
        // hung up; a later one (the run is already cancel-requested or
        // ended) leaves the choice as it is.
        const bool first_end_request =
            (action == RunAction::kStop || action == RunAction::kCancel) &&
            !current.cancel_requested && current.status && !IsTerminal(*current.status);
        pqxx::result updated = txn.exec_params(
            sql::kApplyTransition, run_id, business_id, std::string(RunStatusName(plan->to)),
            plan->request_cancel, plan->ends_run, cancelled, hang_up, first_end_request);
        return ChangedRun{RunFromRow(updated[0]), cancelled};
      });
}

absl::StatusOr<std::optional<int64_t>> RunStore::RunOwner(int64_t run_id) {
  return database_->Transact(Tenancy::AllBusinesses(), "look up run owner",
                             [&](pqxx::work& txn) -> absl::StatusOr<std::optional<int64_t>> {
                               pqxx::result rows = txn.exec_params(sql::kRunOwner, run_id);
                               if (rows.empty()) return std::optional<int64_t>();
                               return std::optional<int64_t>(rows[0]["business_id"].as<int64_t>());
                             });
}

}  // namespace campaign::store
