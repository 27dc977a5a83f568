// Cheap aggregate reads for metrics.
#ifndef CAMPAIGN_SERVER_STORE_STATS_STORE_H_
#define CAMPAIGN_SERVER_STORE_STATS_STORE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "server/store/database.h"

namespace campaign::store {

// Runs of every business by stored status name ("running", ...); statuses
// with no run are absent. One GROUP BY over outbound_call_runs.
absl::StatusOr<std::map<std::string, int64_t>> CountRunsByStatus(Database* database);

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_STATS_STORE_H_
