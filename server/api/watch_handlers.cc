#include "server/api/watch_handlers.h"

#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/api/convert.h"
#include "server/api/status.h"
#include "server/auth/caller.h"
#include "server/service/audit.h"
#include "server/service/validation.h"
#include "server/util/logging.h"

namespace campaign::api {
namespace {

namespace pb = ::outbound::v1;

// One watch stream: pulls messages from its subscription whenever the hub
// says one may be ready and no write is in flight. Deletes itself in OnDone.
//
// Finish is called exactly once and never while a write is in flight; until
// the executor task has attached a subscription or failed the call, nothing
// finishes the stream (OnCancel only records the cancellation), so the task
// never outlives the reactor.
template <typename Response>
class WatchReactor final : public grpc::ServerWriteReactor<Response>,
                           public progress::SubscriptionSink {
 public:
  // Fills a response from an update for the stream's audience.
  using Fill = std::function<void(const progress::Update&, RunAudience, Response*)>;

  // With `finish_on_terminal`, the stream ends with OK after the message
  // carrying a terminal run status (WatchRun).
  WatchReactor(progress::ProgressHub* hub, Fill fill, bool finish_on_terminal)
      : hub_(hub), fill_(std::move(fill)), finish_on_terminal_(finish_on_terminal) {}

  // Ends the stream before it was subscribed (from the executor task).
  void Fail(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      finishing_ = true;
    }
    this->Finish(std::move(status));
  }

  // Starts feeding the stream from `subscription` (from the executor task),
  // with messages for `audience`.
  void Attach(std::shared_ptr<progress::Subscription> subscription, RunAudience audience) {
    bool cancelled = false;
    {
      absl::MutexLock lock(&mu_);
      subscription_ = subscription;
      audience_ = audience;
      cancelled = cancelled_;
    }
    if (cancelled) hub_->Unsubscribe(subscription);
    MaybeWrite();
  }

  void OnReady() override { MaybeWrite(); }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        finishing_ = true;
        finish = grpc::Status(grpc::StatusCode::CANCELLED, "the stream was closed");
      } else if (sent_terminal_) {
        finishing_ = true;
        finish = grpc::Status::OK;
      }
    }
    if (finish.has_value()) {
      this->Finish(*std::move(finish));
    } else {
      MaybeWrite();
    }
  }

  void OnCancel() override {
    std::shared_ptr<progress::Subscription> subscription;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      subscription = subscription_;
    }
    if (subscription == nullptr) return;  // the executor task will see it
    hub_->Unsubscribe(subscription);      // frees the slot at once
    MaybeWrite();                         // finishes unless a write is in flight
  }

  void OnDone() override {
    std::shared_ptr<progress::Subscription> subscription;
    {
      absl::MutexLock lock(&mu_);
      subscription = subscription_;
    }
    hub_->Unsubscribe(subscription);
    delete this;
  }

  // Whether the client cancelled before the stream started.
  bool cancelled() {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }

 private:
  void MaybeWrite() {
    std::optional<grpc::Status> finish;
    bool write = false;
    {
      absl::MutexLock lock(&mu_);
      if (subscription_ == nullptr || writing_ || finishing_) return;
      if (cancelled_) {
        finishing_ = true;
        finish = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client");
      } else {
        progress::Poll poll = subscription_->Next();
        if (poll.closed.has_value()) {
          finishing_ = true;
          finish = ToGrpcStatus(*poll.closed);
        } else if (poll.update.has_value()) {
          response_.Clear();
          fill_(*poll.update, audience_, &response_);
          sent_terminal_ = finish_on_terminal_ && poll.update->run.status.has_value() &&
                           IsTerminal(*poll.update->run.status);
          writing_ = true;
          write = true;
        }
      }
    }
    if (finish.has_value()) {
      this->Finish(*std::move(finish));
    } else if (write) {
      this->StartWrite(&response_);
    }
  }

  progress::ProgressHub* const hub_;
  const Fill fill_;
  const bool finish_on_terminal_;
  absl::Mutex mu_;
  std::shared_ptr<progress::Subscription> subscription_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool sent_terminal_ ABSL_GUARDED_BY(mu_) = false;
  RunAudience audience_ ABSL_GUARDED_BY(mu_) = RunAudience::kTenant;
  // The message being written; untouched while writing_.
  Response response_;
};

void FillWatchRun(const progress::Update& update, RunAudience audience, pb::WatchRunResponse* out) {
  ToProto(update.run, audience, out->mutable_run());
  out->set_version(update.run.version);
  for (const progress::JobUpdate& job : update.jobs) {
    pb::JobUpdate* proto = out->add_job_updates();
    proto->set_job_id(job.job_id);
    proto->set_lead_id(job.lead_id);
    proto->set_status(ToProto(job.status));
    proto->set_error_message(job.error_message);
  }
  out->set_job_updates_truncated(update.jobs_truncated);
}

void FillWatchRuns(const progress::Update& update, RunAudience audience,
                   pb::WatchRunsResponse* out) {
  ToProto(update.run, audience, out->mutable_run());
  out->set_version(update.run.version);
}

}  // namespace

WatchHandlers::WatchHandlers(progress::ProgressHub* hub, auth::Authenticator* authenticator,
                             CallRunner* calls, store::RunStore* run_store,
                             absl::Duration recheck_interval)
    : hub_(hub),
      authenticator_(authenticator),
      calls_(calls),
      run_store_(run_store),
      recheck_interval_(recheck_interval) {
  authenticator_->SetRevokedListener([this](int64_t api_key_id) {
    EndStreamsOfKey(api_key_id,
                    absl::UnauthenticatedError("the API key of this stream was revoked"));
  });
  recheck_thread_ = std::thread([this] { RecheckLoop(); });
}

WatchHandlers::~WatchHandlers() {
  authenticator_->SetRevokedListener(nullptr);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  recheck_thread_.join();
}

void WatchHandlers::Register(const std::shared_ptr<progress::Subscription>& subscription,
                             std::string authorization, int64_t api_key_id) {
  absl::MutexLock lock(&mu_);
  // Streams that ended are forgotten here and in each re-check, so the list
  // stays within the hub's stream caps.
  std::erase_if(watched_, [](const Watched& watched) { return watched.subscription.expired(); });
  watched_.push_back(Watched{subscription, std::move(authorization), api_key_id});
}

void WatchHandlers::EndStreamsOfKey(int64_t api_key_id, const absl::Status& status) {
  std::vector<std::shared_ptr<progress::Subscription>> ending;
  {
    absl::MutexLock lock(&mu_);
    for (const Watched& watched : watched_) {
      if (watched.api_key_id != api_key_id) continue;
      if (auto subscription = watched.subscription.lock())
        ending.push_back(std::move(subscription));
    }
  }
  if (ending.empty()) return;
  spdlog::warn("security: ending {} watch stream(s) of API key {}: {}", ending.size(), api_key_id,
               status.message());
  for (const auto& subscription : ending) subscription->Close(status);
}

void WatchHandlers::RecheckLoop() {
  for (;;) {
    // Each distinct key of the open streams, with those streams.
    absl::flat_hash_map<std::string, std::vector<std::shared_ptr<progress::Subscription>>> by_key;
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), recheck_interval_)) return;
      std::erase_if(watched_,
                    [](const Watched& watched) { return watched.subscription.expired(); });
      for (const Watched& watched : watched_) {
        if (auto subscription = watched.subscription.lock()) {
          by_key[watched.authorization].push_back(std::move(subscription));
        }
      }
    }
    for (const auto& [authorization, subscriptions] : by_key) {
      absl::StatusOr<Principal> principal = authenticator_->Authenticate(authorization);
      // UNAVAILABLE (the database is unreachable) keeps the stream: it is
      // checked again next time.
      if (principal.ok() || principal.status().code() != absl::StatusCode::kUnauthenticated) {
        continue;
      }
      spdlog::warn("security: ending {} watch stream(s): {}", subscriptions.size(),
                   principal.status().message());
      const absl::Status ended = absl::UnauthenticatedError(absl::StrCat(
          "the API key of this stream is no longer valid: ", principal.status().message()));
      for (const auto& subscription : subscriptions) subscription->Close(ended);
    }
  }
}

grpc::ServerWriteReactor<pb::WatchRunResponse>* WatchHandlers::WatchRun(
    grpc::CallbackServerContext* context, const pb::WatchRunRequest* request) {
  auto* reactor = new WatchReactor<pb::WatchRunResponse>(hub_, FillWatchRun,
                                                         /*finish_on_terminal=*/true);
  const int64_t run_id = request->run_id();
  const int64_t after_version = request->after_version();
  calls_->Run(
      context, [reactor] { return reactor->cancelled(); },
      [reactor](grpc::Status status) { reactor->Fail(std::move(status)); },
      [this, reactor, run_id, after_version](const AuthenticatedCall& call) {
        const auth::Caller& caller = call.caller;
        absl::StatusOr<auth::Scope> scope =
            AuthorizeCall(caller, auth::Permission::kRead,
                          /*allow_all_businesses=*/false, "watch runs");
        if (!scope.ok()) return reactor->Fail(ToGrpcStatus(scope.status()));
        if (absl::Status valid = ValidatePositiveId(run_id, "run_id"); !valid.ok()) {
          return reactor->Fail(ToGrpcStatus(valid));
        }
        if (after_version < 0) {
          return reactor->Fail(
              grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "after_version must be >= 0"));
        }
        const int64_t business_id = *scope->business_id;
        absl::StatusOr<std::shared_ptr<progress::Subscription>> subscription =
            hub_->WatchRun(business_id, run_id, after_version, reactor);
        if (!subscription.ok()) {
          return reactor->Fail(ToGrpcStatus(AuditNotFound(
              *run_store_, caller.principal, business_id, run_id, subscription.status())));
        }
        Register(*subscription, call.authorization, caller.principal.api_key_id);
        reactor->Attach(*std::move(subscription), AudienceOf(caller.principal));
      });
  return reactor;
}

grpc::ServerWriteReactor<pb::WatchRunsResponse>* WatchHandlers::WatchRuns(
    grpc::CallbackServerContext* context, const pb::WatchRunsRequest* request) {
  auto* reactor = new WatchReactor<pb::WatchRunsResponse>(hub_, FillWatchRuns,
                                                          /*finish_on_terminal=*/false);
  const int status_value = request->status();
  calls_->Run(
      context, [reactor] { return reactor->cancelled(); },
      [reactor](grpc::Status status) { reactor->Fail(std::move(status)); },
      [this, reactor, status_value](const AuthenticatedCall& call) {
        const auth::Caller& caller = call.caller;
        absl::StatusOr<auth::Scope> scope =
            AuthorizeCall(caller, auth::Permission::kRead,
                          /*allow_all_businesses=*/true, "watch runs");
        if (!scope.ok()) return reactor->Fail(ToGrpcStatus(scope.status()));
        absl::StatusOr<std::optional<RunStatus>> status = RunStatusFilter(status_value);
        if (!status.ok()) return reactor->Fail(ToGrpcStatus(status.status()));
        absl::StatusOr<std::shared_ptr<progress::Subscription>> subscription =
            hub_->WatchRuns(scope->business_id, *status, reactor);
        if (!subscription.ok()) return reactor->Fail(ToGrpcStatus(subscription.status()));
        Register(*subscription, call.authorization, caller.principal.api_key_id);
        reactor->Attach(*std::move(subscription), AudienceOf(caller.principal));
      });
  return reactor;
}

}  // namespace campaign::api
