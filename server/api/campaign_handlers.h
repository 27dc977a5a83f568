// gRPC handlers of outbound.v1.CampaignService (callback API). Each handler
// authenticates the call, translates the request to domain types, runs the
// RunService method on the executor and translates the result back.
#ifndef CAMPAIGN_SERVER_API_CAMPAIGN_HANDLERS_H_
#define CAMPAIGN_SERVER_API_CAMPAIGN_HANDLERS_H_

#include <functional>
#include <string_view>

#include "outbound/v1/campaign_service.grpc.pb.h"
#include "server/api/executor.h"
#include "server/auth/auth.h"
#include "server/service/run_service.h"

namespace campaign::api {

class WatchHandlers;

// Metadata keys the service reads.
inline constexpr char kAuthorizationHeader[] = "authorization";
inline constexpr char kBusinessIdHeader[] = "x-business-id";
// Set by the RPC interceptor (server/observability/rpc_interceptor.h) to the
// caller's value or a generated one: exactly one per call.
inline constexpr char kRequestIdHeader[] = "x-request-id";

// The call's request id (empty if none), for log lines.
std::string RequestIdOf(const grpc::CallbackServerContext& context);

// Authenticates a call from its metadata: the caller, or UNAUTHENTICATED /
// INVALID_ARGUMENT / UNAVAILABLE. Blocking (may read the key store).
absl::StatusOr<Caller> AuthenticateCall(const grpc::CallbackServerContext& context,
                                        auth::Authenticator* authenticator);

// The CampaignService implementation.
class CampaignHandlers final : public outbound::v1::CampaignService::CallbackService {
 public:
  // `watch` serves WatchRun and WatchRuns (UNIMPLEMENTED when null).
  CampaignHandlers(RunService* service, auth::Authenticator* authenticator, Executor* executor,
                   WatchHandlers* watch = nullptr);

  grpc::ServerUnaryReactor* CreateRun(grpc::CallbackServerContext* context,
                                      const outbound::v1::CreateRunRequest* request,
                                      outbound::v1::CreateRunResponse* response) override;
  grpc::ServerUnaryReactor* AddLeads(grpc::CallbackServerContext* context,
                                     const outbound::v1::AddLeadsRequest* request,
                                     outbound::v1::AddLeadsResponse* response) override;
  grpc::ServerUnaryReactor* GetRun(grpc::CallbackServerContext* context,
                                   const outbound::v1::GetRunRequest* request,
                                   outbound::v1::OutboundCallRun* response) override;
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
  grpc::ServerWriteReactor<outbound::v1::WatchRunResponse>* WatchRun(
      grpc::CallbackServerContext* context, const outbound::v1::WatchRunRequest* request) override;
  grpc::ServerWriteReactor<outbound::v1::WatchRunsResponse>* WatchRuns(
      grpc::CallbackServerContext* context, const outbound::v1::WatchRunsRequest* request) override;

 private:
  // Authenticates the call and runs `body` with its caller on the executor,
  // then finishes the call with the status `body` returns.
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context,
                                  std::function<absl::Status(const Caller&)> body);
  // Serves CancelRun, PauseRun and ResumeRun.
  grpc::ServerUnaryReactor* ServeChange(grpc::CallbackServerContext* context, int64_t run_id,
                                        RunAction action, outbound::v1::OutboundCallRun* response);

  RunService* service_;
  auth::Authenticator* authenticator_;
  Executor* executor_;
  WatchHandlers* watch_;
};

}  // namespace campaign::api

#endif  // CAMPAIGN_SERVER_API_CAMPAIGN_HANDLERS_H_
