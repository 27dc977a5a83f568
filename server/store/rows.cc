#include "server/store/rows.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/store/queries.h"

namespace campaign::store {
namespace {

// A `*_us` column (microseconds since the epoch); NULL is no time.
std::optional<absl::Time> OptionalTime(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return absl::FromUnixMicros(field.as<int64_t>());
}

// A `*_us` column of a NOT NULL timestamp (NULL reads as the infinite past).
absl::Time Time(const pqxx::field& field) {
  return field.is_null() ? absl::InfinitePast() : absl::FromUnixMicros(field.as<int64_t>());
}

// The elements of a one-dimensional array's text form ("{1,2,3}",
// "{busy,no_answer}", "{2026-12-25}"): elements without quotes, commas or
// braces, as the dialing_policy columns hold. NULL and "{}" are none.
std::vector<std::string> PolicyArray(const pqxx::field& field) {
  std::vector<std::string> elements;
  if (field.is_null()) return elements;
  absl::string_view text = field.c_str();
  if (!absl::ConsumePrefix(&text, "{") || !absl::ConsumeSuffix(&text, "}") || text.empty()) {
    return elements;
  }
  for (absl::string_view element : absl::StrSplit(text, ',')) {
    elements.emplace_back(absl::StripPrefix(absl::StripSuffix(element, "\""), "\""));
  }
  return elements;
}

std::vector<int> PolicyInts(const pqxx::field& field) {
  std::vector<int> values;
  for (const std::string& element : PolicyArray(field)) {
    int value = 0;
    values.push_back(absl::SimpleAtoi(element, &value) ? value : -1);
  }
  return values;
}

}  // namespace

DialingPolicy PolicyFromRow(const pqxx::row& row) {
  DialingPolicy policy;
  const std::vector<int> days = PolicyInts(row["window_days"]);
  const std::vector<int> starts = PolicyInts(row["window_start_minutes"]);
  const std::vector<int> ends = PolicyInts(row["window_end_minutes"]);
  for (size_t i = 0; i < days.size() && i < starts.size() && i < ends.size(); ++i) {
    policy.calling_windows.push_back(DailyWindow{days[i], starts[i], ends[i]});
  }
  for (const std::string& date : PolicyArray(row["restricted_dates"])) {
    std::vector<absl::string_view> parts = absl::StrSplit(date, '-');
    LocalDate local;
    if (parts.size() == 3 && absl::SimpleAtoi(parts[0], &local.year) &&
        absl::SimpleAtoi(parts[1], &local.month) && absl::SimpleAtoi(parts[2], &local.day)) {
      policy.restricted_dates.push_back(local);
    }
  }
  if (!row["max_attempts"].is_null()) policy.max_attempts = row["max_attempts"].as<int>();
  const std::vector<std::string> outcomes = PolicyArray(row["retry_outcomes"]);
  const std::vector<int> delays = PolicyInts(row["retry_delay_seconds"]);
  for (size_t i = 0; i < outcomes.size() && i < delays.size(); ++i) {
    std::optional<JobStatus> outcome = ParseJobStatus(outcomes[i]);
    if (!outcome) continue;
    policy.retry_delays.push_back(RetryDelay{*outcome, absl::Seconds(delays[i])});
  }
  if (!row["max_dials_per_number"].is_null()) {
    policy.max_dials_per_number = row["max_dials_per_number"].as<int>();
  }
  if (!row["per_number_window_days"].is_null()) {
    policy.per_number_window_days = row["per_number_window_days"].as<int>();
  }
  if (!row["default_time_zone"].is_null()) {
    policy.default_time_zone = row["default_time_zone"].as<std::string>();
  }
  return policy;
}

Run RunFromRow(const pqxx::row& row) {
  Run run;
  run.id = row["id"].as<int64_t>();
  run.business_id = row["business_id"].as<int64_t>();
  run.outbound_list_id = row["outbound_list_id"].as<int64_t>();
  run.created_by_user_id = row["created_by_user_id"].as<int64_t>();
  run.request_id = row["request_id"].as<std::string>();
  run.concurrency = row["concurrency"].as<int32_t>();
  run.total_leads = row["total_leads"].as<int64_t>();
  run.queued_count = row["queued_count"].as<int64_t>();
  run.in_progress_count = row["in_progress_count"].as<int64_t>();
  run.completed_count = row["completed_count"].as<int64_t>();
  run.failed_count = row["failed_count"].as<int64_t>();
  run.cancelled_count = row["cancelled_count"].as<int64_t>();
  run.busy_count = row["busy_count"].as<int64_t>();
  run.no_answer_count = row["no_answer_count"].as<int64_t>();
  run.cursor_position = row["cursor_position"].as<int64_t>();
  run.status = ParseRunStatus(row["status"].as<std::string>());
  run.cancel_requested = row["cancel_requested"].as<bool>();
  run.last_error = row["last_error"].as<std::string>();
  run.locked_by_worker = row["locked_by_worker"].as<std::string>();
  run.lock_ts = OptionalTime(row["lock_ts_us"]);
  run.lease_epoch = row["lease_epoch"].as<int64_t>();
  run.version = row["version"].as<int64_t>();
  run.created_at = Time(row["created_at_us"]);
  run.started_at = OptionalTime(row["started_at_us"]);
  run.ended_at = OptionalTime(row["ended_at_us"]);
  run.updated_at = Time(row["updated_at_us"]);
  run.call_settings = CallSettingsFromRow(row);
  run.hang_up_on_end = row["hang_up_on_end"].as<bool>();
  return run;
}

CallSettings CallSettingsFromRow(const pqxx::row& row) {
  CallSettings settings;
  settings.caller_id = row["caller_id"].as<std::string>();
  settings.twiml_url = row["twiml_url"].as<std::string>();
  settings.ring_timeout_seconds = row["ring_timeout_seconds"].as<int32_t>();
  settings.machine_detection = ParseMachineDetection(row["machine_detection"].as<std::string>())
                                   .value_or(MachineDetection::kOff);
  return settings;
}

Job JobFromRow(const pqxx::row& row) {
  Job job;
  job.id = row["id"].as<int64_t>();
  job.run_id = row["run_id"].as<int64_t>();
  job.business_id = row["business_id"].as<int64_t>();
  job.lead_id = row["lead_id"].as<int64_t>();
  job.lead_name = row["lead_name"].as<std::string>();
  job.phone = row["phone"].as<std::string>();
  job.project_id = row["project_id"].as<int64_t>();
  job.call_log_id = row["call_log_id"].as<int64_t>();
  job.status = ParseJobStatus(row["status"].as<std::string>());
  job.error_message = row["error_message"].as<std::string>();
  job.call_sid = row["call_sid"].as<std::string>();
  job.attempts = row["attempts"].as<int32_t>();
  job.dial_started_at = OptionalTime(row["dial_started_at_us"]);
  job.created_at = Time(row["created_at_us"]);
  job.started_at = OptionalTime(row["started_at_us"]);
  job.completed_at = OptionalTime(row["completed_at_us"]);
  return job;
}

std::string CancelReason(RunStatus ended_as, absl::string_view error) {
  switch (ended_as) {
    case RunStatus::kStopped:
      return "Stopped by user";
    case RunStatus::kFailed:
      return absl::StrCat("Run failed: ", error);
    default:
      return "Cancelled by user";
  }
}

int64_t CancelQueuedJobs(pqxx::work& txn, int64_t run_id, int64_t business_id,
                         const std::string& reason) {
  return txn.exec_params(sql::kCancelQueuedJobs, run_id, business_id, reason).affected_rows();
}

}  // namespace campaign::store
