// The C++ client library (client/) against in-process campaignd servers on a
// real PostgreSQL database: metadata, generated request ids, retries of
// UNAVAILABLE, and WatchRun to completion, across a server restart. Waits are
// on events (notifications, joins, conditions under a bound); nothing
// sleeps to synchronise and nothing asserts on timing.

#include "outbound_campaign/client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "outbound/v1/campaign_service.pb.h"
#include "server/app/server.h"
#include "server/rules/dialing_rules.h"
#include "tests/support/ports.h"
#include "tests/support/test_database.h"

namespace campaign {
namespace {

namespace pb = ::outbound::v1;
using ::outbound::client::Client;
using ::outbound::client::ClientOptions;
using ::outbound::client::RetryEvent;
using testing::TestDatabase;

// How long a test waits for an event before failing.
constexpr absl::Duration kEventTimeout = absl::Seconds(30);

// A version 4 UUID in its canonical lower-case form.
const std::regex kUuidV4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");

bool IsFinal(pb::JobStatus status) {
  return status == pb::JOB_STATUS_COMPLETED || status == pb::JOB_STATUS_FAILED ||
         status == pb::JOB_STATUS_NO_ANSWER || status == pb::JOB_STATUS_BUSY ||
         status == pb::JOB_STATUS_CANCELLED;
}

// A CreateRun request for `count` leads with ordinary numbers.
pb::CreateRunRequest RunRequest(int count, bool start_paused = false,
                                const std::string& request_id = "") {
  pb::CreateRunRequest request;
  request.set_request_id(request_id);
  request.set_concurrency(2);
  request.set_start_paused(start_paused);
  for (int i = 0; i < count; ++i) {
    pb::Lead* lead = request.add_leads();
    lead->set_lead_id(i + 1);
    lead->set_phone(absl::StrCat("+1415555", 3000 + i));
    lead->set_name(absl::StrCat("Lead ", i + 1));
  }
  return request;
}

// The retries a client announced, for tests to wait on.
class RetryLog {
 public:
  void Record(const RetryEvent& event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
  }

  // Waits until `method` was retried at least `count` times; false when it
  // was not within kEventTimeout.
  bool WaitFor(const std::string& method, int count = 1) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() {
      int n = 0;
      for (const RetryEvent& event : events_) n += event.method == method ? 1 : 0;
      return n >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kEventTimeout);
  }

  std::vector<RetryEvent> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<RetryEvent> events_ ABSL_GUARDED_BY(mu_);
};

// A migrated database with one business (owner key), a second business, and
// a system admin key; servers on chosen ports and clients with fast retries.
class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_.Migrate();
    business_ = db_.CreateBusiness("client test");
    other_business_ = db_.CreateBusiness("other business");
    owner_ = db_.CreateApiKey(business_, Role::kOwner).key;
    system_admin_ = db_.CreateApiKey(std::nullopt, Role::kSystemAdmin).key;
  }

  // An in-process server on 127.0.0.1:`port` (0: any). With the scheduler,
  // simulated calls last 20 ms and the worker polls every 20 ms.
  std::unique_ptr<app::CampaignServer> StartServer(int port, bool scheduler,
                                                   app::ServerConfig config = {}) {
    config.database_url = db_.app_url();
    config.listen = absl::StrCat("127.0.0.1:", port);
    config.scheduler_enabled = scheduler;
    config.lease_ttl = absl::Seconds(2);
    config.scheduler.poll_interval = absl::Milliseconds(20);
    config.scheduler.heartbeat_interval = absl::Milliseconds(200);
    config.scheduler.sweep_interval = absl::Milliseconds(500);
    config.simulated_dialer.call_duration = absl::Milliseconds(20);
    // Dials at any hour (the default hours, 08:00-21:00 in the number's
    // zone, left runs waiting at night).
    config.default_dialing_policy = rules::AllDayPolicy();
    absl::StatusOr<std::unique_ptr<app::CampaignServer>> server =
        app::CampaignServer::Start(config);
    if (!server.ok()) throw std::runtime_error(server.status().ToString());
    return *std::move(server);
  }

  // Options for a client of `port` with `api_key`, retrying fast and often
  // (tens of milliseconds apart, up to a few seconds), reporting to retries_.
  ClientOptions Options(int port, const std::string& api_key) {
    ClientOptions options;
    options.address = absl::StrCat("127.0.0.1:", port);
    options.api_key = api_key;
    options.retry.max_attempts = 200;
    options.retry.initial_backoff = std::chrono::milliseconds(10);
    options.retry.max_backoff = std::chrono::milliseconds(50);
    options.on_retry = [this](const RetryEvent& event) { retries_.Record(event); };
    return options;
  }

  std::unique_ptr<Client> MakeClient(const ClientOptions& options) {
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
    if (!client.ok()) throw std::runtime_error(client.status().ToString());
    return *std::move(client);
  }

  TestDatabase db_;
  int64_t business_ = 0;
  int64_t other_business_ = 0;
  std::string owner_;
  std::string system_admin_;
  RetryLog retries_;
};

// Every call carries `authorization: Bearer` and, when set, x-business-id:
// without a key the server refuses; a system admin acts in the business it
// names; an owner naming another business is refused.
TEST_F(ClientTest, SendsApiKeyAndBusinessMetadata) {
  std::unique_ptr<app::CampaignServer> server = StartServer(0, false);

  std::unique_ptr<Client> owner = MakeClient(Options(server->port(), owner_));
  absl::StatusOr<pb::CreateRunResponse> created = owner->CreateRun(RunRequest(2));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->run().business_id(), business_);
  absl::StatusOr<pb::OutboundCallRun> read = owner->GetRun(created->run().id());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->id(), created->run().id());

  std::unique_ptr<Client> anonymous = MakeClient(Options(server->port(), ""));
  EXPECT_EQ(anonymous->GetRun(created->run().id()).status().code(),
            absl::StatusCode::kUnauthenticated);

  ClientOptions admin_options = Options(server->port(), system_admin_);
  admin_options.business_id = absl::StrCat(other_business_);
  std::unique_ptr<Client> admin = MakeClient(admin_options);
  absl::StatusOr<pb::CreateRunResponse> admin_created = admin->CreateRun(RunRequest(1));
  ASSERT_TRUE(admin_created.ok()) << admin_created.status();
  EXPECT_EQ(admin_created->run().business_id(), other_business_);

  ClientOptions foreign_options = Options(server->port(), owner_);
  foreign_options.business_id = absl::StrCat(other_business_);
  std::unique_ptr<Client> foreign = MakeClient(foreign_options);
  EXPECT_EQ(foreign->GetRun(admin_created->run().id()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(retries_.events().empty());
}

// Without a request_id the client generates a random UUID, so two calls make
// two runs; the same explicit request_id twice returns the same run.
TEST_F(ClientTest, GeneratesRequestIdOnlyWhenMissing) {
  std::unique_ptr<app::CampaignServer> server = StartServer(0, false);
  std::unique_ptr<Client> client = MakeClient(Options(server->port(), owner_));

  absl::StatusOr<pb::CreateRunResponse> first = client->CreateRun(RunRequest(2));
  absl::StatusOr<pb::CreateRunResponse> second = client->CreateRun(RunRequest(2));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(std::regex_match(first->run().request_id(), kUuidV4)) << first->run().request_id();
  EXPECT_TRUE(std::regex_match(second->run().request_id(), kUuidV4)) << second->run().request_id();
  EXPECT_NE(first->run().request_id(), second->run().request_id());
  EXPECT_NE(first->run().id(), second->run().id());

  absl::StatusOr<pb::CreateRunResponse> explicit_first =
      client->CreateRun(RunRequest(3, false, "order-42"));
  absl::StatusOr<pb::CreateRunResponse> explicit_again =
      client->CreateRun(RunRequest(3, false, "order-42"));
  ASSERT_TRUE(explicit_first.ok()) << explicit_first.status();
  ASSERT_TRUE(explicit_again.ok()) << explicit_again.status();
  EXPECT_EQ(explicit_first->run().request_id(), "order-42");
  EXPECT_EQ(explicit_again->run().id(), explicit_first->run().id());

  absl::StatusOr<pb::ListRunsResponse> runs = client->ListRuns(pb::ListRunsRequest());
  ASSERT_TRUE(runs.ok()) << runs.status();
  EXPECT_EQ(runs->runs_size(), 3);

  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(outbound::client::NewRequestId());
  EXPECT_EQ(ids.size(), 1000u);
}

// A call made while nothing listens fails UNAVAILABLE, is retried with
// backoff, and succeeds once a server starts on that port; the generated
// request_id made the retried CreateRun create exactly one run.
TEST_F(ClientTest, RetriesUnavailableUntilServerStarts) {
  const int port = testing::FreeLoopbackPort();
  std::unique_ptr<Client> client = MakeClient(Options(port, owner_));

  absl::StatusOr<pb::CreateRunResponse> created = absl::UnknownError("not called");
  std::thread caller([&] { created = client->CreateRun(RunRequest(2)); });
  ASSERT_TRUE(retries_.WaitFor("CreateRun")) << "no retry announced";
  std::unique_ptr<app::CampaignServer> server = StartServer(port, false);
  caller.join();

  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(std::regex_match(created->run().request_id(), kUuidV4));
  for (const RetryEvent& event : retries_.events()) {
    EXPECT_EQ(event.method, "CreateRun");
    EXPECT_EQ(event.status.code(), absl::StatusCode::kUnavailable);
  }
  absl::StatusOr<pb::ListRunsResponse> runs = client->ListRuns(pb::ListRunsRequest());
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->runs_size(), 1);
  EXPECT_EQ(runs->runs(0).id(), created->run().id());
}

// Retries stop after max_attempts, and only UNAVAILABLE is retried.
TEST_F(ClientTest, RetriesOnlyUnavailableAndOnlyMaxAttemptsTimes) {
  ClientOptions options = Options(testing::FreeLoopbackPort(), owner_);
  options.retry.max_attempts = 3;
  std::unique_ptr<Client> unreachable = MakeClient(options);
  EXPECT_EQ(unreachable->GetRun(1).status().code(), absl::StatusCode::kUnavailable);
  std::vector<RetryEvent> events = retries_.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].attempt, 1);
  EXPECT_EQ(events[1].attempt, 2);

  std::unique_ptr<app::CampaignServer> server = StartServer(0, false);
  std::unique_ptr<Client> client = MakeClient(Options(server->port(), owner_));
  EXPECT_EQ(client->GetRun(987654321).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client->StopRun(987654321).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(retries_.events().size(), 2u) << "a NOT_FOUND was retried";
}

// A message of WatchRun as the test saw it.
struct Watched {
  absl::Mutex mu;
  std::vector<pb::WatchRunResponse> messages ABSL_GUARDED_BY(mu);
  absl::Notification first;

  bool Add(const pb::WatchRunResponse& message) {
    absl::MutexLock lock(&mu);
    messages.push_back(message);
    if (!first.HasBeenNotified()) first.Notify();
    return true;
  }
};

// Checks a finished watch of a run created paused with `leads` leads and
// resumed after the first message: versions only grow (no snapshot twice),
// the last message is COMPLETED with every lead accounted for, and every
// lead's final job status arrived as a job update.
void ExpectWatchedToCompletion(Watched& watched, int leads) {
  absl::MutexLock lock(&watched.mu);
  ASSERT_FALSE(watched.messages.empty());
  for (size_t i = 1; i < watched.messages.size(); ++i) {
    EXPECT_GT(watched.messages[i].version(), watched.messages[i - 1].version()) << "message " << i;
  }
  const pb::OutboundCallRun& last = watched.messages.back().run();
  EXPECT_EQ(last.status(), pb::RUN_STATUS_COMPLETED);
  EXPECT_EQ(last.completed_count() + last.failed_count(), leads);
  EXPECT_EQ(last.cursor_position(), leads);
  std::map<int64_t, pb::JobStatus> final_status;
  for (const pb::WatchRunResponse& message : watched.messages) {
    EXPECT_FALSE(message.job_updates_truncated());
    for (const pb::JobUpdate& update : message.job_updates()) {
      final_status[update.lead_id()] = update.status();
    }
  }
  ASSERT_EQ(final_status.size(), static_cast<size_t>(leads));
  for (const auto& [lead_id, status] : final_status) {
    EXPECT_TRUE(IsFinal(status)) << "lead " << lead_id << " ended " << pb::JobStatus_Name(status);
  }
}

// WatchRun delivers the run's snapshots to the callback and returns OK once
// the run completed.
TEST_F(ClientTest, WatchRunToCompletion) {
  std::unique_ptr<app::CampaignServer> server = StartServer(0, true);
  std::unique_ptr<Client> client = MakeClient(Options(server->port(), owner_));
  absl::StatusOr<pb::CreateRunResponse> created = client->CreateRun(RunRequest(5, true));
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t run_id = created->run().id();

  Watched watched;
  absl::Status watch_status = absl::UnknownError("not returned");
  std::thread watcher([&] {
    watch_status = client->WatchRun(
        run_id, 0, [&](const pb::WatchRunResponse& message) { return watched.Add(message); });
  });
  ASSERT_TRUE(watched.first.WaitForNotificationWithTimeout(kEventTimeout));
  ASSERT_TRUE(client->ResumeRun(run_id).ok());
  watcher.join();

  EXPECT_TRUE(watch_status.ok()) << watch_status;
  ExpectWatchedToCompletion(watched, 5);
  {
    absl::MutexLock lock(&watched.mu);
    EXPECT_EQ(watched.messages.front().run().status(), pb::RUN_STATUS_PAUSED);
  }
  EXPECT_TRUE(retries_.events().empty());
}

// A run's call settings go through CreateRun's request as given, and the
// full-request StopRun / CancelRun carry hang_up; the run-id forms leave it
// unset (calls are hung up).
TEST_F(ClientTest, CallSettingsAndHangUpReachTheServer) {
  std::unique_ptr<app::CampaignServer> server = StartServer(0, false);
  std::unique_ptr<Client> client = MakeClient(Options(server->port(), owner_));
  pb::CreateRunRequest request = RunRequest(1, true);
  request.mutable_call_settings()->set_caller_id("+14155550100");
  request.mutable_call_settings()->set_ring_timeout_seconds(20);
  absl::StatusOr<pb::CreateRunResponse> kept = client->CreateRun(request);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->run().call_settings().caller_id(), "+14155550100");
  EXPECT_EQ(kept->run().call_settings().ring_timeout_seconds(), 20);
  absl::StatusOr<pb::CreateRunResponse> hung = client->CreateRun(RunRequest(1, true));
  ASSERT_TRUE(hung.ok()) << hung.status();
  absl::StatusOr<pb::CreateRunResponse> cancelled = client->CreateRun(RunRequest(1, true));
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();

  pb::StopRunRequest stop;
  stop.set_run_id(kept->run().id());
  stop.set_hang_up(false);
  absl::StatusOr<pb::StopRunResponse> stopped = client->StopRun(stop);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_FALSE(stopped->run().hang_up_on_end());
  absl::StatusOr<pb::StopRunResponse> default_stop = client->StopRun(hung->run().id());
  ASSERT_TRUE(default_stop.ok()) << default_stop.status();
  EXPECT_TRUE(default_stop->run().hang_up_on_end());
  pb::CancelRunRequest cancel;
  cancel.set_run_id(cancelled->run().id());
  cancel.set_hang_up(false);
  absl::StatusOr<pb::OutboundCallRun> cancel_answer = client->CancelRun(cancel);
  ASSERT_TRUE(cancel_answer.ok()) << cancel_answer.status();
  EXPECT_FALSE(cancel_answer->hang_up_on_end());
}

// The do-not-call list through the client: add (normalised, counted once),
// list in phone order with pages, remove; the ledger of a run (one row per
// dial, written here as the scheduler's claim writes it) and of a job; a
// run the business does not have is NOT_FOUND, never retried.
TEST_F(ClientTest, DoNotCallListAndAttemptLedger) {
  std::unique_ptr<app::CampaignServer> server = StartServer(0, false);
  std::unique_ptr<Client> client = MakeClient(Options(server->port(), owner_));

  pb::AddDoNotCallNumbersRequest add;
  add.add_phones("+1 415 555 0199");
  add.add_phones("+14155550198");
  add.add_phones("+14155550199");
  absl::StatusOr<pb::AddDoNotCallNumbersResponse> added = client->AddDoNotCallNumbers(add);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->added(), 2);
  pb::ListDoNotCallNumbersRequest list;
  list.set_page_size(1);
  absl::StatusOr<pb::ListDoNotCallNumbersResponse> page = client->ListDoNotCallNumbers(list);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->numbers_size(), 1);
  EXPECT_EQ(page->numbers(0).phone(), "+14155550198");
  list.set_page_token(page->next_page_token());
  page = client->ListDoNotCallNumbers(list);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->numbers_size(), 1);
  EXPECT_EQ(page->numbers(0).phone(), "+14155550199");
  EXPECT_TRUE(page->next_page_token().empty());
  pb::RemoveDoNotCallNumbersRequest remove;
  remove.add_phones("+14155550198");
  remove.add_phones("+14155550100");
  absl::StatusOr<pb::RemoveDoNotCallNumbersResponse> removed =
      client->RemoveDoNotCallNumbers(remove);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->removed(), 1);

  absl::StatusOr<pb::CreateRunResponse> created = client->CreateRun(RunRequest(2, true));
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t run_id = created->run().id();
  db_.ExecAsAdmin(absl::StrCat(
      "INSERT INTO call_attempts (business_id, run_id, job_id, attempt, lead_id, phone, "
      "dial_token, outcome, ended_at) SELECT business_id, run_id, id, a, lead_id, phone, "
      "'t' || id || '-' || a, 'busy', now() FROM outbound_call_jobs, generate_series(1, 2) a "
      "WHERE run_id = ",
      run_id));
  pb::ListAttemptsRequest attempts;
  attempts.set_run_id(run_id);
  absl::StatusOr<pb::ListAttemptsResponse> ledger = client->ListAttempts(attempts);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  ASSERT_EQ(ledger->attempts_size(), 4);
  EXPECT_EQ(ledger->attempts(1).attempt(), 2);
  EXPECT_EQ(ledger->attempts(1).job_id(), ledger->attempts(0).job_id());
  EXPECT_EQ(ledger->attempts(3).outcome(), pb::JOB_STATUS_BUSY);
  attempts.set_job_id(ledger->attempts(3).job_id());
  ledger = client->ListAttempts(attempts);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  EXPECT_EQ(ledger->attempts_size(), 2);
  attempts.set_run_id(987654321);
  attempts.set_job_id(0);
  EXPECT_EQ(client->ListAttempts(attempts).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(retries_.events().empty());
}

// Dialing policies through the client: the request (policy and mask) reaches
// the server as given — the business's row and a run's row hold exactly the
// masked field (what the effective policy then resolves is the rules' and
// the API's tests) — and the effective policy comes back.
TEST_F(ClientTest, DialingPolicyGetAndUpdate) {
  std::unique_ptr<app::CampaignServer> server = StartServer(0, false);
  std::unique_ptr<Client> client = MakeClient(Options(server->port(), owner_));
  absl::StatusOr<pb::DialingPolicy> initial = client->GetDialingPolicy(0);
  ASSERT_TRUE(initial.ok()) << initial.status();
  EXPECT_GE(initial->max_attempts(), 1);
  EXPECT_GT(initial->calling_windows_size(), 0);

  pb::UpdateDialingPolicyRequest update;
  update.mutable_policy()->set_max_attempts(3);
  update.mutable_policy()->set_default_time_zone("America/Chicago");  // not in the mask
  update.mutable_update_mask()->add_paths("max_attempts");
  absl::StatusOr<pb::DialingPolicy> updated = client->UpdateDialingPolicy(update);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_GT(updated->calling_windows_size(), 0);
  const std::string business_row =
      absl::StrCat("FROM dialing_policy WHERE business_id = ", business_, " AND run_id = 0");
  EXPECT_EQ(db_.QueryInt("SELECT max_attempts " + business_row), 3);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) " + business_row + " AND default_time_zone IS NULL"), 1);

  absl::StatusOr<pb::CreateRunResponse> created = client->CreateRun(RunRequest(1, true));
  ASSERT_TRUE(created.ok()) << created.status();
  update.set_run_id(created->run().id());
  update.mutable_policy()->set_max_attempts(5);
  updated = client->UpdateDialingPolicy(update);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT max_attempts FROM dialing_policy WHERE run_id = ",
                                      created->run().id())),
            5);
  EXPECT_EQ(db_.QueryInt("SELECT max_attempts " + business_row), 3);
  EXPECT_TRUE(client->GetDialingPolicy(created->run().id()).ok());
  EXPECT_EQ(client->GetDialingPolicy(987654321).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(retries_.events().empty());
}

// Do-not-call writes are retried on UNAVAILABLE (the list is a set): a call
// made while nothing listens succeeds once a server starts, and the number
// is on the list once.
TEST_F(ClientTest, DoNotCallWritesAreRetriedOnUnavailable) {
  const int port = testing::FreeLoopbackPort();
  std::unique_ptr<Client> client = MakeClient(Options(port, owner_));
  pb::AddDoNotCallNumbersRequest add;
  add.add_phones("+14155550177");
  absl::StatusOr<pb::AddDoNotCallNumbersResponse> added = absl::UnknownError("not called");
  std::thread caller([&] { added = client->AddDoNotCallNumbers(add); });
  ASSERT_TRUE(retries_.WaitFor("AddDoNotCallNumbers")) << "no retry announced";
  std::unique_ptr<app::CampaignServer> server = StartServer(port, false);
  caller.join();
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->added(), 1);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM do_not_call WHERE phone = '+14155550177'"), 1);
}

// Returning false from the callback ends a watch at once with CANCELLED.
TEST_F(ClientTest, WatchRunStopsWhenTheCallbackSaysSo) {
  std::unique_ptr<app::CampaignServer> server = StartServer(0, false);
  std::unique_ptr<Client> client = MakeClient(Options(server->port(), owner_));
  absl::StatusOr<pb::CreateRunResponse> created = client->CreateRun(RunRequest(1, true));
  ASSERT_TRUE(created.ok()) << created.status();

  int calls = 0;
  const absl::Status status =
      client->WatchRun(created->run().id(), 0, [&](const pb::WatchRunResponse& message) {
        ++calls;
        EXPECT_EQ(message.run().id(), created->run().id());
        return false;
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(calls, 1);

  // WatchRuns (which never ends by itself) stops the same way.
  std::vector<int64_t> seen;
  const absl::Status runs_status =
      client->WatchRuns(pb::WatchRunsRequest(), [&](const pb::WatchRunsResponse& message) {
        seen.push_back(message.run().id());
        return false;
      });
  EXPECT_EQ(runs_status.code(), absl::StatusCode::kCancelled) << runs_status;
  EXPECT_EQ(seen, std::vector<int64_t>{created->run().id()});
}

// A replica restart is invisible to a watcher: the server shutting down ends
// the stream with UNAVAILABLE, the client reconnects (with backoff, while
// nothing listens) to the server started on the same port, resumes after
// the last version it delivered, and the watch ends OK when the run
// completes, without a repeated snapshot or a lost job update.
TEST_F(ClientTest, WatchRunResumesAcrossServerRestart) {
  std::unique_ptr<app::CampaignServer> first_server = StartServer(0, false);
  const int port = first_server->port();
  std::unique_ptr<Client> client = MakeClient(Options(port, owner_));
  absl::StatusOr<pb::CreateRunResponse> created = client->CreateRun(RunRequest(3, true));
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t run_id = created->run().id();

  Watched watched;
  absl::Status watch_status = absl::UnknownError("not returned");
  std::thread watcher([&] {
    watch_status = client->WatchRun(
        run_id, 0, [&](const pb::WatchRunResponse& message) { return watched.Add(message); });
  });
  ASSERT_TRUE(watched.first.WaitForNotificationWithTimeout(kEventTimeout));

  first_server->Shutdown(absl::Seconds(5));
  first_server.reset();
  ASSERT_TRUE(retries_.WaitFor("WatchRun")) << "the watch did not notice the shutdown";
  std::unique_ptr<app::CampaignServer> second_server = StartServer(port, true);
  absl::StatusOr<pb::OutboundCallRun> resumed = client->ResumeRun(run_id);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  watcher.join();

  EXPECT_TRUE(watch_status.ok()) << watch_status;
  ExpectWatchedToCompletion(watched, 3);
  for (const RetryEvent& event : retries_.events()) {
    EXPECT_EQ(event.status.code(), absl::StatusCode::kUnavailable) << event.method;
  }
}

// Certificates made for one test with the openssl command: a CA, a server
// certificate for 127.0.0.1 and localhost and a client certificate signed by
// it, and an unrelated CA. Removed with the object.
class TestCertificates {
 public:
  TestCertificates() {
    char dir[] = "/tmp/client-tls-XXXXXX";
    if (mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = dir;
    std::ofstream script(path("make.sh"));
    script << R"(set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }
ca() { key "$1"; openssl req -x509 -new -key "$1.key" -subj "/CN=$1" -days 2 -out "$1.pem"; }
leaf() {
  key "$1"
  openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr"
  printf '%s\n' "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.pem"
}
ca ca
ca other_ca
leaf server 'subjectAltName=IP:127.0.0.1,DNS:localhost'
leaf client 'extendedKeyUsage=clientAuth'
)";
    script.close();
    const std::string command = absl::StrCat("cd '", dir_, "' && bash make.sh > make.log 2>&1");
    if (std::system(command.c_str()) != 0) {
      std::ifstream log(path("make.log"));
      std::stringstream text;
      text << log.rdbuf();
      throw std::runtime_error("making certificates failed: " + text.str());
    }
  }
  ~TestCertificates() { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

// TLS: a client trusting the server's CA reaches a TLS server; a plaintext
// client or one trusting another CA does not. Mutual TLS: only a client
// presenting a certificate signed by the server's client CA gets through.
TEST_F(ClientTest, TlsAndMutualTls) {
  TestCertificates certs;
  app::ServerConfig tls_config;
  tls_config.tls_cert_path = certs.path("server.pem");
  tls_config.tls_key_path = certs.path("server.key");
  std::unique_ptr<app::CampaignServer> tls_server = StartServer(0, false, tls_config);
  app::ServerConfig mutual_config = tls_config;
  mutual_config.tls_client_ca_path = certs.path("ca.pem");
  std::unique_ptr<app::CampaignServer> mutual_server = StartServer(0, false, mutual_config);

  // One attempt each: a refused handshake is UNAVAILABLE, not worth retrying
  // here.
  auto client_of = [&](int port, const std::string& ca, const std::string& cert,
                       const std::string& key) {
    ClientOptions options = Options(port, owner_);
    options.retry.max_attempts = 1;
    options.tls.ca_cert_path = ca;
    options.tls.client_cert_path = cert;
    options.tls.client_key_path = key;
    return MakeClient(options);
  };
  const std::string ca = certs.path("ca.pem");
  const std::string cert = certs.path("client.pem");
  const std::string key = certs.path("client.key");

  absl::StatusOr<pb::CreateRunResponse> created =
      client_of(tls_server->port(), ca, "", "")->CreateRun(RunRequest(1));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(client_of(tls_server->port(), "", "", "")->GetRun(created->run().id()).status().code(),
            absl::StatusCode::kUnavailable)
      << "plaintext to a TLS server";
  EXPECT_EQ(client_of(tls_server->port(), certs.path("other_ca.pem"), "", "")
                ->GetRun(created->run().id())
                .status()
                .code(),
            absl::StatusCode::kUnavailable)
      << "a server certificate from an untrusted CA";

  absl::StatusOr<pb::OutboundCallRun> mutual =
      client_of(mutual_server->port(), ca, cert, key)->GetRun(created->run().id());
  ASSERT_TRUE(mutual.ok()) << mutual.status();
  EXPECT_EQ(mutual->id(), created->run().id());
  EXPECT_EQ(
      client_of(mutual_server->port(), ca, "", "")->GetRun(created->run().id()).status().code(),
      absl::StatusCode::kUnavailable)
      << "no client certificate";
}

// Bad options are refused before any connection is made.
TEST(ClientOptionsTest, RefusesInconsistentOptions) {
  ClientOptions options;
  options.address = "";
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument);

  options.address = "127.0.0.1:1";
  options.tls.client_cert_path = "/nonexistent/cert.pem";
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument)
      << "a certificate without its key";

  options.tls.client_key_path = "/nonexistent/key.pem";
  EXPECT_EQ(Client::Create(options).status().code(), absl::StatusCode::kInvalidArgument)
      << "a client certificate without a CA";

  options.tls.ca_cert_path = "/nonexistent/ca.pem";
  absl::StatusOr<std::unique_ptr<Client>> unreadable = Client::Create(options);
  EXPECT_EQ(unreadable.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unreadable.status().message().find("/nonexistent/ca.pem"), std::string::npos);

  ClientOptions plaintext;
  plaintext.address = "127.0.0.1:1";
  EXPECT_TRUE(Client::Create(plaintext).ok());
}

}  // namespace
}  // namespace campaign
