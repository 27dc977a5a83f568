#include "server/twilio/twilio_dialer.h"

#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/util/logging.h"

namespace campaign::twilio {
namespace {

// The job outcome of a final status, in the dialer's terms.
dialer::CallOutcome ToCallOutcome(const FinalOutcome& outcome) {
  return dialer::CallOutcome{outcome.status, outcome.error};
}

// The first final event of `events` (oldest first), if any.
const RecordedCallEvent* FirstFinal(const std::vector<RecordedCallEvent>& events) {
  for (const RecordedCallEvent& event : events) {
    if (IsFinal(event.callback.call_status)) return &event;
  }
  return nullptr;
}

// The most advanced status among `events`.
std::optional<CallStatus> MostAdvanced(const std::vector<RecordedCallEvent>& events) {
  std::optional<CallStatus> best;
  for (const RecordedCallEvent& event : events) {
    if (!best || IsProgress(*best, event.callback.call_status)) best = event.callback.call_status;
  }
  return best;
}

// Twilio's MachineDetection value of a detection mode; empty for off.
std::string MachineDetectionParam(MachineDetection detection) {
  switch (detection) {
    case MachineDetection::kOff:
      return "";
    case MachineDetection::kEnable:
      return "Enable";
    case MachineDetection::kDetectMessageEnd:
      return "DetectMessageEnd";
  }
  return "";
}

// Why Twilio refused a request, as a job's error.
std::string RefusalText(const RestResult& result) {
  if (result.twilio_code != 0)
    return absl::StrCat("twilio ", result.twilio_code, ": ", result.message);
  if (result.http_status != 0) {
    return absl::StrCat("twilio HTTP ", result.http_status, ": ", result.message);
  }
  return absl::StrCat("twilio: ", result.message);
}

}  // namespace

TwilioDialer::TwilioDialer(std::unique_ptr<RestClient> client, CallEventInbox* inbox,
                           TwilioDialerOptions options)
    : options_(std::move(options)), client_(std::move(client)), inbox_(inbox) {
  poller_ = std::thread([this] { PollLoop(); });
}

TwilioDialer::~TwilioDialer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  poller_.join();
  // Ends pending requests (their callbacks run now, and report nothing).
  client_.reset();
}

void TwilioDialer::SetEventCallback(dialer::DialEventCallback callback) {
  absl::MutexLock lock(&emit_mu_);
  callback_ = std::move(callback);
}

int TwilioDialer::InFlight() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(live_.size());
}

int TwilioDialer::UnknownOutcomes() const {
  absl::MutexLock lock(&mu_);
  int unknown = 0;
  for (const auto& [token, live] : live_) unknown += live.state == Live::State::kUnknownOutcome;
  return unknown;
}

absl::Duration TwilioDialer::RingTimeout(const dialer::DialRequest& request) const {
  return request.settings.ring_timeout_seconds > 0
             ? absl::Seconds(request.settings.ring_timeout_seconds)
             : options_.ring_timeout;
}

absl::Duration TwilioDialer::UnknownOutcomeWait(const dialer::DialRequest& request) const {
  return options_.unknown_outcome_wait > absl::ZeroDuration() ? options_.unknown_outcome_wait
                                                              : 2 * RingTimeout(request);
}

void TwilioDialer::Emit(const dialer::DialEvent& event) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
  }
  if (callback_) callback_(event);
}

void TwilioDialer::Dial(const dialer::DialRequest& request) {
  {
    absl::MutexLock lock(&mu_);
    Live& live = live_[request.token];
    live.request = request;
    live.dialed_at = absl::Now();
  }
  // The run's settings, else the flags'.
  CreateCallParams params;
  params.to = request.phone;
  params.from = request.settings.caller_id.empty() ? options_.from : request.settings.caller_id;
  params.url = request.settings.twiml_url.empty() ? options_.twiml_url : request.settings.twiml_url;
  params.status_callback = StatusCallbackUrl(options_.public_url, request.business_id,
                                             request.run_id, request.job_id, request.token);
  params.timeout = RingTimeout(request);
  params.machine_detection = MachineDetectionParam(request.settings.machine_detection);
  client_->CreateCall(
      params, [this, token = request.token](RestResult result) { OnCreated(token, result); });
}

void TwilioDialer::OnCreated(const std::string& token, const RestResult& result) {
  switch (result.kind) {
    case RestResult::Kind::kOk:
      Accept(token, result.call->sid);
      return;
    case RestResult::Kind::kFailed:
      Reject(token, RefusalText(result));
      return;
    case RestResult::Kind::kCancelled:
      if (result.attempts == 0) {
        Reject(token, "twilio: the dialer stopped before the request was sent");
        return;
      }
      [[fallthrough]];
    case RestResult::Kind::kUnknownOutcome: {
      absl::MutexLock lock(&mu_);
      auto it = live_.find(token);
      if (it == live_.end()) return;
      it->second.state = Live::State::kUnknownOutcome;
      it->second.unknown_since = absl::Now();
      spdlog::warn(
          "run {} job {}: the outcome of the create-call request is unknown ({}); not retried, "
          "waiting up to {} for a status callback of token {}",
          it->second.request.run_id, it->second.request.job_id, result.message,
          absl::FormatDuration(UnknownOutcomeWait(it->second.request)), token);
      return;
    }
  }
}

void TwilioDialer::Accept(const std::string& token, const std::string& call_sid) {
  absl::MutexLock emit_lock(&emit_mu_);
  dialer::DialEvent event;
  {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(token);
    if (it == live_.end() || it->second.state == Live::State::kInCall) return;
    it->second.state = Live::State::kInCall;
    it->second.call_sid = call_sid;
    it->second.accepted_at = absl::Now();
    token_by_sid_[call_sid] = token;
    event.kind = dialer::DialEvent::Kind::kAccepted;
    event.request = it->second.request;
    event.call_sid = call_sid;
  }
  Emit(event);
}

void TwilioDialer::End(const std::string& call_sid, const dialer::CallOutcome& outcome) {
  absl::MutexLock emit_lock(&emit_mu_);
  dialer::DialEvent event;
  {
    absl::MutexLock lock(&mu_);
    auto sid = token_by_sid_.find(call_sid);
    if (sid == token_by_sid_.end()) return;
    auto it = live_.find(sid->second);
    token_by_sid_.erase(sid);
    if (it == live_.end()) return;
    event.kind = dialer::DialEvent::Kind::kEnded;
    event.request = std::move(it->second.request);
    event.call_sid = call_sid;
    event.outcome = outcome;
    live_.erase(it);
  }
  Emit(event);
}

void TwilioDialer::Reject(const std::string& token, const std::string& error) {
  absl::MutexLock emit_lock(&emit_mu_);
  dialer::DialEvent event;
  {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(token);
    if (it == live_.end() || it->second.state == Live::State::kInCall) return;
    event.kind = dialer::DialEvent::Kind::kRejected;
    event.request = std::move(it->second.request);
    event.outcome = dialer::CallOutcome{JobStatus::kFailed, error};
    live_.erase(it);
  }
  Emit(event);
}

void TwilioDialer::OnCallbacksRecorded(absl::Span<const StatusCallback> callbacks) {
  for (const StatusCallback& callback : callbacks) {
    {
      absl::MutexLock lock(&mu_);
      auto it = live_.find(callback.token);
      if (it == live_.end() || it->second.request.job_id != callback.job_id ||
          it->second.request.run_id != callback.run_id) {
        continue;
      }
    }
    // No-op when the create's answer already accepted it.
    Accept(callback.token, callback.call_sid);
    if (std::optional<FinalOutcome> outcome =
            OutcomeOf(callback.call_status, callback.sip_response_code)) {
      End(callback.call_sid, ToCallOutcome(*outcome));
    }
  }
}

void TwilioDialer::PollLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.poll_interval);
      if (stopping_) return;
    }
    Poll();
  }
}

void TwilioDialer::Poll() {
  const absl::Time now = absl::Now();
  std::map<int64_t, std::vector<std::string>> in_call;  // by business
  // Token, since when, and how long to wait for a callback naming it.
  std::vector<std::tuple<std::string, absl::Time, absl::Duration>> unknown;
  std::vector<std::string> overdue;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [token, live] : live_) {
      switch (live.state) {
        case Live::State::kCreating:
          break;
        case Live::State::kUnknownOutcome:
          unknown.emplace_back(token, live.unknown_since, UnknownOutcomeWait(live.request));
          break;
        case Live::State::kInCall:
          in_call[live.request.business_id].push_back(live.call_sid);
          // Overdue after the call's own ring timeout (the run's, else the
          // flag's) plus the longest call.
          if (now - live.accepted_at > RingTimeout(live.request) + options_.max_call_duration &&
              !live.lookup_running && now - live.last_lookup > options_.overdue_lookup_interval) {
            live.lookup_running = true;
            live.last_lookup = now;
            overdue.push_back(live.call_sid);
          }
          break;
      }
    }
  }
  for (const auto& [business_id, sids] : in_call) {
    absl::StatusOr<std::vector<RecordedCallEvent>> finals = inbox_->FinalEvents(business_id, sids);
    if (!finals.ok()) {
      spdlog::warn("twilio dialer: cannot read the call events of business {}: {}", business_id,
                   finals.status().ToString());
      continue;
    }
    for (const RecordedCallEvent& event : *finals) {
      std::optional<FinalOutcome> outcome =
          OutcomeOf(event.callback.call_status, event.callback.sip_response_code);
      if (outcome) End(event.callback.call_sid, ToCallOutcome(*outcome));
    }
  }
  for (const auto& [token, since, wait] : unknown) {
    absl::StatusOr<std::vector<RecordedCallEvent>> events = inbox_->EventsByToken(token);
    if (!events.ok()) {
      spdlog::warn("twilio dialer: cannot read the call events of token {}: {}", token,
                   events.status().ToString());
      continue;
    }
    if (!events->empty()) {
      const std::string call_sid = events->front().callback.call_sid;
      spdlog::info("twilio dialer: token {} resolved by a status callback: call {}", token,
                   call_sid);
      Accept(token, call_sid);
      if (const RecordedCallEvent* final_event = FirstFinal(*events); final_event != nullptr) {
        End(call_sid, ToCallOutcome(*OutcomeOf(final_event->callback.call_status,
                                               final_event->callback.sip_response_code)));
      }
    } else if (now - since > wait) {
      Reject(token, "dial outcome unknown (no callback)");
    }
  }
  for (const std::string& call_sid : overdue) {
    client_->FetchCall(call_sid, [this, call_sid](RestResult result) {
      {
        absl::MutexLock lock(&mu_);
        auto sid = token_by_sid_.find(call_sid);
        if (sid != token_by_sid_.end()) {
          if (auto it = live_.find(sid->second); it != live_.end()) {
            it->second.lookup_running = false;
          }
        }
      }
      if (result.ok() && IsFinal(result.call->status)) {
        End(call_sid, ToCallOutcome(*OutcomeOf(result.call->status)));
      } else if (result.NotFound()) {
        End(call_sid, dialer::CallOutcome{
                          JobStatus::kFailed,
                          absl::StrCat("call lost: twilio has no record of call ", call_sid)});
      } else if (!result.ok()) {
        spdlog::warn("twilio dialer: cannot look up overdue call {}: {}", call_sid, result.message);
      }
    });
  }
}

RestResult TwilioDialer::FetchSync(absl::string_view call_sid) {
  struct Shared {
    absl::Notification done;
    RestResult result;
  };
  auto shared = std::make_shared<Shared>();
  client_->FetchCall(call_sid, [shared](RestResult result) {
    shared->result = std::move(result);
    shared->done.Notify();
  });
  if (!shared->done.WaitForNotificationWithTimeout(options_.lookup_timeout)) {
    RestResult timed_out;
    timed_out.kind = RestResult::Kind::kUnknownOutcome;
    timed_out.message = "lookup timed out";
    return timed_out;
  }
  return shared->result;
}

absl::StatusOr<std::optional<dialer::CallState>> TwilioDialer::LookupByCallId(
    absl::string_view call_sid) {
  absl::StatusOr<std::vector<RecordedCallEvent>> events = inbox_->EventsByCallSid(call_sid);
  if (!events.ok()) return events.status();
  dialer::CallState state;
  state.call_sid = std::string(call_sid);
  if (const RecordedCallEvent* final_event = FirstFinal(*events); final_event != nullptr) {
    state.outcome = ToCallOutcome(
        *OutcomeOf(final_event->callback.call_status, final_event->callback.sip_response_code));
    return state;
  }
  // Callbacks are coming and the call is not overdue: in progress, without
  // asking Twilio.
  const absl::Duration overdue_after = options_.ring_timeout + options_.max_call_duration;
  if (!events->empty() && absl::Now() - events->front().received_at < overdue_after) {
    return state;
  }
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    auto it = fetched_in_progress_.find(call_sid);
    if (it != fetched_in_progress_.end() && now - it->second < options_.in_progress_lookup_ttl) {
      return state;
    }
  }
  RestResult fetched = FetchSync(call_sid);
  if (fetched.ok()) {
    if (std::optional<FinalOutcome> outcome = OutcomeOf(fetched.call->status)) {
      state.outcome = ToCallOutcome(*outcome);
    }
    absl::MutexLock lock(&mu_);
    // Forget stale entries, so the map holds only calls looked up lately.
    absl::erase_if(fetched_in_progress_, [&](const auto& entry) {
      return now - entry.second >= options_.in_progress_lookup_ttl;
    });
    if (!state.outcome) fetched_in_progress_[state.call_sid] = now;
    return state;
  }
  if (fetched.NotFound()) return std::optional<dialer::CallState>();
  if (!events->empty()) return state;
  return absl::UnavailableError(
      absl::StrCat("cannot look up call ", call_sid, " at twilio: ", fetched.message));
}

absl::StatusOr<std::optional<dialer::CallState>> TwilioDialer::LookupByToken(
    absl::string_view token) {
  absl::StatusOr<std::vector<RecordedCallEvent>> events = inbox_->EventsByToken(token);
  if (!events.ok()) return events.status();
  if (!events->empty()) return LookupByCallId(events->front().callback.call_sid);
  absl::MutexLock lock(&mu_);
  auto it = live_.find(token);
  if (it != live_.end() && !it->second.call_sid.empty()) {
    return std::optional<dialer::CallState>(dialer::CallState{it->second.call_sid, std::nullopt});
  }
  return std::optional<dialer::CallState>();
}

absl::Status TwilioDialer::HangUp(absl::string_view call_sid) {
  // Status=canceled ends a queued or ringing call, completed an answered
  // one; while the call is not known to be answered, canceled goes first
  // and completed follows when Twilio says it was in progress after all.
  bool answered = false;
  if (absl::StatusOr<std::vector<RecordedCallEvent>> events = inbox_->EventsByCallSid(call_sid);
      events.ok()) {
    std::optional<CallStatus> status = MostAdvanced(*events);
    if (status && IsFinal(*status)) return absl::OkStatus();
    answered = status == CallStatus::kInProgress;
  }
  const std::string sid(call_sid);
  client_->UpdateCall(
      sid, answered ? "completed" : "canceled", [this, sid, answered](RestResult result) {
        if (!result.ok()) {
          if (!result.NotFound()) {
            spdlog::warn("twilio dialer: cannot hang up call {}: {}", sid, result.message);
          }
          return;
        }
        if (!answered && result.call->status == CallStatus::kInProgress) {
          client_->UpdateCall(sid, "completed", [sid](RestResult again) {
            if (!again.ok() && !again.NotFound()) {
              spdlog::warn("twilio dialer: cannot hang up call {}: {}", sid, again.message);
            }
          });
        }
      });
  return absl::OkStatus();
}

}  // namespace campaign::twilio
