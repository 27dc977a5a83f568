#include "server/store/preview_store.h"

#include "server/store/pg_array.h"
#include "server/store/queries.h"

namespace campaign::store {
namespace {

PhoneStanding StandingFromRow(const pqxx::row& row) {
  PhoneStanding standing;
  standing.on_do_not_call = row["on_do_not_call"].as<bool>();
  standing.recent_dials = row["recent_dials"].as<int>();
  if (!row["oldest_recent_dial_us"].is_null()) {
    standing.oldest_recent_dial = absl::FromUnixMicros(row["oldest_recent_dial_us"].as<int64_t>());
  }
  return standing;
}

double CapSeconds(absl::Duration cap_window) {
  return cap_window > absl::ZeroDuration() ? absl::ToDoubleSeconds(cap_window) : 0;
}

}  // namespace

absl::StatusOr<std::vector<JobFacts>> PreviewStore::Jobs(int64_t business_id, int64_t run_id,
                                                         absl::Duration cap_window,
                                                         absl::Time at) {
  return database_->Transact(
      Tenancy::Business(business_id), "preview run jobs",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<JobFacts>> {
        std::vector<JobFacts> jobs;
        for (const pqxx::row& row : txn.exec_params(sql::kPreviewJobs, business_id, run_id,
                                                    CapSeconds(cap_window),
                                                    absl::ToUnixMicros(at))) {
          JobFacts job;
          job.job_id = row["id"].as<int64_t>();
          job.lead_id = row["lead_id"].as<int64_t>();
          job.phone = row["phone"].as<std::string>();
          job.status = ParseJobStatus(row["status"].as<std::string>());
          job.time_zone = row["time_zone"].as<std::string>();
          job.caller_id = row["caller_id"].as<std::string>();
          job.attempts = row["attempts"].as<int>();
          if (!row["next_attempt_at_us"].is_null()) {
            job.next_attempt_at = absl::FromUnixMicros(row["next_attempt_at_us"].as<int64_t>());
          }
          job.waiting_reason =
              ParseWaitReason(row["waiting_reason"].as<std::string>()).value_or(WaitReason::kNone);
          job.standing = StandingFromRow(row);
          jobs.push_back(std::move(job));
        }
        return jobs;
      });
}

absl::StatusOr<std::map<std::string, PhoneStanding>> PreviewStore::Phones(
    int64_t business_id, const std::vector<std::string>& phones, absl::Duration cap_window,
    absl::Time at) {
  return database_->Transact(
      Tenancy::Business(business_id), "preview numbers",
      [&](pqxx::work& txn) -> absl::StatusOr<std::map<std::string, PhoneStanding>> {
        std::map<std::string, PhoneStanding> standings;
        for (const pqxx::row& row :
             txn.exec_params(sql::kPreviewPhones, business_id, PgArray(phones),
                             CapSeconds(cap_window), absl::ToUnixMicros(at))) {
          standings[row["phone"].as<std::string>()] = StandingFromRow(row);
        }
        return standings;
      });
}

}  // namespace campaign::store
