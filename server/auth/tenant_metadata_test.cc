// Unit tests of the tenant metadata's form: each key at most once, a
// well-formed x-business-id, the first fault deciding the code.
#include "server/auth/tenant_metadata.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"

namespace campaign::auth {
namespace {

using Values = std::vector<absl::string_view>;

// No metadata at all is well formed (the key's absence is the Authenticator's
// UNAUTHENTICATED, later).
TEST(ParseTenantMetadataTest, AbsentKeysAreEmpty) {
  absl::StatusOr<TenantMetadata> parsed = ParseTenantMetadata({}, {});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->authorization, "");
  EXPECT_EQ(parsed->x_business_id, "");
  EXPECT_FALSE(parsed->business_id.has_value());
}

// One value each is taken as sent, and the business it names parsed.
TEST(ParseTenantMetadataTest, SingleValuesAreTaken) {
  absl::StatusOr<TenantMetadata> parsed = ParseTenantMetadata({"Bearer k"}, {"42"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->authorization, "Bearer k");
  EXPECT_EQ(parsed->x_business_id, "42");
  EXPECT_EQ(parsed->business_id, 42);
}

// Two credentials are UNAUTHENTICATED, not guessed at, whatever else is sent.
TEST(ParseTenantMetadataTest, DuplicateAuthorizationIsUnauthenticated) {
  for (const Values& business : {Values{}, Values{"1"}, Values{"1", "2"}, Values{"x"}}) {
    absl::StatusOr<TenantMetadata> parsed = ParseTenantMetadata({"Bearer a", "Bearer b"}, business);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(parsed.status().message(), "metadata authorization was sent more than once");
  }
}

// Two business ids are INVALID_ARGUMENT, even when both are the same.
TEST(ParseTenantMetadataTest, DuplicateBusinessIdIsInvalidArgument) {
  for (const Values& business : {Values{"1", "2"}, Values{"3", "3"}, Values{"", ""}}) {
    absl::StatusOr<TenantMetadata> parsed = ParseTenantMetadata({"Bearer a"}, business);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(parsed.status().message(), "metadata x-business-id was sent more than once");
  }
}

// An x-business-id that is not a positive integer is INVALID_ARGUMENT naming
// the key and (escaped, cut to 32 bytes) the value.
TEST(ParseTenantMetadataTest, MalformedBusinessIdIsInvalidArgument) {
  for (absl::string_view bad : {"abc", "-1", "0", "1x", "1.5", "99999999999999999999"}) {
    absl::StatusOr<TenantMetadata> parsed = ParseTenantMetadata({"Bearer a"}, {bad});
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StartsWith(parsed.status().message(),
                                 "x-business-id metadata must be a positive integer, got \""))
        << parsed.status();
  }
  absl::StatusOr<TenantMetadata> escaped = ParseTenantMetadata({}, {"\n" + std::string(40, 'z')});
  ASSERT_FALSE(escaped.ok());
  EXPECT_EQ(
      escaped.status().message(),
      "x-business-id metadata must be a positive integer, got \"\\n" + std::string(31, 'z') + "\"");
}

// The same rule as ResolveScope's: both refuse and accept the same values.
TEST(ParseBusinessIdTest, EmptyIsNoneAndPositiveIsParsed) {
  absl::StatusOr<std::optional<int64_t>> none = ParseBusinessId("");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  absl::StatusOr<std::optional<int64_t>> seven = ParseBusinessId("7");
  ASSERT_TRUE(seven.ok());
  EXPECT_EQ(*seven, 7);
}

}  // namespace
}  // namespace campaign::auth
