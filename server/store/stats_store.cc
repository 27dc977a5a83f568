#include "server/store/stats_store.h"

namespace campaign::store {

absl::StatusOr<std::map<std::string, int64_t>> CountRunsByStatus(Database* database) {
  return database->Transact(
      Tenancy::AllBusinesses(), "count runs by status",
      [](pqxx::work& txn) -> absl::StatusOr<std::map<std::string, int64_t>> {
        std::map<std::string, int64_t> counts;
        for (const pqxx::row& row :
             txn.exec("SELECT status, count(*) FROM outbound_call_runs GROUP BY status")) {
          counts[row[0].as<std::string>()] = row[1].as<int64_t>();
        }
        return counts;
      });
}

}  // namespace campaign::store
