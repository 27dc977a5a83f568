#include "server/rules/time_zone_map.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace campaign::rules {
namespace internal {
// embedded_time_zone_map.cc, generated from data/map_data.txt.
extern const absl::string_view kEmbeddedTimeZoneMap;
}  // namespace internal

namespace {

// A zone name as the table writes them: letters, '_', '/', '+' and '-'.
bool IsZoneName(absl::string_view zone) {
  if (zone.empty()) return false;
  for (char c : zone) {
    if (!absl::ascii_isalpha(static_cast<unsigned char>(c)) && c != '_' && c != '/' && c != '+' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

bool AllDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<TimeZoneMap> TimeZoneMap::Parse(absl::string_view text) {
  TimeZoneMap map;
  // Every distinct zone is loaded once (the table names ~250 zones on
  // ~3,200 lines).
  absl::flat_hash_set<std::string> loaded;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("time-zone map line ", line_number, ": ", why, ": \"", line, "\""));
    };
    const size_t bar = line.find('|');
    if (bar == absl::string_view::npos) return bad("expected <digits>|<zone>[&<zone>...]");
    const absl::string_view prefix = line.substr(0, bar);
    if (!AllDigits(prefix)) return bad("the prefix is not all digits");
    Entry entry;
    for (absl::string_view zone : absl::StrSplit(line.substr(bar + 1), '&')) {
      if (!IsZoneName(zone)) return bad(absl::StrCat("malformed zone \"", zone, "\""));
      if (!loaded.contains(zone)) {
        absl::TimeZone tz;
        if (!absl::LoadTimeZone(zone, &tz)) {
          return bad(absl::StrCat("zone \"", zone,
                                  "\" does not load (not in the system's tzdata, "
                                  "/usr/share/zoneinfo)"));
        }
        loaded.insert(std::string(zone));
      }
      entry.zones.emplace_back(zone);
    }
    if (!map.zones_.emplace(std::string(prefix), std::move(entry)).second) {
      return bad(absl::StrCat("prefix ", prefix, " is given twice"));
    }
    map.longest_prefix_ = std::max(map.longest_prefix_, prefix.size());
  }
  if (map.zones_.empty()) return absl::InvalidArgumentError("time-zone map has no entries");
  for (auto& [prefix, entry] : map.zones_) {
    entry.country_fallback = true;
    for (size_t length = 1; length < prefix.size(); ++length) {
      if (map.zones_.contains(absl::string_view(prefix).substr(0, length))) {
        entry.country_fallback = false;
        break;
      }
    }
  }
  return map;
}

absl::StatusOr<TimeZoneMap> TimeZoneMap::Load(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read time-zone map ", path));
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return absl::NotFoundError(absl::StrCat("cannot read time-zone map ", path));
  absl::StatusOr<TimeZoneMap> map = Parse(text.str());
  if (!map.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", map.status().message()));
  }
  return map;
}

const TimeZoneMap& TimeZoneMap::Embedded() {
  static const TimeZoneMap* const map = [] {
    absl::StatusOr<TimeZoneMap> parsed = Parse(internal::kEmbeddedTimeZoneMap);
    if (!parsed.ok()) {
      std::fprintf(stderr, "campaign: the embedded time-zone map does not load: %s\n",
                   std::string(parsed.status().message()).c_str());
      std::abort();
    }
    return new TimeZoneMap(*std::move(parsed));
  }();
  return *map;
}

const TimeZoneMap::Entry* TimeZoneMap::Find(absl::string_view e164) const {
  if (!e164.empty() && e164.front() == '+') e164.remove_prefix(1);
  if (!AllDigits(e164)) return nullptr;
  for (size_t length = std::min(e164.size(), longest_prefix_); length > 0; --length) {
    auto it = zones_.find(e164.substr(0, length));
    if (it != zones_.end()) return &it->second;
  }
  return nullptr;
}

std::vector<std::string> TimeZoneMap::ZonesFor(absl::string_view e164) const {
  const Entry* entry = Find(e164);
  return entry == nullptr ? std::vector<std::string>{} : entry->zones;
}

std::string TimeZoneMap::ZoneSpecFor(absl::string_view e164,
                                     absl::string_view lead_time_zone) const {
  if (!lead_time_zone.empty()) return std::string(lead_time_zone);
  const Entry* entry = Find(e164);
  if (entry == nullptr) return "";
  if (entry->country_fallback && entry->zones.size() > 1) return "";
  return absl::StrJoin(entry->zones, "&");
}

namespace {
std::atomic<const TimeZoneMap*> installed{nullptr};
}  // namespace

const TimeZoneMap& TimeZones() {
  const TimeZoneMap* map = installed.load(std::memory_order_acquire);
  return map != nullptr ? *map : TimeZoneMap::Embedded();
}

void SetTimeZones(TimeZoneMap map) {
  // Never freed: callers may hold references to an earlier map.
  installed.store(new TimeZoneMap(std::move(map)), std::memory_order_release);
}

}  // namespace campaign::rules
