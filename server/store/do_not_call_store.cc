#include "server/store/do_not_call_store.h"

#include "server/store/pg_array.h"
#include "server/store/queries.h"

namespace campaign::store {

DoNotCallStore::DoNotCallStore(Database* database) : database_(database) {}

absl::StatusOr<int64_t> DoNotCallStore::Add(int64_t business_id,
                                            const std::vector<std::string>& phones) {
  return database_->Transact(
      Tenancy::Business(business_id), "add do-not-call numbers",
      [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
        return static_cast<int64_t>(
            txn.exec_params(sql::kAddDoNotCallNumbers, business_id, PgArray(phones))
                .affected_rows());
      });
}

absl::StatusOr<int64_t> DoNotCallStore::Remove(int64_t business_id,
                                               const std::vector<std::string>& phones) {
  return database_->Transact(
      Tenancy::Business(business_id), "remove do-not-call numbers",
      [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
        return static_cast<int64_t>(
            txn.exec_params(sql::kRemoveDoNotCallNumbers, business_id, PgArray(phones))
                .affected_rows());
      });
}

absl::StatusOr<DoNotCallPage> DoNotCallStore::List(int64_t business_id,
                                                   const std::optional<std::string>& after_phone,
                                                   int32_t limit) {
  return database_->Transact(Tenancy::Business(business_id), "list do-not-call numbers",
                             [&](pqxx::work& txn) -> absl::StatusOr<DoNotCallPage> {
                               const pqxx::result rows = txn.exec_params(
                                   sql::kListDoNotCallNumbers, business_id, after_phone, limit + 1);
                               DoNotCallPage page;
                               for (const auto& row : rows) {
                                 if (static_cast<int32_t>(page.numbers.size()) == limit) {
                                   page.next_after_phone = page.numbers.back().phone;
                                   break;
                                 }
                                 page.numbers.push_back(DoNotCallNumber{
                                     row["phone"].as<std::string>(),
                                     absl::FromUnixMicros(row["created_at_us"].as<int64_t>())});
                               }
                               return page;
                             });
}

}  // namespace campaign::store
