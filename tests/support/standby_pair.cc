#include "tests/support/standby_pair.h"

#include <unistd.h>

#include <cstdlib>
#include <pqxx/pqxx>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/store/embedded_migrations.h"
#include "server/store/migrator.h"
#include "tests/support/ports.h"

namespace campaign::testing {
namespace {

constexpr char kBin[] = "/usr/lib/postgresql/15/bin";

std::string Url(int port, const std::string& user, const std::string& database) {
  return absl::StrCat("postgresql://", user, "@127.0.0.1:", port, "/", database);
}

}  // namespace

void StandbyPair::Run(const std::string& command) const {
  const std::string logged = absl::StrCat(command, " >>", dir_, "/commands.log 2>&1");
  if (std::system(logged.c_str()) != 0) {
    throw std::runtime_error(absl::StrCat("standby pair: failed: ", command, " (see ", dir_,
                                          "/commands.log and the server logs there)"));
  }
}

void StandbyPair::StartServer(const std::string& datadir, int port,
                              const std::string& extra) const {
  Run(absl::StrCat("runuser -u postgres -- ", kBin, "/pg_ctl -D ", datadir, " -l ", datadir,
                   ".log -w -t 60 start -o \"-c port=", port,
                   " -c listen_addresses=127.0.0.1 -c unix_socket_directories=", dir_,
                   " -c shared_buffers=16MB -c max_connections=60 -c fsync=off ", extra, "\""));
}

StandbyPair::StandbyPair() {
  char pattern[] = "/tmp/campaign-standby-XXXXXX";
  if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  primary_port_ = FreeLoopbackPort();
  standby_port_ = FreeLoopbackPort();
  while (standby_port_ == primary_port_) standby_port_ = FreeLoopbackPort();
  Run(absl::StrCat("chown postgres:postgres ", dir_));
  const std::string primary = absl::StrCat(dir_, "/primary");
  const std::string standby = absl::StrCat(dir_, "/standby");
  Run(absl::StrCat("runuser -u postgres -- ", kBin, "/initdb -D ", primary,
                   " -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions"));
  StartServer(primary, primary_port_, "-c wal_level=replica -c max_wal_senders=4");
  // A checkpoint first: the base backup then starts at once rather than
  // waiting for the next spread checkpoint.
  ExecAsAdmin("CHECKPOINT");
  Run(absl::StrCat("runuser -u postgres -- ", kBin, "/pg_basebackup -D ", standby,
                   " -R -X stream -c fast -d 'host=127.0.0.1 port=", primary_port_,
                   " user=postgres application_name=", kStandbyName, "'"));
  StartServer(standby, standby_port_, "-c hot_standby=on");
  SetSynchronous(true);
  const std::string postgres = Url(primary_port_, "postgres", "postgres");
  {
    pqxx::connection connection(postgres);
    pqxx::nontransaction txn(connection);
    txn.exec(absl::StrCat("CREATE ROLE ", kAppRole, " LOGIN NOSUPERUSER NOBYPASSRLS"));
    txn.exec(absl::StrCat("CREATE DATABASE campaign OWNER ", kAppRole));
  }
  app_url_ = Url(primary_port_, kAppRole, "campaign");
  admin_url_ = Url(primary_port_, "postgres", "campaign");
  absl::StatusOr<store::MigrationReport> report =
      store::Migrate(app_url_, store::EmbeddedMigrations());
  if (!report.ok()) throw std::runtime_error(report.status().ToString());
}

StandbyPair::~StandbyPair() {
  for (const char* server : {"standby", "primary"}) {
    const std::string command = absl::StrCat("runuser -u postgres -- ", kBin, "/pg_ctl -D ", dir_,
                                             "/", server, " -m immediate -w stop >/dev/null 2>&1");
    (void)std::system(command.c_str());
  }
  if (!dir_.empty() && dir_.rfind("/tmp/campaign-standby-", 0) == 0) {
    (void)std::system(absl::StrCat("rm -rf ", dir_).c_str());
  }
}

void StandbyPair::ExecAsAdmin(const std::string& sql) const {
  pqxx::connection connection(admin_url_.empty() ? Url(primary_port_, "postgres", "postgres")
                                                 : admin_url_);
  pqxx::nontransaction txn(connection);
  txn.exec(sql);
}

std::string StandbyPair::QueryText(const std::string& sql) const {
  pqxx::connection connection(admin_url_);
  pqxx::nontransaction txn(connection);
  const pqxx::row row = txn.exec1(sql);
  return row[0].is_null() ? "" : row[0].as<std::string>();
}

void StandbyPair::SetSynchronous(bool on, absl::Duration timeout) {
  pqxx::connection connection(Url(primary_port_, "postgres", "postgres"));
  pqxx::nontransaction txn(connection);
  txn.exec(
      absl::StrCat("ALTER SYSTEM SET synchronous_standby_names = '", on ? kStandbyName : "", "'"));
  txn.exec("SELECT pg_reload_conf()");
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    const bool sync = txn.exec1(absl::StrCat(
        "SELECT count(*) > 0 FROM pg_stat_replication WHERE "
        "application_name = '",
        kStandbyName, "' AND state = 'streaming' AND sync_state = 'sync'"))[0]
                          .as<bool>();
    if (sync == on) return;
    if (absl::Now() > deadline) {
      throw std::runtime_error(absl::StrCat("standby pair: synchronous replication not ",
                                            on ? "on" : "off", " after ",
                                            absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

void StandbyPair::StopStandby() {
  Run(absl::StrCat("runuser -u postgres -- ", kBin, "/pg_ctl -D ", dir_,
                   "/standby -m fast -w stop"));
}

void StandbyPair::StartStandby(absl::Duration timeout) {
  StartServer(absl::StrCat(dir_, "/standby"), standby_port_, "-c hot_standby=on");
  pqxx::connection connection(Url(primary_port_, "postgres", "postgres"));
  pqxx::nontransaction txn(connection);
  const absl::Time deadline = absl::Now() + timeout;
  while (txn.exec1("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")[0]
             .as<int>() == 0) {
    if (absl::Now() > deadline) throw std::runtime_error("standby pair: standby not streaming");
    absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace campaign::testing
