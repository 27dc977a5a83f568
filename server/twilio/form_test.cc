#include "server/twilio/form.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace campaign::twilio {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(FormTest, EscapesReservedBytesAndSpaces) {
  EXPECT_EQ(FormEscape("+12345678901"), "%2B12345678901");
  EXPECT_EQ(FormEscape("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(FormEscape("AZaz09-._*"), "AZaz09-._*");
  EXPECT_EQ(FormEscape(""), "");
}

TEST(FormTest, EncodeKeepsRepeatedNamesInOrder) {
  EXPECT_EQ(FormEncode({{"StatusCallbackEvent", "initiated"},
                        {"To", "+1 555"},
                        {"StatusCallbackEvent", "ringing"}}),
            "StatusCallbackEvent=initiated&To=%2B1+555&StatusCallbackEvent=ringing");
  EXPECT_EQ(FormEncode({}), "");
}

TEST(FormTest, DecodeIsTheInverseOfEncode) {
  const FormParams params = {
      {"Url", "https://x.example/a?b=c&d=e f"}, {"e", ""}, {"e", "é%+"}, {"", "anonymous"}};
  absl::StatusOr<FormParams> decoded = FormDecode(FormEncode(params));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, params);
}

TEST(FormTest, DecodesPlusPercentAndBareNames) {
  absl::StatusOr<FormParams> decoded = FormDecode("a=1+2&&b&c=%41%6a&a=3&");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_THAT(*decoded,
              ElementsAre(Pair("a", "1 2"), Pair("b", ""), Pair("c", "Aj"), Pair("a", "3")));
  EXPECT_EQ(FindParam(*decoded, "a"), "1 2");
  EXPECT_EQ(FindParam(*decoded, "z"), std::nullopt);
  EXPECT_EQ(CountParam(*decoded, "a"), 2);
  EXPECT_EQ(CountParam(*decoded, "z"), 0);
  EXPECT_TRUE(FormDecode("")->empty());
}

TEST(FormTest, MalformedEscapesAreErrorsWithTheirPosition) {
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "a%g1=1", "x=1&b=%4G"}) {
    absl::StatusOr<FormParams> decoded = FormDecode(bad);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(decoded.status().message(), HasSubstr("malformed percent escape")) << bad;
  }
  EXPECT_THAT(FormDecode("x=1&b=%4G").status().message(), HasSubstr("offset 6"));
}

}  // namespace
}  // namespace campaign::twilio
