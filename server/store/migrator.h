// Applies the numbered SQL migrations in order, each in its own transaction
// that also takes a transaction-scoped PostgreSQL advisory lock and checks the
// ledger, so concurrent replicas converge, nothing outlives a transaction
// (correct behind PgBouncer in transaction mode), and
// records each with a checksum so an edited migration is refused (except
// earlier texts listed as superseded by an equivalent one).
#ifndef CAMPAIGN_SERVER_STORE_MIGRATOR_H_
#define CAMPAIGN_SERVER_STORE_MIGRATOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/store/embedded_migrations.h"

namespace campaign::store {

// What one Migrate call did.
struct MigrationReport {
  // Names of the migrations this call applied, in order.
  std::vector<std::string> applied;
  // The highest version recorded in the ledger afterwards.
  int current_version = 0;
};

// Applies every migration of `files` missing from the ledger table
// `schema_migrations` of the database at `url`. A migration whose recorded
// checksum differs from its file is FAILED_PRECONDITION and nothing after it
// is applied, unless the recorded checksum is one of the migration's listed
// superseded texts (kSupersededChecksums in migrator.cc). Safe to call
// concurrently from several processes.
absl::StatusOr<MigrationReport> Migrate(const std::string& url,
                                        const std::vector<MigrationFile>& files);

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_MIGRATOR_H_
