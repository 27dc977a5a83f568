// ListAttempts' logic, free of gRPC: authorisation, validation, paging by
// (job_id, attempt) and the NOT_FOUND audit of runs of other businesses.
#ifndef CAMPAIGN_SERVER_SERVICE_ATTEMPT_SERVICE_H_
#define CAMPAIGN_SERVER_SERVICE_ATTEMPT_SERVICE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/auth/caller.h"
#include "server/model/model.h"
#include "server/service/run_service.h"
#include "server/store/attempt_store.h"
#include "server/store/run_repository.h"

namespace campaign {

// ListAttempts's input.
struct ListAttemptsInput {
  int64_t run_id = 0;
  // 0: every job of the run.
  int64_t job_id = 0;
  int32_t page_size = 0;
  std::string page_token;
};

// Implements ListAttempts for the business of the caller's credentials (any
// key of the business reads).
class AttemptService {
 public:
  // `attempts` reads the ledger; `runs` only tells, in security logs, a run
  // of another business from a missing one. Neither is owned.
  AttemptService(store::AttemptStore* attempts, store::RunRepository* runs);

  // A page of the run's (or the job's) attempts in (job_id, attempt) order.
  // NOT_FOUND for a run the business does not have (exactly like GetRun)
  // and for a job_id that is not a job of the run.
  absl::StatusOr<Listing<CallAttempt>> ListAttempts(const Caller& caller,
                                                    const ListAttemptsInput& input);

 private:
  store::AttemptStore* attempts_;
  store::RunRepository* runs_;
};

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_SERVICE_ATTEMPT_SERVICE_H_
