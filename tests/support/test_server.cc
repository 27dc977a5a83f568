#include "tests/support/test_server.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace campaign::testing {

TestServer::TestServer(const TestDatabase& database, app::ServerConfig config) {
  database.Migrate();
  config.database_url = database.app_url();
  config.listen = "127.0.0.1:0";
  // A server that dials calls all day (--default-calling-hours=00:00-24:00)
  // unless the test set a default policy of its own: tests pass at any hour.
  // One that does not dial keeps the server's default as is.
  if (config.scheduler_enabled && config.default_dialing_policy == rules::ServerDefaultPolicy()) {
    config.default_dialing_policy.calling_windows.clear();
    for (int day = 1; day <= 7; ++day) {
      config.default_dialing_policy.calling_windows.push_back({day, 0, 24 * 60});
    }
  }
  absl::StatusOr<std::unique_ptr<app::CampaignServer>> server = app::CampaignServer::Start(config);
  if (!server.ok()) throw std::runtime_error(server.status().ToString());
  server_ = *std::move(server);
  channel_ = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  stub_ = outbound::v1::CampaignService::NewStub(channel_);
}

TestServer::~TestServer() = default;

std::string TestServer::address() const { return absl::StrCat("127.0.0.1:", port()); }

std::unique_ptr<grpc::ClientContext> CallContext(const std::string& api_key,
                                                 const std::string& business_id) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!api_key.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", api_key));
  if (!business_id.empty()) context->AddMetadata("x-business-id", business_id);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return context;
}

ProcessResult RunCampaignd(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env) {
  char out_path[] = "/tmp/campaignd-out-XXXXXX";
  char err_path[] = "/tmp/campaignd-err-XXXXXX";
  const int out_fd = mkstemp(out_path);
  const int err_fd = mkstemp(err_path);
  if (out_fd < 0 || err_fd < 0) throw std::runtime_error("mkstemp failed");

  std::vector<std::string> argv_storage = {CAMPAIGND_PATH};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_storage;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const std::string key = text.substr(0, text.find('='));
    if (env.count(key) == 0) env_storage.push_back(text);
  }
  for (const auto& [key, value] : env) env_storage.push_back(absl::StrCat(key, "=", value));
  std::vector<char*> envp;
  for (std::string& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out_fd);
  close(err_fd);
  if (spawned != 0) throw std::runtime_error(absl::StrCat("cannot run ", CAMPAIGND_PATH));
  int status = 0;
  waitpid(pid, &status, 0);

  auto slurp = [](const char* path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    std::remove(path);
    return text.str();
  };
  ProcessResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  return result;
}

}  // namespace campaign::testing
