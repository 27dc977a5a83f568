#include "server/api/campaign_handlers.h"

#include <functional>
#include <utility>

#include "server/api/convert.h"
#include "server/api/ledger_convert.h"
#include "server/api/watch_handlers.h"
#include "server/util/status_macros.h"

namespace campaign::api {
namespace pb = ::outbound::v1;

CampaignHandlers::CampaignHandlers(RunService* service, CallRunner* calls, WatchHandlers* watch,
                                   PolicyService* policies, LedgerServices ledger)
    : service_(service), calls_(calls), watch_(watch), policies_(policies), ledger_(ledger) {}

grpc::ServerUnaryReactor* CampaignHandlers::Serve(grpc::CallbackServerContext* context,
                                                  std::function<absl::Status(const Caller&)> body) {
  return calls_->ServeUnary(context, std::move(body));
}

grpc::ServerUnaryReactor* CampaignHandlers::ServeChange(grpc::CallbackServerContext* context,
                                                        int64_t run_id, RunAction action,
                                                        pb::OutboundCallRun* response,
                                                        bool hang_up) {
  return Serve(
      context, [this, run_id, action, response, hang_up](const Caller& caller) -> absl::Status {
        ASSIGN_OR_RETURN(const Run run, service_->ChangeRun(caller, run_id, action, hang_up));
        ToProto(run, AudienceOf(caller.principal), response);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* CampaignHandlers::CreateRun(grpc::CallbackServerContext* context,
                                                      const pb::CreateRunRequest* request,
                                                      pb::CreateRunResponse* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(const CreateRunInput input, FromProto(*request, ""));
    ASSIGN_OR_RETURN(const CreateRunOutput output, service_->CreateRun(caller, input));
    ToProto(output.run, AudienceOf(caller.principal), response->mutable_run());
    response->set_duplicate_leads_dropped(output.duplicate_leads_dropped);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::AddLeads(grpc::CallbackServerContext* context,
                                                     const pb::AddLeadsRequest* request,
                                                     pb::AddLeadsResponse* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(const AddLeadsOutput output,
                     service_->AddLeads(caller, request->run_id(), FromProto(request->leads())));
    ToProto(output.run, AudienceOf(caller.principal), response->mutable_run());
    response->set_added(output.added);
    response->set_duplicates_skipped(output.duplicates_skipped);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::GetRun(grpc::CallbackServerContext* context,
                                                   const pb::GetRunRequest* request,
                                                   pb::OutboundCallRun* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(const Run run, service_->GetRun(caller, request->run_id()));
    ToProto(run, AudienceOf(caller.principal), response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::GetBusiness(grpc::CallbackServerContext* context,
                                                        const pb::GetBusinessRequest* request,
                                                        pb::Business* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(const Business business,
                     service_->GetBusiness(caller, request->business_id()));
    ToProto(business, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::ListRuns(grpc::CallbackServerContext* context,
                                                     const pb::ListRunsRequest* request,
                                                     pb::ListRunsResponse* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(const std::optional<RunStatus> status, RunStatusFilter(request->status()));
    ASSIGN_OR_RETURN(const Listing<Run> listing,
                     service_->ListRuns(caller, ListRunsInput{request->page_size(),
                                                              request->page_token(), status}));
    for (const Run& run : listing.items) {
      ToProto(run, AudienceOf(caller.principal), response->add_runs());
    }
    response->set_next_page_token(listing.next_page_token);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::ListJobs(grpc::CallbackServerContext* context,
                                                     const pb::ListJobsRequest* request,
                                                     pb::ListJobsResponse* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(const std::optional<JobStatus> status, JobStatusFilter(request->status()));
    ASSIGN_OR_RETURN(
        const Listing<Job> listing,
        service_->ListJobs(caller, ListJobsInput{request->run_id(), request->page_size(),
                                                 request->page_token(), status}));
    for (const Job& job : listing.items) ToProto(job, response->add_jobs());
    response->set_next_page_token(listing.next_page_token);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::StopRun(grpc::CallbackServerContext* context,
                                                    const pb::StopRunRequest* request,
                                                    pb::StopRunResponse* response) {
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(const StopRunOutput output,
                     service_->StopRun(caller, request->run_id(),
                                       !request->has_hang_up() || request->hang_up()));
    ToProto(output.run, AudienceOf(caller.principal), response->mutable_run());
    response->set_cancelled_jobs(output.cancelled_jobs);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::CancelRun(grpc::CallbackServerContext* context,
                                                      const pb::CancelRunRequest* request,
                                                      pb::OutboundCallRun* response) {
  return ServeChange(context, request->run_id(), RunAction::kCancel, response,
                     !request->has_hang_up() || request->hang_up());
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

grpc::ServerUnaryReactor* CampaignHandlers::GetDialingPolicy(
    grpc::CallbackServerContext* context, const pb::GetDialingPolicyRequest* request,
    pb::DialingPolicy* response) {
  if (policies_ == nullptr) {
    return pb::CampaignService::CallbackService::GetDialingPolicy(context, request, response);
  }
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(const DialingPolicy policy,
                     policies_->GetDialingPolicy(caller, request->run_id()));
    ToProto(policy, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::UpdateDialingPolicy(
    grpc::CallbackServerContext* context, const pb::UpdateDialingPolicyRequest* request,
    pb::DialingPolicy* response) {
  if (policies_ == nullptr) {
    return pb::CampaignService::CallbackService::UpdateDialingPolicy(context, request, response);
  }
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(const DialingPolicy values, FromProto(request->policy(), "policy."));
    const std::vector<std::string> paths(request->update_mask().paths().begin(),
                                         request->update_mask().paths().end());
    ASSIGN_OR_RETURN(const DialingPolicy policy,
                     policies_->UpdateDialingPolicy(caller, request->run_id(), values, paths));
    ToProto(policy, response);
    return absl::OkStatus();
  });
}

// ------------------------------------------- do-not-call list, attempt ledger

grpc::ServerUnaryReactor* CampaignHandlers::AddDoNotCallNumbers(
    grpc::CallbackServerContext* context, const pb::AddDoNotCallNumbersRequest* request,
    pb::AddDoNotCallNumbersResponse* response) {
  if (ledger_.do_not_call == nullptr) {
    return pb::CampaignService::CallbackService::AddDoNotCallNumbers(context, request, response);
  }
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(
        const int64_t added,
        ledger_.do_not_call->Add(caller, {request->phones().begin(), request->phones().end()}));
    response->set_added(added);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::RemoveDoNotCallNumbers(
    grpc::CallbackServerContext* context, const pb::RemoveDoNotCallNumbersRequest* request,
    pb::RemoveDoNotCallNumbersResponse* response) {
  if (ledger_.do_not_call == nullptr) {
    return pb::CampaignService::CallbackService::RemoveDoNotCallNumbers(context, request, response);
  }
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(
        const int64_t removed,
        ledger_.do_not_call->Remove(caller, {request->phones().begin(), request->phones().end()}));
    response->set_removed(removed);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::ListDoNotCallNumbers(
    grpc::CallbackServerContext* context, const pb::ListDoNotCallNumbersRequest* request,
    pb::ListDoNotCallNumbersResponse* response) {
  if (ledger_.do_not_call == nullptr) {
    return pb::CampaignService::CallbackService::ListDoNotCallNumbers(context, request, response);
  }
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(
        const Listing<store::DoNotCallNumber> listing,
        ledger_.do_not_call->List(caller, request->page_size(), request->page_token()));
    for (const store::DoNotCallNumber& number : listing.items) {
      ToProto(number, response->add_numbers());
    }
    response->set_next_page_token(listing.next_page_token);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::PreviewRun(grpc::CallbackServerContext* context,
                                                       const pb::PreviewRunRequest* request,
                                                       pb::PreviewRunResponse* response) {
  if (ledger_.preview == nullptr) {
    return pb::CampaignService::CallbackService::PreviewRun(context, request, response);
  }
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    PreviewInput input;
    if (request->has_create_request()) {
      ASSIGN_OR_RETURN(input.create, FromProto(request->create_request(), "create_request."));
    } else {
      input.run_id = request->run_id();
    }
    input.lead_id = request->lead_id();
    ASSIGN_OR_RETURN(input.at, FromProto(request->at(), request->has_at(), "at"));
    ASSIGN_OR_RETURN(const PreviewSummary summary, ledger_.preview->Preview(caller, input));
    ToProto(summary, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CampaignHandlers::ListAttempts(grpc::CallbackServerContext* context,
                                                         const pb::ListAttemptsRequest* request,
                                                         pb::ListAttemptsResponse* response) {
  if (ledger_.attempts == nullptr) {
    return pb::CampaignService::CallbackService::ListAttempts(context, request, response);
  }
  return Serve(context, [this, request, response](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(const Listing<CallAttempt> listing,
                     ledger_.attempts->ListAttempts(
                         caller, ListAttemptsInput{request->run_id(), request->job_id(),
                                                   request->page_size(), request->page_token()}));
    for (const CallAttempt& attempt : listing.items) ToProto(attempt, response->add_attempts());
    response->set_next_page_token(listing.next_page_token);
    return absl::OkStatus();
  });
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
