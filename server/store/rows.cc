#include "server/store/rows.h"

namespace campaign::store {
namespace {

constexpr char kCancelQueuedJobsSql[] =
    "UPDATE outbound_call_jobs j"
    "   SET status = 'cancelled', error_message = $3, completed_at = now(),"
    "       run_version = (SELECT r.version + 1 FROM outbound_call_runs r WHERE r.id = $1)"
    " WHERE j.run_id = $1 AND j.business_id = $2 AND j.status = 'queued'";

std::optional<absl::Time> OptionalTime(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return absl::FromUnixMicros(field.as<int64_t>());
}

absl::Time Time(const pqxx::field& field) {
  return field.is_null() ? absl::InfinitePast() : absl::FromUnixMicros(field.as<int64_t>());
}

}  // namespace

Run RunFromRow(const pqxx::row& row, int first) {
  int i = first;
  Run run;
  run.id = row[i++].as<int64_t>();
  run.business_id = row[i++].as<int64_t>();
  run.outbound_list_id = row[i++].as<int64_t>();
  run.created_by_user_id = row[i++].as<int64_t>();
  run.request_id = row[i++].as<std::string>();
  run.concurrency = row[i++].as<int32_t>();
  run.total_leads = row[i++].as<int64_t>();
  run.queued_count = row[i++].as<int64_t>();
  run.in_progress_count = row[i++].as<int64_t>();
  run.completed_count = row[i++].as<int64_t>();
  run.failed_count = row[i++].as<int64_t>();
  run.cancelled_count = row[i++].as<int64_t>();
  run.cursor_position = row[i++].as<int64_t>();
  run.status = ParseRunStatus(row[i++].as<std::string>());
  run.cancel_requested = row[i++].as<bool>();
  run.last_error = row[i++].as<std::string>();
  run.locked_by_worker = row[i++].as<std::string>();
  run.lock_ts = OptionalTime(row[i++]);
  run.lease_epoch = row[i++].as<int64_t>();
  run.version = row[i++].as<int64_t>();
  run.created_at = Time(row[i++]);
  run.started_at = OptionalTime(row[i++]);
  run.ended_at = OptionalTime(row[i++]);
  run.updated_at = Time(row[i++]);
  run.busy_count = row[i++].as<int64_t>();
  run.no_answer_count = row[i++].as<int64_t>();
  return run;
}

Job JobFromRow(const pqxx::row& row) {
  int i = 0;
  Job job;
  job.id = row[i++].as<int64_t>();
  job.run_id = row[i++].as<int64_t>();
  job.business_id = row[i++].as<int64_t>();
  job.lead_id = row[i++].as<int64_t>();
  job.lead_name = row[i++].as<std::string>();
  job.phone = row[i++].as<std::string>();
  job.project_id = row[i++].as<int64_t>();
  job.call_log_id = row[i++].as<int64_t>();
  job.status = ParseJobStatus(row[i++].as<std::string>());
  job.error_message = row[i++].as<std::string>();
  job.call_sid = row[i++].as<std::string>();
  job.attempts = row[i++].as<int32_t>();
  job.dial_started_at = OptionalTime(row[i++]);
  job.created_at = Time(row[i++]);
  job.started_at = OptionalTime(row[i++]);
  job.completed_at = OptionalTime(row[i++]);
  return job;
}

int64_t CancelQueuedJobs(pqxx::work& txn, int64_t run_id, int64_t business_id,
                         const std::string& reason) {
  return txn.exec_params(kCancelQueuedJobsSql, run_id, business_id, reason).affected_rows();
}

}  // namespace campaign::store
