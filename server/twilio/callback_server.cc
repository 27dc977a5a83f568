#include "server/twilio/callback_server.h"

#include <httplib.h>

#include <deque>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/twilio/form.h"
#include "server/twilio/listen_backlog.h"
#include "server/twilio/signature.h"
#include "server/util/logging.h"

namespace campaign::twilio {

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook listen address '", text, "' is not host:port"));
  }
  absl::string_view host = text.substr(0, colon);
  const absl::string_view port_text = text.substr(colon + 1);
  if (absl::ConsumePrefix(&host, "[") && !absl::ConsumeSuffix(&host, "]")) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook listen address '", text, "': unbalanced '[' in the host"));
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook listen address '", text, "' has no host"));
  }
  int port = -1;
  if (port_text.empty() || !absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535 ||
      !absl::ascii_isdigit(static_cast<unsigned char>(port_text[0]))) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook listen address '", text, "': port must be a number 0-65535"));
  }
  return ListenAddress{std::string(host), port};
}

class CallbackServer::Impl {
 public:
  Impl(CallbackServerOptions options, StatusCallbackHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {
    absl::string_view base = options_.public_url;
    while (absl::ConsumeSuffix(&base, "/")) {
    }
    public_base_ = std::string(base);
  }

  ~Impl() { Stop(); }

  absl::Status Start() {
    const int threads = options_.http_threads;
    server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_.set_payload_max_length(options_.max_body_bytes);
    // Answers go out at once: with Nagle's algorithm a response written in
    // two parts waits for the client's delayed ACK (~40 ms per callback).
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_timeout(2);
    server_.Post(std::string(kStatusCallbackPath),
                 [this](const httplib::Request& request, httplib::Response& response) {
                   OnStatus(request, response);
                 });
    server_.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
      response.set_content("ok\n", "text/plain");
    });
    if (options_.listen.port == 0) {
      port_ = server_.bind_to_any_port(options_.listen.host);
    } else if (server_.bind_to_port(options_.listen.host, options_.listen.port)) {
      port_ = options_.listen.port;
    }
    if (port_ <= 0) {
      return absl::UnavailableError(absl::StrCat("webhook listener: cannot listen on ",
                                                 options_.listen.host, ":", options_.listen.port));
    }
    if (!RaiseListenBacklog(port_, options_.listen_backlog)) {
      spdlog::warn("twilio webhook listener: could not raise the accept backlog of port {}", port_);
    }
    listener_ = std::thread([this] { server_.listen_after_bind(); });
    handler_thread_ = std::thread([this] { HandleLoop(); });
    // httplib's stop() is lost when it comes before the accept loop started:
    // return only once it runs, so Stop() always ends it.
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!server_.is_running()) {
      if (absl::Now() > deadline) {
        return absl::UnavailableError("webhook listener: did not start within 30 s");
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    spdlog::info("twilio webhook listener on {}:{} (public URL {}{})", options_.listen.host, port_,
                 public_base_, kStatusCallbackPath);
    return absl::OkStatus();
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    if (listener_.joinable()) {
      server_.stop();
      listener_.join();
    }
    {
      absl::MutexLock lock(&mu_);
      draining_ = true;
    }
    if (handler_thread_.joinable()) handler_thread_.join();
  }

  int port() const { return port_; }

  std::string LocalUrl() const {
    const bool v6 = absl::StrContains(options_.listen.host, ':');
    return absl::StrCat("http://", v6 ? "[" : "", options_.listen.host, v6 ? "]" : "", ":", port_);
  }

  CallbackServerStats stats() const {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

 private:
  void Count(int64_t CallbackServerStats::*counter) {
    absl::MutexLock lock(&mu_);
    stats_.*counter += 1;
  }

  void OnStatus(const httplib::Request& request, httplib::Response& response) {
    const std::string content_type = request.get_header_value("Content-Type");
    if (!absl::StartsWithIgnoreCase(content_type, "application/x-www-form-urlencoded")) {
      Count(&CallbackServerStats::rejected_malformed);
      spdlog::warn("twilio callback from {} to {}: refused content type '{}'", request.remote_addr,
                   request.path, content_type);
      response.status = 415;
      return;
    }
    absl::StatusOr<FormParams> body = FormDecode(request.body);
    const size_t question = request.target.find('?');
    const absl::string_view raw_query =
        question == std::string::npos ? absl::string_view()
                                      : absl::string_view(request.target).substr(question + 1);
    absl::StatusOr<FormParams> query = FormDecode(raw_query);
    if (!body.ok() || !query.ok()) {
      Count(&CallbackServerStats::rejected_malformed);
      spdlog::warn("twilio callback from {} to {}: malformed form: {}", request.remote_addr,
                   request.path, (!body.ok() ? body.status() : query.status()).message());
      response.status = 400;
      return;
    }
    const std::string signature = request.get_header_value(std::string(kSignatureHeader));
    const std::string url = public_base_ + request.target;
    if (!SignatureMatches(options_.auth_token, url, *body, signature)) {
      Count(&CallbackServerStats::rejected_signature);
      spdlog::warn("security: twilio callback from {} to {} refused: {} X-Twilio-Signature",
                   request.remote_addr, request.path, signature.empty() ? "missing" : "invalid");
      response.status = 403;
      return;
    }
    absl::StatusOr<StatusCallback> callback = ParseStatusCallback(*query, *body);
    if (!callback.ok()) {
      Count(&CallbackServerStats::rejected_malformed);
      spdlog::warn("twilio callback from {} to {}: {}", request.remote_addr, request.path,
                   callback.status().message());
      response.status = 400;
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (static_cast<int>(queue_.size()) >= options_.queue_capacity) {
        stats_.rejected_full += 1;
        response.status = 503;
        response.set_header("Retry-After", "1");
        return;
      }
      queue_.push_back(*std::move(callback));
      stats_.queued += 1;
    }
    response.status = 204;
  }

  void HandleLoop() {
    std::vector<StatusCallback> batch;
    for (;;) {
      batch.clear();
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Impl* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
              return !self->queue_.empty() || self->draining_;
            },
            this));
        if (queue_.empty()) return;
        while (!queue_.empty() && static_cast<int>(batch.size()) < options_.handler_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      const absl::Status status = handler_(batch);
      absl::MutexLock lock(&mu_);
      stats_.handled += static_cast<int64_t>(batch.size());
      if (!status.ok()) {
        stats_.handler_errors += static_cast<int64_t>(batch.size());
        const StatusCallback& first = batch.front();
        spdlog::warn("{} twilio callback(s) not applied (the first: job {}, call {}, {}): {}",
                     batch.size(), first.job_id, first.call_sid,
                     CallStatusName(first.call_status), status.message());
      }
    }
  }

  const CallbackServerOptions options_;
  const StatusCallbackHandler handler_;
  std::string public_base_;
  httplib::Server server_;
  int port_ = -1;
  std::thread listener_;
  std::thread handler_thread_;

  mutable absl::Mutex mu_;
  std::deque<StatusCallback> queue_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  CallbackServerStats stats_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<CallbackServer>> CallbackServer::Start(
    CallbackServerOptions options, StatusCallbackHandler handler) {
  if (options.public_url.empty()) {
    return absl::InvalidArgumentError("webhook listener: the public URL is required");
  }
  if (!absl::StartsWith(options.public_url, "https://") &&
      !absl::StartsWith(options.public_url, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("webhook listener: public URL '",
                                                   options.public_url,
                                                   "' must start with https:// (or http://)"));
  }
  if (options.auth_token.empty()) {
    return absl::InvalidArgumentError("webhook listener: the auth token is required");
  }
  if (options.queue_capacity < 1 || options.http_threads < 1 || options.handler_batch < 1) {
    return absl::InvalidArgumentError(
        "webhook listener: queue capacity and HTTP threads must be at least 1");
  }
  if (!handler) return absl::InvalidArgumentError("webhook listener: no handler");
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  absl::Status started = impl->Start();
  if (!started.ok()) return started;
  return std::unique_ptr<CallbackServer>(new CallbackServer(std::move(impl)));
}

CallbackServer::CallbackServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CallbackServer::~CallbackServer() { Stop(); }

int CallbackServer::port() const { return impl_->port(); }

std::string CallbackServer::LocalUrl() const { return impl_->LocalUrl(); }

CallbackServerStats CallbackServer::stats() const { return impl_->stats(); }

void CallbackServer::Stop() { impl_->Stop(); }

}  // namespace campaign::twilio
