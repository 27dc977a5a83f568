#include "server/rules/time_zone_map.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/status/status.h"

namespace campaign::rules {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(TimeZoneMapTest, EmbeddedTableLoadsWhole) {
  const TimeZoneMap& map = TimeZoneMap::Embedded();
  // libphonenumber's map_data.txt at 02517ac has 3,182 prefixes.
  EXPECT_EQ(map.size(), 3182u);
  EXPECT_EQ(&TimeZoneMap::Embedded(), &map);  // Parsed once.
}

TEST(TimeZoneMapTest, NanpAreaCodesInEachUsZone) {
  const TimeZoneMap& map = TimeZoneMap::Embedded();
  EXPECT_THAT(map.ZonesFor("+12125550100"), ElementsAre("America/New_York"));
  EXPECT_THAT(map.ZonesFor("+13125550100"), ElementsAre("America/Chicago"));
  EXPECT_THAT(map.ZonesFor("+13035550100"), ElementsAre("America/Denver"));
  EXPECT_THAT(map.ZonesFor("+12135550100"), ElementsAre("America/Los_Angeles"));
  EXPECT_THAT(map.ZonesFor("+19075550100"), ElementsAre("America/Adak", "America/Anchorage"));
  EXPECT_THAT(map.ZonesFor("+18085550100"), ElementsAre("Pacific/Honolulu"));
  // Arizona: 623 is Phoenix only, 602 also lists Denver.
  EXPECT_THAT(map.ZonesFor("+16235550100"), ElementsAre("America/Phoenix"));
  EXPECT_THAT(map.ZonesFor("+16025550100"), ElementsAre("America/Denver", "America/Phoenix"));
  EXPECT_EQ(map.ZoneSpecFor("+12125550100", ""), "America/New_York");
  EXPECT_EQ(map.ZoneSpecFor("+19075550100", ""), "America/Adak&America/Anchorage");
  // The '+' is optional.
  EXPECT_THAT(map.ZonesFor("13125550100"), ElementsAre("America/Chicago"));
}

TEST(TimeZoneMapTest, LongestPrefixWins) {
  const TimeZoneMap& map = TimeZoneMap::Embedded();
  // 12082 (Idaho) lists two zones; 120823 narrows to Denver; 1208215 to
  // Los Angeles.
  EXPECT_THAT(map.ZonesFor("+12082000000"), ElementsAre("America/Boise", "America/Los_Angeles"));
  EXPECT_EQ(map.ZoneSpecFor("+12082000000", ""), "America/Boise&America/Los_Angeles");
  EXPECT_THAT(map.ZonesFor("+12082345678"), ElementsAre("America/Denver"));
  EXPECT_THAT(map.ZonesFor("+12082155555"), ElementsAre("America/Los_Angeles"));
  // Juneau inside Alaska's 907.
  EXPECT_THAT(map.ZonesFor("+19072091234"), ElementsAre("America/Juneau"));
}

TEST(TimeZoneMapTest, CountriesWithOneZone) {
  const TimeZoneMap& map = TimeZoneMap::Embedded();
  EXPECT_THAT(map.ZonesFor("+33123456789"), ElementsAre("Europe/Paris"));
  EXPECT_EQ(map.ZoneSpecFor("+33123456789", ""), "Europe/Paris");
  EXPECT_THAT(map.ZonesFor("+4915112345678"), ElementsAre("Europe/Berlin"));
  // UK: London numbers and the Crown dependencies have prefixes of their own.
  EXPECT_THAT(map.ZonesFor("+442079460000"), ElementsAre("Europe/London"));
  EXPECT_EQ(map.ZoneSpecFor("+442079460000", ""), "Europe/London");
  EXPECT_THAT(map.ZonesFor("+441481123456"), ElementsAre("Europe/Guernsey"));
}

TEST(TimeZoneMapTest, CountryWideFallbackWithSeveralZonesIsUnknown) {
  const TimeZoneMap& map = TimeZoneMap::Embedded();
  // A toll-free (or unknown) North American area code matches only "1": the
  // table lists every zone of the continent for it.
  EXPECT_EQ(map.ZonesFor("+18005550100").size(), 41u);
  EXPECT_EQ(map.ZoneSpecFor("+18005550100", ""), "");
  EXPECT_EQ(map.ZoneSpecFor("+15005550006", ""), "");
  // A UK mobile matches only "44" (four zones).
  EXPECT_EQ(map.ZonesFor("+447700900000").size(), 4u);
  EXPECT_EQ(map.ZoneSpecFor("+447700900000", ""), "");
  // A sub-country prefix with several zones is kept (both must be open).
  EXPECT_EQ(map.ZoneSpecFor("+12082000000", ""), "America/Boise&America/Los_Angeles");
}

TEST(TimeZoneMapTest, UnknownPrefixAndMalformedNumbersHaveNoZone) {
  const TimeZoneMap& map = TimeZoneMap::Embedded();
  EXPECT_THAT(map.ZonesFor("+9991234567"), IsEmpty());
  EXPECT_EQ(map.ZoneSpecFor("+9991234567", ""), "");
  EXPECT_THAT(map.ZonesFor(""), IsEmpty());
  EXPECT_THAT(map.ZonesFor("+"), IsEmpty());
  EXPECT_THAT(map.ZonesFor("+1212abc"), IsEmpty());
}

TEST(TimeZoneMapTest, LeadZoneWins) {
  const TimeZoneMap& map = TimeZoneMap::Embedded();
  EXPECT_EQ(map.ZoneSpecFor("+12125550100", "Europe/Lisbon"), "Europe/Lisbon");
  EXPECT_EQ(map.ZoneSpecFor("+9991234567", "Asia/Tokyo"), "Asia/Tokyo");
}

TEST(TimeZoneMapTest, ParsesCommentsBlankLinesAndCrlf) {
  absl::StatusOr<TimeZoneMap> map =
      TimeZoneMap::Parse("# comment\r\n\r\n1|America/New_York\r\n12|Europe/Paris&Asia/Tokyo\n");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->size(), 2u);
  EXPECT_THAT(map->ZonesFor("+1300"), ElementsAre("America/New_York"));
  EXPECT_THAT(map->ZonesFor("+1234"), ElementsAre("Europe/Paris", "Asia/Tokyo"));
  // "12" is not a country fallback ("1" is shorter), so both zones stay.
  EXPECT_EQ(map->ZoneSpecFor("+1234", ""), "Europe/Paris&Asia/Tokyo");
}

TEST(TimeZoneMapTest, ParseErrorsNameTheLine) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"# c\n1|America/New_York\n12\n", "line 3: expected <digits>|<zone>"},
      {"1x|America/New_York\n", "line 1: the prefix is not all digits"},
      {"|America/New_York\n", "line 1: the prefix is not all digits"},
      {"1|\n", "line 1: malformed zone \"\""},
      {"1|America/New York\n", "line 1: malformed zone \"America/New York\""},
      {"1|America/New_York&&Europe/Paris\n", "line 1: malformed zone \"\""},
      {"1|America/New_York\n\n1|Europe/Paris\n", "line 3: prefix 1 is given twice"},
      {"1|America/New_York\n2|Mars/Olympus_Mons\n",
       "line 2: zone \"Mars/Olympus_Mons\" does not load"},
      {"# only comments\n", "no entries"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<TimeZoneMap> map = TimeZoneMap::Parse(c.text);
    ASSERT_FALSE(map.ok()) << c.text;
    EXPECT_EQ(map.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(map.status().message()), HasSubstr(c.message)) << c.text;
  }
}

TEST(TimeZoneMapTest, LoadReadsAFile) {
  const std::string path = ::testing::TempDir() + "/time_zone_map_test.txt";
  {
    std::ofstream out(path);
    out << "44|Europe/London\n";
  }
  absl::StatusOr<TimeZoneMap> map = TimeZoneMap::Load(path);
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_THAT(map->ZonesFor("+447700900000"), ElementsAre("Europe/London"));
  {
    std::ofstream out(path);
    out << "44|Nowhere/Land\n";
  }
  map = TimeZoneMap::Load(path);
  EXPECT_EQ(map.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(map.status().message()), HasSubstr(path));
  std::remove(path.c_str());
  EXPECT_EQ(TimeZoneMap::Load(path).status().code(), absl::StatusCode::kNotFound);
}

TEST(TimeZoneMapTest, ProcessWideMapIsTheEmbeddedOneUntilReplaced) {
  const TimeZoneMap& before = TimeZones();
  EXPECT_EQ(&before, &TimeZoneMap::Embedded());
  absl::StatusOr<TimeZoneMap> mine = TimeZoneMap::Parse("1|Asia/Tokyo\n");
  ASSERT_TRUE(mine.ok());
  SetTimeZones(*std::move(mine));
  EXPECT_THAT(TimeZones().ZonesFor("+12125550100"), ElementsAre("Asia/Tokyo"));
  // The earlier reference is still valid.
  EXPECT_THAT(before.ZonesFor("+12125550100"), ElementsAre("America/New_York"));
}

}  // namespace
}  // namespace campaign::rules
