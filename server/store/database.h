// Connections to PostgreSQL: a bounded pool and the one place where libpqxx
// exceptions become absl::Status. Every transaction declares its tenancy, which
// row-level security enforces (see migrations/0005_row_level_security.sql).
#ifndef CAMPAIGN_SERVER_STORE_DATABASE_H_
#define CAMPAIGN_SERVER_STORE_DATABASE_H_

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/store/queries.h"

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

// The status of a transaction whose connection was lost after its COMMIT was
// sent: UNAVAILABLE, saying that the outcome is unknown. Logs `error`.
absl::Status CommitOutcomeUnknown(absl::string_view what, const std::exception& error);

// Opens and closes one connection to `url`: OK when the database answers,
// else UNAVAILABLE carrying libpq's reason (it never contains a password).
absl::Status CheckConnection(const std::string& url);

// Opens up to `count` connections to `url` one after the other, keeping each
// open, and runs a trivial query on each; stops at the first that fails or
// does not answer before `bound` has passed since the call. Returns how many
// answered: fewer than `count` means that the pooler's pool (in session
// mode) or PostgreSQL's max_connections cannot hold that many connections of
// this process at once. Closes them all before returning.
int CountAnsweringConnections(const std::string& url, int count, absl::Duration bound);

// `url` (a postgresql:// URI, also multi-host, or a key=value string) as a
// key=value connection string with `defaults` added where `url` sets no value
// for them and `server_settings` (name, value) appended to its `options`
// (`-c name=value`, after any already there, so they win). INVALID_ARGUMENT
// when libpq cannot parse `url`. Connection options survive libpqxx's
// transparent reconnects, unlike settings made with SET.
absl::StatusOr<std::string> WithConnectionSettings(
    const std::string& url, const std::vector<std::pair<std::string, std::string>>& defaults,
    const std::vector<std::pair<std::string, std::string>>& server_settings);

// Options of the connection pool.
struct PoolOptions {
  // Most open connections.
  int size = 8;
  // How long Transact waits for a free connection before UNAVAILABLE.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // When positive, PostgreSQL ends a session of this pool that stays idle
  // inside a transaction this long (its locks are released). Set locally in
  // every transaction (with the tenancy, no extra round trip), never for the
  // session: a server connection shared through a pooler keeps the server's
  // value for everyone else.
  absl::Duration idle_in_transaction_timeout = absl::ZeroDuration();
  // Called with every database error (failed connects, errors raised by the
  // database or the connection, including ones retried), for metrics. Not
  // called for statuses a transaction body returns itself. Must be thread-safe.
  std::function<void(const absl::Status&)> on_error = nullptr;
  // Whether the statements the pool runs itself (the tenancy settings and
  // ReadOnce's statements) are server-side prepared statements, each
  // prepared once per connection: parsing and planning is most of what such
  // a statement costs the database (a GetRun costs a fifth when prepared).
  // Turn it off behind a pooler that does not keep prepared statements
  // across transactions (PgBouncer 1.18 in transaction mode).
  bool prepared_statements = true;
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
  // commits it when `body` returns OK, else rolls it back; either way the
  // transaction has ended before its connection goes back to the pool.
  // Deadlocks, serialization failures and connections lost before the
  // commit are retried (body must have no effects outside the transaction);
  // when every attempt hit a deadlock or serialization failure the result is
  // UNAVAILABLE (transient: retry later), never ABORTED, which callers such
  // as the scheduler reserve for their own conflicts (a lost lease).
  // Exceptions become statuses. `what` names the operation for messages.
  // `after_commit`, when set, runs once after a successful COMMIT on the same
  // connection, outside any transaction (e.g. to read the WAL position the
  // commit reached on the server that took it); an exception it throws is
  // swallowed (the commit stands) and it must note its own failure.
  template <typename Body>
  auto Transact(const Tenancy& tenancy, absl::string_view what, Body&& body,
                const std::function<void(pqxx::connection&)>& after_commit = nullptr)
      -> std::invoke_result_t<Body&, pqxx::work&>;

  // Runs one read-only statement in its own implicit transaction, in one
  // round trip (no BEGIN, no COMMIT), and returns what `parse` makes of its
  // rows. The statement must set its own tenancy before it reads (see
  // ReadRunScoped in queries/runs.sql): without that, row-level security
  // shows it no rows. A connection lost before the answer is retried on a
  // fresh one (the read has no effects). `what` names the operation for
  // messages; exceptions from `parse` become statuses too.
  template <typename Parse, typename... Args>
  auto ReadOnce(absl::string_view what, const sql::NamedQuery& query, Parse&& parse,
                const Args&... args) -> std::invoke_result_t<Parse&, const pqxx::result&>;

  // Opens and closes one connection: OK when the database answers.
  absl::Status Ping();

  // Connections currently open and currently lent out.
  int OpenConnections() const;
  int BusyConnections() const;

 private:
  // A connection lent out by Acquire; Release returns it.
  struct Lease {
    std::unique_ptr<pqxx::connection> connection;
    // The statements prepared on this connection so far.
    absl::flat_hash_set<std::string> prepared;
  };
  absl::StatusOr<Lease> Acquire();
  void Release(Lease lease, bool broken);
  void SetTenancy(Lease& lease, pqxx::work& txn, const Tenancy& tenancy);
  // Runs `query` in `txn` on the lease's connection: as a prepared statement
  // (prepared on first use) when the pool prepares statements.
  template <typename... Args>
  pqxx::result Execute(Lease& lease, pqxx::transaction_base& txn, const sql::NamedQuery& query,
                       const Args&... args) {
    if (!options_.prepared_statements) return txn.exec_params(query.sql, args...);
    if (lease.prepared.insert(query.name).second) lease.connection->prepare(query.name, query.sql);
    try {
      return txn.exec_prepared(query.name, args...);
    } catch (const pqxx::sql_error& error) {
      ReportPreparedStatementError(error);
      throw;
    }
  }
  // Logs once, naming --db-prepared-statements, when `error` says that the
  // server connection does not hold this pool's prepared statements.
  void ReportPreparedStatementError(const pqxx::sql_error& error);
  // The status of a transaction whose every attempt hit a deadlock or a
  // serialization failure.
  static absl::Status ConflictsPersisted(absl::string_view what);
  // Reports a database error to options_.on_error; returns it.
  const absl::Status& Observe(const absl::Status& error) const {
    if (options_.on_error) options_.on_error(error);
    return error;
  }

  const PoolOptions options_;
  // What connections are opened with.
  const std::string conninfo_;
  // SetTenancy's value of idle_in_transaction_session_timeout ("" keeps the
  // server's).
  const std::string idle_timeout_setting_;
  std::atomic<bool> prepared_error_reported_{false};
  mutable absl::Mutex mu_;
  std::vector<Lease> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
};

// How many times Transact runs a body that hit a deadlock or serialization
// failure.
inline constexpr int kMaxTransactionAttempts = 3;

template <typename Body>
auto Database::Transact(const Tenancy& tenancy, absl::string_view what, Body&& body,
                        const std::function<void(pqxx::connection&)>& after_commit)
    -> std::invoke_result_t<Body&, pqxx::work&> {
  using Result = std::invoke_result_t<Body&, pqxx::work&>;
  absl::Status last_error;
  for (int attempt = 1; attempt <= kMaxTransactionAttempts; ++attempt) {
    absl::StatusOr<Lease> lease = Acquire();
    if (!lease.ok()) return Result(Observe(lease.status()));
    // The transaction lives inside the try block, so it has ended (committed,
    // rolled back, or rolled back by its destructor during unwinding) before
    // any Release below hands the connection to another thread.
    std::optional<Result> result;
    bool broken = false;
    bool committing = false;
    try {
      bool committed = false;
      {
        pqxx::work txn(*lease->connection);
        SetTenancy(*lease, txn, tenancy);
        result.emplace(body(txn));
        if (result->ok()) {
          committing = true;
          txn.commit();
          committed = true;
        } else {
          // A rollback that fails leaves the connection in an unknown state:
          // drop it rather than pool it.
          try {
            txn.abort();
          } catch (const std::exception&) {
            broken = true;
          }
        }
      }
      if (committed && after_commit) {
        try {
          after_commit(*lease->connection);
        } catch (const std::exception& error) {
          (void)Observe(StatusFromException(error, what));
          broken = !lease->connection->is_open();
        }
      }
    } catch (const pqxx::broken_connection& error) {
      if (committing) {
        // The COMMIT was sent and its answer lost: it may have taken effect.
        // Running the body again could repeat its effects, so never retry.
        Release(*std::move(lease), true);
        return Result(Observe(CommitOutcomeUnknown(what, error)));
      }
      // The transaction never committed: retry on a fresh connection (a
      // pooled one may have died with a database restart).
      last_error = Observe(StatusFromException(error, what));
      Release(*std::move(lease), true);
      continue;
    } catch (const pqxx::in_doubt_error& error) {
      Release(*std::move(lease), true);
      return Result(Observe(StatusFromException(error, what)));
    } catch (const pqxx::deadlock_detected& error) {
      last_error = Observe(StatusFromException(error, what));
      Release(*std::move(lease), false);
      if (attempt == kMaxTransactionAttempts) return Result(ConflictsPersisted(what));
      continue;
    } catch (const pqxx::serialization_failure& error) {
      last_error = Observe(StatusFromException(error, what));
      Release(*std::move(lease), false);
      if (attempt == kMaxTransactionAttempts) return Result(ConflictsPersisted(what));
      continue;
    } catch (const std::exception& error) {
      last_error = Observe(StatusFromException(error, what));
      broken = !lease->connection->is_open();
      Release(*std::move(lease), broken);
      return Result(last_error);
    }
    Release(*std::move(lease), broken);
    return *std::move(result);
  }
  return Result(last_error);
}

template <typename Parse, typename... Args>
auto Database::ReadOnce(absl::string_view what, const sql::NamedQuery& query, Parse&& parse,
                        const Args&... args) -> std::invoke_result_t<Parse&, const pqxx::result&> {
  using Result = std::invoke_result_t<Parse&, const pqxx::result&>;
  absl::Status last_error;
  for (int attempt = 1; attempt <= kMaxTransactionAttempts; ++attempt) {
    absl::StatusOr<Lease> lease = Acquire();
    if (!lease.ok()) return Result(Observe(lease.status()));
    std::optional<Result> result;
    try {
      pqxx::nontransaction txn(*lease->connection);
      const pqxx::result rows = Execute(*lease, txn, query, args...);
      result.emplace(parse(rows));
    } catch (const pqxx::broken_connection& error) {
      last_error = Observe(StatusFromException(error, what));
      Release(*std::move(lease), true);
      continue;
    } catch (const std::exception& error) {
      last_error = Observe(StatusFromException(error, what));
      const bool broken = !lease->connection->is_open();
      Release(*std::move(lease), broken);
      return Result(last_error);
    }
    Release(*std::move(lease), false);
    return *std::move(result);
  }
  return Result(last_error);
}

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_DATABASE_H_
