#include "server/twilio/rest_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "server/util/logging.h"

namespace campaign::twilio {
namespace {

// One request through all its attempts.
struct Request {
  // "create", "fetch" or "update" (logs).
  std::string operation;
  bool post = false;
  std::string url;
  std::string body;
  RestCallback done;
  int attempts = 0;
  // Retries wait until then.
  absl::Time not_before = absl::InfinitePast();
  // Set when the request is refused before any attempt (bad argument).
  std::optional<RestResult> immediate;
  // The current attempt.
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string response;
  char error[CURL_ERROR_SIZE] = {};
};

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<Request*>(user)->response.append(data, size * count);
  return size * count;
}

// True for a SID that can go into a path unescaped.
bool IsPathSafe(absl::string_view sid) {
  if (sid.empty() || sid.size() > 64) return false;
  for (const char c : sid) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

RestResult Result(RestResult::Kind kind, const Request& request, int http_status,
                  std::string message) {
  RestResult result;
  result.kind = kind;
  result.http_status = http_status;
  result.attempts = request.attempts;
  result.message = std::move(message);
  return result;
}

}  // namespace

absl::string_view RestResultKindName(RestResult::Kind kind) {
  switch (kind) {
    case RestResult::Kind::kOk:
      return "ok";
    case RestResult::Kind::kFailed:
      return "failed";
    case RestResult::Kind::kUnknownOutcome:
      return "unknown_outcome";
    case RestResult::Kind::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

FormParams CreateCallForm(const CreateCallParams& params) {
  FormParams form = {
      {"To", params.to},
      {"From", params.from},
      {"Url", params.url},
      {"StatusCallback", params.status_callback},
      {"StatusCallbackMethod", "POST"},
      {"StatusCallbackEvent", "initiated"},
      {"StatusCallbackEvent", "ringing"},
      {"StatusCallbackEvent", "answered"},
      {"StatusCallbackEvent", "completed"},
      {"Timeout", absl::StrCat(absl::ToInt64Seconds(params.timeout))},
  };
  if (!params.machine_detection.empty()) {
    form.emplace_back("MachineDetection", params.machine_detection);
  }
  return form;
}

class RestClient::Impl {
 public:
  Impl(RestClientOptions options, CURLM* multi) : options_(std::move(options)), multi_(multi) {
    absl::string_view base = options_.api_base;
    while (absl::ConsumeSuffix(&base, "/")) {
    }
    calls_url_ = absl::StrCat(base, "/2010-04-01/Accounts/", options_.account_sid, "/Calls");
    user_ = options_.api_key_sid.empty() ? options_.account_sid : options_.api_key_sid;
    if (options_.max_idle_connections > 0) {
      curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, options_.max_idle_connections);
    }
    worker_ = std::thread([this] { Run(); });
  }

  ~Impl() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    curl_multi_wakeup(multi_);
    worker_.join();
    curl_multi_cleanup(multi_);
  }

  void Submit(std::unique_ptr<Request> request) {
    pending_.fetch_add(1);
    {
      absl::MutexLock lock(&mu_);
      incoming_.push_back(std::move(request));
    }
    curl_multi_wakeup(multi_);
  }

  const std::string& calls_url() const { return calls_url_; }
  int Pending() const { return pending_.load(); }

 private:
  void Run() {
    for (;;) {
      std::deque<std::unique_ptr<Request>> incoming;
      bool stopping = false;
      {
        absl::MutexLock lock(&mu_);
        incoming.swap(incoming_);
        stopping = stopping_;
      }
      for (auto& request : incoming) waiting_.push_back(std::move(request));
      if (stopping) break;

      const absl::Time now = absl::Now();
      std::vector<std::unique_ptr<Request>> later;
      for (auto& request : waiting_) {
        if (request->immediate.has_value()) {
          RestResult result = *std::move(request->immediate);
          Deliver(std::move(request), std::move(result));
        } else if (request->not_before <= now) {
          Start(std::move(request));
        } else {
          later.push_back(std::move(request));
        }
      }
      waiting_ = std::move(later);

      int running = 0;
      curl_multi_perform(multi_, &running);
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
        if (message->msg == CURLMSG_DONE) Finish(message->easy_handle, message->data.result);
      }

      // Sleep until a socket is ready, libcurl's own timer, the next retry or
      // a wake-up (new request, shutdown); a second at most.
      absl::Time next_retry = absl::InfiniteFuture();
      for (const auto& request : waiting_) next_retry = std::min(next_retry, request->not_before);
      int timeout_ms = 1000;
      if (next_retry != absl::InfiniteFuture()) {
        timeout_ms = static_cast<int>(std::clamp<int64_t>(
            absl::ToInt64Milliseconds(next_retry - absl::Now()) + 1, 0, timeout_ms));
      }
      curl_multi_poll(multi_, nullptr, 0, timeout_ms, nullptr);
    }
    // Shutdown: every request still here ends now, once.
    std::vector<std::unique_ptr<Request>> running;
    for (auto& [easy, request] : running_) running.push_back(std::move(request));
    running_.clear();
    for (auto& request : running) {
      ReleaseEasy(*request);
      RestResult result = Result(RestResult::Kind::kCancelled, *request, 0,
                                 "client shut down with the request in flight");
      Deliver(std::move(request), std::move(result));
    }
    for (auto& request : waiting_) {
      RestResult result = request->immediate.has_value()
                              ? *std::move(request->immediate)
                              : Result(RestResult::Kind::kCancelled, *request, 0,
                                       "client shut down before sending");
      Deliver(std::move(request), std::move(result));
    }
    waiting_.clear();
  }

  void Start(std::unique_ptr<Request> request) {
    request->response.clear();
    request->error[0] = '\0';
    CURL* easy = curl_easy_init();
    if (easy == nullptr) {
      RestResult result = Result(RestResult::Kind::kFailed, *request, 0, "curl_easy_init failed");
      Deliver(std::move(request), std::move(result));
      return;
    }
    request->easy = easy;
    request->attempts += 1;
    request->headers = curl_slist_append(nullptr, "Accept: application/json");
    // No "100-continue" round trip for our small bodies.
    request->headers = curl_slist_append(request->headers, "Expect:");
    curl_easy_setopt(easy, CURLOPT_URL, request->url.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(easy, CURLOPT_USERNAME, user_.c_str());
    curl_easy_setopt(easy, CURLOPT_PASSWORD, options_.secret.c_str());
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(options_.request_timeout)));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, request->headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "campaignd");
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &AppendBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, request.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, request->error);
    if (request->post) {
      curl_easy_setopt(easy, CURLOPT_POST, 1L);
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request->body.c_str());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(request->body.size()));
    } else {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    }
    const CURLMcode added = curl_multi_add_handle(multi_, easy);
    if (added != CURLM_OK) {
      ReleaseEasy(*request);
      RestResult result =
          Result(RestResult::Kind::kFailed, *request, 0,
                 absl::StrCat("curl_multi_add_handle: ", curl_multi_strerror(added)));
      Deliver(std::move(request), std::move(result));
      return;
    }
    running_[easy] = std::move(request);
  }

  void ReleaseEasy(Request& request) {
    if (request.easy != nullptr) {
      curl_multi_remove_handle(multi_, request.easy);
      curl_easy_cleanup(request.easy);
      request.easy = nullptr;
    }
    curl_slist_free_all(request.headers);
    request.headers = nullptr;
  }

  void Finish(CURL* easy, CURLcode code) {
    auto it = running_.find(easy);
    if (it == running_.end()) return;
    std::unique_ptr<Request> request = std::move(it->second);
    running_.erase(it);

    long http_status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http_status);
    curl_off_t pretransfer_us = 0;
    curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
    curl_off_t retry_after_s = 0;
    curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after_s);
    const std::string curl_error =
        request->error[0] != '\0' ? std::string(request->error) : curl_easy_strerror(code);
    ReleaseEasy(*request);

    if (code != CURLE_OK) {
      // pretransfer time 0: the attempt never got to send a byte.
      const bool sent = pretransfer_us > 0;
      const bool connect_failure =
          code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY ||
          code == CURLE_COULDNT_CONNECT || code == CURLE_OPERATION_TIMEDOUT;
      if (sent) {
        spdlog::warn("twilio {}: outcome unknown after attempt {}: {}", request->operation,
                     request->attempts, curl_error);
        RestResult result =
            Result(RestResult::Kind::kUnknownOutcome, *request, static_cast<int>(http_status),
                   absl::StrCat("outcome unknown: ", curl_error));
        Deliver(std::move(request), std::move(result));
      } else if (connect_failure) {
        Retry(std::move(request), 0, absl::ZeroDuration(), absl::StrCat("not sent: ", curl_error));
      } else {
        RestResult result =
            Result(RestResult::Kind::kFailed, *request, 0, absl::StrCat("not sent: ", curl_error));
        Deliver(std::move(request), std::move(result));
      }
      return;
    }

    const int status = static_cast<int>(http_status);
    if (status >= 200 && status < 300) {
      absl::StatusOr<CallResource> call = ParseCallResource(request->response);
      if (!call.ok()) {
        RestResult result = Result(RestResult::Kind::kFailed, *request, status,
                                   std::string(call.status().message()));
        Deliver(std::move(request), std::move(result));
        return;
      }
      RestResult result = Result(RestResult::Kind::kOk, *request, status, "");
      result.call = *std::move(call);
      Deliver(std::move(request), std::move(result));
      return;
    }
    const std::optional<TwilioError> error = ParseTwilioError(request->response);
    std::string message =
        error.has_value() && !error->message.empty()
            ? error->message
            : absl::StrCat("HTTP ", status, error.has_value() ? "" : " (no Twilio error body)");
    if (status == 429 || status >= 500) {
      Retry(std::move(request), status, absl::Seconds(retry_after_s), std::move(message),
            error.has_value() ? error->code : 0);
      return;
    }
    RestResult result = Result(RestResult::Kind::kFailed, *request, status, std::move(message));
    result.twilio_code = error.has_value() ? error->code : 0;
    Deliver(std::move(request), std::move(result));
  }

  // Schedules another attempt, or ends the request when none is left.
  void Retry(std::unique_ptr<Request> request, int http_status, absl::Duration retry_after,
             std::string message, int twilio_code = 0) {
    if (request->attempts >= options_.max_attempts) {
      RestResult result =
          Result(RestResult::Kind::kFailed, *request, http_status,
                 absl::StrCat(message, " (gave up after ", request->attempts, " attempts)"));
      result.twilio_code = twilio_code;
      Deliver(std::move(request), std::move(result));
      return;
    }
    absl::Duration cap = options_.initial_backoff;
    for (int i = 1; i < request->attempts && cap < options_.max_backoff; ++i) cap *= 2;
    cap = std::min(cap, options_.max_backoff);
    absl::Duration delay = absl::Microseconds(absl::Uniform<int64_t>(
        absl::IntervalClosed, rng_, int64_t{0}, absl::ToInt64Microseconds(cap)));
    delay = std::max(delay, std::min(retry_after, options_.max_backoff));
    spdlog::debug("twilio {}: attempt {} failed ({}); retrying in {} ms", request->operation,
                  request->attempts, message, absl::ToInt64Milliseconds(delay));
    request->not_before = absl::Now() + delay;
    waiting_.push_back(std::move(request));
  }

  void Deliver(std::unique_ptr<Request> request, RestResult result) {
    RestCallback done = std::move(request->done);
    request.reset();
    if (done) done(std::move(result));
    pending_.fetch_sub(1);
  }

  const RestClientOptions options_;
  CURLM* const multi_;
  std::string calls_url_;
  std::string user_;
  std::atomic<int> pending_{0};

  absl::Mutex mu_;
  std::deque<std::unique_ptr<Request>> incoming_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Worker thread only.
  std::vector<std::unique_ptr<Request>> waiting_;
  absl::flat_hash_map<CURL*, std::unique_ptr<Request>> running_;
  absl::BitGen rng_;

  std::thread worker_;
};

absl::StatusOr<std::unique_ptr<RestClient>> RestClient::Create(RestClientOptions options) {
  if (options.api_base.empty()) return absl::InvalidArgumentError("twilio: api_base is empty");
  if (!IsPathSafe(options.account_sid)) {
    return absl::InvalidArgumentError("twilio: account SID is missing or malformed");
  }
  if (!options.api_key_sid.empty() && !IsPathSafe(options.api_key_sid)) {
    return absl::InvalidArgumentError("twilio: API key SID is malformed");
  }
  if (options.secret.empty()) {
    return absl::InvalidArgumentError("twilio: auth token (or API key secret) is empty");
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError("twilio: max_attempts must be at least 1");
  }
  if (options.connect_timeout <= absl::ZeroDuration() ||
      options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("twilio: timeouts must be positive");
  }
  if (options.initial_backoff < absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff) {
    return absl::InvalidArgumentError("twilio: need 0 <= initial_backoff <= max_backoff");
  }
  static std::once_flag curl_initialised;
  std::call_once(curl_initialised, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return absl::InternalError("twilio: curl_multi_init failed");
  return std::unique_ptr<RestClient>(
      new RestClient(std::make_unique<Impl>(std::move(options), multi)));
}

RestClient::RestClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RestClient::~RestClient() = default;

void RestClient::CreateCall(const CreateCallParams& params, RestCallback done) {
  auto request = std::make_unique<Request>();
  request->operation = "create";
  request->post = true;
  request->url = absl::StrCat(impl_->calls_url(), ".json");
  request->body = FormEncode(CreateCallForm(params));
  request->done = std::move(done);
  impl_->Submit(std::move(request));
}

void RestClient::FetchCall(absl::string_view call_sid, RestCallback done) {
  auto request = std::make_unique<Request>();
  request->operation = "fetch";
  request->url = absl::StrCat(impl_->calls_url(), "/", call_sid, ".json");
  request->done = std::move(done);
  if (!IsPathSafe(call_sid)) {
    request->immediate = Result(RestResult::Kind::kFailed, *request, 0,
                                absl::StrCat("malformed call SID '", call_sid, "'"));
  }
  impl_->Submit(std::move(request));
}

void RestClient::UpdateCall(absl::string_view call_sid, absl::string_view status,
                            RestCallback done) {
  auto request = std::make_unique<Request>();
  request->operation = "update";
  request->post = true;
  request->url = absl::StrCat(impl_->calls_url(), "/", call_sid, ".json");
  request->body = FormEncode({{"Status", std::string(status)}});
  request->done = std::move(done);
  if (!IsPathSafe(call_sid)) {
    request->immediate = Result(RestResult::Kind::kFailed, *request, 0,
                                absl::StrCat("malformed call SID '", call_sid, "'"));
  } else if (status != "completed" && status != "canceled") {
    request->immediate = Result(RestResult::Kind::kFailed, *request, 0,
                                absl::StrCat("call update status must be completed or canceled, "
                                             "not '",
                                             status, "'"));
  }
  impl_->Submit(std::move(request));
}

int RestClient::Pending() const { return impl_->Pending(); }

}  // namespace campaign::twilio
