#include "server/auth/caller.h"

#include "absl/strings/str_cat.h"
#include "server/util/logging.h"

namespace campaign::auth {

absl::StatusOr<Scope> AuthorizeCall(const Caller& caller, Permission permission,
                                    bool allow_all_businesses, absl::string_view action) {
  if (!Allows(caller.principal.role, permission)) {
    return absl::PermissionDeniedError(
        absl::StrCat("the ", RoleName(caller.principal.role), " role may not ", action));
  }
  absl::StatusOr<Scope> scope =
      ResolveScope(caller.principal, caller.x_business_id, allow_all_businesses);
  if (!scope.ok() && scope.status().code() == absl::StatusCode::kPermissionDenied) {
    spdlog::warn("security: {} named x-business-id {} of another business; refused",
                 DescribePrincipal(caller.principal), caller.x_business_id);
  }
  return scope;
}

}  // namespace campaign::auth
