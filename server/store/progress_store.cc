#include "server/store/progress_store.h"

#include "absl/strings/str_cat.h"
#include "server/store/queries.h"
#include "server/store/rows.h"
#include "server/store/run_store.h"

namespace campaign::store {

ProgressStore::ProgressStore(Database* database) : database_(database) {}

absl::StatusOr<RunProgress> ProgressStore::ReadRun(int64_t business_id, int64_t run_id,
                                                   std::optional<int64_t> jobs_after_version,
                                                   int job_limit) {
  return database_->Transact(
      Tenancy::Business(business_id), "read run progress",
      [&](pqxx::work& txn) -> absl::StatusOr<RunProgress> {
        pqxx::result run = txn.exec_params(sql::kGetRun, run_id, business_id);
        if (run.empty()) return absl::NotFoundError(RunNotFoundMessage(run_id));
        RunProgress progress;
        progress.run = RunFromRow(run[0]);
        if (!jobs_after_version || job_limit <= 0) return progress;
        pqxx::result rows = txn.exec_params(sql::kJobChanges, run_id, business_id,
                                            *jobs_after_version, job_limit + 1);
        for (const auto& row : rows) {
          if (static_cast<int>(progress.jobs.size()) == job_limit) {
            progress.jobs_truncated = true;
            break;
          }
          JobChange change;
          change.job_id = row["id"].as<int64_t>();
          change.lead_id = row["lead_id"].as<int64_t>();
          change.status = ParseJobStatus(row["status"].as<std::string>());
          change.error_message = row["error_message"].as<std::string>();
          change.run_version = row["run_version"].as<int64_t>();
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
        pqxx::result rows =
            business_id ? txn.exec_params(sql::kRecentRuns, *business_id, status_name, limit)
                        : txn.exec_params(sql::kRecentRunsAllBusinesses, status_name, limit);
        for (const auto& row : rows) {
          runs.push_back(RunFromRow(row));
        }
        return runs;
      });
}

}  // namespace campaign::store
