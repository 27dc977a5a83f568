#include "server/twilio/form.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace campaign::twilio {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes one name or value; `offset` is its position in the whole input,
// for the error message.
absl::StatusOr<std::string> Unescape(absl::string_view text, size_t offset) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      const int high = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (high < 0 || low < 0) {
        return absl::InvalidArgumentError(absl::StrCat("malformed percent escape at offset ",
                                                       offset + i,
                                                       ": '%' must be followed by two hex digits"));
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string FormEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '*') {
      out.push_back(c);
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0F]);
    }
  }
  return out;
}

std::string FormEncode(const FormParams& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, FormEscape(name), "=", FormEscape(value));
  }
  return out;
}

absl::StatusOr<FormParams> FormDecode(absl::string_view encoded) {
  FormParams params;
  size_t start = 0;
  while (start <= encoded.size()) {
    size_t end = encoded.find('&', start);
    if (end == absl::string_view::npos) end = encoded.size();
    const absl::string_view piece = encoded.substr(start, end - start);
    if (!piece.empty()) {
      const size_t eq = piece.find('=');
      const absl::string_view name = piece.substr(0, eq);
      const absl::string_view value =
          eq == absl::string_view::npos ? absl::string_view() : piece.substr(eq + 1);
      absl::StatusOr<std::string> decoded_name = Unescape(name, start);
      if (!decoded_name.ok()) return decoded_name.status();
      absl::StatusOr<std::string> decoded_value = Unescape(value, start + eq + 1);
      if (!decoded_value.ok()) return decoded_value.status();
      params.emplace_back(*std::move(decoded_name), *std::move(decoded_value));
    }
    start = end + 1;
  }
  return params;
}

std::optional<std::string> FindParam(const FormParams& params, absl::string_view name) {
  for (const auto& [key, value] : params) {
    if (key == name) return value;
  }
  return std::nullopt;
}

int CountParam(const FormParams& params, absl::string_view name) {
  int count = 0;
  for (const auto& param : params) count += param.first == name ? 1 : 0;
  return count;
}

}  // namespace campaign::twilio
