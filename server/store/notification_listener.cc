#include "server/store/notification_listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <pqxx/pqxx>
#include <random>
#include <stdexcept>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/store/database.h"
#include "server/store/queries.h"
#include "server/util/logging.h"

namespace campaign::store {
namespace {

// How long one wait for notifications lasts before the stop flag is checked.
constexpr long kAwaitMicros = 200'000;

// Hands each notification of the channel on.
class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& connection, const ListenerCallbacks* callbacks)
      : pqxx::notification_receiver(connection, kProgressChannel), callbacks_(callbacks) {}

  void operator()(const std::string& payload, int backend_pid) override {
    std::optional<RunNotification> parsed = ParseNotification(payload);
    if (!parsed.has_value()) {
      spdlog::warn("ignored a malformed {} notification", kProgressChannel);
      return;
    }
    if (callbacks_->on_notification) callbacks_->on_notification(*parsed);
  }

 private:
  const ListenerCallbacks* const callbacks_;
};

// Hands each payload of the probe channel to `on_payload`.
class ProbeReceiver final : public pqxx::notification_receiver {
 public:
  ProbeReceiver(pqxx::connection_base& connection,
                std::function<void(const std::string&)> on_payload)
      : pqxx::notification_receiver(connection, kProbeChannel),
        on_payload_(std::move(on_payload)) {}

  void operator()(const std::string& payload, int backend_pid) override { on_payload_(payload); }

 private:
  const std::function<void(const std::string&)> on_payload_;
};

// Thrown on the listener thread when a probe did not come back (already
// logged): the connection is replaced.
class ProbeLost : public std::runtime_error {
 public:
  ProbeLost() : std::runtime_error("the listener's probe did not come back") {}
};

// A prefix of probe payloads unique to this process and listener.
std::string ProbePrefix() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host, ":", getpid(), ":", std::random_device()(), ":");
}

}  // namespace

absl::Status NotifyThroughPool(Database& database, absl::string_view channel,
                               absl::string_view payload) {
  return database.Transact(Tenancy::AllBusinesses(), "send the listener's probe",
                           [&](pqxx::work& txn) {
                             txn.exec_params(sql::kNotify, std::string(channel),
                                             std::string(payload));
                             return absl::OkStatus();
                           });
}

std::optional<RunNotification> ParseNotification(absl::string_view payload) {
  std::vector<absl::string_view> parts = absl::StrSplit(payload, ':');
  if (parts.size() != 3) return std::nullopt;
  RunNotification notification;
  if (!absl::SimpleAtoi(parts[0], &notification.business_id) ||
      !absl::SimpleAtoi(parts[1], &notification.run_id) ||
      !absl::SimpleAtoi(parts[2], &notification.version) || notification.run_id <= 0) {
    return std::nullopt;
  }
  return notification;
}

std::string WithApplicationName(const std::string& url, absl::string_view name) {
  if (absl::StartsWith(url, "postgresql://") || absl::StartsWith(url, "postgres://")) {
    const char separator = url.find('?') == std::string::npos ? '?' : '&';
    return absl::StrCat(url, std::string(1, separator), "application_name=", name);
  }
  // key=value form: a later key overrides an earlier one.
  return absl::StrCat(url, url.empty() ? "" : " ", "application_name=", name);
}

std::string WithListenerKeepalives(const std::string& url) {
  absl::StatusOr<std::string> merged = WithConnectionSettings(url,
                                                              {{"keepalives", "1"},
                                                               {"keepalives_idle", "5"},
                                                               {"keepalives_interval", "2"},
                                                               {"keepalives_count", "3"},
                                                               {"tcp_user_timeout", "15000"},
                                                               {"connect_timeout", "10"}},
                                                              {});
  // A URL libpq cannot parse fails at connect, with libpq's reason.
  return merged.ok() ? *merged : url;
}

NotificationListener::NotificationListener(std::string database_url, ListenerCallbacks callbacks,
                                           ListenerOptions options)
    : url_(WithListenerKeepalives(WithApplicationName(database_url, kListenerApplicationName))),
      callbacks_(std::move(callbacks)),
      options_(options),
      probe_prefix_(ProbePrefix()) {}

NotificationListener::~NotificationListener() { Stop(); }

void NotificationListener::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
  watchdog_ = std::thread([this] { Watchdog(); });
}

void NotificationListener::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (watchdog_.joinable()) watchdog_.join();
}

bool NotificationListener::listening() const {
  absl::MutexLock lock(&mu_);
  return listening_;
}

bool NotificationListener::healthy() const {
  absl::MutexLock lock(&mu_);
  return listening_ && healthy_;
}

int64_t NotificationListener::probe_failures() const {
  absl::MutexLock lock(&mu_);
  return probe_failures_;
}

int64_t NotificationListener::connections() const {
  absl::MutexLock lock(&mu_);
  return connections_;
}

bool NotificationListener::AwaitConnections(int64_t count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return connections_ >= count && listening_;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

bool NotificationListener::Sleep(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
  mu_.AwaitWithTimeout(absl::Condition(&stopping), delay);
  return !stopping_;
}

void NotificationListener::Watchdog() {
  absl::MutexLock lock(&mu_);
  while (true) {
    auto probing = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || probe_socket_ >= 0;
    };
    mu_.Await(absl::Condition(&probing));
    if (probe_socket_ < 0) return;  // stopping
    auto done = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || probe_socket_ < 0; };
    mu_.AwaitWithDeadline(absl::Condition(&done), probe_deadline_);
    if (probe_socket_ >= 0) {
      // Overdue (or Stop waits for it). The listener thread is blocked in the
      // probe and closes the socket only after it returns, so the descriptor
      // is still this connection's.
      if (!stopping_) {
        spdlog::warn("the {} listener's probe got no answer within {}; dropping the connection",
                     kProgressChannel, absl::FormatDuration(options_.probe_timeout));
      }
      ::shutdown(probe_socket_, SHUT_RDWR);
      probe_cut_ = true;
      probe_socket_ = -1;
    }
  }
}

void NotificationListener::ExecUnderWatchdog(
    pqxx::connection_base& connection, const std::function<void(pqxx::connection_base&)>& query) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    probe_socket_ = connection.sock();
    probe_deadline_ = absl::Now() + options_.probe_timeout;
    probe_cut_ = false;
  }
  bool cut = false;
  try {
    query(connection);
  } catch (...) {
    absl::MutexLock lock(&mu_);
    probe_socket_ = -1;
    throw;
  }
  {
    absl::MutexLock lock(&mu_);
    probe_socket_ = -1;
    cut = probe_cut_;
  }
  // libpqxx may have reconnected by itself: only a connection that answered
  // in time (and still listens) counts.
  if (cut || !connection.is_open()) {
    throw pqxx::broken_connection("the listener's probe got no answer in time");
  }
}

void NotificationListener::SendProbe(pqxx::connection_base& connection) {
  awaited_payload_ = absl::StrCat(probe_prefix_, ++probes_sent_);
  probe_returned_ = false;
  if (callbacks_.send_probe) {
    const absl::Status sent = callbacks_.send_probe(kProbeChannel, awaited_payload_);
    if (sent.ok()) return;
    spdlog::debug("the listener's probe could not be sent through the pool ({}); sending it on "
                  "the listening connection",
                  sent.ToString());
  }
  // On the listening connection itself: a partitioned connection does not
  // answer (the watchdog cuts it), a working one notifies itself.
  ExecUnderWatchdog(connection, [&](pqxx::connection_base& listening) {
    pqxx::nontransaction txn(listening, "listener probe");
    txn.exec_params(sql::kNotify, std::string(kProbeChannel), awaited_payload_);
  });
}

void NotificationListener::ReportLostProbe(pqxx::connection_base& connection) {
  // Does the connection itself still answer? Then the LISTEN does not hold
  // on it: its notifications go elsewhere.
  bool answers = true;
  try {
    ExecUnderWatchdog(connection, [](pqxx::connection_base& listening) {
      pqxx::nontransaction txn(listening, "listener liveness");
      txn.exec(sql::kPing);
    });
  } catch (const std::exception&) {
    answers = false;
  }
  ProbeFinished(false);
  if (failures_in_a_row_ > 1) {
    spdlog::debug("the {} listener's probe did not come back again ({} in a row); reconnecting",
                  kProgressChannel, failures_in_a_row_);
    return;
  }
  if (answers) {
    spdlog::warn(
        "the {} listener's probe notification did not come back within {} although its "
        "connection answers queries: LISTEN does not hold on this connection, so live progress "
        "(WatchRun, WatchRuns) would freeze. A connection pooler in transaction mode (PgBouncer "
        "pool_mode=transaction) is the likely cause: point --listen-database-url straight at "
        "PostgreSQL (or at a session-mode pool). Reconnecting; metric "
        "campaign_listener_probe_failures_total, health service {} NOT_SERVING until a probe "
        "comes back",
        kProgressChannel, absl::FormatDuration(options_.probe_timeout), kListenerHealthService);
  } else {
    spdlog::warn(
        "the {} listener's probe got no answer within {} (network partition or database "
        "down); reconnecting. Health service {} NOT_SERVING until a probe comes back",
        kProgressChannel, absl::FormatDuration(options_.probe_timeout), kListenerHealthService);
  }
}

void NotificationListener::ProbeFinished(bool came_back) {
  awaited_payload_.clear();
  {
    absl::MutexLock lock(&mu_);
    healthy_ = came_back;
    if (!came_back) ++probe_failures_;
  }
  if (came_back) {
    if (failures_in_a_row_ > 0) {
      spdlog::info("the {} listener's probe came back after {} that did not; listening reliably "
                   "again",
                   kProgressChannel, failures_in_a_row_);
    }
    failures_in_a_row_ = 0;
  } else {
    ++failures_in_a_row_;
  }
  if (callbacks_.on_probe) callbacks_.on_probe(came_back);
}

void NotificationListener::Run() {
  absl::Duration backoff = options_.min_backoff;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    try {
      pqxx::connection connection(url_);
      Receiver receiver(connection, &callbacks_);  // issues LISTEN
      ProbeReceiver probe_receiver(connection, [this](const std::string& payload) {
        if (!awaited_payload_.empty() && payload == awaited_payload_) probe_returned_ = true;
      });
      int64_t established = 0;
      {
        absl::MutexLock lock(&mu_);
        listening_ = true;
        established = ++connections_;
      }
      if (established > 1) {
        spdlog::info("listening on {} again", kProgressChannel);
      }
      // Changes committed while nobody listened (or before the first
      // LISTEN) were not notified: the receiver refreshes.
      if (callbacks_.on_listening) callbacks_.on_listening();
      backoff = options_.min_backoff;
      // The first probe goes out at once: health says whether this
      // connection really receives.
      awaited_payload_.clear();
      absl::Time next_probe = absl::Now();
      absl::Time probe_deadline = absl::InfiniteFuture();
      while (true) {
        {
          absl::MutexLock lock(&mu_);
          if (stopping_) break;
        }
        connection.await_notification(0, kAwaitMicros);
        if (!connection.is_open()) throw pqxx::broken_connection("listener connection closed");
        const absl::Time now = absl::Now();
        if (!awaited_payload_.empty()) {
          if (probe_returned_) {
            ProbeFinished(true);
            next_probe = now + options_.probe_interval;
          } else if (now >= probe_deadline) {
            ReportLostProbe(connection);
            throw ProbeLost();
          }
        } else if (now >= next_probe) {
          SendProbe(connection);
          // The bound runs from when the NOTIFY was committed.
          probe_deadline = absl::Now() + options_.probe_timeout;
        }
      }
      absl::MutexLock lock(&mu_);
      listening_ = false;
      return;
    } catch (const ProbeLost&) {
      {
        absl::MutexLock lock(&mu_);
        listening_ = false;
      }
      if (!Sleep(backoff)) return;
      backoff = std::min(backoff * 2, options_.max_backoff);
    } catch (const std::exception& error) {
      {
        absl::MutexLock lock(&mu_);
        listening_ = false;
        healthy_ = false;
      }
      awaited_payload_.clear();
      std::string reason = error.what();
      std::replace(reason.begin(), reason.end(), '\n', ' ');
      spdlog::warn(
          "the {} listener lost its database connection ({}); "
          "reconnecting in {}",
          kProgressChannel, reason, absl::FormatDuration(backoff));
      if (!Sleep(backoff)) return;
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
}

}  // namespace campaign::store
