// The attempt ledger (call_attempts, migration 0015) as the API reads it:
// one row per dial, written by the scheduler's claim before the dial and
// completed when the call ends. Every method takes the business it acts for;
// row-level security enforces the same scope.
#ifndef CAMPAIGN_SERVER_STORE_ATTEMPT_STORE_H_
#define CAMPAIGN_SERVER_STORE_ATTEMPT_STORE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "server/model/model.h"
#include "server/store/database.h"

namespace campaign::store {

// A position in a run's ledger: after the attempt `attempt` of job `job_id`.
struct AttemptPosition {
  int64_t job_id = 0;
  int32_t attempt = 0;
};

// One page of a ledger in (job_id, attempt) order.
struct AttemptPage {
  std::vector<CallAttempt> attempts;
  // Set when more attempts follow: the last one of this page.
  std::optional<AttemptPosition> next_after;
};

// Reads the attempt ledger. Thread-safe.
class AttemptStore {
 public:
  explicit AttemptStore(Database* database);

  // At most `limit` attempts of run `run_id` (only job `job_id`'s when set)
  // in (job_id, attempt) order after `after`. NOT_FOUND (RunNotFoundMessage)
  // when the business has no such run, and when `job_id` is not a job of it.
  absl::StatusOr<AttemptPage> List(int64_t business_id, int64_t run_id,
                                   std::optional<int64_t> job_id,
                                   const std::optional<AttemptPosition>& after, int32_t limit);

 private:
  Database* database_;
};

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_ATTEMPT_STORE_H_
