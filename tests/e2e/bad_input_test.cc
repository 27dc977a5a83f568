// Bad input through real stubs: every class is INVALID_ARGUMENT with a
// message naming the field (for leads, the index and lead_id of the first
// offending lead) and writes nothing. Also: the largest request the default
// limits allow goes through.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
#include "tests/support/leads.h"
#include "tests/support/test_server.h"

namespace campaign::testing {
namespace {

namespace pb = ::outbound::v1;
using grpc::StatusCode;

// A valid CreateRun request: leads 1001..1005 at indexes 0..4.
pb::CreateRunRequest ValidRequest() {
  pb::CreateRunRequest request;
  request.set_request_id("bad-input");
  request.set_concurrency(5);
  for (int64_t id = 1001; id <= 1005; ++id) *request.add_leads() = MakeLead(id, PhoneOf(id), "x");
  return request;
}

// Everything a write could leave behind, in one comparable value.
struct Footprint {
  int64_t runs = 0;
  int64_t jobs = 0;
  int64_t versions = 0;
  int64_t unqueued_jobs = 0;
  bool operator==(const Footprint&) const = default;
};

// A server with default limits and an owner key.
class BadInputTest : public ::testing::Test {
 protected:
  BadInputTest() : server_(db_) {
    business_ = db_.CreateBusiness("acme");
    key_ = db_.CreateApiKey(business_, Role::kOwner, 1).key;
  }

  pb::CampaignService::Stub& stub() { return server_.stub(); }

  Footprint Take() const {
    return Footprint{
        db_.QueryInt("SELECT count(*) FROM outbound_call_runs"),
        db_.QueryInt("SELECT count(*) FROM outbound_call_jobs"),
        db_.QueryInt("SELECT coalesce(sum(version), 0) FROM outbound_call_runs"),
        db_.QueryInt("SELECT count(*) FROM outbound_call_jobs WHERE status <> 'queued'"),
    };
  }

  // Asserts `status` is INVALID_ARGUMENT and its message holds every part.
  static void ExpectInvalid(const grpc::Status& status, const std::vector<std::string>& parts) {
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << status.error_message();
    for (const std::string& part : parts) {
      EXPECT_NE(status.error_message().find(part), std::string::npos)
          << "message \"" << status.error_message() << "\" does not name \"" << part << "\"";
    }
  }

  // A run with leads 1001..1005 to address.
  int64_t CreateRun() {
    pb::CreateRunResponse response;
    const grpc::Status status =
        stub().CreateRun(CallContext(key_).get(), ValidRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.run().id();
  }

  TestDatabase db_;
  TestServer server_;
  int64_t business_ = 0;
  std::string key_;
};

// One bad CreateRun: how to spoil the valid request, and what the message
// must name.
struct CreateRunCase {
  std::string name;
  std::function<void(pb::CreateRunRequest&)> spoil;
  std::vector<std::string> named;
};

// Names the case in test listings instead of dumping its bytes.
void PrintTo(const CreateRunCase& c, std::ostream* out) { *out << c.name; }

const std::vector<CreateRunCase>& CreateRunCases() {
  static const auto* cases = new std::vector<CreateRunCase>{
      {"MissingRequestId", [](auto& r) { r.set_request_id(""); }, {"request_id"}},
      {"RequestIdTooLong",
       [](auto& r) { r.set_request_id(std::string(129, 'r')); },
       {"request_id", "128"}},
      {"ConcurrencyZero", [](auto& r) { r.set_concurrency(0); }, {"concurrency", "got 0"}},
      {"Concurrency101", [](auto& r) { r.set_concurrency(101); }, {"concurrency", "101", "100"}},
      {"ConcurrencyNegative", [](auto& r) { r.set_concurrency(-3); }, {"concurrency", "-3"}},
      {"EmptyLeads", [](auto& r) { r.clear_leads(); }, {"leads"}},
      {"LeadIdZero",
       [](auto& r) { r.mutable_leads(2)->set_lead_id(0); },
       {"leads[2]", "lead_id", "0"}},
      {"LeadIdNegative",
       [](auto& r) { r.mutable_leads(4)->set_lead_id(-7); },
       {"leads[4]", "lead_id", "-7"}},
      {"PhoneTooShort",
       [](auto& r) { r.mutable_leads(3)->set_phone("12345"); },
       {"leads[3]", "1004", "phone", "12345"}},
      {"PhoneNotANumber",
       [](auto& r) { r.mutable_leads(3)->set_phone("not a phone"); },
       {"leads[3]", "1004", "phone"}},
      {"PhoneMissing",
       [](auto& r) { r.mutable_leads(1)->set_phone(""); },
       {"leads[1]", "1002", "phone"}},
      {"Name256Bytes",
       [](auto& r) { r.mutable_leads(1)->set_name(std::string(256, 'n')); },
       {"leads[1]", "1002", "name", "255"}},
      {"NegativeOutboundListId", [](auto& r) { r.set_outbound_list_id(-1); }, {"outbound_list_id"}},
      {"NegativeProjectId", [](auto& r) { r.set_project_id(-1); }, {"project_id"}},
  };
  return *cases;
}

class CreateRunBadInputTest : public BadInputTest,
                              public ::testing::WithParamInterface<CreateRunCase> {};

// Each bad CreateRun is refused naming the field and leaves no run or job.
TEST_P(CreateRunBadInputTest, IsInvalidArgumentNamingTheFieldAndWritesNothing) {
  pb::CreateRunRequest request = ValidRequest();
  GetParam().spoil(request);
  pb::CreateRunResponse response;
  const grpc::Status status = stub().CreateRun(CallContext(key_).get(), request, &response);
  ExpectInvalid(status, GetParam().named);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_runs"), 0);
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_jobs"), 0);
}

INSTANTIATE_TEST_SUITE_P(Cases, CreateRunBadInputTest, ::testing::ValuesIn(CreateRunCases()),
                         [](const ::testing::TestParamInfo<CreateRunCase>& info) {
                           return info.param.name;
                         });

// The request the cases spoil is itself valid, and the edges of the ranges
// (concurrency 1 and 100, a 255-byte name, a 128-byte request_id) pass: the
// refusals above are the spoiled field's doing.
TEST_F(BadInputTest, TheValidRequestAndRangeEdgesAreAccepted) {
  pb::CreateRunRequest request = ValidRequest();
  request.set_concurrency(100);
  request.set_request_id(std::string(128, 'r'));
  request.mutable_leads(1)->set_name(std::string(255, 'n'));
  pb::CreateRunResponse response;
  grpc::Status status = stub().CreateRun(CallContext(key_).get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.run().total_leads(), 5);

  request = ValidRequest();
  request.set_concurrency(1);
  request.set_request_id("edge-2");
  status = stub().CreateRun(CallContext(key_).get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(db_.QueryInt("SELECT count(*) FROM outbound_call_runs"), 2);
}

// AddLeads with a bad lead (or none) is refused naming the lead and adds no
// job, not even the valid leads before it.
TEST_F(BadInputTest, AddLeadsWithABadLeadWritesNothing) {
  const int64_t run_id = CreateRun();
  const Footprint before = Take();
  struct Case {
    std::vector<pb::Lead> leads;
    std::vector<std::string> named;
  };
  const std::vector<Case> cases = {
      {{MakeLead(2001, PhoneOf(2001)), MakeLead(2002, "12345")}, {"leads[1]", "2002", "phone"}},
      {{MakeLead(2001, PhoneOf(2001)), MakeLead(0, PhoneOf(2))}, {"leads[1]", "lead_id"}},
      {{MakeLead(2001, PhoneOf(2001), std::string(256, 'n'))}, {"leads[0]", "2001", "name"}},
      {{}, {"leads"}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    pb::AddLeadsRequest request;
    request.set_run_id(run_id);
    for (const pb::Lead& lead : cases[i].leads) *request.add_leads() = lead;
    pb::AddLeadsResponse response;
    ExpectInvalid(stub().AddLeads(CallContext(key_).get(), request, &response), cases[i].named);
    EXPECT_EQ(Take(), before);
  }
}

// run_id 0 (or negative) is INVALID_ARGUMENT naming run_id on every RPC that
// addresses a run.
TEST_F(BadInputTest, RunIdMustBePositive) {
  CreateRun();
  const Footprint before = Take();
  for (const int64_t run_id : {int64_t{0}, int64_t{-4}}) {
    SCOPED_TRACE(run_id);
    {
      pb::GetRunRequest request;
      request.set_run_id(run_id);
      pb::OutboundCallRun run;
      ExpectInvalid(stub().GetRun(CallContext(key_).get(), request, &run), {"run_id"});
    }
    {
      pb::ListJobsRequest request;
      request.set_run_id(run_id);
      pb::ListJobsResponse response;
      ExpectInvalid(stub().ListJobs(CallContext(key_).get(), request, &response), {"run_id"});
    }
    {
      pb::AddLeadsRequest request;
      request.set_run_id(run_id);
      *request.add_leads() = MakeLead(1, PhoneOf(1));
      pb::AddLeadsResponse response;
      ExpectInvalid(stub().AddLeads(CallContext(key_).get(), request, &response), {"run_id"});
    }
    {
      pb::StopRunRequest request;
      request.set_run_id(run_id);
      pb::StopRunResponse response;
      ExpectInvalid(stub().StopRun(CallContext(key_).get(), request, &response), {"run_id"});
    }
    pb::OutboundCallRun run;
    pb::CancelRunRequest cancel;
    cancel.set_run_id(run_id);
    ExpectInvalid(stub().CancelRun(CallContext(key_).get(), cancel, &run), {"run_id"});
    pb::PauseRunRequest pause;
    pause.set_run_id(run_id);
    ExpectInvalid(stub().PauseRun(CallContext(key_).get(), pause, &run), {"run_id"});
    pb::ResumeRunRequest resume;
    resume.set_run_id(run_id);
    ExpectInvalid(stub().ResumeRun(CallContext(key_).get(), resume, &run), {"run_id"});
  }
  EXPECT_EQ(Take(), before);
}

// Listing arguments: a negative page_size, a malformed page_token and a
// status outside the enum are refused naming the field.
TEST_F(BadInputTest, ListArgumentsAreValidated) {
  const int64_t run_id = CreateRun();
  {
    pb::ListRunsRequest request;
    request.set_page_size(-1);
    pb::ListRunsResponse response;
    ExpectInvalid(stub().ListRuns(CallContext(key_).get(), request, &response), {"page_size"});
  }
  for (const std::string& token :
       std::vector<std::string>{"not a token", "AAAA", "%%%", std::string(300, 'z')}) {
    SCOPED_TRACE(token);
    pb::ListRunsRequest request;
    request.set_page_token(token);
    pb::ListRunsResponse response;
    ExpectInvalid(stub().ListRuns(CallContext(key_).get(), request, &response), {"page_token"});
  }
  {
    pb::ListRunsRequest request;
    request.set_status(static_cast<pb::RunStatus>(99));
    pb::ListRunsResponse response;
    ExpectInvalid(stub().ListRuns(CallContext(key_).get(), request, &response), {"status", "99"});
  }
  {
    pb::ListJobsRequest request;
    request.set_run_id(run_id);
    request.set_page_size(-5);
    pb::ListJobsResponse response;
    ExpectInvalid(stub().ListJobs(CallContext(key_).get(), request, &response), {"page_size"});
  }
  {
    pb::ListJobsRequest request;
    request.set_run_id(run_id);
    request.set_page_token("garbage");
    pb::ListJobsResponse response;
    ExpectInvalid(stub().ListJobs(CallContext(key_).get(), request, &response), {"page_token"});
  }
  {
    pb::ListJobsRequest request;
    request.set_run_id(run_id);
    request.set_status(static_cast<pb::JobStatus>(99));
    pb::ListJobsResponse response;
    ExpectInvalid(stub().ListJobs(CallContext(key_).get(), request, &response), {"status", "99"});
  }
}

// A server whose max_leads_per_request is 10 takes 10 leads and refuses 11,
// on CreateRun and AddLeads, writing nothing.
TEST_F(BadInputTest, TooManyLeadsIsRefused) {
  app::ServerConfig config;
  config.limits.max_leads_per_request = 10;
  TestServer small(db_, config);
  auto request_with = [](const std::string& request_id, int count) {
    pb::CreateRunRequest request;
    request.set_request_id(request_id);
    request.set_concurrency(1);
    for (int i = 1; i <= count; ++i) *request.add_leads() = MakeLead(i, PhoneOf(i));
    return request;
  };
  pb::CreateRunResponse response;
  ExpectInvalid(
      small.stub().CreateRun(CallContext(key_).get(), request_with("eleven", 11), &response),
      {"leads", "11", "10"});
  EXPECT_EQ(Take(), Footprint{});

  const grpc::Status ten =
      small.stub().CreateRun(CallContext(key_).get(), request_with("ten", 10), &response);
  ASSERT_TRUE(ten.ok()) << ten.error_message();
  const Footprint before = Take();
  pb::AddLeadsRequest add;
  add.set_run_id(response.run().id());
  for (int i = 100; i < 111; ++i) *add.add_leads() = MakeLead(i, PhoneOf(i));
  pb::AddLeadsResponse added;
  ExpectInvalid(small.stub().AddLeads(CallContext(key_).get(), add, &added), {"leads", "11", "10"});
  EXPECT_EQ(Take(), before);
}

// The default maximum, 100,000 leads in one CreateRun, fits the server's
// receive limit (the request is larger than gRPC's default 4 MiB) and
// creates every job.
TEST_F(BadInputTest, HundredThousandLeadsFitInOneCreateRun) {
  constexpr int kLeads = 100'000;
  pb::CreateRunRequest request;
  request.set_request_id("big");
  request.set_concurrency(100);
  request.mutable_leads()->Reserve(kLeads);
  for (int i = 1; i <= kLeads; ++i) {
    *request.add_leads() =
        MakeLead(i, PhoneOf(i), absl::StrCat("lead number ", 1000000 + i, " ok"));
  }
  ASSERT_GT(request.ByteSizeLong(), size_t{4} << 20);
  pb::CreateRunResponse response;
  std::unique_ptr<grpc::ClientContext> context = CallContext(key_);
  // This test is about size, not speed (benchmarks measure ingest): on a
  // busy 2-core machine 100,000 leads can take longer than the usual 30 s.
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(3));
  const grpc::Status status = stub().CreateRun(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(response.run().total_leads(), kLeads);
  EXPECT_EQ(response.run().queued_count(), kLeads);
  EXPECT_EQ(response.duplicate_leads_dropped(), 0);
  EXPECT_EQ(db_.QueryInt(absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ",
                                      response.run().id())),
            kLeads);
}


// A flood of random bearer keys (well-formed and not) from many clients costs
// a bounded number of database lookups: malformed keys none, well-formed
// unknown ones at most --auth-lookups-per-second (20 here) per second plus
// one second's burst; every refused call is UNAUTHENTICATED, or UNAVAILABLE
// once the budget is spent. The owner's key keeps working throughout.
TEST(AuthFloodTest, RandomKeysCauseBoundedDatabaseLookups) {
  constexpr double kLookupsPerSecond = 20;
  constexpr int kThreads = 8;
  constexpr int kWellFormedPerThread = 300;
  constexpr int kMalformedPerThread = 100;
  TestDatabase db;
  app::ServerConfig config;
  config.auth_lookups_per_second = kLookupsPerSecond;
  TestServer server(db, config);
  const int64_t business = db.CreateBusiness("flooded");
  const std::string key = db.CreateApiKey(business, Role::kOwner).key;
  pb::ListRunsResponse listed;
  ASSERT_TRUE(server.stub().ListRuns(CallContext(key).get(), pb::ListRunsRequest(), &listed).ok());
  const int64_t lookups_before = server.server().auth_stats().lookups;

  std::atomic<int> unauthenticated{0};
  std::atomic<int> unavailable{0};
  std::atomic<int> other{0};
  std::atomic<int> owner_failures{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 random(static_cast<uint64_t>(t) * 7919 + 1);
      const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      for (int i = 0; i < kWellFormedPerThread + kMalformedPerThread; ++i) {
        std::string random_key = "ocs_";
        const int length = i < kWellFormedPerThread ? 43 : 20 + static_cast<int>(random() % 40);
        for (int c = 0; c < length; ++c) random_key += kAlphabet[random() % 64];
        if (i >= kWellFormedPerThread && length == 43) random_key += "!";
        pb::GetRunRequest get;
        get.set_run_id(1);
        pb::OutboundCallRun ignored;
        const grpc::Status status =
            server.stub().GetRun(CallContext(random_key).get(), get, &ignored);
        if (status.error_code() == StatusCode::UNAUTHENTICATED) {
          ++unauthenticated;
        } else if (status.error_code() == StatusCode::UNAVAILABLE) {
          ++unavailable;
        } else {
          ++other;
        }
        if (i % 50 == 0) {
          pb::ListRunsResponse mine;
          if (!server.stub().ListRuns(CallContext(key).get(), pb::ListRunsRequest(), &mine).ok()) {
            ++owner_failures;
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  const auth::AuthStats stats = server.server().auth_stats();
  const int64_t lookups = stats.lookups - lookups_before;
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(owner_failures.load(), 0);
  EXPECT_EQ(unauthenticated.load() + unavailable.load(),
            kThreads * (kWellFormedPerThread + kMalformedPerThread));
  EXPECT_EQ(stats.malformed, kThreads * kMalformedPerThread);
  // The budget: one second's burst, then the rate (the owner's key is known
  // and may be looked up again once per TTL besides).
  EXPECT_LE(lookups, static_cast<int64_t>(kLookupsPerSecond * (1 + elapsed)) + 2)
      << "in " << elapsed << " s";
  EXPECT_GT(unavailable.load(), 0);
}

}  // namespace
}  // namespace campaign::testing
