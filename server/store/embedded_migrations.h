// The SQL migrations compiled into the binary (see migrations/CMakeLists.txt).
#ifndef CAMPAIGN_SERVER_STORE_EMBEDDED_MIGRATIONS_H_
#define CAMPAIGN_SERVER_STORE_EMBEDDED_MIGRATIONS_H_

#include <vector>

namespace campaign::store {

// One migrations/NNNN_name.sql file.
struct MigrationFile {
  // NNNN: the order of application.
  int version;
  // The file name without ".sql", e.g. "0003_upgrade_jobs".
  const char* name;
  // The file's text.
  const char* sql;
};

// Every migration file of the source tree, in version order.
const std::vector<MigrationFile>& EmbeddedMigrations();

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_EMBEDDED_MIGRATIONS_H_
