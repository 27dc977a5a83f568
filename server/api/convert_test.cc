// Unit tests of the protobuf <-> domain translation: every field of runs and
// jobs, timestamps (unset, microseconds, before 1970), status enums both ways,
// list filters and request leads.
#include "server/api/convert.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace campaign::api {
namespace {

namespace pb = ::outbound::v1;

const std::vector<RunStatus> kAllRunStatuses = {
    RunStatus::kPending,   RunStatus::kRunning,   RunStatus::kPaused, RunStatus::kStopped,
    RunStatus::kCancelled, RunStatus::kCompleted, RunStatus::kFailed,
};
const std::vector<JobStatus> kAllJobStatuses = {
    JobStatus::kQueued,    JobStatus::kDialing,   JobStatus::kCalling,
    JobStatus::kCompleted, JobStatus::kFailed,    JobStatus::kNoAnswer,
    JobStatus::kBusy,      JobStatus::kCancelled, JobStatus::kSkipped,
};

// Uppercases ASCII ("no_answer" → "NO_ANSWER").
std::string Upper(absl::string_view text) {
  std::string upper(text);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper;
}

// Passes when `timestamp` holds exactly `seconds` and `nanos`.
testing::AssertionResult IsTimestamp(const google::protobuf::Timestamp& timestamp, int64_t seconds,
                                     int32_t nanos) {
  if (timestamp.seconds() == seconds && timestamp.nanos() == nanos) {
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << "got {" << timestamp.seconds() << "s, " << timestamp.nanos()
                                     << "ns}, want {" << seconds << "s, " << nanos << "ns}";
}

// The created_at of a run converted from `time`.
google::protobuf::Timestamp Converted(absl::Time time) {
  Run run;
  run.status = RunStatus::kPending;
  run.created_at = time;
  pb::OutboundCallRun out;
  ToProto(run, RunAudience::kTenant, &out);
  return out.created_at();
}

// A run with every field set to a distinct value.
Run FullRun() {
  Run run;
  run.id = 101;
  run.business_id = 202;
  run.outbound_list_id = 303;
  run.created_by_user_id = 404;
  run.request_id = "req-\xC3\xA9-1";
  run.concurrency = 7;
  run.total_leads = 1000;
  run.queued_count = 600;
  run.in_progress_count = 7;
  run.completed_count = 300;
  run.failed_count = 50;
  run.busy_count = 12;
  run.no_answer_count = 20;
  run.cancelled_count = 43;
  run.skipped_count = 7;
  run.cursor_position = 400;
  run.next_dial_at = absl::FromUnixSeconds(1'700'000'100);
  run.waiting_reason = WaitReason::kCallingWindow;
  run.start_at = absl::FromUnixSeconds(1'700'000'050);
  run.end_at = absl::FromUnixSeconds(1'700'086'400);
  run.caller_ids = {"+14155550100", "+12125550100"};
  run.local_presence = true;
  run.status = RunStatus::kRunning;
  run.cancel_requested = true;
  run.last_error = "dialer hiccup";
  run.locked_by_worker = "worker-a:1234";
  run.lock_ts = absl::FromUnixMicros(1'700'000'005'000'001);
  run.lease_epoch = 9;
  run.version = 12;
  run.created_at = absl::FromUnixMicros(1'700'000'000'123'456);
  run.started_at = absl::FromUnixMicros(1'700'000'001'000'000);
  run.ended_at = absl::FromUnixMicros(1'700'000'009'999'999);
  run.updated_at = absl::FromUnixMicros(1'700'000'006'500'000);
  return run;
}

// A job with every field set to a distinct value.
Job FullJob() {
  Job job;
  job.id = 5001;
  job.run_id = 101;
  job.business_id = 202;
  job.lead_id = 77;
  job.lead_name = "Jos\xC3\xA9";
  job.phone = "+14155550101";
  job.project_id = 88;
  job.call_log_id = 99;
  job.status = JobStatus::kNoAnswer;
  job.error_message = "no answer after 30 s";
  job.call_sid = "CA0123456789abcdef";
  job.attempts = 1;
  job.dial_started_at = absl::FromUnixMicros(1'700'000'010'000'010);
  job.created_at = absl::FromUnixMicros(1'700'000'000'000'001);
  job.started_at = absl::FromUnixMicros(1'700'000'011'250'000);
  job.completed_at = absl::FromUnixMicros(1'700'000'041'999'000);
  job.next_attempt_at = absl::FromUnixSeconds(1'700'003'600);
  job.waiting_reason = WaitReason::kRetryDelay;
  job.time_zone = "America/Boise&America/Los_Angeles";
  job.caller_id = "+12085550100";
  job.skip_reason = SkipReason::kDoNotCall;
  return job;
}

// Every field of a run reaches a system admin's proto.
TEST(RunToProtoTest, CopiesEveryField) {
  pb::OutboundCallRun out;
  ToProto(FullRun(), RunAudience::kSystemAdmin, &out);
  EXPECT_EQ(out.id(), 101);
  EXPECT_EQ(out.business_id(), 202);
  EXPECT_EQ(out.outbound_list_id(), 303);
  EXPECT_EQ(out.created_by_user_id(), 404);
  EXPECT_EQ(out.request_id(), "req-\xC3\xA9-1");
  EXPECT_EQ(out.concurrency(), 7);
  EXPECT_EQ(out.total_leads(), 1000);
  EXPECT_EQ(out.queued_count(), 600);
  EXPECT_EQ(out.in_progress_count(), 7);
  EXPECT_EQ(out.completed_count(), 300);
  EXPECT_EQ(out.failed_count(), 50);
  EXPECT_EQ(out.cancelled_count(), 43);
  EXPECT_EQ(out.cursor_position(), 400);
  // Outcomes as a person reads them: failed_count (50) holds the busy and
  // unanswered calls; the outcomes add up to the cursor.
  EXPECT_EQ(out.outcomes().completed(), 300);
  EXPECT_EQ(out.outcomes().busy(), 12);
  EXPECT_EQ(out.outcomes().no_answer(), 20);
  EXPECT_EQ(out.outcomes().failed(), 18);
  EXPECT_EQ(out.outcomes().cancelled(), 43);
  EXPECT_EQ(out.outcomes().skipped(), 7);
  EXPECT_EQ(out.skipped_count(), 7);
  EXPECT_EQ(out.outcomes().completed() + out.outcomes().busy() + out.outcomes().no_answer() +
                out.outcomes().failed() + out.outcomes().cancelled() + out.outcomes().skipped(),
            out.cursor_position());
  ASSERT_TRUE(out.has_next_dial_at());
  EXPECT_TRUE(IsTimestamp(out.next_dial_at(), 1'700'000'100, 0));
  EXPECT_EQ(out.waiting_reason(), pb::WAIT_REASON_CALLING_WINDOW);
  ASSERT_TRUE(out.has_start_at());
  EXPECT_TRUE(IsTimestamp(out.start_at(), 1'700'000'050, 0));
  ASSERT_TRUE(out.has_end_at());
  EXPECT_TRUE(IsTimestamp(out.end_at(), 1'700'086'400, 0));
  EXPECT_EQ(std::vector<std::string>(out.caller_ids().begin(), out.caller_ids().end()),
            (std::vector<std::string>{"+14155550100", "+12125550100"}));
  EXPECT_TRUE(out.local_presence());
  EXPECT_EQ(out.status(), pb::RUN_STATUS_RUNNING);
  EXPECT_TRUE(out.cancel_requested());
  EXPECT_EQ(out.last_error(), "dialer hiccup");
  EXPECT_EQ(out.locked_by_worker(), "worker-a:1234");
  ASSERT_TRUE(out.has_lock_ts());
  EXPECT_TRUE(IsTimestamp(out.lock_ts(), 1'700'000'005, 1'000));
  ASSERT_TRUE(out.has_created_at());
  EXPECT_TRUE(IsTimestamp(out.created_at(), 1'700'000'000, 123'456'000));
  ASSERT_TRUE(out.has_started_at());
  EXPECT_TRUE(IsTimestamp(out.started_at(), 1'700'000'001, 0));
  ASSERT_TRUE(out.has_ended_at());
  EXPECT_TRUE(IsTimestamp(out.ended_at(), 1'700'000'009, 999'999'000));
  ASSERT_TRUE(out.has_updated_at());
  EXPECT_TRUE(IsTimestamp(out.updated_at(), 1'700'000'006, 500'000'000));
}

// Unset optional timestamps stay unset (not the epoch); the required ones are
// always present.
TEST(RunToProtoTest, UnsetOptionalTimestampsStayUnset) {
  campaign::Run run = FullRun();
  run.lock_ts.reset();
  run.started_at.reset();
  run.ended_at.reset();
  pb::OutboundCallRun out;
  ToProto(run, RunAudience::kSystemAdmin, &out);
  EXPECT_FALSE(out.has_lock_ts());
  EXPECT_FALSE(out.has_started_at());
  EXPECT_FALSE(out.has_ended_at());
  EXPECT_TRUE(out.has_created_at());
  EXPECT_TRUE(out.has_updated_at());
}

// A stored status this build does not know is reported as UNSPECIFIED.
TEST(RunToProtoTest, UnknownStatusIsUnspecified) {
  campaign::Run run = FullRun();
  run.status.reset();
  pb::OutboundCallRun out;
  ToProto(run, RunAudience::kTenant, &out);
  EXPECT_EQ(out.status(), pb::RUN_STATUS_UNSPECIFIED);
}

// A tenant sees that a run is held and since when, never the holder; only a
// system admin's principal gets the system admin audience.
TEST(RunToProtoTest, OnlySystemAdminsSeeTheLeaseHolder) {
  pb::OutboundCallRun tenant;
  ToProto(FullRun(), RunAudience::kTenant, &tenant);
  EXPECT_EQ(tenant.locked_by_worker(), "");
  ASSERT_TRUE(tenant.has_lock_ts());
  EXPECT_TRUE(IsTimestamp(tenant.lock_ts(), 1'700'000'005, 1'000));
  EXPECT_EQ(tenant.id(), 101);

  Principal principal;
  principal.business_id = 3;
  for (Role role : {Role::kOwner, Role::kAdmin, Role::kAgent}) {
    principal.role = role;
    EXPECT_EQ(AudienceOf(principal), RunAudience::kTenant) << RoleName(role);
  }
  principal.role = Role::kSystemAdmin;
  principal.business_id.reset();
  EXPECT_EQ(AudienceOf(principal), RunAudience::kSystemAdmin);
}

// Every field of a job reaches the proto.
TEST(JobToProtoTest, CopiesEveryField) {
  pb::OutboundCallJob out;
  ToProto(FullJob(), &out);
  EXPECT_EQ(out.id(), 5001);
  EXPECT_EQ(out.run_id(), 101);
  EXPECT_EQ(out.business_id(), 202);
  EXPECT_EQ(out.lead_id(), 77);
  EXPECT_EQ(out.lead_name(), "Jos\xC3\xA9");
  EXPECT_EQ(out.phone(), "+14155550101");
  EXPECT_EQ(out.project_id(), 88);
  EXPECT_EQ(out.call_log_id(), 99);
  EXPECT_EQ(out.status(), pb::JOB_STATUS_NO_ANSWER);
  EXPECT_EQ(out.error_message(), "no answer after 30 s");
  EXPECT_EQ(out.call_sid(), "CA0123456789abcdef");
  EXPECT_EQ(out.attempts(), 1);
  ASSERT_TRUE(out.has_dial_started_at());
  EXPECT_TRUE(IsTimestamp(out.dial_started_at(), 1'700'000'010, 10'000));
  ASSERT_TRUE(out.has_created_at());
  EXPECT_TRUE(IsTimestamp(out.created_at(), 1'700'000'000, 1'000));
  ASSERT_TRUE(out.has_started_at());
  EXPECT_TRUE(IsTimestamp(out.started_at(), 1'700'000'011, 250'000'000));
  ASSERT_TRUE(out.has_completed_at());
  EXPECT_TRUE(IsTimestamp(out.completed_at(), 1'700'000'041, 999'000'000));
  EXPECT_EQ(out.time_zone(), "America/Boise&America/Los_Angeles");
  EXPECT_EQ(out.caller_id(), "+12085550100");
  EXPECT_EQ(out.skip_reason(), pb::SKIP_REASON_DO_NOT_CALL);
  // Not queued: when it would next be dialed is not shown.
  EXPECT_FALSE(out.has_next_attempt_at());
  EXPECT_EQ(out.waiting_reason(), pb::WAIT_REASON_UNSPECIFIED);
}

// A queued job shows when it may next be dialed and why; without a time
// (due now) neither is shown.
TEST(JobToProtoTest, AQueuedJobShowsWhenAndWhyItWaits) {
  campaign::Job job = FullJob();
  job.status = JobStatus::kQueued;
  pb::OutboundCallJob out;
  ToProto(job, &out);
  ASSERT_TRUE(out.has_next_attempt_at());
  EXPECT_TRUE(IsTimestamp(out.next_attempt_at(), 1'700'003'600, 0));
  EXPECT_EQ(out.waiting_reason(), pb::WAIT_REASON_RETRY_DELAY);
  job.next_attempt_at.reset();
  out.Clear();
  ToProto(job, &out);
  EXPECT_FALSE(out.has_next_attempt_at());
  EXPECT_EQ(out.waiting_reason(), pb::WAIT_REASON_UNSPECIFIED);
}

// Every wait and skip reason maps to the proto value of the same name.
TEST(ReasonEnumTest, MapToTheProtoValuesOfTheSameName) {
  for (WaitReason reason : {WaitReason::kStartAt, WaitReason::kCallingWindow,
                            WaitReason::kRetryDelay, WaitReason::kPerNumberCap}) {
    EXPECT_EQ(pb::WaitReason_Name(ToProto(reason)), "WAIT_REASON_" + Upper(WaitReasonName(reason)));
  }
  EXPECT_EQ(ToProto(WaitReason::kNone), pb::WAIT_REASON_UNSPECIFIED);
  for (SkipReason reason :
       {SkipReason::kDoNotCall, SkipReason::kPerNumberCap, SkipReason::kWindowUnreachable}) {
    EXPECT_EQ(pb::SkipReason_Name(ToProto(reason)), "SKIP_REASON_" + Upper(SkipReasonName(reason)));
  }
  EXPECT_EQ(ToProto(SkipReason::kNone), pb::SKIP_REASON_UNSPECIFIED);
}

// A policy goes proto -> domain -> proto unchanged.
TEST(PolicyProtoTest, RoundTripsEveryField) {
  pb::DialingPolicy in;
  auto* window = in.add_calling_windows();
  window->set_day_of_week(pb::DAY_OF_WEEK_SUNDAY);
  window->set_start_minute(540);
  window->set_end_minute(1020);
  in.add_restricted_dates("2026-12-25");
  in.set_max_attempts(3);
  auto* retry = in.add_retry_delays();
  retry->set_outcome(pb::JOB_STATUS_NO_ANSWER);
  retry->set_delay_seconds(3600);
  in.set_max_dials_per_number(2);
  in.set_per_number_window_days(7);
  in.set_default_time_zone("America/Chicago");
  absl::StatusOr<DialingPolicy> policy = FromProto(in, "policy.");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->calling_windows, (std::vector<DailyWindow>{{7, 540, 1020}}));
  EXPECT_EQ(policy->restricted_dates, (std::vector<LocalDate>{{2026, 12, 25}}));
  EXPECT_EQ(policy->retry_delays,
            (std::vector<RetryDelay>{{JobStatus::kNoAnswer, absl::Seconds(3600)}}));
  pb::DialingPolicy out;
  ToProto(*policy, &out);
  EXPECT_EQ(out.SerializeAsString(), in.SerializeAsString()) << out.DebugString();
}

// What a domain policy cannot hold is refused naming the field and value.
TEST(PolicyProtoTest, UnrepresentableValuesAreNamed) {
  const auto error = [](const pb::DialingPolicy& policy) {
    return std::string(FromProto(policy, "policy.").status().message());
  };
  pb::DialingPolicy no_day;
  no_day.add_calling_windows()->set_end_minute(60);
  EXPECT_TRUE(
      absl::StartsWith(error(no_day), "policy.calling_windows[0].day_of_week must be a day"))
      << error(no_day);
  pb::DialingPolicy bad_day;
  bad_day.add_calling_windows()->set_day_of_week(pb::DAY_OF_WEEK_MONDAY);
  bad_day.add_calling_windows()->set_day_of_week(static_cast<pb::DayOfWeek>(8));
  EXPECT_TRUE(absl::StrContains(error(bad_day), "policy.calling_windows[1].day_of_week"));
  EXPECT_TRUE(absl::StrContains(error(bad_day), "got 8"));
  for (const std::string date : {"2026-1-05", "26-01-05", "2026/01/05", "tomorrow", ""}) {
    pb::DialingPolicy bad_date;
    bad_date.add_restricted_dates("2026-12-25");
    bad_date.add_restricted_dates(date);
    EXPECT_EQ(error(bad_date), absl::StrCat("policy.restricted_dates[1] \"", date,
                                            "\" is not a date of the form YYYY-MM-DD"));
  }
  pb::DialingPolicy no_outcome;
  no_outcome.add_retry_delays()->set_delay_seconds(60);
  EXPECT_TRUE(absl::StartsWith(error(no_outcome), "policy.retry_delays[0].outcome must be"))
      << error(no_outcome);
  EXPECT_TRUE(absl::StrContains(error(no_outcome), "got 0"));
}

// Request timestamps: absent is nullopt, out of range is named.
TEST(TimestampFromProtoTest, AbsentValidAndOutOfRange) {
  google::protobuf::Timestamp time;
  EXPECT_FALSE(FromProto(time, false, "start_at")->has_value());
  time.set_seconds(1'700'000'000);
  time.set_nanos(5'000);
  EXPECT_EQ(**FromProto(time, true, "start_at"),
            absl::FromUnixSeconds(1'700'000'000) + absl::Microseconds(5));
  time.set_nanos(-1);
  absl::StatusOr<std::optional<absl::Time>> bad = FromProto(time, true, "end_at");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), "end_at is not a valid timestamp"));
  time.set_nanos(0);
  time.set_seconds(253402300800);
  EXPECT_FALSE(FromProto(time, true, "end_at").ok());
}

// A queued job's unset timestamps stay unset, and an unknown status is
// UNSPECIFIED.
TEST(JobToProtoTest, UnsetOptionalTimestampsStayUnset) {
  campaign::Job job = FullJob();
  job.dial_started_at.reset();
  job.started_at.reset();
  job.completed_at.reset();
  job.status.reset();
  pb::OutboundCallJob out;
  ToProto(job, &out);
  EXPECT_FALSE(out.has_dial_started_at());
  EXPECT_FALSE(out.has_started_at());
  EXPECT_FALSE(out.has_completed_at());
  EXPECT_TRUE(out.has_created_at());
  EXPECT_EQ(out.status(), pb::JOB_STATUS_UNSPECIFIED);
}

// Timestamps keep microsecond precision, and instants before 1970 get the
// normalised form protobuf requires (negative seconds, nanos in 0..999999999).
TEST(TimestampTest, ConvertsMicrosecondsIncludingBefore1970) {
  EXPECT_TRUE(IsTimestamp(Converted(absl::UnixEpoch()), 0, 0));
  EXPECT_TRUE(IsTimestamp(Converted(absl::FromUnixMicros(1)), 0, 1'000));
  EXPECT_TRUE(IsTimestamp(Converted(absl::FromUnixMicros(999'999)), 0, 999'999'000));
  EXPECT_TRUE(IsTimestamp(Converted(absl::FromUnixMicros(1'000'000)), 1, 0));
  EXPECT_TRUE(IsTimestamp(Converted(absl::FromUnixMicros(-1)), -1, 999'999'000));
  EXPECT_TRUE(IsTimestamp(Converted(absl::FromUnixMicros(-999'999)), -1, 1'000));
  EXPECT_TRUE(IsTimestamp(Converted(absl::FromUnixMicros(-1'000'000)), -1, 0));
  EXPECT_TRUE(IsTimestamp(Converted(absl::FromUnixMicros(-1'500'000)), -2, 500'000'000));
  // 1969-07-20 20:17:40.000123 UTC.
  EXPECT_TRUE(
      IsTimestamp(Converted(absl::FromUnixMicros(-14'182'939'999'877)), -14'182'940, 123'000));
  // 0001-01-01T00:00:00Z, the earliest Timestamp protobuf allows.
  EXPECT_TRUE(IsTimestamp(Converted(absl::FromUnixSeconds(-62'135'596'800)), -62'135'596'800, 0));
  // 9999-12-31T23:59:59.999999Z, the latest microsecond protobuf allows.
  EXPECT_TRUE(IsTimestamp(Converted(absl::FromUnixMicros(253'402'300'799'999'999)), 253'402'300'799,
                          999'999'000));
}

// Precision below a microsecond (PostgreSQL stores microseconds) is dropped
// towards the past, and nanos stay in range either side of 1970.
TEST(TimestampTest, SubMicrosecondIsTruncatedTowardsThePast) {
  EXPECT_TRUE(IsTimestamp(Converted(absl::FromUnixNanos(1'999)), 0, 1'000));
  EXPECT_TRUE(IsTimestamp(Converted(absl::FromUnixNanos(-1)), -1, 999'999'000));
  for (int64_t nanos :
       {int64_t{-3'000'000'001}, int64_t{-1'000}, int64_t{7}, int64_t{3'999'999'999}}) {
    const google::protobuf::Timestamp ts = Converted(absl::FromUnixNanos(nanos));
    EXPECT_GE(ts.nanos(), 0) << nanos;
    EXPECT_LT(ts.nanos(), 1'000'000'000) << nanos;
    EXPECT_EQ(ts.nanos() % 1'000, 0) << nanos;
  }
}

// Each domain run status maps to the proto value of the same name, distinct
// from the others, and the filter maps it back.
TEST(RunStatusEnumTest, MapsBothWays) {
  std::vector<int> seen;
  for (RunStatus status : kAllRunStatuses) {
    const pb::RunStatus proto = ToProto(std::optional<RunStatus>(status));
    EXPECT_EQ(pb::RunStatus_Name(proto), "RUN_STATUS_" + Upper(RunStatusName(status)));
    EXPECT_NE(proto, pb::RUN_STATUS_UNSPECIFIED);
    for (int other : seen) EXPECT_NE(other, proto) << RunStatusName(status);
    seen.push_back(proto);
    auto back = RunStatusFilter(proto);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, std::optional<RunStatus>(status)) << RunStatusName(status);
  }
  EXPECT_EQ(ToProto(std::optional<RunStatus>()), pb::RUN_STATUS_UNSPECIFIED);
}

// Every value the proto enum defines besides UNSPECIFIED is a usable filter.
TEST(RunStatusEnumTest, EveryProtoValueIsAFilter) {
  const google::protobuf::EnumDescriptor* descriptor = pb::RunStatus_descriptor();
  ASSERT_EQ(descriptor->value_count(), 8);
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const int value = descriptor->value(i)->number();
    auto filter = RunStatusFilter(value);
    ASSERT_TRUE(filter.ok()) << descriptor->value(i)->name() << ": " << filter.status();
    if (value == pb::RUN_STATUS_UNSPECIFIED) {
      EXPECT_FALSE(filter->has_value());
    } else {
      ASSERT_TRUE(filter->has_value()) << descriptor->value(i)->name();
      EXPECT_EQ(ToProto(*filter), value);
    }
  }
}

// Each domain job status maps to the proto value of the same name, distinct
// from the others, and the filter maps it back.
TEST(JobStatusEnumTest, MapsBothWays) {
  std::vector<int> seen;
  for (JobStatus status : kAllJobStatuses) {
    const pb::JobStatus proto = ToProto(std::optional<JobStatus>(status));
    EXPECT_EQ(pb::JobStatus_Name(proto), "JOB_STATUS_" + Upper(JobStatusName(status)));
    EXPECT_NE(proto, pb::JOB_STATUS_UNSPECIFIED);
    for (int other : seen) EXPECT_NE(other, proto) << JobStatusName(status);
    seen.push_back(proto);
    auto back = JobStatusFilter(proto);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, std::optional<JobStatus>(status)) << JobStatusName(status);
  }
  EXPECT_EQ(ToProto(std::optional<JobStatus>()), pb::JOB_STATUS_UNSPECIFIED);
}

// Every value the proto enum defines besides UNSPECIFIED is a usable filter.
TEST(JobStatusEnumTest, EveryProtoValueIsAFilter) {
  const google::protobuf::EnumDescriptor* descriptor = pb::JobStatus_descriptor();
  ASSERT_EQ(descriptor->value_count(), 10);
  for (int i = 0; i < descriptor->value_count(); ++i) {
    const int value = descriptor->value(i)->number();
    auto filter = JobStatusFilter(value);
    ASSERT_TRUE(filter.ok()) << descriptor->value(i)->name() << ": " << filter.status();
    if (value == pb::JOB_STATUS_UNSPECIFIED) {
      EXPECT_FALSE(filter->has_value());
    } else {
      ASSERT_TRUE(filter->has_value()) << descriptor->value(i)->name();
      EXPECT_EQ(ToProto(*filter), value);
    }
  }
}

// UNSPECIFIED means "no filter".
TEST(StatusFilterTest, UnspecifiedIsNoFilter) {
  auto run = RunStatusFilter(pb::RUN_STATUS_UNSPECIFIED);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_FALSE(run->has_value());
  auto job = JobStatusFilter(pb::JOB_STATUS_UNSPECIFIED);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_FALSE(job->has_value());
}

// A number outside the enum (proto3 keeps unknown enum values) is
// INVALID_ARGUMENT naming the status and the value, never "no filter".
TEST(StatusFilterTest, OutOfRangeIsInvalidArgument) {
  for (int value : {99, 8, -1, 1'000'000}) {
    auto run = RunStatusFilter(value);
    ASSERT_FALSE(run.ok()) << value;
    EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument) << run.status();
    EXPECT_TRUE(absl::StrContains(run.status().message(), "status")) << run.status();
    EXPECT_TRUE(absl::StrContains(run.status().message(), std::to_string(value))) << run.status();
  }
  for (int value : {99, 10, -1, 1'000'000}) {
    auto job = JobStatusFilter(value);
    ASSERT_FALSE(job.ok()) << value;
    EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument) << job.status();
    EXPECT_TRUE(absl::StrContains(job.status().message(), "status")) << job.status();
    EXPECT_TRUE(absl::StrContains(job.status().message(), std::to_string(value))) << job.status();
  }
}

// A request's leads are copied verbatim and in order — duplicates and
// unnormalised phones included — since validation comes later.
TEST(LeadsFromProtoTest, CopiesLeadsVerbatimInOrder) {
  pb::CreateRunRequest request;
  auto* first = request.add_leads();
  first->set_lead_id(3);
  first->set_phone("+1 (415) 555-0101");
  first->set_name("Jos\xC3\xA9");
  auto* second = request.add_leads();
  second->set_lead_id(-2);
  second->set_phone("not a phone");
  auto* third = request.add_leads();
  third->set_lead_id(3);
  third->set_phone("+442071838750");
  third->set_name("again");

  const std::vector<Lead> leads = FromProto(request.leads());
  ASSERT_EQ(leads.size(), 3u);
  EXPECT_EQ(leads[0].lead_id, 3);
  EXPECT_EQ(leads[0].phone, "+1 (415) 555-0101");
  EXPECT_EQ(leads[0].name, "Jos\xC3\xA9");
  EXPECT_EQ(leads[1].lead_id, -2);
  EXPECT_EQ(leads[1].phone, "not a phone");
  EXPECT_EQ(leads[1].name, "");
  EXPECT_EQ(leads[2].lead_id, 3);
  EXPECT_EQ(leads[2].phone, "+442071838750");
  EXPECT_EQ(leads[2].name, "again");
  EXPECT_EQ(leads[0].time_zone, "");
  pb::Lead zoned;
  zoned.set_time_zone("Europe/Paris");
  *request.add_leads() = zoned;
  EXPECT_EQ(FromProto(request.leads())[3].time_zone, "Europe/Paris");
}

// No leads give an empty list.
TEST(LeadsFromProtoTest, EmptyGivesEmpty) {
  pb::CreateRunRequest request;
  EXPECT_TRUE(FromProto(request.leads()).empty());
}

// Call settings: copied both ways verbatim (validation comes later); an
// enum value this build does not know is INVALID_ARGUMENT naming the field.
TEST(CallSettingsProtoTest, CopiedBothWaysAndShownOnTheRun) {
  pb::CreateRunRequest request;
  pb::CallSettings* in = request.mutable_call_settings();
  in->set_caller_id("+1 415 555 0199");
  in->set_twiml_url("https://run.example.com/voice.xml");
  in->set_ring_timeout_seconds(45);
  in->set_machine_detection(pb::MACHINE_DETECTION_DETECT_MESSAGE_END);
  absl::StatusOr<CallSettings> settings = FromProto(request.call_settings());
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->caller_id, "+1 415 555 0199");
  EXPECT_EQ(settings->twiml_url, "https://run.example.com/voice.xml");
  EXPECT_EQ(settings->ring_timeout_seconds, 45);
  EXPECT_EQ(settings->machine_detection, MachineDetection::kDetectMessageEnd);
  in->set_machine_detection(pb::MACHINE_DETECTION_ENABLE);
  EXPECT_EQ(FromProto(request.call_settings())->machine_detection, MachineDetection::kEnable);
  EXPECT_EQ(FromProto(pb::CallSettings())->machine_detection, MachineDetection::kOff);
  in->set_machine_detection(static_cast<pb::MachineDetection>(9));
  absl::StatusOr<CallSettings> unknown = FromProto(request.call_settings());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "call_settings.machine_detection 9"))
      << unknown.status();

  campaign::Run run = FullRun();
  run.call_settings = *settings;
  run.hang_up_on_end = false;
  pb::OutboundCallRun out;
  ToProto(run, RunAudience::kTenant, &out);
  ASSERT_TRUE(out.has_call_settings());
  EXPECT_EQ(out.call_settings().caller_id(), "+1 415 555 0199");
  EXPECT_EQ(out.call_settings().twiml_url(), "https://run.example.com/voice.xml");
  EXPECT_EQ(out.call_settings().ring_timeout_seconds(), 45);
  EXPECT_EQ(out.call_settings().machine_detection(), pb::MACHINE_DETECTION_DETECT_MESSAGE_END);
  EXPECT_FALSE(out.hang_up_on_end());
  // A run without settings shows none; hang_up_on_end is always shown.
  pb::OutboundCallRun plain;
  ToProto(FullRun(), RunAudience::kTenant, &plain);
  EXPECT_FALSE(plain.has_call_settings());
  EXPECT_TRUE(plain.hang_up_on_end());
}

}  // namespace
}  // namespace campaign::api
