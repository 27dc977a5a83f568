// The do-not-call API's logic, free of gRPC: authorisation, validation
// (numbers normalised to E.164 like leads'), paging, and the calls into the
// store. Handlers only translate protobuf to these types and back.
#ifndef CAMPAIGN_SERVER_SERVICE_DNC_SERVICE_H_
#define CAMPAIGN_SERVER_SERVICE_DNC_SERVICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/auth/caller.h"
#include "server/service/run_service.h"
#include "server/store/do_not_call_store.h"

namespace campaign {

// Most numbers one Add or Remove request may carry.
inline constexpr size_t kMaxDoNotCallPerRequest = 10'000;

// Validates `phones` (1..kMaxDoNotCallPerRequest, each a valid number; an
// error names phones[i] and the value) and returns them in E.164, repeats
// dropped (first wins).
absl::StatusOr<std::vector<std::string>> NormalizeDoNotCallPhones(
    const std::vector<std::string>& phones);

// Implements AddDoNotCallNumbers, RemoveDoNotCallNumbers and
// ListDoNotCallNumbers for the business of the caller's credentials. Writes
// need an owner or admin key (or a system admin naming the business); any
// key of the business reads.
class DoNotCallService {
 public:
  // `store` is not owned.
  explicit DoNotCallService(store::DoNotCallStore* store);

  // Numbers that were not on the list before.
  absl::StatusOr<int64_t> Add(const Caller& caller, const std::vector<std::string>& phones);
  // Numbers that were on the list.
  absl::StatusOr<int64_t> Remove(const Caller& caller, const std::vector<std::string>& phones);
  // A page in phone order (page_size 0: the default; tokens from an earlier
  // page of the same business).
  absl::StatusOr<Listing<store::DoNotCallNumber>> List(const Caller& caller, int32_t page_size,
                                                       const std::string& page_token);

 private:
  // Authorises `permission` and resolves the single business of the call.
  absl::StatusOr<int64_t> BusinessOf(const Caller& caller, auth::Permission permission,
                                     absl::string_view action);

  store::DoNotCallStore* store_;
};

}  // namespace campaign

#endif  // CAMPAIGN_SERVER_SERVICE_DNC_SERVICE_H_
