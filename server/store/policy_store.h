// Dialing policies in PostgreSQL (table dialing_policy, migration 0015): the
// business default (run_id 0) and per-run overrides. Every statement names
// the business; row-level security applies underneath.
#ifndef CAMPAIGN_SERVER_STORE_POLICY_STORE_H_
#define CAMPAIGN_SERVER_STORE_POLICY_STORE_H_

#include <cstdint>
#include <pqxx/pqxx>

#include "absl/status/statusor.h"
#include "server/model/model.h"
#include "server/store/database.h"
#include "server/store/policy_repository.h"

namespace campaign::store {

// Reads and writes dialing policies.
class PolicyStore : public PolicyRepository {
 public:
  explicit PolicyStore(Database* database);

  absl::StatusOr<StoredPolicies> GetPolicies(int64_t business_id, int64_t run_id) override;
  absl::StatusOr<StoredPolicies> UpdatePolicy(int64_t business_id, int64_t run_id,
                                              const DialingPolicy& values,
                                              const PolicyMask& mask) override;

 private:
  Database* database_;
};

// Internal to the store (also CreateRun's override row): upserts the fields
// of `mask` of the policy row (business_id, run_id) in `txn`.
void WritePolicy(pqxx::work& txn, int64_t business_id, int64_t run_id, const DialingPolicy& values,
                 const PolicyMask& mask);

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_POLICY_STORE_H_
