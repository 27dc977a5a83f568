// Connections to PostgreSQL: a bounded pool and the one place where libpqxx
// exceptions become absl::Status. Every transaction declares its tenancy, which
// row-level security enforces (see migrations/0005_row_level_security.sql).
#ifndef CAMPAIGN_SERVER_STORE_DATABASE_H_
#define CAMPAIGN_SERVER_STORE_DATABASE_H_

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace campaign::store {

// Which businesses' rows a transaction may see and write.
struct Tenancy {
  // One business; row-level security hides every other.
  static Tenancy Business(int64_t business_id) { return Tenancy{business_id}; }
  // Every business: only for system admins' listings, the scheduler,
  // migrations and key management.
  static Tenancy AllBusinesses() { return Tenancy{std::nullopt}; }

  std::optional<int64_t> business_id;
};

// Maps a libpqxx (or standard) exception to the most specific status. `what`
// names the operation for the message, e.g. "create run".
absl::Status StatusFromException(const std::exception& error, absl::string_view what);

// Opens and closes one connection to `url`: OK when the database answers,
// else UNAVAILABLE carrying libpq's reason (it never contains a password).
absl::Status CheckConnection(const std::string& url);

// Options of the connection pool.
struct PoolOptions {
  // Most open connections.
  int size = 8;
  // How long Transact waits for a free connection before UNAVAILABLE.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // When positive, PostgreSQL ends a session of this pool that stays idle
  // inside a transaction this long (its locks are released).
  absl::Duration idle_in_transaction_timeout = absl::ZeroDuration();
  // Called with every database error (failed connects, errors raised by the
  // database or the connection, including ones retried), for metrics. Not
  // called for statuses a transaction body returns itself. Must be thread-safe.
  std::function<void(const absl::Status&)> on_error = nullptr;
};

// A fixed-size pool of libpqxx connections opened on demand. Broken
// connections are dropped and reopened by a later caller, so the service
// recovers by itself once the database is back.
class Database {
 public:
  Database(std::string url, PoolOptions options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs `body` in a READ COMMITTED transaction scoped to `tenancy` and
  // commits it when `body` returns OK. Deadlocks, serialization failures and
  // connections lost before the commit are retried (body must have no
  // effects outside the transaction);
  // exceptions become statuses. `what` names the operation for messages.
  template <typename Body>
  auto Transact(const Tenancy& tenancy, absl::string_view what, Body&& body)
      -> std::invoke_result_t<Body&, pqxx::work&>;

  // The connection string (for tools that need their own connection).
  const std::string& url() const { return url_; }

  // Opens and closes one connection: OK when the database answers.
  absl::Status Ping();

  // Connections currently open and currently lent out.
  int OpenConnections() const;
  int BusyConnections() const;

 private:
  // A connection lent out by Acquire; Release returns it.
  struct Lease {
    std::unique_ptr<pqxx::connection> connection;
  };
  absl::StatusOr<Lease> Acquire();
  void Release(Lease lease, bool broken);
  static void SetTenancy(pqxx::work& txn, const Tenancy& tenancy);
  // Reports a database error to options_.on_error; returns it.
  const absl::Status& Observe(const absl::Status& error) const {
    if (options_.on_error) options_.on_error(error);
    return error;
  }

  const std::string url_;
  const PoolOptions options_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
};

// How many times Transact runs a body that hit a deadlock or serialization
// failure.
inline constexpr int kMaxTransactionAttempts = 3;

template <typename Body>
auto Database::Transact(const Tenancy& tenancy, absl::string_view what, Body&& body)
    -> std::invoke_result_t<Body&, pqxx::work&> {
  using Result = std::invoke_result_t<Body&, pqxx::work&>;
  absl::Status last_error;
  for (int attempt = 1; attempt <= kMaxTransactionAttempts; ++attempt) {
    absl::StatusOr<Lease> lease = Acquire();
    if (!lease.ok()) return Result(Observe(lease.status()));
    bool broken = false;
    try {
      pqxx::work txn(*lease->connection);
      SetTenancy(txn, tenancy);
      Result result = body(txn);
      if (result.ok()) txn.commit();
      Release(*std::move(lease), false);
      return result;
    } catch (const pqxx::broken_connection& error) {
      // The transaction never committed: retry on a fresh connection (a
      // pooled one may have died with a database restart).
      last_error = Observe(StatusFromException(error, what));
      Release(*std::move(lease), true);
      continue;
    } catch (const pqxx::in_doubt_error& error) {
      broken = true;
      last_error = Observe(StatusFromException(error, what));
    } catch (const pqxx::deadlock_detected& error) {
      last_error = Observe(StatusFromException(error, what));
      Release(*std::move(lease), false);
      continue;
    } catch (const pqxx::serialization_failure& error) {
      last_error = Observe(StatusFromException(error, what));
      Release(*std::move(lease), false);
      continue;
    } catch (const std::exception& error) {
      last_error = Observe(StatusFromException(error, what));
      broken = !lease->connection->is_open();
    }
    Release(*std::move(lease), broken);
    return Result(last_error);
  }
  return Result(last_error);
}

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_DATABASE_H_
