// `campaignd serve --dialer=twilio` end to end against the loopback fake
// Twilio: real processes, a real database, real HTTP. The fake's record of
// create requests is the oracle of what was dialed; the test plays Twilio's
// side of each call, sending its signed status callbacks (and forged,
// duplicated, late and stale ones) to the listeners of two replicas — the
// one that holds the run and an API-only one — through a stand-in for a
// TLS-terminating proxy (the public URL is https, the listeners plain HTTP).
// Every wait polls for a state up to a bound; nothing sleeps to synchronise.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/store/database.h"
#include "server/store/run_store.h"
#include "server/twilio/call_status.h"
#include "tests/e2e/twilio_campaignd.h"
#include "tests/scheduler/scheduler_test_support.h"
#include "tests/support/fake_twilio.h"
#include "tests/support/leads.h"
#include "tests/support/test_database.h"
#include "tests/support/wait.h"

namespace campaign {
namespace {

using testing::FakeTwilio;
using testing::kFrom;
using testing::kPublicUrl;
using testing::Terminate;
using testing::TwilioCampaigndTest;
using testing::WebhookPort;
using testing::MakeLeads;
using testing::SignMode;
using testing::TestDatabase;
using testing::WaitUntil;
using testing::sched::AllFinal;
using testing::sched::Campaignd;
using testing::sched::CountersExact;
using testing::sched::Inspector;
using testing::sched::JobRow;
using testing::sched::RunRow;
using testing::sched::TempPath;

constexpr int kLeads = 20;
constexpr int kConcurrency = 5;

// What the test makes of lead `lead_id`'s call.
std::string PlannedStatus(int64_t lead_id) {
  switch (lead_id % 5) {
    case 3:
      return "busy";
    case 4:
      return "no-answer";
    default:
      return "completed";
  }
}

TEST_F(TwilioCampaigndTest, ARunCompletesThroughTwilioWithCallsEndedBySignedCallbacks) {
  Campaignd& holder = Start("holder", Flags("holder"));
  std::map<std::string, std::string> api_only = Flags("api-only");
  api_only["scheduler"] = "false";
  Campaignd& api = Start("api-only", api_only);
  const int holder_port = WebhookPort(holder);
  const int api_port = WebhookPort(api);
  ASSERT_GT(holder_port, 0);
  ASSERT_GT(api_port, 0);

  const int64_t run = CreateRun(kLeads, kConcurrency);
  std::map<std::string, int64_t> lead_by_phone;
  for (const JobRow& job : inspect_->Jobs(run)) lead_by_phone[job.phone] = job.lead_id;

  // Play Twilio: end each call the fake created, in creation order, while
  // never more than the run's concurrency are open.
  size_t driven = 0;
  int max_open = 0;
  int forged = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (driven < kLeads && absl::Now() < deadline) {
    std::vector<testing::FakeCreate> creates = fake_.Creates();
    int created = 0;
    for (const testing::FakeCreate& create : creates) created += !create.call_sid.empty();
    max_open = std::max(max_open, created - static_cast<int>(driven));
    if (driven >= creates.size() || creates[driven].call_sid.empty()) {
      WaitUntil([&] { return fake_.CreateCount() > static_cast<int>(driven); }, absl::Seconds(5),
                absl::Milliseconds(5));
      continue;
    }
    const testing::FakeCreate& create = creates[driven];
    const std::string sid = create.call_sid;
    const std::string to = twilio::FindParam(create.form, "To").value_or("");
    ASSERT_EQ(lead_by_phone.count(to), 1u) << to;
    const int64_t lead = lead_by_phone[to];
    const std::string outcome = PlannedStatus(lead);
    // Alternate the replica Twilio reaches, call by call and within a call.
    const int first = driven % 2 == 0 ? holder_port : api_port;
    const int second = first == holder_port ? api_port : holder_port;
    EXPECT_EQ(Send(first, sid, "initiated", {{"SequenceNumber", "0"}}), 204);
    EXPECT_EQ(Send(second, sid, "ringing", {{"SequenceNumber", "1"}}), 204);
    if (lead % 5 == 3) {
      // Forged "completed" for a call that will be busy: refused, stored nowhere.
      EXPECT_EQ(Send(first, sid, "completed", {}, SignMode::kUnsigned), 403);
      EXPECT_EQ(Send(second, sid, "completed", {}, SignMode::kWrongSignature), 403);
      EXPECT_EQ(Send(first, sid, "completed", {}, SignMode::kSignedForOtherUrl), 403);
      forged += 3;
    }
    twilio::FormParams final_fields = {{"SequenceNumber", "2"}};
    if (outcome == "completed") {
      EXPECT_EQ(Send(first, sid, "in-progress", {{"SequenceNumber", "2"}}), 204);
      final_fields = {{"SequenceNumber", "3"}, {"CallDuration", "17"}, {"AnsweredBy", "human"}};
    }
    EXPECT_EQ(Send(second, sid, outcome, final_fields), 204);
    if (lead % 4 == 0) {
      // A duplicate of the final callback (through the other replica, so
      // either may be recorded first) and a late ringing: harmless.
      EXPECT_EQ(Send(first, sid, outcome, final_fields), 204);
      EXPECT_EQ(Send(second, sid, "ringing"), 204);
    }
    ++driven;
  }
  ASSERT_EQ(driven, static_cast<size_t>(kLeads));

  RunRow done;
  ASSERT_TRUE(testing::sched::WaitForRunState(
      *inspect_, run, [](const RunRow& r) { return r.status == "completed"; }, "completed", &done));
  const std::vector<JobRow> jobs = inspect_->Jobs(run);
  EXPECT_TRUE(AllFinal(jobs));
  EXPECT_TRUE(CountersExact(done, jobs));
  EXPECT_LE(max_open, kConcurrency);

  // Every lead was created exactly once at the fake, authorized, from our
  // caller id, with a status callback naming its job and dial token.
  std::vector<testing::FakeCreate> creates = fake_.Creates();
  ASSERT_EQ(creates.size(), static_cast<size_t>(kLeads));
  std::map<std::string, testing::FakeCreate> create_by_phone;
  for (const testing::FakeCreate& create : creates) {
    EXPECT_TRUE(create.authorized);
    EXPECT_EQ(create.http_status, 201);
    EXPECT_EQ(twilio::FindParam(create.form, "From"), kFrom);
    create_by_phone[twilio::FindParam(create.form, "To").value_or("")] = create;
  }
  ASSERT_EQ(create_by_phone.size(), static_cast<size_t>(kLeads));
  for (const JobRow& job : jobs) {
    SCOPED_TRACE(absl::StrCat("lead ", job.lead_id));
    ASSERT_EQ(create_by_phone.count(job.phone), 1u);
    const testing::FakeCreate& create = create_by_phone[job.phone];
    EXPECT_EQ(job.call_sid, create.call_sid);
    EXPECT_EQ(job.attempts, 1);
    EXPECT_EQ(twilio::FindParam(create.form, "StatusCallback"),
              twilio::StatusCallbackUrl(kPublicUrl, business_id_, run, job.id, job.token));
    const std::string planned = PlannedStatus(job.lead_id);
    EXPECT_EQ(job.status, planned == "no-answer" ? "no_answer" : planned);
  }
  // Forged callbacks wrote nothing; duplicates and late ones added nothing.
  EXPECT_GT(forged, 0);
  EXPECT_EQ(Events("call_status = 'completed' AND call_sid IN (SELECT call_sid FROM "
                   "outbound_call_jobs WHERE status = 'busy')"),
            0);
  int64_t expected_events = 0;
  for (const JobRow& job : jobs)
    expected_events += PlannedStatus(job.lead_id) == "completed" ? 4 : 3;
  EXPECT_EQ(Events("true"), expected_events);
  EXPECT_EQ(Events("call_status = 'completed' AND call_duration = 17 AND answered_by = 'human'"),
            done.completed);

  // A signed callback of an older dial attempt (another token) is answered
  // and stored nowhere.
  const JobRow& job = jobs.front();
  const std::string stale_url =
      twilio::StatusCallbackUrl(kPublicUrl, business_id_, run, job.id, "an-older-token");
  fake_.SetCallbackDelivery(kPublicUrl, absl::StrCat("http://127.0.0.1:", api_port));
  absl::StatusOr<int> stale = fake_.SendStatusCallback(
      stale_url, fake_.CallbackParams(job.call_sid, "failed"), SignMode::kSigned);
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_EQ(*stale, 204);
  // Both listeners have handled everything they acknowledged once they stop.
  Terminate(holder);
  Terminate(api);
  EXPECT_EQ(Events("call_status = 'failed'"), 0);
  EXPECT_EQ(Events("true"), expected_events);
}

TEST_F(TwilioCampaigndTest, AMissingTwilioSettingIsAOneLineStartupErrorNamingIt) {
  for (const std::string& missing :
       {std::string("twilio-from"), std::string("twilio-account-sid"),
        std::string("webhook-public-url"), std::string("twilio-twiml-url")}) {
    SCOPED_TRACE(missing);
    std::map<std::string, std::string> flags = Flags(absl::StrCat("missing-", missing));
    flags[missing] = "";
    Campaignd& process = Start(absl::StrCat("missing-", missing), flags);
    std::optional<int> status = process.WaitExit(absl::Seconds(30));
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
    const std::string err = process.Stderr();
    EXPECT_TRUE(absl::StrContains(err, absl::StrCat("--", missing))) << err;
    EXPECT_FALSE(absl::StrContains(err, fake_.options().auth_token)) << err;
  }
  std::map<std::string, std::string> flags = Flags("plain-http");
  flags["twilio-twiml-url"] = "http://twiml.example.test/voice.xml";
  Campaignd& process = Start("plain-http", flags);
  std::optional<int> status = process.WaitExit(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_TRUE(absl::StrContains(process.Stderr(), "must be https")) << process.Stderr();
}

// Issue 12: a run's call settings reach Twilio, and StopRun's hang_up. Run A
// names its own caller id, TwiML URL, ring timeout and machine detection,
// and is stopped with hang_up unset (true) while its three calls are
// answered, ringing and queued at Twilio: the answered one is ended with
// Status=completed, the others with Status=canceled. Run B names no settings
// (the flags' defaults are sent, no MachineDetection) and is stopped with
// hang_up = false: nothing is sent to Twilio, and its answered call ends on
// its own with its real outcome.
TEST_F(TwilioCampaigndTest, ARunsCallSettingsReachTwilioAndStopHangsUpOnlyWhenAsked) {
  Campaignd& holder = Start("holder", Flags("holder"));
  const int port = WebhookPort(holder);
  ASSERT_GT(port, 0);

  // Creates a run of 3 leads (lead ids from `first_lead`) at concurrency 3,
  // waits until Twilio has accepted its 3 calls and the jobs are calling;
  // returns the run and its creates.
  auto start_run = [&](const std::string& request_id, int64_t first_lead,
                       const CallSettings& settings,
                       std::vector<testing::FakeCreate>* creates) -> int64_t {
    NewRun run;
    run.business_id = business_id_;
    run.request_id = request_id;
    run.request_digest = request_id;
    run.concurrency = 3;
    run.call_settings = settings;
    run.leads = MakeLeads(3, first_lead);
    const size_t before = fake_.Creates().size();
    absl::StatusOr<store::CreatedRun> created = runs_->CreateRun(run);
    if (!created.ok()) throw std::runtime_error(created.status().ToString());
    const int64_t id = created->run.id;
    EXPECT_TRUE(WaitUntil([&] {
      int calling = 0;
      for (const JobRow& job : inspect_->Jobs(id)) calling += job.status == "calling";
      return calling == 3;
    })) << "3 calls of run "
        << id << " in progress";
    const std::vector<testing::FakeCreate> all = fake_.Creates();
    creates->assign(all.begin() + static_cast<std::ptrdiff_t>(before), all.end());
    return id;
  };
  // Waits until the holder recorded `status` of `sid` in the inbox.
  auto recorded = [&](const std::string& sid, const std::string& status) {
    return WaitUntil([&] {
      return Events(absl::StrCat("call_sid = '", sid, "' AND call_status = '", status, "'")) == 1;
    });
  };

  // Run A: its settings, then StopRun with hang_up unset.
  CallSettings settings;
  settings.caller_id = "+14155550199";
  settings.twiml_url = "https://run.example.test/voice.xml";
  settings.ring_timeout_seconds = 45;
  settings.machine_detection = MachineDetection::kDetectMessageEnd;
  std::vector<testing::FakeCreate> creates_a;
  const int64_t run_a = start_run("run-a", 1, settings, &creates_a);
  ASSERT_EQ(creates_a.size(), 3u);
  for (const testing::FakeCreate& create : creates_a) {
    EXPECT_EQ(twilio::FindParam(create.form, "From"), "+14155550199");
    EXPECT_EQ(twilio::FindParam(create.form, "Url"), "https://run.example.test/voice.xml");
    EXPECT_EQ(twilio::FindParam(create.form, "Timeout"), "45");
    EXPECT_EQ(twilio::FindParam(create.form, "MachineDetection"), "DetectMessageEnd");
  }
  const std::string answered = creates_a[0].call_sid;
  const std::string ringing = creates_a[1].call_sid;
  const std::string queued = creates_a[2].call_sid;
  EXPECT_EQ(Send(port, answered, "ringing", {{"SequenceNumber", "0"}}), 204);
  EXPECT_EQ(Send(port, answered, "in-progress", {{"SequenceNumber", "1"}}), 204);
  EXPECT_EQ(Send(port, ringing, "ringing", {{"SequenceNumber", "0"}}), 204);
  fake_.SetCallStatus(answered, "in-progress");
  fake_.SetCallStatus(ringing, "ringing");
  ASSERT_TRUE(recorded(answered, "in-progress"));
  ASSERT_TRUE(recorded(ringing, "ringing"));

  absl::StatusOr<store::ChangedRun> stopped_a =
      runs_->ApplyAction(business_id_, run_a, RunAction::kStop);
  ASSERT_TRUE(stopped_a.ok()) << stopped_a.status();
  EXPECT_TRUE(stopped_a->run.hang_up_on_end);
  const std::set<std::pair<std::string, std::string>> hang_ups = {
      {answered, "completed"}, {ringing, "canceled"}, {queued, "canceled"}};
  ASSERT_TRUE(WaitUntil([&] {
    const std::vector<std::pair<std::string, std::string>> updates = fake_.Updates();
    const std::set<std::pair<std::string, std::string>> seen(updates.begin(), updates.end());
    return seen == hang_ups;
  })) << "updates: "
      << fake_.Updates().size();
  // Twilio reports the ends; the jobs are recorded and the run drained.
  EXPECT_EQ(Send(port, answered, "completed", {{"SequenceNumber", "2"}}), 204);
  EXPECT_EQ(Send(port, ringing, "canceled", {{"SequenceNumber", "1"}}), 204);
  EXPECT_EQ(Send(port, queued, "canceled", {{"SequenceNumber", "0"}}), 204);
  RunRow done_a;
  ASSERT_TRUE(testing::sched::WaitForRunState(
      *inspect_, run_a, [](const RunRow& r) { return r.in_progress == 0; }, "drained", &done_a));
  EXPECT_EQ(done_a.status, "stopped");
  EXPECT_TRUE(AllFinal(inspect_->Jobs(run_a)));
  EXPECT_TRUE(CountersExact(done_a, inspect_->Jobs(run_a)));

  // Run B: the flags' defaults, then StopRun(hang_up = false).
  std::vector<testing::FakeCreate> creates_b;
  const int64_t run_b = start_run("run-b", 101, CallSettings{}, &creates_b);
  ASSERT_EQ(creates_b.size(), 3u);
  for (const testing::FakeCreate& create : creates_b) {
    EXPECT_EQ(twilio::FindParam(create.form, "From"), kFrom);
    EXPECT_EQ(twilio::FindParam(create.form, "Url"), "https://twiml.example.test/voice.xml");
    EXPECT_EQ(twilio::FindParam(create.form, "Timeout"), "30");
    EXPECT_EQ(twilio::CountParam(create.form, "MachineDetection"), 0);
  }
  const std::string talking = creates_b[0].call_sid;
  EXPECT_EQ(Send(port, talking, "in-progress", {{"SequenceNumber", "0"}}), 204);
  ASSERT_TRUE(recorded(talking, "in-progress"));
  const size_t updates_before = fake_.Updates().size();
  absl::StatusOr<store::ChangedRun> stopped_b =
      runs_->ApplyAction(business_id_, run_b, RunAction::kStop, /*hang_up=*/false);
  ASSERT_TRUE(stopped_b.ok()) << stopped_b.status();
  EXPECT_FALSE(stopped_b->run.hang_up_on_end);
  // The calls end on their own; their outcomes are recorded as usual.
  EXPECT_EQ(Send(port, talking, "completed",
                 {{"SequenceNumber", "1"}, {"CallDuration", "17"}, {"AnsweredBy", "human"}}),
            204);
  EXPECT_EQ(Send(port, creates_b[1].call_sid, "busy", {{"SequenceNumber", "0"}}), 204);
  EXPECT_EQ(Send(port, creates_b[2].call_sid, "no-answer", {{"SequenceNumber", "0"}}), 204);
  RunRow done_b;
  ASSERT_TRUE(testing::sched::WaitForRunState(
      *inspect_, run_b, [](const RunRow& r) { return r.in_progress == 0; }, "drained", &done_b));
  EXPECT_EQ(done_b.status, "stopped");
  EXPECT_EQ(done_b.completed, 1);
  EXPECT_EQ(done_b.busy, 1);
  EXPECT_EQ(done_b.no_answer, 1);
  EXPECT_EQ(fake_.Updates().size(), updates_before) << "nothing hung up";
  Terminate(holder);
}

}  // namespace
}  // namespace campaign
