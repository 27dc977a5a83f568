#include "tests/support/test_database.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <pqxx/pqxx>
#include <random>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "server/store/database.h"
#include "server/store/embedded_migrations.h"
#include "server/store/migrator.h"

namespace campaign::testing {
namespace {

std::string UniqueName() {
  static std::atomic<int> counter{0};
  std::random_device random;
  return absl::StrCat("t_", getpid(), "_", counter++, "_", random() % 1000000);
}

void ExecOn(const std::string& url, const std::string& sql) {
  pqxx::connection connection(url);
  pqxx::nontransaction txn(connection);
  txn.exec(sql);
}

}  // namespace

std::string WithDatabase(const std::string& url, const std::string& database,
                         const std::string& user) {
  const std::string scheme = "postgresql://";
  if (url.rfind(scheme, 0) != 0) {
    throw std::runtime_error("CAMPAIGN_TEST_ADMIN_URL must be a postgresql:// URI");
  }
  std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  std::string authority = slash == std::string::npos ? rest : rest.substr(0, slash);
  std::string query;
  if (slash != std::string::npos) {
    const size_t question = rest.find('?', slash);
    if (question != std::string::npos) query = rest.substr(question);
  }
  if (!user.empty()) {
    const size_t at = authority.find('@');
    authority =
        absl::StrCat(user, "@", at == std::string::npos ? authority : authority.substr(at + 1));
  }
  return absl::StrCat(scheme, authority, "/", database, query);
}

std::string TestDatabase::ServerAdminUrl() {
  const char* url = std::getenv("CAMPAIGN_TEST_ADMIN_URL");
  if (url == nullptr || *url == '\0') {
    throw std::runtime_error(
        "CAMPAIGN_TEST_ADMIN_URL is not set: this test needs the PostgreSQL server that "
        "tools/test starts; run the suite through tools/test");
  }
  return url;
}

TestDatabase::TestDatabase() : name_(UniqueName()) {
  const std::string server = ServerAdminUrl();
  // Roles are cluster-wide and tests run in parallel: create the role once,
  // tolerating a concurrent creator.
  try {
    ExecOn(server,
           absl::StrCat("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '",
                        kAppRole, "') THEN CREATE ROLE ", kAppRole,
                        " LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$"));
  } catch (const pqxx::unique_violation&) {
  }
  ExecOn(server, absl::StrCat("CREATE DATABASE ", name_, " OWNER ", kAppRole));
  app_url_ = WithDatabase(server, name_, kAppRole);
  admin_url_ = WithDatabase(server, name_);
}

TestDatabase::~TestDatabase() {
  try {
    ExecOn(ServerAdminUrl(), absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
  } catch (const std::exception&) {
    // The cluster is thrown away by tools/test anyway.
  }
}

void TestDatabase::Migrate() const {
  absl::StatusOr<store::MigrationReport> report =
      store::Migrate(app_url_, store::EmbeddedMigrations());
  if (!report.ok()) throw std::runtime_error(report.status().ToString());
}

void TestDatabase::ExecAsAdmin(const std::string& sql) const { ExecOn(admin_url_, sql); }

int64_t TestDatabase::QueryInt(const std::string& sql) const {
  pqxx::connection connection(admin_url_);
  pqxx::nontransaction txn(connection);
  return txn.exec1(sql)[0].as<int64_t>();
}

void TestDatabase::RefuseConnections() const {
  const std::string maintenance = WithDatabase(ServerAdminUrl(), "postgres");
  ExecOn(maintenance, absl::StrCat("ALTER DATABASE ", name_, " ALLOW_CONNECTIONS false"));
  ExecOn(maintenance,
         absl::StrCat("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE "
                      "datname = '",
                      name_, "'"));
}

void TestDatabase::AllowConnections() const {
  ExecOn(WithDatabase(ServerAdminUrl(), "postgres"),
         absl::StrCat("ALTER DATABASE ", name_, " ALLOW_CONNECTIONS true"));
}

int64_t TestDatabase::CreateBusiness(const std::string& name) const {
  store::Database database(app_url_, store::PoolOptions{.size = 1});
  store::ApiKeyStore keys(&database);
  absl::StatusOr<int64_t> id = keys.CreateBusiness(name);
  if (!id.ok()) throw std::runtime_error(id.status().ToString());
  return *id;
}

store::NewApiKey TestDatabase::CreateApiKey(std::optional<int64_t> business_id, Role role,
                                            int64_t user_id) const {
  store::Database database(app_url_, store::PoolOptions{.size = 1});
  store::ApiKeyStore keys(&database);
  absl::StatusOr<store::NewApiKey> key = keys.CreateApiKey(business_id, role, user_id, "test");
  if (!key.ok()) throw std::runtime_error(key.status().ToString());
  return *key;
}

}  // namespace campaign::testing
