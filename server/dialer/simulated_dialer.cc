#include "server/dialer/simulated_dialer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/util/logging.h"

namespace campaign::dialer {
namespace {

constexpr absl::string_view kSidPrefix = "SIM";

// SplitMix64: a small, well-mixed, stable hash (absl::Hash is seeded per
// process, so it cannot make outcomes reproducible).
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

char OutcomeCode(JobStatus status) {
  switch (status) {
    case JobStatus::kCompleted:
      return 'C';
    case JobStatus::kNoAnswer:
      return 'N';
    case JobStatus::kBusy:
      return 'B';
    default:
      return 'F';
  }
}

CallOutcome OutcomeFromCode(char code) {
  switch (code) {
    case 'C':
      return {JobStatus::kCompleted, ""};
    case 'N':
      return {JobStatus::kNoAnswer, "no answer"};
    case 'B':
      return {JobStatus::kBusy, "line busy"};
    default:
      return {JobStatus::kFailed, "simulated call failure"};
  }
}

// "SIM<end ms, hex>-<outcome code>-<token>".
std::string EncodeSid(absl::Time ends, const CallOutcome& outcome, absl::string_view token) {
  return absl::StrCat(kSidPrefix, absl::Hex(absl::ToUnixMillis(ends)), "-",
                      std::string(1, OutcomeCode(outcome.status)), "-", token);
}

std::optional<std::pair<absl::Time, CallOutcome>> DecodeSid(absl::string_view sid) {
  if (!absl::ConsumePrefix(&sid, kSidPrefix)) return std::nullopt;
  std::vector<absl::string_view> parts = absl::StrSplit(sid, absl::MaxSplits('-', 2));
  if (parts.size() != 3 || parts[1].size() != 1) return std::nullopt;
  int64_t end_ms = 0;
  if (!absl::SimpleHexAtoi(parts[0], &end_ms)) return std::nullopt;
  return std::make_pair(absl::FromUnixMillis(end_ms), OutcomeFromCode(parts[1][0]));
}

}  // namespace

absl::Status ParseOutcomeMix(absl::string_view mix, SimulatedDialerOptions* options) {
  int completed = 0, no_answer = 0, busy = 0;
  for (absl::string_view item : absl::StrSplit(mix, ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(item, '=');
    int value = 0;
    if (!absl::SimpleAtoi(kv.second, &value) || value < 0 || value > 100) {
      return absl::InvalidArgumentError(
          absl::StrCat("--sim-outcomes: \"", item, "\" needs a percentage 0..100"));
    }
    if (kv.first == "completed") {
      completed = value;
    } else if (kv.first == "no_answer") {
      no_answer = value;
    } else if (kv.first == "busy") {
      busy = value;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--sim-outcomes: unknown outcome \"", kv.first,
                       "\" (completed, no_answer, busy; failed takes the rest)"));
    }
  }
  if (completed + no_answer + busy > 100) {
    return absl::InvalidArgumentError("--sim-outcomes: the percentages add up to more than 100");
  }
  options->completed_percent = completed;
  options->no_answer_percent = no_answer;
  options->busy_percent = busy;
  return absl::OkStatus();
}

SimulatedDialer::SimulatedDialer(SimulatedDialerOptions options) : options_(std::move(options)) {
  if (!options_.dial_log_path.empty()) {
    dial_log_fd_ =
        open(options_.dial_log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (dial_log_fd_ < 0) {
      spdlog::error("cannot open --sim-dial-log {}: {}", options_.dial_log_path,
                    std::strerror(errno));
    }
  }
  timer_ = std::thread([this] { DeliverEvents(); });
}

SimulatedDialer::~SimulatedDialer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  timer_.join();
  if (dial_log_fd_ >= 0) close(dial_log_fd_);
}

std::optional<CallOutcome> SimulatedDialer::PlannedOutcome(int64_t run_id, int64_t lead_id,
                                                           absl::string_view phone) const {
  if (absl::EndsWith(phone, "0001")) return CallOutcome{JobStatus::kBusy, "line busy"};
  if (absl::EndsWith(phone, "0002")) return CallOutcome{JobStatus::kNoAnswer, "no answer"};
  if (absl::EndsWith(phone, "0003")) {
    return CallOutcome{JobStatus::kFailed, "simulated call failure"};
  }
  if (absl::EndsWith(phone, "0004")) return std::nullopt;
  const uint64_t draw = Mix(options_.seed ^ Mix(static_cast<uint64_t>(run_id) ^
                                                Mix(static_cast<uint64_t>(lead_id)))) %
                        100;
  if (draw < static_cast<uint64_t>(options_.completed_percent)) return OutcomeFromCode('C');
  if (draw < static_cast<uint64_t>(options_.completed_percent + options_.no_answer_percent)) {
    return OutcomeFromCode('N');
  }
  if (draw < static_cast<uint64_t>(options_.completed_percent + options_.no_answer_percent +
                                   options_.busy_percent)) {
    return OutcomeFromCode('B');
  }
  return OutcomeFromCode('F');
}

void SimulatedDialer::Dial(const DialRequest& request) {
  const absl::Time now = absl::Now();
  const absl::Time answered = now + options_.dial_latency;
  std::optional<CallOutcome> outcome =
      PlannedOutcome(request.run_id, request.lead_id, request.phone);
  if (!outcome) {
    AppendDialLog(request, "", /*rejected=*/true);
    absl::MutexLock lock(&mu_);
    ++total_dials_;
    Schedule(Deadline{answered, 0, DialEvent::Kind::kRejected, "", request});
    return;
  }
  const absl::Time ends = answered + options_.call_duration;
  std::string sid = EncodeSid(ends, *outcome, request.token);
  AppendDialLog(request, sid, /*rejected=*/false);
  absl::MutexLock lock(&mu_);
  ++total_dials_;
  int& active = active_[request.run_id];
  ++active;
  int& most = max_active_[request.run_id];
  most = std::max(most, active);
  sid_by_token_[request.token] = sid;
  live_[sid] = LiveCall{request, *outcome};
  Schedule(Deadline{answered, 0, DialEvent::Kind::kAccepted, sid, {}});
  Schedule(Deadline{ends, 0, DialEvent::Kind::kEnded, sid, {}});
}

void SimulatedDialer::Schedule(Deadline deadline) {
  deadline.seq = next_seq_++;
  deadlines_.push(std::move(deadline));
}

absl::StatusOr<std::optional<CallState>> SimulatedDialer::LookupByToken(absl::string_view token) {
  std::string sid;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = sid_by_token_.find(std::string(token)); it != sid_by_token_.end()) {
      sid = it->second;
    }
  }
  if (sid.empty() && dial_log_fd_ >= 0) {
    // Another process may have placed it: the shared dial log is the
    // simulated provider's record of every call.
    std::ifstream log(options_.dial_log_path);
    const std::string needle = absl::StrCat(" token=", token, " ");
    for (std::string line; std::getline(log, line);) {
      const size_t at = line.find(needle);
      if (at == std::string::npos) continue;
      const size_t sid_at = line.find(" sid=", at);
      if (sid_at == std::string::npos) return std::optional<CallState>();  // rejected dial
      sid = line.substr(sid_at + 5);
      break;
    }
  }
  if (sid.empty()) return std::optional<CallState>();
  return LookupByCallId(sid);
}

absl::StatusOr<std::optional<CallState>> SimulatedDialer::LookupByCallId(
    absl::string_view call_sid) {
  std::optional<std::pair<absl::Time, CallOutcome>> decoded = DecodeSid(call_sid);
  if (!decoded) return std::optional<CallState>();
  CallState state{std::string(call_sid), std::nullopt};
  if (absl::Now() >= decoded->first) state.outcome = decoded->second;
  return std::optional<CallState>(std::move(state));
}

absl::Status SimulatedDialer::HangUp(absl::string_view call_sid) {
  std::optional<LiveCall> call;
  DialEventCallback callback;
  {
    absl::MutexLock lock(&mu_);
    call = TakeCall(std::string(call_sid));
    callback = callback_;
  }
  if (!call) return absl::NotFoundError(absl::StrCat("no call ", call_sid, " in progress"));
  if (callback) {
    callback(DialEvent{DialEvent::Kind::kEnded, std::move(call->request), std::string(call_sid),
                       CallOutcome{JobStatus::kFailed, "hung up"}});
  }
  return absl::OkStatus();
}

void SimulatedDialer::SetEventCallback(DialEventCallback callback) {
  absl::MutexLock lock(&mu_);
  callback_ = std::move(callback);
}

std::optional<SimulatedDialer::LiveCall> SimulatedDialer::TakeCall(const std::string& call_sid) {
  auto it = live_.find(call_sid);
  if (it == live_.end()) return std::nullopt;
  LiveCall call = std::move(it->second);
  live_.erase(it);
  --active_[call.request.run_id];
  return call;
}

void SimulatedDialer::DeliverEvents() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    if (stopping_) return;
    if (deadlines_.empty()) {
      mu_.Await(absl::Condition(
          +[](SimulatedDialer* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->deadlines_.empty();
          },
          this));
      continue;
    }
    const absl::Time next = deadlines_.top().at;
    if (absl::Now() < next) {
      // Wakes early when a new, earlier event or a stop arrives.
      std::pair<SimulatedDialer*, size_t> seen{this, deadlines_.size()};
      mu_.AwaitWithDeadline(
          absl::Condition(
              +[](std::pair<SimulatedDialer*, size_t>* arg) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                return arg->first->stopping_ || arg->first->deadlines_.size() != arg->second;
              },
              &seen),
          next);
      continue;
    }
    Deadline due = deadlines_.top();
    deadlines_.pop();
    DialEvent event;
    event.kind = due.kind;
    switch (due.kind) {
      case DialEvent::Kind::kRejected:
        event.request = std::move(due.rejected);
        event.outcome = CallOutcome{
            JobStatus::kFailed,
            absl::StrCat("simulated provider rejected the number ", event.request.phone)};
        break;
      case DialEvent::Kind::kAccepted: {
        auto it = live_.find(due.call_sid);
        if (it == live_.end()) continue;  // hung up before it was accepted
        event.request = it->second.request;
        event.call_sid = due.call_sid;
        break;
      }
      case DialEvent::Kind::kEnded: {
        std::optional<LiveCall> call = TakeCall(due.call_sid);
        if (!call) continue;  // hung up earlier
        event.request = std::move(call->request);
        event.call_sid = due.call_sid;
        event.outcome = std::move(call->outcome);
        break;
      }
    }
    DialEventCallback callback = callback_;
    mu_.Unlock();
    if (callback) callback(event);
    mu_.Lock();
  }
}

void SimulatedDialer::AppendDialLog(const DialRequest& request, absl::string_view call_sid,
                                    bool rejected) {
  if (dial_log_fd_ < 0) return;
  std::string line =
      absl::StrCat(absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone()),
                   " run=", request.run_id, " job=", request.job_id, " lead=", request.lead_id,
                   " phone=", request.phone, " worker=", request.worker, " token=", request.token,
                   " ", rejected ? "rejected" : absl::StrCat("sid=", call_sid), "\n");
  // One write() of a short line with O_APPEND: lines of concurrent writers
  // (several processes in tests) never interleave.
  if (write(dial_log_fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    spdlog::error("short write to the dial log {}", options_.dial_log_path);
  }
}

int SimulatedDialer::MaxConcurrentCalls(int64_t run_id) const {
  absl::MutexLock lock(&mu_);
  auto it = max_active_.find(run_id);
  return it == max_active_.end() ? 0 : it->second;
}

int SimulatedDialer::ActiveCalls(int64_t run_id) const {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(run_id);
  return it == active_.end() ? 0 : it->second;
}

int64_t SimulatedDialer::TotalDials() const {
  absl::MutexLock lock(&mu_);
  return total_dials_;
}

}  // namespace campaign::dialer
