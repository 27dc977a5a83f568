// Internal to the store: decoding of run and job rows, and the job
// transitions the run and lease stores share.
#ifndef CAMPAIGN_SERVER_STORE_ROWS_H_
#define CAMPAIGN_SERVER_STORE_ROWS_H_

#include <pqxx/pqxx>
#include <string>

#include "absl/strings/string_view.h"
#include "server/model/model.h"

namespace campaign::store {

// Decodes a row holding the columns of the RunColumns fragment
// (queries/runs.sql), read by name; other columns of the row are ignored.
Run RunFromRow(const pqxx::row& row);

// Decodes a run's call settings from the columns caller_id, twiml_url,
// ring_timeout_seconds and machine_detection (NULLs coalesced to '' and 0,
// as RunColumns and AcquireRuns return them). An unknown machine_detection
// name reads as off.
CallSettings CallSettingsFromRow(const pqxx::row& row);

// Decodes a row holding the columns of the JobColumns fragment, read by name.
Job JobFromRow(const pqxx::row& row);

// Decodes the columns of a dialing_policy row (migration 0015), read by their
// names: window_days, window_start_minutes, window_end_minutes,
// restricted_dates, max_attempts, retry_outcomes, retry_delay_seconds,
// max_dials_per_number, per_number_window_days, default_time_zone. A NULL
// column is a field not set here (empty list, 0, ""): the policy as stored,
// to be resolved by rules::Effective. Array elements that do not decode (an
// unknown outcome name, a malformed date) are left out.
DialingPolicy PolicyFromRow(const pqxx::row& row);

// The error message of jobs cancelled because their run ended as `ended_as`:
// "Stopped by user", "Run failed: <error>", else "Cancelled by user".
std::string CancelReason(RunStatus ended_as, absl::string_view error = "");

// Cancels every queued job of a run with `reason` as error message; returns
// how many. The run row must be locked; the caller adjusts the run's
// counters (and bumps its version) in the same transaction.
int64_t CancelQueuedJobs(pqxx::work& txn, int64_t run_id, int64_t business_id,
                         const std::string& reason);

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_ROWS_H_
