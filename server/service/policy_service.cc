#include "server/service/policy_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/auth/auth.h"
#include "server/rules/dialing_rules.h"
#include "server/service/audit.h"
#include "server/service/validation.h"
#include "server/util/logging.h"
#include "server/util/status_macros.h"

namespace campaign {
namespace {

// The names of the fields `mask` sets, for logs.
std::string MaskText(const store::PolicyMask& mask) {
  const bool set[] = {mask.calling_windows,  mask.restricted_dates,     mask.max_attempts,
                      mask.retry_delays,     mask.max_dials_per_number, mask.per_number_window_days,
                      mask.default_time_zone};
  std::vector<std::string> names;
  for (size_t i = 0; i < std::size(set); ++i) {
    if (set[i]) names.emplace_back(kPolicyFieldNames[i]);
  }
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::StatusOr<store::PolicyMask> ParsePolicyMask(const std::vector<std::string>& paths) {
  if (paths.empty()) return store::PolicyMask::All();
  store::PolicyMask mask;
  bool* fields[] = {&mask.calling_windows,      &mask.restricted_dates,
                    &mask.max_attempts,         &mask.retry_delays,
                    &mask.max_dials_per_number, &mask.per_number_window_days,
                    &mask.default_time_zone};
  for (size_t i = 0; i < paths.size(); ++i) {
    bool known = false;
    for (size_t f = 0; f < std::size(kPolicyFieldNames); ++f) {
      if (paths[i] == kPolicyFieldNames[f]) {
        *fields[f] = true;
        known = true;
      }
    }
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrFormat("update_mask.paths[%d] \"%s\" is not a DialingPolicy field (one of: %s)",
                          i, paths[i].substr(0, 64), absl::StrJoin(kPolicyFieldNames, ", ")));
    }
  }
  return mask;
}

DialingPolicy MaskedPolicy(const DialingPolicy& policy, const store::PolicyMask& mask) {
  DialingPolicy masked;
  if (mask.calling_windows) masked.calling_windows = policy.calling_windows;
  if (mask.restricted_dates) masked.restricted_dates = policy.restricted_dates;
  if (mask.max_attempts) masked.max_attempts = policy.max_attempts;
  if (mask.retry_delays) masked.retry_delays = policy.retry_delays;
  if (mask.max_dials_per_number) masked.max_dials_per_number = policy.max_dials_per_number;
  if (mask.per_number_window_days) masked.per_number_window_days = policy.per_number_window_days;
  if (mask.default_time_zone) masked.default_time_zone = policy.default_time_zone;
  return masked;
}

PolicyService::PolicyService(store::PolicyRepository* policies, store::RunRepository* runs,
                             DialingPolicy server_default)
    : policies_(policies), runs_(runs), server_default_(std::move(server_default)) {}

absl::StatusOr<int64_t> PolicyService::BusinessOf(const auth::Caller& caller, bool write) {
  ASSIGN_OR_RETURN(
      const auth::Scope scope,
      auth::AuthorizeCall(caller, write ? auth::Permission::kWrite : auth::Permission::kRead,
                          /*allow_all_businesses=*/false,
                          write ? "change dialing policies" : "read dialing policies"));
  return *scope.business_id;
}

DialingPolicy PolicyService::EffectiveOf(const store::StoredPolicies& stored) const {
  return rules::Effective(server_default_, stored.business, stored.run);
}

absl::StatusOr<DialingPolicy> PolicyService::GetDialingPolicy(const auth::Caller& caller,
                                                              int64_t run_id) {
  ASSIGN_OR_RETURN(const int64_t business_id, BusinessOf(caller, /*write=*/false));
  RETURN_IF_ERROR(ValidateOptionalId(run_id, "run_id"));
  absl::StatusOr<store::StoredPolicies> stored = policies_->GetPolicies(business_id, run_id);
  if (!stored.ok()) {
    return AuditNotFound(*runs_, caller.principal, business_id, run_id, stored.status());
  }
  return EffectiveOf(*stored);
}

absl::StatusOr<DialingPolicy> PolicyService::UpdateDialingPolicy(
    const auth::Caller& caller, int64_t run_id, const DialingPolicy& values,
    const std::vector<std::string>& mask_paths) {
  ASSIGN_OR_RETURN(const int64_t business_id, BusinessOf(caller, /*write=*/true));
  RETURN_IF_ERROR(ValidateOptionalId(run_id, "run_id"));
  ASSIGN_OR_RETURN(const store::PolicyMask mask, ParsePolicyMask(mask_paths));
  // Fields outside the mask are ignored (FieldMask semantics), so only the
  // ones written are validated.
  const DialingPolicy written = MaskedPolicy(values, mask);
  RETURN_IF_ERROR(rules::ValidatePolicy(written, "policy."));
  absl::StatusOr<store::StoredPolicies> stored =
      policies_->UpdatePolicy(business_id, run_id, written, mask);
  if (!stored.ok()) {
    return AuditNotFound(*runs_, caller.principal, business_id, run_id, stored.status());
  }
  spdlog::info("{} updated the dialing policy of {} (fields: {})",
               auth::DescribePrincipal(caller.principal),
               run_id == 0 ? absl::StrCat("business ", business_id) : absl::StrCat("run ", run_id),
               MaskText(mask));
  return EffectiveOf(*stored);
}

}  // namespace campaign
