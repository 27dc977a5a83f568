#include "server/store/role_check.h"

namespace campaign::store {
namespace {

constexpr char kRoleBypassesRlsSql[] =
    "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user";

}  // namespace

absl::StatusOr<bool> RoleBypassesRowSecurity(Database* database) {
  return database->Transact(Tenancy::AllBusinesses(), "check database role",
                            [](pqxx::work& txn) -> absl::StatusOr<bool> {
                              return txn.exec1(kRoleBypassesRlsSql)[0].as<bool>();
                            });
}

}  // namespace campaign::store
