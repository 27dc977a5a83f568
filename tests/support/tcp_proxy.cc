#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "absl/strings/str_cat.h"

namespace campaign::testing {
namespace {

// Writes all of `data`; false when the peer is gone.
bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t written = ::send(fd, data, size, MSG_NOSIGNAL);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data += written;
    size -= static_cast<size_t>(written);
  }
  return true;
}

int ConnectTo(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* info = found; info != nullptr; info = info->ai_next) {
    fd = ::socket(info->ai_family, info->ai_socktype | SOCK_CLOEXEC, info->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, info->ai_addr, info->ai_addrlen) == 0) break;
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  return fd;
}

}  // namespace

TcpProxy::TcpProxy(std::string target_host, int target_port)
    : target_host_(std::move(target_host)), target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (listen_fd_ < 0 ||
      ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      ::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::runtime_error(absl::StrCat("tcp proxy: cannot listen: ", std::strerror(errno)));
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { Loop(); });
}

TcpProxy::~TcpProxy() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  Wake();
  thread_.join();
  absl::MutexLock lock(&mu_);
  for (Pair& pair : pairs_) ClosePair(pair);
  pairs_.clear();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void TcpProxy::Wake() {
  const char byte = 0;
  (void)!::write(wake_[1], &byte, 1);
}

void TcpProxy::ClosePair(Pair& pair) {
  if (pair.client >= 0) ::close(pair.client);
  if (pair.server >= 0) ::close(pair.server);
  pair.client = pair.server = -1;
}

void TcpProxy::BlackholeOpenConnections() {
  // The loop forwards under mu_: once this returns, nothing more is forwarded.
  absl::MutexLock lock(&mu_);
  for (Pair& pair : pairs_) pair.blackholed = true;
  Wake();
}

void TcpProxy::CutOpenConnections() {
  absl::MutexLock lock(&mu_);
  for (Pair& pair : pairs_) {
    // Both ends see the connection end at once; the loop closes the
    // descriptors (it may be polling them right now).
    ::shutdown(pair.client, SHUT_RDWR);
    ::shutdown(pair.server, SHUT_RDWR);
    pair.cut = true;
  }
  Wake();
}

void TcpProxy::SetClientBytesHook(ClientBytesHook hook) {
  absl::MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

int64_t TcpProxy::accepted() const {
  absl::MutexLock lock(&mu_);
  return accepted_;
}

int TcpProxy::open_connections() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(pairs_.size());
}

bool TcpProxy::AwaitAccepted(int64_t count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return accepted_ >= count; };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

void TcpProxy::Loop() {
  std::vector<pollfd> fds;
  // (client fd, whether it is the client side) for fds[2...].
  std::vector<std::pair<int, bool>> owners;
  char buffer[64 * 1024];
  while (true) {
    fds.clear();
    owners.clear();
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      for (Pair& pair : pairs_) {
        if (pair.cut) ClosePair(pair);
      }
      pairs_.erase(std::remove_if(pairs_.begin(), pairs_.end(),
                                  [](const Pair& pair) { return pair.client < 0; }),
                   pairs_.end());
      for (const Pair& pair : pairs_) {
        if (pair.blackholed) continue;
        fds.push_back({pair.client, POLLIN, 0});
        owners.emplace_back(pair.client, true);
        fds.push_back({pair.server, POLLIN, 0});
        owners.emplace_back(pair.client, false);
      }
    }
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) {
      while (::read(wake_[0], buffer, sizeof(buffer)) > 0) {
      }
    }
    if (fds[1].revents & POLLIN) {
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        const int server = ConnectTo(target_host_, target_port_);
        absl::MutexLock lock(&mu_);
        ++accepted_;
        if (server < 0) {
          ::close(client);
        } else {
          pairs_.push_back(Pair{client, server});
        }
      }
    }
    absl::MutexLock lock(&mu_);
    for (size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      auto pair = std::find_if(pairs_.begin(), pairs_.end(),
                               [&](const Pair& p) { return p.client == owners[i - 2].first; });
      // Gone, cut or blackholed since the poll: forward nothing.
      if (pair == pairs_.end() || pair->blackholed || pair->cut) continue;
      const bool from_client = owners[i - 2].second;
      const int from = from_client ? pair->client : pair->server;
      const int to = from_client ? pair->server : pair->client;
      const ssize_t got = ::recv(from, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      bool keep = got > 0;
      Verdict verdict = Verdict::kForward;
      if (keep && from_client && hook_) verdict = hook_(absl::string_view(buffer, got));
      if (keep) keep = WriteAll(to, buffer, static_cast<size_t>(got));
      if (verdict == Verdict::kForwardThenCut) keep = false;
      if (!keep) {
        ClosePair(*pair);
        pairs_.erase(pair);
      }
    }
  }
}

std::string WithPort(const std::string& url, int port) {
  const size_t scheme = url.find("://");
  const size_t authority = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t end = url.find_first_of("/?", authority);
  const size_t host_end = end == std::string::npos ? url.size() : end;
  const size_t at = url.rfind('@', host_end);
  const size_t host_start = at == std::string::npos || at < authority ? authority : at + 1;
  const size_t colon = url.rfind(':', host_end);
  const size_t cut = colon == std::string::npos || colon < host_start ? host_end : colon;
  return absl::StrCat(url.substr(0, cut), ":", port, url.substr(host_end));
}

}  // namespace campaign::testing
