// The do-not-call list and the attempt ledger through real stubs against an
// in-process server (no scheduler): AddDoNotCallNumbers normalises and
// counts only new numbers, RemoveDoNotCallNumbers counts removed ones,
// ListDoNotCallNumbers pages in phone order; ListAttempts pages a run's
// ledger rows (written here as the scheduler's claim writes them) by (job,
// attempt); roles, validation, and isolation: another business's key sees
// none of it.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
#include "tests/support/leads.h"
#include "tests/support/test_server.h"

namespace campaign::testing {
namespace {

namespace pb = ::outbound::v1;
using grpc::StatusCode;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A valid US number, distinct for i below 20,000 (exchanges 555 and 556 of
// area code 415).
std::string DncPhone(int i) {
  return absl::StrFormat("+1415%03d%04d", 555 + i / 10'000, i % 10'000);
}

// Two businesses: A (owner, admin, agent keys) and B (owner key), and a
// system admin key.
class LedgerTest : public ::testing::Test {
 protected:
  LedgerTest() : server_(db_) {
    business_a_ = db_.CreateBusiness("a");
    business_b_ = db_.CreateBusiness("b");
    owner_a_ = db_.CreateApiKey(business_a_, Role::kOwner).key;
    admin_a_ = db_.CreateApiKey(business_a_, Role::kAdmin).key;
    agent_a_ = db_.CreateApiKey(business_a_, Role::kAgent).key;
    owner_b_ = db_.CreateApiKey(business_b_, Role::kOwner).key;
    system_admin_ = db_.CreateApiKey(std::nullopt, Role::kSystemAdmin).key;
  }

  pb::CampaignService::Stub& stub() { return server_.stub(); }

  grpc::Status Add(const std::string& key, const std::vector<std::string>& phones,
                   int64_t* added = nullptr, const std::string& business = "") {
    pb::AddDoNotCallNumbersRequest request;
    for (const std::string& phone : phones) request.add_phones(phone);
    pb::AddDoNotCallNumbersResponse response;
    grpc::Status status =
        stub().AddDoNotCallNumbers(CallContext(key, business).get(), request, &response);
    if (added != nullptr) *added = response.added();
    return status;
  }

  grpc::Status Remove(const std::string& key, const std::vector<std::string>& phones,
                      int64_t* removed = nullptr) {
    pb::RemoveDoNotCallNumbersRequest request;
    for (const std::string& phone : phones) request.add_phones(phone);
    pb::RemoveDoNotCallNumbersResponse response;
    grpc::Status status = stub().RemoveDoNotCallNumbers(CallContext(key).get(), request, &response);
    if (removed != nullptr) *removed = response.removed();
    return status;
  }

  // Every number of the list of `key`'s business, paging by `page_size`;
  // `pages` counts the pages read.
  std::vector<std::string> ListAll(const std::string& key, int32_t page_size, int* pages = nullptr,
                                   const std::string& business = "") {
    std::vector<std::string> phones;
    pb::ListDoNotCallNumbersRequest request;
    request.set_page_size(page_size);
    int read = 0;
    do {
      pb::ListDoNotCallNumbersResponse response;
      const grpc::Status status =
          stub().ListDoNotCallNumbers(CallContext(key, business).get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      ++read;
      for (const pb::DoNotCallNumber& number : response.numbers()) {
        EXPECT_GT(number.created_at().seconds(), 0) << number.phone();
        phones.push_back(number.phone());
      }
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    if (pages != nullptr) *pages = read;
    return phones;
  }

  // A run of business A with `leads` leads, created paused (nothing dials).
  pb::OutboundCallRun CreateRun(const std::string& request_id, int leads) {
    pb::CreateRunRequest request;
    request.set_request_id(request_id);
    request.set_concurrency(2);
    request.set_start_paused(true);
    for (int i = 1; i <= leads; ++i) *request.add_leads() = MakeLead(i, PhoneOf(i));
    pb::CreateRunResponse response;
    const grpc::Status status = stub().CreateRun(CallContext(owner_a_).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.run();
  }

  std::vector<int64_t> JobIds(int64_t run_id) {
    pb::ListJobsRequest request;
    request.set_run_id(run_id);
    request.set_page_size(1000);
    pb::ListJobsResponse response;
    const grpc::Status status = stub().ListJobs(CallContext(owner_a_).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<int64_t> ids;
    for (const pb::OutboundCallJob& job : response.jobs()) ids.push_back(job.id());
    return ids;
  }

  // A ledger row as the scheduler's claim writes it (and, when `outcome` is
  // not empty, as a call's end completes it).
  void InsertAttempt(int64_t run_id, int64_t job_id, int attempt, const std::string& outcome) {
    db_.ExecAsAdmin(absl::StrCat(
        "INSERT INTO call_attempts (business_id, run_id, job_id, attempt, lead_id, phone, "
        "caller_id, dial_token, call_sid, started_at, answered_at, ended_at, outcome, "
        "answered_by, error) "
        "SELECT j.business_id, j.run_id, j.id, ",
        attempt, ", j.lead_id, j.phone, '+14155550100', 'tok-", job_id, "-", attempt, "', ",
        outcome.empty() ? "NULL" : absl::StrCat("'CA", job_id, "x", attempt, "'"),
        ", now() - interval '1 hour', ",
        outcome == "completed" ? "now() - interval '59 minutes'" : "NULL", ", ",
        outcome.empty() ? "NULL" : "now() - interval '58 minutes'", ", ",
        outcome.empty() ? "NULL" : absl::StrCat("'", outcome, "'"), ", ",
        outcome == "completed" ? "'human'" : "NULL", ", ",
        outcome == "failed" ? "'provider refused'" : "NULL",
        " FROM outbound_call_jobs j WHERE j.id = ", job_id, " AND j.run_id = ", run_id));
  }

  grpc::Status ListAttempts(const std::string& key, int64_t run_id, int64_t job_id,
                            int32_t page_size, const std::string& token,
                            pb::ListAttemptsResponse* response) {
    pb::ListAttemptsRequest request;
    request.set_run_id(run_id);
    request.set_job_id(job_id);
    request.set_page_size(page_size);
    request.set_page_token(token);
    return stub().ListAttempts(CallContext(key).get(), request, response);
  }

  // Every attempt of a run (or job) as "job/attempt", paging by `page_size`.
  std::vector<std::string> AllAttempts(const std::string& key, int64_t run_id, int64_t job_id,
                                       int32_t page_size) {
    std::vector<std::string> seen;
    std::string token;
    do {
      pb::ListAttemptsResponse response;
      const grpc::Status status = ListAttempts(key, run_id, job_id, page_size, token, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      EXPECT_LE(response.attempts_size(), page_size);
      for (const pb::CallAttempt& attempt : response.attempts()) {
        seen.push_back(absl::StrCat(attempt.job_id(), "/", attempt.attempt()));
      }
      token = response.next_page_token();
    } while (!token.empty());
    return seen;
  }

  TestDatabase db_;
  TestServer server_;
  int64_t business_a_ = 0;
  int64_t business_b_ = 0;
  std::string owner_a_;
  std::string admin_a_;
  std::string agent_a_;
  std::string owner_b_;
  std::string system_admin_;
};

// Numbers are stored in E.164 whatever format they came in; a number given
// twice, or already listed, is not counted again; remove counts only listed
// numbers; the list pages in phone order without gaps or repeats.
TEST_F(LedgerTest, DoNotCallAddRemoveListCountsAndNormalises) {
  int64_t added = -1;
  ASSERT_TRUE(Add(owner_a_, {"+1 (415) 555-2001", "+14155552002", "+14155552001"}, &added).ok());
  EXPECT_EQ(added, 2);
  ASSERT_TRUE(Add(admin_a_, {"+14155552002", "+442071838750", "+14155552003"}, &added).ok());
  EXPECT_EQ(added, 2) << "a number already on the list was counted";
  EXPECT_EQ(ListAll(owner_a_, 0), (std::vector<std::string>{"+14155552001", "+14155552002",
                                                            "+14155552003", "+442071838750"}));
  int pages = 0;
  EXPECT_EQ(ListAll(agent_a_, 1, &pages).size(), 4u) << "an agent key reads the list";
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(ListAll(owner_a_, 3, &pages).size(), 4u);
  EXPECT_EQ(pages, 2);

  int64_t removed = -1;
  ASSERT_TRUE(Remove(owner_a_, {"+1 415 555 2001", "+14155559999"}, &removed).ok());
  EXPECT_EQ(removed, 1);
  ASSERT_TRUE(Remove(owner_a_, {"+14155552001"}, &removed).ok());
  EXPECT_EQ(removed, 0);
  EXPECT_EQ(ListAll(owner_a_, 2),
            (std::vector<std::string>{"+14155552002", "+14155552003", "+442071838750"}));
}

// A thousand numbers in one request, read back over pages of 100 in order.
TEST_F(LedgerTest, DoNotCallPagesALargeListInPhoneOrder) {
  std::vector<std::string> phones;
  for (int i = 0; i < 1000; ++i) phones.push_back(DncPhone(999 - i));
  int64_t added = 0;
  ASSERT_TRUE(Add(owner_a_, phones, &added).ok());
  EXPECT_EQ(added, 1000);
  int pages = 0;
  const std::vector<std::string> listed = ListAll(owner_a_, 100, &pages);
  EXPECT_EQ(pages, 10);
  std::vector<std::string> expected = phones;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(listed, expected);
}

// Every error names phones[i] and the value; the limits are 1..10,000 per
// request; nothing of a refused request is written.
TEST_F(LedgerTest, DoNotCallValidation) {
  grpc::Status status = Add(owner_a_, {"+14155552001", "not a phone"});
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(status.error_message(), "phones[1]")) << status.error_message();
  EXPECT_TRUE(Contains(status.error_message(), "\"not a phone\"")) << status.error_message();
  status = Add(owner_a_, {});
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(status.error_message(), "phones")) << status.error_message();
  std::vector<std::string> too_many;
  for (int i = 0; i < 10'001; ++i) too_many.push_back(DncPhone(i));
  status = Add(owner_a_, too_many);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(status.error_message(), "10000")) << status.error_message();
  too_many.pop_back();
  int64_t added = 0;
  ASSERT_TRUE(Add(owner_a_, too_many, &added).ok());
  EXPECT_EQ(added, 10'000);
  status = Remove(owner_a_, {"+1415"});
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(status.error_message(), "phones[0]")) << status.error_message();
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM do_not_call"), 10'000);

  pb::ListDoNotCallNumbersRequest request;
  request.set_page_token("garbage");
  pb::ListDoNotCallNumbersResponse response;
  EXPECT_EQ(
      stub().ListDoNotCallNumbers(CallContext(owner_a_).get(), request, &response).error_code(),
      StatusCode::INVALID_ARGUMENT);
}

// Writes need an owner or admin key, or a system admin naming the business;
// another business's key sees none of the list and its writes land in its
// own list only; a page token of one business is refused for another.
TEST_F(LedgerTest, DoNotCallRolesAndIsolation) {
  ASSERT_TRUE(Add(owner_a_, {"+14155552001", "+14155552002"}).ok());
  EXPECT_EQ(Add(agent_a_, {"+14155552003"}).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Remove(agent_a_, {"+14155552001"}).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Add(system_admin_, {"+14155552003"}).error_code(), StatusCode::INVALID_ARGUMENT)
      << "a system admin must name the business";
  int64_t added = 0;
  ASSERT_TRUE(Add(system_admin_, {"+14155552003"}, &added, absl::StrCat(business_a_)).ok());
  EXPECT_EQ(added, 1);
  EXPECT_EQ(Add(owner_b_, {"+14155552009"}, nullptr, absl::StrCat(business_a_)).error_code(),
            StatusCode::PERMISSION_DENIED);

  EXPECT_TRUE(ListAll(owner_b_, 0).empty()) << "business B sees A's list";
  int64_t removed = -1;
  ASSERT_TRUE(Remove(owner_b_, {"+14155552001"}, &removed).ok());
  EXPECT_EQ(removed, 0) << "business B removed a number of A's list";
  ASSERT_TRUE(Add(owner_b_, {"+14155552001"}, &added).ok());
  EXPECT_EQ(added, 1) << "B's list is its own";
  EXPECT_EQ(ListAll(owner_a_, 0).size(), 3u);
  EXPECT_EQ(ListAll(owner_b_, 0), std::vector<std::string>{"+14155552001"});
  EXPECT_EQ(ListAll(system_admin_, 0, nullptr, absl::StrCat(business_b_)),
            std::vector<std::string>{"+14155552001"});

  pb::ListDoNotCallNumbersRequest request;
  request.set_page_size(1);
  pb::ListDoNotCallNumbersResponse first;
  ASSERT_TRUE(stub().ListDoNotCallNumbers(CallContext(owner_a_).get(), request, &first).ok());
  ASSERT_FALSE(first.next_page_token().empty());
  request.set_page_token(first.next_page_token());
  pb::ListDoNotCallNumbersResponse other;
  EXPECT_EQ(stub().ListDoNotCallNumbers(CallContext(owner_b_).get(), request, &other).error_code(),
            StatusCode::INVALID_ARGUMENT);
}

// ListAttempts returns the ledger rows of a run in (job, attempt) order,
// every field mapped, paged without gaps or repeats, for one job when asked.
TEST_F(LedgerTest, ListAttemptsPagesTheLedgerInJobAttemptOrder) {
  const pb::OutboundCallRun run = CreateRun("ledger", 3);
  const std::vector<int64_t> jobs = JobIds(run.id());
  ASSERT_EQ(jobs.size(), 3u);
  InsertAttempt(run.id(), jobs[2], 1, "busy");
  InsertAttempt(run.id(), jobs[0], 2, "completed");
  InsertAttempt(run.id(), jobs[0], 1, "no_answer");
  InsertAttempt(run.id(), jobs[2], 2, "failed");
  InsertAttempt(run.id(), jobs[2], 3, "");
  const std::vector<std::string> expected = {
      absl::StrCat(jobs[0], "/1"), absl::StrCat(jobs[0], "/2"), absl::StrCat(jobs[2], "/1"),
      absl::StrCat(jobs[2], "/2"), absl::StrCat(jobs[2], "/3")};
  for (int32_t page_size : {1, 2, 5, 1000}) {
    EXPECT_EQ(AllAttempts(agent_a_, run.id(), 0, page_size), expected) << page_size;
  }
  EXPECT_EQ(AllAttempts(owner_a_, run.id(), jobs[2], 2),
            (std::vector<std::string>{absl::StrCat(jobs[2], "/1"), absl::StrCat(jobs[2], "/2"),
                                      absl::StrCat(jobs[2], "/3")}));
  EXPECT_TRUE(AllAttempts(owner_a_, run.id(), jobs[1], 10).empty());

  pb::ListAttemptsResponse response;
  ASSERT_TRUE(ListAttempts(owner_a_, run.id(), jobs[0], 0, "", &response).ok());
  ASSERT_EQ(response.attempts_size(), 2);
  const pb::CallAttempt& answered = response.attempts(1);
  EXPECT_EQ(answered.run_id(), run.id());
  EXPECT_EQ(answered.job_id(), jobs[0]);
  EXPECT_EQ(answered.lead_id(), 1);
  EXPECT_EQ(answered.attempt(), 2);
  EXPECT_EQ(answered.phone(), PhoneOf(1));
  EXPECT_EQ(answered.caller_id(), "+14155550100");
  EXPECT_EQ(answered.dial_token(), absl::StrCat("tok-", jobs[0], "-2"));
  EXPECT_EQ(answered.call_sid(), absl::StrCat("CA", jobs[0], "x2"));
  EXPECT_EQ(answered.outcome(), pb::JOB_STATUS_COMPLETED);
  EXPECT_EQ(answered.answered_by(), "human");
  EXPECT_TRUE(answered.has_answered_at());
  EXPECT_TRUE(answered.has_ended_at());
  EXPECT_LT(answered.started_at().seconds(), answered.answered_at().seconds());
  EXPECT_EQ(response.attempts(0).outcome(), pb::JOB_STATUS_NO_ANSWER);
  EXPECT_FALSE(response.attempts(0).has_answered_at());

  ASSERT_TRUE(ListAttempts(owner_a_, run.id(), jobs[2], 0, "", &response).ok());
  ASSERT_EQ(response.attempts_size(), 3);
  EXPECT_EQ(response.attempts(1).error(), "provider refused");
  EXPECT_EQ(response.attempts(2).outcome(), pb::JOB_STATUS_UNSPECIFIED) << "in progress";
  EXPECT_FALSE(response.attempts(2).has_ended_at());
  EXPECT_TRUE(response.attempts(2).call_sid().empty());

  // A token binds its run and job.
  ASSERT_TRUE(ListAttempts(owner_a_, run.id(), 0, 1, "", &response).ok());
  ASSERT_FALSE(response.next_page_token().empty());
  const std::string token = response.next_page_token();
  EXPECT_EQ(ListAttempts(owner_a_, run.id(), jobs[2], 1, token, &response).error_code(),
            StatusCode::INVALID_ARGUMENT);
}

// A run of another business (or none) is NOT_FOUND, exactly like GetRun; a
// job that is not the run's is NOT_FOUND; bad ids are INVALID_ARGUMENT.
TEST_F(LedgerTest, ListAttemptsIsolationAndValidation) {
  const pb::OutboundCallRun run = CreateRun("isolated", 2);
  const std::vector<int64_t> jobs = JobIds(run.id());
  InsertAttempt(run.id(), jobs[0], 1, "completed");
  const pb::OutboundCallRun other = CreateRun("other", 1);
  const std::vector<int64_t> other_jobs = JobIds(other.id());

  pb::ListAttemptsResponse response;
  grpc::Status status = ListAttempts(owner_b_, run.id(), 0, 0, "", &response);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  pb::GetRunRequest get;
  get.set_run_id(run.id());
  pb::OutboundCallRun got;
  const grpc::Status get_status = stub().GetRun(CallContext(owner_b_).get(), get, &got);
  EXPECT_EQ(status.error_code(), get_status.error_code());
  EXPECT_EQ(status.error_message(), get_status.error_message());
  EXPECT_EQ(ListAttempts(owner_b_, run.id(), jobs[0], 0, "", &response).error_code(),
            StatusCode::NOT_FOUND);
  EXPECT_EQ(ListAttempts(owner_a_, 987654321, 0, 0, "", &response).error_code(),
            StatusCode::NOT_FOUND);
  status = ListAttempts(owner_a_, run.id(), other_jobs[0], 0, "", &response);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_TRUE(Contains(status.error_message(), absl::StrCat("job ", other_jobs[0])))
      << status.error_message();
  EXPECT_EQ(ListAttempts(owner_a_, 0, 0, 0, "", &response).error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ListAttempts(owner_a_, run.id(), -1, 0, "", &response).error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ListAttempts(owner_a_, run.id(), 0, -1, "", &response).error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ListAttempts(owner_a_, run.id(), 0, 0, "garbage", &response).error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ListAttempts(system_admin_, run.id(), 0, 0, "", &response).error_code(),
            StatusCode::INVALID_ARGUMENT)
      << "a system admin must name the business";
}

}  // namespace
}  // namespace campaign::testing
