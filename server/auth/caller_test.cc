// Unit tests of AuthorizeCall: the role is checked before the business scope.
#include "server/auth/caller.h"

#include <gtest/gtest.h>

#include "absl/status/status.h"

namespace campaign::auth {
namespace {

Caller TenantCaller(Role role, int64_t business_id, std::string x_business_id = "") {
  Caller caller;
  caller.principal.api_key_id = 4;
  caller.principal.role = role;
  caller.principal.business_id = business_id;
  caller.x_business_id = std::move(x_business_id);
  return caller;
}

// A role without the permission is PERMISSION_DENIED naming role and action.
TEST(AuthorizeCallTest, RoleWithoutPermissionIsRefusedWithItsName) {
  absl::StatusOr<Scope> scope = AuthorizeCall(TenantCaller(Role::kAgent, 3), Permission::kWrite,
                                              /*allow_all_businesses=*/false, "create runs");
  ASSERT_FALSE(scope.ok());
  EXPECT_EQ(scope.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(scope.status().message(), "the agent role may not create runs");
}

// The role is checked first: an agent naming a malformed business still
// learns only that it may not write.
TEST(AuthorizeCallTest, RoleIsCheckedBeforeScope) {
  absl::StatusOr<Scope> scope =
      AuthorizeCall(TenantCaller(Role::kAgent, 3, "9"), Permission::kWrite,
                    /*allow_all_businesses=*/false, "create runs");
  ASSERT_FALSE(scope.ok());
  EXPECT_EQ(scope.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(scope.status().message(), "the agent role may not create runs");
}

// With the permission, the scope is the tenant's business; another business
// is PERMISSION_DENIED.
TEST(AuthorizeCallTest, PermittedCallGetsItsScope) {
  absl::StatusOr<Scope> own = AuthorizeCall(TenantCaller(Role::kOwner, 3), Permission::kWrite,
                                            /*allow_all_businesses=*/false, "create runs");
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->business_id, 3);
  absl::StatusOr<Scope> other = AuthorizeCall(TenantCaller(Role::kOwner, 3, "4"), Permission::kRead,
                                              /*allow_all_businesses=*/true, "watch runs");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace campaign::auth
