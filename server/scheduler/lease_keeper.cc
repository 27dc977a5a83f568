#include "server/scheduler/lease_keeper.h"

#include "server/util/status_macros.h"

namespace campaign::scheduler {

absl::StatusOr<std::vector<store::AcquiredRun>> LeaseKeeper::Acquire(int held,
                                                                     store::AcquireMode mode) {
  const int room = max_runs_ - held;
  if (room <= 0) return std::vector<store::AcquiredRun>{};
  return leases_->Acquire(worker_, room, mode, max_runs_per_business_);
}

absl::StatusOr<LeaseKeeper::Renewal> LeaseKeeper::Renew(const std::map<int64_t, HeldRun>& runs) {
  Renewal renewal;
  if (runs.empty()) return renewal;
  std::vector<store::Lease> leases;
  for (const auto& [id, run] : runs) leases.push_back(run.lease);
  ASSIGN_OR_RETURN(renewal.held, leases_->RenewLeases(worker_, leases));
  for (const auto& [id, run] : runs) {
    if (renewal.held.count(id) == 0) renewal.lost.push_back(id);
  }
  return renewal;
}

}  // namespace campaign::scheduler
