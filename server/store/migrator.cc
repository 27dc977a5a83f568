#include "server/store/migrator.h"

#include <map>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "server/store/database.h"
#include "server/store/queries.h"
#include "server/util/crypto.h"
#include "server/util/logging.h"

namespace campaign::store {
namespace {

// Arbitrary constant shared by every campaignd: the advisory lock that
// serialises migrations across replicas.
constexpr int64_t kMigrationLockKey = 0x0CA11'0001;

// Earlier texts of migrations that were changed after release, by version:
// a database that recorded one of these checksums applied an equivalent text
// and is not refused. The ledger keeps the checksum it recorded, so a binary
// of the earlier release still accepts the database (rollbacks keep working).
// Add an entry only when the new text leaves an already upgraded database as
// it is (the change matters for databases that did not apply it yet).
struct SupersededChecksum {
  int version;
  const char* checksum;
};
constexpr SupersededChecksum kSupersededChecksums[] = {
    // 0003_upgrade_jobs before its deduplication kept the dialed duplicate.
    {3, "d9820adb5482df79e73dd065d604f5338759023cbf4fc5c63d6cb90fe9db409c"},
};

// True when `checksum` is an accepted earlier text of migration `version`.
bool IsSuperseded(int version, const std::string& checksum) {
  for (const SupersededChecksum& entry : kSupersededChecksums) {
    if (entry.version == version && checksum == entry.checksum) return true;
  }
  return false;
}

struct LedgerRow {
  std::string name;
  std::string checksum;
};

// What one transaction of Migrate found or did.
struct StepResult {
  // The migration applied by this step; empty when none was missing.
  std::string applied;
  // The highest version in the ledger at the end of the step.
  int current_version = 0;
};

// One transaction: takes the migration lock (transaction-scoped), reads the
// ledger, refuses a changed migration, and applies the first missing one, if
// any. The lock and the ledger check share the transaction that applies, so
// two processes never apply the same migration and nothing outlives the
// transaction (correct behind a transaction-pooling pooler).
absl::StatusOr<StepResult> MigrateOneStep(pqxx::connection& connection,
                                          const std::vector<MigrationFile>& files,
                                          const std::vector<std::string>& checksums,
                                          bool first_step) {
  pqxx::work txn(connection);
  txn.exec_params(sql::kLockMigrationsForTransaction, kMigrationLockKey);
  txn.exec(sql::kCreateLedger);
  std::map<int, LedgerRow> ledger;
  for (const auto& row : txn.exec(sql::kReadLedger)) {
    ledger[row["version"].as<int>()] = {row["name"].as<std::string>(),
                                        row["checksum"].as<std::string>()};
  }
  StepResult step;
  for (size_t i = 0; i < files.size(); ++i) {
    const MigrationFile& file = files[i];
    const std::string& checksum = checksums[i];
    if (auto it = ledger.find(file.version); it != ledger.end()) {
      if (it->second.checksum == checksum) continue;
      if (!IsSuperseded(file.version, it->second.checksum)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "migration ", file.name, " was changed after it was applied (recorded checksum ",
            it->second.checksum, ", file checksum ", checksum,
            "); add a new migration instead of editing an applied one"));
      }
      if (first_step) {
        spdlog::info("migration {} was applied with an earlier, equivalent text (checksum {})",
                     file.name, it->second.checksum);
      }
      continue;
    }
    spdlog::info("applying migration {}", file.name);
    try {
      txn.exec(sql::kAllBusinesses);
      txn.exec(file.sql);
      txn.exec_params(sql::kRecordMigration, file.version, file.name, checksum);
      txn.commit();
    } catch (const pqxx::sql_error& error) {
      spdlog::error("migration {} failed: {}", file.name, error.what());
      return absl::FailedPreconditionError(
          absl::StrCat("migration ", file.name, " failed: ", error.what()));
    }
    step.applied = file.name;
    ledger[file.version] = {file.name, checksum};
    break;
  }
  if (step.applied.empty()) txn.commit();  // releases the lock
  if (!ledger.empty()) step.current_version = ledger.rbegin()->first;
  return step;
}

absl::StatusOr<MigrationReport> MigrateAll(pqxx::connection& connection,
                                           const std::vector<MigrationFile>& files) {
  std::vector<std::string> checksums;
  checksums.reserve(files.size());
  for (const MigrationFile& file : files) checksums.push_back(Sha256Hex(file.sql));
  MigrationReport report;
  while (true) {
    absl::StatusOr<StepResult> step =
        MigrateOneStep(connection, files, checksums, report.applied.empty());
    if (!step.ok()) return step.status();
    report.current_version = step->current_version;
    if (step->applied.empty()) break;
    report.applied.push_back(step->applied);
  }
  const int known = files.empty() ? 0 : files.back().version;
  if (report.current_version > known) {
    spdlog::warn("the database is at migration {}, newer than this build knows ({})",
                 report.current_version, known);
  }
  return report;
}

}  // namespace

absl::StatusOr<MigrationReport> Migrate(const std::string& url,
                                        const std::vector<MigrationFile>& files) {
  try {
    // No session state: every step takes the lock inside its own
    // transaction (see MigrateOneStep), so `url` may point at a pooler.
    pqxx::connection connection(url);
    return MigrateAll(connection, files);
  } catch (const std::exception& error) {
    return StatusFromException(error, "migrate");
  }
}

}  // namespace campaign::store
