#include "server/auth/auth.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/auth/tenant_metadata.h"
#include "server/util/crypto.h"

namespace campaign::auth {
namespace {

constexpr absl::string_view kBearer = "bearer ";
// API keys are far shorter; a longer header is refused before hashing.
constexpr size_t kMaxKeyBytes = 256;
// The form of the keys ApiKeyStore::CreateApiKey issues: the prefix, then
// 32 random bytes in unpadded base64url.
constexpr absl::string_view kApiKeyPrefix = "ocs_";
constexpr size_t kApiKeyBodyLength = 43;

}  // namespace

bool Allows(Role role, Permission permission) {
  switch (role) {
    case Role::kSystemAdmin:
    case Role::kOwner:
    case Role::kAdmin:
      return true;
    case Role::kAgent:
      return permission != Permission::kWrite;
  }
  return false;
}

absl::StatusOr<Scope> ResolveScope(const Principal& principal, absl::string_view x_business_id,
                                   bool allow_all_businesses) {
  absl::StatusOr<std::optional<int64_t>> parsed = ParseBusinessId(x_business_id);
  if (!parsed.ok()) return parsed.status();
  const std::optional<int64_t> named = *parsed;
  if (principal.role != Role::kSystemAdmin) {
    if (!principal.business_id) return absl::InternalError("tenant key without a business");
    if (named && *named != *principal.business_id) {
      return absl::PermissionDeniedError(
          absl::StrCat("x-business-id ", *named,
                       " does not match the business of this API key; only "
                       "system_admin keys may act for another business"));
    }
    return Scope{principal.business_id};
  }
  if (named) return Scope{named};
  if (allow_all_businesses) return Scope{std::nullopt};
  return absl::InvalidArgumentError(
      "a system_admin key must name the business in x-business-id metadata for this call");
}

bool IsWellFormedApiKey(absl::string_view key) {
  if (key.size() != kApiKeyPrefix.size() + kApiKeyBodyLength ||
      !absl::StartsWith(key, kApiKeyPrefix)) {
    return false;
  }
  for (char c : key.substr(kApiKeyPrefix.size())) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

Authenticator::Authenticator(KeyLookup lookup, AuthenticatorOptions options)
    : lookup_(std::move(lookup)),
      options_(std::move(options)),
      tokens_(options_.unknown_lookup_burst),
      refilled_(options_.now()) {}

void Authenticator::SetRevokedListener(std::function<void(int64_t api_key_id)> listener) {
  absl::MutexLock lock(&mu_);
  revoked_listener_ = std::move(listener);
}

AuthStats Authenticator::stats() const {
  absl::MutexLock lock(&mu_);
  AuthStats stats = stats_;
  stats.known_keys = known_.size();
  stats.unknown_keys = unknown_.size();
  return stats;
}

absl::StatusOr<absl::string_view> Authenticator::KeyOf(absl::string_view authorization) {
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing API key: send metadata \"authorization: Bearer <api key>\"");
  }
  if (authorization.size() <= kBearer.size() ||
      !absl::StartsWithIgnoreCase(authorization, kBearer)) {
    return absl::UnauthenticatedError(
        "malformed authorization metadata: expected \"Bearer <api key>\"");
  }
  absl::string_view key = absl::StripAsciiWhitespace(authorization.substr(kBearer.size()));
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return absl::UnauthenticatedError("malformed API key");
  }
  if (!IsWellFormedApiKey(key)) {
    absl::MutexLock lock(&mu_);
    ++stats_.malformed;
    return absl::UnauthenticatedError(absl::StrCat("malformed API key: expected \"", kApiKeyPrefix,
                                                   "\" followed by ", kApiKeyBodyLength,
                                                   " base64url characters"));
  }
  return key;
}

absl::StatusOr<Principal> Authenticator::PrincipalOf(const std::optional<ApiKeyRecord>& record) {
  if (!record.has_value()) return absl::UnauthenticatedError("unknown API key");
  if (record->revoked) return absl::UnauthenticatedError("revoked API key");
  return record->principal;
}

absl::StatusOr<Principal> Authenticator::Authenticate(absl::string_view authorization) {
  absl::StatusOr<absl::string_view> key = KeyOf(authorization);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::optional<ApiKeyRecord>> record = Resolve(Sha256Hex(*key));
  if (!record.ok()) return record.status();
  return PrincipalOf(*record);
}

std::optional<absl::StatusOr<Principal>> Authenticator::AuthenticateCached(
    absl::string_view authorization) {
  absl::StatusOr<absl::string_view> key = KeyOf(authorization);
  if (!key.ok()) return absl::StatusOr<Principal>(key.status());
  const std::string hash = Sha256Hex(*key);
  const absl::Time now = options_.now();
  absl::MutexLock lock(&mu_);
  if (auto known = known_.find(hash); known != known_.end()) {
    if (known->second.expires > now) return PrincipalOf(known->second.record);
    return std::nullopt;
  }
  if (auto unknown = unknown_.find(hash); unknown != unknown_.end() && unknown->second > now) {
    return PrincipalOf(std::nullopt);
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<ApiKeyRecord>> Authenticator::Resolve(const std::string& hash) {
  const absl::Time now = options_.now();
  std::shared_ptr<Flight> flight;
  std::optional<int64_t> known_id;
  {
    absl::MutexLock lock(&mu_);
    auto known = known_.find(hash);
    if (known != known_.end()) {
      if (known->second.expires > now) return known->second.record;
      known_id = known->second.record->principal.api_key_id;
    } else if (auto unknown = unknown_.find(hash);
               unknown != unknown_.end() && unknown->second > now) {
      return std::optional<ApiKeyRecord>();
    }
    if (auto joined = flights_.find(hash); joined != flights_.end()) {
      // Someone is looking this key up: share the answer.
      std::shared_ptr<Flight> shared = joined->second;
      mu_.Await(absl::Condition(
          +[](Flight* waited) { return waited->done; }, shared.get()));
      return shared->result;
    }
    // A key seen in the database before is refreshed regardless of the
    // budget, so a flood of random keys cannot lock out existing clients.
    if (!known_id.has_value() && !TakeLookupToken(now)) {
      ++stats_.throttled;
      return absl::UnavailableError(
          "too many unknown API keys are being tried; cannot verify this one now, retry with "
          "backoff");
    }
    flight = std::make_shared<Flight>();
    flights_[hash] = flight;
    ++stats_.lookups;
  }
  absl::StatusOr<std::optional<ApiKeyRecord>> looked_up = lookup_(hash);
  if (!looked_up.ok() && looked_up.status().code() != absl::StatusCode::kUnavailable) {
    looked_up = absl::UnavailableError("cannot verify the API key right now; retry");
  }
  std::function<void(int64_t)> listener;
  std::optional<int64_t> gone;
  {
    absl::MutexLock lock(&mu_);
    flights_.erase(hash);
    flight->result = looked_up;
    flight->done = true;
    if (looked_up.ok()) {
      const absl::Time stored = options_.now();
      if (looked_up->has_value()) {
        RememberKnown(hash, **looked_up, stored);
        if ((*looked_up)->revoked) gone = (*looked_up)->principal.api_key_id;
      } else {
        known_.erase(hash);
        RememberUnknown(hash, stored);
        gone = known_id;  // deleted since it was last seen
      }
    }
    if (gone.has_value()) listener = revoked_listener_;
  }
  if (listener && gone.has_value()) listener(*gone);
  return looked_up;
}

bool Authenticator::TakeLookupToken(absl::Time now) {
  if (now > refilled_) {
    tokens_ = std::min(options_.unknown_lookup_burst,
                       tokens_ + absl::ToDoubleSeconds(now - refilled_) *
                                     options_.unknown_lookups_per_second);
    refilled_ = now;
  }
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

void Authenticator::RememberKnown(const std::string& hash, const ApiKeyRecord& record,
                                  absl::Time now) {
  if (!known_.contains(hash) && known_.size() >= options_.max_known_keys) {
    for (auto it = known_.begin(); it != known_.end();) {
      if (it->second.expires <= now) {
        known_.erase(it++);
      } else {
        ++it;
      }
    }
    // Still full of live entries: one goes (never the whole cache).
    if (known_.size() >= options_.max_known_keys && !known_.empty()) known_.erase(known_.begin());
  }
  known_[hash] = Entry{record, now + options_.cache_ttl};
}

void Authenticator::RememberUnknown(const std::string& hash, absl::Time now) {
  // Expired entries go first, then the oldest while the cache is full.
  while (!unknown_order_.empty() &&
         (unknown_order_.front().second <= now || unknown_.size() >= options_.max_unknown_keys)) {
    const auto& [oldest, expires] = unknown_order_.front();
    if (auto it = unknown_.find(oldest); it != unknown_.end() && it->second == expires) {
      unknown_.erase(it);
    }
    unknown_order_.pop_front();
  }
  if (options_.max_unknown_keys == 0) return;
  const absl::Time expires = now + options_.cache_ttl;
  unknown_[hash] = expires;
  unknown_order_.emplace_back(hash, expires);
}

std::string DescribePrincipal(const Principal& principal) {
  std::string text = absl::StrCat("key ", principal.api_key_id, " (", RoleName(principal.role));
  if (principal.business_id) absl::StrAppend(&text, " of business ", *principal.business_id);
  if (principal.user_id != 0) absl::StrAppend(&text, ", user ", principal.user_id);
  text += ")";
  return text;
}

}  // namespace campaign::auth
