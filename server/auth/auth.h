// Authentication (API key → principal, with a short-lived cache) and
// authorisation (role → permission, principal → business scope). Free of
// gRPC: handlers pass the metadata values in.
#ifndef CAMPAIGN_SERVER_AUTH_AUTH_H_
#define CAMPAIGN_SERVER_AUTH_AUTH_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/model/model.h"

namespace campaign::auth {

// What a call needs to be allowed to do.
enum class Permission {
  // Get, List, ListJobs (and watching).
  kRead,
  // Stop, Cancel, Pause, Resume.
  kControl,
  // Create and AddLeads.
  kWrite,
};

// Whether `role` grants `permission`: system_admin, owner and admin may do
// everything; agent may read and control but not write.
bool Allows(Role role, Permission permission);

// Which businesses a call acts on once authorised.
struct Scope {
  // nullopt only for a system admin who named no business on a call that may
  // span businesses (listing).
  std::optional<int64_t> business_id;
};

// Resolves the business a call acts on from the principal and the raw
// `x-business-id` metadata value (empty when absent).
// - Tenant keys act on their own business; naming another one is
//   PERMISSION_DENIED, naming their own is allowed.
// - A system admin names the business; without one, calls that may span
//   businesses (`allow_all_businesses`) get an unscoped Scope and every
//   other call is INVALID_ARGUMENT.
// A malformed x-business-id is INVALID_ARGUMENT.
absl::StatusOr<Scope> ResolveScope(const Principal& principal, absl::string_view x_business_id,
                                   bool allow_all_businesses);

// Looks a key hash up in the store: nullopt when no such key exists.
using KeyLookup =
    std::function<absl::StatusOr<std::optional<ApiKeyRecord>>(absl::string_view key_hash)>;

// Whether `key` has the form of every API key campaignd issues: "ocs_"
// followed by 43 characters of unpadded base64url (256 random bits). Keys of
// any other form are refused before they are hashed or looked up.
bool IsWellFormedApiKey(absl::string_view key);

// Settings of an Authenticator.
struct AuthenticatorOptions {
  // How long a looked-up key (found, revoked or unknown) is trusted.
  absl::Duration cache_ttl = absl::Seconds(5);
  // Most keys that exist (valid or revoked) kept in the cache. Only keys in
  // the database get here, so unknown keys can never push them out.
  size_t max_known_keys = 100'000;
  // Most unknown keys remembered (the negative cache); when full the oldest
  // is forgotten first.
  size_t max_unknown_keys = 10'000;
  // Database lookups of keys this process does not know (not in the cache
  // of existing keys, expired entries included), per second and in a burst.
  // Beyond them a call is UNAVAILABLE without a lookup, so random keys cost
  // at most this many queries per second however fast they arrive; keys
  // already known are looked up again after their TTL regardless.
  double unknown_lookups_per_second = 50;
  double unknown_lookup_burst = 50;
  // The clock (tests use a fake one).
  std::function<absl::Time()> now = absl::Now;
};

// Counters of an Authenticator, for tests and operators.
struct AuthStats {
  // Key lookups sent to the store (database queries).
  int64_t lookups = 0;
  // Calls refused because the lookup budget for unknown keys was spent.
  int64_t throttled = 0;
  // Keys refused for their form, without a lookup.
  int64_t malformed = 0;
  // Entries in the cache of existing keys and in the negative cache.
  size_t known_keys = 0;
  size_t unknown_keys = 0;
};

// Resolves `authorization: Bearer <key>` metadata to a principal. Results
// (found, revoked and unknown alike) are cached for the TTL, so a revoked key
// stops working within it and the database sees at most one lookup per key
// per TTL; concurrent calls with the same uncached key share one lookup.
// Thread-safe.
class Authenticator {
 public:
  Authenticator(KeyLookup lookup, AuthenticatorOptions options);

  // UNAUTHENTICATED for a missing, malformed, unknown or revoked key;
  // UNAVAILABLE when the store cannot be reached or the lookup budget for
  // unknown keys is spent (retry with backoff).
  absl::StatusOr<Principal> Authenticate(absl::string_view authorization);

  // Authenticate without blocking, for the gRPC thread: the answer when the
  // metadata is malformed or the cache holds a live entry for the key (found,
  // revoked or unknown), nullopt when only a lookup (Authenticate) can tell.
  // Never queries the store, never waits for a lookup in progress and spends
  // no lookup budget; a malformed key is counted as Authenticate counts it.
  std::optional<absl::StatusOr<Principal>> AuthenticateCached(absl::string_view authorization);

  // Called (outside any lock) with a key's id whenever a lookup finds that
  // the key was revoked or no longer exists, so open streams of that key can
  // be ended at once. Set before the first Authenticate.
  void SetRevokedListener(std::function<void(int64_t api_key_id)> listener);

  // The counters now.
  AuthStats stats() const;

 private:
  struct Entry {
    std::optional<ApiKeyRecord> record;
    absl::Time expires;
  };
  // One lookup in progress; callers with the same key wait for it.
  struct Flight {
    bool done = false;
    absl::StatusOr<std::optional<ApiKeyRecord>> result;
  };

  // The key of `authorization` ("Bearer <key>"), or UNAUTHENTICATED for a
  // missing or malformed one (counted in stats_.malformed).
  absl::StatusOr<absl::string_view> KeyOf(absl::string_view authorization);
  // The principal of a looked-up record, or UNAUTHENTICATED.
  static absl::StatusOr<Principal> PrincipalOf(const std::optional<ApiKeyRecord>& record);
  // Looks `hash` up (or joins the lookup in progress) and caches the answer.
  absl::StatusOr<std::optional<ApiKeyRecord>> Resolve(const std::string& hash);
  // Takes one token of the unknown-key lookup budget; false when spent.
  bool TakeLookupToken(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RememberKnown(const std::string& hash, const ApiKeyRecord& record, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RememberUnknown(const std::string& hash, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  KeyLookup lookup_;
  const AuthenticatorOptions options_;
  mutable absl::Mutex mu_;
  std::function<void(int64_t)> revoked_listener_ ABSL_GUARDED_BY(mu_);
  // Keys that exist (valid or revoked), by hash.
  absl::flat_hash_map<std::string, Entry> known_ ABSL_GUARDED_BY(mu_);
  // Unknown keys by hash with their expiry, and their insertion order
  // (oldest first; an entry whose time differs from the map's is stale).
  absl::flat_hash_map<std::string, absl::Time> unknown_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<std::string, absl::Time>> unknown_order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
  // The unknown-key lookup budget (token bucket).
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time refilled_ ABSL_GUARDED_BY(mu_);
  AuthStats stats_ ABSL_GUARDED_BY(mu_);
};

// Describes a principal for logs: "key 7 (owner of business 3, user 12)".
std::string DescribePrincipal(const Principal& principal);

}  // namespace campaign::auth

#endif  // CAMPAIGN_SERVER_AUTH_AUTH_H_
