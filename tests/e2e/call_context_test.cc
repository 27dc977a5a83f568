// The per-call context (server/api/call.h) is filled by the tenant
// interceptor from `authorization` and `x-business-id` only: metadata a
// client adds under any other name, however internal it looks, has no
// effect; and the interceptor leaves health calls alone.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
#include "tests/support/leads.h"
#include "tests/support/test_server.h"

namespace campaign::testing {
namespace {

namespace pb = ::outbound::v1;
using grpc::StatusCode;

// Keys a server might use to pass an authenticated caller inward, each with
// a value claiming the most it could.
std::vector<std::pair<std::string, std::string>> ForgedMetadata(int64_t business) {
  const std::string id = absl::StrCat(business);
  return {{"x-principal", "system_admin"},       {"x-role", "system_admin"},
          {"x-caller-business-id", id},          {"x-authenticated-business-id", id},
          {"x-campaign-principal", "key 1"},     {"x-campaign-call-context", "system_admin:" + id},
          {"x-internal-caller", "system_admin"}, {"x-api-key-id", "1"}};
}

// Two businesses, A with a run; B with an owner key and an agent key.
class CallContextTest : public ::testing::Test {
 protected:
  CallContextTest() : server_(db_) {
    business_a_ = db_.CreateBusiness("a");
    business_b_ = db_.CreateBusiness("b");
    owner_a_ = db_.CreateApiKey(business_a_, Role::kOwner).key;
    owner_b_ = db_.CreateApiKey(business_b_, Role::kOwner).key;
    agent_b_ = db_.CreateApiKey(business_b_, Role::kAgent).key;
    pb::CreateRunRequest request;
    request.set_request_id("run-of-a");
    request.set_concurrency(1);
    request.set_start_paused(true);
    *request.add_leads() = MakeLead(1, PhoneOf(1), "n1");
    pb::CreateRunResponse response;
    const grpc::Status status =
        server_.stub().CreateRun(CallContext(owner_a_).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    run_of_a_ = response.run().id();
  }

  // A context with `api_key` (none when empty) and every forged key.
  std::unique_ptr<grpc::ClientContext> Forged(const std::string& api_key) {
    std::unique_ptr<grpc::ClientContext> context = CallContext(api_key);
    for (const auto& [key, value] : ForgedMetadata(business_a_)) context->AddMetadata(key, value);
    return context;
  }

  TestDatabase db_;
  TestServer server_;
  int64_t business_a_ = 0;
  int64_t business_b_ = 0;
  std::string owner_a_;
  std::string owner_b_;
  std::string agent_b_;
  int64_t run_of_a_ = 0;
};

// Without a key, forged metadata is refused like no metadata at all, on
// unary calls and on both watches.
TEST_F(CallContextTest, ForgedMetadataWithoutKeyIsUnauthenticated) {
  pb::ListRunsResponse listed;
  EXPECT_EQ(server_.stub().ListRuns(Forged("").get(), pb::ListRunsRequest(), &listed).error_code(),
            StatusCode::UNAUTHENTICATED);
  pb::GetRunRequest get;
  get.set_run_id(run_of_a_);
  pb::OutboundCallRun run;
  EXPECT_EQ(server_.stub().GetRun(Forged("").get(), get, &run).error_code(),
            StatusCode::UNAUTHENTICATED);
  {
    std::unique_ptr<grpc::ClientContext> context = Forged("");
    pb::WatchRunRequest request;
    request.set_run_id(run_of_a_);
    auto reader = server_.stub().WatchRun(context.get(), request);
    pb::WatchRunResponse message;
    EXPECT_FALSE(reader->Read(&message));
    EXPECT_EQ(reader->Finish().error_code(), StatusCode::UNAUTHENTICATED);
  }
  {
    std::unique_ptr<grpc::ClientContext> context = Forged("");
    auto reader = server_.stub().WatchRuns(context.get(), pb::WatchRunsRequest());
    pb::WatchRunsResponse message;
    EXPECT_FALSE(reader->Read(&message));
    EXPECT_EQ(reader->Finish().error_code(), StatusCode::UNAUTHENTICATED);
  }
}

// A tenant key of B with forged metadata naming A stays within B: A's run is
// NOT_FOUND to read and to watch, and B's listing is empty.
TEST_F(CallContextTest, ForgedMetadataDoesNotWidenATenantKey) {
  pb::GetRunRequest get;
  get.set_run_id(run_of_a_);
  pb::OutboundCallRun run;
  EXPECT_EQ(server_.stub().GetRun(Forged(owner_b_).get(), get, &run).error_code(),
            StatusCode::NOT_FOUND);
  pb::ListRunsResponse listed;
  const grpc::Status status =
      server_.stub().ListRuns(Forged(owner_b_).get(), pb::ListRunsRequest(), &listed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(listed.runs_size(), 0);
  std::unique_ptr<grpc::ClientContext> context = Forged(owner_b_);
  pb::WatchRunRequest request;
  request.set_run_id(run_of_a_);
  auto reader = server_.stub().WatchRun(context.get(), request);
  pb::WatchRunResponse message;
  EXPECT_FALSE(reader->Read(&message));
  EXPECT_EQ(reader->Finish().error_code(), StatusCode::NOT_FOUND);
}

// Forged metadata claiming a higher role does not lift an agent's: it still
// may not create runs.
TEST_F(CallContextTest, ForgedMetadataDoesNotRaiseARole) {
  pb::CreateRunRequest request;
  request.set_request_id("agent-run");
  request.set_concurrency(1);
  *request.add_leads() = MakeLead(1, PhoneOf(1), "n1");
  pb::CreateRunResponse response;
  const grpc::Status status = server_.stub().CreateRun(Forged(agent_b_).get(), request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::PERMISSION_DENIED) << status.error_message();
}

// Health calls pass the tenant interceptor untouched: metadata that would
// refuse a CampaignService call (two keys, a malformed business id) does not
// matter to them.
TEST_F(CallContextTest, HealthCallsIgnoreTenantMetadata) {
  std::unique_ptr<grpc::health::v1::Health::Stub> health =
      grpc::health::v1::Health::NewStub(server_.channel());
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer one");
  context.AddMetadata("authorization", "Bearer two");
  context.AddMetadata("x-business-id", "not-a-number");
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health->Check(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace campaign::testing
