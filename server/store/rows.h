// Internal to the store: the column lists of runs and jobs and their decoding.
#ifndef CAMPAIGN_SERVER_STORE_ROWS_H_
#define CAMPAIGN_SERVER_STORE_ROWS_H_

#include <pqxx/pqxx>

#include "server/model/model.h"

namespace campaign::store {

// Columns of outbound_call_runs decoded by RunFromRow, in its order;
// timestamps as microseconds since the epoch.
#define CAMPAIGN_RUN_COLUMNS                                                                  \
  "r.id, r.business_id, coalesce(r.outbound_list_id, 0), coalesce(r.created_by_user_id, 0), " \
  "coalesce(r.request_id, ''), r.concurrency, r.total_leads, r.queued_count, "                \
  "r.in_progress_count, r.completed_count, r.failed_count, r.cancelled_count, "               \
  "r.cursor_position, r.status, r.cancel_requested, coalesce(r.last_error, ''), "             \
  "coalesce(r.locked_by_worker, ''), (extract(epoch from r.lock_ts) * 1000000)::int8, "       \
  "r.lease_epoch, r.version, (extract(epoch from r.created_at) * 1000000)::int8, "            \
  "(extract(epoch from r.started_at) * 1000000)::int8, "                                      \
  "(extract(epoch from r.ended_at) * 1000000)::int8, "                                        \
  "(extract(epoch from r.updated_at) * 1000000)::int8, r.busy_count, r.no_answer_count"

// Number of columns in CAMPAIGN_RUN_COLUMNS.
inline constexpr int kRunColumnCount = 26;

// Columns of outbound_call_jobs decoded by JobFromRow, in its order.
#define CAMPAIGN_JOB_COLUMNS                                                                     \
  "j.id, j.run_id, j.business_id, j.lead_id, coalesce(j.lead_name, ''), coalesce(j.phone, ''), " \
  "coalesce(j.project_id, 0), coalesce(j.call_log_id, 0), j.status, "                            \
  "coalesce(j.error_message, ''), coalesce(j.call_sid, ''), j.attempts, "                        \
  "(extract(epoch from j.dial_started_at) * 1000000)::int8, "                                    \
  "(extract(epoch from j.created_at) * 1000000)::int8, "                                         \
  "(extract(epoch from j.started_at) * 1000000)::int8, "                                         \
  "(extract(epoch from j.completed_at) * 1000000)::int8"

// Decodes CAMPAIGN_RUN_COLUMNS starting at column `first`.
Run RunFromRow(const pqxx::row& row, int first = 0);

// Decodes CAMPAIGN_JOB_COLUMNS starting at column 0.
Job JobFromRow(const pqxx::row& row);

// Cancels every queued job of a run with `reason` as error message; returns
// how many. The caller adjusts the run's counters in the same transaction.
int64_t CancelQueuedJobs(pqxx::work& txn, int64_t run_id, int64_t business_id,
                         const std::string& reason);

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_ROWS_H_
