// The REST client against the loopback fake Twilio (tests/support).
#include "server/twilio/rest_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "absl/synchronization/mutex.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/support/fake_twilio.h"
#include "tests/support/wait.h"

namespace campaign::twilio {
namespace {

using ::campaign::testing::FakeReply;
using ::campaign::testing::FakeTwilio;
using ::campaign::testing::WaitUntil;
using ::testing::HasSubstr;

// Collects the results of a client's requests.
class Results {
 public:
  RestCallback Callback() {
    return [this](RestResult result) {
      absl::MutexLock lock(&mu_);
      results_.push_back(std::move(result));
    };
  }
  int Count() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(results_.size());
  }
  std::vector<RestResult> All() const {
    absl::MutexLock lock(&mu_);
    return results_;
  }
  // Waits for `n` results and returns them.
  std::vector<RestResult> Await(int n) const {
    EXPECT_TRUE(WaitUntil([&] { return Count() >= n; })) << "got " << Count() << " of " << n;
    return All();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<RestResult> results_ ABSL_GUARDED_BY(mu_);
};

CreateCallParams Params(const std::string& to = "+15005550006") {
  CreateCallParams params;
  params.to = to;
  params.from = "+15005550001";
  params.url = "https://twiml.example.com/voice.xml";
  params.status_callback = StatusCallbackUrl("https://hooks.example.com", 7, 42, 1001, "token-1");
  params.timeout = absl::Seconds(25);
  return params;
}

class RestClientTest : public ::testing::Test {
 protected:
  RestClientOptions Options() const {
    RestClientOptions options;
    options.api_base = fake_.BaseUrl();
    options.account_sid = fake_.options().account_sid;
    options.secret = fake_.options().auth_token;
    options.initial_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(20);
    options.request_timeout = absl::Seconds(20);
    return options;
  }

  static std::unique_ptr<RestClient> Client(RestClientOptions options) {
    absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // Declared first: outlives the clients of each test.
  FakeTwilio fake_;
  Results results_;
};

TEST_F(RestClientTest, CreateSendsTheFormWithBasicAuth) {
  auto client = Client(Options());
  CreateCallParams params = Params();
  params.machine_detection = "Enable";
  client->CreateCall(params, results_.Callback());
  const RestResult result = results_.Await(1)[0];
  ASSERT_EQ(result.kind, RestResult::Kind::kOk) << result.message;
  EXPECT_EQ(result.http_status, 201);
  EXPECT_EQ(result.attempts, 1);
  ASSERT_TRUE(result.call.has_value());
  EXPECT_EQ(result.call->sid.size(), 34u);
  EXPECT_EQ(result.call->sid.substr(0, 2), "CA");
  EXPECT_EQ(result.call->status, CallStatus::kQueued);

  const auto creates = fake_.Creates();
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0].user, fake_.options().account_sid);
  EXPECT_TRUE(creates[0].authorized);
  EXPECT_EQ(creates[0].call_sid, result.call->sid);
  const FormParams want = {
      {"To", "+15005550006"},
      {"From", "+15005550001"},
      {"Url", "https://twiml.example.com/voice.xml"},
      {"StatusCallback", "https://hooks.example.com/twilio/status?b=7&r=42&j=1001&t=token-1"},
      {"StatusCallbackMethod", "POST"},
      {"StatusCallbackEvent", "initiated"},
      {"StatusCallbackEvent", "ringing"},
      {"StatusCallbackEvent", "answered"},
      {"StatusCallbackEvent", "completed"},
      {"Timeout", "25"},
      {"MachineDetection", "Enable"},
  };
  EXPECT_EQ(creates[0].form, want);
  EXPECT_EQ(CreateCallForm(params), want);
  EXPECT_EQ(client->Pending(), 0);
}

TEST_F(RestClientTest, MachineDetectionIsLeftOutWhenNotAsked) {
  EXPECT_EQ(CountParam(CreateCallForm(Params()), "MachineDetection"), 0);
}

TEST_F(RestClientTest, ApiKeyAuthKeepsTheAccountInThePath) {
  RestClientOptions options = Options();
  options.api_key_sid = fake_.options().api_key_sid;
  options.secret = fake_.options().api_key_secret;
  auto client = Client(options);
  client->CreateCall(Params(), results_.Callback());
  const RestResult result = results_.Await(1)[0];
  EXPECT_EQ(result.kind, RestResult::Kind::kOk) << result.message;
  ASSERT_EQ(fake_.CreateCount(), 1);
  EXPECT_EQ(fake_.Creates()[0].user, fake_.options().api_key_sid);
}

TEST_F(RestClientTest, WrongSecretIsAFinalError) {
  RestClientOptions options = Options();
  options.secret = "not-the-token";
  auto client = Client(options);
  client->CreateCall(Params(), results_.Callback());
  const RestResult result = results_.Await(1)[0];
  EXPECT_EQ(result.kind, RestResult::Kind::kFailed);
  EXPECT_EQ(result.http_status, 401);
  EXPECT_EQ(result.twilio_code, 20003);
  EXPECT_EQ(result.attempts, 1);
  EXPECT_THAT(result.message, ::testing::Not(HasSubstr("not-the-token")));
  EXPECT_EQ(fake_.CreateCount(), 1);
}

TEST_F(RestClientTest, RetriesTooManyRequestsAndServerErrorsThenSucceeds) {
  fake_.PushReply(FakeReply::TooManyRequests());
  fake_.PushReply(FakeReply::ServerError());
  fake_.PushReply(FakeReply::TooManyRequests());
  auto client = Client(Options());
  client->CreateCall(Params(), results_.Callback());
  const RestResult result = results_.Await(1)[0];
  ASSERT_EQ(result.kind, RestResult::Kind::kOk) << result.message;
  EXPECT_EQ(result.attempts, 4);
  const auto creates = fake_.Creates();
  ASSERT_EQ(creates.size(), 4u);
  EXPECT_EQ(creates[0].http_status, 429);
  EXPECT_EQ(creates[1].http_status, 500);
  EXPECT_EQ(creates[2].http_status, 429);
  EXPECT_EQ(creates[3].http_status, 201);
  for (const auto& create : creates) EXPECT_EQ(create.form, creates[0].form);
  // One call placed, by the last attempt only.
  EXPECT_EQ(creates[3].call_sid, result.call->sid);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(creates[i].call_sid, "");
}

TEST_F(RestClientTest, GivesUpAfterMaxAttempts) {
  fake_.SetDefaultReply(FakeReply::ServerError());
  RestClientOptions options = Options();
  options.max_attempts = 3;
  auto client = Client(options);
  client->CreateCall(Params(), results_.Callback());
  const RestResult result = results_.Await(1)[0];
  EXPECT_EQ(result.kind, RestResult::Kind::kFailed);
  EXPECT_EQ(result.http_status, 500);
  EXPECT_EQ(result.twilio_code, 20500);
  EXPECT_EQ(result.attempts, 3);
  EXPECT_THAT(result.message, HasSubstr("gave up after 3 attempts"));
  EXPECT_EQ(fake_.CreateCount(), 3);
}

TEST_F(RestClientTest, BadRequestIsFinalWithTwiliosCodeAndMessage) {
  fake_.PushReply(FakeReply::BadRequest(21211, "The 'To' number 555 is not valid."));
  auto client = Client(Options());
  client->CreateCall(Params("555"), results_.Callback());
  const RestResult result = results_.Await(1)[0];
  EXPECT_EQ(result.kind, RestResult::Kind::kFailed);
  EXPECT_EQ(result.http_status, 400);
  EXPECT_EQ(result.twilio_code, 21211);
  EXPECT_EQ(result.message, "The 'To' number 555 is not valid.");
  EXPECT_EQ(result.attempts, 1);
  EXPECT_EQ(fake_.CreateCount(), 1);
}

TEST_F(RestClientTest, TimeoutAfterSendingIsAnUnknownOutcomeAndNotRetried) {
  fake_.SetDefaultReply(FakeReply::Hang());
  RestClientOptions options = Options();
  // Long enough for a 429 on a slow (sanitizer) build; the hang outlasts it.
  options.request_timeout = absl::Seconds(2);
  auto client = Client(options);
  client->CreateCall(Params(), results_.Callback());
  const RestResult result = results_.Await(1)[0];
  EXPECT_EQ(result.kind, RestResult::Kind::kUnknownOutcome) << result.message;
  EXPECT_EQ(result.attempts, 1);
  // Nothing left to retry, and the fake saw exactly one request (it may
  // record it after the client gave up, on a slow machine).
  EXPECT_EQ(client->Pending(), 0);
  EXPECT_TRUE(WaitUntil([&] { return fake_.CreateCount() >= 1; }));
  EXPECT_EQ(fake_.CreateCount(), 1);
  fake_.ReleaseHung();
}

TEST_F(RestClientTest, ConnectionRefusedIsRetriedThenFails) {
  std::string closed_base;
  {
    FakeTwilio gone;
    closed_base = gone.BaseUrl();
  }
  RestClientOptions options = Options();
  options.api_base = closed_base;
  options.max_attempts = 3;
  auto client = Client(options);
  client->CreateCall(Params(), results_.Callback());
  const RestResult result = results_.Await(1)[0];
  EXPECT_EQ(result.kind, RestResult::Kind::kFailed);
  EXPECT_EQ(result.http_status, 0);
  EXPECT_EQ(result.attempts, 3);
  EXPECT_THAT(result.message, HasSubstr("not sent"));
}

TEST_F(RestClientTest, TwoHundredCreatesAreInFlightAtOnce) {
  fake_.SetDefaultReply(FakeReply::Hang());
  auto client = Client(Options());
  constexpr int kCalls = 200;
  for (int i = 0; i < kCalls; ++i) client->CreateCall(Params(), results_.Callback());
  // All of them reach the fake while none has been answered.
  EXPECT_TRUE(WaitUntil([&] { return fake_.InFlightCreates() == kCalls; }))
      << fake_.InFlightCreates();
  EXPECT_EQ(results_.Count(), 0);
  fake_.ReleaseHung();
  const auto results = results_.Await(kCalls);
  std::set<std::string> sids;
  for (const RestResult& result : results) {
    ASSERT_EQ(result.kind, RestResult::Kind::kOk) << result.message;
    sids.insert(result.call->sid);
  }
  EXPECT_EQ(sids.size(), static_cast<size_t>(kCalls));
  EXPECT_EQ(fake_.MaxConcurrentCreates(), kCalls);
}

TEST_F(RestClientTest, TwoHundredSlowCreatesOverlap) {
  fake_.SetDefaultReply(FakeReply::Slow(absl::Milliseconds(300)));
  auto client = Client(Options());
  constexpr int kCalls = 200;
  for (int i = 0; i < kCalls; ++i) client->CreateCall(Params(), results_.Callback());
  for (const RestResult& result : results_.Await(kCalls)) {
    ASSERT_EQ(result.kind, RestResult::Kind::kOk) << result.message;
  }
  EXPECT_EQ(fake_.CreateCount(), kCalls);
  // One at a time would be 200 x 0.3 s = 60 s; overlapping, most of them are
  // at the fake together.
  EXPECT_GE(fake_.MaxConcurrentCreates(), kCalls / 2);
}

TEST_F(RestClientTest, FetchAndUpdateACall) {
  auto client = Client(Options());
  client->CreateCall(Params(), results_.Callback());
  const std::string sid = results_.Await(1)[0].call->sid;

  client->FetchCall(sid, results_.Callback());
  RestResult fetched = results_.Await(2)[1];
  ASSERT_EQ(fetched.kind, RestResult::Kind::kOk) << fetched.message;
  EXPECT_EQ(fetched.call->sid, sid);
  EXPECT_EQ(fetched.call->status, CallStatus::kQueued);

  fake_.SetCallStatus(sid, "in-progress");
  client->FetchCall(sid, results_.Callback());
  fetched = results_.Await(3)[2];
  EXPECT_EQ(fetched.call->status, CallStatus::kInProgress);

  client->UpdateCall(sid, "completed", results_.Callback());
  const RestResult updated = results_.Await(4)[3];
  ASSERT_EQ(updated.kind, RestResult::Kind::kOk) << updated.message;
  EXPECT_EQ(updated.call->status, CallStatus::kCompleted);
  EXPECT_EQ(updated.call->duration_seconds, 17);
  EXPECT_EQ(fake_.Call(sid)->status, "completed");
  ASSERT_EQ(fake_.Updates().size(), 1u);
  EXPECT_EQ(fake_.Updates()[0], std::make_pair(sid, std::string("completed")));
}

TEST_F(RestClientTest, UnknownCallIsNotFound) {
  auto client = Client(Options());
  client->FetchCall("CA00000000000000000000000000000000", results_.Callback());
  const RestResult result = results_.Await(1)[0];
  EXPECT_TRUE(result.NotFound());
  EXPECT_EQ(result.twilio_code, 20404);
}

TEST_F(RestClientTest, BadArgumentsFailWithoutARequest) {
  auto client = Client(Options());
  client->FetchCall("../CA1", results_.Callback());
  client->UpdateCall("CA00000000000000000000000000000000", "ringing", results_.Callback());
  client->UpdateCall("", "completed", results_.Callback());
  const auto results = results_.Await(3);
  for (const RestResult& result : results) {
    EXPECT_EQ(result.kind, RestResult::Kind::kFailed);
    EXPECT_EQ(result.attempts, 0);
  }
  EXPECT_THAT(results[1].message, HasSubstr("'ringing'"));
  EXPECT_TRUE(fake_.Updates().empty());
}

TEST_F(RestClientTest, DestructionEndsEveryPendingRequestOnce) {
  fake_.SetDefaultReply(FakeReply::Hang());
  auto client = Client(Options());
  for (int i = 0; i < 10; ++i) client->CreateCall(Params(), results_.Callback());
  ASSERT_TRUE(WaitUntil([&] { return fake_.InFlightCreates() == 10; }));
  client.reset();
  const auto results = results_.All();
  ASSERT_EQ(results.size(), 10u);
  for (const RestResult& result : results) {
    EXPECT_EQ(result.kind, RestResult::Kind::kCancelled);
    EXPECT_EQ(result.attempts, 1);
  }
  fake_.ReleaseHung();
}

TEST_F(RestClientTest, TheSecretIsNeverLogged) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  spdlog::default_logger()->sinks().push_back(sink);
  const spdlog::level::level_enum level = spdlog::get_level();
  spdlog::set_level(spdlog::level::trace);
  {
    fake_.PushReply(FakeReply::TooManyRequests());
    fake_.PushReply(FakeReply::Hang());
    RestClientOptions options = Options();
    // Long enough for a 429 on a slow (sanitizer) build; the hang outlasts it.
    options.request_timeout = absl::Seconds(2);
    auto client = Client(options);
    client->CreateCall(Params(), results_.Callback());
    const RestResult result = results_.Await(1)[0];
    EXPECT_EQ(result.kind, RestResult::Kind::kUnknownOutcome) << result.message;
    EXPECT_EQ(result.attempts, 2);
    EXPECT_THAT(result.message, ::testing::Not(HasSubstr(options.secret)));
  }
  fake_.ReleaseHung();
  spdlog::set_level(level);
  spdlog::default_logger()->sinks().pop_back();
  // The retry and the unknown outcome were logged, without the token.
  EXPECT_THAT(log.str(), HasSubstr("retrying"));
  EXPECT_THAT(log.str(), HasSubstr("outcome unknown"));
  EXPECT_THAT(log.str(), ::testing::Not(HasSubstr(fake_.options().auth_token)));
}

TEST(RestClientOptionsTest, RefusesMissingSettings) {
  RestClientOptions options;
  options.secret = "x";
  EXPECT_EQ(RestClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.account_sid = "AC0123456789abcdef0123456789abcdef";
  options.secret = "";
  EXPECT_THAT(RestClient::Create(options).status().message(), HasSubstr("auth token"));
  options.secret = "x";
  options.max_attempts = 0;
  EXPECT_THAT(RestClient::Create(options).status().message(), HasSubstr("max_attempts"));
}

}  // namespace
}  // namespace campaign::twilio
