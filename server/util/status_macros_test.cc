#include "server/util/status_macros.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace campaign {
namespace {

absl::Status Step(absl::Status result, std::vector<std::string>& trace, std::string name) {
  trace.push_back(std::move(name));
  return result;
}

absl::StatusOr<int> Value(absl::StatusOr<int> result, std::vector<std::string>& trace) {
  trace.push_back("value");
  return result;
}

absl::Status TwoSteps(absl::Status first, absl::Status second, std::vector<std::string>& trace) {
  RETURN_IF_ERROR(Step(first, trace, "first"));
  RETURN_IF_ERROR(Step(second, trace, "second"));
  trace.push_back("end");
  return absl::OkStatus();
}

TEST(ReturnIfErrorTest, ContinuesOnOkAndEvaluatesEachExpressionOnce) {
  std::vector<std::string> trace;
  EXPECT_TRUE(TwoSteps(absl::OkStatus(), absl::OkStatus(), trace).ok());
  EXPECT_EQ(trace, (std::vector<std::string>{"first", "second", "end"}));
}

TEST(ReturnIfErrorTest, ReturnsTheFirstErrorUnchangedAndStops) {
  std::vector<std::string> trace;
  absl::Status status = TwoSteps(absl::NotFoundError("gone"), absl::InternalError("no"), trace);
  EXPECT_EQ(status, absl::NotFoundError("gone"));
  EXPECT_EQ(trace, (std::vector<std::string>{"first"}));
}

TEST(ReturnIfErrorTest, ReturnsTheErrorAsTheStatusOfAStatusOr) {
  auto f = [](absl::Status step) -> absl::StatusOr<int> {
    RETURN_IF_ERROR(step);
    return 7;
  };
  EXPECT_EQ(*f(absl::OkStatus()), 7);
  EXPECT_EQ(f(absl::AbortedError("lost")).status(), absl::AbortedError("lost"));
}

absl::StatusOr<int> Sum(absl::StatusOr<int> a, absl::StatusOr<int> b,
                        std::vector<std::string>& trace) {
  ASSIGN_OR_RETURN(int x, Value(a, trace));
  int y = 0;
  ASSIGN_OR_RETURN(y, Value(b, trace));  // into an existing variable
  return x + y;
}

TEST(AssignOrReturnTest, AssignsValuesOnOk) {
  std::vector<std::string> trace;
  EXPECT_EQ(*Sum(2, 3, trace), 5);
  EXPECT_EQ(trace.size(), 2u);
}

TEST(AssignOrReturnTest, ReturnsTheFirstErrorUnchangedAndStops) {
  std::vector<std::string> trace;
  absl::StatusOr<int> sum =
      Sum(absl::InvalidArgumentError("bad a"), absl::InvalidArgumentError("bad b"), trace);
  EXPECT_EQ(sum.status(), absl::InvalidArgumentError("bad a"));
  EXPECT_EQ(trace.size(), 1u);
  trace.clear();
  EXPECT_EQ(Sum(1, absl::UnavailableError("away"), trace).status(), absl::UnavailableError("away"));
  EXPECT_EQ(trace.size(), 2u);
}

TEST(AssignOrReturnTest, MovesMoveOnlyValuesAndConvertsTheErrorToAnotherStatusOr) {
  auto make = [](bool ok) -> absl::StatusOr<std::unique_ptr<int>> {
    if (!ok) return absl::PermissionDeniedError("no");
    return std::make_unique<int>(4);
  };
  auto twice = [&](bool ok) -> absl::StatusOr<std::string> {
    ASSIGN_OR_RETURN(std::unique_ptr<int> p, make(ok));
    ASSIGN_OR_RETURN(const std::unique_ptr<int> q, make(ok));  // two in one scope
    return std::to_string(*p + *q);
  };
  EXPECT_EQ(*twice(true), "8");
  EXPECT_EQ(twice(false).status(), absl::PermissionDeniedError("no"));
}

}  // namespace
}  // namespace campaign
