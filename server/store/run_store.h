// Runs and jobs in PostgreSQL. Every method takes the business it acts for and
// filters on it; row-level security enforces the same scope underneath.
#ifndef CAMPAIGN_SERVER_STORE_RUN_STORE_H_
#define CAMPAIGN_SERVER_STORE_RUN_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/store/database.h"
#include "server/store/run_repository.h"

namespace campaign::store {

// Reads and writes runs and jobs.
class RunStore : public RunRepository {
 public:
  // `lease_ttl` decides whether a run's worker is alive (CancelRun).
  RunStore(Database* database, absl::Duration lease_ttl);

  // Creates the run, its jobs (leads already validated and de-duplicated,
  // with their zone specs and caller ids) and, when any field of run.policy
  // is set, the run's dialing_policy row, in one transaction. If the
  // business already has a run with this request_id, returns it when the
  // digests match (created = false) and ALREADY_EXISTS otherwise. A missing
  // business is NOT_FOUND.
  absl::StatusOr<CreatedRun> CreateRun(const NewRun& run) override;

  // Appends jobs for `leads` to a pending, running or paused run, skipping
  // lead_ids the run already has; counters change in the same transaction.
  // The run row is locked only for the final counter update (claims and
  // heartbeats never wait for the COPY); a stop, cancel or completion that
  // commits meanwhile makes it FAILED_PRECONDITION with nothing added.
  absl::StatusOr<AddedLeads> AddLeads(int64_t business_id, int64_t run_id,
                                      const std::vector<Lead>& leads,
                                      const std::vector<std::string>& lead_time_zones,
                                      const std::vector<std::string>& lead_caller_ids) override;
  using RunRepository::AddLeads;

  // One run of the business; NOT_FOUND when it has none with this id.
  absl::StatusOr<Run> GetRun(int64_t business_id, int64_t run_id) override;
  absl::StatusOr<Business> GetBusiness(int64_t business_id) override;

  // Runs newest first (id descending) with id < after_id; all businesses when
  // business_id is unset.
  absl::StatusOr<Page<Run>> ListRuns(std::optional<int64_t> business_id,
                                     std::optional<RunStatus> status,
                                     std::optional<int64_t> after_id, int32_t limit) override;

  // Jobs of one run in id order with id > after_id; NOT_FOUND for a run the
  // business does not have.
  absl::StatusOr<Page<Job>> ListJobs(int64_t business_id, int64_t run_id,
                                     std::optional<JobStatus> status,
                                     std::optional<int64_t> after_id, int32_t limit) override;

  // Applies a user action (see PlanTransition) with the run row locked, so it
  // serialises with the scheduler's claims: queued jobs cancelled by it are
  // cancelled in the same transaction. The first Stop or Cancel records
  // `hang_up` (see RunRepository::ApplyAction).
  absl::StatusOr<ChangedRun> ApplyAction(int64_t business_id, int64_t run_id, RunAction action,
                                         bool hang_up) override;
  using RunRepository::ApplyAction;

  // The business owning a run, looked up across businesses; for telling a
  // cross-business probe from a missing run in security logs only.
  absl::StatusOr<std::optional<int64_t>> RunOwner(int64_t run_id) override;

 private:
  Database* database_;
  absl::Duration lease_ttl_;
};

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_RUN_STORE_H_
