#include "server/rules/time_zone_map.h"

// Placeholder: the rules helper replaces this file (parser, embedded table).
namespace campaign::rules {

absl::StatusOr<TimeZoneMap> TimeZoneMap::Parse(absl::string_view) { return TimeZoneMap(); }
absl::StatusOr<TimeZoneMap> TimeZoneMap::Load(const std::string&) { return TimeZoneMap(); }
const TimeZoneMap& TimeZoneMap::Embedded() {
  static const TimeZoneMap* map = new TimeZoneMap();
  return *map;
}
std::vector<std::string> TimeZoneMap::ZonesFor(absl::string_view) const { return {}; }
std::string TimeZoneMap::ZoneSpecFor(absl::string_view, absl::string_view lead_time_zone) const {
  return std::string(lead_time_zone);
}

}  // namespace campaign::rules
