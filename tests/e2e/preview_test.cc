// PreviewRun through real stubs against an in-process server (whose
// scheduler dials with the simulated dialer): a proposed run decided at a
// chosen instant (windows in several zones, do-not-call, invalid numbers, one
// lead explained), and an existing run whose preview the scheduler then
// follows exactly: the leads previewed callable are the leads dialed, those
// previewed waiting wait until the time the preview gave, and the suppressed
// ones are skipped.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
#include "server/app/server.h"
#include "tests/support/leads.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace campaign::testing {
namespace {

namespace pb = ::outbound::v1;

// A business with an owner key and an agent key, and a second business; the
// server dials (simulated) with calls allowed all day by default.
class PreviewTest : public ::testing::Test {
 protected:
  PreviewTest() : server_(db_, [] {
    app::ServerConfig config;
    config.scheduler_enabled = true;
    config.scheduler.poll_interval = absl::Milliseconds(20);
    config.simulated_dialer.call_duration = absl::Milliseconds(20);
    return config;
  }()) {
    business_ = db_.CreateBusiness("preview");
    owner_ = db_.CreateApiKey(business_, Role::kOwner).key;
    agent_ = db_.CreateApiKey(business_, Role::kAgent).key;
    other_ = db_.CreateApiKey(db_.CreateBusiness("other"), Role::kOwner).key;
  }

  pb::CampaignService::Stub& stub() { return server_.stub(); }

  grpc::Status Preview(const std::string& key, const pb::PreviewRunRequest& request,
                       pb::PreviewRunResponse* response) {
    return stub().PreviewRun(CallContext(key).get(), request, response);
  }

  pb::PreviewRunResponse MustPreview(const std::string& key,
                                     const pb::PreviewRunRequest& request) {
    pb::PreviewRunResponse response;
    const grpc::Status status = Preview(key, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  void SetBusinessPolicy(const pb::DialingPolicy& policy, const std::vector<std::string>& paths) {
    pb::UpdateDialingPolicyRequest request;
    *request.mutable_policy() = policy;
    for (const std::string& path : paths) request.mutable_update_mask()->add_paths(path);
    pb::DialingPolicy out;
    const grpc::Status status = stub().UpdateDialingPolicy(CallContext(owner_).get(), request, &out);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  void AddDoNotCall(const std::vector<std::string>& phones) {
    pb::AddDoNotCallNumbersRequest request;
    for (const std::string& phone : phones) request.add_phones(phone);
    pb::AddDoNotCallNumbersResponse response;
    const grpc::Status status =
        stub().AddDoNotCallNumbers(CallContext(owner_).get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  static pb::Lead LeadIn(int64_t id, const std::string& phone, const std::string& zone = "") {
    pb::Lead lead = MakeLead(id, phone);
    lead.set_time_zone(zone);
    return lead;
  }

  static google::protobuf::Timestamp Timestamp(absl::Time time) {
    google::protobuf::Timestamp out;
    out.set_seconds(absl::ToUnixSeconds(time));
    return out;
  }

  static absl::Time TimeOf(const google::protobuf::Timestamp& time) {
    return absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
  }

  static std::map<pb::WaitReason, pb::DeferredLeads> Deferred(
      const pb::PreviewRunResponse& response) {
    std::map<pb::WaitReason, pb::DeferredLeads> deferred;
    for (const pb::DeferredLeads& entry : response.deferred()) deferred[entry.reason()] = entry;
    return deferred;
  }

  TestDatabase db_;
  TestServer server_;
  int64_t business_ = 0;
  std::string owner_, agent_, other_;
};

// Monday 2026-12-07 12:00 UTC: 07:00 in New York and 04:00 in Los Angeles
// (before a 08:00-21:00 window), 12:00 in London and 13:00 in Paris (inside).
TEST_F(PreviewTest, ProposedRunIsDecidedPerLeadAtTheGivenInstant) {
  pb::DialingPolicy policy;
  for (int day = 1; day <= 7; ++day) {
    pb::DailyWindow* window = policy.add_calling_windows();
    window->set_day_of_week(static_cast<pb::DayOfWeek>(day));
    window->set_start_minute(8 * 60);
    window->set_end_minute(21 * 60);
  }
  SetBusinessPolicy(policy, {"calling_windows"});
  AddDoNotCall({"+442071838751"});

  const absl::Time at = absl::FromCivil(absl::CivilMinute(2026, 12, 7, 12, 0), absl::UTCTimeZone());
  pb::PreviewRunRequest request;
  *request.mutable_at() = Timestamp(at);
  request.set_lead_id(1);
  pb::CreateRunRequest& create = *request.mutable_create_request();
  create.set_concurrency(5);
  *create.add_leads() = LeadIn(1, "+12125550101");                   // New York
  *create.add_leads() = LeadIn(2, "+13125550102", "America/New_York");  // zone given
  *create.add_leads() = LeadIn(3, "+14155550103");                   // Los Angeles
  *create.add_leads() = LeadIn(4, "+442071838750");                  // London
  *create.add_leads() = LeadIn(5, "+33142685300");                   // Paris
  *create.add_leads() = LeadIn(6, "+442071838751");                  // London, do-not-call
  *create.add_leads() = LeadIn(7, "555");                            // not a number
  *create.add_leads() = LeadIn(4, "+12125550199");                   // lead_id repeated

  const pb::PreviewRunResponse preview = MustPreview(agent_, request);
  EXPECT_EQ(preview.total(), 7);
  EXPECT_EQ(preview.callable_now(), 2);
  EXPECT_EQ(preview.suppressed(), 1);
  EXPECT_EQ(preview.invalid(), 1);
  EXPECT_EQ(preview.skipped(), 0);
  const auto deferred = Deferred(preview);
  ASSERT_EQ(deferred.size(), 1u) << preview.DebugString();
  const pb::DeferredLeads& window = deferred.at(pb::WAIT_REASON_CALLING_WINDOW);
  EXPECT_EQ(window.count(), 3);
  // New York opens first: 08:00 EST is 13:00 UTC.
  EXPECT_EQ(TimeOf(window.earliest()), at + absl::Hours(1));
  EXPECT_EQ(TimeOf(preview.at()), at);
  EXPECT_EQ(preview.policy().calling_windows(0).start_minute(), 8 * 60);

  const pb::LeadDecision& lead = preview.lead_decision();
  EXPECT_EQ(lead.lead_id(), 1);
  EXPECT_EQ(lead.phone(), "+12125550101");
  EXPECT_EQ(lead.time_zone(), "America/New_York");
  EXPECT_EQ(lead.action(), pb::LeadDecision::ACTION_DEFER);
  EXPECT_EQ(lead.waiting_reason(), pb::WAIT_REASON_CALLING_WINDOW);
  EXPECT_EQ(TimeOf(lead.next_dial_at()), at + absl::Hours(1));
  EXPECT_TRUE(absl::StrContains(lead.rule(), "America/New_York")) << lead.rule();

  // The other decisions, one lead at a time.
  const std::map<int64_t, pb::LeadDecision::Action> want = {
      {3, pb::LeadDecision::ACTION_DEFER},  {4, pb::LeadDecision::ACTION_DIAL_NOW},
      {5, pb::LeadDecision::ACTION_DIAL_NOW}, {6, pb::LeadDecision::ACTION_SKIP},
      {7, pb::LeadDecision::ACTION_INVALID}};
  for (const auto& [lead_id, action] : want) {
    request.set_lead_id(lead_id);
    const pb::PreviewRunResponse one = MustPreview(agent_, request);
    EXPECT_EQ(one.lead_decision().action(), action) << "lead " << lead_id << ": "
                                                    << one.lead_decision().DebugString();
    if (lead_id == 6) {
      EXPECT_EQ(one.lead_decision().skip_reason(), pb::SKIP_REASON_DO_NOT_CALL);
    }
  }
  // A lead that is not in the request.
  request.set_lead_id(99);
  pb::PreviewRunResponse response;
  EXPECT_EQ(Preview(agent_, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  // Nothing was written.
  pb::ListRunsRequest list;
  pb::ListRunsResponse runs;
  ASSERT_TRUE(stub().ListRuns(CallContext(owner_).get(), list, &runs).ok());
  EXPECT_EQ(runs.runs_size(), 0);
}

TEST_F(PreviewTest, BadRequestsAreRefusedPrecisely) {
  pb::PreviewRunRequest request;
  pb::PreviewRunResponse response;
  grpc::Status status = Preview(agent_, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "run_id")) << status.error_message();

  pb::CreateRunRequest& create = *request.mutable_create_request();
  create.set_concurrency(1);
  *create.add_leads() = LeadIn(1, "+12125550101");
  create.mutable_policy()->set_max_attempts(99);
  status = Preview(agent_, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "create_request.policy.max_attempts"))
      << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "99")) << status.error_message();
}

TEST_F(PreviewTest, AnotherBusinesssRunIsNotFound) {
  pb::CreateRunRequest create;
  create.set_request_id("mine");
  create.set_concurrency(1);
  create.set_start_paused(true);
  *create.add_leads() = LeadIn(1, "+12125550101");
  pb::CreateRunResponse created;
  ASSERT_TRUE(stub().CreateRun(CallContext(owner_).get(), create, &created).ok());

  pb::PreviewRunRequest request;
  request.set_run_id(created.run().id());
  pb::PreviewRunResponse response;
  EXPECT_EQ(Preview(other_, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  request.set_run_id(created.run().id() + 1000);
  EXPECT_EQ(Preview(owner_, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

// The scheduler does what the preview said. Windows are open all day; the
// business restricts two local dates in Pacific/Kiritimati (UTC+14): today
// there, and tomorrow (so that the test may cross its midnight). Leads there
// wait until the day after tomorrow, local midnight; leads in
// Pacific/Pago_Pago (UTC-11), whose local date is always one or two days
// behind Kiritimati's, are callable now; four numbers are on the do-not-call
// list (one of them in Kiritimati: skipped at once, like the preview says,
// not left waiting for the window). The run is previewed while paused, then
// resumed.
TEST_F(PreviewTest, TheSchedulerFollowsThePreviewOfARun) {
  const absl::TimeZone kiritimati = [] {
    absl::TimeZone zone;
    EXPECT_TRUE(absl::LoadTimeZone("Pacific/Kiritimati", &zone));
    return zone;
  }();
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), kiritimati);
  pb::DialingPolicy policy;
  policy.add_restricted_dates(absl::FormatCivilTime(today));
  policy.add_restricted_dates(absl::FormatCivilTime(today + 1));
  SetBusinessPolicy(policy, {"restricted_dates"});
  const absl::Time opens = absl::FromCivil(absl::CivilSecond(today + 2), kiritimati);

  constexpr int kLeads = 40;
  pb::CreateRunRequest create;
  create.set_request_id("follow");
  create.set_concurrency(5);
  create.set_start_paused(true);
  std::set<int64_t> waiting, callable, suppressed;
  std::vector<std::string> do_not_call;
  for (int i = 1; i <= kLeads; ++i) {
    const bool far_east = i % 3 == 0;
    const std::string phone = absl::StrFormat("+1415555%04d", 1000 + i);
    *create.add_leads() =
        LeadIn(i, phone, far_east ? "Pacific/Kiritimati" : "Pacific/Pago_Pago");
    if (i % 10 == 1) {
      do_not_call.push_back(phone);
      suppressed.insert(i);
    } else {
      (far_east ? waiting : callable).insert(i);
    }
  }
  AddDoNotCall(do_not_call);
  pb::CreateRunResponse created;
  ASSERT_TRUE(stub().CreateRun(CallContext(owner_).get(), create, &created).ok());
  const int64_t run_id = created.run().id();

  pb::PreviewRunRequest request;
  request.set_run_id(run_id);
  request.set_lead_id(3);
  const pb::PreviewRunResponse preview = MustPreview(agent_, request);
  EXPECT_EQ(preview.total(), kLeads);
  EXPECT_EQ(preview.callable_now(), static_cast<int64_t>(callable.size()));
  EXPECT_EQ(preview.suppressed(), static_cast<int64_t>(suppressed.size()));
  const auto deferred = Deferred(preview);
  ASSERT_EQ(deferred.size(), 1u) << preview.DebugString();
  EXPECT_EQ(deferred.at(pb::WAIT_REASON_CALLING_WINDOW).count(),
            static_cast<int64_t>(waiting.size()));
  EXPECT_EQ(TimeOf(deferred.at(pb::WAIT_REASON_CALLING_WINDOW).earliest()), opens);
  EXPECT_EQ(preview.lead_decision().action(), pb::LeadDecision::ACTION_DEFER);
  EXPECT_EQ(TimeOf(preview.lead_decision().next_dial_at()), opens);

  pb::ResumeRunRequest resume;
  resume.set_run_id(run_id);
  pb::OutboundCallRun run;
  ASSERT_TRUE(stub().ResumeRun(CallContext(owner_).get(), resume, &run).ok());

  // Every callable lead finishes its call; the rest never leave the queue.
  pb::ListJobsResponse jobs;
  ASSERT_TRUE(WaitUntil([&] {
    pb::GetRunRequest get;
    get.set_run_id(run_id);
    if (!stub().GetRun(CallContext(owner_).get(), get, &run).ok()) return false;
    return run.in_progress_count() == 0 &&
           run.completed_count() + run.failed_count() == static_cast<int64_t>(callable.size()) &&
           run.skipped_count() == static_cast<int64_t>(suppressed.size());
  })) << run.DebugString();
  EXPECT_EQ(run.status(), pb::RUN_STATUS_RUNNING);
  EXPECT_EQ(run.queued_count(), static_cast<int64_t>(waiting.size()));
  EXPECT_EQ(run.waiting_reason(), pb::WAIT_REASON_CALLING_WINDOW) << run.DebugString();
  EXPECT_EQ(TimeOf(run.next_dial_at()), opens);

  pb::ListJobsRequest list;
  list.set_run_id(run_id);
  list.set_page_size(1000);
  ASSERT_TRUE(stub().ListJobs(CallContext(owner_).get(), list, &jobs).ok());
  ASSERT_EQ(jobs.jobs_size(), kLeads);
  for (const pb::OutboundCallJob& job : jobs.jobs()) {
    if (callable.count(job.lead_id())) {
      EXPECT_EQ(job.attempts(), 1) << job.DebugString();
      EXPECT_NE(job.status(), pb::JOB_STATUS_QUEUED) << job.DebugString();
    } else if (suppressed.count(job.lead_id())) {
      EXPECT_EQ(job.status(), pb::JOB_STATUS_SKIPPED) << job.DebugString();
      EXPECT_EQ(job.skip_reason(), pb::SKIP_REASON_DO_NOT_CALL) << job.DebugString();
      EXPECT_EQ(job.attempts(), 0) << job.DebugString();
    } else {
      EXPECT_EQ(job.status(), pb::JOB_STATUS_QUEUED) << job.DebugString();
      EXPECT_EQ(job.attempts(), 0) << job.DebugString();
      EXPECT_EQ(job.waiting_reason(), pb::WAIT_REASON_CALLING_WINDOW) << job.DebugString();
      EXPECT_EQ(TimeOf(job.next_attempt_at()), opens) << job.DebugString();
    }
  }
  // The preview of the run now: the waiting leads still wait until the same
  // time, nothing else is left to decide.
  const pb::PreviewRunResponse after = MustPreview(agent_, request);
  EXPECT_EQ(after.total(), static_cast<int64_t>(waiting.size()));
  EXPECT_EQ(after.callable_now(), 0);
  EXPECT_EQ(Deferred(after).at(pb::WAIT_REASON_CALLING_WINDOW).count(),
            static_cast<int64_t>(waiting.size()));
}

}  // namespace
}  // namespace campaign::testing
