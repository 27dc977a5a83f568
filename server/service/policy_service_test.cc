// PolicyService's own logic against fake repositories (no PostgreSQL): who may
// read and write, the update mask, validation before any store call, the
// effective policy from the three layers, and NOT_FOUND auditing.
#include "server/service/policy_service.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/rules/dialing_rules.h"

namespace campaign {
namespace {

constexpr int64_t kBusiness = 7;

// Policies in memory; records the writes.
class FakePolicyRepository : public store::PolicyRepository {
 public:
  absl::StatusOr<store::StoredPolicies> GetPolicies(int64_t business_id, int64_t run_id) override {
    ++calls_;
    if (run_id != 0 && !runs_.contains(run_id)) {
      return absl::NotFoundError(store::RunNotFoundMessage(run_id));
    }
    return store::StoredPolicies{rows_[{business_id, 0}],
                                 run_id == 0 ? DialingPolicy{} : rows_[{business_id, run_id}]};
  }
  absl::StatusOr<store::StoredPolicies> UpdatePolicy(int64_t business_id, int64_t run_id,
                                                     const DialingPolicy& values,
                                                     const store::PolicyMask& mask) override {
    ++calls_;
    if (run_id != 0 && !runs_.contains(run_id)) {
      return absl::NotFoundError(store::RunNotFoundMessage(run_id));
    }
    last_mask_ = mask;
    last_values_ = values;
    DialingPolicy& row = rows_[{business_id, run_id}];
    if (mask.max_attempts) row.max_attempts = values.max_attempts;
    if (mask.default_time_zone) row.default_time_zone = values.default_time_zone;
    if (mask.calling_windows) row.calling_windows = values.calling_windows;
    return GetPolicies(business_id, run_id);
  }

  std::map<int64_t, bool> runs_;
  std::map<std::pair<int64_t, int64_t>, DialingPolicy> rows_;
  int calls_ = 0;
  store::PolicyMask last_mask_;
  DialingPolicy last_values_;
};

// Only RunOwner is used (the NOT_FOUND audit); the rest is never called.
class OwnerOnlyRunRepository : public store::RunRepository {
 public:
  absl::StatusOr<store::CreatedRun> CreateRun(const NewRun&) override { return Unused(); }
  absl::StatusOr<store::AddedLeads> AddLeads(int64_t, int64_t, const std::vector<Lead>&,
                                             const std::vector<std::string>&,
                                             const std::vector<std::string>&) override {
    return Unused();
  }
  absl::StatusOr<Run> GetRun(int64_t, int64_t) override { return Unused(); }
  absl::StatusOr<Business> GetBusiness(int64_t) override { return Unused(); }
  absl::StatusOr<store::Page<Run>> ListRuns(std::optional<int64_t>, std::optional<RunStatus>,
                                            std::optional<int64_t>, int32_t) override {
    return Unused();
  }
  absl::StatusOr<store::Page<Job>> ListJobs(int64_t, int64_t, std::optional<JobStatus>,
                                            std::optional<int64_t>, int32_t) override {
    return Unused();
  }
  absl::StatusOr<store::ChangedRun> ApplyAction(int64_t, int64_t, RunAction, bool) override {
    return Unused();
  }
  absl::StatusOr<std::optional<int64_t>> RunOwner(int64_t run_id) override {
    ++owner_lookups;
    return run_id == 99 ? std::optional<int64_t>(8) : std::nullopt;
  }
  int owner_lookups = 0;

 private:
  static absl::Status Unused() { return absl::InternalError("not used by PolicyService"); }
};

auth::Caller Tenant(Role role, std::string x_business_id = "") {
  return auth::Caller{Principal{/*api_key_id=*/11, role, kBusiness, /*user_id=*/42},
                      std::move(x_business_id)};
}

auth::Caller SystemAdmin(std::string x_business_id) {
  return auth::Caller{Principal{/*api_key_id=*/12, Role::kSystemAdmin, std::nullopt, 0},
                      std::move(x_business_id)};
}

class PolicyServiceTest : public ::testing::Test {
 protected:
  PolicyServiceTest() { policies_.runs_[5] = true; }

  FakePolicyRepository policies_;
  OwnerOnlyRunRepository runs_;
  PolicyService service_{&policies_, &runs_, rules::ServerDefaultPolicy()};
};

TEST(PolicyMaskTest, PathsAreFieldNamesAndAnEmptyMaskIsEveryField) {
  EXPECT_EQ(*ParsePolicyMask({}), store::PolicyMask::All());
  absl::StatusOr<store::PolicyMask> mask = ParsePolicyMask({"max_attempts", "calling_windows"});
  ASSERT_TRUE(mask.ok()) << mask.status();
  store::PolicyMask expected;
  expected.max_attempts = true;
  expected.calling_windows = true;
  EXPECT_EQ(*mask, expected);
  for (const char* name : kPolicyFieldNames) {
    EXPECT_TRUE(ParsePolicyMask({name}).ok()) << name;
  }
  absl::StatusOr<store::PolicyMask> unknown = ParsePolicyMask({"max_attempts", "maxAttempts"});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(unknown.status().message(),
                               "update_mask.paths[1] \"maxAttempts\" is not a DialingPolicy field"))
      << unknown.status();
}

TEST(PolicyMaskTest, MaskedPolicyKeepsOnlyTheMaskedFields) {
  DialingPolicy policy = rules::ServerDefaultPolicy();
  store::PolicyMask mask;
  mask.max_attempts = true;
  DialingPolicy expected;
  expected.max_attempts = policy.max_attempts;
  EXPECT_EQ(MaskedPolicy(policy, mask), expected);
  EXPECT_EQ(MaskedPolicy(policy, store::PolicyMask::All()), policy);
}

TEST_F(PolicyServiceTest, AnyKeyReadsOnlyOwnersAndAdminsWrite) {
  DialingPolicy values;
  values.max_attempts = 3;
  for (Role role : {Role::kOwner, Role::kAdmin, Role::kAgent}) {
    EXPECT_TRUE(service_.GetDialingPolicy(Tenant(role), 0).ok()) << RoleName(role);
  }
  EXPECT_TRUE(service_.UpdateDialingPolicy(Tenant(Role::kOwner), 0, values, {}).ok());
  EXPECT_TRUE(service_.UpdateDialingPolicy(Tenant(Role::kAdmin), 5, values, {}).ok());
  const int calls = policies_.calls_;
  absl::StatusOr<DialingPolicy> agent =
      service_.UpdateDialingPolicy(Tenant(Role::kAgent), 0, values, {});
  EXPECT_EQ(agent.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(agent.status().message(), "change dialing policies"))
      << agent.status();
  // A system admin must name the business.
  EXPECT_EQ(service_.UpdateDialingPolicy(SystemAdmin(""), 0, values, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(policies_.calls_, calls) << "refused calls never reach the store";
  EXPECT_TRUE(service_.UpdateDialingPolicy(SystemAdmin("7"), 0, values, {}).ok());
}

TEST_F(PolicyServiceTest, TheEffectivePolicyIsRunElseBusinessElseServerDefault) {
  DialingPolicy business;
  business.max_attempts = 3;
  business.default_time_zone = "America/Chicago";
  ASSERT_TRUE(service_
                  .UpdateDialingPolicy(Tenant(Role::kOwner), 0, business,
                                       {"max_attempts", "default_time_zone"})
                  .ok());
  DialingPolicy run;
  run.max_attempts = 5;
  absl::StatusOr<DialingPolicy> effective =
      service_.UpdateDialingPolicy(Tenant(Role::kOwner), 5, run, {"max_attempts"});
  ASSERT_TRUE(effective.ok()) << effective.status();
  // Exactly rules::Effective of the three layers.
  DialingPolicy stored_run;
  stored_run.max_attempts = 5;
  EXPECT_EQ(*effective, rules::Effective(rules::ServerDefaultPolicy(), business, stored_run));
  EXPECT_EQ(effective->max_attempts, 5);
  EXPECT_EQ(effective->default_time_zone, "America/Chicago");
  EXPECT_EQ(effective->calling_windows, rules::ServerDefaultPolicy().calling_windows);
  EXPECT_EQ(*service_.GetDialingPolicy(Tenant(Role::kAgent), 5), *effective);
  EXPECT_EQ(*service_.GetDialingPolicy(Tenant(Role::kAgent), 0),
            rules::Effective(rules::ServerDefaultPolicy(), business, {}));
}

TEST_F(PolicyServiceTest, OnlyTheMaskedFieldsAreValidatedAndWritten) {
  DialingPolicy values;
  values.max_attempts = 4;
  values.default_time_zone = "not written";
  ASSERT_TRUE(service_.UpdateDialingPolicy(Tenant(Role::kOwner), 0, values, {"max_attempts"}).ok());
  EXPECT_EQ(policies_.last_values_.max_attempts, 4);
  EXPECT_EQ(policies_.last_values_.default_time_zone, "") << "unmasked fields are not written";
  store::PolicyMask expected;
  expected.max_attempts = true;
  EXPECT_EQ(policies_.last_mask_, expected);
}

TEST_F(PolicyServiceTest, BadRequestsNeverReachTheStore) {
  const auth::Caller owner = Tenant(Role::kOwner);
  EXPECT_EQ(service_.GetDialingPolicy(owner, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.UpdateDialingPolicy(owner, -1, {}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.UpdateDialingPolicy(owner, 0, {}, {"calling_window"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Out of range (rules::ValidatePolicy), named under "policy.".
  DialingPolicy bad;
  bad.max_attempts = 21;
  absl::StatusOr<DialingPolicy> refused =
      service_.UpdateDialingPolicy(owner, 0, bad, {"max_attempts"});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "policy.max_attempts"))
      << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "21")) << refused.status();
  EXPECT_EQ(policies_.calls_, 0);
  // Outside the mask it is not looked at.
  EXPECT_TRUE(service_.UpdateDialingPolicy(owner, 0, bad, {"default_time_zone"}).ok());
}

TEST_F(PolicyServiceTest, AnotherBusinesssRunIsNotFoundAndAudited) {
  const auth::Caller owner = Tenant(Role::kOwner);
  absl::StatusOr<DialingPolicy> theirs = service_.GetDialingPolicy(owner, 99);
  EXPECT_EQ(theirs.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(theirs.status().message(), store::RunNotFoundMessage(99));
  EXPECT_EQ(service_.UpdateDialingPolicy(owner, 99, {}, {}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(runs_.owner_lookups, 2);
}

}  // namespace
}  // namespace campaign
