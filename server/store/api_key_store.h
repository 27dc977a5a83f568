// Businesses and API keys: the records behind authentication. Keys are
// stored as SHA-256 hashes; the plaintext exists only in CreateApiKey's result.
#ifndef CAMPAIGN_SERVER_STORE_API_KEY_STORE_H_
#define CAMPAIGN_SERVER_STORE_API_KEY_STORE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/model/model.h"
#include "server/store/database.h"

namespace campaign::store {

// A key just created: the only moment its plaintext is known.
struct NewApiKey {
  int64_t id = 0;
  std::string key;
};

// Reads and writes businesses and API keys.
class ApiKeyStore {
 public:
  explicit ApiKeyStore(Database* database);

  // Creates a business; returns its id. The name must be 1..255 bytes.
  absl::StatusOr<int64_t> CreateBusiness(absl::string_view name);

  // The business `id`; NOT_FOUND when there is none.
  absl::StatusOr<Business> GetBusiness(int64_t id);

  // Sets the calls-per-second limit of business `id` (> 0, at most
  // kMaxCallsPerSecond, else INVALID_ARGUMENT); returns the business as
  // updated, NOT_FOUND when there is none.
  absl::StatusOr<Business> SetBusinessLimits(int64_t id, double max_calls_per_second);

  // Creates a key for `role`. system_admin keys must have no business; every
  // other role needs an existing one (NOT_FOUND otherwise).
  absl::StatusOr<NewApiKey> CreateApiKey(std::optional<int64_t> business_id, Role role,
                                         int64_t user_id, absl::string_view label);

  // Revokes a key; revoking a revoked key succeeds. NOT_FOUND for an unknown id.
  absl::Status RevokeApiKey(int64_t id);

  // The key whose SHA-256 hex is `key_hash`, revoked or not; nullopt if none.
  absl::StatusOr<std::optional<ApiKeyRecord>> FindByHash(absl::string_view key_hash);

 private:
  Database* database_;
};

// The highest calls-per-second limit a business may have (the CHECK of
// migration 0014).
inline constexpr double kMaxCallsPerSecond = 1000;

// Prefix of every API key, so leaked keys are recognisable by scanners.
inline constexpr absl::string_view kApiKeyPrefix = "ocs_";

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_API_KEY_STORE_H_
