#include "server/twilio/signature.h"

#include <gtest/gtest.h>

namespace campaign::twilio {
namespace {

// Twilio's documented example (see /work/shared/TOOLCHAIN.md, checked against
// Twilio's helper library).
constexpr char kToken[] = "12345";
constexpr char kUrl[] = "https://mycompany.com/myapp.php?foo=1&bar=2";
constexpr char kSignature[] = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

FormParams ExampleParams() {
  // Deliberately not in sorted order: the signature sorts them.
  return {{"To", "+18005551212"},
          {"Digits", "1234"},
          {"CallSid", "CA1234567890ABCDE"},
          {"From", "+12349013030"},
          {"Caller", "+12349013030"}};
}

TEST(SignatureTest, TwilioDocumentedExample) {
  EXPECT_EQ(ComputeSignature(kToken, kUrl, ExampleParams()), kSignature);
  EXPECT_TRUE(SignatureMatches(kToken, kUrl, ExampleParams(), kSignature));
}

TEST(SignatureTest, AnotherUrlDoesNotMatch) {
  EXPECT_FALSE(SignatureMatches(kToken, "https://mycompany.com/myapp.php?foo=1&bar=3",
                                ExampleParams(), kSignature));
  EXPECT_FALSE(SignatureMatches(kToken, "http://mycompany.com/myapp.php?foo=1&bar=2",
                                ExampleParams(), kSignature));
  EXPECT_FALSE(SignatureMatches(kToken, "https://mycompany.com/myapp.php?bar=2&foo=1",
                                ExampleParams(), kSignature));
}

TEST(SignatureTest, ChangedAddedOrMissingParamDoesNotMatch) {
  FormParams changed = ExampleParams();
  changed[1].second = "1235";
  EXPECT_FALSE(SignatureMatches(kToken, kUrl, changed, kSignature));
  FormParams added = ExampleParams();
  added.emplace_back("CallStatus", "completed");
  EXPECT_FALSE(SignatureMatches(kToken, kUrl, added, kSignature));
  FormParams missing = ExampleParams();
  missing.pop_back();
  EXPECT_FALSE(SignatureMatches(kToken, kUrl, missing, kSignature));
}

TEST(SignatureTest, OtherTokenDoesNotMatch) {
  EXPECT_FALSE(SignatureMatches("12346", kUrl, ExampleParams(), kSignature));
  EXPECT_FALSE(SignatureMatches("", kUrl, ExampleParams(), kSignature));
}

TEST(SignatureTest, MissingTruncatedOrPaddedHeaderDoesNotMatch) {
  EXPECT_FALSE(SignatureMatches(kToken, kUrl, ExampleParams(), ""));
  EXPECT_FALSE(SignatureMatches(kToken, kUrl, ExampleParams(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ"));
  EXPECT_FALSE(SignatureMatches(kToken, kUrl, ExampleParams(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=="));
  EXPECT_FALSE(SignatureMatches(kToken, kUrl, ExampleParams(), "1/KCTR6DLpKmkAf8muzZqo1nDgQ="));
}

TEST(SignatureTest, NoParamsSignsTheUrlAlone) {
  const std::string signature = ComputeSignature(kToken, kUrl, {});
  EXPECT_EQ(signature.size(), 28u);
  EXPECT_TRUE(SignatureMatches(kToken, kUrl, {}, signature));
  EXPECT_NE(signature, kSignature);
}

TEST(SignatureTest, RepeatedNamesSortByValueWhateverTheirOrder) {
  const FormParams one = {{"b", "2"}, {"a", "y"}, {"a", "x"}};
  const FormParams other = {{"a", "x"}, {"b", "2"}, {"a", "y"}};
  EXPECT_EQ(ComputeSignature(kToken, kUrl, one), ComputeSignature(kToken, kUrl, other));
  // Which is the signature of the string url + "ax" + "ay" + "b2".
  EXPECT_EQ(ComputeSignature(kToken, kUrl, one),
            ComputeSignature(kToken, std::string(kUrl) + "axayb2", {}));
}

}  // namespace
}  // namespace campaign::twilio
