#include "server/auth/tenant_metadata.h"

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace campaign::auth {

absl::StatusOr<std::optional<int64_t>> ParseBusinessId(absl::string_view x_business_id) {
  if (x_business_id.empty()) return std::optional<int64_t>();
  int64_t parsed = 0;
  if (!absl::SimpleAtoi(x_business_id, &parsed) || parsed <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("x-business-id metadata must be a positive integer, got \"",
                     absl::CHexEscape(x_business_id.substr(0, 32)), "\""));
  }
  return std::optional<int64_t>(parsed);
}

absl::StatusOr<TenantMetadata> ParseTenantMetadata(
    const std::vector<absl::string_view>& authorization,
    const std::vector<absl::string_view>& x_business_id) {
  if (authorization.size() > 1) {
    return absl::UnauthenticatedError(
        absl::StrCat("metadata ", kAuthorizationKey, " was sent more than once"));
  }
  if (x_business_id.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata ", kBusinessIdKey, " was sent more than once"));
  }
  TenantMetadata metadata;
  if (!authorization.empty()) metadata.authorization = std::string(authorization.front());
  if (!x_business_id.empty()) metadata.x_business_id = std::string(x_business_id.front());
  absl::StatusOr<std::optional<int64_t>> business = ParseBusinessId(metadata.x_business_id);
  if (!business.ok()) return business.status();
  metadata.business_id = *business;
  return metadata;
}

}  // namespace campaign::auth
