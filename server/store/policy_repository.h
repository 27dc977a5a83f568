// The dialing-policy operations the API's logic (service/PolicyService) needs,
// as an interface: PolicyStore implements it on PostgreSQL, unit tests with a
// fake.
#ifndef CAMPAIGN_SERVER_STORE_POLICY_REPOSITORY_H_
#define CAMPAIGN_SERVER_STORE_POLICY_REPOSITORY_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "server/model/model.h"

namespace campaign::store {

// Which fields of a DialingPolicy a write sets (the rest keep their stored
// value). A set field with an empty or zero value clears it (inherits).
struct PolicyMask {
  bool calling_windows = false;
  bool restricted_dates = false;
  bool max_attempts = false;
  bool retry_delays = false;
  bool max_dials_per_number = false;
  bool per_number_window_days = false;
  bool default_time_zone = false;

  // Every field.
  static PolicyMask All() { return PolicyMask{true, true, true, true, true, true, true}; }
  friend bool operator==(const PolicyMask&, const PolicyMask&) = default;
};

// The stored (not yet resolved) policies a run or a business dials by: the
// business default and the run's overrides; unset fields are empty / 0.
struct StoredPolicies {
  DialingPolicy business;
  // Empty for the business default (run_id 0) and for a run without a row.
  DialingPolicy run;
};

// Reads and writes the dialing policies of one business at a time. A run_id
// of 0 is the business default; any other must be a run of the business
// (NOT_FOUND otherwise, worded as RunNotFoundMessage). Thread-safe.
class PolicyRepository {
 public:
  virtual ~PolicyRepository() = default;

  // The business default and, for run_id > 0, the run's overrides.
  virtual absl::StatusOr<StoredPolicies> GetPolicies(int64_t business_id, int64_t run_id) = 0;

  // Writes the fields of `mask` from `values` into the row of (business,
  // run_id), creating it when missing, and returns the policies afterwards,
  // all in one transaction. A run that ended (stopped, cancelled, completed,
  // failed) is FAILED_PRECONDITION with nothing written.
  virtual absl::StatusOr<StoredPolicies> UpdatePolicy(int64_t business_id, int64_t run_id,
                                                      const DialingPolicy& values,
                                                      const PolicyMask& mask) = 0;
};

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_POLICY_REPOSITORY_H_
