// Whether the database role campaignd connects as escapes row-level security
// (a superuser or BYPASSRLS role), so the composition root can warn at start.
#ifndef CAMPAIGN_SERVER_STORE_ROLE_CHECK_H_
#define CAMPAIGN_SERVER_STORE_ROLE_CHECK_H_

#include "absl/status/statusor.h"
#include "server/store/database.h"

namespace campaign::store {

// True when the current role is a superuser or has BYPASSRLS: row-level
// security, the second wall between businesses, is then off. UNAVAILABLE
// (or the pool's error) when the database cannot be asked.
absl::StatusOr<bool> RoleBypassesRowSecurity(Database* database);

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_ROLE_CHECK_H_
