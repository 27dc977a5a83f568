// The lease keeper: acquires runs (free ones every poll, expired ones at the
// sweep), renews every lease this worker holds in ONE statement per
// heartbeat, and gives leases back. It reports; the loop decides what to do
// with a run whose lease was lost.
#ifndef CAMPAIGN_SERVER_SCHEDULER_LEASE_KEEPER_H_
#define CAMPAIGN_SERVER_SCHEDULER_LEASE_KEEPER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/scheduler/held_run.h"
#include "server/store/lease_repository.h"

namespace campaign::scheduler {

class LeaseKeeper {
 public:
  // `leases` is not owned.
  LeaseKeeper(store::LeaseRepository* leases, std::string worker, int max_runs,
              int max_runs_per_business)
      : leases_(leases),
        worker_(std::move(worker)),
        max_runs_(max_runs),
        max_runs_per_business_(max_runs_per_business) {}

  // Leases runs while this worker holds fewer than max_runs (`held` now).
  absl::StatusOr<std::vector<store::AcquiredRun>> Acquire(int held, store::AcquireMode mode);

  // What one renewal found.
  struct Renewal {
    // The runs still held, with their state now.
    std::map<int64_t, store::RunControl> held;
    // The runs whose lease was lost.
    std::vector<int64_t> lost;
  };
  // Renews every lease of `runs` in one statement.
  absl::StatusOr<Renewal> Renew(const std::map<int64_t, HeldRun>& runs);

  // Gives the run's lease up so another worker can take it at once.
  absl::Status Release(const HeldRun& run) { return leases_->Release(run.lease); }

 private:
  store::LeaseRepository* leases_;
  const std::string worker_;
  const int max_runs_;
  const int max_runs_per_business_;
};

}  // namespace campaign::scheduler

#endif  // CAMPAIGN_SERVER_SCHEDULER_LEASE_KEEPER_H_
