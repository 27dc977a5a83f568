#include "server/rules/dialing_rules.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"

namespace campaign::rules {
namespace {

constexpr int kMinutesPerDay = 24 * 60;
constexpr int64_t kSecondsPerDay = 24 * 60 * 60;
constexpr int kMaxWindowsPerDay = 7;
constexpr int kMaxRestrictedDates = 366;
constexpr int kMaxAttempts = 20;
constexpr int64_t kMaxRetryDelaySeconds = 30 * kSecondsPerDay;
constexpr int kMaxDialsPerNumber = 1000;
constexpr int kMaxPerNumberWindowDays = 365;

constexpr std::array<const char*, 8> kDayNames = {"?",   "Mon", "Tue", "Wed",
                                                  "Thu", "Fri", "Sat", "Sun"};

// ISO 8601 weekday of a civil day: 1 = Monday .. 7 = Sunday.
int IsoWeekday(absl::CivilDay day) {
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::monday:
      return 1;
    case absl::Weekday::tuesday:
      return 2;
    case absl::Weekday::wednesday:
      return 3;
    case absl::Weekday::thursday:
      return 4;
    case absl::Weekday::friday:
      return 5;
    case absl::Weekday::saturday:
      return 6;
    case absl::Weekday::sunday:
      return 7;
  }
  return 1;
}

const char* DayName(int iso_day) {
  return iso_day >= 1 && iso_day <= 7 ? kDayNames[iso_day] : kDayNames[0];
}

// "08:00"; 1440 is "24:00".
std::string Clock(int minute) { return absl::StrFormat("%02d:%02d", minute / 60, minute % 60); }

// "2026-03-08T07:00:00Z".
std::string Utc(absl::Time t) {
  if (t == absl::InfiniteFuture()) return "never";
  if (t == absl::InfinitePast()) return "-infinity";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// "Mon 2026-03-02 07:15" in `zone` (absl::FormatTime is several times
// slower, and Decide runs per lead).
std::string Local(absl::Time t, absl::TimeZone zone) {
  const absl::CivilSecond cs = zone.At(t).cs;
  return absl::StrFormat("%s %04d-%02d-%02d %02d:%02d", DayName(IsoWeekday(absl::CivilDay(cs))),
                         cs.year(), cs.month(), cs.day(), cs.hour(), cs.minute());
}

bool ValidDate(const LocalDate& date) {
  if (date.year < 1 || date.year > 9999 || date.month < 1 || date.month > 12 || date.day < 1) {
    return false;
  }
  const absl::CivilDay day(date.year, date.month, date.day);
  return day.year() == date.year && day.month() == date.month && day.day() == date.day;
}

// A span of one local day when calls may start, in seconds after midnight:
// [start, end).
struct Span {
  int64_t start = 0;
  int64_t end = 0;
};

// A policy's windows and restricted dates, arranged for lookups: per ISO
// weekday the merged, sorted spans; the restricted dates sorted.
class Calendar {
 public:
  explicit Calendar(const DialingPolicy& policy) {
    for (const DailyWindow& w : policy.calling_windows) {
      if (w.day_of_week < 1 || w.day_of_week > 7) continue;
      const int start = std::clamp(w.start_minute, 0, kMinutesPerDay);
      const int end = std::clamp(w.end_minute, 0, kMinutesPerDay);
      if (start >= end) continue;
      days_[w.day_of_week].push_back({start * 60LL, end * 60LL});
      any_window_ = true;
    }
    for (auto& spans : days_) {
      std::sort(spans.begin(), spans.end(),
                [](const Span& a, const Span& b) { return a.start < b.start; });
      // Overlapping or touching spans are one stretch.
      absl::InlinedVector<Span, 4> merged;
      for (const Span& s : spans) {
        if (!merged.empty() && s.start <= merged.back().end) {
          merged.back().end = std::max(merged.back().end, s.end);
        } else {
          merged.push_back(s);
        }
      }
      spans = std::move(merged);
    }
    for (const LocalDate& d : policy.restricted_dates) {
      if (ValidDate(d)) restricted_.push_back(absl::CivilDay(d.year, d.month, d.day));
    }
    std::sort(restricted_.begin(), restricted_.end());
  }

  bool any_window() const { return any_window_; }
  bool Restricted(absl::CivilDay day) const {
    return std::binary_search(restricted_.begin(), restricted_.end(), day);
  }
  // The spans of `day`'s weekday (whether or not the date is restricted).
  const absl::InlinedVector<Span, 4>& Spans(absl::CivilDay day) const {
    return days_[IsoWeekday(day)];
  }
  // "08:00-12:00, 13:00-21:00" for a weekday; "none" without windows.
  std::string Describe(int iso_day) const {
    if (days_[iso_day].empty()) return "none";
    return absl::StrJoin(days_[iso_day], ", ", [](std::string* out, const Span& s) {
      absl::StrAppend(out, Clock(static_cast<int>(s.start / 60)), "-",
                      Clock(static_cast<int>(s.end / 60)));
    });
  }

  // When civil time `c` is inside a window: the civil end of the open
  // stretch containing it (continuing across midnight into windows that
  // start at 00:00), searched no further than `cap`. nullopt when closed.
  std::optional<absl::CivilSecond> OpenUntil(absl::CivilSecond c, absl::CivilSecond cap,
                                             bool want_end) const {
    absl::CivilDay day(c);
    const int64_t second = c - absl::CivilSecond(day);
    if (Restricted(day)) return std::nullopt;
    const Span* span = nullptr;
    for (const Span& s : Spans(day)) {
      if (s.start <= second && second < s.end) {
        span = &s;
        break;
      }
    }
    if (span == nullptr) return std::nullopt;
    absl::CivilSecond end = absl::CivilSecond(day) + span->end;
    if (!want_end) return end;
    while (end < cap && span->end == kSecondsPerDay) {
      ++day;
      const auto& next = Spans(day);
      if (Restricted(day) || next.empty() || next.front().start != 0) break;
      span = &next.front();
      end = absl::CivilSecond(day) + span->end;
    }
    return end;
  }

  // The first civil time after `c` (which is closed) when a window starts,
  // if it is before `cap`.
  std::optional<absl::CivilSecond> NextOpen(absl::CivilSecond c, absl::CivilSecond cap) const {
    if (!any_window_) return std::nullopt;
    const absl::CivilDay first(c);
    const int64_t second = c - absl::CivilSecond(first);
    for (absl::CivilDay day = first; absl::CivilSecond(day) < cap; ++day) {
      if (Restricted(day)) continue;
      for (const Span& s : Spans(day)) {
        if (day == first && s.start <= second) continue;
        const absl::CivilSecond start = absl::CivilSecond(day) + s.start;
        if (start >= cap) return std::nullopt;
        return start;
      }
    }
    return std::nullopt;
  }

 private:
  std::array<absl::InlinedVector<Span, 4>, 8> days_;
  std::vector<absl::CivilDay> restricted_;
  bool any_window_ = false;
};

// The absolute time of civil time `c` under UTC offset `offset_seconds`.
absl::Time AtOffset(absl::CivilSecond c, int offset_seconds) {
  return absl::FromCivil(c, absl::UTCTimeZone()) - absl::Seconds(offset_seconds);
}

// One zone's window at instant `t`: open or not, and when that changes:
// when closed, the next opening; when open and asked for, the close.
// InfiniteFuture when not before `limit` (or not asked for).
struct ZoneProbe {
  bool open = false;
  absl::Time change = absl::InfiniteFuture();
};

// Walks the zone's stretches of constant UTC offset from `t` on. Within one,
// local time advances with absolute time, so windows map to absolute spans
// directly; at each offset change (DST) local time jumps and the state is
// evaluated afresh at the new local time. That is the callee's wall clock:
// local times skipped on a spring-forward day never occur (a window edge
// inside the gap takes effect at the transition), and local times repeated on
// a fall-back day are inside or outside the window both times.
ZoneProbe Probe(const Calendar& calendar, absl::TimeZone zone, absl::Time t, absl::Time limit,
                bool want_close) {
  ZoneProbe probe;
  absl::Time segment_start = t;
  bool first = true;
  while (true) {
    const absl::TimeZone::CivilInfo info = zone.At(segment_start);
    absl::Time segment_end = limit;
    absl::TimeZone::CivilTransition transition;
    if (zone.NextTransition(segment_start, &transition)) {
      segment_end = std::min(limit, zone.At(transition.to).trans);
    }
    // Civil time at segment_end (an upper bound for the civil searches).
    const absl::CivilSecond civil_cap =
        info.cs + absl::ToInt64Seconds(absl::Ceil(segment_end - segment_start, absl::Seconds(1)));
    const std::optional<absl::CivilSecond> open_until =
        calendar.OpenUntil(info.cs, civil_cap, want_close);
    if (first) {
      probe.open = open_until.has_value();
      first = false;
      if (probe.open && !want_close) return probe;
    } else if (open_until.has_value() != probe.open) {
      probe.change = segment_start;  // The offset change itself flipped it.
      return probe;
    }
    if (probe.open) {
      const absl::Time end = AtOffset(*open_until, info.offset);
      if (end < segment_end) {
        probe.change = end;
        return probe;
      }
    } else if (std::optional<absl::CivilSecond> next = calendar.NextOpen(info.cs, civil_cap)) {
      const absl::Time start = AtOffset(*next, info.offset);
      if (start < segment_end) {
        probe.change = start;
        return probe;
      }
    }
    if (segment_end >= limit) return probe;  // change stays InfiniteFuture.
    segment_start = segment_end;
  }
}

// Why `zone` is open or closed at `t`, for a person.
std::string DescribeZone(const Calendar& calendar, absl::TimeZone zone, absl::Time t, bool open) {
  const absl::CivilSecond cs = zone.At(t).cs;
  const absl::CivilDay day(cs);
  const int iso = IsoWeekday(day);
  const std::string local = absl::StrCat("local ", Local(t, zone));
  if (open) {
    return absl::StrCat("inside the calling window ", DayName(iso), " ", calendar.Describe(iso),
                        " in ", zone.name(), " (", local, ")");
  }
  if (calendar.Restricted(day)) {
    return absl::StrCat(absl::FormatCivilTime(day), " is a restricted date in ", zone.name(), " (",
                        local, ")");
  }
  if (calendar.Spans(day).empty()) {
    return absl::StrCat("no calling window on ", DayName(iso), " in ", zone.name(), " (", local,
                        ")");
  }
  return absl::StrCat("outside the calling window ", DayName(iso), " ", calendar.Describe(iso),
                      " in ", zone.name(), " (", local, ")");
}

// Window() with a compiled calendar; without want_close, next_change is
// left InfiniteFuture when open (Decide does not need the close).
WindowState WindowOf(const Calendar& calendar, const std::vector<absl::TimeZone>& given,
                     absl::Time now, bool want_close) {
  std::vector<absl::TimeZone> zones = given;
  if (zones.empty()) zones.push_back(absl::UTCTimeZone());
  const absl::Time limit = now + kWindowSearchHorizon;
  WindowState state;

  absl::InlinedVector<ZoneProbe, 4> probes;
  for (const absl::TimeZone& zone : zones) {
    probes.push_back(Probe(calendar, zone, now, limit, /*want_close=*/false));
  }
  size_t deciding = 0;  // The zone the rule describes.
  const auto closed =
      std::find_if(probes.begin(), probes.end(), [](const ZoneProbe& p) { return !p.open; });
  if (closed == probes.end()) {
    state.open = true;
    if (want_close) {
      for (size_t i = 0; i < zones.size(); ++i) {
        probes[i] = Probe(calendar, zones[i], now, limit, /*want_close=*/true);
        if (probes[i].change < probes[deciding].change) deciding = i;
      }
      state.next_change = probes[deciding].change;
    }
  } else {
    deciding = closed - probes.begin();
    // The earliest instant every zone is open: jump to the latest of the
    // closed zones' next openings until all are open there.
    absl::Time t = now;
    while (true) {
      absl::Time next = t;
      for (size_t i = 0; i < zones.size(); ++i) {
        const ZoneProbe p =
            t == now ? probes[i] : Probe(calendar, zones[i], t, limit, /*want_close=*/false);
        if (!p.open) next = std::max(next, p.change);
      }
      if (next == t) break;  // All open at t.
      t = next;
      if (t >= limit) break;
    }
    state.next_change = t >= limit ? absl::InfiniteFuture() : t;
  }

  state.rule = DescribeZone(calendar, zones[deciding], now, state.open);
  if (!state.open) {
    if (state.next_change == absl::InfiniteFuture()) {
      absl::StrAppend(
          &state.rule,
          zones.size() > 1 ? "; no window is open in every zone at once" : "; no window opens",
          " within ", absl::ToInt64Hours(kWindowSearchHorizon) / 24, " days");
    } else {
      absl::StrAppend(&state.rule, "; opens ", Utc(state.next_change), " (local ",
                      Local(state.next_change, zones[deciding]), ")");
    }
  }
  if (zones.size() > 1) {
    absl::StrAppend(
        &state.rule, "; all of ",
        absl::StrJoin(zones, "&",
                      [](std::string* out, const absl::TimeZone& z) { out->append(z.name()); }),
        " must be open");
  }
  return state;
}

// absl::LoadTimeZone behind a per-thread cache (Decide runs for every lead
// of a preview; the library's own registry takes a global lock).
std::optional<absl::TimeZone> CachedZone(absl::string_view name) {
  thread_local absl::flat_hash_map<std::string, std::optional<absl::TimeZone>> cache;
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  if (cache.size() >= 4096) cache.clear();  // Bounded: names come from leads.
  std::optional<absl::TimeZone> zone;
  absl::TimeZone loaded;
  if (!name.empty() && absl::LoadTimeZone(name, &loaded)) zone = loaded;
  cache.emplace(std::string(name), zone);
  return zone;
}

// Parses "HH:MM" (00:00..24:00) into minutes after midnight.
std::optional<int> ParseClock(absl::string_view text) {
  const std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  if (parts.size() != 2 || parts[0].empty() || parts[0].size() > 2 || parts[1].size() != 2) {
    return std::nullopt;
  }
  for (absl::string_view part : parts) {
    for (char c : part) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    }
  }
  int hours = 0, minutes = 0;
  if (!absl::SimpleAtoi(parts[0], &hours) || !absl::SimpleAtoi(parts[1], &minutes)) {
    return std::nullopt;
  }
  if (minutes > 59 || hours > 24 || (hours == 24 && minutes != 0)) return std::nullopt;
  return hours * 60 + minutes;
}

// 64-bit FNV-1a: the same value in every process and build (std::hash is
// not), so a lead's caller id does not depend on which replica chose it.
uint64_t StableHash(absl::string_view text) {
  uint64_t hash = 14695981039346656037ULL;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

// The digits of an E.164 number ("+14155550100" -> "14155550100").
absl::string_view Digits(absl::string_view e164) {
  if (!e164.empty() && e164.front() == '+') e164.remove_prefix(1);
  return e164;
}

// The country calling code at the start of E.164 digits. Country codes are
// prefix-free: 1 and 7 are one digit, the two-digit codes are listed, every
// other code has three digits.
absl::string_view CountryCode(absl::string_view digits) {
  if (digits.empty()) return digits;
  if (digits[0] == '1' || digits[0] == '7') return digits.substr(0, 1);
  static constexpr absl::string_view kTwoDigit[] = {
      "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
      "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
      "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"};
  const absl::string_view two = digits.substr(0, 2);
  for (absl::string_view code : kTwoDigit) {
    if (two == code) return two;
  }
  return digits.substr(0, 3);
}

// Decide's window step for one zone spec: the spec's zones (an invalid spec
// in the default zone, the rule saying so) at `now`. Memoised per thread for
// the last (now, windows, restricted dates, default zone): PreviewRun and a
// claim batch decide many leads of a few specs at one instant, and a
// multi-zone spec whose zones are never open together costs a year's search.
WindowState WindowStep(const DialingPolicy& policy, absl::string_view spec, absl::Time now) {
  struct Memo {
    absl::Time now = absl::InfinitePast();
    std::vector<DailyWindow> windows;
    std::vector<LocalDate> restricted;
    std::string default_zone;
    absl::flat_hash_map<std::string, WindowState> by_spec;
  };
  thread_local Memo memo;
  if (memo.now != now || memo.windows != policy.calling_windows ||
      memo.restricted != policy.restricted_dates || memo.default_zone != policy.default_time_zone) {
    memo.now = now;
    memo.windows = policy.calling_windows;
    memo.restricted = policy.restricted_dates;
    memo.default_zone = policy.default_time_zone;
    memo.by_spec.clear();
  }
  if (auto it = memo.by_spec.find(spec); it != memo.by_spec.end()) return it->second;
  if (memo.by_spec.size() >= 4096) memo.by_spec.clear();  // Bounded: specs come from leads.

  std::string zone_note;
  absl::StatusOr<std::vector<absl::TimeZone>> zones = ZonesOf(spec, policy);
  if (!zones.ok()) {
    zone_note =
        absl::StrCat("zone spec \"", spec, "\" does not load, decided in the ", "default zone: ");
    zones = ZonesOf("", policy);
    if (!zones.ok()) {
      zone_note = absl::StrCat("zone spec \"", spec, "\" and default zone \"",
                               policy.default_time_zone, "\" do not load, decided in UTC: ");
      zones = std::vector<absl::TimeZone>{absl::UTCTimeZone()};
    }
  }
  WindowState window = WindowOf(Calendar(policy), *zones, now, /*want_close=*/false);
  window.rule = absl::StrCat(zone_note, window.rule);
  memo.by_spec.emplace(std::string(spec), window);
  return window;
}

}  // namespace

DialingPolicy ServerDefaultPolicy() {
  DialingPolicy p;
  for (int day = 1; day <= 7; ++day) p.calling_windows.push_back({day, 8 * 60, 21 * 60});
  p.max_attempts = 1;
  p.retry_delays = {{JobStatus::kBusy, absl::Seconds(600)},
                    {JobStatus::kNoAnswer, absl::Seconds(3600)}};
  p.max_dials_per_number = 0;
  p.per_number_window_days = 1;
  p.default_time_zone = "UTC";
  return p;
}

DialingPolicy AllDayPolicy() {
  DialingPolicy p = ServerDefaultPolicy();
  p.calling_windows.clear();
  for (int day = 1; day <= 7; ++day) p.calling_windows.push_back({day, 0, 24 * 60});
  return p;
}

absl::StatusOr<std::vector<DailyWindow>> ParseDailyHours(absl::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("calling hours \"", text, "\": ", why,
                                                   " (expected HH:MM-HH:MM, e.g. 08:00-21:00)"));
  };
  const size_t dash = trimmed.find('-');
  if (dash == absl::string_view::npos) return bad("no '-'");
  const std::optional<int> start = ParseClock(absl::StripAsciiWhitespace(trimmed.substr(0, dash)));
  const std::optional<int> end = ParseClock(absl::StripAsciiWhitespace(trimmed.substr(dash + 1)));
  if (!start || !end) return bad("a time is not HH:MM within 00:00..24:00");
  if (*start >= *end) return bad("the start is not before the end");
  if (*start == kMinutesPerDay) return bad("the start is 24:00");
  std::vector<DailyWindow> windows;
  for (int day = 1; day <= 7; ++day) windows.push_back({day, *start, *end});
  return windows;
}

DialingPolicy Effective(const DialingPolicy& defaults, const DialingPolicy& business,
                        const DialingPolicy& run) {
  DialingPolicy p;
  auto pick = [](const auto& r, const auto& b, const auto& d, auto unset) {
    return r != unset ? r : b != unset ? b : d;
  };
  auto pick_list = [](const auto& r, const auto& b, const auto& d) {
    return !r.empty() ? r : !b.empty() ? b : d;
  };
  p.calling_windows =
      pick_list(run.calling_windows, business.calling_windows, defaults.calling_windows);
  p.restricted_dates =
      pick_list(run.restricted_dates, business.restricted_dates, defaults.restricted_dates);
  p.max_attempts = pick(run.max_attempts, business.max_attempts, defaults.max_attempts, 0);
  p.retry_delays = pick_list(run.retry_delays, business.retry_delays, defaults.retry_delays);
  p.max_dials_per_number = pick(run.max_dials_per_number, business.max_dials_per_number,
                                defaults.max_dials_per_number, 0);
  p.per_number_window_days = pick(run.per_number_window_days, business.per_number_window_days,
                                  defaults.per_number_window_days, 0);
  p.default_time_zone =
      pick_list(run.default_time_zone, business.default_time_zone, defaults.default_time_zone);
  return p;
}

absl::Status ValidatePolicy(const DialingPolicy& policy, absl::string_view field_prefix) {
  auto bad = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(field_prefix, parts...));
  };
  // Per weekday, the windows seen so far (their indexes).
  std::array<std::vector<size_t>, 8> by_day;
  for (size_t i = 0; i < policy.calling_windows.size(); ++i) {
    const DailyWindow& w = policy.calling_windows[i];
    const std::string field = absl::StrCat("calling_windows[", i, "]");
    if (w.day_of_week < 1 || w.day_of_week > 7) {
      return bad(field, ".day_of_week: ", w.day_of_week, " is not within 1..7 (Monday..Sunday)");
    }
    if (w.start_minute < 0 || w.start_minute >= kMinutesPerDay) {
      return bad(field, ".start_minute: ", w.start_minute, " is not within 0..1439");
    }
    if (w.end_minute <= w.start_minute || w.end_minute > kMinutesPerDay) {
      return bad(field, ".end_minute: ", w.end_minute, " is not within start_minute+1..1440 (",
                 w.start_minute + 1, "..1440)");
    }
    std::vector<size_t>& same_day = by_day[w.day_of_week];
    if (same_day.size() >= kMaxWindowsPerDay) {
      return bad(field, ": more than ", kMaxWindowsPerDay, " windows on ", DayName(w.day_of_week));
    }
    for (size_t j : same_day) {
      const DailyWindow& o = policy.calling_windows[j];
      if (w.start_minute < o.end_minute && o.start_minute < w.end_minute) {
        return bad(field, ": ", DayName(w.day_of_week), " ", Clock(w.start_minute), "-",
                   Clock(w.end_minute), " overlaps calling_windows[", j, "] (",
                   Clock(o.start_minute), "-", Clock(o.end_minute), ")");
      }
    }
    same_day.push_back(i);
  }
  if (policy.restricted_dates.size() > kMaxRestrictedDates) {
    return bad("restricted_dates: ", policy.restricted_dates.size(), " dates, at most ",
               kMaxRestrictedDates);
  }
  for (size_t i = 0; i < policy.restricted_dates.size(); ++i) {
    const LocalDate& d = policy.restricted_dates[i];
    if (!ValidDate(d)) {
      return bad("restricted_dates[", i,
                 "]: ", absl::StrFormat("%04d-%02d-%02d", d.year, d.month, d.day),
                 " is not a valid date");
    }
  }
  if (policy.max_attempts < 0 || policy.max_attempts > kMaxAttempts) {
    return bad("max_attempts: ", policy.max_attempts, " is not within 1..", kMaxAttempts,
               " (0: inherit)");
  }
  for (size_t i = 0; i < policy.retry_delays.size(); ++i) {
    const RetryDelay& r = policy.retry_delays[i];
    const std::string field = absl::StrCat("retry_delays[", i, "]");
    if (r.outcome != JobStatus::kBusy && r.outcome != JobStatus::kNoAnswer &&
        r.outcome != JobStatus::kFailed) {
      return bad(field, ".outcome: ", JobStatusName(r.outcome),
                 " is not one of busy, no_answer, failed");
    }
    for (size_t j = 0; j < i; ++j) {
      if (policy.retry_delays[j].outcome == r.outcome) {
        return bad(field, ".outcome: ", JobStatusName(r.outcome),
                   " is given twice (also retry_delays[", j, "])");
      }
    }
    if (r.delay < absl::Seconds(1) || r.delay > absl::Seconds(kMaxRetryDelaySeconds)) {
      const std::string value = r.delay == absl::Trunc(r.delay, absl::Seconds(1))
                                    ? absl::StrCat(absl::ToInt64Seconds(r.delay))
                                    : absl::FormatDuration(r.delay);
      return bad(field, ".delay_seconds: ", value, " is not within 1..", kMaxRetryDelaySeconds);
    }
  }
  if (policy.max_dials_per_number < 0 || policy.max_dials_per_number > kMaxDialsPerNumber) {
    return bad("max_dials_per_number: ", policy.max_dials_per_number, " is not within 0..",
               kMaxDialsPerNumber, " (0: inherit; no cap by default)");
  }
  if (policy.per_number_window_days < 0 ||
      policy.per_number_window_days > kMaxPerNumberWindowDays) {
    return bad("per_number_window_days: ", policy.per_number_window_days, " is not within 1..",
               kMaxPerNumberWindowDays, " (0: inherit)");
  }
  if (!policy.default_time_zone.empty() && !CachedZone(policy.default_time_zone)) {
    return bad("default_time_zone: \"", policy.default_time_zone,
               "\" is not a known IANA time zone");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<absl::TimeZone>> ZonesOf(absl::string_view zone_spec,
                                                    const DialingPolicy& policy) {
  std::vector<absl::TimeZone> zones;
  if (zone_spec.empty()) {
    const absl::string_view name =
        policy.default_time_zone.empty() ? absl::string_view("UTC") : policy.default_time_zone;
    std::optional<absl::TimeZone> zone = CachedZone(name);
    if (!zone) {
      return absl::InvalidArgumentError(
          absl::StrCat("default time zone \"", name, "\" does not load"));
    }
    zones.push_back(*zone);
    return zones;
  }
  for (absl::string_view name : absl::StrSplit(zone_spec, '&')) {
    std::optional<absl::TimeZone> zone = CachedZone(name);
    if (!zone) {
      return absl::InvalidArgumentError(absl::StrCat("time zone \"", name, "\" does not load"));
    }
    if (std::find(zones.begin(), zones.end(), *zone) == zones.end()) zones.push_back(*zone);
  }
  return zones;
}

WindowState Window(const DialingPolicy& policy, const std::vector<absl::TimeZone>& zones,
                   absl::Time now) {
  return WindowOf(Calendar(policy), zones, now, /*want_close=*/true);
}

Decision Decide(const DialingPolicy& policy, const LeadFacts& lead, const RunSchedule& schedule,
                absl::Time now) {
  Decision d;
  const absl::Time end_at = schedule.end_at.value_or(absl::InfiniteFuture());
  auto skip = [&](SkipReason reason, std::string rule) {
    d.action = Decision::Action::kSkip;
    d.skip = reason;
    d.rule = std::move(rule);
    return d;
  };
  // A deferral until `until`, or a skip when that is at or after end_at.
  auto defer = [&](absl::Time until, WaitReason wait, SkipReason past_end, std::string rule) {
    if (until >= end_at) {
      return skip(past_end,
                  absl::StrCat(rule, "; that is not before the run's end_at ", Utc(end_at)));
    }
    d.action = Decision::Action::kDefer;
    d.until = until;
    d.wait = wait;
    d.rule = std::move(rule);
    return d;
  };

  if (lead.on_do_not_call) {
    return skip(SkipReason::kDoNotCall, "the number is on the business's do-not-call list");
  }
  if (now >= end_at) {
    return skip(SkipReason::kWindowUnreachable,
                absl::StrCat("the run's end_at ", Utc(end_at), " has passed: no more dials"));
  }
  if (schedule.start_at && now < *schedule.start_at) {
    return defer(*schedule.start_at, WaitReason::kStartAt, SkipReason::kWindowUnreachable,
                 absl::StrCat("the run starts at ", Utc(*schedule.start_at), " (start_at)"));
  }
  if (lead.next_attempt_at > now && (lead.waiting_reason == WaitReason::kRetryDelay ||
                                     lead.waiting_reason == WaitReason::kNone)) {
    return defer(
        lead.next_attempt_at, WaitReason::kRetryDelay, SkipReason::kWindowUnreachable,
        absl::StrCat("retry delay: attempt ", lead.attempts_made + 1, " of ",
                     std::max(policy.max_attempts, 1), " not before ", Utc(lead.next_attempt_at)));
  }
  if (policy.max_dials_per_number > 0 && lead.recent_dials >= policy.max_dials_per_number) {
    const absl::Duration window = absl::Hours(24) * std::max(policy.per_number_window_days, 1);
    absl::Time until = lead.oldest_recent_dial + window;
    // Facts that do not add up (no oldest dial, or one already out of the
    // window) wait a whole window: never dial past the cap.
    if (lead.oldest_recent_dial == absl::InfinitePast() || until <= now) until = now + window;
    return defer(
        until, WaitReason::kPerNumberCap, SkipReason::kPerNumberCap,
        absl::StrCat("per-number cap: ", lead.recent_dials, " dials of this number in the last ",
                     std::max(policy.per_number_window_days, 1), " days (at most ",
                     policy.max_dials_per_number, "); one leaves the window at ", Utc(until)));
  }

  const WindowState window = WindowStep(policy, lead.time_zone, now);
  if (window.open) {
    d.action = Decision::Action::kDialNow;
    d.rule = window.rule;
    return d;
  }
  if (window.next_change == absl::InfiniteFuture()) {
    return skip(SkipReason::kWindowUnreachable, window.rule);
  }
  return defer(window.next_change, WaitReason::kCallingWindow, SkipReason::kWindowUnreachable,
               window.rule);
}

std::optional<absl::Time> RetryAt(const DialingPolicy& policy, JobStatus outcome, int attempts_made,
                                  absl::Time ended_at) {
  if (attempts_made >= std::max(policy.max_attempts, 1)) return std::nullopt;
  if (outcome != JobStatus::kBusy && outcome != JobStatus::kNoAnswer &&
      outcome != JobStatus::kFailed) {
    return std::nullopt;
  }
  for (const RetryDelay& r : policy.retry_delays) {
    if (r.outcome == outcome) return ended_at + r.delay;
  }
  return std::nullopt;
}

std::string PickCallerId(const std::vector<std::string>& pool, bool local_presence,
                         absl::string_view lead_e164) {
  if (pool.empty()) return "";
  const absl::string_view lead = Digits(lead_e164);
  std::vector<const std::string*> candidates;
  if (local_presence && !lead.empty()) {
    // NANP: the area code is the 3 digits after the country code 1.
    if (lead.size() >= 4 && lead[0] == '1') {
      const absl::string_view area = lead.substr(0, 4);
      for (const std::string& id : pool) {
        if (absl::StartsWith(Digits(id), area)) candidates.push_back(&id);
      }
    }
    if (candidates.empty()) {
      const absl::string_view country = CountryCode(lead);
      for (const std::string& id : pool) {
        if (CountryCode(Digits(id)) == country) candidates.push_back(&id);
      }
    }
  }
  if (candidates.empty()) {
    for (const std::string& id : pool) candidates.push_back(&id);
  }
  return *candidates[StableHash(lead) % candidates.size()];
}

}  // namespace campaign::rules
