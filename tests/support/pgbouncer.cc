#include "tests/support/pgbouncer.h"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/support/ports.h"
#include "tests/support/tcp_proxy.h"
#include "tests/support/test_database.h"

namespace campaign::testing {
namespace {

constexpr char kPgBouncer[] = "/usr/sbin/pgbouncer";

// True when 127.0.0.1:`port` accepts a TCP connection.
bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return connected;
}

// host and port of a postgresql://user@host:port/db URI.
std::pair<std::string, std::string> HostAndPort(const std::string& url) {
  const size_t at = url.find('@'), colon = url.rfind(':'), slash = url.rfind('/');
  if (at == std::string::npos || colon == std::string::npos || slash == std::string::npos ||
      colon < at) {
    throw std::runtime_error("CAMPAIGN_TEST_ADMIN_URL must be postgresql://user@host:port/db");
  }
  return {url.substr(at + 1, colon - at - 1), url.substr(colon + 1, slash - colon - 1)};
}

}  // namespace

PgBouncer::PgBouncer(PgBouncerOptions options) : options_(std::move(options)) {
  if (access(kPgBouncer, X_OK) != 0) {
    throw std::runtime_error(absl::StrCat(kPgBouncer, " is missing: install Debian's pgbouncer"));
  }
  const passwd* postgres = getpwnam("postgres");
  if (postgres == nullptr) throw std::runtime_error("no postgres user to run pgbouncer as");
  const uid_t uid = postgres->pw_uid;
  const gid_t gid = postgres->pw_gid;
  const auto [host, server_port] = HostAndPort(TestDatabase::ServerAdminUrl());

  char dir_template[] = "/tmp/campaign-pgbouncer-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = dir_template;
  if (chown(dir_.c_str(), uid, gid) != 0) throw std::runtime_error("chown of pgbouncer dir failed");
  {
    std::ofstream users(dir_ + "/userlist.txt");
    users << "\"postgres\" \"\"\n\"" << kAppRole << "\" \"\"\n";
  }
  for (int attempt = 1; attempt <= 3 && pid_ < 0; ++attempt) {
    port_ = FreeLoopbackPort();  // a start that loses the race is retried
    {
      std::ofstream ini(dir_ + "/pgbouncer.ini");
      ini << "[databases]\n"
          << "* = host=" << host << " port=" << server_port << "\n"
          << "[pgbouncer]\n"
          << "listen_addr = 127.0.0.1\n"
          << "listen_port = " << port_ << "\n"
          << "unix_socket_dir =\n"
          << "auth_type = trust\n"
          << "auth_file = " << dir_ << "/userlist.txt\n"
          << "pool_mode = " << options_.pool_mode << "\n"
          << "default_pool_size = " << options_.pool_size << "\n"
          << "min_pool_size = 0\n"
          << "reserve_pool_size = 0\n"
          << "max_client_conn = 500\n"
          << "admin_users = postgres\n"
          << "logfile = " << dir_ << "/pgbouncer.log\n"
          << "pidfile = " << dir_ << "/pgbouncer.pid\n";
    }
    for (const char* file : {"/userlist.txt", "/pgbouncer.ini"}) {
      const std::string path = dir_ + file;
      if (chown(path.c_str(), uid, gid) != 0) throw std::runtime_error("chown failed");
    }
    const std::string ini_path = dir_ + "/pgbouncer.ini";
    const pid_t child = fork();
    if (child < 0) throw std::runtime_error("fork failed");
    if (child == 0) {
      // Only async-signal-safe calls until exec.
      const int null_fd = open("/dev/null", O_RDWR);
      if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
      }
      if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(126);
      execl(kPgBouncer, kPgBouncer, "-q", ini_path.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Ready once it accepts connections; a lost port race makes it exit.
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    bool ready = false;
    while (absl::Now() < deadline) {
      int status = 0;
      if (waitpid(child, &status, WNOHANG) == child) break;
      if (Accepts(port_)) {
        ready = true;
        break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (ready) {
      pid_ = child;
    } else {
      kill(child, SIGKILL);
      waitpid(child, nullptr, 0);
    }
  }
  if (pid_ < 0) {
    const std::string log = Log();
    std::filesystem::remove_all(dir_);
    throw std::runtime_error(absl::StrCat("pgbouncer did not start; its log:\n", log));
  }
}

PgBouncer::~PgBouncer() {
  if (pid_ > 0) {
    // SIGTERM: immediate shutdown (SIGINT would wait for clients).
    kill(pid_, SIGTERM);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string PgBouncer::Through(const std::string& url) const { return WithPort(url, port_); }

std::string PgBouncer::Log() const {
  std::ifstream file(dir_ + "/pgbouncer.log");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace campaign::testing
