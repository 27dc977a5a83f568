// A PgBouncer process (Debian's /usr/sbin/pgbouncer, 1.18) in front of the
// test PostgreSQL server (CAMPAIGN_TEST_ADMIN_URL), on a free port, with its
// ini file, user list and log in a temporary directory. Runs as the postgres
// user (PgBouncer refuses to run as root); stopped and cleaned up in the
// destructor. Without pgbouncer or the server, the constructor throws (a
// test failure, never a skip).
#ifndef CAMPAIGN_TESTS_SUPPORT_PGBOUNCER_H_
#define CAMPAIGN_TESTS_SUPPORT_PGBOUNCER_H_

#include <sys/types.h>

#include <string>

namespace campaign::testing {

// How the pooler is set up.
struct PgBouncerOptions {
  // pool_mode: "transaction" or "session".
  std::string pool_mode = "transaction";
  // default_pool_size: server connections per database and user.
  int pool_size = 3;
};

class PgBouncer {
 public:
  explicit PgBouncer(PgBouncerOptions options = {});
  ~PgBouncer();
  PgBouncer(const PgBouncer&) = delete;
  PgBouncer& operator=(const PgBouncer&) = delete;

  int port() const { return port_; }
  // `url` (a postgresql:// URI of the test server) pointed at this pooler.
  std::string Through(const std::string& url) const;
  // What PgBouncer logged so far.
  std::string Log() const;

 private:
  PgBouncerOptions options_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace campaign::testing

#endif  // CAMPAIGN_TESTS_SUPPORT_PGBOUNCER_H_
