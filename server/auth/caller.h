// Who is calling and what the call may do: the typed caller every RunService
// method and watch takes, and the one rule that authorises a call (role
// grants the permission, then the business scope is resolved).
#ifndef CAMPAIGN_SERVER_AUTH_CALLER_H_
#define CAMPAIGN_SERVER_AUTH_CALLER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/auth/auth.h"
#include "server/model/model.h"

namespace campaign::auth {

// Who is calling: the authenticated principal and the raw x-business-id
// metadata value (empty when absent), as checked by ParseTenantMetadata.
struct Caller {
  Principal principal;
  std::string x_business_id;
};

// Authorises `permission` for the caller and resolves the businesses the call
// acts on (see ResolveScope); a caller naming another business in
// x-business-id is logged as a security warning. `action` names what was
// refused in the message ("create runs", "watch runs").
absl::StatusOr<Scope> AuthorizeCall(const Caller& caller, Permission permission,
                                    bool allow_all_businesses, absl::string_view action);

}  // namespace campaign::auth

#endif  // CAMPAIGN_SERVER_AUTH_CALLER_H_
