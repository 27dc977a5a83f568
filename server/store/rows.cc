#include "server/store/rows.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

// The elements of an array column (NULL elements left out); empty for NULL.
std::vector<std::string> ArrayElements(const pqxx::field& field) {
  std::vector<std::string> elements;
  if (field.is_null()) return elements;
  pqxx::array_parser parser = field.as_array();
  while (true) {
    auto [juncture, value] = parser.get_next();
    if (juncture == pqxx::array_parser::done) break;
    if (juncture == pqxx::array_parser::string_value) elements.push_back(std::move(value));
  }
  return elements;
}

std::vector<int> IntElements(const pqxx::field& field) {
  std::vector<int> values;
  for (const std::string& element : ArrayElements(field)) {
    int value = 0;
    values.push_back(absl::SimpleAtoi(element, &value) ? value : 0);
  }
  return values;
}

// A nullable int4 column; NULL is 0 (not set).
int IntOrZero(const pqxx::field& field) { return field.is_null() ? 0 : field.as<int>(); }

// "YYYY-MM-DD" (a date column's ISO output); nullopt when malformed.
std::optional<LocalDate> ParseIsoDate(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '-');
  LocalDate date;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &date.year) ||
      !absl::SimpleAtoi(parts[1], &date.month) || !absl::SimpleAtoi(parts[2], &date.day)) {
    return std::nullopt;
  }
  return date;
}

}  // namespace

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
  run.skipped_count = row["skipped_count"].as<int64_t>();
  run.next_dial_at = OptionalTime(row["next_dial_at_us"]);
  run.waiting_reason =
      ParseWaitReason(row["waiting_reason"].as<std::string>()).value_or(WaitReason::kNone);
  run.start_at = OptionalTime(row["start_at_us"]);
  run.end_at = OptionalTime(row["end_at_us"]);
  const std::string caller_ids = row["caller_ids"].as<std::string>();
  if (!caller_ids.empty()) run.caller_ids = absl::StrSplit(caller_ids, ',');
  run.local_presence = row["local_presence"].as<bool>();
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
  job.next_attempt_at = OptionalTime(row["next_attempt_at_us"]);
  job.waiting_reason =
      ParseWaitReason(row["waiting_reason"].as<std::string>()).value_or(WaitReason::kNone);
  job.time_zone = row["time_zone"].as<std::string>();
  job.caller_id = row["caller_id"].as<std::string>();
  job.skip_reason =
      ParseSkipReason(row["skip_reason"].as<std::string>()).value_or(SkipReason::kNone);
  return job;
}

DialingPolicy PolicyFromRow(const pqxx::row& row) {
  DialingPolicy policy;
  const std::vector<int> days = IntElements(row["window_days"]);
  const std::vector<int> starts = IntElements(row["window_start_minutes"]);
  const std::vector<int> ends = IntElements(row["window_end_minutes"]);
  for (size_t i = 0; i < days.size() && i < starts.size() && i < ends.size(); ++i) {
    policy.calling_windows.push_back(DailyWindow{days[i], starts[i], ends[i]});
  }
  for (const std::string& text : ArrayElements(row["restricted_dates"])) {
    if (std::optional<LocalDate> date = ParseIsoDate(text)) {
      policy.restricted_dates.push_back(*date);
    }
  }
  policy.max_attempts = IntOrZero(row["max_attempts"]);
  const std::vector<std::string> outcomes = ArrayElements(row["retry_outcomes"]);
  const std::vector<int> delays = IntElements(row["retry_delay_seconds"]);
  for (size_t i = 0; i < outcomes.size() && i < delays.size(); ++i) {
    if (std::optional<JobStatus> outcome = ParseJobStatus(outcomes[i])) {
      policy.retry_delays.push_back(RetryDelay{*outcome, absl::Seconds(delays[i])});
    }
  }
  policy.max_dials_per_number = IntOrZero(row["max_dials_per_number"]);
  policy.per_number_window_days = IntOrZero(row["per_number_window_days"]);
  const pqxx::field zone = row["default_time_zone"];
  if (!zone.is_null()) policy.default_time_zone = zone.as<std::string>();
  return policy;
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
