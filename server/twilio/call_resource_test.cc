#include "server/twilio/call_resource.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace campaign::twilio {
namespace {

using ::testing::HasSubstr;

TEST(CallResourceTest, ParsesTwilioCallJsonSkippingNestedFields) {
  absl::StatusOr<CallResource> call = ParseCallResource(R"({
    "account_sid": "AC0123456789abcdef0123456789abcdef",
    "answered_by": "machine_start", "duration": "15", "price": null,
    "sid": "CA0123456789abcdef0123456789abcdef", "status": "completed",
    "subresource_uris": {"notifications": "/x.json", "list": [1, 2, {"a": true}]},
    "queue_time": "0"})");
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->sid, "CA0123456789abcdef0123456789abcdef");
  EXPECT_EQ(call->status, CallStatus::kCompleted);
  EXPECT_EQ(call->duration_seconds, 15);
  EXPECT_EQ(call->answered_by, "machine_start");
}

TEST(CallResourceTest, NullsAreAbsent) {
  absl::StatusOr<CallResource> call = ParseCallResource(
      R"({"sid": "CA0123456789abcdef0123456789abcdef", "status": "queued",
          "duration": null, "answered_by": null})");
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->status, CallStatus::kQueued);
  EXPECT_EQ(call->duration_seconds, std::nullopt);
  EXPECT_EQ(call->answered_by, std::nullopt);
}

TEST(CallResourceTest, MalformedBodiesNameWhatIsWrong) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "not a JSON object"},
      {"<html>502</html>", "not a JSON object"},
      {"[1, 2]", "not a JSON object"},
      {R"({"sid": "CA0123456789abcdef0123456789abcdef", "status": "queued")", "not a JSON"},
      {R"({"status": "queued"})", "'sid'"},
      {R"({"sid": "XX0123456789abcdef0123456789abcdef", "status": "queued"})", "'sid'"},
      {R"({"sid": 5, "status": "queued"})", "'sid' is not a string"},
      {R"({"sid": "CA0123456789abcdef0123456789abcdef"})", "'status' is missing"},
      {R"({"sid": "CA0123456789abcdef0123456789abcdef", "status": "answered"})", "'answered'"},
      {R"({"sid": "CA0123456789abcdef0123456789abcdef", "status": "queued",
           "duration": "x"})",
       "'duration' = 'x'"},
  };
  for (const auto& [json, want] : cases) {
    absl::StatusOr<CallResource> call = ParseCallResource(json);
    EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(call.status().message(), HasSubstr(want)) << json;
  }
}

TEST(CallResourceTest, ParsesTwilioErrors) {
  std::optional<TwilioError> error = ParseTwilioError(
      R"({"code": 21211, "message": "The 'To' number 123 is not a valid phone number.",
          "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400})");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, 21211);
  EXPECT_EQ(error->message, "The 'To' number 123 is not a valid phone number.");
  EXPECT_EQ(ParseTwilioError(R"({"message": "x"})")->code, 0);
  EXPECT_EQ(ParseTwilioError("<html>bad gateway</html>"), std::nullopt);
  EXPECT_EQ(ParseTwilioError(R"({"status": 502})"), std::nullopt);
  EXPECT_EQ(ParseTwilioError(""), std::nullopt);
}

}  // namespace
}  // namespace campaign::twilio
