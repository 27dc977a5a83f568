#include "server/service/validation.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <list>
#include <optional>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
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

// The common case without libphonenumber's parser, which is most of the cost
// of a large request (~25 us a number, nearly all of it ICU regular
// expressions): a North American number already in E.164, "+1" and ten
// digits whose first is 2-9. For such a string Parse(…, "ZZ") can only yield
// country code 1 and those ten digits as the national number: there is no
// extension, no carrier code, no leading zero, and no national prefix to
// strip (NANP's is "1", which an area code never starts with). So the number
// is built directly and only IsValidNumber runs; when it says valid, the
// E.164 form is the input itself. Anything else (or a number it finds
// invalid) goes the full way, so messages and results are unchanged.
//
// Validity is asked of the United States first: IsValidNumber(n) finds n's
// region (for country code 1 it tries the NANP regions in libphonenumber's
// order, US first, and the US metadata has no leading digits, so the first
// region whose number types match n) and then asks IsValidNumberForRegion(n,
// region). When IsValidNumberForRegion(n, "US") holds, that region is the US
// and the answer is the same, at a third of the cost (measured: 8 us against
// 26 us a number); when it does not (Canada, the Caribbean, invalid numbers),
// IsValidNumber decides. UsComesFirstForNanp checks the order once.
bool UsComesFirstForNanp(const PhoneNumberUtil& util) {
  static const bool us_first = [&util] {
    std::list<std::string> regions;
    util.GetRegionCodesForCountryCallingCode(1, &regions);
    return !regions.empty() && regions.front() == "US";
  }();
  return us_first;
}

std::optional<std::string> FastNanpE164(const PhoneNumberUtil& util, absl::string_view phone) {
  if (phone.size() != 12 || phone[0] != '+' || phone[1] != '1' || phone[2] < '2' ||
      phone[2] > '9') {
    return std::nullopt;
  }
  uint64_t national = 0;
  for (size_t i = 2; i < phone.size(); ++i) {
    if (phone[i] < '0' || phone[i] > '9') return std::nullopt;
    national = national * 10 + static_cast<uint64_t>(phone[i] - '0');
  }
  PhoneNumber number;
  number.set_country_code(1);
  number.set_national_number(national);
  const bool valid = (UsComesFirstForNanp(util) && util.IsValidNumberForRegion(number, "US")) ||
                     util.IsValidNumber(number);
  if (!valid) return std::nullopt;
  return std::string(phone);
}

// Why `name` is not an acceptable IANA zone name, or nullopt when it is.
std::optional<std::string> TimeZoneProblem(absl::string_view name) {
  const auto refuse = [](absl::string_view why) {
    return std::optional<std::string>(
        absl::StrCat("is not an IANA time zone (such as \"America/Chicago\"): ", why));
  };
  if (name.size() > kMaxTimeZoneBytes) {
    return refuse(absl::StrFormat("longer than %d bytes", kMaxTimeZoneBytes));
  }
  for (const char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '+' && c != '-' &&
        c != '/') {
      return refuse("only letters, digits and _+-/ may appear");
    }
  }
  if (absl::StartsWith(name, "/") || absl::EndsWith(name, "/") || absl::StrContains(name, "//")) {
    return refuse("a part of the name is empty");
  }
  if (name == "localtime") return refuse("the server's local zone is not a callee's zone");
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(std::string(name), &zone)) {
    return refuse("not in the time zone database");
  }
  return std::nullopt;
}

// Whether a zone name loads, remembered per name (a request names few zones
// for many leads); one per validation thread.
using ZoneCache = absl::flat_hash_map<std::string, std::optional<std::string>>;

// One lead checked and its phone normalised: the checks of NormalizeLeads
// for leads[index], in their order.
absl::StatusOr<std::string> CheckLead(const Lead& lead, size_t index, ZoneCache& zones) {
  if (lead.lead_id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("leads[%d].lead_id must be > 0, got %d", index, lead.lead_id));
  }
  absl::StatusOr<std::string> phone =
      NormalizePhone(lead.phone, absl::StrCat(LeadPrefix(index, lead.lead_id), ": phone"));
  if (!phone.ok()) return phone.status();
  if (!IsValidUtf8(lead.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat(LeadPrefix(index, lead.lead_id), ": name is not valid UTF-8"));
  }
  if (lead.name.size() > kMaxLeadNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: name is %d bytes; at most %d are allowed",
                        LeadPrefix(index, lead.lead_id), lead.name.size(), kMaxLeadNameBytes));
  }
  if (!lead.time_zone.empty()) {
    auto [it, inserted] = zones.try_emplace(lead.time_zone);
    if (inserted) it->second = TimeZoneProblem(lead.time_zone);
    if (it->second) {
      return absl::InvalidArgumentError(absl::StrFormat("leads[%d].time_zone %s (lead_id %d) %s",
                                                        index, Quote(lead.time_zone), lead.lead_id,
                                                        *it->second));
    }
  }
  return phone;
}

// Leads per validation thread, at least: below this a thread costs more than
// it saves.
constexpr size_t kMinLeadsPerThread = 4096;
// Most threads one request validates on.
constexpr size_t kMaxValidationThreads = 8;

// Checks leads[begin, end) in order into phones[i]; returns the first error,
// which is then the first of the range.
absl::Status CheckRange(const std::vector<Lead>& leads, size_t begin, size_t end,
                        std::vector<std::string>& phones) {
  ZoneCache zones;
  for (size_t i = begin; i < end; ++i) {
    absl::StatusOr<std::string> phone = CheckLead(leads[i], i, zones);
    if (!phone.ok()) return phone.status();
    phones[i] = *std::move(phone);
  }
  return absl::OkStatus();
}

// "host" of an http(s) URL's authority (no userinfo; brackets of an IPv6
// literal kept) and whether the scheme is https; nullopt when `url` is not
// http(s)://host[:port][/...].
std::optional<std::pair<bool, std::string>> UrlSchemeAndHost(absl::string_view url) {
  bool https = false;
  if (absl::ConsumePrefix(&url, "https://")) {
    https = true;
  } else if (!absl::ConsumePrefix(&url, "http://")) {
    return std::nullopt;
  }
  const absl::string_view authority = url.substr(0, url.find_first_of("/?#"));
  if (authority.empty() || absl::StrContains(authority, "@")) return std::nullopt;
  absl::string_view host = authority;
  if (absl::StartsWith(host, "[")) {
    const size_t close = host.find(']');
    if (close == absl::string_view::npos) return std::nullopt;
    host = host.substr(0, close + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  if (host.empty()) return std::nullopt;
  return std::make_pair(https, std::string(host));
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
  if (std::optional<std::string> fast = FastNanpE164(util, phone)) return *std::move(fast);
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
  // Every lead is checked (on a few threads for a large request: the phone
  // parser dominates), then duplicates are dropped in order. A range stops at
  // its first bad lead; the lowest range's error is the request's first bad
  // lead, as a sequential pass would report it.
  std::vector<std::string> phones(leads.size());
  const size_t threads = std::clamp<size_t>(
      std::min<size_t>(std::thread::hardware_concurrency(), leads.size() / kMinLeadsPerThread), 1,
      kMaxValidationThreads);
  std::vector<absl::Status> errors(threads);
  const size_t per_thread = (leads.size() + threads - 1) / threads;
  {
    std::vector<std::thread> workers;
    for (size_t t = 1; t < threads; ++t) {
      workers.emplace_back([&, t] {
        errors[t] = CheckRange(leads, std::min(leads.size(), t * per_thread),
                               std::min(leads.size(), (t + 1) * per_thread), phones);
      });
    }
    errors[0] = CheckRange(leads, 0, std::min(leads.size(), per_thread), phones);
    for (std::thread& worker : workers) worker.join();
  }
  for (absl::Status& error : errors) {
    if (!error.ok()) return error;
  }
  NormalizedLeads result;
  result.leads.reserve(leads.size());
  absl::flat_hash_set<int64_t> seen;
  seen.reserve(leads.size());
  for (size_t i = 0; i < leads.size(); ++i) {
    if (!seen.insert(leads[i].lead_id).second) {
      ++result.duplicates_dropped;
      continue;
    }
    result.leads.push_back(
        Lead{leads[i].lead_id, std::move(phones[i]), leads[i].name, leads[i].time_zone});
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

absl::Status ValidateHttpsUrl(absl::string_view url, absl::string_view field) {
  if (url.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (url.size() > kMaxUrlBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is %d bytes; at most %d are allowed", field, url.size(), kMaxUrlBytes));
  }
  for (const char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7F) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " ", Quote(url), " contains a space or a control character"));
    }
  }
  std::optional<std::pair<bool, std::string>> parsed = UrlSchemeAndHost(url);
  if (!parsed) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", Quote(url), " is not an http(s)://host[:port][/path] URL"));
  }
  const std::string& host = parsed->second;
  if (!parsed->first && host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " ", Quote(url), " must be https (http only to 127.0.0.1, [::1] or localhost)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CallSettings> NormalizeCallSettings(const CallSettings& settings) {
  CallSettings normalized = settings;
  if (!settings.caller_id.empty()) {
    ASSIGN_OR_RETURN(normalized.caller_id,
                     NormalizePhone(settings.caller_id, "call_settings.caller_id"));
  }
  if (!settings.twiml_url.empty()) {
    RETURN_IF_ERROR(ValidateHttpsUrl(settings.twiml_url, "call_settings.twiml_url"));
  }
  if (settings.ring_timeout_seconds != 0 &&
      (settings.ring_timeout_seconds < kMinRingTimeoutSeconds ||
       settings.ring_timeout_seconds > kMaxRingTimeoutSeconds)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "call_settings.ring_timeout_seconds must be within %d..%d (0: the server's default), "
        "got %d",
        kMinRingTimeoutSeconds, kMaxRingTimeoutSeconds, settings.ring_timeout_seconds));
  }
  return normalized;
}

absl::Status ValidateTimeZone(absl::string_view name, absl::string_view field) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is empty"));
  if (std::optional<std::string> problem = TimeZoneProblem(name)) {
    return absl::InvalidArgumentError(absl::StrCat(field, " ", Quote(name), " ", *problem));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> NormalizeCallerIds(const std::vector<std::string>& ids) {
  if (ids.size() > kMaxCallerIds) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "caller_ids holds %d numbers; at most %d are allowed", ids.size(), kMaxCallerIds));
  }
  std::vector<std::string> normalized;
  normalized.reserve(ids.size());
  absl::flat_hash_map<std::string, size_t> first_index;
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSIGN_OR_RETURN(std::string e164,
                     NormalizePhone(ids[i], absl::StrFormat("caller_ids[%d]", i)));
    auto [it, inserted] = first_index.try_emplace(e164, i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "caller_ids[%d] %s is %s, already given as caller_ids[%d]; caller ids must be distinct",
          i, Quote(ids[i]), e164, it->second));
    }
    normalized.push_back(std::move(e164));
  }
  return normalized;
}

absl::Status ValidateSchedule(const std::optional<absl::Time>& start_at,
                              const std::optional<absl::Time>& end_at, absl::Time now) {
  if (!end_at) return absl::OkStatus();
  const auto format = [](absl::Time time) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", time, absl::UTCTimeZone());
  };
  if (start_at && *end_at <= *start_at) {
    return absl::InvalidArgumentError(
        absl::StrCat("end_at ", format(*end_at), " must be after start_at ", format(*start_at)));
  }
  if (*end_at <= now) {
    return absl::InvalidArgumentError(absl::StrCat("end_at ", format(*end_at),
                                                   " is not in the future (now ", format(now),
                                                   "); a run must be able to dial"));
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
