# Writes a C++ source holding data/map_data.txt as a raw string literal, so
# campaignd needs no data path. Inputs: INPUT (the map file), OUTPUT.
file(READ ${INPUT} text)
string(FIND "${text}" ")campaign_tz\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter")
endif()
file(WRITE ${OUTPUT} "// Generated from server/rules/data/map_data.txt by embed_time_zone_map.cmake.
// Do not edit.
#include \"absl/strings/string_view.h\"

namespace campaign::rules::internal {

extern const absl::string_view kEmbeddedTimeZoneMap;
const absl::string_view kEmbeddedTimeZoneMap = R\"campaign_tz(${text})campaign_tz\";

}  // namespace campaign::rules::internal
")
