#include "server/store/role_check.h"

#include "server/store/queries.h"

namespace campaign::store {

absl::StatusOr<bool> RoleBypassesRowSecurity(Database* database) {
  return database->Transact(
      Tenancy::AllBusinesses(), "check database role", [](pqxx::work& txn) -> absl::StatusOr<bool> {
        return txn.exec1(sql::kRoleBypassesRowSecurity)["bypasses"].as<bool>();
      });
}

}  // namespace campaign::store
