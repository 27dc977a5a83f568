#include "server/service/validation.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/util/status_macros.h"

namespace campaign {
namespace {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

// Quotes a caller-supplied value for an error message, bounded in length and
// with non-printable bytes escaped.
std::string Quote(absl::string_view value) {
  constexpr size_t kMaxShown = 64;
  std::string shown(value.substr(0, kMaxShown));
  std::string quoted = absl::StrCat("\"", absl::CHexEscape(shown), "\"");
  if (value.size() > kMaxShown) quoted += "...";
  return quoted;
}

std::string LeadPrefix(size_t index, int64_t lead_id) {
  return absl::StrFormat("leads[%d] (lead_id %d)", index, lead_id);
}

}  // namespace

bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    int extra = 0;
    uint32_t code_point = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code_point = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code_point = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code_point = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[extra]) return false;             // overlong
    if (code_point > 0x10FFFF) return false;                         // out of range
    if (code_point >= 0xD800 && code_point <= 0xDFFF) return false;  // surrogate
    i += extra + 1;
  }
  return true;
}

absl::StatusOr<std::string> NormalizePhone(absl::string_view phone, absl::string_view field) {
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  if (phone.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  }
  // libphonenumber's parser is quadratic in its input: refuse long strings
  // before parsing them.
  if (phone.size() > kMaxPhoneBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is %d bytes; a phone number is at most %d", field, phone.size(), kMaxPhoneBytes));
  }
  PhoneNumber parsed;
  // "ZZ": no default region, so only international numbers ("+<country>...")
  // parse; a national number would be ambiguous across businesses.
  if (util.Parse(std::string(phone), "ZZ", &parsed) != PhoneNumberUtil::NO_PARSING_ERROR ||
      !util.IsValidNumber(parsed)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", Quote(phone),
                     " is not a valid international phone number (E.164, e.g. +14155550123)"));
  }
  if (parsed.has_extension()) {
    // E.164 has no extensions: dialing the main line instead would be wrong.
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", Quote(phone), " has an extension; extensions cannot be dialed"));
  }
  std::string e164;
  util.Format(parsed, PhoneNumberUtil::E164, &e164);
  return e164;
}

absl::StatusOr<NormalizedLeads> NormalizeLeads(const std::vector<Lead>& leads,
                                               const Limits& limits) {
  if (leads.empty()) {
    return absl::InvalidArgumentError("leads must hold at least one lead");
  }
  if (static_cast<int64_t>(leads.size()) > limits.max_leads_per_request) {
    return absl::InvalidArgumentError(
        absl::StrFormat("leads holds %d leads; at most %d are accepted per request (send "
                        "the rest with AddLeads)",
                        leads.size(), limits.max_leads_per_request));
  }
  NormalizedLeads result;
  result.leads.reserve(leads.size());
  absl::flat_hash_set<int64_t> seen;
  seen.reserve(leads.size());
  for (size_t i = 0; i < leads.size(); ++i) {
    const Lead& lead = leads[i];
    if (lead.lead_id <= 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("leads[%d].lead_id must be > 0, got %d", i, lead.lead_id));
    }
    ASSIGN_OR_RETURN(
        std::string phone,
        NormalizePhone(lead.phone, absl::StrCat(LeadPrefix(i, lead.lead_id), ": phone")));
    if (!IsValidUtf8(lead.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(LeadPrefix(i, lead.lead_id), ": name is not valid UTF-8"));
    }
    if (lead.name.size() > kMaxLeadNameBytes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: name is %d bytes; at most %d are allowed",
                          LeadPrefix(i, lead.lead_id), lead.name.size(), kMaxLeadNameBytes));
    }
    if (!seen.insert(lead.lead_id).second) {
      ++result.duplicates_dropped;
      continue;
    }
    result.leads.push_back(Lead{lead.lead_id, std::move(phone), lead.name});
  }
  return result;
}

absl::Status ValidateRequestId(absl::string_view request_id) {
  if (request_id.empty()) {
    return absl::InvalidArgumentError(
        "request_id is required: a client-chosen key that makes retries of CreateRun safe");
  }
  if (request_id.size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "request_id is %d bytes; at most %d are allowed", request_id.size(), kMaxRequestIdBytes));
  }
  if (!IsValidUtf8(request_id)) {
    return absl::InvalidArgumentError("request_id is not valid UTF-8");
  }
  for (size_t i = 0; i < request_id.size(); ++i) {
    const auto c = static_cast<unsigned char>(request_id[i]);
    // C0 controls, DEL, and C1 controls (U+0080..U+009F, encoded C2 80..C2 9F).
    const bool c1 = c == 0xC2 && i + 1 < request_id.size() &&
                    static_cast<unsigned char>(request_id[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(request_id[i + 1]) <= 0x9F;
    if (c < 0x20 || c == 0x7F || c1) {
      return absl::InvalidArgumentError(
          absl::StrCat("request_id ", Quote(request_id), " contains a control character"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateConcurrency(int32_t concurrency, const Limits& limits) {
  if (concurrency < 1 || concurrency > limits.max_concurrency) {
    return absl::InvalidArgumentError(absl::StrFormat("concurrency must be within 1..%d, got %d",
                                                      limits.max_concurrency, concurrency));
  }
  return absl::OkStatus();
}

absl::Status ValidatePositiveId(int64_t id, absl::string_view field) {
  if (id <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("%s must be > 0, got %d", field, id));
  }
  return absl::OkStatus();
}

absl::Status ValidateOptionalId(int64_t id, absl::string_view field) {
  if (id < 0) {
    return absl::InvalidArgumentError(absl::StrFormat("%s must be >= 0, got %d", field, id));
  }
  return absl::OkStatus();
}

absl::StatusOr<int32_t> EffectivePageSize(int32_t page_size) {
  if (page_size < 0) {
    return absl::InvalidArgumentError(absl::StrFormat("page_size must be >= 0, got %d", page_size));
  }
  if (page_size == 0) return kDefaultPageSize;
  return std::min(page_size, kMaxPageSize);
}

}  // namespace campaign
