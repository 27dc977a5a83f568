#include "server/store/api_key_store.h"

#include "absl/strings/str_cat.h"
#include "server/store/queries.h"
#include "server/util/crypto.h"

namespace campaign::store {
namespace {

// Bytes of randomness in a key (256 bits).
constexpr int kKeyRandomBytes = 32;

Business BusinessFromRow(const pqxx::row& row) {
  Business business;
  business.id = row["id"].as<int64_t>();
  business.name = row["name"].as<std::string>();
  business.max_calls_per_second = row["max_calls_per_second"].as<double>();
  business.created_at = absl::FromUnixMicros(row["created_at_us"].as<int64_t>());
  return business;
}

}  // namespace

ApiKeyStore::ApiKeyStore(Database* database) : database_(database) {}

absl::StatusOr<int64_t> ApiKeyStore::CreateBusiness(absl::string_view name) {
  if (name.empty() || name.size() > 255) {
    return absl::InvalidArgumentError(
        absl::StrCat("business name must be 1..255 bytes, got ", name.size()));
  }
  return database_->Transact(
      Tenancy::AllBusinesses(), "create business", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
        return txn.exec_params1(sql::kInsertBusiness, std::string(name))["id"].as<int64_t>();
      });
}

absl::StatusOr<Business> ApiKeyStore::GetBusiness(int64_t id) {
  return database_->Transact(
      Tenancy::AllBusinesses(), "get business", [&](pqxx::work& txn) -> absl::StatusOr<Business> {
        pqxx::result rows = txn.exec_params(sql::kGetBusiness, id);
        if (rows.empty()) {
          return absl::NotFoundError(absl::StrCat("business ", id, " not found"));
        }
        return BusinessFromRow(rows[0]);
      });
}

absl::StatusOr<Business> ApiKeyStore::SetBusinessLimits(int64_t id, double max_calls_per_second) {
  if (!(max_calls_per_second > 0 && max_calls_per_second <= kMaxCallsPerSecond)) {
    return absl::InvalidArgumentError(absl::StrCat("max calls per second must be > 0 and at most ",
                                                   kMaxCallsPerSecond, ", got ",
                                                   max_calls_per_second));
  }
  return database_->Transact(
      Tenancy::AllBusinesses(), "set business limits",
      [&](pqxx::work& txn) -> absl::StatusOr<Business> {
        pqxx::result rows = txn.exec_params(sql::kSetBusinessLimits, id, max_calls_per_second);
        if (rows.empty()) {
          return absl::NotFoundError(absl::StrCat("business ", id, " not found"));
        }
        return BusinessFromRow(rows[0]);
      });
}

absl::StatusOr<NewApiKey> ApiKeyStore::CreateApiKey(std::optional<int64_t> business_id, Role role,
                                                    int64_t user_id, absl::string_view label) {
  if ((role == Role::kSystemAdmin) != !business_id.has_value()) {
    return absl::InvalidArgumentError(
        role == Role::kSystemAdmin
            ? "a system_admin key belongs to no business: omit --business-id"
            : absl::StrCat("--business-id is required for a key of role ", RoleName(role)));
  }
  if (user_id < 0) {
    return absl::InvalidArgumentError(absl::StrCat("user id must be >= 0, got ", user_id));
  }
  if (label.size() > 255) {
    return absl::InvalidArgumentError(
        absl::StrCat("label must be at most 255 bytes, got ", label.size()));
  }
  return database_->Transact(
      Tenancy::AllBusinesses(), "create api key",
      [&](pqxx::work& txn) -> absl::StatusOr<NewApiKey> {
        if (business_id && txn.exec_params(sql::kBusinessExists, *business_id).empty()) {
          return absl::NotFoundError(absl::StrCat("business ", *business_id, " not found"));
        }
        NewApiKey created;
        created.key = absl::StrCat(kApiKeyPrefix, RandomToken(kKeyRandomBytes));
        created.id = txn.exec_params1(sql::kInsertApiKey, business_id, std::string(RoleName(role)),
                                      user_id, std::string(label), Sha256Hex(created.key))["id"]
                         .as<int64_t>();
        return created;
      });
}

absl::Status ApiKeyStore::RevokeApiKey(int64_t id) {
  return database_->Transact(
      Tenancy::AllBusinesses(), "revoke api key", [&](pqxx::work& txn) -> absl::Status {
        if (txn.exec_params(sql::kRevokeApiKey, id).affected_rows() == 0) {
          return absl::NotFoundError(absl::StrCat("api key ", id, " not found"));
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::optional<ApiKeyRecord>> ApiKeyStore::FindByHash(absl::string_view key_hash) {
  return database_->Transact(Tenancy::AllBusinesses(), "authenticate",
                             [&](pqxx::work& txn) -> absl::StatusOr<std::optional<ApiKeyRecord>> {
                               pqxx::result rows =
                                   txn.exec_params(sql::kFindApiKey, std::string(key_hash));
                               if (rows.empty()) return std::optional<ApiKeyRecord>();
                               const pqxx::row& row = rows[0];
                               std::optional<Role> role = ParseRole(row["role"].as<std::string>());
                               if (!role) return absl::InternalError("api key has an unknown role");
                               ApiKeyRecord record;
                               record.principal.api_key_id = row["id"].as<int64_t>();
                               record.principal.business_id = row["business_id"].get<int64_t>();
                               record.principal.role = *role;
                               record.principal.user_id = row["user_id"].as<int64_t>();
                               record.label = row["label"].as<std::string>();
                               record.revoked = row["revoked"].as<bool>();
                               return std::optional<ApiKeyRecord>(std::move(record));
                             });
}

}  // namespace campaign::store
