#include "server/store/progress_store.h"

#include "absl/strings/str_cat.h"
#include "server/store/rows.h"
#include "server/store/run_store.h"

namespace campaign::store {
namespace {

constexpr char kRunSql[] = "SELECT " CAMPAIGN_RUN_COLUMNS
                           " FROM outbound_call_runs r WHERE r.id = $1 AND r.business_id = $2";

// Uses the (run_id, run_version) index; `$4` is the limit plus one, so a
// truncated feed is told apart from one that fits exactly.
constexpr char kJobChangesSql[] =
    "SELECT j.id, j.lead_id, j.status, coalesce(j.error_message, ''), j.run_version"
    "  FROM outbound_call_jobs j"
    " WHERE j.run_id = $1 AND j.business_id = $2 AND j.run_version > $3"
    " ORDER BY j.run_version, j.id LIMIT $4";

constexpr char kRecentRunsSql[] = "SELECT " CAMPAIGN_RUN_COLUMNS
                                  " FROM outbound_call_runs r"
                                  " WHERE ($1::int8 IS NULL OR r.business_id = $1)"
                                  "   AND ($2::text IS NULL OR r.status = $2)"
                                  " ORDER BY r.id DESC LIMIT $3";

}  // namespace

ProgressStore::ProgressStore(Database* database) : database_(database) {}

absl::StatusOr<RunProgress> ProgressStore::ReadRun(int64_t business_id, int64_t run_id,
                                                   std::optional<int64_t> jobs_after_version,
                                                   int job_limit) {
  return database_->Transact(Tenancy::Business(business_id), "read run progress",
                             [&](pqxx::work& txn) -> absl::StatusOr<RunProgress> {
                               pqxx::result run = txn.exec_params(kRunSql, run_id, business_id);
                               if (run.empty())
                                 return absl::NotFoundError(RunNotFoundMessage(run_id));
                               RunProgress progress;
                               progress.run = RunFromRow(run[0]);
                               if (!jobs_after_version || job_limit <= 0) return progress;
                               pqxx::result rows =
                                   txn.exec_params(kJobChangesSql, run_id, business_id,
                                                   *jobs_after_version, job_limit + 1);
                               for (const auto& row : rows) {
                                 if (static_cast<int>(progress.jobs.size()) == job_limit) {
                                   progress.jobs_truncated = true;
                                   break;
                                 }
                                 JobChange change;
                                 change.job_id = row[0].as<int64_t>();
                                 change.lead_id = row[1].as<int64_t>();
                                 change.status = ParseJobStatus(row[2].as<std::string>());
                                 change.error_message = row[3].as<std::string>();
                                 change.run_version = row[4].as<int64_t>();
                                 progress.jobs.push_back(std::move(change));
                               }
                               return progress;
                             });
}

absl::StatusOr<std::vector<Run>> ProgressStore::RecentRuns(std::optional<int64_t> business_id,
                                                           std::optional<RunStatus> status,
                                                           int limit) {
  const Tenancy tenancy = business_id ? Tenancy::Business(*business_id) : Tenancy::AllBusinesses();
  std::optional<std::string> status_name;
  if (status) status_name = std::string(RunStatusName(*status));
  return database_->Transact(
      tenancy, "read recent runs", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<Run>> {
        std::vector<Run> runs;
        for (const auto& row : txn.exec_params(kRecentRunsSql, business_id, status_name, limit)) {
          runs.push_back(RunFromRow(row));
        }
        return runs;
      });
}

}  // namespace campaign::store
