// PreviewRun on domain types: reads what the scheduler would decide with
// (the effective policy, the run's schedule, each lead's zone, caller id,
// attempts, do-not-call and recent dials) and decides every lead through
// rules::Decide, the function the scheduler itself decides by. Writes
// nothing.
#ifndef CAMPAIGN_SERVER_SERVICE_PREVIEW_SERVICE_H_
#define CAMPAIGN_SERVER_SERVICE_PREVIEW_SERVICE_H_

#include <cstdint>
#include <functional>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth/caller.h"
#include "server/service/policy_service.h"
#include "server/service/preview.h"
#include "server/service/run_service.h"
#include "server/store/preview_store.h"

namespace campaign {

// PreviewRun's input: an existing run (run_id) or a proposed one (create).
struct PreviewInput {
  int64_t run_id = 0;
  std::optional<CreateRunInput> create;
  // A lead to explain; 0 for none.
  int64_t lead_id = 0;
  // The time to preview for; unset: now.
  std::optional<absl::Time> at;
};

// Implements PreviewRun.
class PreviewService {
 public:
  // Nothing is owned. `clock` is the time of a preview without `at`.
  PreviewService(RunService* runs, PolicyService* policies, store::PreviewStore* store,
                 Limits limits, std::function<absl::Time()> clock = absl::Now);

  // Any key of the business may preview. A run of another business is
  // NOT_FOUND (like GetRun); a proposed run is validated like CreateRun
  // except that invalid phone numbers and time zones are counted (`invalid`)
  // instead of refused, and request_id may be empty. A lead_id that is not
  // in the target is NOT_FOUND.
  absl::StatusOr<PreviewSummary> Preview(const Caller& caller, const PreviewInput& input);

 private:
  absl::StatusOr<PreviewSummary> PreviewExisting(const Caller& caller, const PreviewInput& input,
                                                 absl::Time at);
  absl::StatusOr<PreviewSummary> PreviewProposed(const Caller& caller, const PreviewInput& input,
                                                 absl::Time at);

  RunService* runs_;
  PolicyService* policies_;
  store::PreviewStore* store_;
  const Limits limits_;
  std::function<absl::Time()> clock_;
};

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_SERVICE_PREVIEW_SERVICE_H_
