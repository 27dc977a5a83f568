// The campaignd binary: its key-management subcommands, configuration by
// flags and environment, the one-line errors of bad configuration, and a real
// `campaignd serve` process that answers calls and stops cleanly on SIGTERM.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
#include "tests/support/ports.h"
#include "tests/support/test_server.h"

extern char** environ;

namespace campaign::testing {
namespace {

namespace pb = ::outbound::v1;
using grpc::StatusCode;

// A URL nothing listens on.
constexpr char kDeadDatabaseUrl[] = "postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2";

// The non-empty lines of `text`.
std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// Asserts a failed command: non-zero exit, exactly one stderr line, naming
// every part.
void ExpectOneLineFailure(const ProcessResult& result, const std::vector<std::string>& parts) {
  EXPECT_NE(result.exit_code, 0) << result.out;
  EXPECT_TRUE(result.out.empty()) << result.out;
  const std::vector<std::string> lines = Lines(result.err);
  EXPECT_EQ(lines.size(), 1u) << result.err;
  for (const std::string& part : parts) {
    EXPECT_TRUE(absl::StrContains(result.err, part))
        << "stderr \"" << result.err << "\" does not name \"" << part << "\"";
  }
}

pb::CreateRunRequest SmallRequest(const std::string& request_id) {
  pb::CreateRunRequest request;
  request.set_request_id(request_id);
  request.set_concurrency(1);
  pb::Lead* lead = request.add_leads();
  lead->set_lead_id(1);
  lead->set_phone("+14155550101");
  return request;
}

// A migrated database and its URL, as campaignd's commands use it.
class CampaigndTest : public ::testing::Test {
 protected:
  CampaigndTest() { db_.Migrate(); }

  // Runs campaignd with the database URL flag and no environment fallback.
  ProcessResult Run(std::vector<std::string> args) {
    args.push_back("--database-url");
    args.push_back(db_.app_url());
    return RunCampaignd(args, {{"CAMPAIGN_DATABASE_URL", ""}});
  }

  // `create-business`; returns the printed id.
  int64_t CreateBusiness(const std::string& name) {
    const ProcessResult result = Run({"create-business", "--name", name});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    int64_t id = 0;
    EXPECT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(result.out), &id)) << result.out;
    return id;
  }

  // Whether `key` authenticates on a server of this database (auth cache
  // off, so the answer is the database's current one).
  grpc::StatusCode ListRunsWith(const std::string& key, const std::string& business = "") {
    if (!server_) {
      app::ServerConfig config;
      config.auth_cache_ttl = absl::ZeroDuration();
      server_ = std::make_unique<TestServer>(db_, config);
    }
    pb::ListRunsResponse response;
    return server_->stub()
        .ListRuns(CallContext(key, business).get(), pb::ListRunsRequest(), &response)
        .error_code();
  }

  TestDatabase db_;
  std::unique_ptr<TestServer> server_;
};

// create-business prints only the new id (logs go to stderr) and stores the
// name.
TEST_F(CampaigndTest, CreateBusinessPrintsOnlyTheId) {
  const ProcessResult result = Run({"create-business", "--name", "Acme Calls"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  ASSERT_EQ(Lines(result.out).size(), 1u) << result.out;
  int64_t id = 0;
  ASSERT_TRUE(absl::SimpleAtoi(Lines(result.out)[0], &id)) << result.out;
  EXPECT_EQ(result.out, absl::StrCat(id, "\n"));
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM business WHERE id = ", id,
                                      " AND name = 'Acme Calls'")),
            1);
}

// create-api-key prints one "ocs_" key, stores only its hash with the role,
// user and label, and the key acts for its business and user on a server.
TEST_F(CampaigndTest, CreateApiKeyPrintsAWorkingKey) {
  const int64_t business = CreateBusiness("acme");
  const ProcessResult result = Run({"create-api-key", "--business-id", absl::StrCat(business),
                                    "--role", "owner", "--user-id", "7", "--label", "l"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  ASSERT_EQ(Lines(result.out).size(), 1u) << result.out;
  const std::string key = Lines(result.out)[0];
  EXPECT_TRUE(absl::StartsWith(key, "ocs_")) << key;
  EXPECT_GT(key.size(), 20u);

  EXPECT_EQ(db_.QueryInt(absl::StrCat(
                "SELECT count(*) FROM api_keys WHERE key_hash = encode(sha256(convert_to('", key,
                "', 'UTF8')), 'hex') AND role = 'owner' AND user_id = 7 AND label = 'l'"
                " AND business_id = ",
                business)),
            1);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM api_keys WHERE key_hash = '", key,
                                      "' OR label = '", key, "'")),
            0);

  ASSERT_EQ(ListRunsWith(key), StatusCode::OK);
  pb::CreateRunResponse response;
  const grpc::Status status =
      server_->stub().CreateRun(CallContext(key).get(), SmallRequest("cli-key"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.run().business_id(), business);
  EXPECT_EQ(response.run().created_by_user_id(), 7);
}

// A system_admin key needs no business and works when it names one.
TEST_F(CampaigndTest, CreateApiKeyForSystemAdminNeedsNoBusiness) {
  const int64_t business = CreateBusiness("acme");
  const ProcessResult result = Run({"create-api-key", "--role", "system_admin"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  ASSERT_EQ(Lines(result.out).size(), 1u) << result.out;
  const std::string key = Lines(result.out)[0];
  EXPECT_TRUE(absl::StartsWith(key, "ocs_")) << key;
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM api_keys WHERE role = 'system_admin' AND "
                         "business_id IS NULL"),
            1);
  EXPECT_EQ(ListRunsWith(key), StatusCode::OK);
  EXPECT_EQ(ListRunsWith(key, absl::StrCat(business)), StatusCode::OK);
}

// Bad create-api-key arguments fail with one stderr line naming the problem
// and create no key.
TEST_F(CampaigndTest, CreateApiKeyRefusesBadArgumentsInOneLine) {
  const int64_t business = CreateBusiness("acme");
  ExpectOneLineFailure(Run({"create-api-key", "--role", "owner"}), {"--business-id"});
  ExpectOneLineFailure(
      Run({"create-api-key", "--business-id", absl::StrCat(business), "--role", "wizard"}),
      {"--role", "wizard"});
  ExpectOneLineFailure(Run({"create-api-key", "--business-id", "999999", "--role", "owner"}),
                       {"business 999999"});
  ExpectOneLineFailure(
      Run({"create-api-key", "--business-id", absl::StrCat(business), "--role", "system_admin"}),
      {"system_admin", "--business-id"});
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM api_keys"), 0);
}

// revoke-api-key revokes: the key worked, then is refused; an unknown id is
// an error.
TEST_F(CampaigndTest, RevokeApiKeyRefusesTheKeyFromThenOn) {
  const int64_t business = CreateBusiness("acme");
  const ProcessResult created = Run({"create-api-key", "--business-id", absl::StrCat(business),
                                     "--role", "admin", "--label", "to-revoke"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string key = Lines(created.out).at(0);
  const int64_t id = db_.QueryInt("SELECT id FROM api_keys WHERE label = 'to-revoke'");
  ASSERT_EQ(ListRunsWith(key), StatusCode::OK);

  const ProcessResult revoked = Run({"revoke-api-key", "--id", absl::StrCat(id)});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_TRUE(revoked.out.empty()) << revoked.out;
  EXPECT_EQ(ListRunsWith(key), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM api_keys WHERE id = ", id,
                                      " AND revoked_at IS NOT NULL")),
            1);

  ExpectOneLineFailure(Run({"revoke-api-key", "--id", "987654"}), {"987654"});
}

// CAMPAIGN_DATABASE_URL is the fallback of --database-url; the flag wins
// when both are given (in both directions); neither is a one-line error
// naming --database-url.
TEST_F(CampaigndTest, DatabaseUrlComesFromTheFlagOrTheEnvironment) {
  const ProcessResult from_env = RunCampaignd({"create-business", "--name", "from-env"},
                                              {{"CAMPAIGN_DATABASE_URL", db_.app_url()}});
  ASSERT_EQ(from_env.exit_code, 0) << from_env.err;
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM business WHERE name = 'from-env'"), 1);

  const ProcessResult flag_wins =
      RunCampaignd({"create-business", "--name", "flag-wins", "--database-url", db_.app_url()},
                   {{"CAMPAIGN_DATABASE_URL", kDeadDatabaseUrl}});
  ASSERT_EQ(flag_wins.exit_code, 0) << flag_wins.err;
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM business WHERE name = 'flag-wins'"), 1);

  const ProcessResult dead_flag =
      RunCampaignd({"create-business", "--name", "dead-flag", "--database-url", kDeadDatabaseUrl},
                   {{"CAMPAIGN_DATABASE_URL", db_.app_url()}});
  EXPECT_NE(dead_flag.exit_code, 0);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM business WHERE name = 'dead-flag'"), 0);

  const ProcessResult missing =
      RunCampaignd({"create-business", "--name", "nowhere"}, {{"CAMPAIGN_DATABASE_URL", ""}});
  ExpectOneLineFailure(missing, {"--database-url"});
}

// A database URL nothing answers on is bad configuration too: one stderr
// line naming --database-url (libpq's own message spans lines; it must not
// leak through as several).
TEST_F(CampaigndTest, UnreachableDatabaseIsOneLineNamingTheSetting) {
  const ProcessResult result =
      RunCampaignd({"create-business", "--name", "nowhere", "--database-url", kDeadDatabaseUrl},
                   {{"CAMPAIGN_DATABASE_URL", ""}});
  ExpectOneLineFailure(result, {"--database-url", "cannot connect"});
}

// The limits on what callers can cost are validated like every setting: one
// line naming the flag, before anything starts.
TEST_F(CampaigndTest, BadResourceLimitsAreOneLineNamingTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--max-concurrent-streams", "0"}, "--max-concurrent-streams"},
      {{"--executor-queue-limit", "0"}, "--executor-queue-limit"},
      {{"--auth-lookups-per-second", "0"}, "--auth-lookups-per-second"},
      {{"--memory-quota-mb", "8"}, "--memory-quota-mb"},
      {{"--memory-quota-mb", "20", "--max-leads-per-request", "100000"}, "--memory-quota-mb"},
  };
  for (const auto& [flags, named] : cases) {
    std::vector<std::string> args = {"serve", "--listen", "127.0.0.1:0"};
    args.insert(args.end(), flags.begin(), flags.end());
    SCOPED_TRACE(absl::StrJoin(args, " "));
    ExpectOneLineFailure(Run(args), {named});
  }
}

// No command and an unknown command fail (naming the unknown one).
TEST_F(CampaigndTest, MissingOrUnknownCommandFails) {
  const ProcessResult none = RunCampaignd({}, {{"CAMPAIGN_DATABASE_URL", db_.app_url()}});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(none.err, "command")) << none.err;
  EXPECT_TRUE(none.out.empty()) << none.out;

  const ProcessResult unknown = Run({"frobnicate"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(unknown.err, "frobnicate")) << unknown.err;
  EXPECT_TRUE(unknown.out.empty()) << unknown.out;
}

// serve with an address it cannot listen on exits non-zero naming --listen.
TEST_F(CampaigndTest, ServeWithAnUnusableListenAddressFails) {
  const ProcessResult result = Run({"serve", "--listen", "256.1.1.1:99999"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(result.err, "--listen")) << result.err;
  EXPECT_TRUE(result.out.empty()) << result.out;
}

// A campaignd process started in the background, its output in a file. Kills
// and reaps it if the test ends without having reaped it.
class BackgroundCampaignd {
 public:
  explicit BackgroundCampaignd(const std::vector<std::string>& args) {
    char path[] = "/tmp/campaignd-serve-XXXXXX";
    const int fd = mkstemp(path);
    log_path_ = path;
    std::vector<std::string> storage = {CAMPAIGND_PATH};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : storage) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fd, STDERR_FILENO);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(fd);
  }
  ~BackgroundCampaignd() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::remove(log_path_.c_str());
  }

  pid_t pid() const { return pid_; }

  // What the process wrote so far.
  std::string Output() const {
    std::ifstream file(log_path_);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

  // Waits up to `limit` for the process to exit; its wait status, or nullopt
  // if it is still running.
  std::optional<int> WaitForExit(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
      int status = 0;
      const pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        pid_ = -1;
        return status;
      }
      if (done < 0 || std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// `campaignd serve` comes up on the given port, answers health and a
// CreateRun with a key made by `campaignd create-api-key`, and exits 0 soon
// after SIGTERM.
TEST_F(CampaigndTest, ServeAnswersCallsAndStopsOnSigterm) {
  const int64_t business = CreateBusiness("acme");
  const ProcessResult created = Run({"create-api-key", "--business-id", absl::StrCat(business),
                                     "--role", "owner", "--user-id", "3"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string key = Lines(created.out).at(0);

  const int port = FreeLoopbackPort();
  ASSERT_GT(port, 0);
  const std::string address = absl::StrCat("127.0.0.1:", port);
  BackgroundCampaignd serve({"serve", "--database-url", db_.app_url(), "--listen", address,
                             "--default-calling-hours=00:00-24:00"});
  ASSERT_GT(serve.pid(), 0);

  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(
      channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)))
      << serve.Output();

  {
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, grpc::health::v1::HealthCheckRequest(), &response).ok());
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  // Paused, so the process's scheduler has no call in flight to wait for at
  // shutdown: the test is about the API process, not the dialer.
  pb::CreateRunRequest request = SmallRequest("serve-1");
  request.set_start_paused(true);
  auto stub = pb::CampaignService::NewStub(channel);
  pb::CreateRunResponse response;
  const grpc::Status status = stub->CreateRun(CallContext(key).get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << serve.Output();
  EXPECT_EQ(response.run().business_id(), business);
  EXPECT_EQ(response.run().created_by_user_id(), 3);
  EXPECT_EQ(response.run().total_leads(), 1);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_runs WHERE request_id = 'serve-1'"),
            1);

  // The client stays connected, as real clients do when a replica is asked
  // to stop.
  ASSERT_EQ(kill(serve.pid(), SIGTERM), 0);
  const std::optional<int> exit_status = serve.WaitForExit(std::chrono::seconds(15));
  ASSERT_TRUE(exit_status.has_value()) << "campaignd did not exit after SIGTERM\n"
                                       << serve.Output();
  EXPECT_TRUE(WIFEXITED(*exit_status)) << serve.Output();
  EXPECT_EQ(WEXITSTATUS(*exit_status), 0) << serve.Output();
}


// The resident memory of process `pid` now and at its peak (VmRSS, VmHWM),
// in bytes; 0 when unreadable.
struct Rss {
  int64_t now = 0;
  int64_t peak = 0;
};
Rss ReadRss(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  Rss rss;
  std::string line;
  while (std::getline(status, line)) {
    int64_t kib = 0;
    std::vector<std::string> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipWhitespace());
    if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &kib)) continue;
    if (fields[0] == "VmRSS:") rss.now = kib * 1024;
    if (fields[0] == "VmHWM:") rss.peak = kib * 1024;
  }
  return rss;
}

// A raw HTTP/2 (prior knowledge) connection that opens gRPC calls without
// credentials and sends only the first part of a large request message,
// as fast as the server's flow control allows, then stalls: what a slow or
// hostile client can make a server hold. Speaks just enough HTTP/2: SETTINGS
// and PING acknowledgements, WINDOW_UPDATE, RST_STREAM, GOAWAY.
class HalfSentCalls {
 public:
  // Opens `streams` CreateRun calls on a new connection to 127.0.0.1:`port`,
  // each announcing a message of `declared` bytes of which `send` are sent.
  HalfSentCalls(int port, int streams, uint32_t declared, int64_t send) : send_(send) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      close(fd_);
      fd_ = -1;
      return;
    }
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
    out_ = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    Frame(kSettings, 0, 0, "");
    std::string headers;
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {":method", "POST"},
             {":scheme", "http"},
             {":path", "/outbound.v1.CampaignService/CreateRun"},
             {":authority", absl::StrCat("127.0.0.1:", port)},
             {"content-type", "application/grpc"},
             {"te", "trailers"}}) {
      // Literal header field without indexing, new name, no Huffman coding.
      headers += '\0';
      headers += static_cast<char>(name.size());
      headers += name;
      headers += static_cast<char>(value.size());
      headers += value;
    }
    for (int i = 0; i < streams; ++i) {
      const uint32_t id = 1 + 2 * static_cast<uint32_t>(i);
      Frame(kHeaders, kEndHeaders, id, headers);
      // The gRPC message prefix: not compressed, `declared` bytes follow.
      std::string prefix(5, '\0');
      for (int b = 0; b < 4; ++b) prefix[1 + b] = static_cast<char>(declared >> (24 - 8 * b));
      Frame(kData, 0, id, prefix);
      streams_[id] = Stream{};
    }
  }
  ~HalfSentCalls() {
    if (fd_ >= 0) close(fd_);
  }

  // Reads what the server sent and sends what its windows allow. False once
  // nothing is left to do on this connection (all sent, reset or closed).
  bool Pump() {
    if (fd_ < 0) return false;
    Flush();
    ReadFrames();
    if (closed_) return false;
    bool pending = false;
    for (auto& [id, stream] : streams_) {
      if (stream.reset || stream.sent >= send_) continue;
      pending = true;
      while (stream.sent < send_ && out_.size() < (1 << 20)) {
        const int64_t chunk = std::min<int64_t>(
            {kMaxFrame, send_ - stream.sent, connection_window_, initial_window_ + stream.window});
        if (chunk <= 0) break;
        Frame(kData, 0, id, std::string(static_cast<size_t>(chunk), 'x'));
        stream.sent += chunk;
        stream.window -= chunk;
        connection_window_ -= chunk;
      }
    }
    Flush();
    return pending && !closed_;
  }

  // Payload bytes sent, and streams the server reset or answered.
  int64_t sent() const {
    int64_t total = 0;
    for (const auto& [id, stream] : streams_) total += stream.sent;
    return total;
  }
  // The server's SETTINGS_MAX_CONCURRENT_STREAMS (0 until received or if
  // it sets none).
  int64_t max_streams() const { return max_streams_; }
  int reset() const {
    int count = 0;
    for (const auto& [id, stream] : streams_) count += stream.reset ? 1 : 0;
    return count;
  }

 private:
  static constexpr uint8_t kData = 0, kHeaders = 1, kRstStream = 3, kSettings = 4, kPing = 6,
                           kGoAway = 7, kWindowUpdate = 8;
  static constexpr uint8_t kAck = 1, kEndStream = 1, kEndHeaders = 4;
  static constexpr int64_t kMaxFrame = 16384;

  struct Stream {
    int64_t sent = 0;
    // Added to the initial window by WINDOW_UPDATE, minus what was sent.
    int64_t window = 0;
    bool reset = false;
  };

  void Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
    const uint32_t length = static_cast<uint32_t>(payload.size());
    const char header[9] = {static_cast<char>(length >> 16), static_cast<char>(length >> 8),
                            static_cast<char>(length),       static_cast<char>(type),
                            static_cast<char>(flags),        static_cast<char>(stream >> 24),
                            static_cast<char>(stream >> 16), static_cast<char>(stream >> 8),
                            static_cast<char>(stream)};
    out_.append(header, 9);
    out_ += payload;
  }

  void Flush() {
    while (!out_.empty() && !closed_) {
      const ssize_t n = send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
      if (n > 0) {
        out_.erase(0, static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
      } else {
        closed_ = true;
      }
    }
  }

  static uint32_t Be32(const std::string& bytes, size_t at) {
    return (static_cast<uint32_t>(static_cast<uint8_t>(bytes[at])) << 24) |
           (static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + 2])) << 8) |
           static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + 3]));
  }

  void ReadFrames() {
    char buffer[65536];
    for (;;) {
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n > 0) {
        in_.append(buffer, static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      } else {
        closed_ = true;
        break;
      }
    }
    while (in_.size() >= 9) {
      const size_t length = (static_cast<uint8_t>(in_[0]) << 16) |
                            (static_cast<uint8_t>(in_[1]) << 8) | static_cast<uint8_t>(in_[2]);
      if (in_.size() < 9 + length) break;
      const uint8_t type = static_cast<uint8_t>(in_[3]);
      const uint8_t flags = static_cast<uint8_t>(in_[4]);
      const uint32_t id = Be32(in_, 5) & 0x7fffffff;
      const std::string payload = in_.substr(9, length);
      in_.erase(0, 9 + length);
      if (type == kSettings && (flags & kAck) == 0) {
        for (size_t at = 0; at + 6 <= payload.size(); at += 6) {
          const int setting = (static_cast<uint8_t>(payload[at]) << 8) |
                              static_cast<uint8_t>(payload[at + 1]);
          if (setting == 4) initial_window_ = Be32(payload, at + 2);  // INITIAL_WINDOW_SIZE
          if (setting == 3) max_streams_ = Be32(payload, at + 2);     // MAX_CONCURRENT_STREAMS
        }
        Frame(kSettings, kAck, 0, "");
      } else if (type == kPing && (flags & kAck) == 0) {
        Frame(kPing, kAck, 0, payload);
      } else if (type == kWindowUpdate && payload.size() == 4) {
        const int64_t increment = Be32(payload, 0) & 0x7fffffff;
        if (id == 0) {
          connection_window_ += increment;
        } else if (auto it = streams_.find(id); it != streams_.end()) {
          it->second.window += increment;
        }
      } else if (type == kRstStream || (type == kHeaders && (flags & kEndStream) != 0)) {
        if (auto it = streams_.find(id); it != streams_.end()) it->second.reset = true;
      } else if (type == kGoAway) {
        closed_ = true;
      }
    }
  }

  const int64_t send_;
  int fd_ = -1;
  bool closed_ = false;
  std::string out_;
  std::string in_;
  int64_t connection_window_ = 65535;
  int64_t initial_window_ = 65535;
  int64_t max_streams_ = 0;
  std::map<uint32_t, Stream> streams_;
};

// Unauthenticated clients that open many calls and send half of a large
// request each are cut by the memory quota: 40 connections try 10 calls each
// with 4 MiB of a 32 MiB CreateRun message (1.6 GB offered in all). The
// server takes at most --max-concurrent-streams calls per connection, and
// once the data received passes --memory-quota-mb (64 MiB) gRPC cancels calls
// (RESOURCE_EXHAUSTED) to bring it back. gRPC 1.51 enforces the quota after
// the fact, one cancelled call per reclamation pass, while the other calls
// keep receiving: on a 2-core machine over loopback the peak went 130-930 MiB
// past the quota from run to run (bimodal: most runs ~300 MiB, some ~800), so
// the quota is no hard ceiling and the test does not pretend it is. What
// holds every time: most calls are cancelled (without a quota none is: the
// attack just waits), the peak stays far below what was offered (without a
// quota and stream cap it grew by 1.3 GiB), and a real key still works.
TEST_F(CampaigndTest, HalfSentLargeMessagesAreCutByTheMemoryQuota) {
  constexpr int64_t kQuotaMb = 64;
  constexpr int64_t kCeiling = int64_t{1} << 30;
  constexpr int kConnections = 40;
  constexpr int kStreams = 10;
  constexpr uint32_t kDeclared = 32u << 20;
  constexpr int64_t kSendPerStream = int64_t{4} << 20;
  const int64_t business = CreateBusiness("memory");
  const ProcessResult created =
      Run({"create-api-key", "--business-id", absl::StrCat(business), "--role", "owner"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string key = Lines(created.out).at(0);

  const int port = FreeLoopbackPort();
  ASSERT_GT(port, 0);
  const std::string address = absl::StrCat("127.0.0.1:", port);
  BackgroundCampaignd serve({"serve", "--database-url", db_.app_url(), "--listen", address,
                             "--scheduler=false", "--memory-quota-mb", absl::StrCat(kQuotaMb),
                             "--max-concurrent-streams", absl::StrCat(kStreams)});
  ASSERT_GT(serve.pid(), 0);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(
      channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30)))
      << serve.Output();
  auto stub = pb::CampaignService::NewStub(channel);
  auto list = [&] {
    pb::ListRunsResponse listed;
    return stub->ListRuns(CallContext(key).get(), pb::ListRunsRequest(), &listed);
  };
  ASSERT_TRUE(list().ok());
  const Rss before = ReadRss(serve.pid());
  ASSERT_GT(before.now, 0);

  std::vector<std::unique_ptr<HalfSentCalls>> attackers;
  for (int i = 0; i < kConnections; ++i) {
    attackers.push_back(
        std::make_unique<HalfSentCalls>(port, kStreams, kDeclared, kSendPerStream));
  }
  // Pump until every call is sent or refused, or the server stops granting
  // flow-control window for two seconds (it holds what it has), within 60 s.
  int64_t sent = 0;
  auto last_progress = std::chrono::steady_clock::now();
  const auto deadline = last_progress + std::chrono::seconds(60);
  for (bool busy = true; busy && std::chrono::steady_clock::now() < deadline;) {
    busy = false;
    int64_t now_sent = 0;
    for (auto& attacker : attackers) {
      busy = attacker->Pump() || busy;
      now_sent += attacker->sent();
    }
    if (now_sent > sent) {
      sent = now_sent;
      last_progress = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(2)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const Rss after = ReadRss(serve.pid());
  // The server told every connection its stream cap.
  for (const auto& attacker : attackers) EXPECT_EQ(attacker->max_streams(), kStreams);
  int refused = 0;
  for (const auto& attacker : attackers) refused += attacker->reset();
  RecordProperty("sent_bytes", std::to_string(sent));
  RecordProperty("refused_calls", std::to_string(refused));
  RecordProperty("rss_growth_bytes", std::to_string(after.peak - before.now));
  const std::string summary =
      absl::StrCat("peak RSS grew from ", before.now >> 20, " MiB to ", after.peak >> 20,
                   " MiB; the attackers sent ", sent >> 20, " MiB, ", refused, " of ",
                   kConnections * kStreams, " calls were refused or cancelled");
  EXPECT_GE(refused, kConnections * kStreams / 4) << summary;
  EXPECT_LT(after.peak - before.now, kCeiling) << summary;
  // The attack was real: well more than the ceiling was offered.
  EXPECT_GT(int64_t{kConnections} * kStreams * kSendPerStream, kCeiling * 3 / 2);
  attackers.clear();
  EXPECT_TRUE(list().ok()) << serve.Output();
}

}  // namespace
}  // namespace campaign::testing
