// Observability and TLS of the server (issue 5): Prometheus metrics scraped
// over HTTP, request ids echoed and carried by log lines, health following
// the database and draining, JSON logs of a campaignd process, and TLS /
// mutual TLS with certificates made by the openssl CLI in the test run.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/dialer/simulated_dialer.h"
#include "server/observability/logging.h"
#include "tests/support/test_database.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

extern char** environ;

namespace campaign::testing {
namespace {

namespace pb = ::outbound::v1;
using HealthStub = grpc::health::v1::Health::Stub;
using grpc::health::v1::HealthCheckResponse;

constexpr char kService[] = "outbound.v1.CampaignService";
constexpr char kMethodPrefix[] = "/outbound.v1.CampaignService/";

// A minimal HTTP/1.0 GET over loopback: the body, or nullopt on failure.
std::optional<std::string> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return std::nullopt;
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return std::nullopt;
  }
  std::string response;
  char buffer[8192];
  for (;;) {
    const ssize_t got = read(fd, buffer, sizeof(buffer));
    if (got <= 0) break;
    response.append(buffer, static_cast<size_t>(got));
  }
  close(fd);
  if (!absl::StartsWith(response, "HTTP/1.") || response.find(" 200 ") == std::string::npos) {
    return std::nullopt;
  }
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return std::nullopt;
  return response.substr(body + 4);
}

// The value of the series `series` (name with its labels, exactly as
// exposed) in an exposition text; nullopt when absent.
std::optional<double> SeriesValue(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, series) || line.size() <= series.size() ||
        line[series.size()] != ' ') {
      continue;
    }
    double value = 0;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) return value;
  }
  return std::nullopt;
}

double SeriesOrZero(const std::string& text, const std::string& series) {
  return SeriesValue(text, series).value_or(0);
}

std::string Scrape(const TestServer& server) {
  std::optional<std::string> body = HttpGet(server.server().metrics_port(), "/metrics");
  return body.value_or("");
}

std::string RpcSeries(const std::string& method, const std::string& code) {
  return absl::StrCat("campaign_rpcs_total{code=\"", code, "\",method=\"", kMethodPrefix, method,
                      "\"}");
}

// The health service's answer for `service`, or nullopt when the call failed.
std::optional<HealthCheckResponse::ServingStatus> Health(HealthStub& stub,
                                                         const std::string& service) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  if (!stub.Check(&context, request, &response).ok()) return std::nullopt;
  return response.status();
}

bool BothAre(HealthStub& stub, HealthCheckResponse::ServingStatus want) {
  return Health(stub, "") == want && Health(stub, kService) == want;
}

pb::CreateRunRequest RunRequest(const std::string& request_id,
                                const std::vector<std::string>& phones) {
  pb::CreateRunRequest request;
  request.set_request_id(request_id);
  request.set_concurrency(static_cast<int32_t>(phones.size()));
  for (size_t i = 0; i < phones.size(); ++i) {
    pb::Lead* lead = request.add_leads();
    lead->set_lead_id(static_cast<int64_t>(i + 1));
    lead->set_phone(phones[i]);
  }
  return request;
}

// A server with fast probes, metrics on a free port, and optionally the
// scheduler with instant simulated calls.
app::ServerConfig ObservedConfig(bool scheduler) {
  app::ServerConfig config;
  config.metrics_listen = "127.0.0.1:0";
  config.health_probe_interval = absl::Milliseconds(50);
  config.runs_gauge_interval = absl::Milliseconds(50);
  config.scheduler_enabled = scheduler;
  config.scheduler.poll_interval = absl::Milliseconds(20);
  config.simulated_dialer.call_duration = absl::ZeroDuration();
  return config;
}

// --------------------------------------------------------------- metrics

// A scrape of /metrics after a run completed shows the dials by outcome
// (busy and rejected forced by magic numbers), RPCs by method and code,
// unary latency, runs by status and the pool/stream gauges.
TEST(ObservabilityMetricsTest, ScrapeSeesDialsRpcsAndRuns) {
  TestDatabase database;
  TestServer server(database, ObservedConfig(/*scheduler=*/true));
  ASSERT_GT(server.server().metrics_port(), 0);
  const int64_t business = database.CreateBusiness("metrics");
  const std::string key = database.CreateApiKey(business, Role::kOwner).key;

  const std::string before = Scrape(server);
  ASSERT_FALSE(before.empty()) << "no answer from the metrics port";
  EXPECT_EQ(SeriesOrZero(before, "campaign_dials_total{outcome=\"busy\"}"), 0);

  // 0001: busy; 0004: the provider rejects the dial; the third: the mix.
  pb::CreateRunResponse created;
  ASSERT_TRUE(
      server.stub()
          .CreateRun(CallContext(key).get(),
                     RunRequest("metrics-1", {"+14155550001", "+14155550004", "+14155550123"}),
                     &created)
          .ok());
  pb::GetRunRequest get;
  get.set_run_id(created.run().id());
  ASSERT_TRUE(WaitUntil([&] {
    pb::OutboundCallRun run;
    return server.stub().GetRun(CallContext(key).get(), get, &run).ok() &&
           run.status() == pb::RUN_STATUS_COMPLETED;
  })) << "the run never completed";

  // Errors by code: an unknown run and a refused key.
  pb::GetRunRequest missing;
  missing.set_run_id(created.run().id() + 1000);
  pb::OutboundCallRun ignored;
  EXPECT_EQ(server.stub().GetRun(CallContext(key).get(), missing, &ignored).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(server.stub().GetRun(CallContext("ocs_wrong").get(), get, &ignored).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // The runs gauge is refreshed by the periodic query: wait for it to show
  // the completed run, then read everything from that same scrape.
  std::string text;
  ASSERT_TRUE(WaitUntil([&] {
    text = Scrape(server);
    return SeriesOrZero(text, "campaign_runs{status=\"completed\"}") == 1;
  })) << text;
  EXPECT_EQ(SeriesOrZero(text, "campaign_dials_total{outcome=\"busy\"}"), 1) << text;
  EXPECT_EQ(SeriesOrZero(text, "campaign_dials_total{outcome=\"rejected\"}"), 1) << text;
  EXPECT_EQ(SeriesOrZero(text, "campaign_dials_total{outcome=\"completed\"}") +
                SeriesOrZero(text, "campaign_dials_total{outcome=\"failed\"}") +
                SeriesOrZero(text, "campaign_dials_total{outcome=\"no_answer\"}"),
            1)
      << text;
  EXPECT_EQ(SeriesValue(text, "campaign_active_calls"), 0) << text;
  EXPECT_EQ(SeriesOrZero(text, RpcSeries("CreateRun", "OK")), 1) << text;
  EXPECT_EQ(SeriesOrZero(text, RpcSeries("GetRun", "NOT_FOUND")), 1) << text;
  EXPECT_EQ(SeriesOrZero(text, RpcSeries("GetRun", "UNAUTHENTICATED")), 1) << text;
  EXPECT_GE(SeriesOrZero(text, RpcSeries("GetRun", "OK")), 1) << text;
  EXPECT_EQ(SeriesOrZero(text, absl::StrCat("campaign_rpc_duration_seconds_count{method=\"",
                                            kMethodPrefix, "CreateRun\"}")),
            1)
      << text;
  EXPECT_EQ(SeriesOrZero(text, "campaign_runs{status=\"running\"}"), 0) << text;
  EXPECT_EQ(SeriesValue(text, "campaign_database_up"), 1) << text;
  EXPECT_GE(SeriesOrZero(text, "campaign_db_pool_open_connections"), 1) << text;
  EXPECT_TRUE(SeriesValue(text, "campaign_db_pool_busy_connections").has_value()) << text;
  EXPECT_EQ(SeriesValue(text, "campaign_watch_streams"), 0) << text;
  EXPECT_EQ(SeriesValue(text, "campaign_lease_takeovers_total"), 0) << text;
}

// A watch stream is counted while open.
TEST(ObservabilityMetricsTest, OpenWatchStreamsAreCounted) {
  TestDatabase database;
  TestServer server(database, ObservedConfig(/*scheduler=*/false));
  const int64_t business = database.CreateBusiness("streams");
  const std::string key = database.CreateApiKey(business, Role::kOwner).key;
  std::unique_ptr<grpc::ClientContext> context = CallContext(key);
  pb::WatchRunsRequest request;
  auto reader = server.stub().WatchRuns(context.get(), request);
  EXPECT_TRUE(
      WaitUntil([&] { return SeriesValue(Scrape(server), "campaign_watch_streams") == 1; }));
  context->TryCancel();
  pb::WatchRunsResponse message;
  while (reader->Read(&message)) {
  }
  reader->Finish();
  EXPECT_TRUE(
      WaitUntil([&] { return SeriesValue(Scrape(server), "campaign_watch_streams") == 0; }));
}

// --------------------------------------------------------------- request ids

// Captures what the process's default logger writes while alive (text
// format, so the thread's log fields appear as key=value).
class CapturedLogs {
 public:
  CapturedLogs()
      : previous_(spdlog::default_logger()),
        sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    auto logger = std::make_shared<spdlog::logger>("captured", sink_);
    logger->set_formatter(observability::MakeLogFormatter(observability::LogFormat::kText));
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  ~CapturedLogs() { spdlog::set_default_logger(previous_); }

  std::string Text() {
    sink_->flush();
    return out_.str();
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

// The single x-request-id of the response's initial metadata, or "".
std::string EchoedRequestId(const grpc::ClientContext& context) {
  const auto& metadata = context.GetServerInitialMetadata();
  auto [begin, end] = metadata.equal_range("x-request-id");
  if (begin == end || std::next(begin) != end) return "";
  return std::string(begin->second.data(), begin->second.size());
}

// The caller's x-request-id comes back in the initial metadata, on success
// and on error; without one a fresh id is generated and echoed; the RPC log
// line and the handler's security warning carry it.
TEST(ObservabilityRequestIdTest, EchoedGivenOrGeneratedAndLogged) {
  TestDatabase database;
  TestServer server(database, ObservedConfig(/*scheduler=*/false));
  const int64_t business = database.CreateBusiness("ids");
  const std::string key = database.CreateApiKey(business, Role::kOwner).key;
  CapturedLogs logs;

  pb::ListRunsRequest list;
  pb::ListRunsResponse listed;
  std::unique_ptr<grpc::ClientContext> given = CallContext(key);
  given->AddMetadata("x-request-id", "req-given-1");
  ASSERT_TRUE(server.stub().ListRuns(given.get(), list, &listed).ok());
  EXPECT_EQ(EchoedRequestId(*given), "req-given-1");

  std::unique_ptr<grpc::ClientContext> refused = CallContext("ocs_not_a_key");
  refused->AddMetadata("x-request-id", "req-refused-2");
  EXPECT_EQ(server.stub().ListRuns(refused.get(), list, &listed).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(EchoedRequestId(*refused), "req-refused-2");

  std::unique_ptr<grpc::ClientContext> first = CallContext(key);
  std::unique_ptr<grpc::ClientContext> second = CallContext(key);
  ASSERT_TRUE(server.stub().ListRuns(first.get(), list, &listed).ok());
  ASSERT_TRUE(server.stub().ListRuns(second.get(), list, &listed).ok());
  const std::string generated = EchoedRequestId(*first);
  EXPECT_GE(generated.size(), 8u);
  EXPECT_NE(generated, EchoedRequestId(*second));

  // An id that is not acceptable (spaces) is replaced, not echoed.
  std::unique_ptr<grpc::ClientContext> odd = CallContext(key);
  odd->AddMetadata("x-request-id", "not acceptable");
  ASSERT_TRUE(server.stub().ListRuns(odd.get(), list, &listed).ok());
  EXPECT_NE(EchoedRequestId(*odd), "not acceptable");
  EXPECT_FALSE(EchoedRequestId(*odd).empty());

  // Log lines are written before the status is sent; the calls returned.
  const std::string text = logs.Text();
  bool rpc_line = false;
  bool security_line = false;
  bool generated_line = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(line, "rpc /outbound.v1.CampaignService/ListRuns OK") &&
        absl::StrContains(line, "request_id=req-given-1") && absl::StrContains(line, "code=OK") &&
        absl::StrContains(line, "latency_ms=")) {
      rpc_line = true;
    }
    if (absl::StrContains(line, "security: refused") &&
        absl::StrContains(line, "request_id=req-refused-2")) {
      security_line = true;
    }
    if (absl::StrContains(line, absl::StrCat("request_id=", generated))) generated_line = true;
  }
  EXPECT_TRUE(rpc_line) << text;
  EXPECT_TRUE(security_line) << text;
  EXPECT_TRUE(generated_line) << text;
}

// --------------------------------------------------------------- health

// Health is SERVING while the database answers, NOT_SERVING while it
// refuses connections (and the error counter moves), SERVING again after.
TEST(ObservabilityHealthTest, FollowsTheDatabase) {
  TestDatabase database;
  TestServer server(database, ObservedConfig(/*scheduler=*/false));
  const int64_t business = database.CreateBusiness("health");
  const std::string key = database.CreateApiKey(business, Role::kOwner).key;
  std::unique_ptr<HealthStub> health = grpc::health::v1::Health::NewStub(server.channel());
  EXPECT_TRUE(BothAre(*health, HealthCheckResponse::SERVING));

  database.RefuseConnections();
  const bool lost = WaitUntil([&] { return BothAre(*health, HealthCheckResponse::NOT_SERVING); });
  pb::ListRunsRequest list;
  pb::ListRunsResponse listed;
  const grpc::StatusCode during =
      server.stub().ListRuns(CallContext(key).get(), list, &listed).error_code();
  const std::string text = Scrape(server);
  database.AllowConnections();
  ASSERT_TRUE(lost) << "health never became NOT_SERVING";
  EXPECT_EQ(during, grpc::StatusCode::UNAVAILABLE);
  EXPECT_GE(SeriesOrZero(text, "campaign_database_errors_total{code=\"UNAVAILABLE\"}"), 1) << text;
  EXPECT_EQ(SeriesValue(text, "campaign_database_up"), 0) << text;

  EXPECT_TRUE(WaitUntil([&] { return BothAre(*health, HealthCheckResponse::SERVING); }))
      << "health never came back";
}

// While the server drains (a call in progress holds the scheduler's
// shutdown), health says NOT_SERVING but RPCs are still answered.
TEST(ObservabilityHealthTest, NotServingWhileDraining) {
  TestDatabase database;
  app::ServerConfig config = ObservedConfig(/*scheduler=*/true);
  config.simulated_dialer.call_duration = absl::Hours(1);
  TestServer server(database, config);
  const int64_t business = database.CreateBusiness("drain");
  const std::string key = database.CreateApiKey(business, Role::kOwner).key;
  std::unique_ptr<HealthStub> health = grpc::health::v1::Health::NewStub(server.channel());
  EXPECT_TRUE(BothAre(*health, HealthCheckResponse::SERVING));

  pb::CreateRunResponse created;
  ASSERT_TRUE(
      server.stub()
          .CreateRun(CallContext(key).get(), RunRequest("drain-1", {"+14155550123"}), &created)
          .ok());
  std::string call_sid;
  ASSERT_TRUE(WaitUntil([&] {
    pb::ListJobsRequest request;
    request.set_run_id(created.run().id());
    pb::ListJobsResponse jobs;
    if (!server.stub().ListJobs(CallContext(key).get(), request, &jobs).ok() ||
        jobs.jobs_size() != 1) {
      return false;
    }
    call_sid = jobs.jobs(0).call_sid();
    return !call_sid.empty();
  })) << "the call never started";

  std::thread shutdown([&] { server.server().Shutdown(absl::Minutes(5)); });
  const bool draining =
      WaitUntil([&] { return BothAre(*health, HealthCheckResponse::NOT_SERVING); });
  pb::GetRunRequest get;
  get.set_run_id(created.run().id());
  pb::OutboundCallRun run;
  const grpc::Status during = server.stub().GetRun(CallContext(key).get(), get, &run);
  // Ending the call ends the drain.
  EXPECT_TRUE(server.server().simulated_dialer()->HangUp(call_sid).ok());
  shutdown.join();
  EXPECT_TRUE(draining) << "health never became NOT_SERVING while draining";
  EXPECT_TRUE(during.ok()) << during.error_message();
}

// --------------------------------------------------------------- JSON logs

// A campaignd process with stdout and stderr in files, killed on destruction
// if still running.
class CampaigndProcess {
 public:
  explicit CampaigndProcess(const std::vector<std::string>& flags)
      : dir_(std::filesystem::temp_directory_path() /
             absl::StrCat("campaignd-obs-", getpid(), "-", absl::ToUnixNanos(absl::Now()))) {
    std::filesystem::create_directories(dir_);
    // Calls all day (tests pass at any hour).
    std::vector<std::string> args = {CAMPAIGND_PATH, "serve",
                                     "--default-calling-hours=00:00-24:00"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string out = (dir_ / "out").string();
    const std::string err = (dir_ / "err").string();
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) throw std::runtime_error("cannot spawn campaignd");
  }
  ~CampaigndProcess() {
    if (!exited_) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  std::string ErrPath() const { return (dir_ / "err").string(); }
  std::string Stderr() const {
    std::ifstream file(ErrPath());
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }
  bool Running() {
    if (exited_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      exit_status_ = status;
    }
    return !exited_;
  }
  // Sends SIGTERM and waits for the exit; the wait status.
  int Terminate() {
    if (!exited_) {
      kill(pid_, SIGTERM);
      waitpid(pid_, &exit_status_, 0);
      exited_ = true;
    }
    return exit_status_;
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_status_ = 0;
};

// With --log-format json every stderr line of campaignd is one JSON object
// with time, level and message; the RPC lines carry request_id, method,
// code and a numeric latency_ms; security warnings carry the request id and
// the principal. Checked with Python's json module, line by line.
TEST(ObservabilityLogsTest, JsonLinesParse) {
  TestDatabase database;
  database.Migrate();
  const int64_t business = database.CreateBusiness("json");
  const std::string key = database.CreateApiKey(business, Role::kOwner).key;
  const std::string other_key =
      database.CreateApiKey(database.CreateBusiness("json-other"), Role::kOwner).key;
  CampaigndProcess campaignd({"--database-url=" + database.app_url(), "--listen=127.0.0.1:0",
                              "--log-format=json", "--log-level=debug", "--scheduler=false"});
  int port = 0;
  ASSERT_TRUE(WaitUntil([&] {
    if (!campaignd.Running()) return true;
    const std::string err = campaignd.Stderr();
    const size_t at = err.find("campaignd serving on");
    if (at == std::string::npos) return false;
    const size_t open = err.find("(port ", at);
    const size_t close = err.find(')', open);
    return open != std::string::npos && close != std::string::npos &&
           absl::SimpleAtoi(err.substr(open + 6, close - open - 6), &port);
  }));
  ASSERT_GT(port, 0) << campaignd.Stderr();

  auto stub = pb::CampaignService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  pb::CreateRunResponse created;
  std::unique_ptr<grpc::ClientContext> create = CallContext(key);
  create->AddMetadata("x-request-id", "json-create-1");
  ASSERT_TRUE(stub->CreateRun(create.get(), RunRequest("json-1", {"+14155550123"}), &created).ok());
  // Another business addresses the run: NOT_FOUND and a security warning.
  pb::GetRunRequest get;
  get.set_run_id(created.run().id());
  pb::OutboundCallRun run;
  std::unique_ptr<grpc::ClientContext> cross = CallContext(other_key);
  cross->AddMetadata("x-request-id", "json-cross-2");
  EXPECT_EQ(stub->GetRun(cross.get(), get, &run).error_code(), grpc::StatusCode::NOT_FOUND);
  stub.reset();  // closes the connection
  EXPECT_EQ(WEXITSTATUS(campaignd.Terminate()), 0) << campaignd.Stderr();

  const std::string script = R"PY(
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert lines, "no log lines"
objects = []
for number, line in enumerate(lines, 1):
    value = json.loads(line)
    assert isinstance(value, dict), f"line {number} is not an object: {line}"
    for key in ("time", "level", "message"):
        assert isinstance(value.get(key), str), f"line {number} lacks {key}: {line}"
    objects.append(value)
rpc = [o for o in objects if o.get("request_id") == "json-create-1"
       and o["message"].startswith("rpc /outbound.v1.CampaignService/CreateRun")]
assert rpc, "no RPC line for json-create-1"
assert rpc[0]["method"] == "/outbound.v1.CampaignService/CreateRun", rpc[0]
assert rpc[0]["code"] == "OK", rpc[0]
assert isinstance(rpc[0]["latency_ms"], (int, float)), rpc[0]
security = [o for o in objects if o["message"].startswith("security:")
            and o.get("request_id") == "json-cross-2"]
assert security, "no security line for json-cross-2"
assert security[0]["level"] == "warning", security[0]
assert "principal" in security[0], security[0]
print(len(objects))
)PY";
  const std::string script_path = campaignd.ErrPath() + ".py";
  std::ofstream(script_path) << script;
  const std::string command =
      absl::StrCat("/usr/bin/python3 ", script_path, " ", campaignd.ErrPath(), " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  const int status = pclose(pipe);
  EXPECT_EQ(WEXITSTATUS(status), 0) << output << "\n" << campaignd.Stderr();
}

// A bad --log-format is one line and exit 2.
TEST(ObservabilityLogsTest, BadLogFormatIsRefused) {
  ProcessResult result = RunCampaignd({"serve", "--log-format=xml"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--log-format \"xml\""), std::string::npos) << result.err;
}

// --------------------------------------------------------------- TLS

// Certificates made with the openssl CLI in a temporary folder: a CA, a
// server certificate for localhost and 127.0.0.1, and a client certificate.
class Certificates {
 public:
  Certificates()
      : dir_(std::filesystem::temp_directory_path() /
             absl::StrCat("campaign-tls-", getpid(), "-", absl::ToUnixNanos(absl::Now()))) {
    std::filesystem::create_directories(dir_);
    std::ofstream(Path("server.ext")) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                      << "extendedKeyUsage=serverAuth\n";
    std::ofstream(Path("client.ext")) << "extendedKeyUsage=clientAuth\n";
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    Run(absl::StrCat("openssl req -x509 ", key, " -keyout ca.key -out ca.crt -days 2",
                     " -subj /CN=campaign-test-ca"));
    for (const char* name : {"server", "client"}) {
      Run(absl::StrCat("openssl req ", key, " -keyout ", name, ".key -out ", name,
                       ".csr -subj /CN=", name));
      Run(absl::StrCat("openssl x509 -req -in ", name, ".csr -CA ca.crt -CAkey ca.key",
                       " -CAcreateserial -days 2 -out ", name, ".crt -extfile ", name, ".ext"));
    }
  }
  ~Certificates() { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::string Read(const std::string& name) const {
    std::ifstream file(Path(name));
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

 private:
  void Run(const std::string& command) {
    const std::string full =
        absl::StrCat("cd ", dir_.string(), " && ", command, " >/dev/null 2>&1");
    if (std::system(full.c_str()) != 0) throw std::runtime_error("failed: " + command);
  }
  std::filesystem::path dir_;
};

// ListRuns over `channel` as `key`: the status code (UNAVAILABLE when the
// handshake fails).
grpc::StatusCode ListOver(const std::shared_ptr<grpc::Channel>& channel, const std::string& key) {
  auto stub = pb::CampaignService::NewStub(channel);
  std::unique_ptr<grpc::ClientContext> context = CallContext(key);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::ListRunsRequest request;
  pb::ListRunsResponse response;
  return stub->ListRuns(context.get(), request, &response).error_code();
}

std::shared_ptr<grpc::Channel> TlsChannel(const TestServer& server, const Certificates& certs,
                                          bool client_cert) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = certs.Read("ca.crt");
  if (client_cert) {
    options.pem_private_key = certs.Read("client.key");
    options.pem_cert_chain = certs.Read("client.crt");
  }
  // A fresh channel per call so no connection is shared between cases.
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(server.address(), grpc::SslCredentials(options), arguments);
}

std::shared_ptr<grpc::Channel> PlainChannel(const TestServer& server) {
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(server.address(), grpc::InsecureChannelCredentials(), arguments);
}

// Server TLS: a client trusting the CA gets answers; a plaintext client
// and a client that does not trust the CA do not.
TEST(ObservabilityTlsTest, TlsWithTheCaWorksPlaintextFails) {
  Certificates certs;
  TestDatabase database;
  app::ServerConfig config;
  config.tls_cert_path = certs.Path("server.crt");
  config.tls_key_path = certs.Path("server.key");
  TestServer server(database, config);
  const std::string key = database.CreateApiKey(database.CreateBusiness("tls"), Role::kOwner).key;

  EXPECT_EQ(ListOver(TlsChannel(server, certs, /*client_cert=*/false), key), grpc::StatusCode::OK);
  EXPECT_EQ(ListOver(PlainChannel(server), key), grpc::StatusCode::UNAVAILABLE);
  grpc::SslCredentialsOptions untrusting;
  untrusting.pem_root_certs = certs.Read("client.crt");  // not the CA
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  EXPECT_EQ(ListOver(grpc::CreateCustomChannel(server.address(), grpc::SslCredentials(untrusting),
                                               arguments),
                     key),
            grpc::StatusCode::UNAVAILABLE);
}

// Mutual TLS: without a client certificate the handshake fails; with one
// signed by the client CA the call is answered.
TEST(ObservabilityTlsTest, MutualTlsNeedsAClientCertificate) {
  Certificates certs;
  TestDatabase database;
  app::ServerConfig config;
  config.tls_cert_path = certs.Path("server.crt");
  config.tls_key_path = certs.Path("server.key");
  config.tls_client_ca_path = certs.Path("ca.crt");
  TestServer server(database, config);
  const std::string key = database.CreateApiKey(database.CreateBusiness("mtls"), Role::kOwner).key;

  EXPECT_EQ(ListOver(TlsChannel(server, certs, /*client_cert=*/false), key),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ListOver(PlainChannel(server), key), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ListOver(TlsChannel(server, certs, /*client_cert=*/true), key), grpc::StatusCode::OK);
}

// Unreadable or mismatched files are refused with one line naming the flag
// and the file, before anything listens.
TEST(ObservabilityTlsTest, BadFilesAreClearErrors) {
  Certificates certs;
  TestDatabase database;
  database.Migrate();
  auto start = [&](const std::string& cert, const std::string& key, const std::string& ca) {
    app::ServerConfig config;
    config.database_url = database.app_url();
    config.listen = "127.0.0.1:0";
    config.tls_cert_path = cert;
    config.tls_key_path = key;
    config.tls_client_ca_path = ca;
    absl::StatusOr<std::unique_ptr<app::CampaignServer>> server =
        app::CampaignServer::Start(config);
    return server.ok() ? std::string("started") : std::string(server.status().message());
  };
  const std::string missing = certs.Path("missing.crt");
  std::string error = start(missing, certs.Path("server.key"), "");
  EXPECT_TRUE(absl::StrContains(error, "--tls-cert") && absl::StrContains(error, missing)) << error;
  error = start(certs.Path("server.crt"), certs.Path("client.key"), "");
  EXPECT_TRUE(absl::StrContains(error, "--tls-key") && absl::StrContains(error, "not the key"))
      << error;
  error = start(certs.Path("server.crt"), certs.Path("server.key"), missing);
  EXPECT_TRUE(absl::StrContains(error, "--tls-client-ca")) << error;
  error = start(certs.Path("server.crt"), "", "");
  EXPECT_TRUE(absl::StrContains(error, "together")) << error;
  error = start(certs.Path("server.ext"), certs.Path("server.key"), "");
  EXPECT_TRUE(absl::StrContains(error, "not a PEM file")) << error;

  ProcessResult result =
      RunCampaignd({"serve", "--database-url=" + database.app_url(), "--listen=127.0.0.1:0",
                    "--tls-cert=" + missing, "--tls-key=" + certs.Path("server.key")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(result.err, "campaignd: INVALID_ARGUMENT: cannot read --tls-cert"))
      << result.err;
  ProcessResult bad_metrics =
      RunCampaignd({"serve", "--database-url=" + database.app_url(), "--metrics-listen=nonsense"});
  EXPECT_EQ(bad_metrics.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad_metrics.err, "--metrics-listen \"nonsense\""))
      << bad_metrics.err;
}

}  // namespace
}  // namespace campaign::testing
