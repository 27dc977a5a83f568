// Live progress (issue 4) end to end: real PostgreSQL, in-process replicas
// with real gRPC stubs. Replica A runs the scheduler (calls last 20 ms);
// replica B serves the API only, so everything a subscriber on B sees
// travelled through PostgreSQL NOTIFY. Streams are read to their end under
// a deadline; waits poll a condition with a bound; nothing sleeps to
// synchronise.

#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
#include "server/app/server.h"
#include "server/progress/hub.h"
#include "server/rules/dialing_rules.h"
#include "server/store/notification_listener.h"
#include "tests/support/leads.h"
#include "tests/support/test_database.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace campaign {
namespace {

namespace pb = ::outbound::v1;
using testing::CallContext;
using testing::MakeLead;
using testing::PhoneOf;
using testing::TestDatabase;
using testing::WaitUntil;

// One in-process campaignd with its own channel and stub.
struct Replica {
  std::unique_ptr<app::CampaignServer> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::CampaignService::Stub> stub;

  progress::ProgressHub& hub() const { return *server->progress_hub(); }
};

// A stream read to its end: every message and the final status.
template <typename Response>
struct StreamResult {
  std::vector<Response> messages;
  grpc::Status status;
};

// Reads a stream to its end.
template <typename Response>
StreamResult<Response> Drain(grpc::ClientReader<Response>& reader,
                             std::vector<Response> already = {}) {
  StreamResult<Response> result;
  result.messages = std::move(already);
  Response message;
  while (reader.Read(&message)) result.messages.push_back(message);
  result.status = reader.Finish();
  return result;
}

// Two replicas on one database: A dispatches, B only serves the API. Keys:
// owner and agent of business 1, owner of business 2.
class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_.Migrate();
    business_ = db_.CreateBusiness("watch test");
    other_business_ = db_.CreateBusiness("other business");
    owner_ = db_.CreateApiKey(business_, Role::kOwner).key;
    agent_ = db_.CreateApiKey(business_, Role::kAgent).key;
    other_owner_ = db_.CreateApiKey(other_business_, Role::kOwner).key;
    app::ServerConfig a;
    a.scheduler_enabled = true;
    a.lease_ttl = absl::Seconds(2);
    a.scheduler.poll_interval = absl::Milliseconds(20);
    a.scheduler.heartbeat_interval = absl::Milliseconds(200);
    a.scheduler.sweep_interval = absl::Milliseconds(500);
    a.simulated_dialer.call_duration = absl::Milliseconds(20);
    replica_a_ = StartReplica(a);
    replica_b_ = StartReplica(b_config_);
  }

  Replica StartReplica(app::ServerConfig config) {
    config.database_url = db_.app_url();
    // Dials at any hour: the server's default hours (08:00-21:00 in the
    // number's zone) left these tests' runs waiting at night.
    config.default_dialing_policy = rules::AllDayPolicy();
    config.listen = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<app::CampaignServer>> server =
        app::CampaignServer::Start(config);
    if (!server.ok()) throw std::runtime_error(server.status().ToString());
    Replica replica;
    replica.server = *std::move(server);
    replica.channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", replica.server->port()),
                                          grpc::InsecureChannelCredentials());
    replica.stub = pb::CampaignService::NewStub(replica.channel);
    return replica;
  }

  // Creates a run through replica B; returns it.
  pb::OutboundCallRun CreateRun(int leads, int concurrency, bool paused) {
    static std::atomic<int> counter{0};
    pb::CreateRunRequest request;
    request.set_request_id(absl::StrCat("watch-", counter++));
    request.set_concurrency(concurrency);
    request.set_start_paused(paused);
    for (int i = 1; i <= leads; ++i) {
      *request.add_leads() = MakeLead(i, PhoneOf(i), absl::StrCat("Lead ", i));
    }
    pb::CreateRunResponse response;
    grpc::Status status = replica_b_.stub->CreateRun(CallContext(owner_).get(), request, &response);
    if (!status.ok()) throw std::runtime_error(status.error_message());
    return response.run();
  }

  void Resume(int64_t run_id) {
    pb::ResumeRunRequest request;
    request.set_run_id(run_id);
    pb::OutboundCallRun run;
    ASSERT_TRUE(replica_b_.stub->ResumeRun(CallContext(owner_).get(), request, &run).ok());
  }

  pb::OutboundCallRun GetRun(int64_t run_id) {
    pb::GetRunRequest request;
    request.set_run_id(run_id);
    pb::OutboundCallRun run;
    grpc::Status status = replica_b_.stub->GetRun(CallContext(owner_).get(), request, &run);
    if (!status.ok()) throw std::runtime_error(status.error_message());
    return run;
  }

  // Opens WatchRun on `replica` with `key`.
  std::unique_ptr<grpc::ClientReader<pb::WatchRunResponse>> Watch(const Replica& replica,
                                                                  grpc::ClientContext* context,
                                                                  int64_t run_id,
                                                                  int64_t after_version = 0) {
    pb::WatchRunRequest request;
    request.set_run_id(run_id);
    request.set_after_version(after_version);
    return replica.stub->WatchRun(context, request);
  }

  TestDatabase db_;
  int64_t business_ = 0;
  int64_t other_business_ = 0;
  std::string owner_;
  std::string agent_;
  std::string other_owner_;
  // Replica B's settings (tests adjust them before SetUp through subclasses).
  app::ServerConfig b_config_;
  Replica replica_a_;
  Replica replica_b_;
};

// Versions strictly grow, the last message carries the terminal status, and
// the job updates add up to every job's final status.
void ExpectWellFormed(const std::vector<pb::WatchRunResponse>& messages, int total_jobs) {
  ASSERT_FALSE(messages.empty());
  std::map<int64_t, pb::JobStatus> jobs;
  for (size_t i = 0; i < messages.size(); ++i) {
    EXPECT_GT(messages[i].version(), 0);
    if (i > 0) {
      EXPECT_GT(messages[i].version(), messages[i - 1].version()) << "message " << i;
    }
    EXPECT_FALSE(messages[i].job_updates_truncated());
    for (const pb::JobUpdate& job : messages[i].job_updates()) jobs[job.job_id()] = job.status();
  }
  EXPECT_EQ(messages.back().run().status(), pb::RUN_STATUS_COMPLETED);
  EXPECT_EQ(messages.back().run().cursor_position(), total_jobs);
  EXPECT_EQ(static_cast<int>(jobs.size()), total_jobs);
  for (const auto& [job_id, status] : jobs) {
    EXPECT_TRUE(status == pb::JOB_STATUS_COMPLETED || status == pb::JOB_STATUS_NO_ANSWER ||
                status == pb::JOB_STATUS_BUSY || status == pb::JOB_STATUS_FAILED)
        << "job " << job_id << " ended " << pb::JobStatus_Name(status);
  }
}

// A subscriber on replica B follows a run dispatched by replica A from its
// first snapshot (sent at once) to completion; the final snapshot equals
// GetRun's (except the lease fields, which the worker clears after the last
// change without a new version).
TEST_F(WatchTest, SubscriberOnOtherReplicaFollowsRunToCompletion) {
  const pb::OutboundCallRun created = CreateRun(20, 4, /*paused=*/true);
  auto context = CallContext(owner_);
  auto reader = Watch(replica_b_, context.get(), created.id());
  pb::WatchRunResponse first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_EQ(first.run().status(), pb::RUN_STATUS_PAUSED);
  EXPECT_EQ(first.job_updates_size(), 0);
  EXPECT_GT(first.version(), 0);
  Resume(created.id());
  StreamResult<pb::WatchRunResponse> result = Drain(*reader, {first});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ExpectWellFormed(result.messages, 20);
  EXPECT_GE(result.messages.size(), 3u);

  google::protobuf::util::MessageDifferencer differ;
  const auto* descriptor = pb::OutboundCallRun::descriptor();
  differ.IgnoreField(descriptor->FindFieldByName("locked_by_worker"));
  differ.IgnoreField(descriptor->FindFieldByName("lock_ts"));
  std::string report;
  differ.ReportDifferencesToString(&report);
  EXPECT_TRUE(differ.Compare(result.messages.back().run(), GetRun(created.id()))) << report;
}

// Resuming with after_version sends only newer snapshots, and a finished
// run watched from its final version ends at once with OK.
TEST_F(WatchTest, AfterVersionResumesWithoutRepeats) {
  const pb::OutboundCallRun created = CreateRun(30, 2, /*paused=*/true);
  int64_t last_version = 0;
  {
    auto context = CallContext(owner_);
    auto reader = Watch(replica_b_, context.get(), created.id());
    pb::WatchRunResponse message;
    ASSERT_TRUE(reader->Read(&message));
    Resume(created.id());
    // A run resumed before any worker started it goes back to pending first;
    // the service promises no order beyond that, so wait for the worker.
    do {
      ASSERT_TRUE(reader->Read(&message));
    } while (message.run().status() == pb::RUN_STATUS_PAUSED ||
             message.run().status() == pb::RUN_STATUS_PENDING);
    last_version = message.version();
    EXPECT_EQ(message.run().status(), pb::RUN_STATUS_RUNNING);
    context->TryCancel();
    Drain(*reader);
  }
  auto context = CallContext(owner_);
  auto reader = Watch(replica_b_, context.get(), created.id(), last_version);
  StreamResult<pb::WatchRunResponse> result = Drain(*reader);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_FALSE(result.messages.empty());
  EXPECT_GT(result.messages.front().version(), last_version);
  for (size_t i = 1; i < result.messages.size(); ++i) {
    EXPECT_GT(result.messages[i].version(), result.messages[i - 1].version());
  }
  EXPECT_EQ(result.messages.back().run().status(), pb::RUN_STATUS_COMPLETED);

  auto again = CallContext(owner_);
  auto finished = Watch(replica_b_, again.get(), created.id(), result.messages.back().version());
  StreamResult<pb::WatchRunResponse> nothing = Drain(*finished);
  EXPECT_TRUE(nothing.status.ok()) << nothing.status.error_message();
  EXPECT_TRUE(nothing.messages.empty());
}

// Two hundred concurrent subscribers on replica B all see the completion.
class ManyWatchersTest : public WatchTest {
 protected:
  void SetUp() override {
    b_config_.watch_max_streams_per_business = 500;
    WatchTest::SetUp();
  }
};

TEST_F(ManyWatchersTest, TwoHundredSubscribersAllSeeCompletion) {
  constexpr int kWatchers = 200;
  const pb::OutboundCallRun created = CreateRun(20, 5, /*paused=*/true);
  std::vector<std::thread> threads;
  std::vector<StreamResult<pb::WatchRunResponse>> results(kWatchers);
  std::atomic<int> first_seen{0};
  for (int i = 0; i < kWatchers; ++i) {
    threads.emplace_back([&, i] {
      auto context = CallContext(owner_);
      auto reader = Watch(replica_b_, context.get(), created.id());
      pb::WatchRunResponse first;
      if (!reader->Read(&first)) {
        results[i].status = reader->Finish();
        ++first_seen;
        return;
      }
      ++first_seen;
      results[i] = Drain(*reader, {first});
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return first_seen.load() == kWatchers; }));
  EXPECT_EQ(replica_b_.hub().stats().streams, kWatchers);
  Resume(created.id());
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < kWatchers; ++i) {
    ASSERT_TRUE(results[i].status.ok()) << i << ": " << results[i].status.error_message();
    ASSERT_FALSE(results[i].messages.empty());
    EXPECT_EQ(results[i].messages.back().run().status(), pb::RUN_STATUS_COMPLETED) << i;
  }
  // One read per change serves all of them: far fewer reads than messages.
  size_t messages = 0;
  for (const auto& result : results) messages += result.messages.size();
  EXPECT_LT(replica_b_.hub().stats().run_reads * 10, static_cast<int64_t>(messages));
  EXPECT_TRUE(WaitUntil([&] { return replica_b_.hub().stats().streams == 0; }));
}

// A subscriber that reads nothing while the run completes holds at most one
// pending snapshot in the hub, then reads the latest state.
TEST_F(WatchTest, SlowSubscriberGetsLatestStateWithBoundedBacklog) {
  const pb::OutboundCallRun created = CreateRun(60, 10, /*paused=*/true);
  auto context = CallContext(owner_);
  auto reader = Watch(replica_b_, context.get(), created.id());
  ASSERT_TRUE(WaitUntil([&] { return replica_b_.hub().stats().streams == 1; }));
  Resume(created.id());
  ASSERT_TRUE(WaitUntil([&] { return GetRun(created.id()).status() == pb::RUN_STATUS_COMPLETED; }));
  EXPECT_LE(replica_b_.hub().stats().max_pending_snapshots, 1u);
  StreamResult<pb::WatchRunResponse> result = Drain(*reader);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_FALSE(result.messages.empty());
  EXPECT_EQ(result.messages.back().run().status(), pb::RUN_STATUS_COMPLETED);
  EXPECT_EQ(result.messages.back().run().cursor_position(), 60);
  // Coalesced: 10 messages per second at most, far fewer than the changes.
  EXPECT_LT(result.messages.size(), 60u);
}

// The LISTEN connections are killed during a watch: replica B reconnects,
// listens again and the stream still reaches completion.
TEST_F(WatchTest, SurvivesLosingTheListenConnection) {
  store::NotificationListener& listener = *replica_b_.server->progress_listener();
  ASSERT_TRUE(listener.AwaitConnections(1, absl::Seconds(10)));
  const pb::OutboundCallRun created = CreateRun(40, 2, /*paused=*/true);
  auto context = CallContext(owner_);
  auto reader = Watch(replica_b_, context.get(), created.id());
  pb::WatchRunResponse first;
  ASSERT_TRUE(reader->Read(&first));
  Resume(created.id());
  pb::WatchRunResponse second;
  ASSERT_TRUE(reader->Read(&second));
  EXPECT_EQ(db_.QueryInt(absl::StrCat(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = '",
                store::kListenerApplicationName, "') t")),
            2);
  ASSERT_TRUE(listener.AwaitConnections(2, absl::Seconds(10)));
  StreamResult<pb::WatchRunResponse> result = Drain(*reader, {first, second});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.messages.back().run().status(), pb::RUN_STATUS_COMPLETED);
  EXPECT_EQ(result.messages.back().run().cursor_position(), 40);
}

// Same isolation as every RPC: another business's run is NOT_FOUND exactly
// like a missing one, agents may watch, a call without a key is
// UNAUTHENTICATED.
TEST_F(WatchTest, IsolationAndAuthentication) {
  const pb::OutboundCallRun created = CreateRun(3, 1, /*paused=*/true);
  auto other = CallContext(other_owner_);
  StreamResult<pb::WatchRunResponse> foreign = Drain(*Watch(replica_b_, other.get(), created.id()));
  EXPECT_EQ(foreign.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(foreign.messages.empty());
  auto missing_context = CallContext(owner_);
  StreamResult<pb::WatchRunResponse> missing =
      Drain(*Watch(replica_b_, missing_context.get(), created.id() + 1000));
  EXPECT_EQ(missing.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(foreign.status.error_message(), absl::StrCat("run ", created.id(), " not found"));
  EXPECT_EQ(missing.status.error_message(),
            absl::StrCat("run ", created.id() + 1000, " not found"));

  auto anonymous = CallContext("");
  StreamResult<pb::WatchRunResponse> refused =
      Drain(*Watch(replica_b_, anonymous.get(), created.id()));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  auto agent = CallContext(agent_);
  auto reader = Watch(replica_b_, agent.get(), created.id());
  pb::WatchRunResponse first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_EQ(first.run().id(), created.id());
  agent->TryCancel();
  Drain(*reader);

  // WatchRuns of the other business never shows this business's runs.
  auto other_runs = CallContext(other_owner_);
  other_runs->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  auto runs_reader = replica_b_.stub->WatchRuns(other_runs.get(), pb::WatchRunsRequest());
  StreamResult<pb::WatchRunsResponse> none = Drain(*runs_reader);
  EXPECT_EQ(none.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(none.messages.empty());
}

// Per-business and per-process caps answer RESOURCE_EXHAUSTED; cancelled
// streams free their slots at once.
class CapsTest : public WatchTest {
 protected:
  void SetUp() override {
    b_config_.watch_max_streams = 3;
    b_config_.watch_max_streams_per_business = 2;
    WatchTest::SetUp();
  }
};

TEST_F(CapsTest, CapsAndCancelledStreamsFreeSlots) {
  const pb::OutboundCallRun created = CreateRun(3, 1, /*paused=*/true);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<pb::WatchRunResponse>>> readers;
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(CallContext(owner_));
    readers.push_back(Watch(replica_b_, contexts.back().get(), created.id()));
    pb::WatchRunResponse first;
    ASSERT_TRUE(readers.back()->Read(&first));
  }
  auto third = CallContext(owner_);
  StreamResult<pb::WatchRunResponse> refused = Drain(*Watch(replica_b_, third.get(), created.id()));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.status.error_message().find("--watch-max-streams-per-business"),
            std::string::npos)
      << refused.status.error_message();

  // The other business still has room, up to the process cap of 3.
  const pb::OutboundCallRun foreign = [&] {
    pb::CreateRunRequest request;
    request.set_request_id("other-run");
    request.set_concurrency(1);
    request.set_start_paused(true);
    *request.add_leads() = MakeLead(1, PhoneOf(1), "Lead 1");
    pb::CreateRunResponse response;
    EXPECT_TRUE(
        replica_b_.stub->CreateRun(CallContext(other_owner_).get(), request, &response).ok());
    return response.run();
  }();
  auto other = CallContext(other_owner_);
  auto other_reader = Watch(replica_b_, other.get(), foreign.id());
  pb::WatchRunResponse message;
  ASSERT_TRUE(other_reader->Read(&message));
  auto fourth = CallContext(other_owner_);
  StreamResult<pb::WatchRunResponse> full = Drain(*Watch(replica_b_, fourth.get(), foreign.id()));
  EXPECT_EQ(full.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(full.status.error_message().find("--watch-max-streams "), std::string::npos)
      << full.status.error_message();

  // Cancelling one stream of business 1 frees its slot.
  contexts[0]->TryCancel();
  EXPECT_EQ(Drain(*readers[0]).status.error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(WaitUntil([&] { return replica_b_.hub().stats().streams == 2; }));
  auto again = CallContext(owner_);
  auto again_reader = Watch(replica_b_, again.get(), created.id());
  ASSERT_TRUE(again_reader->Read(&message));
  EXPECT_EQ(message.run().id(), created.id());

  // A deadline frees a slot the same way.
  other->TryCancel();
  Drain(*other_reader);
  ASSERT_TRUE(WaitUntil([&] { return replica_b_.hub().stats().streams == 2; }));
  auto short_lived = CallContext(other_owner_);
  short_lived->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  StreamResult<pb::WatchRunResponse> expired =
      Drain(*Watch(replica_b_, short_lived.get(), foreign.id()));
  EXPECT_EQ(expired.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(expired.messages.size(), 1u);
  EXPECT_TRUE(WaitUntil([&] { return replica_b_.hub().stats().streams == 2; }));
}

// WatchRuns shows a run created after the stream opened, and its completion.
TEST_F(WatchTest, WatchRunsSeesNewRunAndItsCompletion) {
  const pb::OutboundCallRun earlier = CreateRun(1, 1, /*paused=*/true);
  auto context = CallContext(agent_);
  auto reader = replica_b_.stub->WatchRuns(context.get(), pb::WatchRunsRequest());
  pb::WatchRunsResponse message;
  ASSERT_TRUE(reader->Read(&message));  // the current set
  EXPECT_EQ(message.run().id(), earlier.id());
  const pb::OutboundCallRun created = CreateRun(5, 2, /*paused=*/false);
  bool seen = false;
  bool completed = false;
  while (!completed && reader->Read(&message)) {
    if (message.run().id() != created.id()) continue;
    seen = true;
    EXPECT_GT(message.version(), 0);
    completed = message.run().status() == pb::RUN_STATUS_COMPLETED;
  }
  EXPECT_TRUE(seen);
  EXPECT_TRUE(completed);
  context->TryCancel();
  Drain(*reader);
}

// Shutting a replica down ends its open streams with UNAVAILABLE.
TEST_F(WatchTest, ShutdownEndsStreamsWithUnavailable) {
  const pb::OutboundCallRun created = CreateRun(2, 1, /*paused=*/true);
  auto context = CallContext(owner_);
  auto reader = Watch(replica_b_, context.get(), created.id());
  pb::WatchRunResponse first;
  ASSERT_TRUE(reader->Read(&first));
  replica_b_.server->Shutdown(absl::Seconds(5));
  StreamResult<pb::WatchRunResponse> result = Drain(*reader);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << result.status.error_message();
}

// Replica B trusts a resolved key for 300 ms only; a revocable owner key and
// a revocable system_admin key watch.
class RevocationTest : public WatchTest {
 protected:
  static constexpr absl::Duration kAuthCacheTtl = absl::Milliseconds(300);

  void SetUp() override {
    b_config_.auth_cache_ttl = kAuthCacheTtl;
    WatchTest::SetUp();
    revocable_owner_ = db_.CreateApiKey(business_, Role::kOwner);
    system_admin_ = db_.CreateApiKey(std::nullopt, Role::kSystemAdmin);
  }

  void Revoke(const store::NewApiKey& key) {
    db_.ExecAsAdmin(absl::StrCat("UPDATE api_keys SET revoked_at = now() WHERE id = ", key.id));
  }

  // A context for `key` whose deadline bounds how long a test may wait for
  // a stream that never ends.
  static std::unique_ptr<grpc::ClientContext> StreamContext(const std::string& key) {
    auto context = CallContext(key);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
    return context;
  }

  store::NewApiKey revocable_owner_;
  store::NewApiKey system_admin_;
};

// Open WatchRun and WatchRuns streams re-check their key: once the server has
// seen the revocation (a call with the key is refused after the cache TTL), a
// later change of a watched run is not delivered and both streams end with
// UNAUTHENTICATED.
TEST_F(RevocationTest, RevokedKeyGetsNothingMoreAndStreamsEnd) {
  const pb::OutboundCallRun first_run = CreateRun(2, 1, /*paused=*/true);
  const pb::OutboundCallRun second_run = CreateRun(2, 1, /*paused=*/true);

  auto run_context = StreamContext(revocable_owner_.key);
  auto run_reader = Watch(replica_b_, run_context.get(), first_run.id());
  pb::WatchRunResponse snapshot;
  ASSERT_TRUE(run_reader->Read(&snapshot));
  ASSERT_EQ(snapshot.run().id(), first_run.id());

  auto runs_context = StreamContext(system_admin_.key);
  auto runs_reader = replica_b_.stub->WatchRuns(runs_context.get(), pb::WatchRunsRequest());
  std::set<int64_t> initial;
  pb::WatchRunsResponse message;
  while (initial.size() < 2 && runs_reader->Read(&message)) initial.insert(message.run().id());
  ASSERT_EQ(initial, (std::set<int64_t>{first_run.id(), second_run.id()}));

  Revoke(revocable_owner_);
  Revoke(system_admin_);
  // The server has looked both keys up again and found them revoked.
  ASSERT_TRUE(WaitUntil([&] {
    pb::GetRunRequest get;
    get.set_run_id(first_run.id());
    pb::OutboundCallRun ignored;
    return replica_b_.stub->GetRun(CallContext(revocable_owner_.key).get(), get, &ignored)
               .error_code() == grpc::StatusCode::UNAUTHENTICATED;
  }));
  ASSERT_TRUE(WaitUntil([&] {
    pb::ListRunsResponse ignored;
    return replica_b_.stub
               ->ListRuns(CallContext(system_admin_.key).get(), pb::ListRunsRequest(), &ignored)
               .error_code() == grpc::StatusCode::UNAUTHENTICATED;
  }));
  // A change after that reaches nobody holding the revoked keys.
  Resume(first_run.id());

  StreamResult<pb::WatchRunResponse> run_rest = Drain(*run_reader);
  EXPECT_TRUE(run_rest.messages.empty())
      << run_rest.messages.size() << " messages after revocation, first "
      << run_rest.messages.front().ShortDebugString();
  EXPECT_EQ(run_rest.status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << run_rest.status.error_message();
  StreamResult<pb::WatchRunsResponse> runs_rest = Drain(*runs_reader);
  EXPECT_TRUE(runs_rest.messages.empty())
      << runs_rest.messages.size() << " messages after revocation, first "
      << runs_rest.messages.front().ShortDebugString();
  EXPECT_EQ(runs_rest.status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << runs_rest.status.error_message();
}

// Without any other call using the revoked keys, the server's periodic
// re-check (every auth cache TTL) ends both kinds of stream with
// UNAUTHENTICATED well before the client's deadline, while runs keep changing.
TEST_F(RevocationTest, PeriodicRecheckEndsStreamsOfRevokedKeys) {
  const pb::OutboundCallRun run = CreateRun(2, 1, /*paused=*/true);
  auto run_context = StreamContext(revocable_owner_.key);
  auto run_reader = Watch(replica_b_, run_context.get(), run.id());
  pb::WatchRunResponse snapshot;
  ASSERT_TRUE(run_reader->Read(&snapshot));
  auto runs_context = StreamContext(system_admin_.key);
  auto runs_reader = replica_b_.stub->WatchRuns(runs_context.get(), pb::WatchRunsRequest());
  pb::WatchRunsResponse message;
  ASSERT_TRUE(runs_reader->Read(&message));

  // A key that stays valid keeps its stream.
  auto kept_context = StreamContext(owner_);
  auto kept_reader = Watch(replica_b_, kept_context.get(), run.id());
  ASSERT_TRUE(kept_reader->Read(&snapshot));

  Revoke(revocable_owner_);
  Revoke(system_admin_);
  StreamResult<pb::WatchRunResponse> run_rest = Drain(*run_reader);
  EXPECT_EQ(run_rest.status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << run_rest.status.error_message();
  StreamResult<pb::WatchRunsResponse> runs_rest = Drain(*runs_reader);
  EXPECT_EQ(runs_rest.status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << runs_rest.status.error_message();

  // The valid key's stream is still open and delivers the next change.
  Resume(run.id());
  ASSERT_TRUE(kept_reader->Read(&snapshot));
  EXPECT_EQ(snapshot.run().id(), run.id());
  kept_context->TryCancel();
  Drain(*kept_reader);
}

}  // namespace
}  // namespace campaign
