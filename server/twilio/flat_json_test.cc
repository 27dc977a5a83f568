#include "server/twilio/flat_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace campaign::twilio {
namespace {

using ::testing::HasSubstr;
using Kind = JsonValue::Kind;

TEST(FlatJsonTest, ReadsTopLevelMembersAndSkipsNestedValues) {
  absl::StatusOr<std::map<std::string, JsonValue>> members = ParseFlatJsonObject(R"(
    {"s": "a\"b\\c\/d\n\u00e9\ud83d\ude00", "n": -12.5e+3, "z": 0, "t": true, "f": false,
     "null": null, "o": {"x": [1, {"y": []}], "w": "\u0041"}, "a": [], "e": ""} )");
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(members->size(), 9u);
  EXPECT_EQ(members->at("s").kind, Kind::kString);
  EXPECT_EQ(members->at("s").text, "a\"b\\c/d\n\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(members->at("n").kind, Kind::kNumber);
  EXPECT_EQ(members->at("n").text, "-12.5e+3");
  EXPECT_EQ(members->at("z").text, "0");
  EXPECT_EQ(members->at("t").kind, Kind::kTrue);
  EXPECT_EQ(members->at("f").kind, Kind::kFalse);
  EXPECT_EQ(members->at("null").kind, Kind::kNull);
  EXPECT_EQ(members->at("o").kind, Kind::kObject);
  EXPECT_EQ(members->at("a").kind, Kind::kArray);
  EXPECT_EQ(members->at("e").text, "");
  EXPECT_TRUE(ParseFlatJsonObject("{}")->empty());
}

TEST(FlatJsonTest, RefusesAnythingButOneValidObject) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "expected '{'"},
      {"[]", "expected '{'"},
      {"\"x\"", "expected '{'"},
      {"{} x", "trailing bytes"},
      {"{}{}", "trailing bytes"},
      {R"({"a": 1,})", "expected a string"},
      {R"({"a" 1})", "expected ':'"},
      {R"({"a": 1 "b": 2})", "expected ',' or '}'"},
      {R"({"a": 1, "a": 2})", "member 'a' repeated"},
      {R"({"a": 01})", "expected ',' or '}'"},
      {R"({"a": 1.})", "malformed number"},
      {R"({"a": -})", "malformed number"},
      {R"({"a": 1e})", "malformed number"},
      {R"({"a": +1})", "expected a value"},
      {R"({"a": tru})", "expected a value"},
      {R"({"a": "x)", "unterminated string"},
      {"{\"a\": \"x\ny\"}", "control character"},
      {R"({"a": "\x"})", "invalid escape"},
      {R"({"a": "\u12"})", "malformed \\u escape"},
      {R"({"a": "\ud83d"})", "high surrogate without a low one"},
      {R"({"a": "\ude00"})", "lone low surrogate"},
      {R"({"a": [1, 2})", "expected ',' or ']'"},
      {R"({"a": {"b": 1})", "expected ',' or '}'"},
  };
  for (const auto& [json, want] : cases) {
    absl::StatusOr<std::map<std::string, JsonValue>> members = ParseFlatJsonObject(json);
    EXPECT_EQ(members.status().code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(members.status().message(), HasSubstr(want)) << json;
  }
}

TEST(FlatJsonTest, NestingIsBounded) {
  std::string deep = "{\"a\": ";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "}";
  EXPECT_THAT(ParseFlatJsonObject(deep).status().message(), HasSubstr("nested too deep"));
  std::string fine = "{\"a\": ";
  for (int i = 0; i < 60; ++i) fine += "[";
  for (int i = 0; i < 60; ++i) fine += "]";
  fine += "}";
  EXPECT_TRUE(ParseFlatJsonObject(fine).ok());
}

}  // namespace
}  // namespace campaign::twilio
