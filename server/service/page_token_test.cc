// Unit tests of the opaque keyset page tokens: they round-trip, are bound to
// the query they were issued for, and anything else is INVALID_ARGUMENT.
#include "server/service/page_token.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace campaign {
namespace {

constexpr absl::string_view kQuery = "runs|business=3|status=running";

// Asserts that decoding `token` for kQuery is INVALID_ARGUMENT mentioning
// page_token.
void ExpectRefused(absl::string_view token, absl::string_view query = kQuery) {
  auto result = DecodePageToken(token, query);
  ASSERT_FALSE(result.ok()) << "token \"" << absl::CHexEscape(token) << "\" decoded to "
                            << result->value_or(-1);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
      << absl::CHexEscape(token) << ": " << result.status();
  EXPECT_TRUE(absl::StrContains(result.status().message(), "page_token")) << result.status();
}

// A token decodes, for the query it was issued for, to the id it carries.
TEST(PageTokenTest, RoundTrips) {
  for (int64_t last_id :
       {int64_t{1}, int64_t{42}, int64_t{1'000'000'007}, std::numeric_limits<int64_t>::max()}) {
    const std::string token = EncodePageToken(kQuery, last_id);
    ASSERT_FALSE(token.empty());
    auto decoded = DecodePageToken(token, kQuery);
    ASSERT_TRUE(decoded.ok()) << last_id << ": " << decoded.status();
    ASSERT_TRUE(decoded->has_value()) << last_id;
    EXPECT_EQ(**decoded, last_id);
  }
}

// Tokens are opaque and safe to pass in URLs and metadata: web-safe base64
// that shows neither the query nor the id in clear.
TEST(PageTokenTest, TokenIsOpaqueAndWebSafe) {
  const std::string token = EncodePageToken(kQuery, 123456789);
  for (char c : token) {
    EXPECT_TRUE(absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '=')
        << "character '" << c << "' in " << token;
  }
  EXPECT_FALSE(absl::StrContains(token, "business")) << token;
  EXPECT_FALSE(absl::StrContains(token, "123456789")) << token;
}

// An empty token asks for the first page: nullopt, not an error.
TEST(PageTokenTest, EmptyTokenIsFirstPage) {
  auto decoded = DecodePageToken("", kQuery);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_FALSE(decoded->has_value());
}

// A token issued for another query (another filter, run or business) is
// refused with a message saying so, so a client cannot splice pages of
// different listings.
TEST(PageTokenTest, TokenForAnotherQueryIsRefusedClearly) {
  const std::string token = EncodePageToken("jobs|business=3|run=7|status=", 99);
  for (absl::string_view other :
       {"jobs|business=3|run=8|status=", "jobs|business=4|run=7|status=",
        "jobs|business=3|run=7|status=queued", "runs|business=3|status=", ""}) {
    auto decoded = DecodePageToken(token, other);
    ASSERT_FALSE(decoded.ok()) << other;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument)
        << other << ": " << decoded.status();
    EXPECT_TRUE(absl::StrContains(decoded.status().message(), "different query"))
        << decoded.status();
  }
  // The same query still accepts it.
  auto same = DecodePageToken(token, "jobs|business=3|run=7|status=");
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->value_or(-1), 99);
}

// Garbage that is not a token at all is refused as malformed.
TEST(PageTokenTest, GarbageIsRefused) {
  for (absl::string_view token : {"x", "!!!!", "not a token", "null", "0", "-1", "\xFF\xFE", "djE6",
                                  "v1:abc:5", "====", "a b c d"}) {
    ExpectRefused(token);
  }
}

// Well-encoded tokens with a wrong structure or id are refused as malformed.
TEST(PageTokenTest, MalformedContentIsRefused) {
  const std::string hash_prefix = [] {
    // The prefix a genuine token for kQuery carries: decode one to get it.
    std::string plain;
    EXPECT_TRUE(absl::WebSafeBase64Unescape(EncodePageToken(kQuery, 5), &plain));
    EXPECT_TRUE(absl::EndsWith(plain, ":5")) << plain;
    return plain.substr(0, plain.size() - 1);  // "v1:<hash>:"
  }();
  ASSERT_TRUE(absl::StartsWith(hash_prefix, "v1:")) << hash_prefix;
  for (const std::string& plain : std::vector<std::string>{
           hash_prefix,                              // no id
           hash_prefix + "abc",                      // not a number
           hash_prefix + "0",                        // ids start at 1
           hash_prefix + "-5",                       // negative
           hash_prefix + "5x",                       // trailing junk
           hash_prefix + "99999999999999999999999",  // beyond int64
           "v2" + hash_prefix.substr(2) + "5",       // unknown version
           "v1:5",                                   // no hash
           "hello",
       }) {
    std::string token;
    absl::WebSafeBase64Escape(plain, &token);
    ExpectRefused(token);
  }
}

// A genuine token with any character of its version or query hash changed, or
// cut short, is refused (the id alone is not authenticated, but it cannot be
// moved to another query).
TEST(PageTokenTest, TamperedTokenIsRefused) {
  const std::string token = EncodePageToken(kQuery, 424242);
  // "v1:" + 16 hash characters + ":" = 20 bytes; the first 24 base64
  // characters encode the first 18 of them, all version or hash.
  ASSERT_GT(token.size(), 24u);
  for (size_t i = 0; i < 24; ++i) {
    std::string tampered = token;
    tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
    ExpectRefused(tampered);
  }
  for (size_t length : {size_t{1}, size_t{4}, size_t{10}, size_t{20}, size_t{24}}) {
    ExpectRefused(token.substr(0, length));
  }
  ExpectRefused(token + "!");
  ExpectRefused(absl::StrCat("*", token));
}

// Two-key positions (ListAttempts' (job_id, attempt)) round-trip, stay
// opaque, and are bound to their query and to both keys.
TEST(PageTokenTest, PositionTokensRoundTripAndAreBound) {
  for (const PagePosition position : {PagePosition{1, 1}, PagePosition{123456789, 7},
                                      PagePosition{std::numeric_limits<int64_t>::max(), 20}}) {
    const std::string token = EncodePageToken(kQuery, position);
    for (char c : token) {
      EXPECT_TRUE(absl::ascii_isalnum(c) || c == '-' || c == '_') << "'" << c << "' in " << token;
    }
    auto decoded = DecodePagePositionToken(token, kQuery);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    ASSERT_TRUE(decoded->has_value());
    EXPECT_EQ((*decoded)->major, position.major);
    EXPECT_EQ((*decoded)->minor, position.minor);
  }
  EXPECT_FALSE(DecodePagePositionToken("", kQuery)->has_value());
  const std::string token = EncodePageToken(kQuery, PagePosition{42, 3});
  EXPECT_FALSE(absl::StrContains(token, "42")) << token;
  auto other = DecodePagePositionToken(token, "attempts|other");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  // The minor key altered in a re-encoded token no longer matches its hash.
  std::string plain;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &plain));
  ASSERT_TRUE(absl::EndsWith(plain, ".3"));
  std::string altered;
  absl::WebSafeBase64Escape(absl::StrCat(plain.substr(0, plain.size() - 1), "4"), &altered);
  EXPECT_EQ(DecodePagePositionToken(altered, kQuery).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A single-key token, garbage, and a missing minor key are refused.
  for (const std::string& bad :
       {EncodePageToken(kQuery, int64_t{42}), std::string("***"), std::string("bm8tZG90")}) {
    EXPECT_EQ(DecodePagePositionToken(bad, kQuery).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace campaign
