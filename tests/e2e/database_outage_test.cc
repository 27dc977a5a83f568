// While PostgreSQL refuses the service's connections, RPCs fail as
// UNAVAILABLE (retryable), never INTERNAL, and the service recovers by itself
// once the database is back: broken pooled connections are replaced.
#include <gtest/gtest.h>

#include "tests/support/test_database.h"
#include "tests/support/test_server.h"

namespace campaign::testing {
namespace {

namespace pb = ::outbound::v1;

TEST(DatabaseOutageTest, RpcsAreUnavailableDuringTheOutageAndRecoverAfter) {
  TestDatabase database;
  TestServer server(database);
  const int64_t business = database.CreateBusiness("outage");
  const std::string key = database.CreateApiKey(business, Role::kOwner).key;

  pb::CreateRunRequest create;
  create.set_request_id("outage-1");
  create.set_concurrency(1);
  pb::Lead* lead = create.add_leads();
  lead->set_lead_id(1);
  lead->set_phone("+14155550123");
  pb::CreateRunResponse created;
  ASSERT_TRUE(server.stub().CreateRun(CallContext(key).get(), create, &created).ok());

  database.RefuseConnections();
  pb::GetRunRequest get;
  get.set_run_id(created.run().id());
  // Every call during the outage: the pool's connections are broken, new ones
  // are refused. Several calls, so both kinds of failure are exercised.
  for (int i = 0; i < 3; ++i) {
    pb::OutboundCallRun run;
    grpc::Status status = server.stub().GetRun(CallContext(key).get(), get, &run);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << "call " << i << ": " << status.error_message();
  }
  pb::CreateRunResponse refused;
  create.set_request_id("outage-2");
  EXPECT_EQ(server.stub().CreateRun(CallContext(key).get(), create, &refused).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  database.AllowConnections();
  pb::OutboundCallRun run;
  grpc::Status status = server.stub().GetRun(CallContext(key).get(), get, &run);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(run.id(), created.run().id());
  // The create refused during the outage wrote nothing; retried now, it works once.
  EXPECT_EQ(database.QueryInt("SELECT count(*) FROM outbound_call_runs"), 1);
  ASSERT_TRUE(server.stub().CreateRun(CallContext(key).get(), create, &refused).ok());
  EXPECT_EQ(database.QueryInt("SELECT count(*) FROM outbound_call_runs"), 2);
}

}  // namespace
}  // namespace campaign::testing
