// A throwaway PostgreSQL primary with one streaming standby, on free
// loopback ports, for the replication tier (label `replication`): initdb as
// postgres (small shared_buffers, wal_level=replica), a CHECKPOINT, then
// pg_basebackup -R of the primary and the standby started on it with
// application_name `standby1`; synchronous replication is then turned on
// (synchronous_standby_names = 'standby1'). A migrated database owned by a
// plain login role (no superuser, no BYPASSRLS, like the service's) is
// created on it. Everything is stopped and removed on destruction. Failures
// throw std::runtime_error: a test that cannot get its standby fails loudly.
#ifndef CAMPAIGN_TESTS_SUPPORT_STANDBY_PAIR_H_
#define CAMPAIGN_TESTS_SUPPORT_STANDBY_PAIR_H_

#include <string>

#include "absl/time/time.h"

namespace campaign::testing {

class StandbyPair {
 public:
  // The application_name the standby streams as.
  static constexpr char kStandbyName[] = "standby1";
  // The service's role on the primary.
  static constexpr char kAppRole[] = "campaign_repl_app";

  // Builds and starts both servers, migrates the database; throws on failure.
  StandbyPair();
  // Stops both servers (immediate) and removes their directory.
  ~StandbyPair();
  StandbyPair(const StandbyPair&) = delete;
  StandbyPair& operator=(const StandbyPair&) = delete;

  // The database on the primary as the service's role, and as postgres.
  const std::string& app_url() const { return app_url_; }
  const std::string& admin_url() const { return admin_url_; }

  // Runs SQL on the primary's database as postgres.
  void ExecAsAdmin(const std::string& sql) const;
  // One text value (empty for NULL) of a query on the primary, as postgres.
  std::string QueryText(const std::string& sql) const;

  // Turns synchronous replication on (synchronous_standby_names =
  // 'standby1') or off ('', as pg_auto_failover's wait_primary does) with
  // ALTER SYSTEM and pg_reload_conf(); returns once pg_stat_replication
  // shows the standby as sync (on, when it is streaming) or shows no
  // synchronous standby (off). Throws after `timeout`.
  void SetSynchronous(bool on, absl::Duration timeout = absl::Seconds(30));
  // Stops the standby (fast) / starts it again; Start waits until it
  // streams again.
  void StopStandby();
  void StartStandby(absl::Duration timeout = absl::Seconds(30));

 private:
  void Run(const std::string& command) const;
  void StartServer(const std::string& datadir, int port, const std::string& extra) const;

  std::string dir_;
  int primary_port_ = 0;
  int standby_port_ = 0;
  std::string app_url_;
  std::string admin_url_;
};

}  // namespace campaign::testing

#endif  // CAMPAIGN_TESTS_SUPPORT_STANDBY_PAIR_H_
