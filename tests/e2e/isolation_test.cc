// Business isolation end to end: every RPC against every kind of caller
// through real stubs and an in-process server, with the gRPC code each one
// must get, and proof that a refused call changed nothing.
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
#include "server/store/api_key_store.h"
#include "server/store/database.h"
#include "tests/support/leads.h"
#include "tests/support/test_server.h"

namespace campaign::testing {
namespace {

namespace pb = ::outbound::v1;
using google::protobuf::util::MessageDifferencer;
using grpc::StatusCode;

// The RPCs of outbound.v1.CampaignService.
enum class Rpc {
  kCreateRun,
  kAddLeads,
  kGetRun,
  kListRuns,
  kListJobs,
  kStopRun,
  kCancelRun,
  kPauseRun,
  kResumeRun,
};

const char* RpcName(Rpc rpc) {
  switch (rpc) {
    case Rpc::kCreateRun:
      return "CreateRun";
    case Rpc::kAddLeads:
      return "AddLeads";
    case Rpc::kGetRun:
      return "GetRun";
    case Rpc::kListRuns:
      return "ListRuns";
    case Rpc::kListJobs:
      return "ListJobs";
    case Rpc::kStopRun:
      return "StopRun";
    case Rpc::kCancelRun:
      return "CancelRun";
    case Rpc::kPauseRun:
      return "PauseRun";
    case Rpc::kResumeRun:
      return "ResumeRun";
  }
  return "?";
}

// Names the RPC in test listings.
void PrintTo(Rpc rpc, std::ostream* out) { *out << RpcName(rpc); }

// The callers of the matrix. "A" is the business owning the run under test.
enum class CallerKind {
  kOwnerA,
  kOwnerB,
  kAdminA,
  kAgentA,
  kSystemAdminNamingA,
  kSystemAdminNamingB,
  kSystemAdminNamingNone,
  kOwnerANamingB,
  kMissingKey,
  kRevokedKey,
  kMalformedAuthorization,
  kUnknownKey,
};

constexpr CallerKind kAllCallers[] = {
    CallerKind::kOwnerA,
    CallerKind::kOwnerB,
    CallerKind::kAdminA,
    CallerKind::kAgentA,
    CallerKind::kSystemAdminNamingA,
    CallerKind::kSystemAdminNamingB,
    CallerKind::kSystemAdminNamingNone,
    CallerKind::kOwnerANamingB,
    CallerKind::kMissingKey,
    CallerKind::kRevokedKey,
    CallerKind::kMalformedAuthorization,
    CallerKind::kUnknownKey,
};

// The code `caller` must get for `rpc` on business A's run (the table of the
// issue: tenant comes from the key; agents may not write; a system admin
// names the business except to list across all of them).
StatusCode Expected(Rpc rpc, CallerKind caller) {
  const bool writes = rpc == Rpc::kCreateRun || rpc == Rpc::kAddLeads;
  const bool addresses_run = rpc != Rpc::kCreateRun && rpc != Rpc::kListRuns;
  switch (caller) {
    case CallerKind::kOwnerA:
    case CallerKind::kAdminA:
    case CallerKind::kSystemAdminNamingA:
      return StatusCode::OK;
    case CallerKind::kOwnerB:
    case CallerKind::kSystemAdminNamingB:
      // CreateRun and ListRuns address no run: B acts on its own business.
      return addresses_run ? StatusCode::NOT_FOUND : StatusCode::OK;
    case CallerKind::kAgentA:
      return writes ? StatusCode::PERMISSION_DENIED : StatusCode::OK;
    case CallerKind::kSystemAdminNamingNone:
      return rpc == Rpc::kListRuns ? StatusCode::OK : StatusCode::INVALID_ARGUMENT;
    case CallerKind::kOwnerANamingB:
      return StatusCode::PERMISSION_DENIED;
    case CallerKind::kMissingKey:
    case CallerKind::kRevokedKey:
    case CallerKind::kMalformedAuthorization:
    case CallerKind::kUnknownKey:
      return StatusCode::UNAUTHENTICATED;
  }
  return StatusCode::UNKNOWN;
}

// Whether `caller` acts for business B.
bool ActsForB(CallerKind caller) {
  return caller == CallerKind::kOwnerB || caller == CallerKind::kSystemAdminNamingB;
}

// What a caller sends and who it is.
struct Caller {
  std::string name;
  // Full value of the authorization metadata; none when empty.
  std::string authorization;
  // Value of x-business-id; none when empty.
  std::string x_business_id;
  // The user id of its key (for created_by_user_id).
  int64_t user_id = 0;
};

std::unique_ptr<grpc::ClientContext> ContextFor(const Caller& caller) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!caller.authorization.empty()) context->AddMetadata("authorization", caller.authorization);
  if (!caller.x_business_id.empty()) context->AddMetadata("x-business-id", caller.x_business_id);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return context;
}

// What one RPC answered.
struct Outcome {
  grpc::Status status;
  // The run in the response (every RPC but ListRuns and ListJobs).
  pb::OutboundCallRun run;
  std::vector<pb::OutboundCallRun> runs;
  std::vector<pb::OutboundCallJob> jobs;
  int64_t added = 0;
  int64_t cancelled_jobs = 0;
};

void AddLead(google::protobuf::RepeatedPtrField<pb::Lead>* leads, int64_t lead_id) {
  *leads->Add() = MakeLead(lead_id, PhoneOf(lead_id), absl::StrCat("lead ", lead_id));
}

// Calls `rpc` on `run_id` (CreateRun makes a new run with `request_id`).
Outcome Invoke(pb::CampaignService::Stub& stub, Rpc rpc, grpc::ClientContext* context,
               int64_t run_id, const std::string& request_id) {
  Outcome out;
  switch (rpc) {
    case Rpc::kCreateRun: {
      pb::CreateRunRequest request;
      request.set_request_id(request_id);
      request.set_concurrency(2);
      AddLead(request.mutable_leads(), 101);
      AddLead(request.mutable_leads(), 102);
      pb::CreateRunResponse response;
      out.status = stub.CreateRun(context, request, &response);
      out.run = response.run();
      break;
    }
    case Rpc::kAddLeads: {
      pb::AddLeadsRequest request;
      request.set_run_id(run_id);
      AddLead(request.mutable_leads(), 201);
      AddLead(request.mutable_leads(), 202);
      pb::AddLeadsResponse response;
      out.status = stub.AddLeads(context, request, &response);
      out.run = response.run();
      out.added = response.added();
      break;
    }
    case Rpc::kGetRun: {
      pb::GetRunRequest request;
      request.set_run_id(run_id);
      out.status = stub.GetRun(context, request, &out.run);
      break;
    }
    case Rpc::kListRuns: {
      pb::ListRunsRequest request;
      request.set_page_size(1000);
      pb::ListRunsResponse response;
      out.status = stub.ListRuns(context, request, &response);
      out.runs.assign(response.runs().begin(), response.runs().end());
      break;
    }
    case Rpc::kListJobs: {
      pb::ListJobsRequest request;
      request.set_run_id(run_id);
      request.set_page_size(1000);
      pb::ListJobsResponse response;
      out.status = stub.ListJobs(context, request, &response);
      out.jobs.assign(response.jobs().begin(), response.jobs().end());
      break;
    }
    case Rpc::kStopRun: {
      pb::StopRunRequest request;
      request.set_run_id(run_id);
      pb::StopRunResponse response;
      out.status = stub.StopRun(context, request, &response);
      out.run = response.run();
      out.cancelled_jobs = response.cancelled_jobs();
      break;
    }
    case Rpc::kCancelRun: {
      pb::CancelRunRequest request;
      request.set_run_id(run_id);
      out.status = stub.CancelRun(context, request, &out.run);
      break;
    }
    case Rpc::kPauseRun: {
      pb::PauseRunRequest request;
      request.set_run_id(run_id);
      out.status = stub.PauseRun(context, request, &out.run);
      break;
    }
    case Rpc::kResumeRun: {
      pb::ResumeRunRequest request;
      request.set_run_id(run_id);
      out.status = stub.ResumeRun(context, request, &out.run);
      break;
    }
  }
  return out;
}

// The state of the run under test and of the whole database, read with the
// owner's key and as the database superuser.
struct Snapshot {
  pb::OutboundCallRun run;
  int64_t version = 0;
  int64_t run_jobs = 0;
  int64_t all_runs = 0;
  int64_t all_jobs = 0;
};

// A server with auth_cache_ttl 0 (revocation is immediate), businesses A and
// B, and keys of every role; B has a run of its own.
class IsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app::ServerConfig config;
    config.auth_cache_ttl = absl::ZeroDuration();
    server_ = std::make_unique<TestServer>(db_, config);
    business_a_ = db_.CreateBusiness("business a");
    business_b_ = db_.CreateBusiness("business b");
    const std::string a = absl::StrCat(business_a_);
    const std::string b = absl::StrCat(business_b_);
    owner_a_key_ = db_.CreateApiKey(business_a_, Role::kOwner, 7).key;
    owner_b_key_ = db_.CreateApiKey(business_b_, Role::kOwner, 17).key;
    const std::string admin_a = db_.CreateApiKey(business_a_, Role::kAdmin, 8).key;
    const std::string agent_a = db_.CreateApiKey(business_a_, Role::kAgent, 9).key;
    const std::string system_admin = db_.CreateApiKey(std::nullopt, Role::kSystemAdmin, 10).key;
    const store::NewApiKey revoked = db_.CreateApiKey(business_a_, Role::kOwner, 11);

    auto bearer = [](const std::string& key) { return absl::StrCat("Bearer ", key); };
    callers_[CallerKind::kOwnerA] = {"owner of A", bearer(owner_a_key_), "", 7};
    callers_[CallerKind::kOwnerB] = {"owner of B", bearer(owner_b_key_), "", 17};
    callers_[CallerKind::kAdminA] = {"admin of A", bearer(admin_a), "", 8};
    callers_[CallerKind::kAgentA] = {"agent of A", bearer(agent_a), "", 9};
    callers_[CallerKind::kSystemAdminNamingA] = {"system_admin naming A", bearer(system_admin), a,
                                                 10};
    callers_[CallerKind::kSystemAdminNamingB] = {"system_admin naming B", bearer(system_admin), b,
                                                 10};
    callers_[CallerKind::kSystemAdminNamingNone] = {"system_admin naming no business",
                                                    bearer(system_admin), "", 10};
    callers_[CallerKind::kOwnerANamingB] = {"owner of A naming B", bearer(owner_a_key_), b, 7};
    callers_[CallerKind::kMissingKey] = {"no authorization", "", "", 0};
    callers_[CallerKind::kRevokedKey] = {"revoked key of A", bearer(revoked.key), "", 11};
    callers_[CallerKind::kMalformedAuthorization] = {"authorization Basic xyz", "Basic xyz", "", 0};
    callers_[CallerKind::kUnknownKey] = {
        "unknown key", bearer("ocs_0000000000000000000000000000000000000000000"), "", 0};

    b_run_id_ = CreateRun(callers_[CallerKind::kOwnerB], "b-run", false);
    ASSERT_GT(b_run_id_, 0);
    // The revoked key worked before it was revoked: its refusal in the
    // matrix is the revocation's doing, not a broken key.
    pb::ListRunsResponse listed;
    ASSERT_TRUE(stub()
                    .ListRuns(ContextFor(callers_[CallerKind::kRevokedKey]).get(),
                              pb::ListRunsRequest(), &listed)
                    .ok());
    store::Database database(db_.app_url(), store::PoolOptions{.size = 1});
    store::ApiKeyStore keys(&database);
    ASSERT_TRUE(keys.RevokeApiKey(revoked.id).ok());
  }

  pb::CampaignService::Stub& stub() { return server_->stub(); }

  // Creates a run with two leads as `caller`; returns its id.
  int64_t CreateRun(const Caller& caller, const std::string& request_id, bool start_paused) {
    pb::CreateRunRequest request;
    request.set_request_id(request_id);
    request.set_concurrency(1);
    request.set_start_paused(start_paused);
    AddLead(request.mutable_leads(), 1);
    AddLead(request.mutable_leads(), 2);
    pb::CreateRunResponse response;
    const grpc::Status status = stub().CreateRun(ContextFor(caller).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.run().id();
  }

  std::string NewRequestId() { return absl::StrCat("req-", ++request_counter_); }

  Snapshot Take(int64_t run_id) {
    Snapshot snapshot;
    pb::GetRunRequest request;
    request.set_run_id(run_id);
    const grpc::Status status =
        stub().GetRun(ContextFor(callers_[CallerKind::kOwnerA]).get(), request, &snapshot.run);
    EXPECT_TRUE(status.ok()) << status.error_message();
    snapshot.version =
        db_.QueryInt(absl::StrCat("SELECT version FROM outbound_call_runs WHERE id = ", run_id));
    snapshot.run_jobs = db_.QueryInt(
        absl::StrCat("SELECT count(*) FROM outbound_call_jobs WHERE run_id = ", run_id));
    snapshot.all_runs = db_.QueryInt("SELECT count(*) FROM outbound_call_runs");
    snapshot.all_jobs = db_.QueryInt("SELECT count(*) FROM outbound_call_jobs");
    return snapshot;
  }

  // Nothing about the run (every field, its version, its jobs) nor the
  // number of runs and jobs in the database changed.
  static void ExpectUnchanged(const Snapshot& before, const Snapshot& after) {
    EXPECT_TRUE(MessageDifferencer::Equals(before.run, after.run))
        << "before: " << before.run.ShortDebugString()
        << "\nafter:  " << after.run.ShortDebugString();
    EXPECT_EQ(before.version, after.version);
    EXPECT_EQ(before.run_jobs, after.run_jobs);
    EXPECT_EQ(before.all_runs, after.all_runs);
    EXPECT_EQ(before.all_jobs, after.all_jobs);
  }

  // What an OK call must have done.
  void ExpectEffect(Rpc rpc, CallerKind kind, int64_t run_id, const Snapshot& before,
                    const Outcome& outcome) {
    const Caller& caller = callers_[kind];
    const Snapshot after = Take(run_id);
    switch (rpc) {
      case Rpc::kCreateRun: {
        const int64_t business = ActsForB(kind) ? business_b_ : business_a_;
        EXPECT_GT(outcome.run.id(), 0);
        EXPECT_NE(outcome.run.id(), run_id);
        EXPECT_EQ(outcome.run.business_id(), business);
        EXPECT_EQ(outcome.run.created_by_user_id(), caller.user_id);
        EXPECT_EQ(outcome.run.status(), pb::RUN_STATUS_PENDING);
        EXPECT_EQ(outcome.run.total_leads(), 2);
        EXPECT_EQ(after.all_runs, before.all_runs + 1);
        EXPECT_EQ(after.all_jobs, before.all_jobs + 2);
        EXPECT_EQ(db_.QueryInt(absl::StrCat(
                      "SELECT business_id FROM outbound_call_runs WHERE id = ", outcome.run.id())),
                  business);
        // A's run under test is untouched.
        EXPECT_TRUE(MessageDifferencer::Equals(before.run, after.run));
        EXPECT_EQ(before.version, after.version);
        return;
      }
      case Rpc::kAddLeads:
        EXPECT_EQ(outcome.added, 2);
        EXPECT_EQ(outcome.run.id(), run_id);
        EXPECT_EQ(after.run.total_leads(), before.run.total_leads() + 2);
        EXPECT_EQ(after.run.queued_count(), before.run.queued_count() + 2);
        EXPECT_EQ(after.run_jobs, before.run_jobs + 2);
        EXPECT_GT(after.version, before.version);
        return;
      case Rpc::kGetRun:
        EXPECT_TRUE(MessageDifferencer::Equals(outcome.run, before.run))
            << outcome.run.ShortDebugString();
        ExpectUnchanged(before, after);
        return;
      case Rpc::kListRuns: {
        std::set<int64_t> ids;
        std::set<int64_t> businesses;
        for (const pb::OutboundCallRun& run : outcome.runs) {
          ids.insert(run.id());
          businesses.insert(run.business_id());
        }
        if (ActsForB(kind)) {
          EXPECT_EQ(businesses, std::set<int64_t>{business_b_});
          EXPECT_EQ(ids.count(run_id), 0u);
          EXPECT_EQ(ids.count(b_run_id_), 1u);
        } else if (kind == CallerKind::kSystemAdminNamingNone) {
          EXPECT_EQ(businesses, (std::set<int64_t>{business_a_, business_b_}));
          EXPECT_EQ(static_cast<int64_t>(outcome.runs.size()), after.all_runs);
        } else {
          EXPECT_EQ(businesses, std::set<int64_t>{business_a_});
          EXPECT_EQ(ids.count(run_id), 1u);
          EXPECT_EQ(ids.count(b_run_id_), 0u);
        }
        ExpectUnchanged(before, after);
        return;
      }
      case Rpc::kListJobs:
        ASSERT_EQ(static_cast<int64_t>(outcome.jobs.size()), before.run_jobs);
        for (const pb::OutboundCallJob& job : outcome.jobs) {
          EXPECT_EQ(job.run_id(), run_id);
          EXPECT_EQ(job.business_id(), business_a_);
        }
        ExpectUnchanged(before, after);
        return;
      case Rpc::kStopRun:
        EXPECT_EQ(outcome.cancelled_jobs, 2);
        EXPECT_EQ(after.run.status(), pb::RUN_STATUS_STOPPED);
        EXPECT_EQ(after.run.queued_count(), 0);
        EXPECT_EQ(after.run.cancelled_count(), 2);
        EXPECT_GT(after.version, before.version);
        return;
      case Rpc::kCancelRun:
        EXPECT_EQ(after.run.status(), pb::RUN_STATUS_CANCELLED);
        EXPECT_TRUE(after.run.cancel_requested());
        EXPECT_EQ(after.run.queued_count(), 0);
        EXPECT_GT(after.version, before.version);
        return;
      case Rpc::kPauseRun:
        EXPECT_EQ(after.run.status(), pb::RUN_STATUS_PAUSED);
        EXPECT_GT(after.version, before.version);
        return;
      case Rpc::kResumeRun:
        // The run under test was created paused and never started.
        EXPECT_EQ(after.run.status(), pb::RUN_STATUS_PENDING);
        EXPECT_GT(after.version, before.version);
        return;
    }
  }

  TestDatabase db_;
  std::unique_ptr<TestServer> server_;
  int64_t business_a_ = 0;
  int64_t business_b_ = 0;
  int64_t b_run_id_ = 0;
  std::string owner_a_key_;
  std::string owner_b_key_;
  std::map<CallerKind, Caller> callers_;
  int request_counter_ = 0;
};

// The matrix, one RPC per parameter, every caller in turn, each on a fresh
// run of business A.
class IsolationMatrixTest : public IsolationTest, public ::testing::WithParamInterface<Rpc> {};

TEST_P(IsolationMatrixTest, EveryCallerGetsItsCodeAndRefusalsChangeNothing) {
  const Rpc rpc = GetParam();
  for (const CallerKind kind : kAllCallers) {
    const Caller& caller = callers_[kind];
    SCOPED_TRACE(absl::StrCat(RpcName(rpc), " by ", caller.name));
    // ResumeRun needs a paused run to have anything to do.
    const int64_t run_id = CreateRun(callers_[CallerKind::kOwnerA], NewRequestId(),
                                     /*start_paused=*/rpc == Rpc::kResumeRun);
    ASSERT_GT(run_id, 0);
    const Snapshot before = Take(run_id);
    const Outcome outcome = Invoke(stub(), rpc, ContextFor(caller).get(), run_id, NewRequestId());
    const StatusCode expected = Expected(rpc, kind);
    EXPECT_EQ(outcome.status.error_code(), expected) << outcome.status.error_message();
    if (outcome.status.error_code() != expected) continue;
    if (expected == StatusCode::OK) {
      ExpectEffect(rpc, kind, run_id, before, outcome);
      continue;
    }
    EXPECT_FALSE(outcome.status.error_message().empty());
    ExpectUnchanged(before, Take(run_id));
    if (ActsForB(kind)) {
      // Another business's run is answered exactly like a missing one: the
      // same call once the run is gone gets the same code and message, for
      // B and for A alike.
      db_.ExecAsAdmin(absl::StrCat("DELETE FROM outbound_call_runs WHERE id = ", run_id));
      const Outcome missing_for_b =
          Invoke(stub(), rpc, ContextFor(caller).get(), run_id, NewRequestId());
      const Outcome missing_for_a = Invoke(
          stub(), rpc, ContextFor(callers_[CallerKind::kOwnerA]).get(), run_id, NewRequestId());
      EXPECT_EQ(missing_for_b.status.error_code(), StatusCode::NOT_FOUND);
      EXPECT_EQ(missing_for_b.status.error_message(), outcome.status.error_message());
      EXPECT_EQ(missing_for_a.status.error_code(), StatusCode::NOT_FOUND);
      EXPECT_EQ(missing_for_a.status.error_message(), outcome.status.error_message());
      EXPECT_EQ(missing_for_b.status.error_details(), outcome.status.error_details());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllRpcs, IsolationMatrixTest,
                         ::testing::Values(Rpc::kCreateRun, Rpc::kAddLeads, Rpc::kGetRun,
                                           Rpc::kListRuns, Rpc::kListJobs, Rpc::kStopRun,
                                           Rpc::kCancelRun, Rpc::kPauseRun, Rpc::kResumeRun),
                         [](const ::testing::TestParamInfo<Rpc>& info) {
                           return std::string(RpcName(info.param));
                         });

// Listing never crosses businesses: B sees only B's runs on every page; a
// system admin naming A sees exactly A's; naming none, everyone's.
TEST_F(IsolationTest, ListRunsStaysWithinTheNamedBusiness) {
  std::set<int64_t> a_runs;
  for (int i = 0; i < 3; ++i) {
    a_runs.insert(CreateRun(callers_[CallerKind::kOwnerA], NewRequestId(), i == 0));
  }
  const std::set<int64_t> b_runs = {
      b_run_id_, CreateRun(callers_[CallerKind::kOwnerB], NewRequestId(), false)};

  // Every run id the caller sees, paging one run at a time.
  auto list_all = [&](CallerKind kind) {
    std::set<int64_t> seen;
    std::string token;
    for (int page = 0; page < 20; ++page) {
      pb::ListRunsRequest request;
      request.set_page_size(1);
      request.set_page_token(token);
      pb::ListRunsResponse response;
      const grpc::Status status =
          stub().ListRuns(ContextFor(callers_[kind]).get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      for (const pb::OutboundCallRun& run : response.runs()) seen.insert(run.id());
      token = response.next_page_token();
      if (token.empty()) break;
    }
    EXPECT_TRUE(token.empty()) << "listing did not end";
    return seen;
  };

  EXPECT_EQ(list_all(CallerKind::kOwnerB), b_runs);
  EXPECT_EQ(list_all(CallerKind::kOwnerA), a_runs);
  EXPECT_EQ(list_all(CallerKind::kSystemAdminNamingA), a_runs);
  std::set<int64_t> everyone = a_runs;
  everyone.insert(b_runs.begin(), b_runs.end());
  EXPECT_EQ(list_all(CallerKind::kSystemAdminNamingNone), everyone);
}

// created_by_user_id is the user of the key that created the run; a key
// without a user records 0. The request has no way to set it.
TEST_F(IsolationTest, CreatedByUserIdComesFromTheKey) {
  const std::string with_user = db_.CreateApiKey(business_a_, Role::kAdmin, 4242).key;
  const std::string without_user = db_.CreateApiKey(business_a_, Role::kOwner).key;
  for (const auto& [key, user] :
       std::vector<std::pair<std::string, int64_t>>{{with_user, 4242}, {without_user, 0}}) {
    SCOPED_TRACE(absl::StrCat("user ", user));
    const Caller caller{"key", absl::StrCat("Bearer ", key), "", user};
    const int64_t run_id = CreateRun(caller, NewRequestId(), false);
    pb::GetRunRequest request;
    request.set_run_id(run_id);
    pb::OutboundCallRun run;
    ASSERT_TRUE(stub().GetRun(ContextFor(caller).get(), request, &run).ok());
    EXPECT_EQ(run.created_by_user_id(), user);
    EXPECT_EQ(
        db_.QueryInt(absl::StrCat(
            "SELECT coalesce(created_by_user_id, 0) FROM outbound_call_runs WHERE id = ", run_id)),
        user);
  }
}

// With auth_cache_ttl 0, `campaignd revoke-api-key` takes effect on the very
// next call of a running server.
TEST_F(IsolationTest, RevocationThroughCampaigndTakesEffectImmediately) {
  const store::NewApiKey key = db_.CreateApiKey(business_a_, Role::kOwner, 5);
  const Caller caller{"fresh key", absl::StrCat("Bearer ", key.key), "", 5};
  pb::ListRunsResponse listed;
  ASSERT_TRUE(stub().ListRuns(ContextFor(caller).get(), pb::ListRunsRequest(), &listed).ok());

  const ProcessResult revoked = RunCampaignd(
      {"revoke-api-key", "--database-url", db_.app_url(), "--id", absl::StrCat(key.id)});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;

  const grpc::Status status =
      stub().ListRuns(ContextFor(caller).get(), pb::ListRunsRequest(), &listed);
  EXPECT_EQ(status.error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("revoked"), std::string::npos) << status.error_message();
}

// Two credentials in one call are refused, not guessed at; a tenant naming
// its own business is fine; a malformed x-business-id is INVALID_ARGUMENT.
TEST_F(IsolationTest, AmbiguousOrMalformedMetadataIsRefused) {
  const std::string a = absl::StrCat(business_a_);
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", callers_[CallerKind::kOwnerB].authorization);
    context.AddMetadata("authorization", callers_[CallerKind::kOwnerA].authorization);
    pb::ListRunsResponse response;
    EXPECT_EQ(stub().ListRuns(&context, pb::ListRunsRequest(), &response).error_code(),
              StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", callers_[CallerKind::kSystemAdminNamingA].authorization);
    context.AddMetadata("x-business-id", a);
    context.AddMetadata("x-business-id", absl::StrCat(business_b_));
    pb::ListRunsResponse response;
    EXPECT_EQ(stub().ListRuns(&context, pb::ListRunsRequest(), &response).error_code(),
              StatusCode::INVALID_ARGUMENT);
  }
  {
    Caller own = callers_[CallerKind::kOwnerA];
    own.x_business_id = a;
    pb::ListRunsResponse response;
    EXPECT_TRUE(stub().ListRuns(ContextFor(own).get(), pb::ListRunsRequest(), &response).ok());
  }
  for (const std::string bad : {"abc", "-1", "0", "1x"}) {
    SCOPED_TRACE(bad);
    Caller admin = callers_[CallerKind::kSystemAdminNamingA];
    admin.x_business_id = bad;
    pb::ListRunsResponse response;
    const grpc::Status status =
        stub().ListRuns(ContextFor(admin).get(), pb::ListRunsRequest(), &response);
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("x-business-id"), std::string::npos)
        << status.error_message();
  }
}

// The lease holder's identity (host:pid of a worker) is internal: tenant keys
// see whether a run is held and since when (lock_ts), never by whom; only a
// system admin sees locked_by_worker. Unary reads, mutations, listings and
// both watch streams follow the same rule.
// A business's limits (GetBusiness) are shown to its own keys and to system
// admins, never to another business's keys; an unknown business is NOT_FOUND
// for a system admin and refused like any other for a tenant key.
TEST_F(IsolationTest, GetBusinessShowsABusinessToItsOwnKeysAndSystemAdminsOnly) {
  db_.ExecAsAdmin(absl::StrCat("UPDATE business SET max_calls_per_second = 2.5 WHERE id = ",
                               business_a_));
  auto get = [&](CallerKind kind, int64_t business_id, pb::Business* business) {
    pb::GetBusinessRequest request;
    request.set_business_id(business_id);
    return stub().GetBusiness(ContextFor(callers_[kind]).get(), request, business);
  };
  for (CallerKind kind : {CallerKind::kOwnerA, CallerKind::kAgentA,
                          CallerKind::kSystemAdminNamingNone, CallerKind::kSystemAdminNamingB}) {
    SCOPED_TRACE(callers_[kind].name);
    pb::Business business;
    const grpc::Status status = get(kind, business_a_, &business);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(business.id(), business_a_);
    EXPECT_EQ(business.name(), "business a");
    EXPECT_EQ(business.max_calls_per_second(), 2.5);
  }
  pb::Business business;
  EXPECT_TRUE(get(CallerKind::kSystemAdminNamingA, business_b_, &business).ok());
  EXPECT_EQ(business.max_calls_per_second(), 1.0);  // the default
  for (CallerKind kind : {CallerKind::kOwnerB, CallerKind::kOwnerANamingB}) {
    SCOPED_TRACE(callers_[kind].name);
    pb::Business leaked;
    EXPECT_EQ(get(kind, business_a_, &leaked).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(leaked.id(), 0);
  }
  EXPECT_EQ(get(CallerKind::kOwnerA, 999999, &business).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(get(CallerKind::kSystemAdminNamingNone, 999999, &business).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(get(CallerKind::kSystemAdminNamingNone, 0, &business).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(get(CallerKind::kMissingKey, business_a_, &business).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(IsolationTest, OnlySystemAdminsSeeTheLeaseHolder) {
  const int64_t run_id = CreateRun(callers_[CallerKind::kOwnerA], NewRequestId(), false);
  const std::string worker = "worker-host.internal:4242:abcdef";
  db_.ExecAsAdmin(absl::StrCat("UPDATE outbound_call_runs SET locked_by_worker = '", worker,
                               "', lock_ts = now() WHERE id = ", run_id));

  auto get = [&](CallerKind kind) {
    pb::GetRunRequest request;
    request.set_run_id(run_id);
    pb::OutboundCallRun run;
    const grpc::Status status = stub().GetRun(ContextFor(callers_[kind]).get(), request, &run);
    EXPECT_TRUE(status.ok()) << callers_[kind].name << ": " << status.error_message();
    return run;
  };
  auto list = [&](CallerKind kind) {
    pb::ListRunsResponse response;
    const grpc::Status status =
        stub().ListRuns(ContextFor(callers_[kind]).get(), pb::ListRunsRequest(), &response);
    EXPECT_TRUE(status.ok()) << callers_[kind].name << ": " << status.error_message();
    for (const pb::OutboundCallRun& run : response.runs()) {
      if (run.id() == run_id) return run;
    }
    ADD_FAILURE() << callers_[kind].name << " did not list run " << run_id;
    return pb::OutboundCallRun();
  };
  auto watch_run = [&](CallerKind kind) {
    std::unique_ptr<grpc::ClientContext> context = ContextFor(callers_[kind]);
    pb::WatchRunRequest request;
    request.set_run_id(run_id);
    std::unique_ptr<grpc::ClientReader<pb::WatchRunResponse>> reader =
        stub().WatchRun(context.get(), request);
    pb::WatchRunResponse first;
    EXPECT_TRUE(reader->Read(&first)) << callers_[kind].name << ": no snapshot";
    context->TryCancel();
    reader->Finish();
    return first.run();
  };
  auto watch_runs = [&](CallerKind kind) {
    std::unique_ptr<grpc::ClientContext> context = ContextFor(callers_[kind]);
    std::unique_ptr<grpc::ClientReader<pb::WatchRunsResponse>> reader =
        stub().WatchRuns(context.get(), pb::WatchRunsRequest());
    pb::WatchRunsResponse message;
    pb::OutboundCallRun found;
    while (reader->Read(&message)) {
      if (message.run().id() == run_id) {
        found = message.run();
        break;
      }
    }
    EXPECT_EQ(found.id(), run_id) << callers_[kind].name << ": run not in the stream";
    context->TryCancel();
    reader->Finish();
    return found;
  };

  for (CallerKind kind : {CallerKind::kOwnerA, CallerKind::kAdminA, CallerKind::kAgentA}) {
    SCOPED_TRACE(callers_[kind].name);
    for (const pb::OutboundCallRun& run : {get(kind), list(kind), watch_run(kind)}) {
      EXPECT_EQ(run.locked_by_worker(), "") << run.ShortDebugString();
      EXPECT_TRUE(run.has_lock_ts()) << "a tenant still sees that the run is held";
    }
    const pb::OutboundCallRun streamed = watch_runs(kind);
    EXPECT_EQ(streamed.locked_by_worker(), "") << streamed.ShortDebugString();
    EXPECT_TRUE(streamed.has_lock_ts());
  }
  // A change answered to a tenant hides it too.
  {
    pb::PauseRunRequest request;
    request.set_run_id(run_id);
    pb::OutboundCallRun paused;
    ASSERT_TRUE(
        stub().PauseRun(ContextFor(callers_[CallerKind::kOwnerA]).get(), request, &paused).ok());
    EXPECT_EQ(paused.locked_by_worker(), "");
    EXPECT_TRUE(paused.has_lock_ts());
  }
  for (CallerKind kind : {CallerKind::kSystemAdminNamingA, CallerKind::kSystemAdminNamingNone}) {
    SCOPED_TRACE(callers_[kind].name);
    if (kind == CallerKind::kSystemAdminNamingA) {
      EXPECT_EQ(get(kind).locked_by_worker(), worker);
      EXPECT_EQ(watch_run(kind).locked_by_worker(), worker);
    }
    EXPECT_EQ(list(kind).locked_by_worker(), worker);
    EXPECT_EQ(watch_runs(kind).locked_by_worker(), worker);
  }
}

}  // namespace
}  // namespace campaign::testing
