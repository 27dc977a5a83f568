#include "server/api/campaign_handlers.h"

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/api/convert.h"
#include "server/api/status.h"
#include "server/api/watch_handlers.h"
#include "server/observability/logging.h"
#include "server/util/logging.h"

namespace campaign::api {
namespace {

namespace pb = ::outbound::v1;

// The single value of metadata `key`: empty when absent, an error when sent
// more than once (two credentials in one call are refused, not guessed at).
absl::StatusOr<std::string> SingleMetadata(const grpc::CallbackServerContext& context,
                                           absl::string_view key) {
  auto [begin, end] =
      context.client_metadata().equal_range(grpc::string_ref(key.data(), key.size()));
  if (begin == end) return std::string();
  std::string value(begin->second.data(), begin->second.size());
  if (++begin != end) {
    return absl::InvalidArgumentError(absl::StrCat("metadata ", key, " was sent more than once"));
  }
  return value;
}

// Refused calls logged per second at most, so a flood of bad keys cannot
// flood the log; the next line logged says how many were left out.
constexpr int kRefusalLogsPerSecond = 20;

// Whether this refusal may be logged now; `suppressed` gets the number of
// refusals left out since the last one logged.
ABSL_CONST_INIT absl::Mutex refusal_log_mu(absl::kConstInit);
// The start of the current one-second window, lines logged in it, and
// refusals left out since the last line.
absl::Time refusal_window_start ABSL_GUARDED_BY(refusal_log_mu);
int refusals_logged ABSL_GUARDED_BY(refusal_log_mu) = 0;
int64_t refusals_dropped ABSL_GUARDED_BY(refusal_log_mu) = 0;

bool MayLogRefusal(int64_t* suppressed) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&refusal_log_mu);
  if (now - refusal_window_start >= absl::Seconds(1)) {
    refusal_window_start = now;
    refusals_logged = 0;
  }
  if (refusals_logged >= kRefusalLogsPerSecond) {
    ++refusals_dropped;
    return false;
  }
  ++refusals_logged;
  *suppressed = refusals_dropped;
  refusals_dropped = 0;
  return true;
}

}  // namespace

std::string RequestIdOf(const grpc::CallbackServerContext& context) {
  auto found = context.client_metadata().find(kRequestIdHeader);
  if (found == context.client_metadata().end()) return std::string();
  return std::string(found->second.data(), found->second.size());
}

absl::StatusOr<Caller> AuthenticateCall(const grpc::CallbackServerContext& context,
                                        auth::Authenticator* authenticator) {
  absl::StatusOr<std::string> authorization = SingleMetadata(context, kAuthorizationHeader);
  absl::StatusOr<std::string> business = SingleMetadata(context, kBusinessIdHeader);
  if (!authorization.ok()) return absl::UnauthenticatedError(authorization.status().message());
  if (!business.ok()) return business.status();
  absl::StatusOr<Principal> principal = authenticator->Authenticate(*authorization);
  if (!principal.ok()) {
    int64_t suppressed = 0;
    if (principal.status().code() == absl::StatusCode::kUnauthenticated &&
        MayLogRefusal(&suppressed)) {
      spdlog::warn("security: refused a call from {}: {}{}", context.peer(),
                   principal.status().message(),
                   suppressed == 0
                       ? std::string()
                       : absl::StrCat(" (", suppressed, " refusals not logged before this one)"));
    }
    return principal.status();
  }
  return Caller{*std::move(principal), *std::move(business)};
}

CampaignHandlers::CampaignHandlers(RunService* service, auth::Authenticator* authenticator,
                                   Executor* executor, WatchHandlers* watch)
    : service_(service), authenticator_(authenticator), executor_(executor), watch_(watch) {}

grpc::ServerUnaryReactor* CampaignHandlers::Serve(grpc::CallbackServerContext* context,
                                                  std::function<absl::Status(const Caller&)> body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto task = [this, context, reactor, body = std::move(body)] {
    // Every line logged for this call (security warnings included) carries
    // its request id, and its principal once known.
    observability::ScopedLogFields log_fields({{"request_id", RequestIdOf(*context)}});
    if (context->IsCancelled()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
      return;
    }
    absl::StatusOr<Caller> caller = AuthenticateCall(*context, authenticator_);
    if (!caller.ok()) {
      reactor->Finish(ToGrpcStatus(caller.status()));
      return;
    }
    log_fields.Add("principal", auth::DescribePrincipal(caller->principal));
    reactor->Finish(ToGrpcStatus(body(*caller)));
  };
  if (absl::Status submitted = executor_->Submit(std::move(task)); !submitted.ok()) {
    reactor->Finish(ToGrpcStatus(submitted));
  }
  return reactor;
}

grpc::ServerUnaryReactor* CampaignHandlers::ServeChange(grpc::CallbackServerContext* context,
                                                        int64_t run_id, RunAction action,
                                                        pb::OutboundCallRun* response) {
  return Serve(context, [this, run_id, action, response](const Caller& caller) -> absl::Status {
    absl::StatusOr<Run> run = service_->ChangeRun(caller, run_id, action);
    if (!run.ok()) return run.status();
    ToProto(*run, AudienceOf(caller.principal), response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::CreateRun(grpc::CallbackServerContext* context,
                                                      const pb::CreateRunRequest* request,
                                                      pb::CreateRunResponse* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    CreateRunInput input;
    input.request_id = request->request_id();
    input.concurrency = request->concurrency();
    input.leads = FromProto(request->leads());
    input.outbound_list_id = request->outbound_list_id();
    input.project_id = request->project_id();
    input.start_paused = request->start_paused();
    absl::StatusOr<CreateRunOutput> output = service_->CreateRun(caller, input);
    if (!output.ok()) return output.status();
    ToProto(output->run, AudienceOf(caller.principal), response->mutable_run());
    response->set_duplicate_leads_dropped(output->duplicate_leads_dropped);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::AddLeads(grpc::CallbackServerContext* context,
                                                     const pb::AddLeadsRequest* request,
                                                     pb::AddLeadsResponse* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    absl::StatusOr<AddLeadsOutput> output =
        service_->AddLeads(caller, request->run_id(), FromProto(request->leads()));
    if (!output.ok()) return output.status();
    ToProto(output->run, AudienceOf(caller.principal), response->mutable_run());
    response->set_added(output->added);
    response->set_duplicates_skipped(output->duplicates_skipped);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::GetRun(grpc::CallbackServerContext* context,
                                                   const pb::GetRunRequest* request,
                                                   pb::OutboundCallRun* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    absl::StatusOr<Run> run = service_->GetRun(caller, request->run_id());
    if (!run.ok()) return run.status();
    ToProto(*run, AudienceOf(caller.principal), response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::ListRuns(grpc::CallbackServerContext* context,
                                                     const pb::ListRunsRequest* request,
                                                     pb::ListRunsResponse* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    absl::StatusOr<std::optional<RunStatus>> status = RunStatusFilter(request->status());
    if (!status.ok()) return status.status();
    absl::StatusOr<Listing<Run>> listing = service_->ListRuns(
        caller, ListRunsInput{request->page_size(), request->page_token(), *status});
    if (!listing.ok()) return listing.status();
    for (const Run& run : listing->items) {
      ToProto(run, AudienceOf(caller.principal), response->add_runs());
    }
    response->set_next_page_token(listing->next_page_token);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::ListJobs(grpc::CallbackServerContext* context,
                                                     const pb::ListJobsRequest* request,
                                                     pb::ListJobsResponse* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    absl::StatusOr<std::optional<JobStatus>> status = JobStatusFilter(request->status());
    if (!status.ok()) return status.status();
    absl::StatusOr<Listing<Job>> listing = service_->ListJobs(
        caller,
        ListJobsInput{request->run_id(), request->page_size(), request->page_token(), *status});
    if (!listing.ok()) return listing.status();
    for (const Job& job : listing->items) ToProto(job, response->add_jobs());
    response->set_next_page_token(listing->next_page_token);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::StopRun(grpc::CallbackServerContext* context,
                                                    const pb::StopRunRequest* request,
                                                    pb::StopRunResponse* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    absl::StatusOr<StopRunOutput> output = service_->StopRun(caller, request->run_id());
    if (!output.ok()) return output.status();
    ToProto(output->run, AudienceOf(caller.principal), response->mutable_run());
    response->set_cancelled_jobs(output->cancelled_jobs);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::CancelRun(grpc::CallbackServerContext* context,
                                                      const pb::CancelRunRequest* request,
                                                      pb::OutboundCallRun* response) {
  return ServeChange(context, request->run_id(), RunAction::kCancel, response);
}

grpc::ServerUnaryReactor* CampaignHandlers::PauseRun(grpc::CallbackServerContext* context,
                                                     const pb::PauseRunRequest* request,
                                                     pb::OutboundCallRun* response) {
  return ServeChange(context, request->run_id(), RunAction::kPause, response);
}

grpc::ServerUnaryReactor* CampaignHandlers::ResumeRun(grpc::CallbackServerContext* context,
                                                      const pb::ResumeRunRequest* request,
                                                      pb::OutboundCallRun* response) {
  return ServeChange(context, request->run_id(), RunAction::kResume, response);
}

grpc::ServerWriteReactor<pb::WatchRunResponse>* CampaignHandlers::WatchRun(
    grpc::CallbackServerContext* context, const pb::WatchRunRequest* request) {
  if (watch_ == nullptr) return pb::CampaignService::CallbackService::WatchRun(context, request);
  return watch_->WatchRun(context, request);
}

grpc::ServerWriteReactor<pb::WatchRunsResponse>* CampaignHandlers::WatchRuns(
    grpc::CallbackServerContext* context, const pb::WatchRunsRequest* request) {
  if (watch_ == nullptr) return pb::CampaignService::CallbackService::WatchRuns(context, request);
  return watch_->WatchRuns(context, request);
}

}  // namespace campaign::api
