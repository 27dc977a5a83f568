// RunService's own policy, against a fake repository (no PostgreSQL):
// authorisation and the business of each call, validation before any store
// call, auditing of NOT_FOUND, paging tokens bound to their filter, the
// CreateRun digest, and store errors passed through unchanged.
#include "server/service/run_service.h"

#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/store/run_repository.h"
#include "server/util/crypto.h"
#include "server/util/logging.h"

namespace campaign {
namespace {

constexpr int64_t kBusiness = 7;
constexpr int64_t kOtherBusiness = 8;

// Keeps runs in memory with the contract of store::RunRepository, and records
// every call so tests can assert what reached the store (and what did not).
class FakeRunRepository : public store::RunRepository {
 public:
  // Adds a run of `business_id` with `jobs` jobs; returns its id.
  int64_t AddRun(int64_t business_id, RunStatus status = RunStatus::kRunning, int jobs = 0) {
    Run run;
    run.id = next_run_id_++;
    run.business_id = business_id;
    run.status = status;
    run.total_leads = jobs;
    runs_[run.id] = run;
    for (int i = 0; i < jobs; ++i) {
      Job job;
      job.id = next_job_id_++;
      job.run_id = run.id;
      job.business_id = business_id;
      job.lead_id = i + 1;
      job.status = JobStatus::kQueued;
      jobs_.push_back(job);
    }
    return run.id;
  }

  // Names of the calls made, in order ("CreateRun", "RunOwner", ...).
  const std::vector<std::string>& calls() const { return calls_; }
  // Every NewRun CreateRun was given.
  const std::vector<NewRun>& created() const { return created_; }
  // The hang_up of every ApplyAction, in order.
  const std::vector<bool>& hang_ups() const { return hang_ups_; }
  // The leads of the last AddLeads.
  const std::vector<Lead>& last_added() const { return last_added_; }
  // The zone specs and caller ids of the last AddLeads.
  const std::vector<std::string>& last_added_time_zones() const { return last_added_time_zones_; }
  const std::vector<std::string>& last_added_caller_ids() const { return last_added_caller_ids_; }
  // Gives run `run_id` a caller id pool.
  void SetCallerIds(int64_t run_id, std::vector<std::string> pool, bool local_presence) {
    runs_[run_id].caller_ids = std::move(pool);
    runs_[run_id].local_presence = local_presence;
  }
  // The filter of the last ListRuns.
  const std::optional<int64_t>& last_list_business() const { return last_list_business_; }
  // Makes the next store call (other than RunOwner) fail with `status`.
  void FailNext(absl::Status status) { fail_next_ = std::move(status); }

  absl::StatusOr<store::CreatedRun> CreateRun(const NewRun& run) override {
    calls_.push_back("CreateRun");
    if (absl::Status s = TakeFailure(); !s.ok()) return s;
    created_.push_back(run);
    for (const auto& [id, existing] : runs_) {
      if (existing.business_id != run.business_id || existing.request_id != run.request_id) {
        continue;
      }
      if (digests_[id] != run.request_digest) {
        return absl::AlreadyExistsError("request_id was used for a different request");
      }
      return store::CreatedRun{existing, /*created=*/false};
    }
    const int64_t id =
        AddRun(run.business_id, run.start_paused ? RunStatus::kPaused : RunStatus::kPending);
    runs_[id].request_id = run.request_id;
    runs_[id].concurrency = run.concurrency;
    runs_[id].total_leads = static_cast<int64_t>(run.leads.size());
    digests_[id] = run.request_digest;
    return store::CreatedRun{runs_[id], /*created=*/true};
  }

  absl::StatusOr<store::AddedLeads> AddLeads(
      int64_t business_id, int64_t run_id, const std::vector<Lead>& leads,
      const std::vector<std::string>& lead_time_zones,
      const std::vector<std::string>& lead_caller_ids) override {
    calls_.push_back("AddLeads");
    if (absl::Status s = TakeFailure(); !s.ok()) return s;
    last_added_ = leads;
    last_added_time_zones_ = lead_time_zones;
    last_added_caller_ids_ = lead_caller_ids;
    absl::StatusOr<Run*> run = Find(business_id, run_id);
    if (!run.ok()) return run.status();
    (*run)->total_leads += static_cast<int64_t>(leads.size());
    return store::AddedLeads{**run, static_cast<int64_t>(leads.size()), /*skipped=*/1};
  }

  absl::StatusOr<Business> GetBusiness(int64_t business_id) override {
    calls_.push_back("GetBusiness");
    if (absl::Status s = TakeFailure(); !s.ok()) return s;
    if (business_id != kBusiness && business_id != kOtherBusiness) {
      return absl::NotFoundError(absl::StrCat("business ", business_id, " not found"));
    }
    Business business;
    business.id = business_id;
    business.name = absl::StrCat("business ", business_id);
    business.max_calls_per_second = 2.5;
    return business;
  }

  absl::StatusOr<campaign::Run> GetRun(int64_t business_id, int64_t run_id) override {
    calls_.push_back("GetRun");
    if (absl::Status s = TakeFailure(); !s.ok()) return s;
    absl::StatusOr<Run*> run = Find(business_id, run_id);
    if (!run.ok()) return run.status();
    return **run;
  }

  absl::StatusOr<store::Page<Run>> ListRuns(std::optional<int64_t> business_id,
                                            std::optional<RunStatus> status,
                                            std::optional<int64_t> after_id,
                                            int32_t limit) override {
    calls_.push_back("ListRuns");
    if (absl::Status s = TakeFailure(); !s.ok()) return s;
    last_list_business_ = business_id;
    store::Page<Run> page;
    for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
      const Run& run = it->second;
      if (business_id && run.business_id != *business_id) continue;
      if (status && run.status != *status) continue;
      if (after_id && run.id >= *after_id) continue;
      if (static_cast<int32_t>(page.items.size()) == limit) {
        page.next_after_id = page.items.back().id;
        break;
      }
      page.items.push_back(run);
    }
    return page;
  }

  absl::StatusOr<store::Page<Job>> ListJobs(int64_t business_id, int64_t run_id,
                                            std::optional<JobStatus> status,
                                            std::optional<int64_t> after_id,
                                            int32_t limit) override {
    calls_.push_back("ListJobs");
    if (absl::Status s = TakeFailure(); !s.ok()) return s;
    absl::StatusOr<Run*> run = Find(business_id, run_id);
    if (!run.ok()) return run.status();
    store::Page<Job> page;
    for (const Job& job : jobs_) {
      if (job.run_id != run_id) continue;
      if (status && job.status != *status) continue;
      if (after_id && job.id <= *after_id) continue;
      if (static_cast<int32_t>(page.items.size()) == limit) {
        page.next_after_id = page.items.back().id;
        break;
      }
      page.items.push_back(job);
    }
    return page;
  }

  absl::StatusOr<store::ChangedRun> ApplyAction(int64_t business_id, int64_t run_id,
                                                RunAction action, bool hang_up) override {
    calls_.push_back(absl::StrCat("ApplyAction:", RunActionName(action)));
    hang_ups_.push_back(hang_up);
    if (absl::Status s = TakeFailure(); !s.ok()) return s;
    absl::StatusOr<Run*> run = Find(business_id, run_id);
    if (!run.ok()) return run.status();
    (*run)->status = action == RunAction::kPause ? RunStatus::kPaused : RunStatus::kStopped;
    return store::ChangedRun{**run, /*cancelled_jobs=*/3};
  }

  absl::StatusOr<std::optional<int64_t>> RunOwner(int64_t run_id) override {
    calls_.push_back("RunOwner");
    auto it = runs_.find(run_id);
    if (it == runs_.end()) return std::optional<int64_t>();
    return std::optional<int64_t>(it->second.business_id);
  }

 private:
  absl::StatusOr<Run*> Find(int64_t business_id, int64_t run_id) {
    auto it = runs_.find(run_id);
    if (it == runs_.end() || it->second.business_id != business_id) {
      return absl::NotFoundError(store::RunNotFoundMessage(run_id));
    }
    return &it->second;
  }

  absl::Status TakeFailure() { return std::exchange(fail_next_, absl::OkStatus()); }

  std::map<int64_t, Run> runs_;
  std::map<int64_t, std::string> digests_;
  std::vector<Job> jobs_;
  int64_t next_run_id_ = 100;
  int64_t next_job_id_ = 1000;
  std::vector<std::string> calls_;
  std::vector<NewRun> created_;
  std::vector<bool> hang_ups_;
  std::vector<Lead> last_added_;
  std::vector<std::string> last_added_time_zones_;
  std::vector<std::string> last_added_caller_ids_;
  std::optional<int64_t> last_list_business_;
  absl::Status fail_next_;
};

// Captures what spdlog's default logger writes while it lives.
class CapturedLog {
 public:
  CapturedLog()
      : previous_(spdlog::default_logger()),
        sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink_));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }

  std::string text() const { return out_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

Caller Tenant(Role role, int64_t business_id = kBusiness, std::string x_business_id = "") {
  return Caller{Principal{/*api_key_id=*/11, role, business_id, /*user_id=*/42},
                std::move(x_business_id)};
}

Caller SystemAdmin(std::string x_business_id) {
  return Caller{Principal{/*api_key_id=*/12, Role::kSystemAdmin, std::nullopt, /*user_id=*/0},
                std::move(x_business_id)};
}

std::vector<Lead> TwoLeads() {
  return {{1, "+1 415 555 0101", "Ada"}, {2, "+14155550102", "Grace"}};
}

ListRunsInput Runs(int32_t page_size = 0, std::string page_token = "",
                   std::optional<RunStatus> status = std::nullopt) {
  ListRunsInput input;
  input.page_size = page_size;
  input.page_token = std::move(page_token);
  input.status = status;
  return input;
}

ListJobsInput Jobs(int64_t run_id, int32_t page_size = 0, std::string page_token = "",
                   std::optional<JobStatus> status = std::nullopt) {
  ListJobsInput input;
  input.run_id = run_id;
  input.page_size = page_size;
  input.page_token = std::move(page_token);
  input.status = status;
  return input;
}

CreateRunInput Input(std::string request_id = "req-1") {
  CreateRunInput input;
  input.request_id = std::move(request_id);
  input.concurrency = 2;
  input.leads = TwoLeads();
  return input;
}

class RunServiceTest : public ::testing::Test {
 protected:
  FakeRunRepository store_;
  RunService service_{&store_, Limits{/*max_concurrency=*/10, /*max_leads_per_request=*/3}};
};

// --- Authorisation and the business of the call ----------------------------

TEST_F(RunServiceTest, SystemAdminsReadAnyBusinessTenantsOnlyTheirOwn) {
  absl::StatusOr<Business> other = service_.GetBusiness(SystemAdmin(""), kOtherBusiness);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->id, kOtherBusiness);
  EXPECT_EQ(other->max_calls_per_second, 2.5);
  EXPECT_EQ(service_.GetBusiness(SystemAdmin(""), 999).status().code(),
            absl::StatusCode::kNotFound);
  for (Role role : {Role::kOwner, Role::kAdmin, Role::kAgent}) {
    absl::StatusOr<Business> own = service_.GetBusiness(Tenant(role), kBusiness);
    ASSERT_TRUE(own.ok()) << RoleName(role) << ": " << own.status();
    EXPECT_EQ(own->id, kBusiness);
    // Another business, existing or not: refused the same way, unread.
    EXPECT_EQ(service_.GetBusiness(Tenant(role), kOtherBusiness).status().code(),
              absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(service_.GetBusiness(Tenant(role), 999).status().code(),
              absl::StatusCode::kPermissionDenied);
  }
  EXPECT_EQ(service_.GetBusiness(SystemAdmin(""), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<std::string> expected = {"GetBusiness", "GetBusiness", "GetBusiness",
                                             "GetBusiness", "GetBusiness"};
  EXPECT_EQ(store_.calls(), expected);
}

TEST_F(RunServiceTest, AgentsMayReadAndControlButNotWrite) {
  const int64_t run_id = store_.AddRun(kBusiness);
  const Caller agent = Tenant(Role::kAgent);

  absl::StatusOr<CreateRunOutput> created = service_.CreateRun(agent, Input());
  EXPECT_EQ(created.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(created.status().message(), "agent role may not create runs"))
      << created.status();
  EXPECT_EQ(service_.AddLeads(agent, run_id, TwoLeads()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(store_.calls().empty());

  EXPECT_TRUE(service_.GetRun(agent, run_id).ok());
  EXPECT_TRUE(service_.ListRuns(agent, Runs()).ok());
  EXPECT_TRUE(service_.ListJobs(agent, Jobs(run_id)).ok());
  EXPECT_TRUE(service_.ChangeRun(agent, run_id, RunAction::kPause).ok());
  EXPECT_TRUE(service_.StopRun(agent, run_id).ok());
}

TEST_F(RunServiceTest, OwnersAndAdminsMayWrite) {
  for (Role role : {Role::kOwner, Role::kAdmin}) {
    absl::StatusOr<CreateRunOutput> created =
        service_.CreateRun(Tenant(role), Input(absl::StrCat("req-", RoleName(role))));
    ASSERT_TRUE(created.ok()) << RoleName(role) << ": " << created.status();
    EXPECT_EQ(created->run.business_id, kBusiness);
  }
}

TEST_F(RunServiceTest, TenantsActForTheirOwnBusinessAndMayNameIt) {
  service_.CreateRun(Tenant(Role::kOwner, kBusiness, absl::StrCat(kBusiness)), Input())
      .IgnoreError();
  ASSERT_EQ(store_.created().size(), 1u);
  EXPECT_EQ(store_.created()[0].business_id, kBusiness);
  EXPECT_EQ(store_.created()[0].created_by_user_id, 42);
}

TEST_F(RunServiceTest, ATenantNamingAnotherBusinessIsRefusedAndLoggedBeforeAnyStoreCall) {
  CapturedLog log;
  const int64_t theirs = store_.AddRun(kOtherBusiness);
  const Caller probe = Tenant(Role::kOwner, kBusiness, absl::StrCat(kOtherBusiness));

  EXPECT_EQ(service_.GetRun(probe, theirs).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(service_.ListRuns(probe, Runs()).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(service_.StopRun(probe, theirs).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(service_.CreateRun(probe, Input()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(store_.calls().empty());
  EXPECT_TRUE(absl::StrContains(log.text(), absl::StrCat("named x-business-id ", kOtherBusiness,
                                                         " of another business; refused")))
      << log.text();
}

TEST_F(RunServiceTest, MalformedBusinessIdIsInvalidArgument) {
  EXPECT_EQ(service_.GetRun(Tenant(Role::kOwner, kBusiness, "7x"), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.ListRuns(SystemAdmin("-3"), Runs()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_.calls().empty());
}

TEST_F(RunServiceTest, SystemAdminsNameTheBusinessExceptWhenListing) {
  const int64_t ours = store_.AddRun(kBusiness);
  store_.AddRun(kOtherBusiness);

  // A call on one run needs the business named.
  EXPECT_EQ(service_.GetRun(SystemAdmin(""), ours).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.CreateRun(SystemAdmin(""), Input()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_.calls().empty());

  absl::StatusOr<campaign::Run> run = service_.GetRun(SystemAdmin(absl::StrCat(kBusiness)), ours);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->id, ours);

  // Listing without a business spans all of them; with one, only it.
  absl::StatusOr<Listing<campaign::Run>> all = service_.ListRuns(SystemAdmin(""), Runs());
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->items.size(), 2u);
  EXPECT_EQ(store_.last_list_business(), std::nullopt);
  absl::StatusOr<Listing<campaign::Run>> one =
      service_.ListRuns(SystemAdmin(absl::StrCat(kOtherBusiness)), Runs());
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(store_.last_list_business(), kOtherBusiness);
  ASSERT_EQ(one->items.size(), 1u);
  EXPECT_EQ(one->items[0].business_id, kOtherBusiness);
}

TEST_F(RunServiceTest, TenantListingsAreScopedToTheirBusiness) {
  store_.AddRun(kBusiness);
  store_.AddRun(kOtherBusiness);
  absl::StatusOr<Listing<campaign::Run>> listing = service_.ListRuns(Tenant(Role::kAgent), Runs());
  ASSERT_TRUE(listing.ok()) << listing.status();
  EXPECT_EQ(store_.last_list_business(), kBusiness);
  ASSERT_EQ(listing->items.size(), 1u);
  EXPECT_EQ(listing->items[0].business_id, kBusiness);
}

// --- NOT_FOUND auditing ----------------------------------------------------

TEST_F(RunServiceTest, AnotherBusinesssRunIsNotFoundLikeAMissingOneButLogged) {
  const int64_t theirs = store_.AddRun(kOtherBusiness, RunStatus::kRunning, /*jobs=*/2);
  const int64_t missing = 999;
  const Caller owner = Tenant(Role::kOwner);

  CapturedLog log;
  absl::StatusOr<campaign::Run> probe = service_.GetRun(owner, theirs);
  absl::StatusOr<campaign::Run> absent = service_.GetRun(owner, missing);
  ASSERT_EQ(probe.status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(absent.status().code(), absl::StatusCode::kNotFound);
  // Indistinguishable to the caller: the same wording, with the id asked for.
  EXPECT_EQ(probe.status().message(), store::RunNotFoundMessage(theirs));
  EXPECT_EQ(absent.status().message(), store::RunNotFoundMessage(missing));
  // Only the probe of an existing run of another business is a security event.
  const std::string logged = log.text();
  EXPECT_TRUE(absl::StrContains(
      logged, absl::StrCat("acting for business ", kBusiness, " addressed run ", theirs,
                           " of business ", kOtherBusiness, "; answered NOT_FOUND")))
      << logged;
  EXPECT_FALSE(absl::StrContains(logged, absl::StrCat("addressed run ", missing))) << logged;

  // Every call on one run audits the same way.
  EXPECT_EQ(service_.AddLeads(owner, theirs, TwoLeads()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(service_.ListJobs(owner, Jobs(theirs)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service_.StopRun(owner, theirs).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service_.ChangeRun(owner, theirs, RunAction::kCancel).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(std::count(store_.calls().begin(), store_.calls().end(), "RunOwner"), 6);
}

TEST_F(RunServiceTest, OtherStoreErrorsPassThroughUnchangedAndUnaudited) {
  const int64_t run_id = store_.AddRun(kBusiness);
  const Caller owner = Tenant(Role::kOwner);
  const absl::Status precondition = absl::FailedPreconditionError("run 100 is completed");

  store_.FailNext(precondition);
  EXPECT_EQ(service_.ChangeRun(owner, run_id, RunAction::kResume).status(), precondition);
  store_.FailNext(absl::UnavailableError("database away"));
  EXPECT_EQ(service_.GetRun(owner, run_id).status(), absl::UnavailableError("database away"));
  store_.FailNext(precondition);
  EXPECT_EQ(service_.AddLeads(owner, run_id, TwoLeads()).status(), precondition);
  store_.FailNext(absl::DeadlineExceededError("slow"));
  EXPECT_EQ(service_.ListRuns(owner, Runs()).status(), absl::DeadlineExceededError("slow"));
  store_.FailNext(absl::InternalError("broken"));
  EXPECT_EQ(service_.CreateRun(owner, Input()).status(), absl::InternalError("broken"));
  EXPECT_EQ(std::count(store_.calls().begin(), store_.calls().end(), "RunOwner"), 0);
}

// --- Validation before any store call --------------------------------------

TEST_F(RunServiceTest, InvalidCreateRunRequestsNeverReachTheStore) {
  const Caller owner = Tenant(Role::kOwner);
  auto with = [](auto change) {
    CreateRunInput input = Input();
    change(input);
    return input;
  };
  const std::vector<std::pair<std::string, CreateRunInput>> invalid = {
      {"no request_id", with([](CreateRunInput& in) { in.request_id.clear(); })},
      {"zero concurrency", with([](CreateRunInput& in) { in.concurrency = 0; })},
      {"concurrency over the limit", with([](CreateRunInput& in) { in.concurrency = 11; })},
      {"negative outbound_list_id", with([](CreateRunInput& in) { in.outbound_list_id = -1; })},
      {"negative project_id", with([](CreateRunInput& in) { in.project_id = -1; })},
      {"no leads", with([](CreateRunInput& in) { in.leads.clear(); })},
      {"too many leads", with([](CreateRunInput& in) {
         in.leads = {{1, "+14155550101", ""},
                     {2, "+14155550102", ""},
                     {3, "+14155550103", ""},
                     {4, "+14155550104", ""}};
       })},
      {"a bad phone", with([](CreateRunInput& in) { in.leads[1].phone = "call me"; })},
  };
  for (const auto& [what, input] : invalid) {
    EXPECT_EQ(service_.CreateRun(owner, input).status().code(), absl::StatusCode::kInvalidArgument)
        << what;
  }
  EXPECT_TRUE(store_.calls().empty());
}

TEST_F(RunServiceTest, InvalidRunIdsAndPagingNeverReachTheStore) {
  const Caller owner = Tenant(Role::kOwner);
  for (int64_t bad : {0, -5}) {
    EXPECT_EQ(service_.GetRun(owner, bad).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(service_.AddLeads(owner, bad, TwoLeads()).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(service_.ListJobs(owner, Jobs(bad)).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(service_.StopRun(owner, bad).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(service_.ChangeRun(owner, bad, RunAction::kPause).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(service_.AddLeads(owner, 1, {{1, "555", ""}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.ListRuns(owner, Runs(-1)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.ListRuns(owner, Runs(0, "not a token")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.ListJobs(owner, Jobs(1, -1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_.calls().empty());
}

// --- Leads as the store gets them ------------------------------------------

TEST_F(RunServiceTest, LeadsReachTheStoreNormalisedAndDeDuplicated) {
  const Caller owner = Tenant(Role::kOwner);
  CreateRunInput input = Input();
  input.leads.push_back({1, "+14155550109", "Ada again"});  // a repeated lead_id
  absl::StatusOr<CreateRunOutput> created = service_.CreateRun(owner, input);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->duplicate_leads_dropped, 1);
  ASSERT_EQ(store_.created().size(), 1u);
  const NewRun& run = store_.created()[0];
  ASSERT_EQ(run.leads.size(), 2u);
  EXPECT_EQ(run.leads[0].phone, "+14155550101");
  EXPECT_EQ(run.leads[0].name, "Ada");
  EXPECT_EQ(run.request_id, "req-1");
  EXPECT_EQ(run.concurrency, 2);

  // AddLeads: duplicates within the request add to those the store skipped.
  absl::StatusOr<AddLeadsOutput> added = service_.AddLeads(owner, created->run.id, input.leads);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(store_.last_added().size(), 2u);
  EXPECT_EQ(added->added, 2);
  EXPECT_EQ(added->duplicates_skipped, 1 + 1);
}

// --- CreateRun idempotency ---------------------------------------------------

TEST_F(RunServiceTest, ARetryWithTheSameBodyReturnsTheSameRun) {
  const Caller owner = Tenant(Role::kOwner);
  absl::StatusOr<CreateRunOutput> first = service_.CreateRun(owner, Input());
  ASSERT_TRUE(first.ok()) << first.status();
  // The same request, its phones formatted differently: the same run.
  CreateRunInput retry = Input();
  retry.leads[0].phone = "+1-415-555-0101";
  absl::StatusOr<CreateRunOutput> second = service_.CreateRun(owner, retry);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->run.id, first->run.id);
  ASSERT_EQ(store_.created().size(), 2u);
  EXPECT_EQ(store_.created()[0].request_digest, store_.created()[1].request_digest);
}

TEST_F(RunServiceTest, ARetriedRequestIdWithADifferentBodyIsRefused) {
  const Caller owner = Tenant(Role::kOwner);
  ASSERT_TRUE(service_.CreateRun(owner, Input()).ok());
  const std::vector<std::pair<std::string, void (*)(CreateRunInput&)>> changes = {
      {"concurrency", [](CreateRunInput& in) { in.concurrency = 3; }},
      {"outbound_list_id", [](CreateRunInput& in) { in.outbound_list_id = 5; }},
      {"project_id", [](CreateRunInput& in) { in.project_id = 5; }},
      {"start_paused", [](CreateRunInput& in) { in.start_paused = true; }},
      {"a phone", [](CreateRunInput& in) { in.leads[1].phone = "+14155550199"; }},
      {"a name", [](CreateRunInput& in) { in.leads[1].name = "Hopper"; }},
      {"a lead_id", [](CreateRunInput& in) { in.leads[1].lead_id = 3; }},
      {"the lead order", [](CreateRunInput& in) { std::swap(in.leads[0], in.leads[1]); }},
      {"one lead fewer", [](CreateRunInput& in) { in.leads.pop_back(); }},
      {"caller_id", [](CreateRunInput& in) { in.call_settings.caller_id = "+14155550100"; }},
      {"twiml_url",
       [](CreateRunInput& in) { in.call_settings.twiml_url = "https://example.com/twiml"; }},
      {"ring_timeout_seconds",
       [](CreateRunInput& in) { in.call_settings.ring_timeout_seconds = 45; }},
      {"machine_detection",
       [](CreateRunInput& in) {
         in.call_settings.machine_detection = MachineDetection::kDetectMessageEnd;
       }},
      {"a lead's time_zone", [](CreateRunInput& in) { in.leads[1].time_zone = "Europe/Paris"; }},
      {"policy.max_attempts", [](CreateRunInput& in) { in.policy.max_attempts = 3; }},
      {"policy.calling_windows",
       [](CreateRunInput& in) {
         in.policy.calling_windows = {{1, 540, 1020}};
       }},
      {"policy.default_time_zone",
       [](CreateRunInput& in) { in.policy.default_time_zone = "America/Chicago"; }},
      {"caller_ids", [](CreateRunInput& in) { in.caller_ids = {"+14155550100"}; }},
      {"local_presence",
       [](CreateRunInput& in) {
         in.caller_ids = {"+14155550100"};
         in.local_presence = true;
       }},
      {"start_at", [](CreateRunInput& in) { in.start_at = absl::FromUnixSeconds(1'000'000); }},
      {"end_at", [](CreateRunInput& in) { in.end_at = absl::Now() + absl::Hours(24); }},
  };
  for (const auto& [what, change] : changes) {
    CreateRunInput input = Input();
    change(input);
    EXPECT_EQ(service_.CreateRun(owner, input).status().code(), absl::StatusCode::kAlreadyExists)
        << what;
  }
}

TEST(CreateRunDigestTest, CoversTheBodyButNotTheRequestId) {
  const CreateRunInput a = Input("req-a");
  const CreateRunInput b = Input("req-b");
  EXPECT_EQ(CreateRunDigest(a, a.leads, {}), CreateRunDigest(b, b.leads, {}));
  EXPECT_EQ(CreateRunDigest(a, a.leads, {}).size(), 64u);  // SHA-256, hex
  // Field boundaries are encoded: moving characters between fields changes it.
  std::vector<Lead> one = {{1, "+1415", "5550101"}};
  std::vector<Lead> other = {{1, "+14155550101", ""}};
  EXPECT_NE(CreateRunDigest(a, one, {}), CreateRunDigest(a, other, {}));
  CallSettings url_in_caller_id;
  url_in_caller_id.caller_id = "+1415https://x";
  CallSettings url_moved;
  url_moved.caller_id = "+1415";
  url_moved.twiml_url = "https://x";
  EXPECT_NE(CreateRunDigest(a, a.leads, url_in_caller_id), CreateRunDigest(a, a.leads, url_moved));
}

TEST(CreateRunDigestTest, WithoutCallSettingsItIsTheDigestOfEarlierVersions) {
  // A request without call settings digests exactly as before they existed,
  // so a retry across an upgrade still finds its run (value computed by the
  // version before call settings).
  CreateRunInput input;
  input.concurrency = 2;
  const std::vector<Lead> leads = {{1, "+14155550101", "Ada"}};
  EXPECT_EQ(CreateRunDigest(input, leads, {}),
            Sha256Hex("create-run/v1;2;0;0;0;1;1;12:+14155550101;3:Ada;"));
}

TEST(CreateRunDigestTest, IssueThirteensFieldsChangeItOnlyWhenGiven) {
  CreateRunInput input;
  input.concurrency = 2;
  const std::vector<Lead> leads = {{1, "+14155550101", "Ada"}};
  const std::string before = Sha256Hex("create-run/v1;2;0;0;0;1;1;12:+14155550101;3:Ada;");
  // Not given (empty lists, empty zones, unset times, false): the old digest.
  EXPECT_EQ(CreateRunDigest(input, leads, {}, {}), before);
  // Each one given: a different digest, and different from each other.
  std::set<std::string> digests = {before};
  const std::vector<Lead> zoned = {{1, "+14155550101", "Ada", "America/New_York"}};
  EXPECT_TRUE(digests.insert(CreateRunDigest(input, zoned, {})).second);
  CreateRunInput with_policy = input;
  with_policy.policy.max_attempts = 2;
  EXPECT_TRUE(digests.insert(CreateRunDigest(with_policy, leads, {})).second);
  with_policy.policy.max_attempts = 0;
  with_policy.policy.max_dials_per_number = 2;
  EXPECT_TRUE(digests.insert(CreateRunDigest(with_policy, leads, {})).second)
      << "fields are told apart by position";
  EXPECT_TRUE(digests.insert(CreateRunDigest(input, leads, {}, {"+14155550100"})).second);
  CreateRunInput local = input;
  local.local_presence = true;
  EXPECT_TRUE(digests.insert(CreateRunDigest(local, leads, {}, {"+14155550100"})).second);
  CreateRunInput starting = input;
  starting.start_at = absl::FromUnixSeconds(100);
  EXPECT_TRUE(digests.insert(CreateRunDigest(starting, leads, {})).second);
  CreateRunInput ending = input;
  ending.end_at = absl::FromUnixSeconds(100);
  EXPECT_TRUE(digests.insert(CreateRunDigest(ending, leads, {})).second)
      << "start_at and end_at of the same time differ";
}

TEST_F(RunServiceTest, ScheduleCallerIdsAndPolicyReachTheStoreValidated) {
  const Caller owner = Tenant(Role::kOwner);
  CreateRunInput input = Input();
  input.leads[0].time_zone = "Europe/Paris";
  input.caller_ids = {"+1 415 555 0100", "+33 1 23 45 67 89"};
  input.local_presence = true;
  input.start_at = absl::Now() - absl::Hours(1);  // in the past: allowed
  input.end_at = absl::Now() + absl::Hours(1);
  input.policy.max_attempts = 3;
  input.policy.default_time_zone = "America/Chicago";
  absl::StatusOr<CreateRunOutput> created = service_.CreateRun(owner, input);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(store_.created().size(), 1u);
  const NewRun& run = store_.created()[0];
  EXPECT_EQ(run.caller_ids, (std::vector<std::string>{"+14155550100", "+33123456789"}));
  EXPECT_TRUE(run.local_presence);
  EXPECT_EQ(run.start_at, input.start_at);
  EXPECT_EQ(run.end_at, input.end_at);
  EXPECT_EQ(run.policy, input.policy);
  ASSERT_EQ(run.leads.size(), 2u);
  EXPECT_EQ(run.leads[0].time_zone, "Europe/Paris");
  // One zone spec and one caller id per lead, from the pool; the lead's own
  // zone wins over its number's.
  ASSERT_EQ(run.lead_time_zones.size(), 2u);
  EXPECT_EQ(run.lead_time_zones[0], "Europe/Paris");
  ASSERT_EQ(run.lead_caller_ids.size(), 2u);
  for (const std::string& caller_id : run.lead_caller_ids) {
    EXPECT_TRUE(caller_id == "+14155550100" || caller_id == "+33123456789") << caller_id;
  }

  // AddLeads resolves with the run's pool the same way.
  store_.SetCallerIds(created->run.id, run.caller_ids, true);
  std::vector<Lead> more = {{5, "+14155550105", "Eve", "Asia/Tokyo"}};
  ASSERT_TRUE(service_.AddLeads(owner, created->run.id, more).ok());
  EXPECT_EQ(store_.last_added_time_zones(), (std::vector<std::string>{"Asia/Tokyo"}));
  ASSERT_EQ(store_.last_added_caller_ids().size(), 1u);
  EXPECT_FALSE(store_.last_added_caller_ids()[0].empty());
  EXPECT_EQ(store_.last_added()[0].time_zone, "Asia/Tokyo");
}

TEST_F(RunServiceTest, BadScheduleCallerIdsAndZonesAreRefusedBeforeTheStore) {
  const Caller owner = Tenant(Role::kOwner);
  const absl::Time now = absl::Now();
  struct Case {
    std::string what;
    std::function<void(CreateRunInput&)> change;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"end_at in the past", [&](CreateRunInput& in) { in.end_at = now - absl::Minutes(1); },
       "end_at "},
      {"end_at before start_at",
       [&](CreateRunInput& in) {
         in.start_at = now + absl::Hours(2);
         in.end_at = now + absl::Hours(1);
       },
       "must be after start_at"},
      {"a bad caller id",
       [](CreateRunInput& in) {
         in.caller_ids = {"+14155550100", "12"};
       },
       "caller_ids[1] \"12\""},
      {"a repeated caller id",
       [](CreateRunInput& in) {
         in.caller_ids = {"+14155550100", "+1 (415) 555-0100"};
       },
       "caller_ids[1]"},
      {"local presence without a pool", [](CreateRunInput& in) { in.local_presence = true; },
       "local_presence"},
      {"a lead's unknown zone", [](CreateRunInput& in) { in.leads[1].time_zone = "Mars/Olympus"; },
       "leads[1].time_zone \"Mars/Olympus\" (lead_id 2)"},
      {"a policy out of range",
       [](CreateRunInput& in) {
         in.policy.calling_windows = {{1, 600, 540}};
       },
       "policy.calling_windows[0]"},
      {"a policy's unknown zone",
       [](CreateRunInput& in) { in.policy.default_time_zone = "Mars/Olympus"; },
       "policy.default_time_zone"},
  };
  for (const Case& c : cases) {
    CreateRunInput input = Input();
    c.change(input);
    absl::StatusOr<CreateRunOutput> refused = service_.CreateRun(owner, input);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_TRUE(absl::StrContains(refused.status().message(), c.message_part))
        << c.what << ": " << refused.status();
  }
  std::vector<Lead> zoned = {{9, "+14155550109", "", "../etc/passwd"}};
  EXPECT_EQ(service_.AddLeads(owner, store_.AddRun(kBusiness), zoned).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_.created().empty());
  EXPECT_TRUE(store_.last_added().empty());
}

TEST_F(RunServiceTest, CallSettingsReachTheStoreNormalisedAndBadOnesAreRefused) {
  const Caller owner = Tenant(Role::kOwner);
  CreateRunInput input = Input();
  input.call_settings.caller_id = "+1 415-555-0100";
  input.call_settings.twiml_url = "https://example.com/twiml";
  input.call_settings.ring_timeout_seconds = 45;
  input.call_settings.machine_detection = MachineDetection::kEnable;
  ASSERT_TRUE(service_.CreateRun(owner, input).ok());
  ASSERT_EQ(store_.created().size(), 1u);
  const CallSettings& stored = store_.created()[0].call_settings;
  EXPECT_EQ(stored.caller_id, "+14155550100");
  EXPECT_EQ(stored.twiml_url, "https://example.com/twiml");
  EXPECT_EQ(stored.ring_timeout_seconds, 45);
  EXPECT_EQ(stored.machine_detection, MachineDetection::kEnable);

  input.request_id = "req-bad";
  input.call_settings.twiml_url = "http://example.com/twiml";
  absl::StatusOr<CreateRunOutput> refused = service_.CreateRun(owner, input);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "call_settings.twiml_url \"http://example.com/twiml\" must be https (http only to "
            "127.0.0.1, [::1] or localhost)");
  EXPECT_EQ(store_.created().size(), 1u) << "nothing reaches the store";
}

// --- Paging ------------------------------------------------------------------

TEST_F(RunServiceTest, RunPagesFollowEachOtherAndTheirTokensAreBoundToTheFilter) {
  for (int i = 0; i < 5; ++i) store_.AddRun(kBusiness);
  const Caller agent = Tenant(Role::kAgent);

  std::vector<int64_t> seen;
  ListRunsInput input = Runs(2);
  for (int page = 0; page < 3; ++page) {
    absl::StatusOr<Listing<campaign::Run>> listing = service_.ListRuns(agent, input);
    ASSERT_TRUE(listing.ok()) << listing.status();
    for (const campaign::Run& run : listing->items) seen.push_back(run.id);
    EXPECT_EQ(listing->next_page_token.empty(), page == 2);
    input.page_token = listing->next_page_token;
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{104, 103, 102, 101, 100}));

  absl::StatusOr<Listing<campaign::Run>> first = service_.ListRuns(agent, Runs(2));
  ASSERT_TRUE(first.ok());
  const std::string token = first->next_page_token;
  const size_t calls = store_.calls().size();
  // Replayed with another status filter, by another business, or as a jobs
  // token: refused before the store is asked.
  EXPECT_EQ(service_.ListRuns(agent, Runs(2, token, RunStatus::kRunning)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.ListRuns(Tenant(Role::kAgent, kOtherBusiness), Runs(2, token)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.ListRuns(SystemAdmin(""), Runs(2, token)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.ListJobs(agent, Jobs(100, 2, token)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_.calls().size(), calls);
  // The same filter through a system admin naming the business is the same query.
  EXPECT_TRUE(service_.ListRuns(SystemAdmin(absl::StrCat(kBusiness)), Runs(2, token)).ok());
}

TEST_F(RunServiceTest, JobPagesAreBoundToTheirRunAndFilter) {
  const int64_t run_a = store_.AddRun(kBusiness, RunStatus::kRunning, /*jobs=*/3);
  const int64_t run_b = store_.AddRun(kBusiness, RunStatus::kRunning, /*jobs=*/3);
  const Caller agent = Tenant(Role::kAgent);

  absl::StatusOr<Listing<Job>> first = service_.ListJobs(agent, Jobs(run_a, 2));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->items.size(), 2u);
  ASSERT_FALSE(first->next_page_token.empty());
  absl::StatusOr<Listing<Job>> second =
      service_.ListJobs(agent, Jobs(run_a, 2, first->next_page_token));
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->items.size(), 1u);
  EXPECT_GT(second->items[0].id, first->items[1].id);
  EXPECT_TRUE(second->next_page_token.empty());

  EXPECT_EQ(service_.ListJobs(agent, Jobs(run_b, 2, first->next_page_token)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.ListJobs(agent, Jobs(run_a, 2, first->next_page_token, JobStatus::kQueued))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// --- State changes -------------------------------------------------------------

TEST_F(RunServiceTest, StopAndChangeApplyTheActionAskedFor) {
  const int64_t run_id = store_.AddRun(kBusiness);
  const Caller agent = Tenant(Role::kAgent);

  absl::StatusOr<StopRunOutput> stopped = service_.StopRun(agent, run_id);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->run.status, RunStatus::kStopped);
  EXPECT_EQ(stopped->cancelled_jobs, 3);
  for (RunAction action : {RunAction::kCancel, RunAction::kPause, RunAction::kResume}) {
    EXPECT_TRUE(service_.ChangeRun(agent, run_id, action).ok());
  }
  EXPECT_EQ(store_.calls(), (std::vector<std::string>{"ApplyAction:stop", "ApplyAction:cancel",
                                                      "ApplyAction:pause", "ApplyAction:resume"}));
  EXPECT_EQ(store_.hang_ups(), (std::vector<bool>{true, true, true, true})) << "the default";
}

TEST_F(RunServiceTest, StopAndCancelPassTheirHangUpChoiceToTheStore) {
  const int64_t run_id = store_.AddRun(kBusiness);
  const Caller agent = Tenant(Role::kAgent);
  ASSERT_TRUE(service_.StopRun(agent, run_id, /*hang_up=*/false).ok());
  ASSERT_TRUE(service_.ChangeRun(agent, run_id, RunAction::kCancel, /*hang_up=*/false).ok());
  EXPECT_EQ(store_.hang_ups(), (std::vector<bool>{false, false}));
}

}  // namespace
}  // namespace campaign
