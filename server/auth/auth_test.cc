// Unit tests of authorisation (roles, business scope) and authentication
// (API key → principal with a TTL cache), with a fake key store and clock.
#include "server/auth/auth.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/util/crypto.h"

namespace campaign::auth {
namespace {

const std::vector<Role> kAllRoles = {Role::kSystemAdmin, Role::kOwner, Role::kAdmin, Role::kAgent};
const std::vector<Permission> kAllPermissions = {Permission::kRead, Permission::kControl,
                                                 Permission::kWrite};

// A tenant principal of business `business_id`.
Principal Tenant(Role role, int64_t business_id) {
  Principal principal;
  principal.api_key_id = 11;
  principal.role = role;
  principal.business_id = business_id;
  principal.user_id = 5;
  return principal;
}

// A system_admin principal (belongs to no business).
Principal SystemAdmin() {
  Principal principal;
  principal.api_key_id = 1;
  principal.role = Role::kSystemAdmin;
  return principal;
}

// system_admin, owner and admin may do everything.
TEST(AllowsTest, AdminRolesMayDoEverything) {
  for (Role role : {Role::kSystemAdmin, Role::kOwner, Role::kAdmin}) {
    for (Permission permission : kAllPermissions) {
      EXPECT_TRUE(Allows(role, permission))
          << RoleName(role) << " permission " << static_cast<int>(permission);
    }
  }
}

// agent may read and control runs but never write (Create, AddLeads).
TEST(AllowsTest, AgentMayReadAndControlButNotWrite) {
  EXPECT_TRUE(Allows(Role::kAgent, Permission::kRead));
  EXPECT_TRUE(Allows(Role::kAgent, Permission::kControl));
  EXPECT_FALSE(Allows(Role::kAgent, Permission::kWrite));
}

// A tenant key without x-business-id acts on its own business, whether or not
// the call may span businesses.
TEST(ResolveScopeTest, TenantWithoutHeaderGetsOwnBusiness) {
  for (Role role : {Role::kOwner, Role::kAdmin, Role::kAgent}) {
    for (bool allow_all : {false, true}) {
      auto scope = ResolveScope(Tenant(role, 3), "", allow_all);
      ASSERT_TRUE(scope.ok()) << RoleName(role) << ": " << scope.status();
      EXPECT_EQ(scope->business_id, std::optional<int64_t>(3)) << RoleName(role);
    }
  }
}

// A tenant key naming its own business is allowed.
TEST(ResolveScopeTest, TenantNamingOwnBusinessIsAllowed) {
  for (Role role : {Role::kOwner, Role::kAdmin, Role::kAgent}) {
    auto scope = ResolveScope(Tenant(role, 3), "3", /*allow_all_businesses=*/false);
    ASSERT_TRUE(scope.ok()) << RoleName(role) << ": " << scope.status();
    EXPECT_EQ(scope->business_id, std::optional<int64_t>(3));
  }
}

// A tenant key naming another business is refused, never trusted — also on
// calls that may span businesses.
TEST(ResolveScopeTest, TenantNamingAnotherBusinessIsPermissionDenied) {
  for (Role role : {Role::kOwner, Role::kAdmin, Role::kAgent}) {
    for (bool allow_all : {false, true}) {
      auto scope = ResolveScope(Tenant(role, 3), "4", allow_all);
      ASSERT_FALSE(scope.ok()) << RoleName(role) << " got business "
                               << scope->business_id.value_or(-1);
      EXPECT_EQ(scope.status().code(), absl::StatusCode::kPermissionDenied)
          << RoleName(role) << ": " << scope.status();
    }
  }
}

// A malformed x-business-id is INVALID_ARGUMENT for every role.
TEST(ResolveScopeTest, MalformedBusinessIdIsInvalidArgument) {
  std::vector<Principal> principals = {SystemAdmin(), Tenant(Role::kOwner, 3),
                                       Tenant(Role::kAgent, 3)};
  for (const Principal& principal : principals) {
    for (const char* value :
         {"abc", "0", "-1", "1x", "3x", " ", "1.5", "0x3", "99999999999999999999999"}) {
      for (bool allow_all : {false, true}) {
        auto scope = ResolveScope(principal, value, allow_all);
        ASSERT_FALSE(scope.ok()) << RoleName(principal.role) << " with \"" << value << "\"";
        EXPECT_EQ(scope.status().code(), absl::StatusCode::kInvalidArgument)
            << RoleName(principal.role) << " with \"" << value << "\": " << scope.status();
        EXPECT_TRUE(absl::StrContains(scope.status().message(), "x-business-id")) << scope.status();
      }
    }
  }
}

// A system admin acts on the business it names.
TEST(ResolveScopeTest, SystemAdminNamingBusinessGetsIt) {
  for (bool allow_all : {false, true}) {
    auto scope = ResolveScope(SystemAdmin(), "42", allow_all);
    ASSERT_TRUE(scope.ok()) << scope.status();
    EXPECT_EQ(scope->business_id, std::optional<int64_t>(42));
  }
}

// A system admin must name the business of a single-business call.
TEST(ResolveScopeTest, SystemAdminWithoutBusinessOnSingleBusinessCallIsInvalidArgument) {
  auto scope = ResolveScope(SystemAdmin(), "", /*allow_all_businesses=*/false);
  ASSERT_FALSE(scope.ok());
  EXPECT_EQ(scope.status().code(), absl::StatusCode::kInvalidArgument) << scope.status();
  EXPECT_TRUE(absl::StrContains(scope.status().message(), "x-business-id")) << scope.status();
}

// A system admin naming no business on a call that may span businesses gets
// an unscoped Scope.
TEST(ResolveScopeTest, SystemAdminWithoutBusinessOnListingIsUnscoped) {
  auto scope = ResolveScope(SystemAdmin(), "", /*allow_all_businesses=*/true);
  ASSERT_TRUE(scope.ok()) << scope.status();
  EXPECT_FALSE(scope->business_id.has_value());
}

// A fake API key store: keys by hash, with a call counter, the hashes it was
// asked for and an error it can be told to return.
class FakeKeyStore {
 public:
  void Put(absl::string_view key, const ApiKeyRecord& record) {
    absl::MutexLock lock(&mu_);
    records_[Sha256Hex(key)] = record;
  }
  void Revoke(absl::string_view key) {
    absl::MutexLock lock(&mu_);
    records_[Sha256Hex(key)].revoked = true;
  }
  void FailWith(absl::Status status) {
    absl::MutexLock lock(&mu_);
    error_ = std::move(status);
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(hashes_.size());
  }
  std::vector<std::string> hashes() {
    absl::MutexLock lock(&mu_);
    return hashes_;
  }

  KeyLookup Lookup() {
    return [this](absl::string_view hash) -> absl::StatusOr<std::optional<ApiKeyRecord>> {
      absl::MutexLock lock(&mu_);
      hashes_.emplace_back(hash);
      if (!error_.ok()) return error_;
      auto it = records_.find(hash);
      if (it == records_.end()) return std::optional<ApiKeyRecord>();
      return std::optional<ApiKeyRecord>(it->second);
    };
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, ApiKeyRecord> records_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> hashes_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

// An Authenticator over a FakeKeyStore and a settable clock, with one owner
// key ("good-key") and one revoked key ("revoked-key") stored.
class AuthenticatorTest : public testing::Test {
 protected:
  static constexpr absl::Duration kTtl = absl::Seconds(5);

  AuthenticatorTest() : authenticator_(store_.Lookup(), kTtl, [this] { return now_; }) {
    owner_.api_key_id = 17;
    owner_.role = Role::kOwner;
    owner_.business_id = 3;
    owner_.user_id = 99;
    store_.Put("good-key", ApiKeyRecord{owner_, "ci", false});
    Principal agent = owner_;
    agent.api_key_id = 18;
    agent.role = Role::kAgent;
    store_.Put("revoked-key", ApiKeyRecord{agent, "old", true});
  }

  // Asserts that `authorization` is refused as UNAUTHENTICATED.
  void ExpectUnauthenticated(absl::string_view authorization) {
    auto result = authenticator_.Authenticate(authorization);
    ASSERT_FALSE(result.ok()) << "\"" << authorization << "\" was accepted";
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated)
        << "\"" << authorization << "\": " << result.status();
  }

  // Asserts that `result` is the owner principal.
  void ExpectOwner(const absl::StatusOr<Principal>& result) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->api_key_id, owner_.api_key_id);
    EXPECT_EQ(result->role, owner_.role);
    EXPECT_EQ(result->business_id, owner_.business_id);
    EXPECT_EQ(result->user_id, owner_.user_id);
  }

  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
  FakeKeyStore store_;
  Principal owner_;
  Authenticator authenticator_;
};

// Missing or malformed authorization metadata is refused without a lookup.
TEST_F(AuthenticatorTest, MissingOrMalformedHeaderIsUnauthenticated) {
  for (const char* header : {"", "Basic x", "Basic Z29vZC1rZXk=", "Bearer", "Bearer ", "Bearer    ",
                             "good-key", "Bearergood-key", "Token good-key"}) {
    ExpectUnauthenticated(header);
  }
  EXPECT_EQ(store_.calls(), 0);
}

// A key longer than any API key is refused before hashing or lookup.
TEST_F(AuthenticatorTest, OverlongKeyIsUnauthenticated) {
  ExpectUnauthenticated(absl::StrCat("Bearer ", std::string(300, 'k')));
  EXPECT_EQ(store_.calls(), 0);
}

// Unknown and revoked keys are UNAUTHENTICATED and say which.
TEST_F(AuthenticatorTest, UnknownAndRevokedKeysAreUnauthenticated) {
  auto unknown = authenticator_.Authenticate("Bearer no-such-key");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated) << unknown.status();
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "unknown")) << unknown.status();

  auto revoked = authenticator_.Authenticate("Bearer revoked-key");
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.status().code(), absl::StatusCode::kUnauthenticated) << revoked.status();
  EXPECT_TRUE(absl::StrContains(revoked.status().message(), "revoked")) << revoked.status();
}

// A valid key resolves to its principal, and the store is asked for the
// SHA-256 hex of the key, never the key itself.
TEST_F(AuthenticatorTest, ValidKeyResolvesToPrincipalByItsHash) {
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  ASSERT_EQ(store_.calls(), 1);
  const std::string hash = store_.hashes()[0];
  EXPECT_EQ(hash, Sha256Hex("good-key"));
  EXPECT_EQ(hash.size(), 64u);
  EXPECT_NE(hash, "good-key");
}

// The scheme is case-insensitive ("bearer", "BEARER") and whitespace around
// the key is ignored; all spellings share one cache entry.
TEST_F(AuthenticatorTest, BearerIsCaseInsensitive) {
  for (const char* header : {"bearer good-key", "BEARER good-key", "BeArEr good-key",
                             "Bearer  good-key ", "Bearer good-key"}) {
    ExpectOwner(authenticator_.Authenticate(header));
  }
  EXPECT_EQ(store_.calls(), 1);
  EXPECT_EQ(store_.hashes()[0], Sha256Hex("good-key"));
}

// A found key is cached: a second call within the TTL makes no lookup; once
// the TTL has passed the key is looked up again.
TEST_F(AuthenticatorTest, FoundKeyIsCachedUntilTtlPasses) {
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  EXPECT_EQ(store_.calls(), 1);

  now_ += kTtl - absl::Nanoseconds(1);
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  EXPECT_EQ(store_.calls(), 1);

  now_ += absl::Nanoseconds(1);
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  EXPECT_EQ(store_.calls(), 2);

  // The fresh entry is cached for another TTL.
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  EXPECT_EQ(store_.calls(), 2);
}

// A key revoked while cached keeps working until the TTL passes, then is
// refused: a revoked key stops working within the TTL.
TEST_F(AuthenticatorTest, KeyRevokedMeanwhileIsRefusedAfterTtl) {
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  store_.Revoke("good-key");

  now_ += absl::Seconds(1);
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  EXPECT_EQ(store_.calls(), 1);

  now_ += kTtl;
  ExpectUnauthenticated("Bearer good-key");
  EXPECT_EQ(store_.calls(), 2);
}

// Unknown and revoked results are cached too, so an attacker's guesses or a
// revoked client cannot hammer the database.
TEST_F(AuthenticatorTest, UnknownAndRevokedResultsAreCached) {
  ExpectUnauthenticated("Bearer no-such-key");
  ExpectUnauthenticated("Bearer no-such-key");
  ExpectUnauthenticated("Bearer revoked-key");
  ExpectUnauthenticated("Bearer revoked-key");
  EXPECT_EQ(store_.calls(), 2);

  // A key created after its miss was cached is accepted once the TTL passes.
  store_.Put("no-such-key", ApiKeyRecord{owner_, "new", false});
  ExpectUnauthenticated("Bearer no-such-key");
  now_ += kTtl;
  ExpectOwner(authenticator_.Authenticate("Bearer no-such-key"));
  EXPECT_EQ(store_.calls(), 3);
}

// Different keys are cached separately.
TEST_F(AuthenticatorTest, CacheIsPerKey) {
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  ExpectUnauthenticated("Bearer good-key2");
  ExpectUnauthenticated("Bearer good-ke");
  EXPECT_EQ(store_.calls(), 3);
  const std::vector<std::string> hashes = store_.hashes();
  EXPECT_EQ(hashes[1], Sha256Hex("good-key2"));
  EXPECT_EQ(hashes[2], Sha256Hex("good-ke"));
}

// A store error is UNAVAILABLE (never UNAUTHENTICATED: the key may be fine),
// is not cached, and the key works as soon as the store answers again.
TEST_F(AuthenticatorTest, LookupErrorIsUnavailableAndNotCached) {
  for (absl::Status error :
       {absl::InternalError("connection reset"), absl::UnavailableError("database down"),
        absl::DeadlineExceededError("timeout")}) {
    store_.FailWith(error);
    auto result = authenticator_.Authenticate("Bearer good-key");
    ASSERT_FALSE(result.ok()) << error;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable)
        << error << " became " << result.status();
  }
  EXPECT_EQ(store_.calls(), 3);

  store_.FailWith(absl::OkStatus());
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  EXPECT_EQ(store_.calls(), 4);
}

// The cache is bounded: once it holds kMaxCacheEntries keys, the next new key
// empties it, so the first key is looked up again.
TEST_F(AuthenticatorTest, CacheIsBounded) {
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  for (size_t i = 1; i < Authenticator::kMaxCacheEntries; ++i) {
    ASSERT_FALSE(authenticator_.Authenticate(absl::StrCat("Bearer unknown-", i)).ok());
  }
  EXPECT_EQ(store_.calls(), static_cast<int>(Authenticator::kMaxCacheEntries));
  // Still cached: the cache holds exactly kMaxCacheEntries keys.
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  EXPECT_EQ(store_.calls(), static_cast<int>(Authenticator::kMaxCacheEntries));

  ASSERT_FALSE(authenticator_.Authenticate("Bearer one-more").ok());
  ExpectOwner(authenticator_.Authenticate("Bearer good-key"));
  EXPECT_EQ(store_.calls(), static_cast<int>(Authenticator::kMaxCacheEntries) + 2);
}

// Concurrent calls from many threads all resolve correctly (run under TSan to
// check the locking); every thread is joined before the checks.
TEST_F(AuthenticatorTest, ConcurrentCallsAreSafe) {
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 200;
  std::atomic<int> good{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        auto result = authenticator_.Authenticate((i + t) % 2 == 0 ? "Bearer good-key"
                                                                   : "Bearer revoked-key");
        if (result.ok() && result->api_key_id == 17) {
          ++good;
        } else if (!result.ok() && result.status().code() == absl::StatusCode::kUnauthenticated) {
          ++refused;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(good.load(), kThreads * kCallsPerThread / 2);
  EXPECT_EQ(refused.load(), kThreads * kCallsPerThread / 2);
  // Racing first calls may each look up, but never more than once per thread
  // per key.
  EXPECT_GE(store_.calls(), 2);
  EXPECT_LE(store_.calls(), 2 * kThreads);
}

// DescribePrincipal names the key, role, business and user for logs.
TEST(DescribePrincipalTest, NamesKeyRoleBusinessAndUser) {
  EXPECT_EQ(DescribePrincipal(Tenant(Role::kOwner, 3)), "key 11 (owner of business 3, user 5)");
  EXPECT_EQ(DescribePrincipal(SystemAdmin()), "key 1 (system_admin)");
}

}  // namespace
}  // namespace campaign::auth
