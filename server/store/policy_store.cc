#include "server/store/policy_store.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/store/pg_array.h"
#include "server/store/queries.h"
#include "server/store/rows.h"
#include "server/store/run_repository.h"

namespace campaign::store {
namespace {

// NULL for an empty list (the field is not set), else the array literal.
template <typename T>
std::optional<std::string> ArrayOrNull(const std::vector<T>& values) {
  if (values.empty()) return std::nullopt;
  return PgArray(values);
}

std::optional<int> IntOrNull(int value) {
  return value == 0 ? std::nullopt : std::optional<int>(value);
}

// The business row and the run row of (business, run_id) in `txn`.
StoredPolicies ReadPolicies(pqxx::work& txn, int64_t business_id, int64_t run_id) {
  StoredPolicies policies;
  for (const pqxx::row& row : txn.exec_params(sql::kDialingPolicies, business_id, run_id)) {
    if (row["run_id"].as<int64_t>() == 0) {
      policies.business = PolicyFromRow(row);
    } else {
      policies.run = PolicyFromRow(row);
    }
  }
  return policies;
}

// NOT_FOUND when run_id (> 0) is not a run of the business; else its status.
absl::StatusOr<std::optional<RunStatus>> RunStatusOf(pqxx::work& txn, int64_t business_id,
                                                     int64_t run_id) {
  pqxx::result rows = txn.exec_params(sql::kRunStatusForPolicy, run_id, business_id);
  if (rows.empty()) return absl::NotFoundError(RunNotFoundMessage(run_id));
  return ParseRunStatus(rows[0]["status"].as<std::string>());
}

}  // namespace

void WritePolicy(pqxx::work& txn, int64_t business_id, int64_t run_id, const DialingPolicy& values,
                 const PolicyMask& mask) {
  std::vector<int64_t> days, starts, ends;
  for (const DailyWindow& window : values.calling_windows) {
    days.push_back(window.day_of_week);
    starts.push_back(window.start_minute);
    ends.push_back(window.end_minute);
  }
  std::vector<std::string> dates;
  for (const LocalDate& date : values.restricted_dates) {
    dates.push_back(absl::StrFormat("%04d-%02d-%02d", date.year, date.month, date.day));
  }
  std::vector<std::string> outcomes;
  std::vector<int64_t> delays;
  for (const RetryDelay& retry : values.retry_delays) {
    outcomes.emplace_back(JobStatusName(retry.outcome));
    delays.push_back(absl::ToInt64Seconds(retry.delay));
  }
  txn.exec_params(
      sql::kUpsertDialingPolicy, business_id, run_id, mask.calling_windows, mask.restricted_dates,
      mask.max_attempts, mask.retry_delays, mask.max_dials_per_number, mask.per_number_window_days,
      mask.default_time_zone, ArrayOrNull(days), ArrayOrNull(starts), ArrayOrNull(ends),
      ArrayOrNull(dates), IntOrNull(values.max_attempts), ArrayOrNull(outcomes),
      ArrayOrNull(delays), IntOrNull(values.max_dials_per_number),
      IntOrNull(values.per_number_window_days),
      values.default_time_zone.empty() ? std::nullopt : std::optional(values.default_time_zone));
}

PolicyStore::PolicyStore(Database* database) : database_(database) {}

absl::StatusOr<StoredPolicies> PolicyStore::GetPolicies(int64_t business_id, int64_t run_id) {
  return database_->Transact(Tenancy::Business(business_id), "get dialing policy",
                             [&](pqxx::work& txn) -> absl::StatusOr<StoredPolicies> {
                               if (run_id != 0) {
                                 absl::StatusOr<std::optional<RunStatus>> status =
                                     RunStatusOf(txn, business_id, run_id);
                                 if (!status.ok()) return status.status();
                               }
                               return ReadPolicies(txn, business_id, run_id);
                             });
}

absl::StatusOr<StoredPolicies> PolicyStore::UpdatePolicy(int64_t business_id, int64_t run_id,
                                                         const DialingPolicy& values,
                                                         const PolicyMask& mask) {
  return database_->Transact(
      Tenancy::Business(business_id), "update dialing policy",
      [&](pqxx::work& txn) -> absl::StatusOr<StoredPolicies> {
        if (run_id != 0) {
          absl::StatusOr<std::optional<RunStatus>> status = RunStatusOf(txn, business_id, run_id);
          if (!status.ok()) return status.status();
          if (!status->has_value() || IsTerminal(**status)) {
            return absl::FailedPreconditionError(
                absl::StrCat("cannot change the dialing policy of run ", run_id, ": it is ",
                             status->has_value() ? RunStatusName(**status) : "in an unknown status",
                             "; policies of pending, running or paused runs can be changed"));
          }
        }
        WritePolicy(txn, business_id, run_id, values, mask);
        return ReadPolicies(txn, business_id, run_id);
      });
}

}  // namespace campaign::store
