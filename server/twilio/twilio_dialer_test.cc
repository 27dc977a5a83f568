// The Twilio dialer against the loopback fake Twilio and an in-memory
// call-event inbox: what each create answer becomes, calls ended by the
// callbacks in the inbox, unknown outcomes resolved by token, lookups and
// hang-up.

#include "server/twilio/twilio_dialer.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "tests/support/fake_twilio.h"
#include "tests/support/wait.h"

namespace campaign::twilio {
namespace {

using ::campaign::testing::FakeReply;
using ::campaign::testing::FakeTwilio;
using ::campaign::testing::WaitUntil;

// The inbox in memory: stores what Record is given (duplicates of a (call,
// status) dropped; tokens not checked).
class MemoryInbox : public CallEventInbox {
 public:
  absl::StatusOr<bool> Record(const StatusCallback& callback) override {
    absl::MutexLock lock(&mu_);
    for (const RecordedCallEvent& event : events_) {
      if (event.callback.call_sid == callback.call_sid &&
          event.callback.call_status == callback.call_status) {
        return false;
      }
    }
    events_.push_back(RecordedCallEvent{callback, absl::Now()});
    return true;
  }
  absl::StatusOr<std::vector<RecordedCallEvent>> FinalEvents(
      int64_t business_id, const std::vector<std::string>& call_sids) override {
    absl::MutexLock lock(&mu_);
    ++final_reads_;
    std::vector<RecordedCallEvent> found;
    for (const std::string& sid : call_sids) {
      for (const RecordedCallEvent& event : events_) {
        if (event.callback.business_id == business_id && event.callback.call_sid == sid &&
            IsFinal(event.callback.call_status)) {
          found.push_back(event);
          break;
        }
      }
    }
    return found;
  }
  absl::StatusOr<std::vector<RecordedCallEvent>> EventsByCallSid(
      absl::string_view call_sid) override {
    absl::MutexLock lock(&mu_);
    std::vector<RecordedCallEvent> found;
    for (const RecordedCallEvent& event : events_) {
      if (event.callback.call_sid == call_sid) found.push_back(event);
    }
    return found;
  }
  absl::StatusOr<std::vector<RecordedCallEvent>> EventsByToken(absl::string_view token) override {
    absl::MutexLock lock(&mu_);
    std::vector<RecordedCallEvent> found;
    for (const RecordedCallEvent& event : events_) {
      if (event.callback.token == token) found.push_back(event);
    }
    return found;
  }
  int FinalReads() const {
    absl::MutexLock lock(&mu_);
    return final_reads_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<RecordedCallEvent> events_ ABSL_GUARDED_BY(mu_);
  int final_reads_ ABSL_GUARDED_BY(mu_) = 0;
};

// The events the dialer reported, in order.
class Events {
 public:
  dialer::DialEventCallback Callback() {
    return [this](const dialer::DialEvent& event) {
      absl::MutexLock lock(&mu_);
      events_.push_back(event);
    };
  }
  std::vector<dialer::DialEvent> All() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  // The events of the dial with `token`.
  std::vector<dialer::DialEvent> Of(const std::string& token) const {
    std::vector<dialer::DialEvent> found;
    for (const dialer::DialEvent& event : All()) {
      if (event.request.token == token) found.push_back(event);
    }
    return found;
  }
  bool WaitFor(const std::string& token, size_t count) const {
    return WaitUntil([&] { return Of(token).size() >= count; });
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<dialer::DialEvent> events_ ABSL_GUARDED_BY(mu_);
};

constexpr char kPublicUrl[] = "https://hooks.example.com/campaign";

class TwilioDialerTest : public ::testing::Test {
 protected:
  RestClientOptions ClientOptions() const {
    RestClientOptions options;
    options.api_base = fake_.BaseUrl();
    options.account_sid = fake_.options().account_sid;
    options.secret = fake_.options().auth_token;
    options.initial_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(20);
    options.request_timeout = absl::Seconds(20);
    return options;
  }

  TwilioDialerOptions DialerOptions() const {
    TwilioDialerOptions options;
    options.from = "+15005550006";
    options.twiml_url = "https://twiml.example.com/voice.xml";
    options.public_url = kPublicUrl;
    options.poll_interval = absl::Milliseconds(10);
    return options;
  }

  void Start(RestClientOptions client_options, TwilioDialerOptions options) {
    absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(client_options);
    ASSERT_TRUE(client.ok()) << client.status();
    dialer_ = std::make_unique<TwilioDialer>(*std::move(client), &inbox_, options);
    dialer_->SetEventCallback(events_.Callback());
  }
  void Start() { Start(ClientOptions(), DialerOptions()); }

  static dialer::DialRequest Request(int64_t job_id, const std::string& token) {
    return dialer::DialRequest{7, 42, job_id, job_id + 100, "+14155550100", token, "worker-1"};
  }

  // A callback of `call_sid` for `request` with `status`, as the listener
  // parses it.
  StatusCallback MakeCallback(const dialer::DialRequest& request, const std::string& call_sid,
                              CallStatus status, std::optional<int> sip = std::nullopt) const {
    StatusCallback callback;
    callback.business_id = request.business_id;
    callback.run_id = request.run_id;
    callback.job_id = request.job_id;
    callback.token = request.token;
    callback.call_sid = call_sid;
    callback.account_sid = fake_.options().account_sid;
    callback.call_status = status;
    callback.sip_response_code = sip;
    return callback;
  }

  // Records that callback in the inbox, as the listener would.
  void Callback(const dialer::DialRequest& request, const std::string& call_sid, CallStatus status,
                std::optional<int> sip = std::nullopt) {
    ASSERT_TRUE(inbox_.Record(MakeCallback(request, call_sid, status, sip)).ok());
  }

  // Declared first: outlives the dialer.
  FakeTwilio fake_;
  MemoryInbox inbox_;
  Events events_;
  std::unique_ptr<TwilioDialer> dialer_;
};

TEST_F(TwilioDialerTest, AnAcceptedCreateIsReportedWithTheCallSidAndTheFormNamesTheDial) {
  Start();
  const dialer::DialRequest request = Request(1001, "token-1");
  dialer_->Dial(request);
  ASSERT_TRUE(events_.WaitFor("token-1", 1));
  const dialer::DialEvent accepted = events_.Of("token-1").front();
  EXPECT_EQ(accepted.kind, dialer::DialEvent::Kind::kAccepted);
  ASSERT_EQ(fake_.CreateCount(), 1);
  const testing::FakeCreate create = fake_.Creates().front();
  EXPECT_EQ(accepted.call_sid, create.call_sid);
  EXPECT_EQ(accepted.request.job_id, 1001);
  EXPECT_EQ(FindParam(create.form, "To"), "+14155550100");
  EXPECT_EQ(FindParam(create.form, "From"), "+15005550006");
  EXPECT_EQ(FindParam(create.form, "Url"), "https://twiml.example.com/voice.xml");
  EXPECT_EQ(FindParam(create.form, "StatusCallback"),
            StatusCallbackUrl(kPublicUrl, 7, 42, 1001, "token-1"));
  EXPECT_EQ(FindParam(create.form, "StatusCallbackMethod"), "POST");
  EXPECT_EQ(CountParam(create.form, "StatusCallbackEvent"), 4);
  EXPECT_EQ(FindParam(create.form, "Timeout"), "30");
  EXPECT_EQ(dialer_->InFlight(), 1);
}

TEST_F(TwilioDialerTest, ARunsCallSettingsAreSentAndTheFlagsDefaultsApplyOtherwise) {
  Start();
  dialer::DialRequest custom = Request(1, "token-custom");
  custom.settings.caller_id = "+14155550199";
  custom.settings.twiml_url = "https://run.example.com/voice.xml";
  custom.settings.ring_timeout_seconds = 45;
  custom.settings.machine_detection = MachineDetection::kDetectMessageEnd;
  dialer::DialRequest enable = Request(2, "token-enable");
  enable.settings.machine_detection = MachineDetection::kEnable;
  dialer_->Dial(custom);
  ASSERT_TRUE(events_.WaitFor("token-custom", 1));
  dialer_->Dial(enable);
  ASSERT_TRUE(events_.WaitFor("token-enable", 1));
  dialer_->Dial(Request(3, "token-default"));
  ASSERT_TRUE(events_.WaitFor("token-default", 1));
  const std::vector<testing::FakeCreate> creates = fake_.Creates();
  ASSERT_EQ(creates.size(), 3u);

  const FormParams& first = creates[0].form;
  EXPECT_EQ(FindParam(first, "From"), "+14155550199");
  EXPECT_EQ(FindParam(first, "Url"), "https://run.example.com/voice.xml");
  EXPECT_EQ(FindParam(first, "Timeout"), "45");
  EXPECT_EQ(FindParam(first, "MachineDetection"), "DetectMessageEnd");

  // Only machine detection asked for: everything else from the flags.
  const FormParams& second = creates[1].form;
  EXPECT_EQ(FindParam(second, "From"), "+15005550006");
  EXPECT_EQ(FindParam(second, "Url"), "https://twiml.example.com/voice.xml");
  EXPECT_EQ(FindParam(second, "Timeout"), "30");
  EXPECT_EQ(FindParam(second, "MachineDetection"), "Enable");

  const FormParams& third = creates[2].form;
  EXPECT_EQ(FindParam(third, "From"), "+15005550006");
  EXPECT_EQ(FindParam(third, "Url"), "https://twiml.example.com/voice.xml");
  EXPECT_EQ(FindParam(third, "Timeout"), "30");
  EXPECT_EQ(CountParam(third, "MachineDetection"), 0) << "sent only when asked for";
}

TEST_F(TwilioDialerTest, ARefusedCreateIsRejectedWithTwiliosCodeAndMessage) {
  Start();
  fake_.PushReply(FakeReply::BadRequest(21211, "The 'To' number is not a valid phone number."));
  dialer_->Dial(Request(1, "token-bad"));
  ASSERT_TRUE(events_.WaitFor("token-bad", 1));
  const dialer::DialEvent rejected = events_.Of("token-bad").front();
  EXPECT_EQ(rejected.kind, dialer::DialEvent::Kind::kRejected);
  EXPECT_EQ(rejected.outcome.status, JobStatus::kFailed);
  EXPECT_EQ(rejected.outcome.error, "twilio 21211: The 'To' number is not a valid phone number.");
  EXPECT_EQ(dialer_->InFlight(), 0);
}

TEST_F(TwilioDialerTest, A429ThenOkPlacesOneCall) {
  Start();
  fake_.PushReply(FakeReply::TooManyRequests());
  dialer_->Dial(Request(1, "token-429"));
  ASSERT_TRUE(events_.WaitFor("token-429", 1));
  EXPECT_EQ(events_.Of("token-429").front().kind, dialer::DialEvent::Kind::kAccepted);
  int calls = 0;
  for (const testing::FakeCreate& create : fake_.Creates()) calls += !create.call_sid.empty();
  EXPECT_EQ(fake_.CreateCount(), 2);
  EXPECT_EQ(calls, 1);
}

TEST_F(TwilioDialerTest, AFinalStatusInTheInboxEndsTheCallWithItsOutcome) {
  Start();
  const dialer::DialRequest busy = Request(1, "token-busy");
  const dialer::DialRequest failed = Request(2, "token-failed");
  // Stays in progress, so the poller keeps reading the inbox.
  dialer_->Dial(Request(3, "token-keeper"));
  dialer_->Dial(busy);
  dialer_->Dial(failed);
  ASSERT_TRUE(events_.WaitFor("token-busy", 1));
  ASSERT_TRUE(events_.WaitFor("token-failed", 1));
  const std::string busy_sid = events_.Of("token-busy").front().call_sid;
  const std::string failed_sid = events_.Of("token-failed").front().call_sid;
  // Progress that is not final ends nothing.
  Callback(busy, busy_sid, CallStatus::kRinging);
  const int reads = inbox_.FinalReads();
  ASSERT_TRUE(WaitUntil([&] { return inbox_.FinalReads() >= reads + 2; }));
  EXPECT_EQ(events_.Of("token-busy").size(), 1u);

  Callback(busy, busy_sid, CallStatus::kBusy);
  Callback(failed, failed_sid, CallStatus::kFailed, 503);
  ASSERT_TRUE(events_.WaitFor("token-busy", 2));
  ASSERT_TRUE(events_.WaitFor("token-failed", 2));
  const dialer::DialEvent ended_busy = events_.Of("token-busy")[1];
  EXPECT_EQ(ended_busy.kind, dialer::DialEvent::Kind::kEnded);
  EXPECT_EQ(ended_busy.call_sid, busy_sid);
  EXPECT_EQ(ended_busy.outcome.status, JobStatus::kBusy);
  const dialer::DialEvent ended_failed = events_.Of("token-failed")[1];
  EXPECT_EQ(ended_failed.outcome.status, JobStatus::kFailed);
  EXPECT_EQ(ended_failed.outcome.error, "twilio: call failed (SIP 503)");
  EXPECT_EQ(dialer_->InFlight(), 1);
  // Ended once: a duplicate final status reports nothing more.
  Callback(busy, busy_sid, CallStatus::kCompleted);
  const int after = inbox_.FinalReads();
  ASSERT_TRUE(WaitUntil([&] { return inbox_.FinalReads() >= after + 2; }));
  EXPECT_EQ(events_.Of("token-busy").size(), 2u);
}

TEST_F(TwilioDialerTest, AnUnknownCreateOutcomeIsResolvedByACallbackForItsToken) {
  RestClientOptions client_options = ClientOptions();
  client_options.request_timeout = absl::Seconds(1);
  Start(client_options, DialerOptions());
  fake_.PushReply(FakeReply::Hang());
  const dialer::DialRequest request = Request(5, "token-unknown");
  dialer_->Dial(request);
  // The request times out after it was sent: never retried.
  ASSERT_TRUE(WaitUntil([&] { return dialer_->UnknownOutcomes() == 1; }));
  // The fake records the request from its own thread, possibly after the
  // client gave up on it (a slow sanitizer build).
  ASSERT_TRUE(WaitUntil([&] { return fake_.CreateCount() == 1; }));
  fake_.ReleaseHung();
  ASSERT_TRUE(WaitUntil([&] { return !fake_.Creates().front().call_sid.empty(); }));
  const std::string sid = fake_.Creates().front().call_sid;
  EXPECT_TRUE(events_.Of("token-unknown").empty());

  // Twilio placed the call: its callback names the token.
  Callback(request, sid, CallStatus::kRinging);
  ASSERT_TRUE(events_.WaitFor("token-unknown", 1));
  EXPECT_EQ(events_.Of("token-unknown").front().kind, dialer::DialEvent::Kind::kAccepted);
  EXPECT_EQ(events_.Of("token-unknown").front().call_sid, sid);
  Callback(request, sid, CallStatus::kNoAnswer);
  ASSERT_TRUE(events_.WaitFor("token-unknown", 2));
  EXPECT_EQ(events_.Of("token-unknown")[1].kind, dialer::DialEvent::Kind::kEnded);
  EXPECT_EQ(events_.Of("token-unknown")[1].outcome.status, JobStatus::kNoAnswer);
  EXPECT_EQ(fake_.CreateCount(), 1);
}

TEST_F(TwilioDialerTest, AnUnknownCreateOutcomeWithoutACallbackFailsAfterTheBound) {
  RestClientOptions client_options = ClientOptions();
  client_options.request_timeout = absl::Seconds(1);
  TwilioDialerOptions options = DialerOptions();
  options.unknown_outcome_wait = absl::Milliseconds(200);
  Start(client_options, options);
  fake_.PushReply(FakeReply::Hang());
  dialer_->Dial(Request(6, "token-lost"));
  ASSERT_TRUE(events_.WaitFor("token-lost", 1));
  const dialer::DialEvent rejected = events_.Of("token-lost").front();
  EXPECT_EQ(rejected.kind, dialer::DialEvent::Kind::kRejected);
  EXPECT_EQ(rejected.outcome.error, "dial outcome unknown (no callback)");
  ASSERT_TRUE(WaitUntil([&] { return fake_.CreateCount() == 1; }));
  fake_.ReleaseHung();
}

TEST_F(TwilioDialerTest, AnOverdueCallIsLookedUpAtTwilio) {
  TwilioDialerOptions options = DialerOptions();
  options.ring_timeout = absl::Milliseconds(50);
  options.max_call_duration = absl::Milliseconds(50);
  options.overdue_lookup_interval = absl::Milliseconds(50);
  Start(ClientOptions(), options);
  dialer_->Dial(Request(8, "token-long"));
  ASSERT_TRUE(events_.WaitFor("token-long", 1));
  const std::string sid = events_.Of("token-long").front().call_sid;
  fake_.SetCallStatus(sid, "in-progress");
  fake_.SetCallStatus(sid, "completed");
  ASSERT_TRUE(events_.WaitFor("token-long", 2));
  EXPECT_EQ(events_.Of("token-long")[1].kind, dialer::DialEvent::Kind::kEnded);
  EXPECT_EQ(events_.Of("token-long")[1].outcome.status, JobStatus::kCompleted);
}

TEST_F(TwilioDialerTest, TheOverdueBoundIsTheCallsOwnRingTimeoutPlusTheLongestCall) {
  // The flag's ring timeout would make the call overdue in an hour; the
  // run's own (1 s) makes it overdue in about a second.
  TwilioDialerOptions options = DialerOptions();
  options.ring_timeout = absl::Hours(1);
  options.max_call_duration = absl::Milliseconds(50);
  options.overdue_lookup_interval = absl::Milliseconds(50);
  Start(ClientOptions(), options);
  dialer::DialRequest request = Request(9, "token-short-ring");
  request.settings.ring_timeout_seconds = 1;
  dialer_->Dial(request);
  ASSERT_TRUE(events_.WaitFor("token-short-ring", 1));
  EXPECT_EQ(FindParam(fake_.Creates().front().form, "Timeout"), "1");
  const std::string sid = events_.Of("token-short-ring").front().call_sid;
  fake_.SetCallStatus(sid, "in-progress");
  fake_.SetCallStatus(sid, "completed");
  ASSERT_TRUE(events_.WaitFor("token-short-ring", 2)) << "looked up once overdue";
  EXPECT_EQ(events_.Of("token-short-ring")[1].kind, dialer::DialEvent::Kind::kEnded);
  EXPECT_EQ(events_.Of("token-short-ring")[1].outcome.status, JobStatus::kCompleted);
}

TEST_F(TwilioDialerTest, LookupsReadTheInboxFirstThenTwilio) {
  TwilioDialerOptions options = DialerOptions();
  options.in_progress_lookup_ttl = absl::ZeroDuration();
  Start(ClientOptions(), options);
  const dialer::DialRequest request = Request(9, "token-look");
  dialer_->Dial(request);
  ASSERT_TRUE(events_.WaitFor("token-look", 1));
  const std::string sid = events_.Of("token-look").front().call_sid;

  // Nothing in the inbox: Twilio's answer (queued: in progress).
  absl::StatusOr<std::optional<dialer::CallState>> state = dialer_->LookupByCallId(sid);
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_TRUE(state->has_value());
  EXPECT_FALSE((*state)->outcome.has_value());
  fake_.SetCallStatus(sid, "busy");
  state = dialer_->LookupByCallId(sid);
  ASSERT_TRUE(state.ok() && state->has_value());
  ASSERT_TRUE((*state)->outcome.has_value());
  EXPECT_EQ((*state)->outcome->status, JobStatus::kBusy);

  // The inbox's final event wins (Twilio is not asked).
  Callback(request, sid, CallStatus::kCompleted);
  absl::StatusOr<std::optional<dialer::CallState>> by_token = dialer_->LookupByToken("token-look");
  ASSERT_TRUE(by_token.ok() && by_token->has_value());
  EXPECT_EQ((*by_token)->call_sid, sid);
  ASSERT_TRUE((*by_token)->outcome.has_value());
  EXPECT_EQ((*by_token)->outcome->status, JobStatus::kCompleted);

  // Nobody knows these.
  absl::StatusOr<std::optional<dialer::CallState>> unknown =
      dialer_->LookupByCallId("CAffffffffffffffffffffffffffffffff");
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_FALSE(unknown->has_value());
  absl::StatusOr<std::optional<dialer::CallState>> no_token = dialer_->LookupByToken("nothing");
  ASSERT_TRUE(no_token.ok()) << no_token.status();
  EXPECT_FALSE(no_token->has_value());
}

TEST_F(TwilioDialerTest, TwilioIsAskedAboutACallInProgressAtMostOncePerTtl) {
  TwilioDialerOptions options = DialerOptions();
  options.in_progress_lookup_ttl = absl::Hours(1);
  Start(ClientOptions(), options);
  dialer_->Dial(Request(12, "token-ttl"));
  ASSERT_TRUE(events_.WaitFor("token-ttl", 1));
  const std::string sid = events_.Of("token-ttl").front().call_sid;
  absl::StatusOr<std::optional<dialer::CallState>> first = dialer_->LookupByCallId(sid);
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_FALSE((*first)->outcome.has_value());
  // Twilio's answer changes, but within the TTL the call is still "in
  // progress" without a request (the callbacks would end it).
  fake_.SetCallStatus(sid, "completed");
  absl::StatusOr<std::optional<dialer::CallState>> second = dialer_->LookupByCallId(sid);
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_FALSE((*second)->outcome.has_value());
}

TEST_F(TwilioDialerTest, HangUpCancelsARingingCallAndCompletesAnAnsweredOne) {
  Start();
  const dialer::DialRequest ringing = Request(10, "token-ring");
  const dialer::DialRequest answered = Request(11, "token-answered");
  dialer_->Dial(ringing);
  dialer_->Dial(answered);
  ASSERT_TRUE(events_.WaitFor("token-ring", 1));
  ASSERT_TRUE(events_.WaitFor("token-answered", 1));
  const std::string ringing_sid = events_.Of("token-ring").front().call_sid;
  const std::string answered_sid = events_.Of("token-answered").front().call_sid;
  Callback(answered, answered_sid, CallStatus::kInProgress);
  ASSERT_TRUE(dialer_->HangUp(ringing_sid).ok());
  ASSERT_TRUE(dialer_->HangUp(answered_sid).ok());
  ASSERT_TRUE(WaitUntil([&] { return fake_.Updates().size() >= 2; }));
  std::vector<std::pair<std::string, std::string>> updates = fake_.Updates();
  std::sort(updates.begin(), updates.end());
  std::vector<std::pair<std::string, std::string>> expected = {{ringing_sid, "canceled"},
                                                               {answered_sid, "completed"}};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(updates, expected);
}

// Callbacks the replica's own listener recorded end its calls at once, not
// at the next read of the inbox; a callback naming a dial whose create is
// still unanswered accepts it by its token; callbacks of dials this process
// does not hold are ignored.
TEST_F(TwilioDialerTest, CallbacksRecordedHereEndCallsWithoutWaitingForThePoller) {
  TwilioDialerOptions options = DialerOptions();
  options.poll_interval = absl::Hours(1);
  Start(ClientOptions(), options);
  const dialer::DialRequest answered = Request(1, "token-answered");
  dialer_->Dial(answered);
  ASSERT_TRUE(events_.WaitFor("token-answered", 1));
  const std::string sid = events_.Of("token-answered").front().call_sid;
  auto callback = [&](const dialer::DialRequest& request, const std::string& call_sid,
                      CallStatus status) { return MakeCallback(request, call_sid, status); };
  dialer::DialRequest stranger = Request(9, "token-of-another-replica");
  dialer::DialRequest wrong_job = answered;
  wrong_job.job_id = 2;
  dialer_->OnCallbacksRecorded({callback(answered, sid, CallStatus::kRinging),
                                callback(stranger, "CAstranger", CallStatus::kCompleted),
                                callback(wrong_job, sid, CallStatus::kBusy)});
  EXPECT_EQ(events_.Of("token-answered").size(), 1u);
  EXPECT_TRUE(events_.Of("token-of-another-replica").empty());
  dialer_->OnCallbacksRecorded({callback(answered, sid, CallStatus::kNoAnswer)});
  ASSERT_EQ(events_.Of("token-answered").size(), 2u);
  EXPECT_EQ(events_.Of("token-answered")[1].kind, dialer::DialEvent::Kind::kEnded);
  EXPECT_EQ(events_.Of("token-answered")[1].outcome.status, JobStatus::kNoAnswer);

  // Twilio's first callback can come before its answer to the create.
  fake_.PushReply(FakeReply::Hang());
  const dialer::DialRequest hung = Request(3, "token-hung");
  dialer_->Dial(hung);
  ASSERT_TRUE(WaitUntil([&] { return fake_.InFlightCreates() == 1; }));
  const std::string hung_sid = "CA0000000000000000000000000000hung";
  dialer_->OnCallbacksRecorded({callback(hung, hung_sid, CallStatus::kInitiated)});
  ASSERT_EQ(events_.Of("token-hung").size(), 1u);
  EXPECT_EQ(events_.Of("token-hung")[0].kind, dialer::DialEvent::Kind::kAccepted);
  EXPECT_EQ(events_.Of("token-hung")[0].call_sid, hung_sid);
  dialer_->OnCallbacksRecorded({callback(hung, hung_sid, CallStatus::kCompleted)});
  ASSERT_EQ(events_.Of("token-hung").size(), 2u);
  EXPECT_EQ(events_.Of("token-hung")[1].outcome.status, JobStatus::kCompleted);
  // The create's late answer reports nothing more.
  fake_.ReleaseHung();
  ASSERT_TRUE(WaitUntil([&] { return dialer_->InFlight() == 0 && fake_.InFlightCreates() == 0; }));
  EXPECT_EQ(events_.Of("token-hung").size(), 2u);
}

}  // namespace
}  // namespace campaign::twilio
