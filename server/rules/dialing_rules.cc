#include "server/rules/dialing_rules.h"

// Placeholder: the rules helper replaces this file.
namespace campaign::rules {

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
absl::StatusOr<std::vector<DailyWindow>> ParseDailyHours(absl::string_view) {
  return ServerDefaultPolicy().calling_windows;
}
DialingPolicy Effective(const DialingPolicy& defaults, const DialingPolicy&,
                        const DialingPolicy&) {
  return defaults;
}
absl::Status ValidatePolicy(const DialingPolicy&, absl::string_view) { return absl::OkStatus(); }
absl::StatusOr<std::vector<absl::TimeZone>> ZonesOf(absl::string_view, const DialingPolicy&) {
  return std::vector<absl::TimeZone>{absl::UTCTimeZone()};
}
WindowState Window(const DialingPolicy&, const std::vector<absl::TimeZone>&, absl::Time) {
  return WindowState{true, absl::InfiniteFuture(), ""};
}
Decision Decide(const DialingPolicy&, const LeadFacts&, const RunSchedule&, absl::Time) {
  return Decision{};
}
std::optional<absl::Time> RetryAt(const DialingPolicy&, JobStatus, int, absl::Time) {
  return std::nullopt;
}
std::string PickCallerId(const std::vector<std::string>& pool, bool, absl::string_view) {
  return pool.empty() ? "" : pool.front();
}

}  // namespace campaign::rules
