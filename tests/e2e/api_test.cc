// The campaign API's behaviour through real stubs against an in-process
// server: creation and idempotency, adding leads, reading and paging, the run
// state machine, and the health and reflection services beside it.
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <latch>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
#include "tests/support/leads.h"
#include "tests/support/test_server.h"

namespace campaign::testing {
namespace {

namespace pb = ::outbound::v1;
using google::protobuf::UnknownFieldSet;
using google::protobuf::util::MessageDifferencer;
using grpc::StatusCode;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// One business with an owner key (user 7) and a server with default limits.
class ApiTest : public ::testing::Test {
 protected:
  ApiTest() : server_(db_) {
    business_ = db_.CreateBusiness("acme");
    key_ = db_.CreateApiKey(business_, Role::kOwner, 7).key;
  }

  pb::CampaignService::Stub& stub() { return server_.stub(); }
  std::unique_ptr<grpc::ClientContext> Context() { return CallContext(key_); }

  // A request with leads 1..count.
  static pb::CreateRunRequest Request(const std::string& request_id, int count) {
    pb::CreateRunRequest request;
    request.set_request_id(request_id);
    request.set_concurrency(3);
    for (int i = 1; i <= count; ++i) {
      *request.add_leads() = MakeLead(i, PhoneOf(i), absl::StrCat("n", i));
    }
    return request;
  }

  // Creates a run, asserting success; returns it.
  pb::OutboundCallRun Create(const pb::CreateRunRequest& request) {
    pb::CreateRunResponse response;
    const grpc::Status status = stub().CreateRun(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.run();
  }

  pb::OutboundCallRun Get(int64_t run_id) {
    pb::GetRunRequest request;
    request.set_run_id(run_id);
    pb::OutboundCallRun run;
    const grpc::Status status = stub().GetRun(Context().get(), request, &run);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return run;
  }

  // Every job of a run in one page.
  std::vector<pb::OutboundCallJob> Jobs(int64_t run_id) {
    pb::ListJobsRequest request;
    request.set_run_id(run_id);
    request.set_page_size(1000);
    pb::ListJobsResponse response;
    const grpc::Status status = stub().ListJobs(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(response.next_page_token().empty());
    return {response.jobs().begin(), response.jobs().end()};
  }

  int64_t Version(int64_t run_id) {
    return db_.QueryInt(absl::StrCat("SELECT version FROM outbound_call_runs WHERE id = ", run_id));
  }

  grpc::Status Pause(int64_t run_id, pb::OutboundCallRun* run) {
    pb::PauseRunRequest request;
    request.set_run_id(run_id);
    return stub().PauseRun(Context().get(), request, run);
  }
  grpc::Status Resume(int64_t run_id, pb::OutboundCallRun* run) {
    pb::ResumeRunRequest request;
    request.set_run_id(run_id);
    return stub().ResumeRun(Context().get(), request, run);
  }
  grpc::Status Cancel(int64_t run_id, pb::OutboundCallRun* run) {
    pb::CancelRunRequest request;
    request.set_run_id(run_id);
    return stub().CancelRun(Context().get(), request, run);
  }
  grpc::Status Stop(int64_t run_id, pb::StopRunResponse* response) {
    pb::StopRunRequest request;
    request.set_run_id(run_id);
    return stub().StopRun(Context().get(), request, response);
  }

  TestDatabase db_;
  TestServer server_;
  int64_t business_ = 0;
  std::string key_;
};

// CreateRun returns the new pending run with its counters; a lead_id repeated
// in the request is kept once with its first phone and name; phones are
// stored in E.164 and the project is recorded on every job.
TEST_F(ApiTest, CreateRunReturnsPendingRunAndKeepsTheFirstOfRepeatedLeads) {
  pb::CreateRunRequest request;
  request.set_request_id("create-1");
  request.set_concurrency(3);
  request.set_outbound_list_id(55);
  request.set_project_id(66);
  *request.add_leads() = MakeLead(1, "+14155550101", "Ann");
  *request.add_leads() = MakeLead(2, "+14155550102", "Bob");
  *request.add_leads() = MakeLead(1, "+14155550199", "Impostor");
  *request.add_leads() = MakeLead(3, "+1 (415) 555-0103");
  *request.add_leads() = MakeLead(2, "+14155550198", "Other Bob");

  pb::CreateRunResponse response;
  const grpc::Status status = stub().CreateRun(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const pb::OutboundCallRun& run = response.run();
  EXPECT_EQ(response.duplicate_leads_dropped(), 2);
  EXPECT_GT(run.id(), 0);
  EXPECT_EQ(run.business_id(), business_);
  EXPECT_EQ(run.request_id(), "create-1");
  EXPECT_EQ(run.created_by_user_id(), 7);
  EXPECT_EQ(run.outbound_list_id(), 55);
  EXPECT_EQ(run.concurrency(), 3);
  EXPECT_EQ(run.status(), pb::RUN_STATUS_PENDING);
  EXPECT_EQ(run.total_leads(), 3);
  EXPECT_EQ(run.queued_count(), 3);
  EXPECT_EQ(run.in_progress_count(), 0);
  EXPECT_EQ(run.completed_count(), 0);
  EXPECT_EQ(run.failed_count(), 0);
  EXPECT_EQ(run.cancelled_count(), 0);
  EXPECT_EQ(run.cursor_position(), 0);
  EXPECT_FALSE(run.cancel_requested());
  EXPECT_TRUE(run.locked_by_worker().empty());
  EXPECT_TRUE(run.has_created_at());
  EXPECT_TRUE(run.has_updated_at());
  EXPECT_FALSE(run.has_started_at());
  EXPECT_FALSE(run.has_ended_at());

  const std::vector<pb::OutboundCallJob> jobs = Jobs(run.id());
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].lead_id(), 1);
  EXPECT_EQ(jobs[0].phone(), "+14155550101");
  EXPECT_EQ(jobs[0].lead_name(), "Ann");
  EXPECT_EQ(jobs[1].lead_id(), 2);
  EXPECT_EQ(jobs[1].phone(), "+14155550102");
  EXPECT_EQ(jobs[1].lead_name(), "Bob");
  EXPECT_EQ(jobs[2].lead_id(), 3);
  EXPECT_EQ(jobs[2].phone(), "+14155550103");
  EXPECT_EQ(jobs[2].lead_name(), "");
  for (const pb::OutboundCallJob& job : jobs) {
    EXPECT_EQ(job.run_id(), run.id());
    EXPECT_EQ(job.business_id(), business_);
    EXPECT_EQ(job.project_id(), 66);
    EXPECT_EQ(job.status(), pb::JOB_STATUS_QUEUED);
    EXPECT_EQ(job.attempts(), 0);
  }
}

// A retry with the same request_id returns the run already made and writes
// nothing; the same request_id with another payload is ALREADY_EXISTS; the
// request_id belongs to the business, so another business may reuse it.
TEST_F(ApiTest, RequestIdMakesCreateRunIdempotent) {
  const pb::CreateRunRequest request = Request("idem-1", 4);
  const pb::OutboundCallRun first = Create(request);
  ASSERT_GT(first.id(), 0);
  const int64_t version = Version(first.id());

  pb::CreateRunResponse retry;
  ASSERT_TRUE(stub().CreateRun(Context().get(), request, &retry).ok());
  EXPECT_EQ(retry.run().id(), first.id());
  EXPECT_TRUE(MessageDifferencer::Equals(retry.run(), first)) << retry.run().ShortDebugString();
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_runs"), 1);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_jobs"), 4);

  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    pb::CreateRunRequest changed = request;
    if (variant == 0) changed.set_concurrency(4);
    if (variant == 1) changed.mutable_leads(2)->set_name("someone else");
    if (variant == 2) changed.set_start_paused(true);
    pb::CreateRunResponse response;
    const grpc::Status status = stub().CreateRun(Context().get(), changed, &response);
    EXPECT_EQ(status.error_code(), StatusCode::ALREADY_EXISTS) << status.error_message();
    EXPECT_TRUE(Contains(status.error_message(), "idem-1")) << status.error_message();
  }
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_runs"), 1);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_jobs"), 4);
  EXPECT_EQ(Version(first.id()), version);

  const int64_t other = db_.CreateBusiness("other");
  const std::string other_key = db_.CreateApiKey(other, Role::kOwner).key;
  pb::CreateRunResponse theirs;
  ASSERT_TRUE(stub().CreateRun(CallContext(other_key).get(), request, &theirs).ok());
  EXPECT_NE(theirs.run().id(), first.id());
  EXPECT_EQ(theirs.run().business_id(), other);
}

// 16 identical CreateRun calls racing from threads all succeed with one run:
// the database holds exactly one run for the request_id and its jobs once.
TEST_F(ApiTest, ConcurrentIdenticalCreateRunsMakeExactlyOneRun) {
  constexpr int kCallers = 16;
  constexpr int kLeads = 50;
  const pb::CreateRunRequest request = Request("concurrent-1", kLeads);
  std::latch start(kCallers);
  std::vector<grpc::Status> statuses(kCallers);
  std::vector<int64_t> run_ids(kCallers, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      std::unique_ptr<grpc::ClientContext> context = Context();
      pb::CreateRunResponse response;
      start.arrive_and_wait();
      statuses[i] = stub().CreateRun(context.get(), request, &response);
      run_ids[i] = response.run().id();
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int i = 0; i < kCallers; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
  }
  EXPECT_EQ(std::set<int64_t>(run_ids.begin(), run_ids.end()), std::set<int64_t>{run_ids[0]});
  EXPECT_EQ(
      db_.QueryInt("SELECT count(*) FROM outbound_call_runs WHERE request_id = 'concurrent-1'"), 1);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_runs"), 1);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ",
                                      run_ids[0])),
            kLeads);
  EXPECT_EQ(Get(run_ids[0]).total_leads(), kLeads);
}

// AddLeads appends new leads, skips those the run has and those repeated in
// the request (counting both), keeps the existing job as it was, and moves
// the counters in step; GetRun then shows the same run.
TEST_F(ApiTest, AddLeadsAppendsNewLeadsAndSkipsDuplicates) {
  pb::CreateRunRequest create = Request("add-1", 3);
  create.set_project_id(12);
  const pb::OutboundCallRun run = Create(create);

  pb::AddLeadsRequest request;
  request.set_run_id(run.id());
  *request.add_leads() = MakeLead(3, "+14155550177", "changed");
  *request.add_leads() = MakeLead(4, PhoneOf(4), "n4");
  *request.add_leads() = MakeLead(5, PhoneOf(5), "n5");
  *request.add_leads() = MakeLead(4, "+14155550178", "again");
  pb::AddLeadsResponse response;
  const grpc::Status status = stub().AddLeads(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.added(), 2);
  EXPECT_EQ(response.duplicates_skipped(), 2);
  EXPECT_EQ(response.run().id(), run.id());
  EXPECT_EQ(response.run().total_leads(), 5);
  EXPECT_EQ(response.run().queued_count(), 5);
  EXPECT_EQ(response.run().status(), pb::RUN_STATUS_PENDING);

  const std::vector<pb::OutboundCallJob> jobs = Jobs(run.id());
  ASSERT_EQ(jobs.size(), 5u);
  std::vector<int64_t> lead_ids;
  for (const pb::OutboundCallJob& job : jobs) {
    lead_ids.push_back(job.lead_id());
    EXPECT_EQ(job.project_id(), 12);
  }
  EXPECT_EQ(lead_ids, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(jobs[2].phone(), PhoneOf(3));
  EXPECT_EQ(jobs[2].lead_name(), "n3");
  EXPECT_EQ(jobs[3].phone(), PhoneOf(4));
  EXPECT_EQ(jobs[3].lead_name(), "n4");

  // Adding only known leads adds nothing and counts them all.
  pb::AddLeadsRequest again;
  again.set_run_id(run.id());
  *again.add_leads() = MakeLead(1, PhoneOf(1));
  *again.add_leads() = MakeLead(5, PhoneOf(5));
  pb::AddLeadsResponse none;
  ASSERT_TRUE(stub().AddLeads(Context().get(), again, &none).ok());
  EXPECT_EQ(none.added(), 0);
  EXPECT_EQ(none.duplicates_skipped(), 2);
  EXPECT_EQ(none.run().total_leads(), 5);

  EXPECT_TRUE(MessageDifferencer::Equals(Get(run.id()), none.run()));
  EXPECT_EQ(db_.QueryInt(
                absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ", run.id())),
            5);
}

// GetRun returns the run CreateRun returned; an id nobody has is NOT_FOUND.
TEST_F(ApiTest, GetRunReturnsTheRun) {
  const pb::OutboundCallRun created = Create(Request("get-1", 2));
  EXPECT_TRUE(MessageDifferencer::Equals(Get(created.id()), created));

  pb::GetRunRequest request;
  request.set_run_id(created.id() + 1000);
  pb::OutboundCallRun run;
  const grpc::Status status = stub().GetRun(Context().get(), request, &run);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_TRUE(Contains(status.error_message(), absl::StrCat(created.id() + 1000)))
      << status.error_message();
}

// ListRuns pages newest first with opaque tokens, without repeats or gaps;
// the status filter selects; a token only works with the filter it came from.
TEST_F(ApiTest, ListRunsPagesNewestFirstAndFilters) {
  std::vector<int64_t> created;
  for (int i = 0; i < 5; ++i) created.push_back(Create(Request(absl::StrCat("list-", i), 1)).id());
  const std::vector<int64_t> newest_first(created.rbegin(), created.rend());

  std::vector<int64_t> seen;
  std::vector<size_t> page_sizes;
  std::string token;
  std::string first_token;
  for (int page = 0; page < 10; ++page) {
    pb::ListRunsRequest request;
    request.set_page_size(2);
    request.set_page_token(token);
    pb::ListRunsResponse response;
    const grpc::Status status = stub().ListRuns(Context().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    page_sizes.push_back(response.runs_size());
    for (const pb::OutboundCallRun& run : response.runs()) seen.push_back(run.id());
    token = response.next_page_token();
    if (page == 0) first_token = token;
    if (token.empty()) break;
  }
  EXPECT_EQ(page_sizes, (std::vector<size_t>{2, 2, 1}));
  EXPECT_EQ(seen, newest_first);

  // page_size 0 means the default (50): everything on one page.
  {
    pb::ListRunsResponse response;
    ASSERT_TRUE(stub().ListRuns(Context().get(), pb::ListRunsRequest(), &response).ok());
    EXPECT_EQ(response.runs_size(), 5);
    EXPECT_TRUE(response.next_page_token().empty());
  }

  // Pause the 2nd and 4th run; the filter finds exactly those, newest first.
  pb::OutboundCallRun paused;
  ASSERT_TRUE(Pause(created[1], &paused).ok());
  ASSERT_TRUE(Pause(created[3], &paused).ok());
  std::vector<int64_t> filtered;
  std::string paused_token;
  token.clear();
  for (int page = 0; page < 10; ++page) {
    pb::ListRunsRequest request;
    request.set_page_size(1);
    request.set_page_token(token);
    request.set_status(pb::RUN_STATUS_PAUSED);
    pb::ListRunsResponse response;
    ASSERT_TRUE(stub().ListRuns(Context().get(), request, &response).ok());
    for (const pb::OutboundCallRun& run : response.runs()) {
      EXPECT_EQ(run.status(), pb::RUN_STATUS_PAUSED);
      filtered.push_back(run.id());
    }
    token = response.next_page_token();
    if (page == 0) paused_token = token;
    if (token.empty()) break;
  }
  EXPECT_EQ(filtered, (std::vector<int64_t>{created[3], created[1]}));

  // A token reused with another filter is refused.
  ASSERT_FALSE(first_token.empty());
  ASSERT_FALSE(paused_token.empty());
  for (const auto& [used_token, status_filter] : std::vector<std::pair<std::string, pb::RunStatus>>{
           {first_token, pb::RUN_STATUS_PENDING},
           {paused_token, pb::RUN_STATUS_UNSPECIFIED},
           {paused_token, pb::RUN_STATUS_PENDING}}) {
    pb::ListRunsRequest request;
    request.set_page_size(2);
    request.set_page_token(used_token);
    request.set_status(status_filter);
    pb::ListRunsResponse response;
    const grpc::Status status = stub().ListRuns(Context().get(), request, &response);
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_EQ(response.runs_size(), 0);
  }
}

// ListJobs pages in id order and filters on status; its tokens are bound to
// the run and the filter.
TEST_F(ApiTest, ListJobsPagesInIdOrderAndFilters) {
  const pb::OutboundCallRun run = Create(Request("jobs-1", 5));
  const pb::OutboundCallRun other = Create(Request("jobs-2", 5));

  std::vector<int64_t> job_ids;
  std::vector<int64_t> lead_ids;
  std::vector<size_t> page_sizes;
  std::string token;
  std::string first_token;
  for (int page = 0; page < 10; ++page) {
    pb::ListJobsRequest request;
    request.set_run_id(run.id());
    request.set_page_size(2);
    request.set_page_token(token);
    pb::ListJobsResponse response;
    const grpc::Status status = stub().ListJobs(Context().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    page_sizes.push_back(response.jobs_size());
    for (const pb::OutboundCallJob& job : response.jobs()) {
      EXPECT_EQ(job.run_id(), run.id());
      job_ids.push_back(job.id());
      lead_ids.push_back(job.lead_id());
    }
    token = response.next_page_token();
    if (page == 0) first_token = token;
    if (token.empty()) break;
  }
  EXPECT_EQ(page_sizes, (std::vector<size_t>{2, 2, 1}));
  EXPECT_TRUE(std::is_sorted(job_ids.begin(), job_ids.end()));
  EXPECT_EQ(std::set<int64_t>(job_ids.begin(), job_ids.end()).size(), 5u);
  EXPECT_EQ(lead_ids, (std::vector<int64_t>{1, 2, 3, 4, 5}));

  // Stands in for the scheduler (a later issue): two calls completed.
  db_.ExecAsAdmin(absl::StrCat("UPDATE outbound_call_jobs SET status = 'completed' WHERE id IN (",
                               job_ids[1], ", ", job_ids[3], ")"));
  auto filtered = [&](pb::JobStatus status_filter) {
    pb::ListJobsRequest request;
    request.set_run_id(run.id());
    request.set_status(status_filter);
    pb::ListJobsResponse response;
    const grpc::Status status = stub().ListJobs(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<int64_t> ids;
    for (const pb::OutboundCallJob& job : response.jobs()) {
      EXPECT_EQ(job.status(), status_filter);
      ids.push_back(job.id());
    }
    return ids;
  };
  EXPECT_EQ(filtered(pb::JOB_STATUS_COMPLETED), (std::vector<int64_t>{job_ids[1], job_ids[3]}));
  EXPECT_EQ(filtered(pb::JOB_STATUS_QUEUED),
            (std::vector<int64_t>{job_ids[0], job_ids[2], job_ids[4]}));
  EXPECT_TRUE(filtered(pb::JOB_STATUS_CANCELLED).empty());

  // The first page's token is bound to this run and to "any status".
  ASSERT_FALSE(first_token.empty());
  for (const auto& [run_id, status_filter] : std::vector<std::pair<int64_t, pb::JobStatus>>{
           {other.id(), pb::JOB_STATUS_UNSPECIFIED}, {run.id(), pb::JOB_STATUS_QUEUED}}) {
    pb::ListJobsRequest request;
    request.set_run_id(run_id);
    request.set_status(status_filter);
    request.set_page_token(first_token);
    pb::ListJobsResponse response;
    const grpc::Status status = stub().ListJobs(Context().get(), request, &response);
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << status.error_message();
  }
}

// StopRun cancels every queued job in the one transaction that stops the run
// (one version step); a second StopRun succeeds and changes nothing.
TEST_F(ApiTest, StopRunCancelsAllQueuedJobsAtOnce) {
  constexpr int kLeads = 250;
  const pb::OutboundCallRun run = Create(Request("stop-1", kLeads));
  const int64_t version = Version(run.id());

  pb::StopRunResponse stopped;
  const grpc::Status status = Stop(run.id(), &stopped);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(stopped.cancelled_jobs(), kLeads);
  EXPECT_EQ(stopped.run().status(), pb::RUN_STATUS_STOPPED);
  EXPECT_TRUE(stopped.run().cancel_requested());
  EXPECT_TRUE(stopped.run().has_ended_at());
  EXPECT_EQ(stopped.run().total_leads(), kLeads);
  EXPECT_EQ(stopped.run().queued_count(), 0);
  EXPECT_EQ(stopped.run().cancelled_count(), kLeads);
  EXPECT_EQ(stopped.run().failed_count(), 0);
  EXPECT_EQ(stopped.run().cursor_position(), kLeads);
  EXPECT_EQ(Version(run.id()), version + 1);

  const std::vector<pb::OutboundCallJob> jobs = Jobs(run.id());
  ASSERT_EQ(jobs.size(), static_cast<size_t>(kLeads));
  for (const pb::OutboundCallJob& job : jobs) {
    EXPECT_EQ(job.status(), pb::JOB_STATUS_CANCELLED) << job.id();
    EXPECT_FALSE(job.error_message().empty()) << job.id();
    EXPECT_TRUE(job.has_completed_at()) << job.id();
  }
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ",
                                      run.id(), " AND status <> 'cancelled'")),
            0);

  pb::StopRunResponse again;
  ASSERT_TRUE(Stop(run.id(), &again).ok());
  EXPECT_EQ(again.cancelled_jobs(), 0);
  EXPECT_TRUE(MessageDifferencer::Equals(again.run(), stopped.run()))
      << again.run().ShortDebugString();
  EXPECT_EQ(Version(run.id()), version + 1);
}

// Pause, resume and cancel follow the state machine: repeating a transition
// is a no-op success; an illegal one is FAILED_PRECONDITION naming the
// current status and changes nothing.
TEST_F(ApiTest, PauseResumeCancelFollowTheStateMachine) {
  const pb::OutboundCallRun run = Create(Request("flow-1", 3));
  pb::OutboundCallRun out;

  ASSERT_TRUE(Pause(run.id(), &out).ok());
  EXPECT_EQ(out.status(), pb::RUN_STATUS_PAUSED);
  int64_t version = Version(run.id());
  ASSERT_TRUE(Pause(run.id(), &out).ok());
  EXPECT_EQ(out.status(), pb::RUN_STATUS_PAUSED);
  EXPECT_EQ(Version(run.id()), version);

  // Never started by a worker: back to pending.
  ASSERT_TRUE(Resume(run.id(), &out).ok());
  EXPECT_EQ(out.status(), pb::RUN_STATUS_PENDING);
  version = Version(run.id());
  ASSERT_TRUE(Resume(run.id(), &out).ok());
  EXPECT_EQ(out.status(), pb::RUN_STATUS_PENDING);
  EXPECT_EQ(Version(run.id()), version);

  // No worker holds it: cancelled at once, queued jobs included.
  ASSERT_TRUE(Cancel(run.id(), &out).ok());
  EXPECT_EQ(out.status(), pb::RUN_STATUS_CANCELLED);
  EXPECT_TRUE(out.cancel_requested());
  EXPECT_TRUE(out.has_ended_at());
  EXPECT_EQ(out.cancelled_count(), 3);
  EXPECT_EQ(out.queued_count(), 0);
  for (const pb::OutboundCallJob& job : Jobs(run.id())) {
    EXPECT_EQ(job.status(), pb::JOB_STATUS_CANCELLED);
  }
  version = Version(run.id());
  ASSERT_TRUE(Cancel(run.id(), &out).ok());
  EXPECT_EQ(out.status(), pb::RUN_STATUS_CANCELLED);
  pb::StopRunResponse stop;
  ASSERT_TRUE(Stop(run.id(), &stop).ok());
  EXPECT_EQ(stop.cancelled_jobs(), 0);
  EXPECT_EQ(stop.run().status(), pb::RUN_STATUS_CANCELLED);
  EXPECT_EQ(Version(run.id()), version);

  grpc::Status status = Pause(run.id(), &out);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Contains(status.error_message(), "cancelled")) << status.error_message();
  status = Resume(run.id(), &out);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Contains(status.error_message(), "cancelled")) << status.error_message();
  EXPECT_EQ(Version(run.id()), version);
}

// A stopped run can be neither paused, resumed, cancelled nor extended: each
// is FAILED_PRECONDITION naming "stopped", and the run stays as it was.
TEST_F(ApiTest, IllegalTransitionsOfAStoppedRunNameItsStatus) {
  const pb::OutboundCallRun run = Create(Request("stopped-1", 2));
  pb::StopRunResponse stopped;
  ASSERT_TRUE(Stop(run.id(), &stopped).ok());
  const int64_t version = Version(run.id());

  pb::OutboundCallRun out;
  for (const auto& [name, status] :
       std::vector<std::pair<std::string, grpc::Status>>{{"pause", Pause(run.id(), &out)},
                                                         {"resume", Resume(run.id(), &out)},
                                                         {"cancel", Cancel(run.id(), &out)}}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
    EXPECT_TRUE(Contains(status.error_message(), "stopped")) << status.error_message();
  }
  pb::AddLeadsRequest add;
  add.set_run_id(run.id());
  *add.add_leads() = MakeLead(9, PhoneOf(9));
  pb::AddLeadsResponse added;
  const grpc::Status status = stub().AddLeads(Context().get(), add, &added);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Contains(status.error_message(), "stopped")) << status.error_message();

  EXPECT_EQ(Version(run.id()), version);
  EXPECT_TRUE(MessageDifferencer::Equals(Get(run.id()), stopped.run()));
  EXPECT_EQ(db_.QueryInt(
                absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ", run.id())),
            2);
}

// start_paused creates a paused run with queued jobs; leads can be added
// while paused; ResumeRun lets it start (pending again).
TEST_F(ApiTest, StartPausedCreatesAPausedRun) {
  pb::CreateRunRequest request = Request("paused-1", 2);
  request.set_start_paused(true);
  const pb::OutboundCallRun run = Create(request);
  EXPECT_EQ(run.status(), pb::RUN_STATUS_PAUSED);
  EXPECT_EQ(run.queued_count(), 2);

  pb::AddLeadsRequest add;
  add.set_run_id(run.id());
  *add.add_leads() = MakeLead(3, PhoneOf(3));
  pb::AddLeadsResponse added;
  ASSERT_TRUE(stub().AddLeads(Context().get(), add, &added).ok());
  EXPECT_EQ(added.run().status(), pb::RUN_STATUS_PAUSED);
  EXPECT_EQ(added.run().total_leads(), 3);

  pb::OutboundCallRun resumed;
  ASSERT_TRUE(Resume(run.id(), &resumed).ok());
  EXPECT_EQ(resumed.status(), pb::RUN_STATUS_PENDING);
  EXPECT_EQ(resumed.queued_count(), 3);
}

// The standard health service answers SERVING on the same channel, without
// an API key; an unknown service name is NOT_FOUND.
TEST_F(ApiTest, HealthServiceAnswersServing) {
  std::unique_ptr<grpc::health::v1::Health::Stub> health =
      grpc::health::v1::Health::NewStub(server_.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health->Check(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  grpc::ClientContext unknown_context;
  request.set_service("no.such.Service");
  EXPECT_EQ(health->Check(&unknown_context, request, &response).error_code(),
            StatusCode::NOT_FOUND);
}

// Speaks grpc.reflection.v1alpha over a generic stub (its generated stub is
// not installed by Debian): sends each encoded ServerReflectionRequest on one
// stream and returns the encoded responses.
std::vector<std::string> ReflectionExchange(const std::shared_ptr<grpc::Channel>& channel,
                                            const std::vector<std::string>& requests,
                                            grpc::Status* status) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
  // Waits for the operation tagged `tag`; returns whether it succeeded.
  auto await = [&queue](intptr_t tag) {
    void* got = nullptr;
    bool ok = false;
    if (!queue.Next(&got, &ok)) return false;
    EXPECT_EQ(reinterpret_cast<intptr_t>(got), tag);
    return ok;
  };
  std::vector<std::string> responses;
  call->StartCall(reinterpret_cast<void*>(1));
  if (await(1)) {
    for (const std::string& request : requests) {
      grpc::Slice slice(request);
      call->Write(grpc::ByteBuffer(&slice, 1), reinterpret_cast<void*>(2));
      if (!await(2)) break;
      grpc::ByteBuffer reply;
      call->Read(&reply, reinterpret_cast<void*>(3));
      if (!await(3)) break;
      std::vector<grpc::Slice> slices;
      EXPECT_TRUE(reply.Dump(&slices).ok());
      std::string bytes;
      for (const grpc::Slice& part : slices) {
        bytes.append(reinterpret_cast<const char*>(part.begin()), part.size());
      }
      responses.push_back(std::move(bytes));
    }
    call->WritesDone(reinterpret_cast<void*>(4));
    await(4);
  }
  call->Finish(status, reinterpret_cast<void*>(5));
  await(5);
  queue.Shutdown();
  void* ignored_tag;
  bool ignored_ok;
  while (queue.Next(&ignored_tag, &ignored_ok)) {
  }
  return responses;
}

// A ServerReflectionRequest with one string field of the message_request
// oneof set (7 = list_services, 4 = file_containing_symbol).
std::string ReflectionRequest(int field, const std::string& value) {
  UnknownFieldSet request;
  request.AddLengthDelimited(field, value);
  std::string bytes;
  request.SerializeToString(&bytes);
  return bytes;
}

// The length-delimited values of `field` in an encoded message.
std::vector<std::string> Fields(const std::string& message, int field) {
  UnknownFieldSet set;
  EXPECT_TRUE(set.ParseFromString(message));
  std::vector<std::string> values;
  for (int i = 0; i < set.field_count(); ++i) {
    if (set.field(i).number() == field &&
        set.field(i).type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      values.push_back(set.field(i).length_delimited());
    }
  }
  return values;
}

// Reflection (v1alpha) lists the campaign and health services and describes
// both, so a reflection client such as `buf curl` can call them.
TEST_F(ApiTest, ReflectionListsAndDescribesTheServices) {
  grpc::Status status;
  const std::vector<std::string> responses = ReflectionExchange(
      server_.channel(),
      {ReflectionRequest(7, "*"), ReflectionRequest(4, "outbound.v1.CampaignService"),
       ReflectionRequest(4, "grpc.health.v1.Health")},
      &status);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  ASSERT_EQ(responses.size(), 3u);

  // ServerReflectionResponse.list_services_response (6) → service (1) → name (1).
  std::set<std::string> services;
  for (const std::string& list : Fields(responses[0], 6)) {
    for (const std::string& service : Fields(list, 1)) {
      for (const std::string& name : Fields(service, 1)) services.insert(name);
    }
  }
  EXPECT_EQ(services.count("outbound.v1.CampaignService"), 1u) << services.size();
  EXPECT_EQ(services.count("grpc.health.v1.Health"), 1u) << services.size();

  // file_descriptor_response (4) → file_descriptor_proto (1): the file
  // defining the symbol is among them, with its methods.
  auto describe = [&](const std::string& response, const std::string& package,
                      const std::string& service) {
    EXPECT_TRUE(Fields(response, 7).empty()) << "reflection answered with an error";
    std::set<std::string> methods;
    for (const std::string& descriptors : Fields(response, 4)) {
      for (const std::string& file_bytes : Fields(descriptors, 1)) {
        google::protobuf::FileDescriptorProto file;
        EXPECT_TRUE(file.ParseFromString(file_bytes));
        if (file.package() != package) continue;
        for (const google::protobuf::ServiceDescriptorProto& described : file.service()) {
          if (described.name() != service) continue;
          for (const auto& method : described.method()) methods.insert(method.name());
        }
      }
    }
    return methods;
  };
  EXPECT_EQ(describe(responses[1], "outbound.v1", "CampaignService"),
            (std::set<std::string>{
                "CreateRun", "AddLeads", "GetRun", "ListRuns", "ListJobs", "StopRun", "CancelRun",
                "PauseRun", "ResumeRun", "WatchRun", "WatchRuns", "GetBusiness", "GetDialingPolicy",
                "UpdateDialingPolicy", "AddDoNotCallNumbers", "RemoveDoNotCallNumbers",
                "ListDoNotCallNumbers", "ListAttempts", "PreviewRun"}));
  EXPECT_EQ(describe(responses[2], "grpc.health.v1", "Health").count("Check"), 1u);
}

}  // namespace
}  // namespace campaign::testing
