// Reads behind live progress streams (WatchRun, WatchRuns): a run with the
// job transitions since a version, and the recent runs of a business. Every
// read is scoped to the business it names; row-level security applies.
#ifndef CAMPAIGN_SERVER_STORE_PROGRESS_STORE_H_
#define CAMPAIGN_SERVER_STORE_PROGRESS_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/model/model.h"
#include "server/store/database.h"

namespace campaign::store {

// One job's latest transition as recorded by its writers.
struct JobChange {
  int64_t job_id = 0;
  int64_t lead_id = 0;
  // nullopt when the stored status is unknown to this version.
  std::optional<JobStatus> status;
  std::string error_message;
  // The run version the transition belongs to (outbound_call_jobs.run_version).
  int64_t run_version = 0;
};

// A run and, when asked for, its job transitions.
struct RunProgress {
  Run run;
  // Transitions with run_version > the version asked for, ordered by
  // (run_version, job_id); at most the limit asked for.
  std::vector<JobChange> jobs;
  // True when more transitions existed than the limit.
  bool jobs_truncated = false;
};

// Reads runs and job transitions for progress streams.
class ProgressStore {
 public:
  explicit ProgressStore(Database* database);

  // The run `run_id` of `business_id` (NOT_FOUND when the business has no
  // such run) and, when `jobs_after_version` is set, up to `job_limit` job
  // transitions with run_version > it, all in one transaction.
  absl::StatusOr<RunProgress> ReadRun(int64_t business_id, int64_t run_id,
                                      std::optional<int64_t> jobs_after_version, int job_limit);

  // Runs newest first (at most `limit`), of one business or of every
  // business when unset, optionally only in `status`.
  absl::StatusOr<std::vector<Run>> RecentRuns(std::optional<int64_t> business_id,
                                              std::optional<RunStatus> status, int limit);

 private:
  Database* database_;
};

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_PROGRESS_STORE_H_
