// Dialing policies and CreateRun's issue-13 fields through real stubs against
// an in-process server: the server's defaults, a business default set with a
// mask, a run override inheriting the rest, clearing an override, isolation
// between businesses, roles, and a run's schedule, pool and lead zones as
// GetRun and ListJobs show them.
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
#include "server/api/convert.h"
#include "server/rules/dialing_rules.h"
#include "tests/support/leads.h"
#include "tests/support/test_server.h"

namespace campaign::testing {
namespace {

namespace pb = ::outbound::v1;
using google::protobuf::util::MessageDifferencer;
using grpc::StatusCode;

// Two businesses (A with owner, admin and agent keys; B with an owner key)
// and a server with the default policy (every day 08:00-21:00).
class PolicyTest : public ::testing::Test {
 protected:
  PolicyTest() : server_(db_) {
    business_a_ = db_.CreateBusiness("A");
    business_b_ = db_.CreateBusiness("B");
    owner_a_ = db_.CreateApiKey(business_a_, Role::kOwner).key;
    admin_a_ = db_.CreateApiKey(business_a_, Role::kAdmin).key;
    agent_a_ = db_.CreateApiKey(business_a_, Role::kAgent).key;
    owner_b_ = db_.CreateApiKey(business_b_, Role::kOwner).key;
  }

  pb::CampaignService::Stub& stub() { return server_.stub(); }

  grpc::Status Get(const std::string& key, int64_t run_id, pb::DialingPolicy* policy) {
    pb::GetDialingPolicyRequest request;
    request.set_run_id(run_id);
    return stub().GetDialingPolicy(CallContext(key).get(), request, policy);
  }
  pb::DialingPolicy MustGet(const std::string& key, int64_t run_id) {
    pb::DialingPolicy policy;
    const grpc::Status status = Get(key, run_id, &policy);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return policy;
  }
  grpc::Status Update(const std::string& key, int64_t run_id, const pb::DialingPolicy& values,
                      const std::vector<std::string>& paths, pb::DialingPolicy* out) {
    pb::UpdateDialingPolicyRequest request;
    request.set_run_id(run_id);
    *request.mutable_policy() = values;
    for (const std::string& path : paths) request.mutable_update_mask()->add_paths(path);
    return stub().UpdateDialingPolicy(CallContext(key).get(), request, out);
  }
  pb::DialingPolicy MustUpdate(const std::string& key, int64_t run_id,
                               const pb::DialingPolicy& values,
                               const std::vector<std::string>& paths) {
    pb::DialingPolicy policy;
    const grpc::Status status = Update(key, run_id, values, paths, &policy);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return policy;
  }

  pb::CreateRunRequest Request(const std::string& request_id, int leads) {
    pb::CreateRunRequest request;
    request.set_request_id(request_id);
    request.set_concurrency(2);
    for (int i = 1; i <= leads; ++i) *request.add_leads() = MakeLead(i, PhoneOf(i));
    return request;
  }
  pb::OutboundCallRun MustCreate(const std::string& key, const pb::CreateRunRequest& request) {
    pb::CreateRunResponse response;
    const grpc::Status status = stub().CreateRun(CallContext(key).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.run();
  }

  // The server's default policy as the API shows it.
  static pb::DialingPolicy ServerDefault() {
    pb::DialingPolicy policy;
    api::ToProto(rules::ServerDefaultPolicy(), &policy);
    return policy;
  }

  static pb::DailyWindow Window(pb::DayOfWeek day, int start, int end) {
    pb::DailyWindow window;
    window.set_day_of_week(day);
    window.set_start_minute(start);
    window.set_end_minute(end);
    return window;
  }

  TestDatabase db_;
  TestServer server_;
  int64_t business_a_ = 0;
  int64_t business_b_ = 0;
  std::string owner_a_, admin_a_, agent_a_, owner_b_;
};

::testing::AssertionResult Same(const pb::DialingPolicy& got, const pb::DialingPolicy& want) {
  if (MessageDifferencer::Equals(got, want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got\n"
                                       << got.DebugString() << "want\n"
                                       << want.DebugString();
}

TEST_F(PolicyTest, WithNothingSetEveryPolicyIsTheServersDefault) {
  const pb::DialingPolicy defaults = ServerDefault();
  ASSERT_EQ(defaults.calling_windows_size(), 7);
  EXPECT_EQ(defaults.calling_windows(0).start_minute(), 8 * 60);
  EXPECT_EQ(defaults.calling_windows(0).end_minute(), 21 * 60);
  EXPECT_EQ(defaults.max_attempts(), 1);
  EXPECT_EQ(defaults.default_time_zone(), "UTC");
  EXPECT_TRUE(Same(MustGet(owner_a_, 0), defaults));
  EXPECT_TRUE(Same(MustGet(agent_a_, 0), defaults));
  const pb::OutboundCallRun run = MustCreate(owner_a_, Request("r1", 1));
  EXPECT_TRUE(Same(MustGet(agent_a_, run.id()), defaults));
}

TEST_F(PolicyTest, BusinessDefaultRunOverrideAndClearingInheritFieldByField) {
  // The business default: two fields of the request, the mask names them.
  pb::DialingPolicy business;
  *business.add_calling_windows() = Window(pb::DAY_OF_WEEK_MONDAY, 9 * 60, 17 * 60);
  *business.add_calling_windows() = Window(pb::DAY_OF_WEEK_TUESDAY, 9 * 60, 17 * 60);
  business.set_max_attempts(3);
  business.set_default_time_zone("America/Chicago");  // not in the mask: ignored
  pb::DialingPolicy expected = ServerDefault();
  *expected.mutable_calling_windows() = business.calling_windows();
  expected.set_max_attempts(3);
  EXPECT_TRUE(
      Same(MustUpdate(admin_a_, 0, business, {"calling_windows", "max_attempts"}), expected));
  EXPECT_TRUE(Same(MustGet(agent_a_, 0), expected));

  // A run's override of one field; the rest comes from the business default,
  // live: a later change of the business default shows through.
  const pb::OutboundCallRun run = MustCreate(owner_a_, Request("r1", 1));
  EXPECT_TRUE(Same(MustGet(agent_a_, run.id()), expected));
  pb::DialingPolicy override;
  override.set_max_attempts(5);
  pb::DialingPolicy run_expected = expected;
  run_expected.set_max_attempts(5);
  EXPECT_TRUE(Same(MustUpdate(owner_a_, run.id(), override, {"max_attempts"}), run_expected));
  pb::DialingPolicy zone;
  zone.set_default_time_zone("Europe/Paris");
  expected.set_default_time_zone("Europe/Paris");
  run_expected.set_default_time_zone("Europe/Paris");
  EXPECT_TRUE(Same(MustUpdate(owner_a_, 0, zone, {"default_time_zone"}), expected));
  EXPECT_TRUE(Same(MustGet(owner_a_, run.id()), run_expected));

  // Clearing the run's override (in the mask, empty value): it inherits again.
  EXPECT_TRUE(
      Same(MustUpdate(owner_a_, run.id(), pb::DialingPolicy(), {"max_attempts"}), expected));
  // Clearing the business's windows: the server's default windows again.
  pb::DialingPolicy cleared = expected;
  *cleared.mutable_calling_windows() = ServerDefault().calling_windows();
  EXPECT_TRUE(Same(MustUpdate(owner_a_, 0, pb::DialingPolicy(), {"calling_windows"}), cleared));

  // An empty mask replaces every field: all cleared, the server's default.
  EXPECT_TRUE(Same(MustUpdate(owner_a_, 0, pb::DialingPolicy(), {}), ServerDefault()));
}

TEST_F(PolicyTest, CreateRunsPolicyIsTheRunsOverride) {
  pb::CreateRunRequest request = Request("r1", 1);
  request.mutable_policy()->set_max_attempts(2);
  request.mutable_policy()->add_restricted_dates("2026-12-25");
  const pb::OutboundCallRun run = MustCreate(owner_a_, request);
  pb::DialingPolicy expected = ServerDefault();
  expected.set_max_attempts(2);
  expected.add_restricted_dates("2026-12-25");
  EXPECT_TRUE(Same(MustGet(agent_a_, run.id()), expected));
  EXPECT_TRUE(Same(MustGet(agent_a_, 0), ServerDefault())) << "the business default is untouched";

  pb::CreateRunRequest bad = Request("r2", 1);
  bad.mutable_policy()->add_restricted_dates("25/12/2026");
  pb::CreateRunResponse response;
  const grpc::Status status = stub().CreateRun(CallContext(owner_a_).get(), bad, &response);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "policy.restricted_dates[0] \"25/12/2026\" is not a date of the form YYYY-MM-DD");
}

TEST_F(PolicyTest, AnotherBusinesssRunIsNotFoundAndItsDefaultIsItsOwn) {
  const pb::OutboundCallRun run = MustCreate(owner_a_, Request("r1", 1));
  pb::DialingPolicy values;
  values.set_max_attempts(4);
  MustUpdate(owner_a_, 0, values, {"max_attempts"});

  pb::DialingPolicy out;
  grpc::Status status = Get(owner_b_, run.id(), &out);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), absl::StrCat("run ", run.id(), " not found"));
  status = Update(owner_b_, run.id(), values, {"max_attempts"}, &out);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), absl::StrCat("run ", run.id(), " not found"));
  // B's default is the server's, not A's.
  EXPECT_TRUE(Same(MustGet(owner_b_, 0), ServerDefault()));
  EXPECT_EQ(MustGet(owner_a_, run.id()).max_attempts(), 4) << "A's run is unchanged";
}

TEST_F(PolicyTest, AgentsReadButCannotUpdate) {
  pb::DialingPolicy values;
  values.set_max_attempts(4);
  pb::DialingPolicy out;
  const grpc::Status status = Update(agent_a_, 0, values, {"max_attempts"}, &out);
  EXPECT_EQ(status.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "change dialing policies"))
      << status.error_message();
  EXPECT_TRUE(Same(MustGet(agent_a_, 0), ServerDefault()));
}

TEST_F(PolicyTest, BadMasksAndEndedRunsAreRefused) {
  pb::DialingPolicy values;
  values.set_max_attempts(4);
  pb::DialingPolicy out;
  grpc::Status status = Update(owner_a_, 0, values, {"max_attempts", "maxAttempts"}, &out);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(status.error_message(),
                               "update_mask.paths[1] \"maxAttempts\" is not a DialingPolicy field"))
      << status.error_message();

  const pb::OutboundCallRun run = MustCreate(owner_a_, Request("r1", 1));
  pb::StopRunRequest stop;
  stop.set_run_id(run.id());
  pb::StopRunResponse stopped;
  ASSERT_TRUE(stub().StopRun(CallContext(owner_a_).get(), stop, &stopped).ok());
  status = Update(owner_a_, run.id(), values, {"max_attempts"}, &out);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "it is stopped")) << status.error_message();
  EXPECT_TRUE(Get(owner_a_, run.id(), &out).ok()) << "an ended run's policy can still be read";
}

TEST_F(PolicyTest, ScheduleCallerIdsAndLeadZonesShowOnTheRunAndItsJobs) {
  pb::CreateRunRequest request = Request("r1", 2);
  request.mutable_leads(0)->set_time_zone("Asia/Tokyo");
  request.add_caller_ids("+1 415 555 0100");
  request.set_local_presence(true);
  const int64_t start = absl::ToUnixSeconds(absl::Now()) + 3600;
  request.mutable_start_at()->set_seconds(start);
  request.mutable_end_at()->set_seconds(start + 7200);
  const pb::OutboundCallRun run = MustCreate(owner_a_, request);
  EXPECT_EQ(std::vector<std::string>(run.caller_ids().begin(), run.caller_ids().end()),
            std::vector<std::string>{"+14155550100"});
  EXPECT_TRUE(run.local_presence());
  EXPECT_EQ(run.start_at().seconds(), start);
  EXPECT_EQ(run.end_at().seconds(), start + 7200);
  EXPECT_EQ(run.next_dial_at().seconds(), start);
  EXPECT_EQ(run.waiting_reason(), pb::WAIT_REASON_START_AT);
  EXPECT_EQ(run.status(), pb::RUN_STATUS_PENDING);

  pb::ListJobsRequest list;
  list.set_run_id(run.id());
  pb::ListJobsResponse jobs;
  ASSERT_TRUE(stub().ListJobs(CallContext(agent_a_).get(), list, &jobs).ok());
  ASSERT_EQ(jobs.jobs_size(), 2);
  EXPECT_EQ(jobs.jobs(0).time_zone(), "Asia/Tokyo");
  for (const pb::OutboundCallJob& job : jobs.jobs()) {
    EXPECT_EQ(job.caller_id(), "+14155550100");
    EXPECT_EQ(job.status(), pb::JOB_STATUS_QUEUED);
    EXPECT_FALSE(job.has_next_attempt_at()) << "due as soon as the run starts";
  }
  // A retry of the same request is the same run; a changed schedule is not.
  EXPECT_EQ(MustCreate(owner_a_, request).id(), run.id());
  request.mutable_end_at()->set_seconds(start + 7201);
  pb::CreateRunResponse response;
  EXPECT_EQ(stub().CreateRun(CallContext(owner_a_).get(), request, &response).error_code(),
            StatusCode::ALREADY_EXISTS);
  // Skipped is a status filter like the others.
  list.set_status(pb::JOB_STATUS_SKIPPED);
  ASSERT_TRUE(stub().ListJobs(CallContext(agent_a_).get(), list, &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), 0);
}

TEST_F(PolicyTest, BadLeadZonesCallerIdsAndSchedulesNameTheField) {
  struct Case {
    std::string what;
    std::function<void(pb::CreateRunRequest&)> change;
    std::string message_part;
  };
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const std::vector<Case> cases = {
      {"zone", [](pb::CreateRunRequest& r) { r.mutable_leads(1)->set_time_zone("Mars/Base"); },
       "leads[1].time_zone \"Mars/Base\" (lead_id 2) is not an IANA time zone"},
      {"caller id", [](pb::CreateRunRequest& r) { r.add_caller_ids("+1415"); },
       "caller_ids[0] \"+1415\""},
      {"end_at past", [&](pb::CreateRunRequest& r) { r.mutable_end_at()->set_seconds(now - 60); },
       "is not in the future"},
      {"end_at nanos", [&](pb::CreateRunRequest& r) { r.mutable_end_at()->set_nanos(-5); },
       "end_at is not a valid timestamp"},
  };
  for (const Case& c : cases) {
    pb::CreateRunRequest request = Request(absl::StrCat("bad-", c.what), 2);
    c.change(request);
    pb::CreateRunResponse response;
    const grpc::Status status = stub().CreateRun(CallContext(owner_a_).get(), request, &response);
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_TRUE(absl::StrContains(status.error_message(), c.message_part))
        << c.what << ": " << status.error_message();
  }
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_runs"), 0);
}

}  // namespace
}  // namespace campaign::testing
