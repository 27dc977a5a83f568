#include "server/observability/logging.h"

#include <spdlog/details/log_msg.h>
#include <spdlog/pattern_formatter.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace campaign::observability {
namespace {

struct Field {
  std::string key;
  std::string value;
  bool number = false;
};

// The fields of the current thread's open scopes, outermost first.
thread_local std::vector<Field> current_fields;

// The current fields to write: for a key set by several scopes, the
// innermost value, at the place of its first appearance.
std::vector<Field> EffectiveFields() {
  std::vector<Field> fields;
  for (const Field& field : current_fields) {
    bool replaced = false;
    for (Field& seen : fields) {
      if (seen.key == field.key) {
        seen = field;
        replaced = true;
      }
    }
    if (!replaced) fields.push_back(field);
  }
  return fields;
}

void Append(spdlog::memory_buf_t& dest, absl::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

// Length of the valid UTF-8 sequence starting at text[i], or 0.
size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length = 0;
  uint32_t min = 0;
  uint32_t code = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, min = 0x80, code = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, min = 0x800, code = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, min = 0x10000, code = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3F);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return length;
}

// A text field value: bare when it has no spaces, quotes or '=', else quoted.
std::string TextValue(absl::string_view value) {
  bool plain = !value.empty();
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) plain = false;
  }
  if (plain) return std::string(value);
  std::string quoted = "\"";
  AppendJsonEscaped(value, &quoted);
  quoted += '"';
  return quoted;
}

// %* in the text pattern: " key=value" for each current field.
class FieldsFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (const Field& field : EffectiveFields()) {
      Append(dest, " ");
      Append(dest, field.key);
      Append(dest, "=");
      Append(dest, TextValue(field.value));
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<FieldsFlag>();
  }
};

// One JSON object per line.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "{\"time\":\"";
    const auto since_epoch = msg.time.time_since_epoch();
    const std::time_t seconds =
        std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
    const int64_t millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    absl::StrAppendFormat(&line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                          utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                          static_cast<int>(millis));
    line += "\",\"level\":\"";
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    AppendJsonEscaped(absl::string_view(level.data(), level.size()), &line);
    line += "\",\"logger\":\"";
    AppendJsonEscaped(absl::string_view(msg.logger_name.data(), msg.logger_name.size()), &line);
    line += "\",\"message\":\"";
    AppendJsonEscaped(absl::string_view(msg.payload.data(), msg.payload.size()), &line);
    line += '"';
    for (const Field& field : EffectiveFields()) {
      line += ",\"";
      AppendJsonEscaped(field.key, &line);
      line += "\":";
      if (field.number) {
        line += field.value;
      } else {
        line += '"';
        AppendJsonEscaped(field.value, &line);
        line += '"';
      }
    }
    line += "}\n";
    Append(dest, line);
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::optional<LogFormat> ParseLogFormat(absl::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format) {
  if (format == LogFormat::kJson) return std::make_unique<JsonFormatter>();
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<FieldsFlag>('*').set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%^%l%$] %v%*");
  return formatter;
}

ScopedLogFields::ScopedLogFields(
    std::initializer_list<std::pair<absl::string_view, std::string>> fields) {
  for (const auto& [key, value] : fields) Add(key, value);
}

ScopedLogFields::~ScopedLogFields() {
  current_fields.resize(current_fields.size() - std::min(added_, current_fields.size()));
}

void ScopedLogFields::Add(absl::string_view key, std::string value) {
  current_fields.push_back(Field{std::string(key), std::move(value), false});
  ++added_;
}

void ScopedLogFields::AddNumber(absl::string_view key, double value) {
  current_fields.push_back(Field{std::string(key), absl::StrFormat("%.3f", value), true});
  ++added_;
}

void AppendJsonEscaped(absl::string_view text, std::string* out) {
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          *out += "\\\"";
          break;
        case '\\':
          *out += "\\\\";
          break;
        case '\n':
          *out += "\\n";
          break;
        case '\r':
          *out += "\\r";
          break;
        case '\t':
          *out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            absl::StrAppendFormat(out, "\\u%04x", c);
          } else {
            *out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      *out += "\\ufffd";
      ++i;
    } else {
      out->append(text.data() + i, length);
      i += length;
    }
  }
}

}  // namespace campaign::observability
