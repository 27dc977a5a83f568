// GetDialingPolicy and UpdateDialingPolicy on domain types: authorisation
// (reads: any key of the business; writes: owner or admin, or a system
// admin naming the business), the update mask, validation, and the
// effective policy (run, else business, else the server's default, field by
// field: rules::Effective).
#ifndef CAMPAIGN_SERVER_SERVICE_POLICY_SERVICE_H_
#define CAMPAIGN_SERVER_SERVICE_POLICY_SERVICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/auth/caller.h"
#include "server/model/model.h"
#include "server/store/policy_repository.h"
#include "server/store/run_repository.h"

namespace campaign {

// The DialingPolicy field names an update_mask may hold, in field order.
inline constexpr const char* kPolicyFieldNames[] = {
    "calling_windows",      "restricted_dates",       "max_attempts",     "retry_delays",
    "max_dials_per_number", "per_number_window_days", "default_time_zone"};

// The fields an update_mask names: an empty mask is every field; a path that
// is not a DialingPolicy field name is INVALID_ARGUMENT naming
// update_mask.paths[i] and the path.
absl::StatusOr<store::PolicyMask> ParsePolicyMask(const std::vector<std::string>& paths);

// `policy` with only the fields of `mask` kept (the others unset).
DialingPolicy MaskedPolicy(const DialingPolicy& policy, const store::PolicyMask& mask);

// Implements the two policy RPCs.
class PolicyService {
 public:
  // `policies` and `runs` (for the NOT_FOUND audit) are not owned;
  // `server_default` is the effective policy's last resort (every field set:
  // rules::ServerDefaultPolicy() with campaignd --default-calling-hours).
  PolicyService(store::PolicyRepository* policies, store::RunRepository* runs,
                DialingPolicy server_default);

  // The effective policy of the caller's business (run_id 0) or of one of
  // its runs (NOT_FOUND for any other run, like GetRun).
  absl::StatusOr<DialingPolicy> GetDialingPolicy(const auth::Caller& caller, int64_t run_id);

  // Replaces the fields named by `mask_paths` (every field when empty) of the
  // business default (run_id 0) or of a run's overrides with those of
  // `values` (an empty or zero value clears the field, which then inherits);
  // returns the effective policy afterwards. The run must not have ended
  // (FAILED_PRECONDITION).
  absl::StatusOr<DialingPolicy> UpdateDialingPolicy(const auth::Caller& caller, int64_t run_id,
                                                    const DialingPolicy& values,
                                                    const std::vector<std::string>& mask_paths);

 private:
  absl::StatusOr<int64_t> BusinessOf(const auth::Caller& caller, bool write);
  DialingPolicy EffectiveOf(const store::StoredPolicies& stored) const;

  store::PolicyRepository* policies_;
  store::RunRepository* runs_;
  const DialingPolicy server_default_;
};

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_SERVICE_POLICY_SERVICE_H_
