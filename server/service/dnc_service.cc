#include "server/service/dnc_service.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/service/page_token.h"
#include "server/service/validation.h"
#include "server/util/logging.h"
#include "server/util/status_macros.h"

namespace campaign {
namespace {

// A page token carries the last phone of its page as its digits: an E.164
// number is '+' and at most 15 digits, the first never 0, so the digits are
// a positive int64 that gives the number back exactly.
int64_t PhoneKey(const std::string& e164) {
  int64_t digits = 0;
  // Stored numbers are E.164 (validated on the way in).
  (void)absl::SimpleAtoi(absl::string_view(e164).substr(1), &digits);
  return digits;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> NormalizeDoNotCallPhones(
    const std::vector<std::string>& phones) {
  if (phones.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("phones must hold 1..", kMaxDoNotCallPerRequest, " numbers; got none"));
  }
  if (phones.size() > kMaxDoNotCallPerRequest) {
    return absl::InvalidArgumentError(absl::StrCat("phones holds ", phones.size(),
                                                   " numbers; at most ", kMaxDoNotCallPerRequest,
                                                   " are allowed per request"));
  }
  std::vector<std::string> normalized;
  normalized.reserve(phones.size());
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < phones.size(); ++i) {
    ASSIGN_OR_RETURN(std::string e164, NormalizePhone(phones[i], absl::StrCat("phones[", i, "]")));
    if (seen.insert(e164).second) normalized.push_back(std::move(e164));
  }
  return normalized;
}

DoNotCallService::DoNotCallService(store::DoNotCallStore* store) : store_(store) {}

absl::StatusOr<int64_t> DoNotCallService::BusinessOf(const Caller& caller,
                                                     auth::Permission permission,
                                                     absl::string_view action) {
  ASSIGN_OR_RETURN(const auth::Scope scope,
                   AuthorizeCall(caller, permission, /*allow_all_businesses=*/false, action));
  return *scope.business_id;
}

absl::StatusOr<int64_t> DoNotCallService::Add(const Caller& caller,
                                              const std::vector<std::string>& phones) {
  ASSIGN_OR_RETURN(const int64_t business_id,
                   BusinessOf(caller, auth::Permission::kWrite, "change the do-not-call list"));
  ASSIGN_OR_RETURN(const std::vector<std::string> normalized, NormalizeDoNotCallPhones(phones));
  ASSIGN_OR_RETURN(const int64_t added, store_->Add(business_id, normalized));
  spdlog::info("{} added {} numbers to the do-not-call list of business {} ({} given)",
               auth::DescribePrincipal(caller.principal), added, business_id, phones.size());
  return added;
}

absl::StatusOr<int64_t> DoNotCallService::Remove(const Caller& caller,
                                                 const std::vector<std::string>& phones) {
  ASSIGN_OR_RETURN(const int64_t business_id,
                   BusinessOf(caller, auth::Permission::kWrite, "change the do-not-call list"));
  ASSIGN_OR_RETURN(const std::vector<std::string> normalized, NormalizeDoNotCallPhones(phones));
  ASSIGN_OR_RETURN(const int64_t removed, store_->Remove(business_id, normalized));
  spdlog::info("{} removed {} numbers from the do-not-call list of business {} ({} given)",
               auth::DescribePrincipal(caller.principal), removed, business_id, phones.size());
  return removed;
}

absl::StatusOr<Listing<store::DoNotCallNumber>> DoNotCallService::List(
    const Caller& caller, int32_t page_size, const std::string& page_token) {
  ASSIGN_OR_RETURN(const int64_t business_id,
                   BusinessOf(caller, auth::Permission::kRead, "read the do-not-call list"));
  ASSIGN_OR_RETURN(const int32_t limit, EffectivePageSize(page_size));
  const std::string query = absl::StrCat("do-not-call|", business_id);
  ASSIGN_OR_RETURN(const std::optional<int64_t> after, DecodePageToken(page_token, query));
  std::optional<std::string> after_phone;
  if (after) after_phone = absl::StrCat("+", *after);
  ASSIGN_OR_RETURN(store::DoNotCallPage page, store_->List(business_id, after_phone, limit));
  Listing<store::DoNotCallNumber> listing{std::move(page.numbers), ""};
  if (page.next_after_phone) {
    listing.next_page_token = EncodePageToken(query, PhoneKey(*page.next_after_phone));
  }
  return listing;
}

}  // namespace campaign
