// The operations on runs and jobs that the campaign API's logic
// (service/RunService) needs, as an interface: RunStore implements it on
// PostgreSQL, and unit tests of the API's policy implement it with a fake.
#ifndef CAMPAIGN_SERVER_STORE_RUN_REPOSITORY_H_
#define CAMPAIGN_SERVER_STORE_RUN_REPOSITORY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/model/model.h"

namespace campaign::store {

// Result of CreateRun.
struct CreatedRun {
  Run run;
  // False when the request_id had already created this run (a retry).
  bool created = false;
};

// Result of AddLeads.
struct AddedLeads {
  Run run;
  // Jobs inserted.
  int64_t added = 0;
  // Leads whose (run_id, lead_id) already existed.
  int64_t skipped = 0;
};

// Result of a state change.
struct ChangedRun {
  Run run;
  // Queued jobs cancelled by the change.
  int64_t cancelled_jobs = 0;
};

// One page of a keyset listing.
template <typename T>
struct Page {
  std::vector<T> items;
  // Set when more items follow: the last item's id.
  std::optional<int64_t> next_after_id;
};

// Reads and writes runs and jobs of one business at a time. Every method but
// RunOwner takes the business it acts for and sees only that business's runs
// (NOT_FOUND for another's, worded as RunNotFoundMessage). Implementations
// are thread-safe.
class RunRepository {
 public:
  virtual ~RunRepository() = default;

  // Creates the run and its jobs (leads already validated and de-duplicated)
  // atomically. If the business already has a run with this request_id,
  // returns it when the digests match (created = false) and ALREADY_EXISTS
  // otherwise. A missing business is NOT_FOUND.
  virtual absl::StatusOr<CreatedRun> CreateRun(const NewRun& run) = 0;

  // Appends jobs for `leads` to a pending, running or paused run, skipping
  // lead_ids the run already has; FAILED_PRECONDITION for a run in any other
  // state, with nothing added. `lead_time_zones` and `lead_caller_ids`
  // (parallel to `leads`; missing or empty entries: none) are the jobs' zone
  // specs and caller ids, resolved by the caller.
  virtual absl::StatusOr<AddedLeads> AddLeads(int64_t business_id, int64_t run_id,
                                              const std::vector<Lead>& leads,
                                              const std::vector<std::string>& lead_time_zones,
                                              const std::vector<std::string>& lead_caller_ids) = 0;
  // The same without zone specs or caller ids.
  absl::StatusOr<AddedLeads> AddLeads(int64_t business_id, int64_t run_id,
                                      const std::vector<Lead>& leads) {
    return AddLeads(business_id, run_id, leads, {}, {});
  }

  // One run of the business; NOT_FOUND when it has none with this id.
  virtual absl::StatusOr<Run> GetRun(int64_t business_id, int64_t run_id) = 0;
  // Business `business_id` with its limits; NOT_FOUND when there is none.
  virtual absl::StatusOr<Business> GetBusiness(int64_t business_id) = 0;

  // Runs newest first (id descending) with id < after_id, at most `limit`;
  // all businesses when business_id is unset.
  virtual absl::StatusOr<Page<Run>> ListRuns(std::optional<int64_t> business_id,
                                             std::optional<RunStatus> status,
                                             std::optional<int64_t> after_id, int32_t limit) = 0;

  // Jobs of one run in id order with id > after_id, at most `limit`;
  // NOT_FOUND for a run the business does not have.
  virtual absl::StatusOr<Page<Job>> ListJobs(int64_t business_id, int64_t run_id,
                                             std::optional<JobStatus> status,
                                             std::optional<int64_t> after_id, int32_t limit) = 0;

  // Applies a user action (see PlanTransition) atomically with the scheduler's
  // claims; queued jobs cancelled by it are cancelled in the same step. For
  // the first Stop or Cancel of a run (not yet cancel-requested or ended),
  // `hang_up` is recorded as the run's hang_up_on_end; otherwise it is
  // ignored (the first choice stands). Pause and Resume ignore it.
  virtual absl::StatusOr<ChangedRun> ApplyAction(int64_t business_id, int64_t run_id,
                                                 RunAction action, bool hang_up) = 0;
  // The same with hang_up = true (the default of StopRun and CancelRun).
  absl::StatusOr<ChangedRun> ApplyAction(int64_t business_id, int64_t run_id, RunAction action) {
    return ApplyAction(business_id, run_id, action, /*hang_up=*/true);
  }

  // The business owning a run, looked up across businesses (nullopt when no
  // business has it); for telling a cross-business probe from a missing run in
  // security logs only.
  virtual absl::StatusOr<std::optional<int64_t>> RunOwner(int64_t run_id) = 0;
};

// Message of a run that is missing or belongs to another business; the two
// are answered identically.
std::string RunNotFoundMessage(int64_t run_id);

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_RUN_REPOSITORY_H_
