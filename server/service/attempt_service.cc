#include "server/service/attempt_service.h"

#include "absl/strings/str_cat.h"
#include "server/service/audit.h"
#include "server/service/page_token.h"
#include "server/service/validation.h"
#include "server/util/status_macros.h"

namespace campaign {

AttemptService::AttemptService(store::AttemptStore* attempts, store::RunRepository* runs)
    : attempts_(attempts), runs_(runs) {}

absl::StatusOr<Listing<CallAttempt>> AttemptService::ListAttempts(const Caller& caller,
                                                                  const ListAttemptsInput& input) {
  ASSIGN_OR_RETURN(const auth::Scope scope,
                   AuthorizeCall(caller, auth::Permission::kRead,
                                 /*allow_all_businesses=*/false, "list attempts"));
  const int64_t business_id = *scope.business_id;
  RETURN_IF_ERROR(ValidatePositiveId(input.run_id, "run_id"));
  RETURN_IF_ERROR(ValidateOptionalId(input.job_id, "job_id"));
  ASSIGN_OR_RETURN(const int32_t limit, EffectivePageSize(input.page_size));
  const std::string query =
      absl::StrCat("attempts|", business_id, "|", input.run_id, "|", input.job_id);
  ASSIGN_OR_RETURN(const std::optional<PagePosition> after,
                   DecodePagePositionToken(input.page_token, query));
  std::optional<store::AttemptPosition> position;
  if (after) position = store::AttemptPosition{after->major, static_cast<int32_t>(after->minor)};
  absl::StatusOr<store::AttemptPage> page = attempts_->List(
      business_id, input.run_id,
      input.job_id == 0 ? std::nullopt : std::optional<int64_t>(input.job_id), position, limit);
  if (!page.ok()) {
    return AuditNotFound(*runs_, caller.principal, business_id, input.run_id, page.status());
  }
  Listing<CallAttempt> listing{std::move(page->attempts), ""};
  if (page->next_after) {
    listing.next_page_token =
        EncodePageToken(query, PagePosition{page->next_after->job_id, page->next_after->attempt});
  }
  return listing;
}

}  // namespace campaign
