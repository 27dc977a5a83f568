// spdlog, plus formatting of absl::string_view (Debian's Abseil has its own
// string_view type, which fmt does not know).
#ifndef CAMPAIGN_SERVER_UTIL_LOGGING_H_
#define CAMPAIGN_SERVER_UTIL_LOGGING_H_

#include <spdlog/spdlog.h>

#include "absl/strings/string_view.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  // Formats like any string, honouring width and alignment.
  template <typename FormatContext>
  auto format(absl::string_view text, FormatContext& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text.data(), text.size()),
                                                    ctx);
  }
};

#endif  // CAMPAIGN_SERVER_UTIL_LOGGING_H_
