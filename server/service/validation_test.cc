// Unit tests of caller-input validation: UTF-8, E.164 phones (libphonenumber),
// leads (limits, ids, names, de-duplication), request ids, concurrency and
// page sizes. Every refusal must be INVALID_ARGUMENT naming the field.
#include "server/service/validation.h"

#include <gtest/gtest.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <cstdint>
#include <limits>
#include <list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace campaign {
namespace {

// Passes when `status` is INVALID_ARGUMENT and its message holds every one of
// `parts`; the failure message shows the status.
testing::AssertionResult IsInvalidArgumentWith(const absl::Status& status,
                                               const std::vector<std::string>& parts) {
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    return testing::AssertionFailure() << "expected INVALID_ARGUMENT, got " << status;
  }
  for (const std::string& part : parts) {
    if (!absl::StrContains(status.message(), part)) {
      return testing::AssertionFailure()
             << "message does not contain \"" << part << "\": " << status.message();
    }
  }
  return testing::AssertionSuccess();
}

// Builds a lead.
Lead MakeLead(int64_t lead_id, std::string phone, std::string name = "") {
  return Lead{lead_id, std::move(phone), std::move(name)};
}

// ---------------------------------------------------------------- UTF-8

// Well-formed text, including every sequence length and the range limits.
TEST(IsValidUtf8Test, AcceptsWellFormedText) {
  for (const std::string& text : std::vector<std::string>{
           "",
           "plain ASCII",
           std::string("nul\0inside", 10),  // U+0000 is valid UTF-8
           "\x7F",                          // highest 1-byte
           "\xC2\x80",                      // U+0080, lowest 2-byte
           "caf\xC3\xA9",                   // café
           "\xDF\xBF",                      // U+07FF, highest 2-byte
           "\xE0\xA0\x80",                  // U+0800, lowest 3-byte
           "\xE2\x82\xAC",                  // €
           "\xED\x9F\xBF",                  // U+D7FF, just below the surrogates
           "\xEE\x80\x80",                  // U+E000, just above the surrogates
           "\xEF\xBF\xBF",                  // U+FFFF
           "\xF0\x90\x80\x80",              // U+10000, lowest 4-byte
           "\xF0\x9F\x98\x80",              // 😀
           "\xF4\x8F\xBF\xBF",              // U+10FFFF, highest code point
           "Jos\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x93\x9E ok",
       }) {
    EXPECT_TRUE(IsValidUtf8(text)) << absl::CHexEscape(text);
  }
}

// Overlong encodings (a code point in more bytes than needed) are refused.
TEST(IsValidUtf8Test, RefusesOverlongEncodings) {
  for (const char* text :
       {"\xC0\x80", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\x80", "\xE0\x80\xAF", "\xE0\x9F\xBF",
        "\xF0\x80\x80\x80", "\xF0\x80\x80\xAF", "\xF0\x8F\xBF\xBF"}) {
    EXPECT_FALSE(IsValidUtf8(text)) << absl::CHexEscape(text);
  }
}

// UTF-16 surrogates (U+D800..U+DFFF) encoded as UTF-8 are refused.
TEST(IsValidUtf8Test, RefusesSurrogates) {
  for (const char* text : {"\xED\xA0\x80", "\xED\xAD\xBF", "\xED\xB0\x80", "\xED\xBF\xBF",
                           "\xED\xA0\xBD\xED\xB8\x80"}) {
    EXPECT_FALSE(IsValidUtf8(text)) << absl::CHexEscape(text);
  }
}

// Sequences cut short — at the end of the text or by a non-continuation byte —
// are refused.
TEST(IsValidUtf8Test, RefusesTruncatedSequences) {
  for (const char* text : {"\xC3", "a\xC3", "\xE2\x82", "\xE2", "\xF0\x9F\x98", "\xF0\x9F", "\xF0",
                           "\xC3"
                           "a",
                           "\xE2\x82"
                           "a",
                           "\xF0\x9F\x98"
                           "a",
                           "\xE2"
                           "a\xAC",
                           "\xC3\xC3\xA9"}) {
    EXPECT_FALSE(IsValidUtf8(text)) << absl::CHexEscape(text);
  }
}

// Code points above U+10FFFF are refused, as are bytes that never start a
// sequence (lone continuation bytes, F8..FF).
TEST(IsValidUtf8Test, RefusesOutOfRangeAndInvalidBytes) {
  for (const char* text :
       {"\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xF7\xBF\xBF\xBF", "\x80", "\xBF",
        "a\x80"
        "b",
        "\xF8\x88\x80\x80\x80", "\xFC\x84\x80\x80\x80\x80", "\xFE", "\xFF"}) {
    EXPECT_FALSE(IsValidUtf8(text)) << absl::CHexEscape(text);
  }
}

// ---------------------------------------------------------------- Phones

// International numbers in the usual spellings are normalised to E.164
// (libphonenumber considers every one of these valid).
TEST(NormalizePhoneTest, NormalisesInternationalNumbersToE164) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"+14155550101", "+14155550101"},       {"+1 415 555 0101", "+14155550101"},
      {"+1 (415) 555-0101", "+14155550101"},  {"+1-415-555-0101", "+14155550101"},
      {" +14155550101 ", "+14155550101"},     {"+442071838750", "+442071838750"},
      {"+44 20 7183 8750", "+442071838750"},  {"+4915112345678", "+4915112345678"},
      {"+49 151 12345678", "+4915112345678"}, {"+33 6 12 34 56 78", "+33612345678"},
  };
  for (const auto& [input, e164] : cases) {
    auto result = NormalizePhone(input, "phone");
    ASSERT_TRUE(result.ok()) << "\"" << input << "\": " << result.status();
    EXPECT_EQ(*result, e164) << "\"" << input << "\"";
  }
}

// A national number (no "+country") is refused: it would be ambiguous.
TEST(NormalizePhoneTest, RefusesNationalNumbers) {
  for (const char* input :
       {"4155550101", "(415) 555-0101", "14155550101", "020 7183 8750", "00 1 415 555 0101"}) {
    auto result = NormalizePhone(input, "leads[0].phone");
    EXPECT_TRUE(IsInvalidArgumentWith(result.status(), {"leads[0].phone", input}))
        << "\"" << input << "\"";
  }
}

// Garbage, incomplete and impossible numbers are refused, naming the field and
// the offending value.
TEST(NormalizePhoneTest, RefusesGarbage) {
  for (const char* input : {"abc", "+", "+1", "+1415555010", "+141555501011111", "+999123456",
                            "+1 415 555 01a1", "call me", "+1 415 555 0101 #"}) {
    auto result = NormalizePhone(input, "the_phone");
    EXPECT_TRUE(
        IsInvalidArgumentWith(result.status(), {"the_phone", absl::StrCat("\"", input, "\"")}))
        << "\"" << input << "\"";
  }
}

// An empty phone is refused as missing, naming the field.
TEST(NormalizePhoneTest, RefusesEmpty) {
  auto result = NormalizePhone("", "leads[2] (lead_id 9): phone");
  EXPECT_TRUE(IsInvalidArgumentWith(result.status(), {"leads[2] (lead_id 9): phone", "required"}));
}

// The echoed value is bounded and escaped, so a hostile value cannot flood or
// corrupt the message.
TEST(NormalizePhoneTest, MessageQuotesValueSafely) {
  auto control = NormalizePhone("+1\n415\x01", "phone");
  ASSERT_FALSE(control.ok());
  EXPECT_FALSE(absl::StrContains(control.status().message(), "\n")) << control.status();
  EXPECT_FALSE(absl::StrContains(control.status().message(), "\x01")) << control.status();

  auto long_value = NormalizePhone(std::string(1'000, '9'), "phone");
  ASSERT_FALSE(long_value.ok());
  EXPECT_EQ(long_value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(long_value.status().message().size(), 300u) << long_value.status();
}

// A phone far longer than any real number is refused without libphonenumber
// spending seconds on it: its parsing time grows quadratically with the input
// (10,000 digits cost about a second of CPU, 40,000 nearly twenty), and the
// gRPC receive limit admits megabytes in one lead. Measured in process CPU
// time with a wide margin, so load from other processes does not matter.
TEST(NormalizePhoneTest, RefusesOverlongPhoneBeforeParsing) {
  const std::string phone = "+" + std::string(kMaxPhoneBytes, '9');
  auto result = NormalizePhone(phone, "leads[0] (lead_id 1): phone");
  EXPECT_TRUE(IsInvalidArgumentWith(result.status(),
                                    {"leads[0] (lead_id 1): phone", "65 bytes", "at most 64"}));
}

// A number with an extension is refused: E.164 drops the extension, and
// dialing the main line instead would call the wrong person.
TEST(NormalizePhoneTest, RefusesExtensions) {
  for (const char* phone : {"+1 415 555 0101 ext 5", "+14155550101x23"}) {
    auto result = NormalizePhone(phone, "phone");
    EXPECT_TRUE(IsInvalidArgumentWith(result.status(), {"phone", "extension"})) << phone;
  }
}

// ---------------------------------------------------------------- Leads

// An empty list is refused.
TEST(NormalizeLeadsTest, RefusesEmptyList) {
  auto result = NormalizeLeads({}, Limits{});
  EXPECT_TRUE(IsInvalidArgumentWith(result.status(), {"leads"}));
}

// The number of leads is bounded by Limits (before de-duplication), and the
// message gives both counts.
TEST(NormalizeLeadsTest, RefusesTooManyLeads) {
  Limits limits;
  limits.max_leads_per_request = 3;
  std::vector<Lead> leads = {MakeLead(1, "+14155550101"), MakeLead(2, "+14155550102"),
                             MakeLead(3, "+14155550103")};
  auto at_limit = NormalizeLeads(leads, limits);
  ASSERT_TRUE(at_limit.ok()) << at_limit.status();
  EXPECT_EQ(at_limit->leads.size(), 3u);

  leads.push_back(MakeLead(1, "+14155550101"));  // a duplicate still counts
  auto over = NormalizeLeads(leads, limits);
  EXPECT_TRUE(IsInvalidArgumentWith(over.status(), {"leads", "4", "3"}));
}

// The default limit is 100,000 leads per request.
TEST(NormalizeLeadsTest, DefaultLimitIsOneHundredThousand) {
  EXPECT_EQ(Limits{}.max_leads_per_request, 100'000);
  std::vector<Lead> leads(100'001, MakeLead(1, "+14155550101"));
  auto result = NormalizeLeads(leads, Limits{});
  EXPECT_TRUE(IsInvalidArgumentWith(result.status(), {"100001", "100000"}));
}

// lead_id must be > 0; the message names the index and the value.
TEST(NormalizeLeadsTest, RefusesNonPositiveLeadId) {
  for (int64_t bad : {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
    std::vector<Lead> leads = {MakeLead(5, "+14155550101"), MakeLead(bad, "+14155550102")};
    auto result = NormalizeLeads(leads, Limits{});
    EXPECT_TRUE(
        IsInvalidArgumentWith(result.status(), {"leads[1].lead_id", absl::StrCat("got ", bad)}))
        << bad;
  }
}

// A bad phone names "leads[i] (lead_id X)", the field and the value.
TEST(NormalizeLeadsTest, RefusesBadPhoneNamingLead) {
  std::vector<Lead> leads = {MakeLead(10, "+14155550101"), MakeLead(11, "+442071838750"),
                             MakeLead(77, "4155550101")};
  auto result = NormalizeLeads(leads, Limits{});
  EXPECT_TRUE(
      IsInvalidArgumentWith(result.status(), {"leads[2] (lead_id 77)", "phone", "\"4155550101\""}));
}

// A missing phone is refused naming the lead.
TEST(NormalizeLeadsTest, RefusesMissingPhone) {
  auto result = NormalizeLeads({MakeLead(3, "")}, Limits{});
  EXPECT_TRUE(IsInvalidArgumentWith(result.status(), {"leads[0] (lead_id 3)", "phone"}));
}

// Names may be up to 255 bytes (counted in bytes, not characters).
TEST(NormalizeLeadsTest, NameLengthLimitIs255Bytes) {
  std::string ascii_255(255, 'a');
  std::string multibyte_255 = "a";
  for (int i = 0; i < 127; ++i) multibyte_255 += "\xC3\xA9";  // 127 × é = 254 bytes
  ASSERT_EQ(multibyte_255.size(), 255u);
  auto ok = NormalizeLeads(
      {MakeLead(1, "+14155550101", ascii_255), MakeLead(2, "+14155550102", multibyte_255)},
      Limits{});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->leads[0].name, ascii_255);
  EXPECT_EQ(ok->leads[1].name, multibyte_255);

  auto too_long = NormalizeLeads(
      {MakeLead(1, "+14155550101"), MakeLead(8, "+14155550102", std::string(256, 'a'))}, Limits{});
  EXPECT_TRUE(
      IsInvalidArgumentWith(too_long.status(), {"leads[1] (lead_id 8)", "name", "256", "255"}));

  // 128 × é = 256 bytes though only 128 characters.
  std::string multibyte_256;
  for (int i = 0; i < 128; ++i) multibyte_256 += "\xC3\xA9";
  auto too_long_multibyte = NormalizeLeads({MakeLead(4, "+14155550101", multibyte_256)}, Limits{});
  EXPECT_TRUE(IsInvalidArgumentWith(too_long_multibyte.status(), {"leads[0] (lead_id 4)", "name"}));
}

// A name that is not valid UTF-8 is refused naming the lead.
TEST(NormalizeLeadsTest, RefusesInvalidUtf8Name) {
  for (const char* name : {"Jos\xE9", "\xC0\xAF", "\xED\xA0\x80", "ab\xF0\x9F"}) {
    auto result = NormalizeLeads(
        {MakeLead(1, "+14155550101", "fine"), MakeLead(2, "+14155550102", name)}, Limits{});
    EXPECT_TRUE(IsInvalidArgumentWith(result.status(), {"leads[1] (lead_id 2)", "name", "UTF-8"}))
        << absl::CHexEscape(name);
  }
}

// Valid leads come back in order with phones normalised and names kept.
TEST(NormalizeLeadsTest, NormalisesPhonesAndKeepsOrder) {
  auto result = NormalizeLeads(
      {MakeLead(30, "+44 20 7183 8750", "Ada"), MakeLead(10, "+1 (415) 555-0101", "Jos\xC3\xA9"),
       MakeLead(20, "+49 151 12345678", "")},
      Limits{});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->duplicates_dropped, 0);
  ASSERT_EQ(result->leads.size(), 3u);
  EXPECT_EQ(result->leads[0].lead_id, 30);
  EXPECT_EQ(result->leads[0].phone, "+442071838750");
  EXPECT_EQ(result->leads[0].name, "Ada");
  EXPECT_EQ(result->leads[1].lead_id, 10);
  EXPECT_EQ(result->leads[1].phone, "+14155550101");
  EXPECT_EQ(result->leads[1].name, "Jos\xC3\xA9");
  EXPECT_EQ(result->leads[2].lead_id, 20);
  EXPECT_EQ(result->leads[2].phone, "+4915112345678");
  EXPECT_EQ(result->leads[2].name, "");
}

// A lead_id repeated in the list is kept once, the first occurrence wins,
// the drops are counted and the order of first occurrences is preserved.
TEST(NormalizeLeadsTest, DropsDuplicatesFirstWins) {
  auto result = NormalizeLeads(
      {MakeLead(7, "+14155550107", "first seven"), MakeLead(3, "+14155550103", "first three"),
       MakeLead(7, "+14155550199", "second seven"), MakeLead(5, "+14155550105", "five"),
       MakeLead(3, "+14155550198", "second three"), MakeLead(7, "+14155550197", "third seven")},
      Limits{});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->duplicates_dropped, 3);
  ASSERT_EQ(result->leads.size(), 3u);
  EXPECT_EQ(result->leads[0].lead_id, 7);
  EXPECT_EQ(result->leads[0].phone, "+14155550107");
  EXPECT_EQ(result->leads[0].name, "first seven");
  EXPECT_EQ(result->leads[1].lead_id, 3);
  EXPECT_EQ(result->leads[1].phone, "+14155550103");
  EXPECT_EQ(result->leads[1].name, "first three");
  EXPECT_EQ(result->leads[2].lead_id, 5);
  EXPECT_EQ(result->leads[2].name, "five");
}

// Every lead is validated, duplicates included: the error names the first
// offending one, and nothing is returned.
TEST(NormalizeLeadsTest, ReportsFirstOffendingLead) {
  auto result = NormalizeLeads({MakeLead(1, "+14155550101"), MakeLead(2, "nope"),
                                MakeLead(3, "also bad"), MakeLead(-4, "+14155550104")},
                               Limits{});
  EXPECT_TRUE(IsInvalidArgumentWith(result.status(), {"leads[1] (lead_id 2)", "\"nope\""}));
  EXPECT_FALSE(absl::StrContains(result.status().message(), "also bad")) << result.status();

  auto bad_duplicate = NormalizeLeads({MakeLead(1, "+14155550101"), MakeLead(1, "bad")}, Limits{});
  EXPECT_TRUE(IsInvalidArgumentWith(bad_duplicate.status(), {"leads[1] (lead_id 1)"}));
}

// A large list is checked on several threads (in ranges): the error still
// names the first offending lead, whichever range it is in and whatever
// later ranges hold.
TEST(NormalizeLeadsTest, LargeListReportsFirstOffendingLeadAcrossRanges) {
  std::vector<Lead> leads;
  for (int64_t i = 1; i <= 60'000; ++i) {
    leads.push_back(MakeLead(i, absl::StrFormat("+1415%03d%04d", 200 + i / 9000, 1000 + i % 9000)));
  }
  auto all_good = NormalizeLeads(leads, Limits{});
  ASSERT_TRUE(all_good.ok()) << all_good.status();
  ASSERT_EQ(all_good->leads.size(), leads.size());
  for (size_t i = 0; i < leads.size(); ++i) {
    ASSERT_EQ(all_good->leads[i].lead_id, leads[i].lead_id);
    ASSERT_EQ(all_good->leads[i].phone, leads[i].phone);
  }

  leads[59'000].phone = "late bad";
  leads[41'234].name = "\xC3";
  leads[40'000].phone = "first bad";
  auto bad = NormalizeLeads(leads, Limits{});
  EXPECT_TRUE(IsInvalidArgumentWith(bad.status(), {"leads[40000] (lead_id 40001)", "first bad"}));

  leads[40'000].phone = leads[39'999].phone;
  auto bad_name = NormalizeLeads(leads, Limits{});
  EXPECT_TRUE(IsInvalidArgumentWith(bad_name.status(),
                                    {"leads[41234] (lead_id 41235)", "name is not valid UTF-8"}));

  // Duplicates across ranges: first wins, counted once each.
  leads[41'234].name = "";
  leads[59'000].phone = leads[58'999].phone;
  leads[50'000].lead_id = 7;
  leads[10].lead_id = 59'001;
  auto deduped = NormalizeLeads(leads, Limits{});
  ASSERT_TRUE(deduped.ok()) << deduped.status();
  EXPECT_EQ(deduped->duplicates_dropped, 2);
  EXPECT_EQ(deduped->leads.size(), leads.size() - 2);
  EXPECT_EQ(deduped->leads[10].lead_id, 59'001);
}

// The E.164 fast path for North American numbers gives exactly what the full
// parse gives: the same numbers accepted (in the same form) and refused
// (with the same message), including near misses of its shape.
TEST(NormalizePhoneTest, NorthAmericanFastPathMatchesTheFullParse) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"+14155550123", "+14155550123"},     // San Francisco
      {"+12125550123", "+12125550123"},     // New York
      {"+16135550123", "+16135550123"},     // Ottawa, Canada
      {"+18765550123", "+18765550123"},     // Jamaica
      {"+18005550123", "+18005550123"},     // toll free
      {"+1 415 555 0123", "+14155550123"},  // not the fast shape: full parse
      {"+1415555012", ""},                  // too short
      {"+141555501234", ""},                // too long
      {"+11155550123", ""},                 // area code 1xx
      {"+10155550123", ""},                 // area code 0xx
      {"+14151550123", ""},                 // exchange 1xx
      {"+19995550123", ""},                 // unassigned area code 999
      {"+1415555012a", ""},                 // a letter
  };
  for (const auto& [input, want] : cases) {
    absl::StatusOr<std::string> got = NormalizePhone(input, "phone");
    if (want.empty()) {
      EXPECT_TRUE(IsInvalidArgumentWith(got.status(), {"phone \"", "is not a valid"}))
          << input << ": " << got.status();
    } else {
      ASSERT_TRUE(got.ok()) << input << ": " << got.status();
      EXPECT_EQ(*got, want) << input;
    }
  }
}

// The same over the whole North American shape: every area code with a few
// exchanges each, checked against libphonenumber's own parse of the string.
TEST(NormalizePhoneTest, NorthAmericanFastPathAgreesWithLibphonenumberEverywhere) {
  using i18n::phonenumbers::PhoneNumber;
  using i18n::phonenumbers::PhoneNumberUtil;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  int accepted = 0;
  for (int area = 200; area <= 999; ++area) {
    for (int exchange : {100, 211, 555, 732, 911, 999}) {
      const std::string phone = absl::StrFormat("+1%03d%03d0123", area, exchange);
      PhoneNumber parsed;
      std::string want;
      if (util.Parse(phone, "ZZ", &parsed) == PhoneNumberUtil::NO_PARSING_ERROR &&
          util.IsValidNumber(parsed) && !parsed.has_extension()) {
        util.Format(parsed, PhoneNumberUtil::E164, &want);
      }
      absl::StatusOr<std::string> got = NormalizePhone(phone, "phone");
      if (want.empty()) {
        ASSERT_FALSE(got.ok()) << phone << " gave " << *got;
      } else {
        ASSERT_TRUE(got.ok()) << phone << ": " << got.status();
        ASSERT_EQ(*got, want) << phone;
        ++accepted;
      }
    }
  }
  EXPECT_GT(accepted, 1000);  // the sweep did reach valid numbers
}

// The premise of the fast path's shortcut, checked against the installed
// libphonenumber: the US is the first region of country code 1, and whenever
// IsValidNumberForRegion(n, "US") holds, IsValidNumber(n) holds and n's region
// is the US. Numbers of other NANP regions exist that only IsValidNumber
// accepts, so the fallback is needed.
TEST(NormalizePhoneTest, TheUnitedStatesCheckAgreesWithIsValidNumber) {
  using i18n::phonenumbers::PhoneNumber;
  using i18n::phonenumbers::PhoneNumberUtil;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  std::list<std::string> regions;
  util.GetRegionCodesForCountryCallingCode(1, &regions);
  ASSERT_FALSE(regions.empty());
  EXPECT_EQ(regions.front(), "US");
  int us = 0;
  int elsewhere = 0;
  for (uint64_t area = 200; area <= 999; ++area) {
    for (uint64_t exchange : {200, 555, 732, 999}) {
      PhoneNumber number;
      number.set_country_code(1);
      number.set_national_number((area * 1000 + exchange) * 10000 + 123);
      std::string region;
      util.GetRegionCodeForNumber(number, &region);
      if (util.IsValidNumberForRegion(number, "US")) {
        ASSERT_TRUE(util.IsValidNumber(number)) << number.national_number();
        ASSERT_EQ(region, "US") << number.national_number();
        ++us;
      } else if (util.IsValidNumber(number)) {
        EXPECT_NE(region, "US") << number.national_number();
        ++elsewhere;
      }
    }
  }
  EXPECT_GT(us, 1000);
  EXPECT_GT(elsewhere, 50);  // Canada and the Caribbean take the fallback
}

// ---------------------------------------------------------------- request_id

// Ordinary ids, including UTF-8 and exactly 128 bytes, are accepted.
TEST(ValidateRequestIdTest, AcceptsOrdinaryIds) {
  for (const std::string& id : {std::string("a"), std::string("create-2024-06-01T12:00:00Z#1"),
                                std::string("7f9c2ba4-e88f-11ee-9d2c-0242ac120002"),
                                std::string("r\xC3\xA9sum\xC3\xA9"), std::string(128, 'x')}) {
    EXPECT_TRUE(ValidateRequestId(id).ok()) << id << ": " << ValidateRequestId(id);
  }
}

// An empty request_id is refused: it is required.
TEST(ValidateRequestIdTest, RefusesEmpty) {
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateRequestId(""), {"request_id", "required"}));
}

// 129 bytes is one too many (also when the characters are multi-byte).
TEST(ValidateRequestIdTest, RefusesOverlong) {
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateRequestId(std::string(129, 'x')),
                                    {"request_id", "129", "128"}));
  std::string multibyte;
  for (int i = 0; i < 65; ++i) multibyte += "\xC3\xA9";  // 65 characters, 130 bytes
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateRequestId(multibyte), {"request_id"}));
}

// ASCII control characters (C0 and DEL) are refused.
TEST(ValidateRequestIdTest, RefusesAsciiControlCharacters) {
  for (const std::string& id :
       {std::string("a\x01"
                    "b"),
        std::string("tab\there"), std::string("line\n"), std::string("\r"), std::string("del\x7F"),
        std::string("nul\0x", 5), std::string("esc\x1B[31m")}) {
    EXPECT_TRUE(IsInvalidArgumentWith(ValidateRequestId(id), {"request_id", "control"}))
        << absl::CHexEscape(id);
  }
}

// Unicode C1 control characters (U+0080..U+009F, e.g. NEL U+0085) are control
// characters too (general category Cc), so the header's "no control
// characters" refuses them as well.
TEST(ValidateRequestIdTest, RefusesUnicodeC1ControlCharacters) {
  for (const std::string& id : {std::string("a\xC2\x85"
                                            "b"),
                                std::string("\xC2\x80"),
                                std::string("x\xC2\x9B"
                                            "31m")}) {
    EXPECT_TRUE(IsInvalidArgumentWith(ValidateRequestId(id), {"request_id"}))
        << absl::CHexEscape(id);
  }
}

// A request_id that is not valid UTF-8 is refused.
TEST(ValidateRequestIdTest, RefusesInvalidUtf8) {
  for (const char* id : {"abc\xFF", "\xC3(", "\xED\xA0\x80", "\xC0\xAF"}) {
    EXPECT_TRUE(IsInvalidArgumentWith(ValidateRequestId(id), {"request_id", "UTF-8"}))
        << absl::CHexEscape(id);
  }
}

// ---------------------------------------------------------------- concurrency

// Concurrency must be within 1..max_concurrency (default 100).
TEST(ValidateConcurrencyTest, Bounds) {
  const Limits defaults;
  EXPECT_EQ(defaults.max_concurrency, 100);
  EXPECT_TRUE(ValidateConcurrency(1, defaults).ok());
  EXPECT_TRUE(ValidateConcurrency(3, defaults).ok());
  EXPECT_TRUE(ValidateConcurrency(100, defaults).ok());
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateConcurrency(0, defaults), {"concurrency", "0"}));
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateConcurrency(-1, defaults), {"concurrency", "-1"}));
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateConcurrency(101, defaults), {"concurrency", "101"}));
  EXPECT_TRUE(IsInvalidArgumentWith(
      ValidateConcurrency(std::numeric_limits<int32_t>::max(), defaults), {"concurrency"}));
  EXPECT_TRUE(IsInvalidArgumentWith(
      ValidateConcurrency(std::numeric_limits<int32_t>::min(), defaults), {"concurrency"}));
}

// A configured maximum replaces the default one, and the message names it.
TEST(ValidateConcurrencyTest, ConfiguredMaximum) {
  Limits limits;
  limits.max_concurrency = 5;
  EXPECT_TRUE(ValidateConcurrency(5, limits).ok());
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateConcurrency(6, limits), {"1..5", "6"}));
}

// ---------------------------------------------------------------- ids

// Required ids must be > 0, optional ones >= 0; messages name the field.
TEST(ValidateIdTest, PositiveAndOptionalIds) {
  EXPECT_TRUE(ValidatePositiveId(1, "run_id").ok());
  EXPECT_TRUE(IsInvalidArgumentWith(ValidatePositiveId(0, "run_id"), {"run_id", "0"}));
  EXPECT_TRUE(IsInvalidArgumentWith(ValidatePositiveId(-3, "run_id"), {"run_id", "-3"}));
  EXPECT_TRUE(ValidateOptionalId(0, "project_id").ok());
  EXPECT_TRUE(ValidateOptionalId(9, "project_id").ok());
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateOptionalId(-1, "project_id"), {"project_id", "-1"}));
}

// ---------------------------------------------------------------- page size

// 0 means the default (50), larger than 1000 is lowered to 1000, negative is
// refused.
TEST(EffectivePageSizeTest, DefaultsClampsAndRefuses) {
  const std::vector<std::pair<int32_t, int32_t>> cases = {
      {0, 50},      {1, 1},       {50, 50},     {999, 999},
      {1000, 1000}, {1001, 1000}, {2000, 1000}, {std::numeric_limits<int32_t>::max(), 1000},
  };
  for (const auto& [requested, effective] : cases) {
    auto result = EffectivePageSize(requested);
    ASSERT_TRUE(result.ok()) << requested << ": " << result.status();
    EXPECT_EQ(*result, effective) << requested;
  }
  EXPECT_TRUE(IsInvalidArgumentWith(EffectivePageSize(-1).status(), {"page_size", "-1"}));
  EXPECT_TRUE(IsInvalidArgumentWith(EffectivePageSize(std::numeric_limits<int32_t>::min()).status(),
                                    {"page_size"}));
}

// --- URLs and call settings ---------------------------------------------------

TEST(ValidateHttpsUrlTest, HttpsAnywhereHttpOnlyToLoopback) {
  for (const char* url :
       {"https://example.com/twiml", "https://example.com:8443/a?b=c", "https://[2001:db8::1]/x",
        "http://127.0.0.1:8080/twiml", "http://localhost/x", "http://[::1]:9/x"}) {
    EXPECT_TRUE(ValidateHttpsUrl(url, "twiml_url").ok()) << url;
  }
  EXPECT_TRUE(
      IsInvalidArgumentWith(ValidateHttpsUrl("http://example.com/twiml", "twiml_url"),
                            {"twiml_url", "\"http://example.com/twiml\"",
                             "must be https (http only to 127.0.0.1, [::1] or localhost)"}));
  EXPECT_TRUE(IsInvalidArgumentWith(
      ValidateHttpsUrl("ftp://example.com/x", "--some-flag"),
      {"--some-flag", "\"ftp://example.com/x\"", "is not an http(s)://host[:port][/path] URL"}));
  // Userinfo would hide the real host ("https://127.0.0.1@evil.example").
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateHttpsUrl("http://127.0.0.1@evil.example/", "u"),
                                    {"is not an http(s)://host"}));
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateHttpsUrl("https:///path", "u"), {"is not an"}));
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateHttpsUrl("https://[::1/x", "u"), {"is not an"}));
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateHttpsUrl("", "twiml_url"), {"twiml_url is required"}));
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateHttpsUrl("https://example.com/a b", "u"),
                                    {"\"https://example.com/a b\"", "space or a control"}));
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateHttpsUrl("https://example.com/\n", "u"),
                                    {"\"https://example.com/\\n\"", "control character"}));
  const std::string long_url = "https://example.com/" + std::string(kMaxUrlBytes, 'a');
  EXPECT_TRUE(IsInvalidArgumentWith(
      ValidateHttpsUrl(long_url, "u"),
      {absl::StrFormat("u is %d bytes; at most %d", long_url.size(), kMaxUrlBytes)}));
}

TEST(NormalizeCallSettingsTest, EmptySettingsStayEmpty) {
  absl::StatusOr<CallSettings> settings = NormalizeCallSettings(CallSettings{});
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(*settings, CallSettings{});
}

TEST(NormalizeCallSettingsTest, ValidSettingsAreKeptAndTheCallerIdNormalised) {
  CallSettings in;
  in.caller_id = "+44 20 7946 0958";
  in.twiml_url = "https://example.com/twiml?x=1";
  in.ring_timeout_seconds = 5;
  in.machine_detection = MachineDetection::kDetectMessageEnd;
  absl::StatusOr<CallSettings> out = NormalizeCallSettings(in);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->caller_id, "+442079460958");
  EXPECT_EQ(out->twiml_url, in.twiml_url);
  EXPECT_EQ(out->ring_timeout_seconds, 5);
  EXPECT_EQ(out->machine_detection, MachineDetection::kDetectMessageEnd);
  in.ring_timeout_seconds = 600;
  EXPECT_TRUE(NormalizeCallSettings(in).ok());
}

TEST(NormalizeCallSettingsTest, EachBadFieldIsNamedWithItsValue) {
  CallSettings bad_caller;
  bad_caller.caller_id = "12345";
  EXPECT_TRUE(IsInvalidArgumentWith(
      NormalizeCallSettings(bad_caller).status(),
      {"call_settings.caller_id", "\"12345\"", "not a valid international phone number"}));
  CallSettings extension;
  extension.caller_id = "+14155550100 ext. 12";
  EXPECT_TRUE(IsInvalidArgumentWith(NormalizeCallSettings(extension).status(),
                                    {"call_settings.caller_id", "extension"}));
  CallSettings http_url;
  http_url.twiml_url = "http://example.com/twiml";
  EXPECT_TRUE(IsInvalidArgumentWith(
      NormalizeCallSettings(http_url).status(),
      {"call_settings.twiml_url", "\"http://example.com/twiml\"", "must be https"}));
  for (const int32_t timeout : {-1, 1, 4, 601, std::numeric_limits<int32_t>::max()}) {
    CallSettings ring;
    ring.ring_timeout_seconds = timeout;
    EXPECT_TRUE(IsInvalidArgumentWith(NormalizeCallSettings(ring).status(),
                                      {"call_settings.ring_timeout_seconds must be within 5..600",
                                       absl::StrCat("got ", timeout)}))
        << timeout;
  }
}

TEST(ValidateTimeZoneTest, AcceptsIanaZonesAndRefusesEverythingElseNamingIt) {
  for (const char* zone : {"America/Chicago", "Europe/Paris", "UTC", "America/Argentina/Salta",
                           "Etc/GMT+5", "America/Port-au-Prince"}) {
    EXPECT_TRUE(ValidateTimeZone(zone, "default_time_zone").ok()) << zone;
  }
  EXPECT_TRUE(IsInvalidArgumentWith(ValidateTimeZone("", "f"), {"f is empty"}));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"Mars/Olympus", "not in the time zone database"},
      {"../../etc/passwd", "only letters, digits and _+-/"},
      {"/etc/localtime", "a part of the name is empty"},
      {"America//Chicago", "a part of the name is empty"},
      {"localtime", "the server's local zone"},
      {std::string(65, 'A'), "longer than 64 bytes"},
      {"America/Chicago ", "only letters"},
  };
  for (const auto& [zone, why] : bad) {
    EXPECT_TRUE(IsInvalidArgumentWith(ValidateTimeZone(zone, "leads[0].time_zone"),
                                      {"leads[0].time_zone", "is not an IANA time zone", why}))
        << zone;
  }
}

TEST(NormalizeLeadsTest, KeepsValidTimeZonesAndNamesTheLeadOfABadOne) {
  std::vector<Lead> leads = {{1, "+14155550101", "", "America/New_York"},
                             {2, "+14155550102", "", ""}};
  absl::StatusOr<NormalizedLeads> ok = NormalizeLeads(leads, Limits{});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->leads[0].time_zone, "America/New_York");
  EXPECT_EQ(ok->leads[1].time_zone, "");
  leads.push_back({7, "+14155550107", "", "America/Chicgo"});
  EXPECT_TRUE(IsInvalidArgumentWith(
      NormalizeLeads(leads, Limits{}).status(),
      {"leads[2].time_zone \"America/Chicgo\" (lead_id 7)", "not in the time zone database"}));
}

TEST(NormalizeCallerIdsTest, NormalisesInOrderAndRefusesBadRepeatedOrTooMany) {
  absl::StatusOr<std::vector<std::string>> ids =
      NormalizeCallerIds({"+1 415 555 0100", "+33 1 23 45 67 89"});
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<std::string>{"+14155550100", "+33123456789"}));
  EXPECT_TRUE(NormalizeCallerIds({}).ok());
  EXPECT_TRUE(IsInvalidArgumentWith(NormalizeCallerIds({"+14155550100", "0800"}).status(),
                                    {"caller_ids[1]", "\"0800\"", "not a valid"}));
  EXPECT_TRUE(IsInvalidArgumentWith(
      NormalizeCallerIds({"+14155550100", "+14155550101", "+1-415-555-0100"}).status(),
      {"caller_ids[2] \"+1-415-555-0100\" is +14155550100, already given as caller_ids[0]"}));
  std::vector<std::string> many;
  for (int i = 0; i < 1001; ++i) many.push_back(absl::StrCat("+1415555", 1000 + i));
  EXPECT_TRUE(IsInvalidArgumentWith(NormalizeCallerIds(many).status(),
                                    {"caller_ids holds 1001 numbers; at most 1000"}));
  many.pop_back();
  EXPECT_TRUE(NormalizeCallerIds(many).ok());
}

TEST(ValidateScheduleTest, EndAtAfterStartAtAndNowStartAtMayBePast) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  EXPECT_TRUE(ValidateSchedule(std::nullopt, std::nullopt, now).ok());
  EXPECT_TRUE(ValidateSchedule(now - absl::Hours(5), std::nullopt, now).ok());
  EXPECT_TRUE(ValidateSchedule(now - absl::Hours(5), now + absl::Seconds(1), now).ok());
  EXPECT_TRUE(IsInvalidArgumentWith(
      ValidateSchedule(std::nullopt, now, now),
      {"end_at 2027-01-15T08:00:00Z is not in the future (now 2027-01-15T08:00:00Z)"}));
  EXPECT_TRUE(IsInvalidArgumentWith(
      ValidateSchedule(now + absl::Hours(2), now + absl::Hours(1), now),
      {"end_at 2027-01-15T09:00:00Z must be after start_at 2027-01-15T10:00:00Z"}));
  EXPECT_TRUE(
      IsInvalidArgumentWith(ValidateSchedule(now + absl::Hours(2), now + absl::Hours(2), now),
                            {"must be after start_at"}));
}

}  // namespace
}  // namespace campaign
