// Settings and counters of the progress hub, shared by its pieces (the
// registry takes the stream caps, the fetcher the read settings).
#ifndef CAMPAIGN_SERVER_PROGRESS_OPTIONS_H_
#define CAMPAIGN_SERVER_PROGRESS_OPTIONS_H_

#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"

namespace campaign::progress {

// Settings of a ProgressHub.
struct HubOptions {
  // Most open streams in the process.
  int max_streams = 1000;
  // Most open streams per business (a system admin watching every business
  // counts against max_streams only).
  int max_streams_per_business = 100;
  // Most messages per second per run and stream.
  double max_rate = 10;
  // Most job updates in one WatchRun message.
  int max_job_updates = 500;
  // How long after a notification a run is read again, to pick up changes
  // the writers' debounce (100 ms) kept quiet.
  absl::Duration trailing_read_delay = absl::Milliseconds(150);
  // Most runs in the first set of a WatchRuns stream.
  int initial_runs_limit = 1000;
};

// Counters for tests and logs.
struct HubStats {
  // Open subscriptions.
  int streams = 0;
  // Database reads of a run (with its job transitions) for fan-out.
  int64_t run_reads = 0;
  // Notifications received for watched runs.
  int64_t notifications = 0;
  // Highest PendingSnapshots() of any subscription seen after an offer.
  size_t max_pending_snapshots = 0;
};

}  // namespace campaign::progress

#endif  // CAMPAIGN_SERVER_PROGRESS_OPTIONS_H_
