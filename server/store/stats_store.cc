#include "server/store/stats_store.h"

#include "server/store/queries.h"

namespace campaign::store {

absl::StatusOr<std::map<std::string, int64_t>> CountRunsByStatus(Database* database) {
  return database->Transact(Tenancy::AllBusinesses(), "count runs by status",
                            [](pqxx::work& txn) -> absl::StatusOr<std::map<std::string, int64_t>> {
                              std::map<std::string, int64_t> counts;
                              for (const pqxx::row& row : txn.exec(sql::kCountRunsByStatus)) {
                                counts[row["status"].as<std::string>()] = row["runs"].as<int64_t>();
                              }
                              return counts;
                            });
}

}  // namespace campaign::store
