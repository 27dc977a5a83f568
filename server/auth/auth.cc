#include "server/auth/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/util/crypto.h"

namespace campaign::auth {
namespace {

constexpr absl::string_view kBearer = "bearer ";
// API keys are far shorter; a longer header is refused before hashing.
constexpr size_t kMaxKeyBytes = 256;

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
  std::optional<int64_t> named;
  if (!x_business_id.empty()) {
    int64_t parsed = 0;
    if (!absl::SimpleAtoi(x_business_id, &parsed) || parsed <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("x-business-id metadata must be a positive integer, got \"",
                       absl::CHexEscape(x_business_id.substr(0, 32)), "\""));
    }
    named = parsed;
  }
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

Authenticator::Authenticator(KeyLookup lookup, absl::Duration cache_ttl,
                             std::function<absl::Time()> now)
    : lookup_(std::move(lookup)), cache_ttl_(cache_ttl), now_(std::move(now)) {}

absl::StatusOr<Principal> Authenticator::Authenticate(absl::string_view authorization) {
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
  const std::string hash = Sha256Hex(key);
  const absl::Time now = now_();
  std::optional<ApiKeyRecord> record;
  bool cached = false;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = cache_.find(hash); it != cache_.end() && it->second.expires > now) {
      record = it->second.record;
      cached = true;
    }
  }
  if (!cached) {
    absl::StatusOr<std::optional<ApiKeyRecord>> looked_up = lookup_(hash);
    if (!looked_up.ok()) {
      if (looked_up.status().code() == absl::StatusCode::kUnavailable) return looked_up.status();
      return absl::UnavailableError("cannot verify the API key right now; retry");
    }
    record = *std::move(looked_up);
    absl::MutexLock lock(&mu_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_[hash] = Entry{record, now + cache_ttl_};
  }
  if (!record) return absl::UnauthenticatedError("unknown API key");
  if (record->revoked) return absl::UnauthenticatedError("revoked API key");
  return record->principal;
}

std::string DescribePrincipal(const Principal& principal) {
  std::string text = absl::StrCat("key ", principal.api_key_id, " (", RoleName(principal.role));
  if (principal.business_id) absl::StrAppend(&text, " of business ", *principal.business_id);
  if (principal.user_id != 0) absl::StrAppend(&text, ", user ", principal.user_id);
  text += ")";
  return text;
}

}  // namespace campaign::auth
