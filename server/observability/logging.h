// Log formats of campaignd (text or one JSON object per line) and fields
// attached to the log lines of a thread while it serves one call
// (request_id, principal, ...). Free of gRPC and Prometheus.
#ifndef CAMPAIGN_SERVER_OBSERVABILITY_LOGGING_H_
#define CAMPAIGN_SERVER_OBSERVABILITY_LOGGING_H_

#include <spdlog/formatter.h>

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace campaign::observability {

enum class LogFormat {
  // "[time] [logger] [level] message key=value ..." (spdlog's default look).
  kText,
  // {"time":"…Z","level":"info","logger":"campaignd","message":"…",<fields>}
  kJson,
};

// "text" or "json"; nullopt otherwise.
std::optional<LogFormat> ParseLogFormat(absl::string_view name);

// A formatter for spdlog::set_formatter that writes `format` and the current
// thread's log fields.
std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format);

// Adds fields to every line the current thread logs while this object lives
// (scopes nest; an inner scope's fields come after the outer ones). Create
// and destroy on the same thread, innermost last.
class ScopedLogFields {
 public:
  ScopedLogFields() = default;
  ScopedLogFields(std::initializer_list<std::pair<absl::string_view, std::string>> fields);
  ~ScopedLogFields();
  ScopedLogFields(const ScopedLogFields&) = delete;
  ScopedLogFields& operator=(const ScopedLogFields&) = delete;

  // Adds a string field (call only while this is the innermost scope).
  void Add(absl::string_view key, std::string value);
  // Adds a numeric field (a JSON number in JSON logs).
  void AddNumber(absl::string_view key, double value);

 private:
  size_t added_ = 0;
};

// Appends `text` as the inside of a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD.
void AppendJsonEscaped(absl::string_view text, std::string* out);

}  // namespace campaign::observability

#endif  // CAMPAIGN_SERVER_OBSERVABILITY_LOGGING_H_
