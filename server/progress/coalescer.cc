#include "server/progress/coalescer.h"

#include <algorithm>

namespace campaign::progress {
namespace {

absl::Duration IntervalOf(double max_rate) {
  return max_rate > 0 ? absl::Seconds(1) / max_rate : absl::ZeroDuration();
}

bool IsTerminalRun(const Run& run) { return run.status.has_value() && IsTerminal(*run.status); }

}  // namespace

Coalescer::Coalescer(CoalescerOptions options)
    : options_(options), interval_(IntervalOf(options.max_rate)) {}

void Coalescer::Follow(int64_t run_id, int64_t after_version) {
  RunState& state = runs_[run_id];
  state.version = std::max<int64_t>(after_version, 0);
  state.matched = true;
  if (options_.with_jobs && after_version > 0) state.job_cursor = after_version;
}

bool Coalescer::Offer(const Snapshot& snapshot) {
  const Run& run = snapshot.run;
  const bool matches = !options_.status_filter.has_value() ||
                       (run.status.has_value() && *run.status == *options_.status_filter);
  auto it = runs_.find(run.id);
  if (it == runs_.end()) {
    if (!matches) return false;
    it = runs_.emplace(run.id, RunState{}).first;
  } else if (!matches && !it->second.matched) {
    return false;  // was out of the filter already; the client heard of it
  }
  RunState& state = it->second;
  if (run.version <= state.version) return false;
  if (state.pending == nullptr) {
    state.pending = std::make_unique<Update>();
    state.pending_jobs.clear();
    order_.push_back(run.id);
  }
  state.pending->run = run;
  if (options_.with_jobs) MergeJobs(state, snapshot, *state.pending);
  state.version = run.version;
  state.matched = matches;
  return true;
}

void Coalescer::MergeJobs(RunState& state, const Snapshot& snapshot, Update& update) const {
  const int64_t version = snapshot.run.version;
  if (!state.job_cursor.has_value()) {
    // A fresh watch: the first snapshot is the baseline, with no updates.
    state.job_cursor = version;
    return;
  }
  const int64_t cursor = *state.job_cursor;
  state.job_cursor = version;
  if (snapshot.jobs == nullptr || snapshot.jobs_after_version > cursor) {
    update.jobs_truncated = true;  // transitions after `cursor` were not read
    return;
  }
  if (snapshot.jobs_complete_through < version) update.jobs_truncated = true;
  for (const JobUpdate& job : *snapshot.jobs) {
    if (job.run_version <= cursor) continue;
    if (job.run_version > version) break;  // belongs to a later message
    auto same = std::lower_bound(
        state.pending_jobs.begin(), state.pending_jobs.end(), job.job_id,
        [](const std::pair<int64_t, uint32_t>& held, int64_t id) { return held.first < id; });
    if (same != state.pending_jobs.end() && same->first == job.job_id) {
      update.jobs[same->second] = job;
    } else if (update.jobs.size() < options_.max_job_updates) {
      state.pending_jobs.insert(same, {job.job_id, static_cast<uint32_t>(update.jobs.size())});
      update.jobs.push_back(job);
    } else {
      update.jobs_truncated = true;
    }
  }
}

std::optional<Update> Coalescer::Take(absl::Time now) {
  for (auto it = order_.begin(); it != order_.end(); ++it) {
    auto state = runs_.find(*it);
    if (state == runs_.end() || state->second.pending == nullptr) continue;
    if (state->second.next_send > now) continue;
    Update update = std::move(*state->second.pending);
    state->second.pending.reset();
    state->second.pending_jobs = {};  // its memory goes with the message
    order_.erase(it);
    state->second.next_send = now + interval_;
    // A multi-run watch forgets runs it will not hear of again (finished, or
    // out of its filter), so its memory follows the live runs only.
    if (!options_.with_jobs && (IsTerminalRun(update.run) || !state->second.matched)) {
      runs_.erase(state);
    }
    return update;
  }
  return std::nullopt;
}

std::optional<absl::Time> Coalescer::NextReadyTime() const {
  std::optional<absl::Time> next;
  for (int64_t run_id : order_) {
    auto state = runs_.find(run_id);
    if (state == runs_.end() || state->second.pending == nullptr) continue;
    if (!next || state->second.next_send < *next) next = state->second.next_send;
  }
  return next;
}

std::optional<int64_t> Coalescer::JobCursor(int64_t run_id) const {
  auto state = runs_.find(run_id);
  if (state == runs_.end()) return std::nullopt;
  return state->second.job_cursor;
}

size_t Coalescer::PendingSnapshots() const { return order_.size(); }

}  // namespace campaign::progress
