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
#include "absl/synchronization/notification.h"
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
  void Erase(absl::string_view key) {
    absl::MutexLock lock(&mu_);
    records_.erase(Sha256Hex(key));
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

// A well-formed API key ("ocs_" and 43 base64url characters) made from
// `name`, so tests read as names.
std::string Key(absl::string_view name) {
  std::string body(name);
  body.resize(43, 'x');
  return absl::StrCat("ocs_", body);
}

std::string Bearer(absl::string_view name) { return absl::StrCat("Bearer ", Key(name)); }

// An Authenticator over a FakeKeyStore and a settable clock, with one owner
// key ("good-key") and one revoked key ("revoked-key") stored.
class AuthenticatorTest : public testing::Test {
 protected:
  static constexpr absl::Duration kTtl = absl::Seconds(5);
  static constexpr double kLookupsPerSecond = 50;

  AuthenticatorTest() : authenticator_(store_.Lookup(), Options()) {
    owner_.api_key_id = 17;
    owner_.role = Role::kOwner;
    owner_.business_id = 3;
    owner_.user_id = 99;
    store_.Put(Key("good-key"), ApiKeyRecord{owner_, "ci", false});
    Principal agent = owner_;
    agent.api_key_id = 18;
    agent.role = Role::kAgent;
    store_.Put(Key("revoked-key"), ApiKeyRecord{agent, "old", true});
  }

  AuthenticatorOptions Options() {
    AuthenticatorOptions options;
    options.cache_ttl = kTtl;
    options.unknown_lookups_per_second = kLookupsPerSecond;
    options.unknown_lookup_burst = kLookupsPerSecond;
    options.now = [this] { return now_; };
    return options;
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
  for (std::string header :
       {std::string(""), std::string("Basic x"), std::string("Basic Z29vZC1rZXk="),
        std::string("Bearer"), std::string("Bearer "), std::string("Bearer    "), Key("good-key"),
        absl::StrCat("Bearer", Key("good-key")), absl::StrCat("Token ", Key("good-key"))}) {
    ExpectUnauthenticated(header);
  }
  EXPECT_EQ(store_.calls(), 0);
}

// A key longer than any API key is refused before hashing or lookup.
TEST_F(AuthenticatorTest, OverlongKeyIsUnauthenticated) {
  ExpectUnauthenticated(absl::StrCat("Bearer ", std::string(300, 'k')));
  EXPECT_EQ(store_.calls(), 0);
}

// Only keys of the issued form ("ocs_" + 43 base64url characters) are looked
// up: anything else is refused as malformed without touching the store.
TEST_F(AuthenticatorTest, KeysOfAnotherFormAreRefusedWithoutLookup) {
  const std::string good = Key("good-key");
  for (const std::string& key :
       {std::string("good-key"), std::string("ocs_"), std::string("ocs_short"),
        good.substr(0, good.size() - 1), absl::StrCat(good, "x"),
        absl::StrCat("OCS_", good.substr(4)), absl::StrCat("xyz_", good.substr(4)),
        absl::StrCat(good.substr(0, 10), "+", good.substr(11)),
        absl::StrCat(good.substr(0, 10), "/", good.substr(11)),
        absl::StrCat(good.substr(0, 10), "=", good.substr(11)),
        absl::StrCat(good.substr(0, 10), "\xC3\xA9", good.substr(12)),
        absl::StrCat(good.substr(0, 10), " ", good.substr(11))}) {
    SCOPED_TRACE(key);
    auto result = authenticator_.Authenticate(absl::StrCat("Bearer ", key));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << result.status();
    EXPECT_TRUE(absl::StrContains(result.status().message(), "malformed")) << result.status();
  }
  EXPECT_EQ(store_.calls(), 0);
  EXPECT_TRUE(IsWellFormedApiKey(Key("good-key")));
  EXPECT_TRUE(IsWellFormedApiKey("ocs_AZaz09-_AZaz09-_AZaz09-_AZaz09-_AZaz09-_Qxy"));
}

// Unknown and revoked keys are UNAUTHENTICATED and say which.
TEST_F(AuthenticatorTest, UnknownAndRevokedKeysAreUnauthenticated) {
  auto unknown = authenticator_.Authenticate(Bearer("no-such-key"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated) << unknown.status();
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "unknown")) << unknown.status();

  auto revoked = authenticator_.Authenticate(Bearer("revoked-key"));
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.status().code(), absl::StatusCode::kUnauthenticated) << revoked.status();
  EXPECT_TRUE(absl::StrContains(revoked.status().message(), "revoked")) << revoked.status();
}

// A valid key resolves to its principal, and the store is asked for the
// SHA-256 hex of the key, never the key itself.
TEST_F(AuthenticatorTest, ValidKeyResolvesToPrincipalByItsHash) {
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  ASSERT_EQ(store_.calls(), 1);
  const std::string hash = store_.hashes()[0];
  EXPECT_EQ(hash, Sha256Hex(Key("good-key")));
  EXPECT_EQ(hash.size(), 64u);
  EXPECT_NE(hash, Key("good-key"));
}

// The scheme is case-insensitive ("bearer", "BEARER") and whitespace around
// the key is ignored; all spellings share one cache entry.
TEST_F(AuthenticatorTest, BearerIsCaseInsensitive) {
  const std::string key = Key("good-key");
  for (const std::string& header :
       {absl::StrCat("bearer ", key), absl::StrCat("BEARER ", key), absl::StrCat("BeArEr ", key),
        absl::StrCat("Bearer  ", key, " "), absl::StrCat("Bearer ", key)}) {
    ExpectOwner(authenticator_.Authenticate(header));
  }
  EXPECT_EQ(store_.calls(), 1);
  EXPECT_EQ(store_.hashes()[0], Sha256Hex(key));
}

// A found key is cached: a second call within the TTL makes no lookup; once
// the TTL has passed the key is looked up again.
TEST_F(AuthenticatorTest, FoundKeyIsCachedUntilTtlPasses) {
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  EXPECT_EQ(store_.calls(), 1);

  now_ += kTtl - absl::Nanoseconds(1);
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  EXPECT_EQ(store_.calls(), 1);

  now_ += absl::Nanoseconds(1);
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  EXPECT_EQ(store_.calls(), 2);

  // The fresh entry is cached for another TTL.
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  EXPECT_EQ(store_.calls(), 2);
}

// A key revoked while cached keeps working until the TTL passes, then is
// refused: a revoked key stops working within the TTL.
TEST_F(AuthenticatorTest, KeyRevokedMeanwhileIsRefusedAfterTtl) {
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  store_.Revoke(Key("good-key"));

  now_ += absl::Seconds(1);
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  EXPECT_EQ(store_.calls(), 1);

  now_ += kTtl;
  ExpectUnauthenticated(Bearer("good-key"));
  EXPECT_EQ(store_.calls(), 2);
}

// A lookup that finds a key revoked (or gone since it was last seen) tells
// the revocation listener the key's id, once per lookup; cache hits do not.
TEST_F(AuthenticatorTest, RevocationFoundByLookupIsReported) {
  std::vector<int64_t> reported;
  authenticator_.SetRevokedListener([&](int64_t id) { reported.push_back(id); });
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  EXPECT_TRUE(reported.empty());

  store_.Revoke(Key("good-key"));
  now_ += kTtl;
  ExpectUnauthenticated(Bearer("good-key"));
  ExpectUnauthenticated(Bearer("good-key"));
  EXPECT_EQ(reported, std::vector<int64_t>{17});

  ExpectUnauthenticated(Bearer("revoked-key"));
  EXPECT_EQ(reported, (std::vector<int64_t>{17, 18}));

  // A key deleted from the store after it was seen is reported by its id.
  store_.Erase(Key("good-key"));
  now_ += kTtl;
  ExpectUnauthenticated(Bearer("good-key"));
  EXPECT_EQ(reported, (std::vector<int64_t>{17, 18, 17}));
}

// Unknown and revoked results are cached too, so an attacker's guesses or a
// revoked client cannot hammer the database.
TEST_F(AuthenticatorTest, UnknownAndRevokedResultsAreCached) {
  ExpectUnauthenticated(Bearer("no-such-key"));
  ExpectUnauthenticated(Bearer("no-such-key"));
  ExpectUnauthenticated(Bearer("revoked-key"));
  ExpectUnauthenticated(Bearer("revoked-key"));
  EXPECT_EQ(store_.calls(), 2);

  // A key created after its miss was cached is accepted once the TTL passes.
  store_.Put(Key("no-such-key"), ApiKeyRecord{owner_, "new", false});
  ExpectUnauthenticated(Bearer("no-such-key"));
  now_ += kTtl;
  ExpectOwner(authenticator_.Authenticate(Bearer("no-such-key")));
  EXPECT_EQ(store_.calls(), 3);
}

// Different keys are cached separately.
TEST_F(AuthenticatorTest, CacheIsPerKey) {
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  ExpectUnauthenticated(Bearer("good-key2"));
  ExpectUnauthenticated(Bearer("good-ke"));
  EXPECT_EQ(store_.calls(), 3);
  const std::vector<std::string> hashes = store_.hashes();
  EXPECT_EQ(hashes[1], Sha256Hex(Key("good-key2")));
  EXPECT_EQ(hashes[2], Sha256Hex(Key("good-ke")));
}

// A store error is UNAVAILABLE (never UNAUTHENTICATED: the key may be fine),
// is not cached, and the key works as soon as the store answers again.
TEST_F(AuthenticatorTest, LookupErrorIsUnavailableAndNotCached) {
  for (absl::Status error :
       {absl::InternalError("connection reset"), absl::UnavailableError("database down"),
        absl::DeadlineExceededError("timeout")}) {
    store_.FailWith(error);
    auto result = authenticator_.Authenticate(Bearer("good-key"));
    ASSERT_FALSE(result.ok()) << error;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable)
        << error << " became " << result.status();
  }
  EXPECT_EQ(store_.calls(), 3);

  store_.FailWith(absl::OkStatus());
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  EXPECT_EQ(store_.calls(), 4);
}

// A flood of random well-formed keys costs at most the lookup budget: the
// burst at once, then the rate per second; the rest are UNAVAILABLE without
// a lookup. A key known before the flood keeps working after its TTL.
TEST_F(AuthenticatorTest, RandomKeyFloodCausesBoundedLookups) {
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  ASSERT_EQ(store_.calls(), 1);
  int unavailable = 0;
  int unauthenticated = 0;
  auto flood = [&](int count) {
    for (int i = 0; i < count; ++i) {
      auto result =
          authenticator_.Authenticate(absl::StrCat("Bearer ", Key(RandomToken(16).substr(0, 20))));
      ASSERT_FALSE(result.ok());
      if (result.status().code() == absl::StatusCode::kUnavailable) ++unavailable;
      if (result.status().code() == absl::StatusCode::kUnauthenticated) ++unauthenticated;
    }
  };
  // The owner's first lookup took one token of the burst; the flood gets the
  // rest.
  const int burst = static_cast<int>(kLookupsPerSecond);
  flood(10'000);
  EXPECT_EQ(store_.calls(), burst);
  EXPECT_EQ(unauthenticated, burst - 1);
  EXPECT_EQ(unavailable, 10'000 - (burst - 1));

  // The budget refills at its rate: one second later, one second's worth.
  now_ += absl::Seconds(1);
  flood(10'000);
  EXPECT_EQ(store_.calls(), 2 * burst);

  // The known key is looked up again after its TTL despite the spent budget.
  now_ += kTtl;
  flood(1'000);
  store_.FailWith(absl::OkStatus());
  const int before = store_.calls();
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  EXPECT_EQ(store_.calls(), before + 1);
  EXPECT_GT(authenticator_.stats().throttled, 0);
  EXPECT_EQ(authenticator_.stats().lookups, store_.calls());
}

// Unknown keys live in a negative cache of their own with its own bound: any
// number of them never evicts a known key (which stays cached, no second
// lookup), and the negative cache never holds more than its bound.
TEST_F(AuthenticatorTest, UnknownKeysNeverEvictKnownKeys) {
  AuthenticatorOptions options = Options();
  options.max_known_keys = 10;
  options.max_unknown_keys = 100;
  options.unknown_lookups_per_second = 1e9;
  options.unknown_lookup_burst = 1e9;
  Authenticator small(store_.Lookup(), options);
  ExpectOwner(small.Authenticate(Bearer("good-key")));
  for (int i = 0; i < 1'000; ++i) {
    ASSERT_FALSE(small.Authenticate(Bearer(absl::StrCat("unknown-", i))).ok());
    ASSERT_LE(small.stats().unknown_keys, 100u);
  }
  EXPECT_EQ(store_.calls(), 1'001);
  EXPECT_EQ(small.stats().known_keys, 1u);
  // Still cached: no lookup.
  ExpectOwner(small.Authenticate(Bearer("good-key")));
  EXPECT_EQ(store_.calls(), 1'001);
  // The newest unknown keys are still remembered, the oldest forgotten.
  ASSERT_FALSE(small.Authenticate(Bearer("unknown-999")).ok());
  EXPECT_EQ(store_.calls(), 1'001);
  ASSERT_FALSE(small.Authenticate(Bearer("unknown-0")).ok());
  EXPECT_EQ(store_.calls(), 1'002);
}

// Expired negative entries are dropped before live ones.
TEST_F(AuthenticatorTest, NegativeCacheDropsExpiredEntriesFirst) {
  AuthenticatorOptions options = Options();
  options.max_unknown_keys = 3;
  Authenticator small(store_.Lookup(), options);
  ASSERT_FALSE(small.Authenticate(Bearer("a")).ok());
  ASSERT_FALSE(small.Authenticate(Bearer("b")).ok());
  now_ += kTtl;
  ASSERT_FALSE(small.Authenticate(Bearer("c")).ok());
  EXPECT_EQ(small.stats().unknown_keys, 1u);
  ASSERT_FALSE(small.Authenticate(Bearer("c")).ok());
  EXPECT_EQ(store_.calls(), 3);
}

// Concurrent calls with the same uncached key share one lookup.
TEST_F(AuthenticatorTest, ConcurrentMissesOfOneKeyShareALookup) {
  absl::Mutex gate_mu;
  bool open = false;
  std::atomic<int> lookups{0};
  AuthenticatorOptions options = Options();
  Authenticator slow(
      [&](absl::string_view) -> absl::StatusOr<std::optional<ApiKeyRecord>> {
        ++lookups;
        absl::MutexLock lock(&gate_mu);
        gate_mu.Await(absl::Condition(&open));
        return std::optional<ApiKeyRecord>();
      },
      options);
  constexpr int kThreads = 8;
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto result = slow.Authenticate(Bearer("same-unknown"));
      if (!result.ok() && result.status().code() == absl::StatusCode::kUnauthenticated) ++refused;
    });
  }
  // Let every thread reach the authenticator (they queue behind the first
  // lookup), then answer it.
  while (lookups.load() == 0) std::this_thread::yield();
  {
    absl::MutexLock lock(&gate_mu);
    open = true;
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(refused.load(), kThreads);
  // Threads that arrived after the answer was cached made no lookup either.
  EXPECT_EQ(lookups.load(), 1);
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
        auto result = authenticator_.Authenticate((i + t) % 2 == 0 ? Bearer("good-key")
                                                                   : Bearer("revoked-key"));
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
  // Concurrent first calls share one lookup per key.
  EXPECT_EQ(store_.calls(), 2);
}

// AuthenticateCached answers from the cache only: an uncached key is nullopt
// without a lookup; once looked up, the same answer as Authenticate until
// the TTL passes.
TEST_F(AuthenticatorTest, CachedAnswerNeedsAPriorLookup) {
  EXPECT_FALSE(authenticator_.AuthenticateCached(Bearer("good-key")).has_value());
  EXPECT_EQ(store_.calls(), 0);
  EXPECT_EQ(authenticator_.stats().lookups, 0);
  ExpectOwner(authenticator_.Authenticate(Bearer("good-key")));
  std::optional<absl::StatusOr<Principal>> cached =
      authenticator_.AuthenticateCached(Bearer("good-key"));
  ASSERT_TRUE(cached.has_value());
  ExpectOwner(*cached);
  now_ += kTtl;
  EXPECT_FALSE(authenticator_.AuthenticateCached(Bearer("good-key")).has_value());
  EXPECT_EQ(store_.calls(), 1);
}

// Unknown and revoked keys are refused from the cache with Authenticate's
// messages.
TEST_F(AuthenticatorTest, CachedRefusalsMatchAuthenticate) {
  for (const char* name : {"no-such-key", "revoked-key"}) {
    absl::StatusOr<Principal> looked_up = authenticator_.Authenticate(Bearer(name));
    ASSERT_FALSE(looked_up.ok()) << name;
    std::optional<absl::StatusOr<Principal>> cached =
        authenticator_.AuthenticateCached(Bearer(name));
    ASSERT_TRUE(cached.has_value()) << name;
    ASSERT_FALSE(cached->ok()) << name;
    EXPECT_EQ(cached->status(), looked_up.status()) << name;
  }
  EXPECT_EQ(store_.calls(), 2);
}

// Malformed metadata is refused at once, with Authenticate's code and
// message, and counted as malformed once per call.
TEST_F(AuthenticatorTest, CachedRefusesMalformedMetadataLikeAuthenticate) {
  for (const std::string& header : {std::string(), std::string("Basic abc"), std::string("Bearer "),
                                    absl::StrCat("Bearer ", Key("x"), "!")}) {
    std::optional<absl::StatusOr<Principal>> cached = authenticator_.AuthenticateCached(header);
    ASSERT_TRUE(cached.has_value()) << header;
    ASSERT_FALSE(cached->ok()) << header;
    EXPECT_EQ(cached->status(), authenticator_.Authenticate(header).status()) << header;
  }
  EXPECT_EQ(authenticator_.stats().malformed, 2);
  EXPECT_EQ(store_.calls(), 0);
}

// AuthenticateCached never waits for a lookup in progress.
TEST(AuthenticateCachedTest, DoesNotWaitForALookupInProgress) {
  absl::Notification started;
  absl::Notification release;
  Authenticator authenticator(
      [&](absl::string_view) -> absl::StatusOr<std::optional<ApiKeyRecord>> {
        started.Notify();
        release.WaitForNotification();
        return std::optional<ApiKeyRecord>();
      },
      AuthenticatorOptions{});
  const std::string header = Bearer("slow-key");
  std::thread lookup([&] { EXPECT_FALSE(authenticator.Authenticate(header).ok()); });
  started.WaitForNotification();
  EXPECT_FALSE(authenticator.AuthenticateCached(header).has_value());
  release.Notify();
  lookup.join();
  std::optional<absl::StatusOr<Principal>> cached = authenticator.AuthenticateCached(header);
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->status().code(), absl::StatusCode::kUnauthenticated);
}

// DescribePrincipal names the key, role, business and user for logs.
TEST(DescribePrincipalTest, NamesKeyRoleBusinessAndUser) {
  EXPECT_EQ(DescribePrincipal(Tenant(Role::kOwner, 3)), "key 11 (owner of business 3, user 5)");
  EXPECT_EQ(DescribePrincipal(SystemAdmin()), "key 1 (system_admin)");
}

}  // namespace
}  // namespace campaign::auth
