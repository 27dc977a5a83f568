// The status-callback listener, fed by the loopback fake Twilio.
#include "server/twilio/callback_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "server/twilio/listen_backlog.h"
#include "server/twilio/rest_client.h"
#include "server/twilio/signature.h"
#include "tests/support/fake_twilio.h"
#include "tests/support/wait.h"

namespace campaign::twilio {
namespace {

using ::campaign::testing::FakeTwilio;
using ::campaign::testing::SignMode;
using ::campaign::testing::WaitUntil;
using ::testing::HasSubstr;

// What Twilio calls: a TLS-terminating proxy forwards it to the listener,
// stripping the /campaign prefix.
constexpr char kPublicUrl[] = "https://hooks.example.com/campaign";
constexpr char kCallSid[] = "CA0123456789abcdef0123456789abcdef";

class CallbackServerTest : public ::testing::Test {
 protected:
  void StartServer(int queue_capacity = 1024) {
    CallbackServerOptions options;
    options.public_url = kPublicUrl;
    options.auth_token = fake_.options().auth_token;
    options.queue_capacity = queue_capacity;
    absl::StatusOr<std::unique_ptr<CallbackServer>> server = CallbackServer::Start(
        options, [this](absl::Span<const StatusCallback> callbacks) { return Handle(callbacks); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
    fake_.SetCallbackDelivery(kPublicUrl, server_->LocalUrl());
  }

  absl::Status Handle(absl::Span<const StatusCallback> callbacks) {
    absl::MutexLock lock(&mu_);
    entered_ += 1;
    mu_.Await(absl::Condition(&open_));
    handled_.insert(handled_.end(), callbacks.begin(), callbacks.end());
    return absl::OkStatus();
  }

  int HandledCount() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(handled_.size());
  }
  std::vector<StatusCallback> Handled() {
    absl::MutexLock lock(&mu_);
    return handled_;
  }

  static std::string Url(int64_t job = 1001) {
    return StatusCallbackUrl(kPublicUrl, 7, 42, job, "tok-1");
  }
  FormParams Params(absl::string_view status = "ringing") const {
    return fake_.CallbackParams(kCallSid, status);
  }
  int Send(const std::string& url, const FormParams& params, SignMode mode) {
    absl::StatusOr<int> status = fake_.SendStatusCallback(url, params, mode);
    EXPECT_TRUE(status.ok()) << status.status();
    return status.value_or(0);
  }

  FakeTwilio fake_;
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<StatusCallback> handled_ ABSL_GUARDED_BY(mu_);
  // Declared last: stopped first, while the handler's state still exists.
  std::unique_ptr<CallbackServer> server_;
};

TEST_F(CallbackServerTest, SignedCallbackReachesTheHandler) {
  StartServer();
  EXPECT_EQ(Send(Url(), Params("completed"), SignMode::kSigned), 204);
  ASSERT_TRUE(WaitUntil([&] { return HandledCount() == 1; }));
  const StatusCallback callback = Handled()[0];
  EXPECT_EQ(callback.business_id, 7);
  EXPECT_EQ(callback.run_id, 42);
  EXPECT_EQ(callback.job_id, 1001);
  EXPECT_EQ(callback.token, "tok-1");
  EXPECT_EQ(callback.call_sid, kCallSid);
  EXPECT_EQ(callback.account_sid, fake_.options().account_sid);
  EXPECT_EQ(callback.call_status, CallStatus::kCompleted);
  EXPECT_EQ(server_->stats().queued, 1);
  EXPECT_EQ(server_->stats().handled, 1);
}

TEST_F(CallbackServerTest, UnsignedWronglySignedAndOtherUrlAreRefused) {
  StartServer();
  EXPECT_EQ(Send(Url(), Params(), SignMode::kUnsigned), 403);
  EXPECT_EQ(Send(Url(), Params(), SignMode::kWrongSignature), 403);
  EXPECT_EQ(Send(Url(), Params(), SignMode::kSignedForOtherUrl), 403);
  // Signed for job 1001 but posted for job 1002: the query is signed too.
  FormParams params = Params();
  httplib::Client client(server_->LocalUrl());
  client.set_url_encode(false);
  const std::string signature = ComputeSignature(fake_.options().auth_token, Url(1001), params);
  httplib::Result forged =
      client.Post("/twilio/status?b=7&r=42&j=1002&t=tok-1", {{"X-Twilio-Signature", signature}},
                  FormEncode(params), "application/x-www-form-urlencoded");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403);
  // A changed parameter (the status) with the original signature.
  params[3].second = "completed";
  forged =
      client.Post("/twilio/status?b=7&r=42&j=1001&t=tok-1", {{"X-Twilio-Signature", signature}},
                  FormEncode(params), "application/x-www-form-urlencoded");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403);
  EXPECT_EQ(server_->stats().rejected_signature, 5);

  EXPECT_EQ(Send(Url(2002), Params("busy"), SignMode::kSigned), 204);
  ASSERT_TRUE(WaitUntil([&] { return HandledCount() >= 1; }));
  const auto handled = Handled();
  ASSERT_EQ(handled.size(), 1u);
  EXPECT_EQ(handled[0].job_id, 2002);
  EXPECT_EQ(server_->stats().queued, 1);
}

TEST_F(CallbackServerTest, PublicUrlMustBeWhatTwilioCalled) {
  StartServer();
  // Twilio called another host than the configured public URL: signed for
  // that URL, the listener's rebuilt URL differs.
  fake_.SetCallbackDelivery("https://other.example.com/campaign", server_->LocalUrl());
  EXPECT_EQ(Send(StatusCallbackUrl("https://other.example.com/campaign", 7, 42, 1, "t"), Params(),
                 SignMode::kSigned),
            403);
  EXPECT_EQ(server_->stats().rejected_signature, 1);
}

TEST_F(CallbackServerTest, SignedButMalformedIsBadRequest) {
  StartServer();
  EXPECT_EQ(Send(Url(), Params("answered"), SignMode::kSigned), 400);
  FormParams no_sid = Params();
  no_sid.erase(no_sid.begin() + 2);  // CallSid
  EXPECT_EQ(Send(Url(), no_sid, SignMode::kSigned), 400);
  EXPECT_EQ(Send(StatusCallbackUrl(kPublicUrl, 7, 42, 0, "t"), Params(), SignMode::kSigned), 400);
  EXPECT_EQ(server_->stats().rejected_malformed, 3);
  EXPECT_EQ(server_->stats().queued, 0);
}

TEST_F(CallbackServerTest, DuplicatesArePassedOn) {
  StartServer();
  EXPECT_EQ(Send(Url(), Params("completed"), SignMode::kSigned), 204);
  EXPECT_EQ(Send(Url(), Params("completed"), SignMode::kSigned), 204);
  ASSERT_TRUE(WaitUntil([&] { return HandledCount() == 2; }));
  EXPECT_EQ(Handled()[0].call_sid, Handled()[1].call_sid);
}

TEST_F(CallbackServerTest, FullQueueAnswers503) {
  {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  StartServer(/*queue_capacity=*/2);
  // The first is taken by the (blocked) handler, two more fill the queue.
  EXPECT_EQ(Send(Url(1), Params(), SignMode::kSigned), 204);
  ASSERT_TRUE(WaitUntil([&] {
    absl::MutexLock lock(&mu_);
    return entered_ == 1;
  }));
  EXPECT_EQ(Send(Url(2), Params(), SignMode::kSigned), 204);
  EXPECT_EQ(Send(Url(3), Params(), SignMode::kSigned), 204);
  EXPECT_EQ(Send(Url(4), Params(), SignMode::kSigned), 503);
  EXPECT_EQ(server_->stats().rejected_full, 1);
  {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  ASSERT_TRUE(WaitUntil([&] { return HandledCount() == 3; }));
  const auto handled = Handled();
  EXPECT_EQ(handled[0].job_id, 1);
  EXPECT_EQ(handled[1].job_id, 2);
  EXPECT_EQ(handled[2].job_id, 3);
  // Twilio's retry gets in now.
  EXPECT_EQ(Send(Url(4), Params(), SignMode::kSigned), 204);
  ASSERT_TRUE(WaitUntil([&] { return HandledCount() == 4; }));
}

TEST_F(CallbackServerTest, CallbackOfACallPlacedThroughTheClient) {
  StartServer();
  RestClientOptions options;
  options.api_base = fake_.BaseUrl();
  options.account_sid = fake_.options().account_sid;
  options.secret = fake_.options().auth_token;
  absl::StatusOr<std::unique_ptr<RestClient>> client = RestClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  CreateCallParams params;
  params.to = "+15005550006";
  params.from = "+15005550001";
  params.url = "https://twiml.example.com/voice.xml";
  params.status_callback = StatusCallbackUrl(kPublicUrl, 7, 42, 1001, "dial+token/1");
  absl::Mutex mu;
  std::optional<RestResult> created;
  (*client)->CreateCall(params, [&](RestResult result) {
    absl::MutexLock lock(&mu);
    created = std::move(result);
  });
  ASSERT_TRUE(WaitUntil([&] {
    absl::MutexLock lock(&mu);
    return created.has_value();
  }));
  ASSERT_TRUE(created->ok()) << created->message;
  absl::StatusOr<int> status = fake_.SendCallStatus(
      created->call->sid, "completed", {{"CallDuration", "17"}, {"SipResponseCode", "200"}});
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, 204);
  ASSERT_TRUE(WaitUntil([&] { return HandledCount() == 1; }));
  const StatusCallback callback = Handled()[0];
  EXPECT_EQ(callback.call_sid, created->call->sid);
  EXPECT_EQ(callback.token, "dial+token/1");
  EXPECT_EQ(callback.call_status, CallStatus::kCompleted);
  EXPECT_EQ(callback.call_duration_seconds, 17);
  EXPECT_EQ(callback.sip_response_code, 200);
}

TEST_F(CallbackServerTest, HealthzAndOtherRoutes) {
  StartServer();
  httplib::Client client(server_->LocalUrl());
  httplib::Result health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  httplib::Result other = client.Get("/twilio/status");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  httplib::Result json = client.Post("/twilio/status?b=1", "{}", "application/json");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->status, 415);
}

TEST_F(CallbackServerTest, StopIsIdempotentAndFreesThePort) {
  StartServer();
  const std::string url = server_->LocalUrl();
  server_->Stop();
  server_->Stop();
  httplib::Client client(url);
  client.set_connection_timeout(std::chrono::seconds(5));
  EXPECT_FALSE(client.Get("/healthz"));
}

TEST(CallbackServerOptionsTest, RefusesMissingSettings) {
  const auto handler = [](absl::Span<const StatusCallback>) { return absl::OkStatus(); };
  CallbackServerOptions options;
  options.auth_token = "x";
  EXPECT_THAT(CallbackServer::Start(options, handler).status().message(), HasSubstr("public URL"));
  options.public_url = "hooks.example.com";
  EXPECT_THAT(CallbackServer::Start(options, handler).status().message(), HasSubstr("https://"));
  options.public_url = "https://hooks.example.com";
  options.auth_token = "";
  EXPECT_THAT(CallbackServer::Start(options, handler).status().message(), HasSubstr("auth token"));
}

TEST_F(CallbackServerTest, ListenBacklogIsRaisedOnlyForABoundPort) {
  StartServer();
  EXPECT_TRUE(RaiseListenBacklog(server_->port(), 2048));
  const std::string url = server_->LocalUrl();
  server_->Stop();
  // Nothing of this process listens there any more.
  EXPECT_FALSE(RaiseListenBacklog(server_->port(), 2048));
  EXPECT_FALSE(httplib::Client(url).Get("/healthz"));
}

TEST(ListenAddressTest, ParsesHostAndPort) {
  absl::StatusOr<ListenAddress> address = ParseListenAddress("0.0.0.0:8443");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->host, "0.0.0.0");
  EXPECT_EQ(address->port, 8443);
  address = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->host, "::1");
  EXPECT_EQ(address->port, 0);
  for (const char* bad :
       {"8443", ":8443", "host:", "host:x", "host:70000", "host:-1", "[::1:80", "host:+80"}) {
    EXPECT_EQ(ParseListenAddress(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace campaign::twilio
