// gRPC handlers of outbound.v1.CampaignService (callback API). Each unary
// handler translates the request to domain types, runs the RunService method
// for the authenticated caller through the CallRunner (server/api/call.h) and
// translates the result back; the two watches go to WatchHandlers.
#ifndef CAMPAIGN_SERVER_API_CAMPAIGN_HANDLERS_H_
#define CAMPAIGN_SERVER_API_CAMPAIGN_HANDLERS_H_

#include <functional>

#include "outbound/v1/campaign_service.grpc.pb.h"
#include "server/api/call.h"
#include "server/service/attempt_service.h"
#include "server/service/dnc_service.h"
#include "server/service/policy_service.h"
#include "server/service/preview_service.h"
#include "server/service/run_service.h"

namespace campaign::api {

// Serves the two watches (server/api/watch_handlers.h). Only this file's .cc
// includes that header; the watch handlers never include this one.
class WatchHandlers;

// The services behind the do-not-call and attempt-ledger RPCs; a null one
// leaves its RPCs UNIMPLEMENTED. None is owned.
struct LedgerServices {
  DoNotCallService* do_not_call = nullptr;
  AttemptService* attempts = nullptr;
  // PreviewRun.
  PreviewService* preview = nullptr;
};

// The CampaignService implementation.
class CampaignHandlers final : public outbound::v1::CampaignService::CallbackService {
 public:
  // `calls` runs every unary call; `watch` serves WatchRun and WatchRuns,
  // `policies` GetDialingPolicy and UpdateDialingPolicy, `ledger` the
  // do-not-call list and ListAttempts (UNIMPLEMENTED when null). None is
  // owned.
  CampaignHandlers(RunService* service, CallRunner* calls, WatchHandlers* watch = nullptr,
                   PolicyService* policies = nullptr, LedgerServices ledger = {});

  grpc::ServerUnaryReactor* CreateRun(grpc::CallbackServerContext* context,
                                      const outbound::v1::CreateRunRequest* request,
                                      outbound::v1::CreateRunResponse* response) override;
  grpc::ServerUnaryReactor* AddLeads(grpc::CallbackServerContext* context,
                                     const outbound::v1::AddLeadsRequest* request,
                                     outbound::v1::AddLeadsResponse* response) override;
  grpc::ServerUnaryReactor* GetRun(grpc::CallbackServerContext* context,
                                   const outbound::v1::GetRunRequest* request,
                                   outbound::v1::OutboundCallRun* response) override;
  grpc::ServerUnaryReactor* GetBusiness(grpc::CallbackServerContext* context,
                                        const outbound::v1::GetBusinessRequest* request,
                                        outbound::v1::Business* response) override;
  grpc::ServerUnaryReactor* ListRuns(grpc::CallbackServerContext* context,
                                     const outbound::v1::ListRunsRequest* request,
                                     outbound::v1::ListRunsResponse* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const outbound::v1::ListJobsRequest* request,
                                     outbound::v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* StopRun(grpc::CallbackServerContext* context,
                                    const outbound::v1::StopRunRequest* request,
                                    outbound::v1::StopRunResponse* response) override;
  grpc::ServerUnaryReactor* CancelRun(grpc::CallbackServerContext* context,
                                      const outbound::v1::CancelRunRequest* request,
                                      outbound::v1::OutboundCallRun* response) override;
  grpc::ServerUnaryReactor* PauseRun(grpc::CallbackServerContext* context,
                                     const outbound::v1::PauseRunRequest* request,
                                     outbound::v1::OutboundCallRun* response) override;
  grpc::ServerUnaryReactor* ResumeRun(grpc::CallbackServerContext* context,
                                      const outbound::v1::ResumeRunRequest* request,
                                      outbound::v1::OutboundCallRun* response) override;
  // The do-not-call list and the attempt ledger.
  grpc::ServerUnaryReactor* AddDoNotCallNumbers(
      grpc::CallbackServerContext* context, const outbound::v1::AddDoNotCallNumbersRequest* request,
      outbound::v1::AddDoNotCallNumbersResponse* response) override;
  grpc::ServerUnaryReactor* RemoveDoNotCallNumbers(
      grpc::CallbackServerContext* context,
      const outbound::v1::RemoveDoNotCallNumbersRequest* request,
      outbound::v1::RemoveDoNotCallNumbersResponse* response) override;
  grpc::ServerUnaryReactor* ListDoNotCallNumbers(
      grpc::CallbackServerContext* context,
      const outbound::v1::ListDoNotCallNumbersRequest* request,
      outbound::v1::ListDoNotCallNumbersResponse* response) override;
  grpc::ServerUnaryReactor* PreviewRun(grpc::CallbackServerContext* context,
                                       const outbound::v1::PreviewRunRequest* request,
                                       outbound::v1::PreviewRunResponse* response) override;
  grpc::ServerUnaryReactor* ListAttempts(grpc::CallbackServerContext* context,
                                         const outbound::v1::ListAttemptsRequest* request,
                                         outbound::v1::ListAttemptsResponse* response) override;
  // Dialing policies.
  grpc::ServerUnaryReactor* GetDialingPolicy(grpc::CallbackServerContext* context,
                                             const outbound::v1::GetDialingPolicyRequest* request,
                                             outbound::v1::DialingPolicy* response) override;
  grpc::ServerUnaryReactor* UpdateDialingPolicy(
      grpc::CallbackServerContext* context, const outbound::v1::UpdateDialingPolicyRequest* request,
      outbound::v1::DialingPolicy* response) override;
  grpc::ServerWriteReactor<outbound::v1::WatchRunResponse>* WatchRun(
      grpc::CallbackServerContext* context, const outbound::v1::WatchRunRequest* request) override;
  grpc::ServerWriteReactor<outbound::v1::WatchRunsResponse>* WatchRuns(
      grpc::CallbackServerContext* context, const outbound::v1::WatchRunsRequest* request) override;

 private:
  // CallRunner::ServeUnary.
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context,
                                  std::function<absl::Status(const Caller&)> body);
  // Serves CancelRun (with its hang_up choice), PauseRun and ResumeRun.
  grpc::ServerUnaryReactor* ServeChange(grpc::CallbackServerContext* context, int64_t run_id,
                                        RunAction action, outbound::v1::OutboundCallRun* response,
                                        bool hang_up = true);

  RunService* service_;
  CallRunner* calls_;
  WatchHandlers* watch_;
  PolicyService* policies_;
  LedgerServices ledger_;
};

}  // namespace campaign::api

#endif  // CAMPAIGN_SERVER_API_CAMPAIGN_HANDLERS_H_
