// The tenant metadata of a call (`authorization`, `x-business-id`) parsed and
// checked for form, free of gRPC: the tenant interceptor hands it the values
// the client sent, and the handler gets the result through the call context.
#ifndef CAMPAIGN_SERVER_AUTH_TENANT_METADATA_H_
#define CAMPAIGN_SERVER_AUTH_TENANT_METADATA_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace campaign::auth {

// Metadata keys a call carries its tenant in.
inline constexpr char kAuthorizationKey[] = "authorization";
inline constexpr char kBusinessIdKey[] = "x-business-id";

// The business named by a raw `x-business-id` value: nullopt when empty
// (absent), INVALID_ARGUMENT unless a positive decimal integer.
absl::StatusOr<std::optional<int64_t>> ParseBusinessId(absl::string_view x_business_id);

// A call's tenant metadata once each key was found sent at most once and
// x-business-id well formed. The key itself is checked by the Authenticator.
struct TenantMetadata {
  // The single `authorization` value ("Bearer <key>"), empty when absent.
  std::string authorization;
  // The single `x-business-id` value as sent, empty when absent, and the
  // business it names.
  std::string x_business_id;
  std::optional<int64_t> business_id;
};

// Checks the values the client sent for each key, in this order (the first
// fault wins): `authorization` more than once is UNAUTHENTICATED;
// `x-business-id` more than once, or not a positive integer, is
// INVALID_ARGUMENT. Two credentials in one call are refused, not guessed at.
absl::StatusOr<TenantMetadata> ParseTenantMetadata(
    const std::vector<absl::string_view>& authorization,
    const std::vector<absl::string_view>& x_business_id);

}  // namespace campaign::auth

#endif  // CAMPAIGN_SERVER_AUTH_TENANT_METADATA_H_
