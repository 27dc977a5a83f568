// Authentication (API key → principal, with a short-lived cache) and
// authorisation (role → permission, principal → business scope). Free of
// gRPC: handlers pass the metadata values in.
#ifndef CAMPAIGN_SERVER_AUTH_AUTH_H_
#define CAMPAIGN_SERVER_AUTH_AUTH_H_

#include <cstdint>
#include <functional>
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

// Resolves `authorization: Bearer <key>` metadata to a principal. Results
// (found, revoked and unknown alike) are cached for `cache_ttl`, so a revoked
// key stops working within that time and the database sees at most one lookup
// per key per TTL. Thread-safe.
class Authenticator {
 public:
  // Most cached keys; the cache is emptied when it would grow past this.
  static constexpr size_t kMaxCacheEntries = 100'000;

  Authenticator(KeyLookup lookup, absl::Duration cache_ttl,
                std::function<absl::Time()> now = absl::Now);

  // UNAUTHENTICATED for a missing, malformed, unknown or revoked key;
  // UNAVAILABLE when the store cannot be reached.
  absl::StatusOr<Principal> Authenticate(absl::string_view authorization);

 private:
  struct Entry {
    std::optional<ApiKeyRecord> record;
    absl::Time expires;
  };

  KeyLookup lookup_;
  const absl::Duration cache_ttl_;
  std::function<absl::Time()> now_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
};

// Describes a principal for logs: "key 7 (owner of business 3, user 12)".
std::string DescribePrincipal(const Principal& principal);

}  // namespace campaign::auth

#endif  // CAMPAIGN_SERVER_AUTH_AUTH_H_
