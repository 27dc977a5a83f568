// A fresh PostgreSQL database per test fixture, on the server that the test
// command started (CAMPAIGN_TEST_ADMIN_URL, a superuser URL). Without that
// variable every test using it fails loudly; none skips.
#ifndef CAMPAIGN_TESTS_SUPPORT_TEST_DATABASE_H_
#define CAMPAIGN_TESTS_SUPPORT_TEST_DATABASE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "server/model/model.h"
#include "server/store/api_key_store.h"

namespace campaign::testing {

// The login role the service connects as in tests: no superuser, no
// BYPASSRLS, so row-level security applies to it.
inline constexpr char kAppRole[] = "campaign_test_app";

// Creates a uniquely named database owned by kAppRole; drops it (forcibly)
// on destruction.
class TestDatabase {
 public:
  // Throws std::runtime_error (a test failure) when CAMPAIGN_TEST_ADMIN_URL
  // is unset or the server does not answer.
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // The superuser URL of the server, from the environment.
  static std::string ServerAdminUrl();

  // This database, as the service's role.
  const std::string& app_url() const { return app_url_; }
  // This database, as the superuser (for setting up legacy tables, inspecting).
  const std::string& admin_url() const { return admin_url_; }
  const std::string& name() const { return name_; }

  // Applies the embedded migrations as the service's role; throws on failure.
  void Migrate() const;

  // Runs SQL as the superuser on this database (no tenancy: sees everything).
  void ExecAsAdmin(const std::string& sql) const;
  // Runs a query returning one integer, as the superuser.
  int64_t QueryInt(const std::string& sql) const;

  // Closes this database to new connections and ends the open ones, as an
  // outage would look to the service (the shared server keeps running).
  void RefuseConnections() const;
  // Undoes RefuseConnections.
  void AllowConnections() const;

  // Creates a business; returns its id.
  int64_t CreateBusiness(const std::string& name) const;
  // Creates an API key; returns it.
  store::NewApiKey CreateApiKey(std::optional<int64_t> business_id, Role role,
                                int64_t user_id = 0) const;

 private:
  std::string name_;
  std::string app_url_;
  std::string admin_url_;
};

// `url` with its database name replaced by `database` and, when non-empty,
// its user by `user`. Accepts postgresql:// URIs only.
std::string WithDatabase(const std::string& url, const std::string& database,
                         const std::string& user = "");

}  // namespace campaign::testing

#endif  // CAMPAIGN_TESTS_SUPPORT_TEST_DATABASE_H_
