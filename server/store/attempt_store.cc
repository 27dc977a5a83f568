#include "server/store/attempt_store.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "server/store/queries.h"
#include "server/store/run_repository.h"

namespace campaign::store {
namespace {

std::optional<absl::Time> OptionalTime(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return absl::FromUnixMicros(field.as<int64_t>());
}

// Decodes a row of ListAttempts.
CallAttempt AttemptFromRow(const pqxx::row& row, int64_t business_id) {
  CallAttempt attempt;
  attempt.business_id = business_id;
  attempt.run_id = row["run_id"].as<int64_t>();
  attempt.job_id = row["job_id"].as<int64_t>();
  attempt.attempt = row["attempt"].as<int32_t>();
  attempt.lead_id = row["lead_id"].as<int64_t>();
  attempt.phone = row["phone"].as<std::string>();
  attempt.caller_id = row["caller_id"].as<std::string>();
  attempt.dial_token = row["dial_token"].as<std::string>();
  attempt.call_sid = row["call_sid"].as<std::string>();
  attempt.started_at = OptionalTime(row["started_at_us"]).value_or(absl::InfinitePast());
  attempt.answered_at = OptionalTime(row["answered_at_us"]);
  attempt.ended_at = OptionalTime(row["ended_at_us"]);
  // An outcome this version does not know reads as none.
  attempt.outcome = ParseJobStatus(row["outcome"].as<std::string>());
  attempt.answered_by = row["answered_by"].as<std::string>();
  attempt.error = row["error"].as<std::string>();
  return attempt;
}

}  // namespace

AttemptStore::AttemptStore(Database* database) : database_(database) {}

absl::StatusOr<AttemptPage> AttemptStore::List(int64_t business_id, int64_t run_id,
                                               std::optional<int64_t> job_id,
                                               const std::optional<AttemptPosition>& after,
                                               int32_t limit) {
  return database_->Transact(
      Tenancy::Business(business_id), "list attempts",
      [&](pqxx::work& txn) -> absl::StatusOr<AttemptPage> {
        if (txn.exec_params(sql::kRunOfBusinessExists, run_id, business_id).empty()) {
          return absl::NotFoundError(RunNotFoundMessage(run_id));
        }
        if (job_id && txn.exec_params(sql::kJobOfRunExists, *job_id, run_id, business_id).empty()) {
          return absl::NotFoundError(absl::StrCat("job ", *job_id, " not found in run ", run_id));
        }
        std::optional<int64_t> after_job;
        std::optional<int32_t> after_attempt;
        if (after) after_job = after->job_id, after_attempt = after->attempt;
        const pqxx::result rows = txn.exec_params(sql::kListAttempts, business_id, run_id, job_id,
                                                  after_job, after_attempt, limit + 1);
        AttemptPage page;
        for (const auto& row : rows) {
          if (static_cast<int32_t>(page.attempts.size()) == limit) {
            page.next_after =
                AttemptPosition{page.attempts.back().job_id, page.attempts.back().attempt};
            break;
          }
          page.attempts.push_back(AttemptFromRow(row, business_id));
        }
        return page;
      });
}

}  // namespace campaign::store
