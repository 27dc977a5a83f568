// A TCP proxy for tests that need a misbehaving network between a client and
// a server (PostgreSQL): it forwards byte for byte until told to blackhole
// (stop forwarding while keeping the sockets open, as a silent partition
// looks to both ends) or to cut the connections (both sides closed at once).
// A hook sees the client's bytes before they are forwarded and may cut the
// connection right after forwarding them (e.g. after a COMMIT).
#ifndef CAMPAIGN_TESTS_SUPPORT_TCP_PROXY_H_
#define CAMPAIGN_TESTS_SUPPORT_TCP_PROXY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace campaign::testing {

class TcpProxy {
 public:
  // What to do with a connection after forwarding bytes the hook saw.
  enum class Verdict { kForward, kForwardThenCut };
  // Sees each chunk of client->server bytes (in order) before it is
  // forwarded. Called on the proxy's thread; must not call the proxy.
  using ClientBytesHook = std::function<Verdict(absl::string_view bytes)>;

  // Forwards connections made to 127.0.0.1:port() to target_host:target_port.
  // Throws std::runtime_error when it cannot listen.
  TcpProxy(std::string target_host, int target_port);
  // Closes every connection and stops.
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // The local port clients connect to.
  int port() const { return port_; }

  // Stops forwarding on every open connection, in both directions, keeping
  // the sockets open (bytes pile up unread). New connections still forward.
  void BlackholeOpenConnections();
  // Closes both sides of every open connection (at once for both peers).
  void CutOpenConnections();
  // Installs (or, with nullptr, removes) the client-bytes hook.
  void SetClientBytesHook(ClientBytesHook hook);

  // Connections accepted so far, and currently open.
  int64_t accepted() const;
  int open_connections() const;
  // Blocks until `count` connections were accepted or `timeout` passed.
  bool AwaitAccepted(int64_t count, absl::Duration timeout) const;

 private:
  struct Pair {
    int client = -1;
    int server = -1;
    bool blackholed = false;
    bool cut = false;
  };
  void Loop();
  void Wake();
  static void ClosePair(Pair& pair);

  const std::string target_host_;
  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  mutable absl::Mutex mu_;
  std::vector<Pair> pairs_ ABSL_GUARDED_BY(mu_);
  ClientBytesHook hook_ ABSL_GUARDED_BY(mu_);
  int64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// `url` (a postgresql:// URI with host:port) with its port replaced by `port`.
std::string WithPort(const std::string& url, int port);

}  // namespace campaign::testing

#endif  // CAMPAIGN_TESTS_SUPPORT_TCP_PROXY_H_
