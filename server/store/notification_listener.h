// The process's one LISTEN connection: receives run_progress notifications
// and hands them on (to the progress hub). Reconnects with backoff when the
// connection drops, then says so, so that the receiver can refresh what a
// change committed meanwhile would have told it. Lives in the store because
// it is libpqxx code.
#ifndef CAMPAIGN_SERVER_STORE_NOTIFICATION_LISTENER_H_
#define CAMPAIGN_SERVER_STORE_NOTIFICATION_LISTENER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pqxx {
class connection_base;
}  // namespace pqxx

namespace campaign::store {

// The notification channel the migrations' trigger notifies on.
inline constexpr char kProgressChannel[] = "run_progress";
// application_name of the listening connection (visible in
// pg_stat_activity).
inline constexpr char kListenerApplicationName[] = "campaignd-listener";

// A parsed notification payload "<business_id>:<run_id>:<version>".
struct RunNotification {
  int64_t business_id = 0;
  int64_t run_id = 0;
  int64_t version = 0;
};

// Parses a payload; nullopt when malformed.
std::optional<RunNotification> ParseNotification(absl::string_view payload);

// `url` (a postgresql:// URI or a key=value string) with application_name
// set to `name`.
std::string WithApplicationName(const std::string& url, absl::string_view name);

// Where a NotificationListener delivers; both are called on its thread.
struct ListenerCallbacks {
  // A notification of a committed run change.
  std::function<void(const RunNotification&)> on_notification;
  // The connection is (again) listening: changes committed while it was not
  // were not notified to this process.
  std::function<void()> on_listening;
};

// Settings of a NotificationListener.
struct ListenerOptions {
  // First and largest wait between reconnection attempts.
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // After this long without hearing from the database the listener probes
  // its connection with a query; a probe unanswered within probe_timeout
  // counts as a lost connection (a silent network partition otherwise goes
  // unnoticed until TCP gives up, which can take hours).
  absl::Duration probe_interval = absl::Seconds(5);
  absl::Duration probe_timeout = absl::Seconds(5);
};

// Connection settings of the LISTEN connection that a partition cannot hang
// for long: TCP keepalives, a TCP user timeout and a connect timeout, each
// added only where `url` sets none.
std::string WithListenerKeepalives(const std::string& url);

// Owns the LISTEN connection and its thread.
class NotificationListener {
 public:
  NotificationListener(std::string database_url, ListenerCallbacks callbacks,
                       ListenerOptions options = {});
  // Stops.
  ~NotificationListener();
  NotificationListener(const NotificationListener&) = delete;
  NotificationListener& operator=(const NotificationListener&) = delete;

  // Starts the thread (it connects in the background).
  void Start();
  // Stops the thread and closes the connection; idempotent.
  void Stop();

  // Whether the connection is currently listening.
  bool listening() const;
  // How many times the connection was (re)established.
  int64_t connections() const;
  // Blocks until the connection has been established at least `count` times
  // or `timeout` passed; true when it was.
  bool AwaitConnections(int64_t count, absl::Duration timeout) const;

 private:
  void Run();
  // Waits up to `delay` unless stopping; false when stopping.
  bool Sleep(absl::Duration delay);
  // Runs a query on `connection` under the watchdog; throws
  // pqxx::broken_connection when it fails or takes over probe_timeout.
  void Probe(pqxx::connection_base& connection);
  // The watchdog thread: shuts down the socket of a probe that overran its
  // deadline, which makes the blocked query fail at once.
  void Watchdog();

  const std::string url_;
  const ListenerCallbacks callbacks_;
  const ListenerOptions options_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool listening_ ABSL_GUARDED_BY(mu_) = false;
  int64_t connections_ ABSL_GUARDED_BY(mu_) = 0;
  // The socket of the probe in progress (-1: none), its deadline, and
  // whether the watchdog cut it.
  int probe_socket_ ABSL_GUARDED_BY(mu_) = -1;
  absl::Time probe_deadline_ ABSL_GUARDED_BY(mu_);
  bool probe_cut_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
  std::thread watchdog_;
};

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_NOTIFICATION_LISTENER_H_
