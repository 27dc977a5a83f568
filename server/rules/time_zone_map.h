// The callee's time zone from a phone number: libphonenumber's prefix ->
// time-zone table (resources/timezones/map_data.txt, Apache-2.0), shipped in
// data/timezones/ with its licence and embedded into the binary at build
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
  // a malformed entry or an unknown zone (every zone must load with
  // absl::LoadTimeZone).
  static absl::StatusOr<TimeZoneMap> Parse(absl::string_view text);
  // Reads and parses a file (campaignd --time-zone-map).
  static absl::StatusOr<TimeZoneMap> Load(const std::string& path);
  // The table embedded at build time; parsed once, on first use.
  static const TimeZoneMap& Embedded();

  // The candidate zones of an E.164 number ("+12025550123"), longest
  // matching prefix first wins; empty when no prefix matches.
  std::vector<std::string> ZonesFor(absl::string_view e164) const;
  // The zone spec stored on a job: the lead's own zone when given, else the
  // number's zones joined by '&', else empty (the policy's default zone).
  std::string ZoneSpecFor(absl::string_view e164, absl::string_view lead_time_zone) const;
  // Number of prefixes loaded.
  size_t size() const { return zones_.size(); }

 private:
  absl::flat_hash_map<std::string, std::vector<std::string>> zones_;
  size_t longest_prefix_ = 0;
};

}  // namespace campaign::rules

#endif  // CAMPAIGN_SERVER_RULES_TIME_ZONE_MAP_H_
