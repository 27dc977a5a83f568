// The callee's time zone from a phone number: libphonenumber's prefix ->
// time-zone table (resources/timezones/map_data.txt, Apache-2.0), shipped in
// server/rules/data/ with its licence and embedded into the binary at build
// time. libphonenumber 8.12 in Debian has the data's Java mapper only, not a
// C++ one.
#ifndef CAMPAIGN_SERVER_RULES_TIME_ZONE_MAP_H_
#define CAMPAIGN_SERVER_RULES_TIME_ZONE_MAP_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace campaign::rules {

// Longest-prefix map from E.164 digits to candidate IANA zones. Immutable
// once built; safe to share between threads.
class TimeZoneMap {
 public:
  // Parses the map_data.txt format: `#` comments, blank lines, and
  // `<digits>|<zone>[&<zone>...]` lines. INVALID_ARGUMENT names the line of
  // a malformed entry, a prefix given twice or an unknown zone (every zone
  // must load with absl::LoadTimeZone, i.e. be in the system's tzdata).
  static absl::StatusOr<TimeZoneMap> Parse(absl::string_view text);
  // Reads and parses a file (campaignd --time-zone-map). NOT_FOUND when it
  // cannot be read.
  static absl::StatusOr<TimeZoneMap> Load(const std::string& path);
  // The table embedded at build time; parsed once, on first use. Aborts the
  // process with a message when it does not parse (a zone missing from the
  // system's tzdata): dialing with unknown zones would break calling windows.
  static const TimeZoneMap& Embedded();

  // The candidate zones of an E.164 number ("+12025550123"; the '+' is
  // optional), as the table says: the zones of the longest matching prefix;
  // empty when no prefix matches or the number is not all digits.
  std::vector<std::string> ZonesFor(absl::string_view e164) const;
  // The zone spec stored on a job: the lead's own zone when given, else the
  // number's zones joined by '&' (in the table's order), else empty (the
  // policy's default zone). One refinement of the table: when the longest
  // match is a whole country's fallback entry listing several zones ("1" with
  // the 41 zones of North America for an unknown or toll-free area code, "7",
  // "44" for a UK mobile), the number's place is unknown and the spec is
  // empty too; otherwise such a lead would never be callable (no window is
  // open in every zone of a continent at once).
  std::string ZoneSpecFor(absl::string_view e164, absl::string_view lead_time_zone) const;
  // Number of prefixes loaded.
  size_t size() const { return zones_.size(); }

 private:
  struct Entry {
    std::vector<std::string> zones;
    // No shorter prefix of this one is in the table (a country's fallback).
    bool country_fallback = false;
  };
  // The entry of the longest prefix of `e164` (digits, '+' optional), or
  // nullptr.
  const Entry* Find(absl::string_view e164) const;

  absl::flat_hash_map<std::string, Entry> zones_;
  size_t longest_prefix_ = 0;
};

// The map campaignd resolves zones with: the one SetTimeZones installed, else
// TimeZoneMap::Embedded(). The reference stays valid for the process's life.
const TimeZoneMap& TimeZones();

// Installs `map` process-wide (campaignd at start, from --time-zone-map).
// Meant to be called once, before serving; a later call is safe too (earlier
// maps are kept alive, so references handed out stay valid).
void SetTimeZones(TimeZoneMap map);

}  // namespace campaign::rules

#endif  // CAMPAIGN_SERVER_RULES_TIME_ZONE_MAP_H_
