// RoleBypassesRowSecurity against a real PostgreSQL: the service's role is
// subject to row-level security, the superuser is not.
#include "server/store/role_check.h"

#include <gtest/gtest.h>

#include "server/store/database.h"
#include "tests/support/test_database.h"

namespace campaign::testing {
namespace {

TEST(RoleCheckTest, ServiceRoleIsSubjectToRowLevelSecurity) {
  TestDatabase db;
  db.Migrate();
  store::Database database(db.app_url(), store::PoolOptions{.size = 1});
  absl::StatusOr<bool> bypasses = store::RoleBypassesRowSecurity(&database);
  ASSERT_TRUE(bypasses.ok()) << bypasses.status();
  EXPECT_FALSE(*bypasses);
}

TEST(RoleCheckTest, SuperuserBypassesRowLevelSecurity) {
  TestDatabase db;
  store::Database database(db.admin_url(), store::PoolOptions{.size = 1});
  absl::StatusOr<bool> bypasses = store::RoleBypassesRowSecurity(&database);
  ASSERT_TRUE(bypasses.ok()) << bypasses.status();
  EXPECT_TRUE(*bypasses);
}

}  // namespace
}  // namespace campaign::testing
