// Unit tests of the per-call context: what MakeCallContext makes of the
// metadata a client sent (duplicate, missing and malformed keys, exact codes,
// cached answers) and the CallRegistry's bookkeeping.
#include "server/api/call.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/util/crypto.h"

namespace campaign::api {
namespace {

using Metadata = std::vector<std::pair<std::string, std::string>>;

// A well-formed API key made from `name`.
std::string Key(absl::string_view name) {
  std::string body(name);
  body.resize(43, 'x');
  return absl::StrCat("ocs_", body);
}

// An authenticator knowing one owner key ("good") of business 3, counting
// its lookups.
class MakeCallContextTest : public ::testing::Test {
 protected:
  MakeCallContextTest()
      : authenticator_(
            [this](absl::string_view hash) -> absl::StatusOr<std::optional<ApiKeyRecord>> {
              ++lookups_;
              if (hash != Sha256Hex(Key("good"))) return std::optional<ApiKeyRecord>();
              ApiKeyRecord record;
              record.principal.api_key_id = 9;
              record.principal.role = Role::kOwner;
              record.principal.business_id = 3;
              return std::optional<ApiKeyRecord>(record);
            },
            auth::AuthenticatorOptions{}) {}

  // The context of a call that sent `metadata` (the multimap holds
  // references, as gRPC's does).
  CallContext Make(const Metadata& metadata) {
    std::multimap<grpc::string_ref, grpc::string_ref> received;
    for (const auto& [key, value] : metadata) received.emplace(key, value);
    return MakeCallContext(received, &authenticator_);
  }

  // Asserts that a call sending `metadata` is refused with `code` and
  // `message` without a lookup.
  void ExpectRefused(const Metadata& metadata, absl::StatusCode code, absl::string_view message) {
    const int lookups_before = lookups_;
    CallContext context = Make(metadata);
    absl::Status status = context.metadata.status();
    if (context.metadata.ok()) {
      ASSERT_TRUE(context.cached.has_value()) << "not refused early";
      status = context.cached->status();
    }
    EXPECT_EQ(status.code(), code) << status;
    EXPECT_EQ(status.message(), message);
    EXPECT_EQ(lookups_, lookups_before);
  }

  int lookups_ = 0;
  auth::Authenticator authenticator_;
};

TEST_F(MakeCallContextTest, DuplicateAuthorizationIsUnauthenticated) {
  ExpectRefused({{"authorization", "Bearer " + Key("good")}, {"authorization", "Bearer x"}},
                absl::StatusCode::kUnauthenticated,
                "metadata authorization was sent more than once");
}

TEST_F(MakeCallContextTest, DuplicateBusinessIdIsInvalidArgument) {
  ExpectRefused(
      {{"authorization", "Bearer " + Key("good")}, {"x-business-id", "3"}, {"x-business-id", "3"}},
      absl::StatusCode::kInvalidArgument, "metadata x-business-id was sent more than once");
}

TEST_F(MakeCallContextTest, MalformedBusinessIdIsInvalidArgument) {
  ExpectRefused({{"authorization", "Bearer " + Key("good")}, {"x-business-id", "3x"}},
                absl::StatusCode::kInvalidArgument,
                "x-business-id metadata must be a positive integer, got \"3x\"");
}

TEST_F(MakeCallContextTest, MissingAuthorizationIsUnauthenticated) {
  ExpectRefused({{"x-business-id", "3"}}, absl::StatusCode::kUnauthenticated,
                "missing API key: send metadata \"authorization: Bearer <api key>\"");
}

TEST_F(MakeCallContextTest, MalformedAuthorizationIsUnauthenticated) {
  ExpectRefused({{"authorization", "Basic abc"}}, absl::StatusCode::kUnauthenticated,
                "malformed authorization metadata: expected \"Bearer <api key>\"");
  ExpectRefused({{"authorization", "Bearer ocs_short"}}, absl::StatusCode::kUnauthenticated,
                "malformed API key: expected \"ocs_\" followed by 43 base64url characters");
}

// A well-formed but uncached key is left for the executor: no lookup here.
// Once looked up, the next call's context carries the cached principal.
TEST_F(MakeCallContextTest, UncachedKeyIsLeftForTheExecutorAndCachedOneIsAnswered) {
  const Metadata metadata = {{"authorization", "Bearer " + Key("good")}, {"x-business-id", "3"}};
  CallContext first = Make(metadata);
  ASSERT_TRUE(first.metadata.ok()) << first.metadata.status();
  EXPECT_EQ(first.metadata->authorization, "Bearer " + Key("good"));
  EXPECT_EQ(first.metadata->x_business_id, "3");
  EXPECT_FALSE(first.cached.has_value());
  EXPECT_EQ(lookups_, 0);

  ASSERT_TRUE(authenticator_.Authenticate("Bearer " + Key("good")).ok());
  CallContext second = Make(metadata);
  ASSERT_TRUE(second.cached.has_value());
  ASSERT_TRUE(second.cached->ok()) << second.cached->status();
  EXPECT_EQ((*second.cached)->api_key_id, 9);
  EXPECT_EQ(lookups_, 1);
}

// Keys other than the tenant's are ignored, whatever they claim.
TEST_F(MakeCallContextTest, OtherKeysAreIgnored) {
  CallContext context = Make({{"x-principal", "system_admin"},
                              {"x-caller-business-id", "1"},
                              {"authorization-override", "Bearer " + Key("good")}});
  ASSERT_TRUE(context.metadata.ok());
  EXPECT_EQ(context.metadata->authorization, "");
  EXPECT_EQ(context.metadata->x_business_id, "");
  ASSERT_TRUE(context.cached.has_value());
  EXPECT_EQ(context.cached->status().code(), absl::StatusCode::kUnauthenticated);
}

// Put, Find and Erase by call; Erase leaves a newer context of the same
// address alone.
TEST(CallRegistryTest, ErasesOnlyTheContextItRecorded) {
  CallRegistry registry;
  const auto* call = reinterpret_cast<const grpc::ServerContextBase*>(0x1000);
  EXPECT_EQ(registry.Find(call), nullptr);
  auto first = std::make_shared<const CallContext>();
  registry.Put(call, first);
  EXPECT_EQ(registry.Find(call), first);
  auto second = std::make_shared<const CallContext>();
  registry.Put(call, second);
  registry.Erase(call, first.get());
  EXPECT_EQ(registry.Find(call), second);
  registry.Erase(call, second.get());
  EXPECT_EQ(registry.Find(call), nullptr);
  EXPECT_EQ(registry.size(), 0u);
}

// CallRunner over a registry the test fills in place of the interceptor,
// with the authenticator above and a one-thread executor.
class CallRunnerTest : public MakeCallContextTest {
 protected:
  CallRunnerTest() : executor_(1, 10), runner_(&registry_, &authenticator_, &executor_) {}

  // What one Run did: the refusal or the call the body got.
  struct Outcome {
    std::optional<grpc::Status> refused;
    std::optional<AuthenticatedCall> ran;
    // Whether it was settled before Run returned (on the calling thread).
    bool settled_at_once = false;
  };

  Outcome RunWith(const Metadata* metadata, bool cancelled = false) {
    grpc::CallbackServerContext context;
    if (metadata != nullptr) {
      registry_.Put(&context, std::make_shared<const CallContext>(Make(*metadata)));
    }
    Outcome outcome;
    absl::Notification done;
    runner_.Run(
        &context, [cancelled] { return cancelled; },
        [&](grpc::Status status) {
          outcome.refused = std::move(status);
          done.Notify();
        },
        [&](const AuthenticatedCall& call) {
          outcome.ran = call;
          done.Notify();
        });
    outcome.settled_at_once = done.HasBeenNotified();
    done.WaitForNotification();
    return outcome;
  }

  CallRegistry registry_;
  Executor executor_;
  CallRunner runner_;
};

// A call the interceptor never saw is refused: no context, no service.
TEST_F(CallRunnerTest, CallWithoutContextIsRefusedAsInternal) {
  Outcome outcome = RunWith(nullptr);
  ASSERT_TRUE(outcome.refused.has_value());
  EXPECT_EQ(outcome.refused->error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_FALSE(outcome.ran.has_value());
}

// Malformed metadata is refused on the calling thread with its own status.
TEST_F(CallRunnerTest, MalformedMetadataIsRefusedAtOnce) {
  const Metadata metadata = {{"authorization", "Bearer " + Key("good")}, {"x-business-id", "0"}};
  Outcome outcome = RunWith(&metadata);
  ASSERT_TRUE(outcome.refused.has_value());
  EXPECT_TRUE(outcome.settled_at_once);
  EXPECT_EQ(outcome.refused->error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(outcome.refused->error_message(),
            "x-business-id metadata must be a positive integer, got \"0\"");
  EXPECT_EQ(lookups_, 0);
}

// An uncached key is looked up once, on the executor; the body gets the
// principal, the x-business-id and the authorization sent.
TEST_F(CallRunnerTest, UncachedKeyIsLookedUpOnceThenTheBodyRuns) {
  const Metadata metadata = {{"authorization", "Bearer " + Key("good")}, {"x-business-id", "3"}};
  Outcome outcome = RunWith(&metadata);
  ASSERT_TRUE(outcome.ran.has_value()) << outcome.refused->error_message();
  EXPECT_EQ(outcome.ran->caller.principal.api_key_id, 9);
  EXPECT_EQ(outcome.ran->caller.x_business_id, "3");
  EXPECT_EQ(outcome.ran->authorization, "Bearer " + Key("good"));
  EXPECT_EQ(lookups_, 1);
  // Now cached: the next call needs no lookup.
  outcome = RunWith(&metadata);
  ASSERT_TRUE(outcome.ran.has_value());
  EXPECT_EQ(lookups_, 1);
}

// An unknown key is refused from the cache at once the second time.
TEST_F(CallRunnerTest, KeyRefusedByTheCacheIsRefusedAtOnce) {
  const Metadata metadata = {{"authorization", "Bearer " + Key("unknown")}};
  Outcome first = RunWith(&metadata);
  ASSERT_TRUE(first.refused.has_value());
  EXPECT_EQ(first.refused->error_code(), grpc::StatusCode::UNAUTHENTICATED);
  Outcome second = RunWith(&metadata);
  ASSERT_TRUE(second.refused.has_value());
  EXPECT_TRUE(second.settled_at_once);
  EXPECT_EQ(second.refused->error_message(), "unknown API key");
  EXPECT_EQ(lookups_, 1);
}

// A call the client cancelled before the executor got to it is CANCELLED
// without a lookup.
TEST_F(CallRunnerTest, CancelledCallIsCancelled) {
  const Metadata metadata = {{"authorization", "Bearer " + Key("good")}};
  Outcome outcome = RunWith(&metadata, /*cancelled=*/true);
  ASSERT_TRUE(outcome.refused.has_value());
  EXPECT_EQ(outcome.refused->error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(lookups_, 0);
}

}  // namespace
}  // namespace campaign::api
