// The do-not-call list of each business in PostgreSQL: the numbers its runs
// never dial (the scheduler checks it at every claim). Every method takes the
// business it acts for; row-level security enforces the same scope.
#ifndef CAMPAIGN_SERVER_STORE_DO_NOT_CALL_STORE_H_
#define CAMPAIGN_SERVER_STORE_DO_NOT_CALL_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/store/database.h"

namespace campaign::store {

// A number on a business's do-not-call list.
struct DoNotCallNumber {
  // E.164.
  std::string phone;
  // When it was added.
  absl::Time created_at;
};

// One page of a do-not-call list in phone order.
struct DoNotCallPage {
  std::vector<DoNotCallNumber> numbers;
  // Set when more numbers follow: the last number of this page.
  std::optional<std::string> next_after_phone;
};

// Reads and writes do-not-call lists. Thread-safe.
class DoNotCallStore {
 public:
  explicit DoNotCallStore(Database* database);

  // Adds `phones` (E.164, already validated) to the business's list in one
  // transaction; returns how many were not on it before (a number given
  // twice, or already listed, is not counted again).
  absl::StatusOr<int64_t> Add(int64_t business_id, const std::vector<std::string>& phones);

  // Removes `phones` from the business's list; returns how many were on it.
  absl::StatusOr<int64_t> Remove(int64_t business_id, const std::vector<std::string>& phones);

  // At most `limit` numbers in phone order after `after_phone` (from the
  // first when unset).
  absl::StatusOr<DoNotCallPage> List(int64_t business_id,
                                     const std::optional<std::string>& after_phone, int32_t limit);

 private:
  Database* database_;
};

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_DO_NOT_CALL_STORE_H_
