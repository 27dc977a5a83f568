#include "server/twilio/flat_json.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace campaign::twilio {
namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<std::map<std::string, JsonValue>> Document() {
    std::map<std::string, JsonValue> members;
    SkipSpace();
    if (!Consume('{')) return Error("expected '{'");
    SkipSpace();
    if (!Consume('}')) {
      for (;;) {
        SkipSpace();
        std::string name;
        if (absl::Status status = String(&name); !status.ok()) return status;
        SkipSpace();
        if (!Consume(':')) return Error("expected ':'");
        SkipSpace();
        JsonValue value;
        if (absl::Status status = Value(&value, 1); !status.ok()) return status;
        if (!members.emplace(name, std::move(value)).second) {
          return Error(absl::StrCat("member '", name, "' repeated"));
        }
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume('}')) break;
        return Error("expected ',' or '}'");
      }
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("trailing bytes after the object");
    return members;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("JSON: ", what, " at offset ", pos_));
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  bool Consume(char c) {
    if (Peek() != c || AtEnd()) return false;
    ++pos_;
    return true;
  }
  bool ConsumeWord(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) {
      ++pos_;
    }
  }

  // Any value; `out` gets its kind (and text for strings and numbers).
  absl::Status Value(JsonValue* out, int depth) {
    if (depth > kMaxDepth) return Error("nested too deep");
    const char c = Peek();
    if (c == '"') {
      out->kind = JsonValue::Kind::kString;
      return String(&out->text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      out->kind = JsonValue::Kind::kNumber;
      return Number(&out->text);
    }
    if (ConsumeWord("true")) {
      out->kind = JsonValue::Kind::kTrue;
      return absl::OkStatus();
    }
    if (ConsumeWord("false")) {
      out->kind = JsonValue::Kind::kFalse;
      return absl::OkStatus();
    }
    if (ConsumeWord("null")) {
      out->kind = JsonValue::Kind::kNull;
      return absl::OkStatus();
    }
    if (Consume('{')) {
      out->kind = JsonValue::Kind::kObject;
      SkipSpace();
      if (Consume('}')) return absl::OkStatus();
      for (;;) {
        SkipSpace();
        std::string name;
        if (absl::Status status = String(&name); !status.ok()) return status;
        SkipSpace();
        if (!Consume(':')) return Error("expected ':'");
        SkipSpace();
        JsonValue ignored;
        if (absl::Status status = Value(&ignored, depth + 1); !status.ok()) return status;
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume('}')) return absl::OkStatus();
        return Error("expected ',' or '}'");
      }
    }
    if (Consume('[')) {
      out->kind = JsonValue::Kind::kArray;
      SkipSpace();
      if (Consume(']')) return absl::OkStatus();
      for (;;) {
        SkipSpace();
        JsonValue ignored;
        if (absl::Status status = Value(&ignored, depth + 1); !status.ok()) return status;
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume(']')) return absl::OkStatus();
        return Error("expected ',' or ']'");
      }
    }
    return Error("expected a value");
  }

  absl::Status Number(std::string* out) {
    const size_t start = pos_;
    Consume('-');
    if (Consume('0')) {
    } else if (Peek() >= '1' && Peek() <= '9') {
      while (Peek() >= '0' && Peek() <= '9' && !AtEnd()) ++pos_;
    } else {
      return Error("malformed number");
    }
    if (Consume('.')) {
      if (!(Peek() >= '0' && Peek() <= '9') || AtEnd()) return Error("malformed number");
      while (Peek() >= '0' && Peek() <= '9' && !AtEnd()) ++pos_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!(Peek() >= '0' && Peek() <= '9') || AtEnd()) return Error("malformed number");
      while (Peek() >= '0' && Peek() <= '9' && !AtEnd()) ++pos_;
    }
    *out = std::string(text_.substr(start, pos_ - start));
    return absl::OkStatus();
  }

  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Four hex digits after "\u".
  absl::Status Hex4(unsigned* out) {
    if (pos_ + 4 > text_.size()) return Error("truncated \\u escape");
    unsigned value = 0;
    for (int i = 0; i < 4; ++i) {
      const int digit = Hex(text_[pos_ + i]);
      if (digit < 0) return Error("malformed \\u escape");
      value = value * 16 + static_cast<unsigned>(digit);
    }
    pos_ += 4;
    *out = value;
    return absl::OkStatus();
  }

  static void AppendUtf8(unsigned code_point, std::string* out) {
    if (code_point < 0x80) {
      out->push_back(static_cast<char>(code_point));
    } else if (code_point < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
      out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    } else if (code_point < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    }
  }

  absl::Status String(std::string* out) {
    if (!Consume('"')) return Error("expected a string");
    out->clear();
    for (;;) {
      if (AtEnd()) return Error("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos_;
        return Error("control character in a string");
      }
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (AtEnd()) return Error("unterminated string");
      const char escape = text_[pos_++];
      switch (escape) {
        case '"':
        case '\\':
        case '/':
          out->push_back(escape);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          unsigned unit = 0;
          if (absl::Status status = Hex4(&unit); !status.ok()) return status;
          if (unit >= 0xDC00 && unit <= 0xDFFF) return Error("lone low surrogate");
          if (unit >= 0xD800 && unit <= 0xDBFF) {
            unsigned low = 0;
            if (!ConsumeWord("\\u")) return Error("high surrogate without a low one");
            if (absl::Status status = Hex4(&low); !status.ok()) return status;
            if (low < 0xDC00 || low > 0xDFFF) return Error("high surrogate without a low one");
            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(unit, out);
          break;
        }
        default:
          --pos_;
          return Error("invalid escape");
      }
    }
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<std::map<std::string, JsonValue>> ParseFlatJsonObject(absl::string_view json) {
  return Parser(json).Document();
}

}  // namespace campaign::twilio
