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
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
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
      api::ServerConfig config;
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

// A port nothing listens on right now (bound to port 0, then released).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
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

  const int port = FreePort();
  ASSERT_GT(port, 0);
  const std::string address = absl::StrCat("127.0.0.1:", port);
  BackgroundCampaignd serve({"serve", "--database-url", db_.app_url(), "--listen", address});
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

}  // namespace
}  // namespace campaign::testing
