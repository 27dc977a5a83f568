#include "tests/support/fake_twilio.h"

#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/twilio/listen_backlog.h"
#include "server/twilio/signature.h"

namespace campaign::testing {
namespace {

using twilio::FormParams;

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      out += absl::StrFormat("\\u%04x", byte);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string ErrorJson(int code, absl::string_view message, int status) {
  return absl::StrCat("{\"code\": ", code, ", \"message\": ", JsonString(message),
                      ", \"more_info\": \"https://www.twilio.com/docs/errors/", code,
                      "\", \"status\": ", status, "}");
}

// Splits "scheme://host:port/path?query" into ("scheme://host:port", "/path?query").
std::pair<std::string, std::string> SplitUrl(absl::string_view url) {
  const size_t scheme = url.find("://");
  const size_t path = url.find('/', scheme == absl::string_view::npos ? 0 : scheme + 3);
  if (path == absl::string_view::npos) return {std::string(url), "/"};
  return {std::string(url.substr(0, path)), std::string(url.substr(path))};
}

}  // namespace

class FakeTwilio::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)) {
    const int threads = options_.threads;
    server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    // One request per connection: cpp-httplib 0.11 waits for a kept-alive
    // connection's next request by polling every 10 ms and sleeping 1 ms,
    // on the connection's thread — with 500 clients' connections idle
    // between creates, a full core of the 2 the test machine has. The
    // dialer's client reconnects per request (loopback: ~50 us).
    server_.set_keep_alive_max_count(1);
    server_.set_tcp_nodelay(true);
    const std::string calls = R"(/2010-04-01/Accounts/([^/]+)/Calls)";
    server_.Post(calls + R"(\.json)", [this](const httplib::Request& req, httplib::Response& res) {
      OnCreate(req, res);
    });
    server_.Get(calls + R"(/([^/]+)\.json)",
                [this](const httplib::Request& req, httplib::Response& res) { OnFetch(req, res); });
    server_.Post(
        calls + R"(/([^/]+)\.json)",
        [this](const httplib::Request& req, httplib::Response& res) { OnUpdate(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) {
      std::fprintf(stderr, "fake twilio: cannot bind 127.0.0.1\n");
      std::abort();
    }
    twilio::RaiseListenBacklog(port_, 1024);
    listener_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) absl::SleepFor(absl::Milliseconds(1));
    for (int i = 0; i < options_.callback_threads; ++i) {
      senders_.emplace_back([this] { SendLoop(); });
    }
  }

  ~Impl() {
    {
      absl::MutexLock lock(&auto_mu_);
      auto_stopping_ = true;
      auto_cv_.SignalAll();
    }
    for (std::thread& sender : senders_) sender.join();
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    stopped_.Notify();
    server_.stop();
    listener_.join();
  }

  std::string BaseUrl() const { return absl::StrCat("http://127.0.0.1:", port_); }
  const Options& options() const { return options_; }

  void SetDefaultReply(FakeReply reply) {
    absl::MutexLock lock(&mu_);
    default_reply_ = std::move(reply);
  }
  void PushReply(FakeReply reply) {
    absl::MutexLock lock(&mu_);
    scripted_.push_back(std::move(reply));
  }
  void ReleaseHung() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }
  void ResetHung() {
    absl::MutexLock lock(&mu_);
    released_ = false;
  }

  std::vector<FakeCreate> Creates() const {
    absl::MutexLock lock(&mu_);
    return creates_;
  }
  int CreateCount() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(creates_.size());
  }
  int InFlightCreates() const {
    absl::MutexLock lock(&mu_);
    return in_flight_;
  }
  int MaxConcurrentCreates() const {
    absl::MutexLock lock(&mu_);
    return max_in_flight_;
  }

  std::optional<FakeCall> Call(absl::string_view sid) const {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(sid);
    if (it == calls_.end()) return std::nullopt;
    return it->second;
  }
  void SetCallStatus(absl::string_view sid, absl::string_view status) {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(sid);
    if (it != calls_.end()) it->second.status = std::string(status);
  }
  std::vector<std::pair<std::string, std::string>> Updates() const {
    absl::MutexLock lock(&mu_);
    return updates_;
  }

  void SetAutoCallbacks(std::vector<AutoStep> steps) {
    absl::MutexLock lock(&mu_);
    auto_steps_ = std::move(steps);
  }
  int AutoCallbacksDelivered() const {
    absl::MutexLock lock(&auto_mu_);
    return delivered_;
  }
  int AutoCallbacksFailed() const {
    absl::MutexLock lock(&auto_mu_);
    return failed_;
  }
  int AutoCallbacksPending() const {
    absl::MutexLock lock(&auto_mu_);
    return static_cast<int>(pending_.size()) + sending_;
  }

  void SetCallbackDelivery(std::string public_base, std::string deliver_base) {
    absl::MutexLock lock(&mu_);
    public_base_ = std::move(public_base);
    deliver_base_ = std::move(deliver_base);
  }

  absl::StatusOr<int> SendStatusCallback(absl::string_view url, const FormParams& params,
                                         SignMode mode) const {
    const CallbackRequest request = MakeCallbackRequest(url, params, mode);
    httplib::Client client(request.host);
    return Post(client, request);
  }

  FormParams CallbackParams(absl::string_view call_sid, absl::string_view call_status,
                            const FormParams& extra) const {
    FormParams params = {{"AccountSid", options_.account_sid},
                         {"ApiVersion", "2010-04-01"},
                         {"CallSid", std::string(call_sid)},
                         {"CallStatus", std::string(call_status)},
                         {"Direction", "outbound-api"}};
    if (std::optional<FakeCall> call = Call(call_sid); call.has_value()) {
      params.emplace_back("From", call->from);
      params.emplace_back("To", call->to);
    }
    params.insert(params.end(), extra.begin(), extra.end());
    return params;
  }

  absl::StatusOr<int> SendCallStatus(absl::string_view call_sid, absl::string_view call_status,
                                     const FormParams& extra, SignMode mode) {
    std::optional<FakeCall> call = Call(call_sid);
    if (!call.has_value()) {
      return absl::NotFoundError(absl::StrCat("fake twilio: no call ", call_sid));
    }
    SetCallStatus(call_sid, call_status);
    return SendStatusCallback(call->status_callback, CallbackParams(call_sid, call_status, extra),
                              mode);
  }

 private:
  // A status callback ready to send: where to, and the signed form.
  struct CallbackRequest {
    std::string host;
    std::string path;
    std::string target;
    httplib::Headers headers;
    std::string body;
  };

  CallbackRequest MakeCallbackRequest(absl::string_view url, const FormParams& params,
                                      SignMode mode) const {
    std::string target(url);
    {
      absl::MutexLock lock(&mu_);
      if (!public_base_.empty() && absl::StartsWith(url, public_base_)) {
        target = absl::StrCat(deliver_base_, url.substr(public_base_.size()));
      }
    }
    CallbackRequest request;
    switch (mode) {
      case SignMode::kSigned:
        request.headers.emplace(std::string(twilio::kSignatureHeader),
                                twilio::ComputeSignature(options_.auth_token, url, params));
        break;
      case SignMode::kUnsigned:
        break;
      case SignMode::kWrongSignature:
        request.headers.emplace(std::string(twilio::kSignatureHeader),
                                twilio::ComputeSignature("not-the-auth-token", url, params));
        break;
      case SignMode::kSignedForOtherUrl:
        request.headers.emplace(
            std::string(twilio::kSignatureHeader),
            twilio::ComputeSignature(options_.auth_token, absl::StrCat(url, "&x=other"), params));
        break;
    }
    std::tie(request.host, request.path) = SplitUrl(target);
    request.target = std::move(target);
    request.body = twilio::FormEncode(params);
    return request;
  }

  static absl::StatusOr<int> Post(httplib::Client& client, const CallbackRequest& request) {
    client.set_url_encode(false);
    client.set_connection_timeout(std::chrono::seconds(10));
    client.set_read_timeout(std::chrono::seconds(30));
    httplib::Result result = client.Post(request.path, request.headers, request.body,
                                         "application/x-www-form-urlencoded");
    if (!result) {
      return absl::UnavailableError(
          absl::StrCat("fake twilio: callback to ", request.target,
                       " got no answer: ", httplib::to_string(result.error())));
    }
    return result->status;
  }

  // One automatic callback due.
  struct AutoCallback {
    std::string sid;
    std::string status;
    int sequence = 0;
    absl::Duration after;
    int attempts = 0;
  };

  // Queues the script of a call just created.
  void ScheduleAutoCallbacks(const std::string& sid, const std::vector<AutoStep>& steps) {
    if (steps.empty()) return;
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&auto_mu_);
    for (size_t i = 0; i < steps.size(); ++i) {
      pending_.emplace(now + steps[i].after, AutoCallback{sid, steps[i].status,
                                                          static_cast<int>(i), steps[i].after});
      auto_cv_.Signal();
    }
  }

  // A sender thread: sends the callbacks that are due, keeping one
  // keep-alive connection per listener.
  void SendLoop() {
    std::map<std::string, std::unique_ptr<httplib::Client>> clients;
    auto_mu_.Lock();
    while (!auto_stopping_) {
      if (pending_.empty()) {
        auto_cv_.WaitWithTimeout(&auto_mu_, absl::Milliseconds(50));
        continue;
      }
      auto next = pending_.begin();
      if (next->first > absl::Now()) {
        auto_cv_.WaitWithDeadline(&auto_mu_, next->first);
        continue;
      }
      AutoCallback callback = std::move(next->second);
      pending_.erase(next);
      ++sending_;
      auto_mu_.Unlock();
      bool delivered = false;
      if (const std::optional<FakeCall> call = Call(callback.sid); call.has_value()) {
        SetCallStatus(callback.sid, callback.status);
        FormParams extra = {{"SequenceNumber", absl::StrCat(callback.sequence)}};
        if (callback.status == "completed") {
          extra.emplace_back("CallDuration",
                             absl::StrCat(absl::ToInt64Seconds(callback.after)));
        }
        const CallbackRequest request = MakeCallbackRequest(
            call->status_callback, CallbackParams(callback.sid, callback.status, extra),
            SignMode::kSigned);
        std::unique_ptr<httplib::Client>& client = clients[request.host];
        if (client == nullptr) {
          client = std::make_unique<httplib::Client>(request.host);
          client->set_keep_alive(true);
          // Headers and body in one flight, as a real client's would be
          // (Nagle's algorithm would hold the body for the delayed ACK).
          client->set_tcp_nodelay(true);
        }
        absl::StatusOr<int> answer = Post(*client, request);
        delivered = answer.ok() && *answer / 100 == 2;
        if (!answer.ok()) client.reset();
      }
      auto_mu_.Lock();
      --sending_;
      if (delivered) {
        ++delivered_;
      } else if (++callback.attempts >= 5) {
        ++failed_;
      } else {
        pending_.emplace(absl::Now() + absl::Milliseconds(200), std::move(callback));
      }
    }
    auto_mu_.Unlock();
  }

  // The basic-auth user, and whether user and password are accepted.
  std::pair<std::string, bool> Authenticate(const httplib::Request& req) const {
    const std::string header = req.get_header_value("Authorization");
    if (!absl::StartsWith(header, "Basic ")) return {"", false};
    std::string decoded;
    if (!absl::Base64Unescape(absl::string_view(header).substr(6), &decoded)) return {"", false};
    const size_t colon = decoded.find(':');
    if (colon == std::string::npos) return {"", false};
    const std::string user = decoded.substr(0, colon);
    const std::string password = decoded.substr(colon + 1);
    const bool ok = (user == options_.account_sid && password == options_.auth_token) ||
                    (user == options_.api_key_sid && password == options_.api_key_secret);
    return {user, ok};
  }

  // Refuses with Twilio's answer unless authorized for the path's account.
  bool Refused(const httplib::Request& req, httplib::Response& res, bool authorized) {
    if (!authorized) {
      res.status = 401;
      res.set_content(ErrorJson(20003, "Authenticate", 401), "application/json");
      return true;
    }
    if (req.matches[1] != options_.account_sid) {
      res.status = 404;
      res.set_content(ErrorJson(20404, "The requested resource was not found", 404),
                      "application/json");
      return true;
    }
    return false;
  }

  std::string CallJson(const FakeCall& call) const {
    return absl::StrCat(
        "{\"sid\": ", JsonString(call.sid), ", \"account_sid\": ", JsonString(options_.account_sid),
        ", \"to\": ", JsonString(call.to), ", \"from\": ", JsonString(call.from),
        ", \"status\": ", JsonString(call.status),
        ", \"duration\": ", call.status == "completed" ? "\"17\"" : "null",
        ", \"answered_by\": null, \"price\": null, \"subresource_uris\": {\"notifications\": "
        "\"/2010-04-01/Accounts/x/Calls/y/Notifications.json\"}, \"queue_time\": \"0\"}");
  }

  void OnCreate(const httplib::Request& req, httplib::Response& res) {
    const auto [user, authorized] = Authenticate(req);
    absl::StatusOr<FormParams> form = twilio::FormDecode(req.body);
    size_t index = 0;
    FakeReply reply;
    {
      absl::MutexLock lock(&mu_);
      index = creates_.size();
      creates_.push_back(
          FakeCreate{absl::Now(), user, authorized, form.ok() ? *form : FormParams(), 0, ""});
      if (!scripted_.empty()) {
        reply = scripted_.front();
        scripted_.pop_front();
      } else {
        reply = default_reply_;
      }
      in_flight_ += 1;
      max_in_flight_ = std::max(max_in_flight_, in_flight_);
    }
    std::string sid;
    if (Refused(req, res, authorized)) {
    } else if (!form.ok()) {
      res.status = 400;
      res.set_content(ErrorJson(20001, std::string(form.status().message()), 400),
                      "application/json");
    } else {
      switch (reply.mode) {
        case FakeReply::Mode::kTooManyRequests:
          res.status = 429;
          res.set_content(ErrorJson(20429, "Too Many Requests", 429), "application/json");
          break;
        case FakeReply::Mode::kServerError:
          res.status = 500;
          res.set_content(ErrorJson(20500, "Internal Server Error", 500), "application/json");
          break;
        case FakeReply::Mode::kBadRequest:
          res.status = 400;
          res.set_content(ErrorJson(reply.code, reply.message, 400), "application/json");
          break;
        case FakeReply::Mode::kHang: {
          absl::MutexLock lock(&mu_);
          mu_.Await(absl::Condition(
              +[](Impl* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
                return self->released_ || self->stopping_;
              },
              this));
          break;
        }
        case FakeReply::Mode::kSlow:
          // Not on mu_: hundreds of slow creates wait at once.
          stopped_.WaitForNotificationWithTimeout(reply.delay);
          break;
        case FakeReply::Mode::kOk:
          break;
      }
      if (res.status == -1 || res.status == 200) {
        FakeCall call;
        call.sid = NewSid();
        call.status = "queued";
        call.to = twilio::FindParam(*form, "To").value_or("");
        call.from = twilio::FindParam(*form, "From").value_or("");
        call.status_callback = twilio::FindParam(*form, "StatusCallback").value_or("");
        sid = call.sid;
        res.status = 201;
        res.set_content(CallJson(call), "application/json");
        std::vector<AutoStep> steps;
        {
          absl::MutexLock lock(&mu_);
          calls_.emplace(sid, std::move(call));
          steps = auto_steps_;
        }
        ScheduleAutoCallbacks(sid, steps);
      }
    }
    absl::MutexLock lock(&mu_);
    in_flight_ -= 1;
    creates_[index].http_status = res.status;
    creates_[index].call_sid = sid;
  }

  void OnFetch(const httplib::Request& req, httplib::Response& res) {
    if (Refused(req, res, Authenticate(req).second)) return;
    std::optional<FakeCall> call = Call(req.matches[2].str());
    if (!call.has_value()) {
      res.status = 404;
      res.set_content(ErrorJson(20404, "The requested resource was not found", 404),
                      "application/json");
      return;
    }
    res.set_content(CallJson(*call), "application/json");
  }

  void OnUpdate(const httplib::Request& req, httplib::Response& res) {
    if (Refused(req, res, Authenticate(req).second)) return;
    const std::string sid = req.matches[2].str();
    absl::StatusOr<FormParams> form = twilio::FormDecode(req.body);
    const std::string status =
        form.ok() ? twilio::FindParam(*form, "Status").value_or("") : std::string();
    {
      absl::MutexLock lock(&mu_);
      updates_.emplace_back(sid, status);
    }
    if (status != "completed" && status != "canceled") {
      res.status = 400;
      res.set_content(ErrorJson(20001, "Status must be completed or canceled", 400),
                      "application/json");
      return;
    }
    std::optional<FakeCall> call = Call(sid);
    if (!call.has_value()) {
      res.status = 404;
      res.set_content(ErrorJson(20404, "The requested resource was not found", 404),
                      "application/json");
      return;
    }
    SetCallStatus(sid, status);
    call->status = status;
    res.set_content(CallJson(*call), "application/json");
  }

  std::string NewSid() {
    absl::MutexLock lock(&mu_);
    std::string sid = "CA";
    for (int i = 0; i < 32; ++i) {
      sid.push_back("0123456789abcdef"[absl::Uniform(rng_, 0, 16)]);
    }
    return sid;
  }

  const Options options_;
  httplib::Server server_;
  int port_ = 0;
  std::thread listener_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  FakeReply default_reply_ ABSL_GUARDED_BY(mu_);
  std::deque<FakeReply> scripted_ ABSL_GUARDED_BY(mu_);
  std::vector<FakeCreate> creates_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int max_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, FakeCall> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<AutoStep> auto_steps_ ABSL_GUARDED_BY(mu_);
  // Set when the fake stops (ends slow creates early).
  absl::Notification stopped_;

  // The automatic callbacks (SetAutoCallbacks), by due time.
  mutable absl::Mutex auto_mu_ ABSL_ACQUIRED_AFTER(mu_);
  absl::CondVar auto_cv_;
  std::multimap<absl::Time, AutoCallback> pending_ ABSL_GUARDED_BY(auto_mu_);
  int sending_ ABSL_GUARDED_BY(auto_mu_) = 0;
  int delivered_ ABSL_GUARDED_BY(auto_mu_) = 0;
  int failed_ ABSL_GUARDED_BY(auto_mu_) = 0;
  bool auto_stopping_ ABSL_GUARDED_BY(auto_mu_) = false;

  std::vector<std::thread> senders_;
  std::vector<std::pair<std::string, std::string>> updates_ ABSL_GUARDED_BY(mu_);
  std::string public_base_ ABSL_GUARDED_BY(mu_);
  std::string deliver_base_ ABSL_GUARDED_BY(mu_);
  absl::BitGen rng_ ABSL_GUARDED_BY(mu_);
};

FakeTwilio::FakeTwilio() : FakeTwilio(Options()) {}
FakeTwilio::FakeTwilio(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
FakeTwilio::~FakeTwilio() = default;

std::string FakeTwilio::BaseUrl() const { return impl_->BaseUrl(); }
const FakeTwilio::Options& FakeTwilio::options() const { return impl_->options(); }
void FakeTwilio::SetDefaultReply(FakeReply reply) { impl_->SetDefaultReply(std::move(reply)); }
void FakeTwilio::PushReply(FakeReply reply) { impl_->PushReply(std::move(reply)); }
void FakeTwilio::ReleaseHung() { impl_->ReleaseHung(); }
void FakeTwilio::ResetHung() { impl_->ResetHung(); }
std::vector<FakeCreate> FakeTwilio::Creates() const { return impl_->Creates(); }
int FakeTwilio::CreateCount() const { return impl_->CreateCount(); }
int FakeTwilio::InFlightCreates() const { return impl_->InFlightCreates(); }
int FakeTwilio::MaxConcurrentCreates() const { return impl_->MaxConcurrentCreates(); }
std::optional<FakeCall> FakeTwilio::Call(absl::string_view sid) const { return impl_->Call(sid); }
void FakeTwilio::SetCallStatus(absl::string_view sid, absl::string_view status) {
  impl_->SetCallStatus(sid, status);
}
std::vector<std::pair<std::string, std::string>> FakeTwilio::Updates() const {
  return impl_->Updates();
}
void FakeTwilio::SetAutoCallbacks(std::vector<AutoStep> steps) {
  impl_->SetAutoCallbacks(std::move(steps));
}
int FakeTwilio::AutoCallbacksDelivered() const { return impl_->AutoCallbacksDelivered(); }
int FakeTwilio::AutoCallbacksFailed() const { return impl_->AutoCallbacksFailed(); }
int FakeTwilio::AutoCallbacksPending() const { return impl_->AutoCallbacksPending(); }
void FakeTwilio::SetCallbackDelivery(std::string public_base, std::string deliver_base) {
  impl_->SetCallbackDelivery(std::move(public_base), std::move(deliver_base));
}
absl::StatusOr<int> FakeTwilio::SendStatusCallback(absl::string_view url,
                                                   const twilio::FormParams& params,
                                                   SignMode mode) const {
  return impl_->SendStatusCallback(url, params, mode);
}
twilio::FormParams FakeTwilio::CallbackParams(absl::string_view call_sid,
                                              absl::string_view call_status,
                                              const twilio::FormParams& extra) const {
  return impl_->CallbackParams(call_sid, call_status, extra);
}
absl::StatusOr<int> FakeTwilio::SendCallStatus(absl::string_view call_sid,
                                               absl::string_view call_status,
                                               const twilio::FormParams& extra, SignMode mode) {
  return impl_->SendCallStatus(call_sid, call_status, extra, mode);
}

}  // namespace campaign::testing
