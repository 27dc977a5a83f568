// A TCP proxy in front of PostgreSQL for tests that need a commit whose
// outcome the client cannot learn: once armed, the first connection that
// sends a statement containing a marker has its next COMMIT forwarded, the
// server's answer swallowed and both sides closed. libpq then sees the
// connection break during COMMIT (libpqxx: in_doubt_error) although the
// transaction committed. Every other byte is forwarded unchanged.
#ifndef CAMPAIGN_TESTS_SCHEDULER_COMMIT_CUTTING_PROXY_H_
#define CAMPAIGN_TESTS_SCHEDULER_COMMIT_CUTTING_PROXY_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace campaign::testing::sched {

class CommitCuttingProxy {
 public:
  // Proxies to the host and port of the postgresql:// URI `upstream_url`.
  explicit CommitCuttingProxy(const std::string& upstream_url) : upstream_url_(upstream_url) {
    const std::string scheme = "postgresql://";
    std::string rest = upstream_url.substr(scheme.size());
    const size_t at = rest.find('@');
    const size_t host_begin = at == std::string::npos ? 0 : at + 1;
    const size_t slash = rest.find('/', host_begin);
    const std::string authority = rest.substr(host_begin, slash - host_begin);
    const size_t colon = authority.rfind(':');
    upstream_host_ = authority.substr(0, colon);
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(authority.substr(colon + 1), &upstream_port_)) {
      throw std::runtime_error("proxy: upstream URL needs host:port: " + upstream_url);
    }
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof(address);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("proxy: cannot listen");
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }

  ~CommitCuttingProxy() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    std::vector<std::thread> threads;
    {
      absl::MutexLock lock(&mu_);
      threads.swap(threads_);
    }
    for (std::thread& thread : threads) thread.join();
  }

  // `upstream_url` with its host and port replaced by the proxy's.
  std::string url() const {
    const std::string scheme = "postgresql://";
    std::string rest = upstream_url_.substr(scheme.size());
    const size_t at = rest.find('@');
    const size_t host_begin = at == std::string::npos ? 0 : at + 1;
    const size_t slash = rest.find('/', host_begin);
    return absl::StrCat(scheme, rest.substr(0, host_begin), "127.0.0.1:", port_,
                        slash == std::string::npos ? "" : rest.substr(slash));
  }

  // Cuts the COMMIT of the next transaction that sends `marker` (once).
  void Arm(const std::string& marker) {
    absl::MutexLock lock(&mu_);
    marker_ = marker;
    armed_ = true;
  }

  // How many commits were cut.
  int cuts() const { return cuts_.load(); }

 private:
  void Accept() {
    while (!stopping_) {
      const int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      if (stopping_) {
        close(client);
        break;
      }
      absl::MutexLock lock(&mu_);
      threads_.emplace_back([this, client] { Serve(client); });
    }
  }

  int ConnectUpstream() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    inet_pton(AF_INET, upstream_host_ == "localhost" ? "127.0.0.1" : upstream_host_.c_str(),
              &address.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  static bool SendAll(int fd, const char* data, size_t size) {
    while (size > 0) {
      const ssize_t sent = send(fd, data, size, MSG_NOSIGNAL);
      if (sent <= 0) return false;
      data += sent;
      size -= static_cast<size_t>(sent);
    }
    return true;
  }

  void Serve(int client) {
    const int server = ConnectUpstream();
    if (server < 0) {
      close(client);
      return;
    }
    // The last bytes the client sent, so a marker split across reads is seen.
    std::string window;
    bool marked = false;
    char buffer[65536];
    for (;;) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (poll(fds, 2, 200) < 0) break;
      if (stopping_) break;
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t got = recv(client, buffer, sizeof(buffer), 0);
        if (got <= 0) break;
        window.append(buffer, static_cast<size_t>(got));
        bool cut = false;
        {
          absl::MutexLock lock(&mu_);
          const size_t at = armed_ && !marked ? window.find(marker_) : std::string::npos;
          if (at != std::string::npos) {
            // Only a COMMIT sent after the marker counts (not an earlier
            // transaction's on this pooled connection).
            marked = true;
            armed_ = false;
            window.erase(0, at + marker_.size());
          }
          cut = marked && window.find("COMMIT") != std::string::npos;
        }
        if (!SendAll(server, buffer, static_cast<size_t>(got))) break;
        if (cut) {
          // Let the server commit and answer, then drop the answer.
          pollfd answer{server, POLLIN, 0};
          if (poll(&answer, 1, 10'000) > 0) (void)recv(server, buffer, sizeof(buffer), 0);
          ++cuts_;
          break;
        }
        if (window.size() > 4096) window.erase(0, window.size() - 256);
      }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t got = recv(server, buffer, sizeof(buffer), 0);
        if (got <= 0) break;
        if (!SendAll(client, buffer, static_cast<size_t>(got))) break;
      }
    }
    close(client);
    close(server);
  }

  const std::string upstream_url_;
  std::string upstream_host_;
  int upstream_port_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> cuts_{0};
  absl::Mutex mu_;
  std::string marker_ ABSL_GUARDED_BY(mu_);
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::thread acceptor_;
};

}  // namespace campaign::testing::sched

#endif  // CAMPAIGN_TESTS_SCHEDULER_COMMIT_CUTTING_PROXY_H_
