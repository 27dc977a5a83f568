#include "server/twilio/call_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace campaign::twilio {
namespace {

using ::testing::HasSubstr;

constexpr char kCallSid[] = "CA0123456789abcdef0123456789abcdef";
constexpr char kAccountSid[] = "AC0123456789abcdef0123456789abcdef";

TEST(CallStatusTest, ParsesEveryTwilioStatusAndBack) {
  const std::pair<const char*, CallStatus> all[] = {
      {"queued", CallStatus::kQueued},       {"initiated", CallStatus::kInitiated},
      {"ringing", CallStatus::kRinging},     {"in-progress", CallStatus::kInProgress},
      {"completed", CallStatus::kCompleted}, {"busy", CallStatus::kBusy},
      {"no-answer", CallStatus::kNoAnswer},  {"canceled", CallStatus::kCanceled},
      {"failed", CallStatus::kFailed},
  };
  for (const auto& [name, status] : all) {
    absl::StatusOr<CallStatus> parsed = ParseCallStatus(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(*parsed, status);
    EXPECT_EQ(CallStatusName(status), name);
  }
}

TEST(CallStatusTest, UnknownSpellingsAreErrorsNamingTheValue) {
  for (const char* bad : {"", "Completed", "in_progress", "no_answer", "cancelled", "answered"}) {
    absl::StatusOr<CallStatus> parsed = ParseCallStatus(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr(absl::StrCat("'", bad, "'")));
  }
}

TEST(CallStatusTest, ALateRingingAfterCompletedIsNotProgress) {
  EXPECT_TRUE(IsProgress(CallStatus::kQueued, CallStatus::kRinging));
  EXPECT_TRUE(IsProgress(CallStatus::kRinging, CallStatus::kInProgress));
  EXPECT_TRUE(IsProgress(CallStatus::kInProgress, CallStatus::kCompleted));
  EXPECT_TRUE(IsProgress(CallStatus::kRinging, CallStatus::kNoAnswer));
  EXPECT_FALSE(IsProgress(CallStatus::kCompleted, CallStatus::kRinging));
  EXPECT_FALSE(IsProgress(CallStatus::kCompleted, CallStatus::kInProgress));
  EXPECT_FALSE(IsProgress(CallStatus::kInProgress, CallStatus::kInitiated));
  // Duplicates and a second final status are not progress either.
  EXPECT_FALSE(IsProgress(CallStatus::kRinging, CallStatus::kRinging));
  EXPECT_FALSE(IsProgress(CallStatus::kCompleted, CallStatus::kCompleted));
  EXPECT_FALSE(IsProgress(CallStatus::kBusy, CallStatus::kFailed));
}

TEST(CallStatusTest, FinalStatusesMapToJobOutcomes) {
  EXPECT_EQ(OutcomeOf(CallStatus::kCompleted)->status, JobStatus::kCompleted);
  EXPECT_EQ(OutcomeOf(CallStatus::kCompleted)->error, "");
  EXPECT_EQ(OutcomeOf(CallStatus::kBusy)->status, JobStatus::kBusy);
  EXPECT_EQ(OutcomeOf(CallStatus::kNoAnswer)->status, JobStatus::kNoAnswer);
  EXPECT_EQ(OutcomeOf(CallStatus::kFailed)->status, JobStatus::kFailed);
  EXPECT_EQ(OutcomeOf(CallStatus::kFailed)->error, "twilio: call failed");
  EXPECT_EQ(OutcomeOf(CallStatus::kFailed, 404)->error, "twilio: call failed (SIP 404)");
  EXPECT_EQ(OutcomeOf(CallStatus::kCanceled)->status, JobStatus::kFailed);
  EXPECT_THAT(OutcomeOf(CallStatus::kCanceled)->error, HasSubstr("canceled"));
  for (CallStatus open : {CallStatus::kQueued, CallStatus::kInitiated, CallStatus::kRinging,
                          CallStatus::kInProgress}) {
    EXPECT_FALSE(IsFinal(open));
    EXPECT_EQ(OutcomeOf(open), std::nullopt);
  }
  EXPECT_TRUE(IsFinal(CallStatus::kCanceled));
}

TEST(CallStatusTest, CallbackUrlCarriesTheJobAndEscapedToken) {
  EXPECT_EQ(StatusCallbackUrl("https://hooks.example.com/campaign/", 7, 42, 1001, "a-b_c+d/e"),
            "https://hooks.example.com/campaign/twilio/status?b=7&r=42&j=1001&t=a-b_c%2Bd%2Fe");
}

FormParams Query() { return {{"b", "7"}, {"r", "42"}, {"j", "1001"}, {"t", "tok"}}; }

FormParams Body() {
  return {{"CallSid", kCallSid},   {"AccountSid", kAccountSid},  {"CallStatus", "completed"},
          {"CallDuration", "17"},  {"SipResponseCode", "200"},   {"AnsweredBy", "human"},
          {"SequenceNumber", "3"}, {"Direction", "outbound-api"}};
}

TEST(StatusCallbackTest, ParsesEveryField) {
  absl::StatusOr<StatusCallback> callback = ParseStatusCallback(Query(), Body());
  ASSERT_TRUE(callback.ok()) << callback.status();
  EXPECT_EQ(callback->business_id, 7);
  EXPECT_EQ(callback->run_id, 42);
  EXPECT_EQ(callback->job_id, 1001);
  EXPECT_EQ(callback->token, "tok");
  EXPECT_EQ(callback->call_sid, kCallSid);
  EXPECT_EQ(callback->account_sid, kAccountSid);
  EXPECT_EQ(callback->call_status, CallStatus::kCompleted);
  EXPECT_EQ(callback->call_duration_seconds, 17);
  EXPECT_EQ(callback->sip_response_code, 200);
  EXPECT_EQ(callback->answered_by, "human");
  EXPECT_EQ(callback->sequence_number, 3);
}

TEST(StatusCallbackTest, OptionalFieldsMayBeAbsent) {
  absl::StatusOr<StatusCallback> callback = ParseStatusCallback(
      Query(), {{"CallSid", kCallSid}, {"AccountSid", kAccountSid}, {"CallStatus", "ringing"}});
  ASSERT_TRUE(callback.ok()) << callback.status();
  EXPECT_EQ(callback->call_status, CallStatus::kRinging);
  EXPECT_EQ(callback->call_duration_seconds, std::nullopt);
  EXPECT_EQ(callback->sip_response_code, std::nullopt);
  EXPECT_EQ(callback->answered_by, std::nullopt);
  EXPECT_EQ(callback->sequence_number, std::nullopt);
}

// Replaces (or, with an empty value and erase, removes) one field.
FormParams With(FormParams params, const std::string& name, const std::string& value,
                bool erase = false) {
  for (auto it = params.begin(); it != params.end(); ++it) {
    if (it->first == name) {
      if (erase) {
        params.erase(it);
      } else {
        it->second = value;
      }
      return params;
    }
  }
  params.emplace_back(name, value);
  return params;
}

TEST(StatusCallbackTest, BadInputNamesTheFieldAndValue) {
  struct Case {
    FormParams query;
    FormParams body;
    std::string want;
  };
  const Case cases[] = {
      {With(Query(), "j", "", true), Body(), "missing query field j"},
      {With(Query(), "j", "abc"), Body(), "field j = 'abc' is not a positive integer"},
      {With(Query(), "r", "0"), Body(), "field r = '0'"},
      {With(Query(), "b", "-3"), Body(), "field b = '-3'"},
      {With(Query(), "b", "+3"), Body(), "field b = '+3'"},
      {With(Query(), "t", ""), Body(), "field t = ''"},
      {With(Query(), "t", "", true), Body(), "missing query field t"},
      {Query(), With(Body(), "CallSid", "", true), "missing form field CallSid"},
      {Query(), With(Body(), "CallSid", "CA123"), "field CallSid = 'CA123'"},
      {Query(), With(Body(), "AccountSid", kCallSid), "field AccountSid"},
      {Query(), With(Body(), "CallStatus", "answered"), "field CallStatus = 'answered'"},
      {Query(), With(Body(), "CallDuration", "1.5"), "field CallDuration = '1.5'"},
      {Query(), With(Body(), "CallDuration", "-1"), "field CallDuration = '-1'"},
      {Query(), With(Body(), "SipResponseCode", "abc"), "field SipResponseCode = 'abc'"},
      {Query(), With(Body(), "SipResponseCode", "99999999999"), "field SipResponseCode"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<StatusCallback> callback = ParseStatusCallback(c.query, c.body);
    EXPECT_EQ(callback.status().code(), absl::StatusCode::kInvalidArgument) << c.want;
    EXPECT_THAT(callback.status().message(), HasSubstr(c.want));
  }
  FormParams twice = Body();
  twice.emplace_back("CallStatus", "ringing");
  EXPECT_THAT(ParseStatusCallback(Query(), twice).status().message(),
              HasSubstr("CallStatus given 2 times"));
}

}  // namespace
}  // namespace campaign::twilio
