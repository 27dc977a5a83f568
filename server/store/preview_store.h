// PreviewRun's reads: the facts rules::Decide needs for a run's jobs or for
// a proposed run's numbers (do-not-call, the per-number cap's recent dials).
// Read only.
#ifndef CAMPAIGN_SERVER_STORE_PREVIEW_STORE_H_
#define CAMPAIGN_SERVER_STORE_PREVIEW_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/model/model.h"
#include "server/store/database.h"

namespace campaign::store {

// A number's standing with the business: on its do-not-call list, and its
// dials within the per-number window.
struct PhoneStanding {
  bool on_do_not_call = false;
  int recent_dials = 0;
  // The oldest of those dials; InfinitePast when none.
  absl::Time oldest_recent_dial = absl::InfinitePast();
};

// A job of a run with what a decision about it needs.
struct JobFacts {
  int64_t job_id = 0;
  int64_t lead_id = 0;
  std::string phone;
  // nullopt for a status this version does not know.
  std::optional<JobStatus> status;
  std::string time_zone;
  std::string caller_id;
  int attempts = 0;
  // InfinitePast when due now.
  absl::Time next_attempt_at = absl::InfinitePast();
  WaitReason waiting_reason = WaitReason::kNone;
  PhoneStanding standing;
};

// PreviewRun's queries, each one read-only transaction in the business.
class PreviewStore {
 public:
  explicit PreviewStore(Database* database) : database_(database) {}

  // Every job of `run_id` (in id order) with its number's standing as of
  // `at`; `cap_window` is the per-number window (zero: no cap, no count).
  absl::StatusOr<std::vector<JobFacts>> Jobs(int64_t business_id, int64_t run_id,
                                             absl::Duration cap_window, absl::Time at);
  // The standing of each distinct number of `phones` (E.164) as of `at`.
  absl::StatusOr<std::map<std::string, PhoneStanding>> Phones(
      int64_t business_id, const std::vector<std::string>& phones, absl::Duration cap_window,
      absl::Time at);

 private:
  Database* database_;
};

}  // namespace campaign::store

#endif  // CAMPAIGN_SERVER_STORE_PREVIEW_STORE_H_
