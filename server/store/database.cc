#include "server/store/database.h"

#include <libpq-fe.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/store/queries.h"
#include "server/util/logging.h"

namespace campaign::store {
namespace {

absl::Status FromSqlState(const std::string& state, absl::string_view what,
                          const std::exception& error) {
  auto cls = [&](absl::string_view prefix) { return absl::StartsWith(state, prefix); };
  if (state == "23505") {
    return absl::AlreadyExistsError(absl::StrCat(what, ": already exists"));
  }
  if (state == "23503") {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": a referenced record does not exist"));
  }
  if (state == "23502" || state == "23514" || cls("22")) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": a value is out of range"));
  }
  if (state == "40001" || state == "40P01") {
    return absl::AbortedError(absl::StrCat(what, ": conflicting concurrent update, retry"));
  }
  if (state == "57014") {
    return absl::DeadlineExceededError(absl::StrCat(what, ": the database query timed out"));
  }
  if (cls("08") || cls("53") || cls("57P")) {
    return absl::UnavailableError(absl::StrCat(what, ": the database is unavailable"));
  }
  return absl::InternalError(absl::StrCat(what, ": internal database error"));
}

}  // namespace

absl::Status StatusFromException(const std::exception& error, absl::string_view what) {
  if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) {
    spdlog::error("database connection lost during {}: {}", what, error.what());
    return absl::UnavailableError(absl::StrCat(what, ": the database is unavailable"));
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&error) != nullptr) {
    return CommitOutcomeUnknown(what, error);
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&error) != nullptr) {
    // Deadlock or serialization failure (libpqxx 6 does not derive these
    // from sql_error).
    spdlog::debug("database rolled back {}: {}", what, error.what());
    return absl::AbortedError(absl::StrCat(what, ": conflicting concurrent update, retry"));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error); sql != nullptr) {
    absl::Status status = FromSqlState(sql->sqlstate(), what, error);
    if (status.code() == absl::StatusCode::kInternal ||
        status.code() == absl::StatusCode::kUnavailable) {
      spdlog::error("database error during {} (SQLSTATE {}): {}", what, sql->sqlstate(),
                    error.what());
    } else {
      spdlog::debug("database refused {} (SQLSTATE {}): {}", what, sql->sqlstate(), error.what());
    }
    return status;
  }
  spdlog::error("unexpected error during {}: {}", what, error.what());
  return absl::InternalError(absl::StrCat(what, ": internal error"));
}

int CountAnsweringConnections(const std::string& url, int count, absl::Duration bound) {
  const absl::Time deadline = absl::Now() + bound;
  // libpq's connect_timeout counts whole seconds, at least 2.
  const int64_t connect_seconds = std::max<int64_t>(2, absl::ToInt64Seconds(bound) + 1);
  absl::StatusOr<std::string> conninfo =
      WithConnectionSettings(url, {{"connect_timeout", absl::StrCat(connect_seconds)}}, {});
  // The watchdog shuts down the socket of a query still waiting at the
  // deadline (behind a full session pool it would wait for minutes).
  absl::Mutex mu;
  int socket = -1;
  bool done = false;
  bool cut = false;
  std::thread watchdog([&] {
    absl::MutexLock lock(&mu);
    mu.AwaitWithDeadline(absl::Condition(&done), deadline);
    if (!done && socket >= 0) {
      ::shutdown(socket, SHUT_RDWR);
      cut = true;
    }
  });
  std::vector<std::unique_ptr<pqxx::connection>> connections;
  int answered = 0;
  while (answered < count && absl::Now() < deadline) {
    try {
      connections.push_back(std::make_unique<pqxx::connection>(conninfo.ok() ? *conninfo : url));
      {
        absl::MutexLock lock(&mu);
        if (cut) break;
        socket = connections.back()->sock();
      }
      pqxx::nontransaction txn(*connections.back(), "pool check");
      txn.exec(sql::kPing);
      absl::MutexLock lock(&mu);
      socket = -1;
      if (cut) break;
    } catch (const std::exception& error) {
      spdlog::debug("pool check: connection {} failed: {}", answered + 1, error.what());
      absl::MutexLock lock(&mu);
      socket = -1;
      break;
    }
    ++answered;
  }
  {
    absl::MutexLock lock(&mu);
    done = true;
  }
  watchdog.join();
  return answered;
}

absl::Status CheckConnection(const std::string& url) {
  try {
    pqxx::connection connection(url);
    return absl::OkStatus();
  } catch (const std::exception& error) {
    // libpq's messages span lines ("...\n\tIs the server running..."):
    // callers print one line.
    std::string reason(absl::StripAsciiWhitespace(error.what()));
    std::replace_if(
        reason.begin(), reason.end(), [](char c) { return c == '\n' || c == '\t'; }, ' ');
    return absl::UnavailableError(absl::StrCat("cannot connect to the database: ", reason));
  }
}

namespace {

// `value` quoted for a key=value connection string.
std::string QuoteConnectionValue(absl::string_view value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') quoted.push_back('\\');
    quoted.push_back(c);
  }
  quoted.push_back('\'');
  return quoted;
}

}  // namespace

absl::StatusOr<std::string> WithConnectionSettings(
    const std::string& url, const std::vector<std::pair<std::string, std::string>>& defaults,
    const std::vector<std::pair<std::string, std::string>>& server_settings) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> parsed(
      PQconninfoParse(url.c_str(), &error), PQconninfoFree);
  if (parsed == nullptr) {
    std::string reason = error != nullptr ? error : "out of memory";
    if (error != nullptr) PQfreemem(error);
    return absl::InvalidArgumentError(
        absl::StrCat("bad database URL: ", absl::StripAsciiWhitespace(reason)));
  }
  std::vector<std::pair<std::string, std::string>> settings;
  std::string server_options;
  for (const PQconninfoOption* option = parsed.get(); option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    if (absl::string_view(option->keyword) == "options") {
      server_options = option->val;
    } else {
      settings.emplace_back(option->keyword, option->val);
    }
  }
  for (const auto& [key, value] : defaults) {
    if (std::none_of(settings.begin(), settings.end(),
                     [&](const auto& setting) { return setting.first == key; })) {
      settings.emplace_back(key, value);
    }
  }
  for (const auto& [name, value] : server_settings) {
    absl::StrAppend(&server_options, server_options.empty() ? "" : " ", "-c ", name, "=", value);
  }
  if (!server_options.empty()) settings.emplace_back("options", server_options);
  std::string conninfo;
  for (const auto& [key, value] : settings) {
    absl::StrAppend(&conninfo, conninfo.empty() ? "" : " ", key, "=", QuoteConnectionValue(value));
  }
  return conninfo;
}

Database::Database(std::string url, PoolOptions options)
    : options_(options),
      conninfo_(std::move(url)),
      idle_timeout_setting_(options_.idle_in_transaction_timeout > absl::ZeroDuration()
                                ? absl::StrCat(absl::ToInt64Milliseconds(
                                                   options_.idle_in_transaction_timeout),
                                               "ms")
                                : std::string()) {}

absl::Status CommitOutcomeUnknown(absl::string_view what, const std::exception& error) {
  spdlog::error("commit of {} is in doubt: {}", what, error.what());
  return absl::UnavailableError(
      absl::StrCat(what,
                   ": the database connection was lost during commit; the outcome "
                   "is unknown (retrying with the same request_id is safe)"));
}

absl::Status Database::ConflictsPersisted(absl::string_view what) {
  return absl::UnavailableError(
      absl::StrCat(what,
                   ": conflicting concurrent updates (deadlock or serialization failure) "
                   "persisted over ",
                   kMaxTransactionAttempts, " attempts; retry later"));
}

Database::~Database() = default;

absl::StatusOr<Database::Lease> Database::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.size;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&available), options_.acquire_timeout)) {
      return absl::UnavailableError(absl::StrCat("no database connection became free within ",
                                                 absl::FormatDuration(options_.acquire_timeout),
                                                 " (pool size ", options_.size, ")"));
    }
    ++busy_;
    if (!idle_.empty()) {
      Lease lease = std::move(idle_.back());
      idle_.pop_back();
      return lease;
    }
    ++open_;  // reserve the slot; opened below without holding the lock
  }
  try {
    Lease lease;
    lease.connection = std::make_unique<pqxx::connection>(conninfo_);
    return lease;
  } catch (const std::exception& error) {
    absl::MutexLock lock(&mu_);
    --open_;
    --busy_;
    return StatusFromException(error, "connect to the database");
  }
}

void Database::Release(Lease lease, bool broken) {
  if (broken || lease.connection == nullptr || !lease.connection->is_open()) {
    lease.connection.reset();
  }
  absl::MutexLock lock(&mu_);
  --busy_;
  if (lease.connection == nullptr) {
    --open_;
  } else {
    idle_.push_back(std::move(lease));
  }
}

void Database::SetTenancy(Lease& lease, pqxx::work& txn, const Tenancy& tenancy) {
  static constexpr sql::NamedQuery kQuery{"SetTenancy", sql::kSetTenancy};
  Execute(lease, txn, kQuery,
          tenancy.business_id ? std::to_string(*tenancy.business_id) : std::string(),
          std::string(tenancy.business_id ? "off" : "on"), idle_timeout_setting_);
}

void Database::ReportPreparedStatementError(const pqxx::sql_error& error) {
  const std::string& state = error.sqlstate();
  // 26000: the prepared statement does not exist; 42P05: it exists already.
  // Both mean the statements were prepared on another server connection
  // than the one this transaction got: a pooler in transaction mode.
  if (state != "26000" && state != "42P05") return;
  if (prepared_error_reported_.exchange(true)) return;
  spdlog::error(
      "the database lost or mixed up this pool's prepared statements (SQLSTATE {}): a "
      "connection pooler in transaction mode (PgBouncer pool_mode=transaction) is the likely "
      "cause; run campaignd with --db-prepared-statements=false behind it",
      state);
}

absl::Status Database::Ping() {
  return Transact(Tenancy::AllBusinesses(), "ping", [](pqxx::work& txn) {
    txn.exec(sql::kPing);
    return absl::OkStatus();
  });
}

int Database::OpenConnections() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

int Database::BusyConnections() const {
  absl::MutexLock lock(&mu_);
  return busy_;
}

}  // namespace campaign::store
