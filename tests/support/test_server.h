// An in-process campaignd API server on a free port with real stubs, and a
// way to run the campaignd binary as a separate process.
#ifndef CAMPAIGN_TESTS_SUPPORT_TEST_SERVER_H_
#define CAMPAIGN_TESTS_SUPPORT_TEST_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "outbound/v1/campaign_service.grpc.pb.h"
#include "server/app/server.h"
#include "tests/support/test_database.h"

namespace campaign::testing {

// The service on 127.0.0.1:<free port> against `database` (migrated first).
class TestServer {
 public:
  // `config.database_url` and `config.listen` are filled in.
  explicit TestServer(const TestDatabase& database, app::ServerConfig config = {});
  ~TestServer();

  int port() const { return server_->port(); }
  std::string address() const;
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  outbound::v1::CampaignService::Stub& stub() const { return *stub_; }
  // The server itself (metrics, scheduler, Shutdown).
  app::CampaignServer& server() const { return *server_; }

 private:
  std::unique_ptr<app::CampaignServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<outbound::v1::CampaignService::Stub> stub_;
};

// A client context carrying `authorization: Bearer <api_key>` (none when
// empty) and x-business-id (none when empty), with a 30 s deadline.
std::unique_ptr<grpc::ClientContext> CallContext(const std::string& api_key,
                                                 const std::string& business_id = "");

// What a finished campaignd process did.
struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the campaignd binary of this build with `args` and extra environment
// variables, waits for it, and returns its exit code and output.
ProcessResult RunCampaignd(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env = {});

}  // namespace campaign::testing

#endif  // CAMPAIGN_TESTS_SUPPORT_TEST_SERVER_H_
