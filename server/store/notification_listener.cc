#include "server/store/notification_listener.h"

#include <sys/socket.h>

#include <algorithm>
#include <pqxx/pqxx>
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

}  // namespace

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
      options_(options) {}

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

void NotificationListener::Probe(pqxx::connection_base& connection) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    probe_socket_ = connection.sock();
    probe_deadline_ = absl::Now() + options_.probe_timeout;
    probe_cut_ = false;
  }
  bool cut = false;
  try {
    pqxx::nontransaction txn(connection, "listener probe");
    txn.exec(sql::kPing);  // the liveness probe
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
      absl::Time last_heard = absl::Now();
      while (true) {
        {
          absl::MutexLock lock(&mu_);
          if (stopping_) break;
        }
        if (connection.await_notification(0, kAwaitMicros) > 0) last_heard = absl::Now();
        if (!connection.is_open()) throw pqxx::broken_connection("listener connection closed");
        if (absl::Now() - last_heard >= options_.probe_interval) {
          Probe(connection);
          last_heard = absl::Now();
        }
      }
      absl::MutexLock lock(&mu_);
      listening_ = false;
      return;
    } catch (const std::exception& error) {
      {
        absl::MutexLock lock(&mu_);
        listening_ = false;
      }
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
