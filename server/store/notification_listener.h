// The process's one LISTEN connection: receives run_progress notifications
// and hands them on (to the progress hub). Reconnects with backoff when the
// connection drops, then says so, so that the receiver can refresh what a
// change committed meanwhile would have told it. Proves that it still
// receives with a periodic self-NOTIFY on a channel of its own that must come
// back within a bound: a LISTEN made through a transaction-pooling pooler
// (PgBouncer) or a silently partitioned connection is noticed, logged and
// replaced. Lives in the store because it is libpqxx code.
#ifndef CAMPAIGN_SERVER_STORE_NOTIFICATION_LISTENER_H_
#define CAMPAIGN_SERVER_STORE_NOTIFICATION_LISTENER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pqxx {
class connection_base;
}  // namespace pqxx

namespace campaign::store {

// The notification channel the migrations' trigger notifies on.
inline constexpr char kProgressChannel[] = "run_progress";
// The channel of the listener's liveness probe: every process listens on it
// and ignores the payloads of others.
inline constexpr char kProbeChannel[] = "campaign_listener_probe";
// The gRPC health service name under which campaignd reports the listener
// (SERVING while its last probe came back): a detail besides the overall
// status, which follows the database alone.
inline constexpr char kListenerHealthService[] = "campaignd.progress_listener";
// application_name of the listening connection (visible in
// pg_stat_activity).
inline constexpr char kListenerApplicationName[] = "campaignd-listener";

class Database;

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

// Sends NOTIFY `channel`, `payload` in a transaction of `database`'s pool:
// the path the run notifications take (a ListenerCallbacks::send_probe).
absl::Status NotifyThroughPool(Database& database, absl::string_view channel,
                               absl::string_view payload);

// Where a NotificationListener delivers; all are called on its thread.
struct ListenerCallbacks {
  // A notification of a committed run change.
  std::function<void(const RunNotification&)> on_notification;
  // The connection is (again) listening: changes committed while it was not
  // were not notified to this process.
  std::function<void()> on_listening;
  // Sends the liveness probe's NOTIFY. It should take the path the run
  // notifications take (the service's pool: NotifyThroughPool), so that it
  // tests that path; when null, or when it fails, the probe is sent on the
  // listening connection itself (which tests only that connection).
  std::function<absl::Status(absl::string_view channel, absl::string_view payload)> send_probe;
  // A probe came back (true) or did not within probe_timeout (false; the
  // listener then reconnects). Optional (metrics).
  std::function<void(bool came_back)> on_probe;
};

// Settings of a NotificationListener.
struct ListenerOptions {
  // First and largest wait between reconnection attempts.
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Right after each (re)connect and then every probe_interval the listener
  // sends a NOTIFY on kProbeChannel with a payload unique to this process and
  // probe; when it has not come back on the listening connection within
  // probe_timeout, the connection counts as lost (a silent network partition
  // otherwise goes unnoticed until TCP gives up, which can take hours; a
  // LISTEN through a transaction pooler never receives anything).
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
  // Whether it is listening and its last liveness probe came back (false
  // before the first probe of a connection returned).
  bool healthy() const;
  // Probes that did not come back in time, since Start.
  int64_t probe_failures() const;
  // How many times the connection was (re)established.
  int64_t connections() const;
  // Blocks until the connection has been established at least `count` times
  // or `timeout` passed; true when it was.
  bool AwaitConnections(int64_t count, absl::Duration timeout) const;

 private:
  void Run();
  // Waits up to `delay` unless stopping; false when stopping.
  bool Sleep(absl::Duration delay);
  // Runs `query` on `connection` under the watchdog; throws
  // pqxx::broken_connection when it fails or takes over probe_timeout.
  void ExecUnderWatchdog(pqxx::connection_base& connection,
                         const std::function<void(pqxx::connection_base&)>& query);
  // Sends the next probe (listener thread).
  void SendProbe(pqxx::connection_base& connection);
  // The probe in flight did not come back: logs why (listener thread).
  void ReportLostProbe(pqxx::connection_base& connection);
  // Records a probe's result.
  void ProbeFinished(bool came_back);
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
  bool healthy_ ABSL_GUARDED_BY(mu_) = false;
  int64_t probe_failures_ ABSL_GUARDED_BY(mu_) = 0;
  // Probe state, listener thread only: this process's payload prefix, the
  // number of probes sent, the payload awaited ("" when none is in flight),
  // whether it came back, failures in a row.
  const std::string probe_prefix_;
  int64_t probes_sent_ = 0;
  std::string awaited_payload_;
  bool probe_returned_ = false;
  int64_t failures_in_a_row_ = 0;
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
