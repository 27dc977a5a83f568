#include "server/rules/dialing_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "server/rules/time_zone_map.h"

namespace campaign::rules {
namespace {

using ::testing::HasSubstr;
using Action = Decision::Action;

absl::TimeZone Zone(const std::string& name) {
  absl::TimeZone zone;
  EXPECT_TRUE(absl::LoadTimeZone(name, &zone)) << name;
  return zone;
}

// An instant given as UTC civil time.
absl::Time Utc(int y, int mo, int d, int h, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

// An instant given as local civil time in `zone` (unique local times only).
absl::Time Local(const std::string& zone, int y, int mo, int d, int h, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), Zone(zone));
}

// The same window every day.
DialingPolicy Daily(int start_minute, int end_minute) {
  DialingPolicy p = ServerDefaultPolicy();
  p.calling_windows.clear();
  for (int day = 1; day <= 7; ++day) p.calling_windows.push_back({day, start_minute, end_minute});
  return p;
}

constexpr int H(int hours, int minutes = 0) { return hours * 60 + minutes; }

// Window() in the zones of a phone number (the embedded table).
WindowState WindowFor(const DialingPolicy& policy, const std::string& e164, absl::Time now) {
  absl::StatusOr<std::vector<absl::TimeZone>> zones =
      ZonesOf(TimeZoneMap::Embedded().ZoneSpecFor(e164, ""), policy);
  EXPECT_TRUE(zones.ok()) << zones.status();
  return Window(policy, *zones, now);
}

// ------------------------------------------------------------- windows

TEST(WindowTest, EdgesInclusiveStartExclusiveEnd) {
  const DialingPolicy policy = Daily(H(8), H(21));
  const std::vector<absl::TimeZone> ny = {Zone("America/New_York")};
  // Monday 2026-03-02 (EST, UTC-5).
  WindowState at_start = Window(policy, ny, Local("America/New_York", 2026, 3, 2, 8));
  EXPECT_TRUE(at_start.open);
  EXPECT_EQ(at_start.next_change, Local("America/New_York", 2026, 3, 2, 21));
  EXPECT_THAT(at_start.rule, HasSubstr("inside the calling window Mon 08:00-21:00 in "
                                       "America/New_York (local Mon 2026-03-02 08:00)"));

  WindowState before = Window(policy, ny, Local("America/New_York", 2026, 3, 2, 7, 59, 59));
  EXPECT_FALSE(before.open);
  EXPECT_EQ(before.next_change, Local("America/New_York", 2026, 3, 2, 8));
  EXPECT_THAT(before.rule, HasSubstr("outside the calling window Mon 08:00-21:00"));
  EXPECT_THAT(before.rule, HasSubstr("opens 2026-03-02T13:00:00Z"));

  WindowState last_second = Window(policy, ny, Local("America/New_York", 2026, 3, 2, 20, 59, 59));
  EXPECT_TRUE(last_second.open);
  EXPECT_EQ(last_second.next_change, Local("America/New_York", 2026, 3, 2, 21));

  WindowState at_end = Window(policy, ny, Local("America/New_York", 2026, 3, 2, 21));
  EXPECT_FALSE(at_end.open);
  EXPECT_EQ(at_end.next_change, Local("America/New_York", 2026, 3, 3, 8));
}

TEST(WindowTest, SeveralWindowsADayAndDaysWithout) {
  DialingPolicy policy = ServerDefaultPolicy();
  // Weekdays 09:00-12:00 and 14:00-17:00; no weekend window.
  policy.calling_windows.clear();
  for (int day = 1; day <= 5; ++day) {
    policy.calling_windows.push_back({day, H(14), H(17)});
    policy.calling_windows.push_back({day, H(9), H(12)});
  }
  const std::vector<absl::TimeZone> utc = {absl::UTCTimeZone()};
  // Friday 2026-03-06 12:30: lunch gap.
  WindowState lunch = Window(policy, utc, Utc(2026, 3, 6, 12, 30));
  EXPECT_FALSE(lunch.open);
  EXPECT_EQ(lunch.next_change, Utc(2026, 3, 6, 14));
  EXPECT_THAT(lunch.rule, HasSubstr("Fri 09:00-12:00, 14:00-17:00"));
  // Friday 17:00 -> Monday 09:00.
  WindowState weekend = Window(policy, utc, Utc(2026, 3, 6, 17));
  EXPECT_EQ(weekend.next_change, Utc(2026, 3, 9, 9));
  WindowState saturday = Window(policy, utc, Utc(2026, 3, 7, 10));
  EXPECT_FALSE(saturday.open);
  EXPECT_THAT(saturday.rule, HasSubstr("no calling window on Sat in UTC"));
}

TEST(WindowTest, AllDayWindowsAcrossMidnightAreOneStretch) {
  DialingPolicy policy = ServerDefaultPolicy();
  // Mon 20:00-24:00, Tue 00:00-02:00: open from Monday 20:00 to Tuesday 02:00.
  policy.calling_windows = {{1, H(20), H(24)}, {2, 0, H(2)}};
  const std::vector<absl::TimeZone> utc = {absl::UTCTimeZone()};
  WindowState monday = Window(policy, utc, Utc(2026, 3, 2, 23));
  EXPECT_TRUE(monday.open);
  EXPECT_EQ(monday.next_change, Utc(2026, 3, 3, 2));
  // The whole day every day: open, no close within the horizon.
  WindowState always = Window(Daily(0, H(24)), utc, Utc(2026, 3, 2, 23));
  EXPECT_TRUE(always.open);
  EXPECT_EQ(always.next_change, absl::InfiniteFuture());
}

TEST(WindowTest, NanpZonesOfEachUsAreaCode) {
  const DialingPolicy policy = Daily(H(8), H(21));
  // Thursday 2026-01-15 14:30 UTC (standard time everywhere).
  const absl::Time now = Utc(2026, 1, 15, 14, 30);
  WindowState ny = WindowFor(policy, "+12125550100", now);  // 09:30 EST
  EXPECT_TRUE(ny.open);
  EXPECT_EQ(ny.next_change, Utc(2026, 1, 16, 2));  // 21:00 EST
  WindowState chicago = WindowFor(policy, "+13125550100", now);  // 08:30 CST
  EXPECT_TRUE(chicago.open);
  EXPECT_EQ(chicago.next_change, Utc(2026, 1, 16, 3));
  WindowState denver = WindowFor(policy, "+13035550100", now);  // 07:30 MST
  EXPECT_FALSE(denver.open);
  EXPECT_EQ(denver.next_change, Utc(2026, 1, 15, 15));
  EXPECT_THAT(denver.rule, HasSubstr("America/Denver (local Thu 2026-01-15 07:30)"));
  WindowState la = WindowFor(policy, "+12135550100", now);  // 06:30 PST
  EXPECT_FALSE(la.open);
  EXPECT_EQ(la.next_change, Utc(2026, 1, 15, 16));
  WindowState honolulu = WindowFor(policy, "+18085550100", now);  // 04:30 HST
  EXPECT_FALSE(honolulu.open);
  EXPECT_EQ(honolulu.next_change, Utc(2026, 1, 15, 18));
  // 907: Anchorage (AKST, UTC-9) and Adak (HST, UTC-10) both open at
  // 18:00 UTC (Adak's 08:00; Anchorage opened at 17:00).
  WindowState alaska = WindowFor(policy, "+19075550100", now);
  EXPECT_FALSE(alaska.open);
  EXPECT_EQ(alaska.next_change, Utc(2026, 1, 15, 18));
  EXPECT_THAT(alaska.rule, HasSubstr("all of America/Adak&America/Anchorage must be open"));
}

TEST(WindowTest, ArizonaHasNoDaylightSaving) {
  const DialingPolicy policy = Daily(H(8), H(21));
  // 623 is Phoenix only: MST (UTC-7) all year, so the window is
  // 15:00-04:00 UTC in January and in July alike.
  for (int month : {1, 7}) {
    SCOPED_TRACE(month);
    WindowState before = WindowFor(policy, "+16235550100", Utc(2026, month, 15, 14, 59));
    EXPECT_FALSE(before.open);
    EXPECT_EQ(before.next_change, Utc(2026, month, 15, 15));
    WindowState open = WindowFor(policy, "+16235550100", Utc(2026, month, 15, 15));
    EXPECT_TRUE(open.open);
    EXPECT_EQ(open.next_change, Utc(2026, month, 16, 4));
  }
  // Denver next door moves by an hour: it opens at 14:00 UTC in July.
  EXPECT_EQ(WindowFor(policy, "+13035550100", Utc(2026, 7, 15, 13)).next_change,
            Utc(2026, 7, 15, 14));
  // 602 lists Denver and Phoenix: open only when both are, so in July
  // 15:00 (Phoenix opens) to 03:00 UTC (Denver closes), in January
  // 15:00-04:00 UTC.
  EXPECT_EQ(WindowFor(policy, "+16025550100", Utc(2026, 7, 15, 13)).next_change,
            Utc(2026, 7, 15, 15));
  EXPECT_EQ(WindowFor(policy, "+16025550100", Utc(2026, 7, 15, 15)).next_change,
            Utc(2026, 7, 16, 3));
  EXPECT_EQ(WindowFor(policy, "+16025550100", Utc(2026, 1, 15, 15)).next_change,
            Utc(2026, 1, 16, 4));
}

TEST(WindowTest, PrefixWithSeveralZonesIsClosedUntilAllAreOpen) {
  const DialingPolicy policy = Daily(H(8), H(21));
  // 1208 2: Boise (MST, UTC-7) and Los Angeles (PST, UTC-8).
  // 15:30 UTC: Boise 08:30 open, Los Angeles 07:30 closed.
  WindowState early = WindowFor(policy, "+12082000000", Utc(2026, 1, 15, 15, 30));
  EXPECT_FALSE(early.open);
  EXPECT_EQ(early.next_change, Utc(2026, 1, 15, 16));
  EXPECT_THAT(early.rule, HasSubstr("outside the calling window Thu 08:00-21:00 in "
                                    "America/Los_Angeles (local Thu 2026-01-15 07:30)"));
  // Open from 16:00 UTC until Boise closes at 04:00 UTC.
  WindowState open = WindowFor(policy, "+12082000000", Utc(2026, 1, 15, 16));
  EXPECT_TRUE(open.open);
  EXPECT_EQ(open.next_change, Utc(2026, 1, 16, 4));
  EXPECT_THAT(open.rule, HasSubstr("America/Boise"));
  // 04:30 UTC: Boise closed (21:30), Los Angeles open (20:30): both open
  // again at 16:00 UTC.
  WindowState late = WindowFor(policy, "+12082000000", Utc(2026, 1, 16, 4, 30));
  EXPECT_FALSE(late.open);
  EXPECT_EQ(late.next_change, Utc(2026, 1, 16, 16));
}

TEST(WindowTest, ZonesNeverOpenTogether) {
  // One hour a day in Tokyo and New York: never at the same time.
  const DialingPolicy policy = Daily(H(9), H(10));
  WindowState state =
      Window(policy, {Zone("Asia/Tokyo"), Zone("America/New_York")}, Utc(2026, 3, 2, 0));
  EXPECT_FALSE(state.open);
  EXPECT_EQ(state.next_change, absl::InfiniteFuture());
  EXPECT_THAT(state.rule, HasSubstr("no window is open in every zone at once within 366 days"));
}

TEST(WindowTest, CountriesWithOneZone) {
  const DialingPolicy policy = Daily(H(8), H(21));
  // Paris: 06:30 UTC is 08:30 CEST in July, 07:30 CET in January.
  EXPECT_TRUE(WindowFor(policy, "+33123456789", Utc(2026, 7, 1, 6, 30)).open);
  WindowState winter = WindowFor(policy, "+33123456789", Utc(2026, 1, 15, 6, 30));
  EXPECT_FALSE(winter.open);
  EXPECT_EQ(winter.next_change, Utc(2026, 1, 15, 7));
  // London: 07:30 UTC is 08:30 BST in July, 07:30 GMT in January.
  EXPECT_TRUE(WindowFor(policy, "+442079460000", Utc(2026, 7, 1, 7, 30)).open);
  EXPECT_EQ(WindowFor(policy, "+442079460000", Utc(2026, 1, 15, 7, 30)).next_change,
            Utc(2026, 1, 15, 8));
}

TEST(WindowTest, UnknownPrefixUsesThePolicysDefaultZone) {
  DialingPolicy policy = Daily(H(8), H(21));
  policy.default_time_zone = "Asia/Tokyo";
  // +999: no prefix; 23:30 UTC is 08:30 in Tokyo.
  WindowState state = WindowFor(policy, "+9991234567", Utc(2026, 3, 2, 23, 30));
  EXPECT_TRUE(state.open);
  EXPECT_THAT(state.rule, HasSubstr("in Asia/Tokyo"));
  // A toll-free North American number too (the table's country fallback).
  EXPECT_TRUE(WindowFor(policy, "+18005550100", Utc(2026, 3, 2, 23, 30)).open);
  EXPECT_FALSE(WindowFor(policy, "+18005550100", Utc(2026, 3, 2, 14)).open);
}

// ------------------------------------------------------ DST switch days

// America/New_York springs forward on Sunday 2026-03-08 at 02:00 EST
// (07:00 UTC) to 03:00 EDT, and falls back on Sunday 2026-11-01 at 02:00 EDT
// (06:00 UTC) to 01:00 EST.
const std::vector<absl::TimeZone>& NewYork() {
  static const auto* zones = new std::vector<absl::TimeZone>{Zone("America/New_York")};
  return *zones;
}

TEST(DstTest, NormalWindowOnSwitchDays) {
  const DialingPolicy policy = Daily(H(8), H(21));
  // Saturday before spring forward: 08:00 EST = 13:00 UTC; Sunday: 08:00 EDT
  // = 12:00 UTC.
  EXPECT_EQ(Window(policy, NewYork(), Utc(2026, 3, 7, 2)).next_change, Utc(2026, 3, 7, 13));
  WindowState saturday_evening = Window(policy, NewYork(), Utc(2026, 3, 8, 1));  // 20:00 EST
  EXPECT_TRUE(saturday_evening.open);
  EXPECT_EQ(saturday_evening.next_change, Utc(2026, 3, 8, 2));
  WindowState sunday_night = Window(policy, NewYork(), Utc(2026, 3, 8, 6));  // 01:00 EST
  EXPECT_FALSE(sunday_night.open);
  EXPECT_EQ(sunday_night.next_change, Utc(2026, 3, 8, 12));
  WindowState sunday = Window(policy, NewYork(), Utc(2026, 3, 8, 12));
  EXPECT_TRUE(sunday.open);
  EXPECT_EQ(sunday.next_change, Utc(2026, 3, 9, 1));  // 21:00 EDT
  // Fall back: Saturday 08:00 EDT = 12:00 UTC, Sunday 08:00 EST = 13:00 UTC.
  EXPECT_EQ(Window(policy, NewYork(), Utc(2026, 10, 31, 2)).next_change, Utc(2026, 10, 31, 12));
  WindowState fall_sunday = Window(policy, NewYork(), Utc(2026, 11, 1, 5));  // 01:00 EDT
  EXPECT_FALSE(fall_sunday.open);
  EXPECT_EQ(fall_sunday.next_change, Utc(2026, 11, 1, 13));
  EXPECT_TRUE(Window(policy, NewYork(), Utc(2026, 11, 1, 13)).open);
  EXPECT_FALSE(Window(policy, NewYork(), Utc(2026, 11, 1, 12, 59)).open);
}

TEST(DstTest, SpringForwardWindowStartingInTheGapOpensAtTheTransition) {
  // 02:30 does not exist on 2026-03-08: the window opens when the clock
  // jumps to 03:00 EDT (07:00 UTC) and closes at 05:00 EDT.
  const DialingPolicy policy = Daily(H(2, 30), H(5));
  WindowState before = Window(policy, NewYork(), Utc(2026, 3, 8, 6));  // 01:00 EST
  EXPECT_FALSE(before.open);
  EXPECT_EQ(before.next_change, Utc(2026, 3, 8, 7));
  WindowState at = Window(policy, NewYork(), Utc(2026, 3, 8, 7));  // 03:00 EDT
  EXPECT_TRUE(at.open);
  EXPECT_EQ(at.next_change, Utc(2026, 3, 8, 9));
}

TEST(DstTest, SpringForwardWindowInsideTheGapNeverOpensThatDay) {
  // 02:00-03:00 local: the hour that does not exist on 2026-03-08. Next
  // opening: Monday 02:00 EDT (06:00 UTC).
  const DialingPolicy policy = Daily(H(2), H(3));
  WindowState state = Window(policy, NewYork(), Utc(2026, 3, 8, 6, 30));  // 01:30 EST
  EXPECT_FALSE(state.open);
  EXPECT_EQ(state.next_change, Utc(2026, 3, 9, 6));
}

TEST(DstTest, SpringForwardWindowEndingInTheGapClosesAtTheTransition) {
  // 01:00-02:30 local: at 01:59:59 EST the clock jumps past 02:30.
  const DialingPolicy policy = Daily(H(1), H(2, 30));
  WindowState state = Window(policy, NewYork(), Utc(2026, 3, 8, 6, 30));  // 01:30 EST
  EXPECT_TRUE(state.open);
  EXPECT_EQ(state.next_change, Utc(2026, 3, 8, 7));
  EXPECT_FALSE(Window(policy, NewYork(), Utc(2026, 3, 8, 7)).open);
}

TEST(DstTest, FallBackRepeatedLocalTimesAreInsideTheWindowBothTimes) {
  // 01:00-01:30 local happens twice on 2026-11-01: 05:00-05:30 UTC (EDT) and
  // 06:00-06:30 UTC (EST). The callee's clock is in the window both times.
  const DialingPolicy policy = Daily(H(1), H(1, 30));
  WindowState first = Window(policy, NewYork(), Utc(2026, 11, 1, 5));
  EXPECT_TRUE(first.open);
  EXPECT_EQ(first.next_change, Utc(2026, 11, 1, 5, 30));
  WindowState between = Window(policy, NewYork(), Utc(2026, 11, 1, 5, 30));  // 01:30 EDT
  EXPECT_FALSE(between.open);
  EXPECT_EQ(between.next_change, Utc(2026, 11, 1, 6));  // 01:00 EST
  WindowState second = Window(policy, NewYork(), Utc(2026, 11, 1, 6));
  EXPECT_TRUE(second.open);
  EXPECT_EQ(second.next_change, Utc(2026, 11, 1, 6, 30));
}

TEST(DstTest, FallBackClockTurningBackLeavesTheWindowAtTheTransition) {
  // 01:30-03:00 local: open from 01:30 EDT (05:30 UTC); at 06:00 UTC the
  // clock turns back to 01:00 EST, outside the window, until 01:30 EST
  // (06:30 UTC); then open until 03:00 EST (08:00 UTC).
  const DialingPolicy policy = Daily(H(1, 30), H(3));
  WindowState before = Window(policy, NewYork(), Utc(2026, 11, 1, 5));
  EXPECT_FALSE(before.open);
  EXPECT_EQ(before.next_change, Utc(2026, 11, 1, 5, 30));
  WindowState first = Window(policy, NewYork(), Utc(2026, 11, 1, 5, 30));
  EXPECT_TRUE(first.open);
  EXPECT_EQ(first.next_change, Utc(2026, 11, 1, 6));
  WindowState turned_back = Window(policy, NewYork(), Utc(2026, 11, 1, 6));
  EXPECT_FALSE(turned_back.open);
  EXPECT_EQ(turned_back.next_change, Utc(2026, 11, 1, 6, 30));
  EXPECT_EQ(Window(policy, NewYork(), Utc(2026, 11, 1, 6, 30)).next_change, Utc(2026, 11, 1, 8));
}

// ------------------------------------------------------ restricted dates

TEST(RestrictedDateTest, TheCalleesLocalDateCounts) {
  DialingPolicy policy = Daily(H(8), H(21));
  policy.restricted_dates = {{2026, 12, 25}};
  // 2026-12-24 23:30 UTC: still the 24th in New York (18:30), already the
  // 25th in Tokyo (08:30).
  const absl::Time now = Utc(2026, 12, 24, 23, 30);
  EXPECT_TRUE(Window(policy, NewYork(), now).open);
  WindowState tokyo = Window(policy, {Zone("Asia/Tokyo")}, now);
  EXPECT_FALSE(tokyo.open);
  EXPECT_THAT(tokyo.rule, HasSubstr("2026-12-25 is a restricted date in Asia/Tokyo "
                                    "(local Fri 2026-12-25 08:30)"));
  // Next opening: 2026-12-26 08:00 in Tokyo = 2026-12-25 23:00 UTC.
  EXPECT_EQ(tokyo.next_change, Utc(2026, 12, 25, 23));
  // New York closes at 21:00 on the 24th and skips its 25th.
  WindowState ny = Window(policy, NewYork(), Utc(2026, 12, 25, 3));
  EXPECT_FALSE(ny.open);
  EXPECT_EQ(ny.next_change, Local("America/New_York", 2026, 12, 26, 8));
}

TEST(RestrictedDateTest, EveryWindowDayRestrictedIsNeverReachable) {
  DialingPolicy policy = ServerDefaultPolicy();
  policy.calling_windows = {{5, H(8), H(21)}};  // Fridays only.
  // Every Friday of the coming 53 weeks.
  for (absl::CivilDay day(2026, 3, 6); day < absl::CivilDay(2027, 3, 12); day += 7) {
    policy.restricted_dates.push_back(
        {static_cast<int>(day.year()), day.month(), day.day()});
  }
  WindowState state = Window(policy, {absl::UTCTimeZone()}, Utc(2026, 3, 2, 12));
  EXPECT_FALSE(state.open);
  EXPECT_EQ(state.next_change, absl::InfiniteFuture());
}

// -------------------------------------------------------------- Decide

class DecideTest : public ::testing::Test {
 protected:
  DecideTest() : policy_(Daily(H(8), H(21))) {
    policy_.max_attempts = 3;
    lead_.time_zone = "America/New_York";
  }
  // Monday 2026-03-02 10:00 EST: inside the window.
  const absl::Time now_ = Utc(2026, 3, 2, 15);
  DialingPolicy policy_;
  LeadFacts lead_;
  RunSchedule schedule_;
};

TEST_F(DecideTest, InsideTheWindowDialsNow) {
  Decision d = Decide(policy_, lead_, schedule_, now_);
  EXPECT_EQ(d.action, Action::kDialNow);
  EXPECT_EQ(d.wait, WaitReason::kNone);
  EXPECT_EQ(d.skip, SkipReason::kNone);
  EXPECT_THAT(d.rule, HasSubstr("inside the calling window Mon 08:00-21:00 in America/New_York"));
}

TEST_F(DecideTest, DoNotCallComesFirst) {
  lead_.on_do_not_call = true;
  schedule_.start_at = now_ + absl::Hours(1);
  lead_.next_attempt_at = now_ + absl::Hours(2);
  lead_.waiting_reason = WaitReason::kRetryDelay;
  Decision d = Decide(policy_, lead_, schedule_, now_);
  EXPECT_EQ(d.action, Action::kSkip);
  EXPECT_EQ(d.skip, SkipReason::kDoNotCall);
  EXPECT_THAT(d.rule, HasSubstr("do-not-call"));
}

TEST_F(DecideTest, StartAtBeforeRetryCapAndWindow) {
  schedule_.start_at = now_ + absl::Hours(1);
  lead_.next_attempt_at = now_ + absl::Hours(2);
  lead_.waiting_reason = WaitReason::kRetryDelay;
  Decision d = Decide(policy_, lead_, schedule_, now_);
  EXPECT_EQ(d.action, Action::kDefer);
  EXPECT_EQ(d.wait, WaitReason::kStartAt);
  EXPECT_EQ(d.until, now_ + absl::Hours(1));
  EXPECT_THAT(d.rule, HasSubstr("the run starts at 2026-03-02T16:00:00Z"));
  // At start_at it is the retry delay's turn.
  Decision later = Decide(policy_, lead_, schedule_, now_ + absl::Hours(1));
  EXPECT_EQ(later.wait, WaitReason::kRetryDelay);
  EXPECT_EQ(later.until, now_ + absl::Hours(2));
}

TEST_F(DecideTest, RetryDelayBeforeCapAndWindow) {
  lead_.attempts_made = 1;
  lead_.next_attempt_at = now_ + absl::Minutes(10);
  lead_.waiting_reason = WaitReason::kRetryDelay;
  policy_.max_dials_per_number = 1;
  lead_.recent_dials = 1;
  lead_.oldest_recent_dial = now_ - absl::Hours(1);
  Decision d = Decide(policy_, lead_, schedule_, now_);
  EXPECT_EQ(d.action, Action::kDefer);
  EXPECT_EQ(d.wait, WaitReason::kRetryDelay);
  EXPECT_EQ(d.until, now_ + absl::Minutes(10));
  EXPECT_THAT(d.rule, HasSubstr("retry delay: attempt 2 of 3 not before 2026-03-02T15:10:00Z"));
}

TEST_F(DecideTest, AnOldWindowDeferralIsDecidedAfresh) {
  // next_attempt_at from an earlier window deferral does not hold the job.
  lead_.next_attempt_at = now_ + absl::Hours(5);
  lead_.waiting_reason = WaitReason::kCallingWindow;
  EXPECT_EQ(Decide(policy_, lead_, schedule_, now_).action, Action::kDialNow);
  // A due retry is dialed.
  lead_.next_attempt_at = now_;
  lead_.waiting_reason = WaitReason::kRetryDelay;
  EXPECT_EQ(Decide(policy_, lead_, schedule_, now_).action, Action::kDialNow);
}

TEST_F(DecideTest, PerNumberCapWaitsForTheOldestDialToLeaveTheWindow) {
  policy_.max_dials_per_number = 3;
  policy_.per_number_window_days = 7;
  lead_.recent_dials = 3;
  lead_.oldest_recent_dial = now_ - absl::Hours(48);
  Decision d = Decide(policy_, lead_, schedule_, now_);
  EXPECT_EQ(d.action, Action::kDefer);
  EXPECT_EQ(d.wait, WaitReason::kPerNumberCap);
  EXPECT_EQ(d.until, now_ + absl::Hours(24 * 5));
  EXPECT_THAT(d.rule, HasSubstr("per-number cap: 3 dials of this number in the last 7 days "
                                "(at most 3)"));
  // Below the cap: the window decides.
  lead_.recent_dials = 2;
  EXPECT_EQ(Decide(policy_, lead_, schedule_, now_).action, Action::kDialNow);
  // No cap (0).
  lead_.recent_dials = 50;
  policy_.max_dials_per_number = 0;
  EXPECT_EQ(Decide(policy_, lead_, schedule_, now_).action, Action::kDialNow);
}

TEST_F(DecideTest, PerNumberCapPastEndAtSkips) {
  policy_.max_dials_per_number = 1;
  policy_.per_number_window_days = 1;
  lead_.recent_dials = 1;
  lead_.oldest_recent_dial = now_ - absl::Hours(1);
  schedule_.end_at = now_ + absl::Hours(23);  // The dial leaves the window at now + 23 h.
  Decision d = Decide(policy_, lead_, schedule_, now_);
  EXPECT_EQ(d.action, Action::kSkip);
  EXPECT_EQ(d.skip, SkipReason::kPerNumberCap);
  EXPECT_THAT(d.rule, HasSubstr("not before the run's end_at 2026-03-03T14:00:00Z"));
  schedule_.end_at = now_ + absl::Hours(23) + absl::Seconds(1);
  EXPECT_EQ(Decide(policy_, lead_, schedule_, now_).action, Action::kDefer);
}

TEST_F(DecideTest, CapBeforeWindow) {
  policy_.max_dials_per_number = 1;
  lead_.recent_dials = 1;
  lead_.oldest_recent_dial = now_ - absl::Hours(1);
  const absl::Time night = Utc(2026, 3, 3, 4);  // 23:00 EST: window closed too.
  EXPECT_EQ(Decide(policy_, lead_, schedule_, night).wait, WaitReason::kPerNumberCap);
}

TEST_F(DecideTest, OutsideTheWindowDefersUntilItOpens) {
  const absl::Time night = Utc(2026, 3, 3, 4);  // Monday 23:00 EST.
  Decision d = Decide(policy_, lead_, schedule_, night);
  EXPECT_EQ(d.action, Action::kDefer);
  EXPECT_EQ(d.wait, WaitReason::kCallingWindow);
  EXPECT_EQ(d.until, Utc(2026, 3, 3, 13));  // Tuesday 08:00 EST.
  EXPECT_THAT(d.rule, HasSubstr("outside the calling window Mon 08:00-21:00 in America/New_York "
                                "(local Mon 2026-03-02 23:00); opens 2026-03-03T13:00:00Z"));
}

TEST_F(DecideTest, WindowOpeningAtOrAfterEndAtSkips) {
  const absl::Time night = Utc(2026, 3, 3, 4);
  schedule_.end_at = Utc(2026, 3, 3, 13);  // Exactly when the window opens.
  Decision d = Decide(policy_, lead_, schedule_, night);
  EXPECT_EQ(d.action, Action::kSkip);
  EXPECT_EQ(d.skip, SkipReason::kWindowUnreachable);
  schedule_.end_at = Utc(2026, 3, 3, 13, 0, 1);
  EXPECT_EQ(Decide(policy_, lead_, schedule_, night).action, Action::kDefer);
}

TEST_F(DecideTest, NoWindowWithinTheHorizonSkips) {
  // Mondays 09:00-10:00, every Monday of the coming year restricted.
  policy_.calling_windows = {{1, H(9), H(10)}};
  for (absl::CivilDay day(2026, 3, 2); day < absl::CivilDay(2027, 3, 9); day += 7) {
    policy_.restricted_dates.push_back({static_cast<int>(day.year()), day.month(), day.day()});
  }
  Decision d = Decide(policy_, lead_, schedule_, now_);
  EXPECT_EQ(d.action, Action::kSkip);
  EXPECT_EQ(d.skip, SkipReason::kWindowUnreachable);
  EXPECT_THAT(d.rule, HasSubstr("no window opens within 366 days"));
}

TEST_F(DecideTest, RunPastEndAtDialsNothing) {
  schedule_.end_at = now_;
  Decision d = Decide(policy_, lead_, schedule_, now_);
  EXPECT_EQ(d.action, Action::kSkip);
  EXPECT_EQ(d.skip, SkipReason::kWindowUnreachable);
  EXPECT_THAT(d.rule, HasSubstr("end_at 2026-03-02T15:00:00Z has passed"));
}

TEST_F(DecideTest, StartAtOrRetryPastEndAtSkips) {
  schedule_.start_at = now_ + absl::Hours(2);
  schedule_.end_at = now_ + absl::Hours(1);
  EXPECT_EQ(Decide(policy_, lead_, schedule_, now_).action, Action::kSkip);
  schedule_.start_at.reset();
  lead_.next_attempt_at = now_ + absl::Hours(1);
  lead_.waiting_reason = WaitReason::kRetryDelay;
  Decision d = Decide(policy_, lead_, schedule_, now_);
  EXPECT_EQ(d.action, Action::kSkip);
  EXPECT_THAT(d.rule, HasSubstr("retry delay"));
}

TEST_F(DecideTest, EmptyZoneSpecUsesTheDefaultZone) {
  lead_.time_zone = "";
  policy_.default_time_zone = "Asia/Tokyo";  // 00:00 on Tuesday there.
  Decision d = Decide(policy_, lead_, schedule_, now_);
  EXPECT_EQ(d.action, Action::kDefer);
  EXPECT_EQ(d.until, Utc(2026, 3, 2, 23));  // Tuesday 08:00 JST.
}

TEST_F(DecideTest, InvalidZoneSpecIsDecidedInTheDefaultZone) {
  lead_.time_zone = "Mars/Olympus_Mons";
  policy_.default_time_zone = "America/New_York";
  Decision d = Decide(policy_, lead_, schedule_, now_);
  EXPECT_EQ(d.action, Action::kDialNow);
  EXPECT_THAT(d.rule, HasSubstr("zone spec \"Mars/Olympus_Mons\" does not load, decided in the "
                                "default zone"));
}

TEST_F(DecideTest, MultiZoneSpecWaitsForAllZones) {
  lead_.time_zone = "America/New_York&America/Los_Angeles";
  // 10:00 EST is 07:00 PST: wait for 08:00 PST = 16:00 UTC.
  Decision d = Decide(policy_, lead_, schedule_, now_);
  EXPECT_EQ(d.action, Action::kDefer);
  EXPECT_EQ(d.wait, WaitReason::kCallingWindow);
  EXPECT_EQ(d.until, Utc(2026, 3, 2, 16));
  EXPECT_THAT(d.rule, HasSubstr("America/Los_Angeles (local Mon 2026-03-02 07:00)"));
}

// ------------------------------------------------------------- RetryAt

TEST(RetryAtTest, ByOutcomeUpToMaxAttempts) {
  DialingPolicy policy = ServerDefaultPolicy();
  policy.max_attempts = 3;
  const absl::Time ended = Utc(2026, 3, 2, 15);
  EXPECT_EQ(RetryAt(policy, JobStatus::kBusy, 1, ended), ended + absl::Seconds(600));
  EXPECT_EQ(RetryAt(policy, JobStatus::kNoAnswer, 2, ended), ended + absl::Seconds(3600));
  EXPECT_EQ(RetryAt(policy, JobStatus::kBusy, 3, ended), std::nullopt);  // Third was the last.
  EXPECT_EQ(RetryAt(policy, JobStatus::kFailed, 1, ended), std::nullopt);  // No delay for it.
  EXPECT_EQ(RetryAt(policy, JobStatus::kCompleted, 1, ended), std::nullopt);
  policy.retry_delays.push_back({JobStatus::kFailed, absl::Seconds(30)});
  EXPECT_EQ(RetryAt(policy, JobStatus::kFailed, 1, ended), ended + absl::Seconds(30));
  // The server default: one attempt, no retry.
  EXPECT_EQ(RetryAt(ServerDefaultPolicy(), JobStatus::kBusy, 1, ended), std::nullopt);
}

// -------------------------------------------------------- PickCallerId

TEST(PickCallerIdTest, EmptyPool) { EXPECT_EQ(PickCallerId({}, true, "+12125550100"), ""); }

TEST(PickCallerIdTest, StickyAndStable) {
  const std::vector<std::string> pool = {"+15550000001", "+15550000002", "+15550000003",
                                         "+15550000004"};
  const std::string first = PickCallerId(pool, false, "+14155550100");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(PickCallerId(pool, false, "+14155550100"), first);
  // The choice is a fixed function of the number (FNV-1a), the same in every
  // process: pinned here so a change of hash is noticed.
  EXPECT_EQ(first, "+15550000001");
  EXPECT_EQ(PickCallerId(pool, false, "+14155550101"), "+15550000004");
  // Spread over the pool.
  std::set<std::string> used;
  for (int i = 0; i < 200; ++i) {
    used.insert(PickCallerId(pool, false, "+1415555" + std::to_string(1000 + i)));
  }
  EXPECT_EQ(used.size(), pool.size());
}

TEST(PickCallerIdTest, LocalPresence) {
  const std::vector<std::string> pool = {"+12125550001", "+13125550002", "+13125550003",
                                         "+442079460004"};
  // Same area code.
  EXPECT_EQ(PickCallerId(pool, true, "+12125559999"), "+12125550001");
  for (int i = 0; i < 20; ++i) {
    EXPECT_THAT(PickCallerId(pool, true, "+1312555" + std::to_string(1000 + i)),
                ::testing::AnyOf("+13125550002", "+13125550003"));
  }
  // No number of that area code: one of the same country code.
  for (int i = 0; i < 20; ++i) {
    EXPECT_NE(PickCallerId(pool, true, "+1617555" + std::to_string(1000 + i)), "+442079460004");
  }
  EXPECT_EQ(PickCallerId(pool, true, "+447700900123"), "+442079460004");
  // No number of that country: any of the pool, still sticky.
  const std::string french = PickCallerId(pool, true, "+33123456789");
  EXPECT_EQ(PickCallerId(pool, true, "+33123456789"), french);
  // Without local presence the area code does not matter.
  std::set<std::string> used;
  for (int i = 0; i < 100; ++i) {
    used.insert(PickCallerId(pool, false, "+1212555" + std::to_string(1000 + i)));
  }
  EXPECT_EQ(used.size(), pool.size());
}

// ------------------------------------------------------ ValidatePolicy

TEST(ValidatePolicyTest, AcceptsDefaultsUnsetFieldsAndTouchingWindows) {
  EXPECT_TRUE(ValidatePolicy(ServerDefaultPolicy(), "policy.").ok());
  EXPECT_TRUE(ValidatePolicy(DialingPolicy(), "policy.").ok());
  DialingPolicy p;
  p.calling_windows = {{1, H(8), H(12)}, {1, H(12), H(13)}, {2, 0, H(24)}};
  p.restricted_dates = {{2028, 2, 29}};
  p.max_attempts = 20;
  p.retry_delays = {{JobStatus::kBusy, absl::Seconds(1)},
                    {JobStatus::kNoAnswer, absl::Seconds(2'592'000)},
                    {JobStatus::kFailed, absl::Seconds(60)}};
  p.max_dials_per_number = 1000;
  p.per_number_window_days = 365;
  p.default_time_zone = "America/Chicago";
  EXPECT_TRUE(ValidatePolicy(p, "policy.").ok()) << ValidatePolicy(p, "policy.");
}

TEST(ValidatePolicyTest, NamesTheFieldAndTheValue) {
  struct Case {
    void (*mutate)(DialingPolicy&);
    const char* message;
  };
  const Case cases[] = {
      {[](DialingPolicy& p) { p.calling_windows = {{0, H(8), H(9)}}; },
       "policy.calling_windows[0].day_of_week: 0 is not within 1..7"},
      {[](DialingPolicy& p) { p.calling_windows = {{1, H(8), H(9)}, {8, H(8), H(9)}}; },
       "policy.calling_windows[1].day_of_week: 8 is not within 1..7"},
      {[](DialingPolicy& p) { p.calling_windows = {{1, -1, H(9)}}; },
       "policy.calling_windows[0].start_minute: -1 is not within 0..1439"},
      {[](DialingPolicy& p) { p.calling_windows = {{1, 1440, 1440}}; },
       "policy.calling_windows[0].start_minute: 1440 is not within 0..1439"},
      {[](DialingPolicy& p) { p.calling_windows = {{1, H(9), H(9)}}; },
       "policy.calling_windows[0].end_minute: 540 is not within start_minute+1..1440 (541..1440)"},
      {[](DialingPolicy& p) { p.calling_windows = {{1, H(9), 1441}}; },
       "policy.calling_windows[0].end_minute: 1441 is not within"},
      {[](DialingPolicy& p) {
         for (int i = 0; i < 8; ++i) p.calling_windows.push_back({3, i * 60, i * 60 + 30});
       },
       "policy.calling_windows[7]: more than 7 windows on Wed"},
      {[](DialingPolicy& p) { p.calling_windows = {{1, H(8), H(12)}, {2, H(8), H(12)},
                                                   {1, H(11), H(13)}}; },
       "policy.calling_windows[2]: Mon 11:00-13:00 overlaps calling_windows[0] (08:00-12:00)"},
      {[](DialingPolicy& p) { p.restricted_dates = {{2026, 1, 1}, {2026, 2, 29}}; },
       "policy.restricted_dates[1]: 2026-02-29 is not a valid date"},
      {[](DialingPolicy& p) { p.restricted_dates = {{2026, 13, 1}}; },
       "policy.restricted_dates[0]: 2026-13-01 is not a valid date"},
      {[](DialingPolicy& p) { p.restricted_dates.assign(367, LocalDate{2026, 1, 1}); },
       "policy.restricted_dates: 367 dates, at most 366"},
      {[](DialingPolicy& p) { p.max_attempts = 21; },
       "policy.max_attempts: 21 is not within 1..20"},
      {[](DialingPolicy& p) { p.max_attempts = -1; },
       "policy.max_attempts: -1 is not within 1..20"},
      {[](DialingPolicy& p) { p.retry_delays = {{JobStatus::kCompleted, absl::Seconds(60)}}; },
       "policy.retry_delays[0].outcome: completed is not one of busy, no_answer, failed"},
      {[](DialingPolicy& p) {
         p.retry_delays = {{JobStatus::kBusy, absl::Seconds(60)},
                           {JobStatus::kNoAnswer, absl::Seconds(60)},
                           {JobStatus::kBusy, absl::Seconds(90)}};
       },
       "policy.retry_delays[2].outcome: busy is given twice (also retry_delays[0])"},
      {[](DialingPolicy& p) { p.retry_delays = {{JobStatus::kBusy, absl::ZeroDuration()}}; },
       "policy.retry_delays[0].delay_seconds: 0 is not within 1..2592000"},
      {[](DialingPolicy& p) { p.retry_delays = {{JobStatus::kBusy, absl::Seconds(2'592'001)}}; },
       "policy.retry_delays[0].delay_seconds: 2592001 is not within 1..2592000"},
      {[](DialingPolicy& p) { p.max_dials_per_number = 1001; },
       "policy.max_dials_per_number: 1001 is not within 0..1000"},
      {[](DialingPolicy& p) { p.per_number_window_days = 366; },
       "policy.per_number_window_days: 366 is not within 1..365"},
      {[](DialingPolicy& p) { p.default_time_zone = "Mars/Olympus_Mons"; },
       "policy.default_time_zone: \"Mars/Olympus_Mons\" is not a known IANA time zone"},
  };
  for (const Case& c : cases) {
    DialingPolicy p;
    c.mutate(p);
    absl::Status status = ValidatePolicy(p, "policy.");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
  }
}

// ---------------------------------------------- ParseDailyHours, Effective

TEST(ParseDailyHoursTest, EveryDaySameWindow) {
  absl::StatusOr<std::vector<DailyWindow>> windows = ParseDailyHours("08:00-21:00");
  ASSERT_TRUE(windows.ok()) << windows.status();
  ASSERT_EQ(windows->size(), 7u);
  for (int day = 1; day <= 7; ++day) {
    EXPECT_EQ((*windows)[day - 1], (DailyWindow{day, H(8), H(21)}));
  }
  EXPECT_EQ(ParseDailyHours("00:00-24:00")->front(), (DailyWindow{1, 0, 1440}));
  EXPECT_EQ(ParseDailyHours(" 9:30 - 17:05 ")->front(), (DailyWindow{1, H(9, 30), H(17, 5)}));
  EXPECT_EQ(ParseDailyHours("08:00-21:00")->front(), ServerDefaultPolicy().calling_windows.front());
}

TEST(ParseDailyHoursTest, Errors) {
  for (const char* text : {"", "08:00", "21:00-08:00", "08:00-08:00", "24:00-24:00", "08:60-09:00",
                           "25:00-26:00", "8-9", "08:00-24:01", "0800-2100", "a8:00-21:00",
                           "08:00-21:00-22:00"}) {
    absl::StatusOr<std::vector<DailyWindow>> windows = ParseDailyHours(text);
    EXPECT_EQ(windows.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(windows.status().message()), HasSubstr(text)) << text;
  }
}

TEST(EffectiveTest, FieldByFieldRunThenBusinessThenDefaults) {
  const DialingPolicy defaults = ServerDefaultPolicy();
  DialingPolicy business;
  business.max_attempts = 3;
  business.default_time_zone = "America/Chicago";
  business.restricted_dates = {{2026, 12, 25}};
  DialingPolicy run;
  run.max_attempts = 5;
  run.calling_windows = {{1, H(9), H(17)}};
  const DialingPolicy p = Effective(defaults, business, run);
  EXPECT_EQ(p.max_attempts, 5);
  EXPECT_EQ(p.calling_windows, run.calling_windows);
  EXPECT_EQ(p.default_time_zone, "America/Chicago");
  EXPECT_EQ(p.restricted_dates, business.restricted_dates);
  EXPECT_EQ(p.retry_delays, defaults.retry_delays);
  EXPECT_EQ(p.max_dials_per_number, 0);
  EXPECT_EQ(p.per_number_window_days, 1);
  EXPECT_EQ(Effective(defaults, DialingPolicy(), DialingPolicy()), defaults);
}

// ------------------------------------------------------------ ZonesOf

TEST(ZonesOfTest, SpecsAndErrors) {
  DialingPolicy policy = ServerDefaultPolicy();
  absl::StatusOr<std::vector<absl::TimeZone>> zones = ZonesOf("", policy);
  ASSERT_TRUE(zones.ok());
  ASSERT_EQ(zones->size(), 1u);
  EXPECT_EQ(zones->front().name(), "UTC");
  zones = ZonesOf("America/Boise&America/Los_Angeles", policy);
  ASSERT_TRUE(zones.ok());
  ASSERT_EQ(zones->size(), 2u);
  EXPECT_EQ((*zones)[1].name(), "America/Los_Angeles");
  zones = ZonesOf("America/Boise&Nowhere/Land", policy);
  EXPECT_EQ(zones.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(zones.status().message()), HasSubstr("\"Nowhere/Land\""));
  policy.default_time_zone = "Nowhere/Land";
  EXPECT_FALSE(ZonesOf("", policy).ok());
}

}  // namespace
}  // namespace campaign::rules
