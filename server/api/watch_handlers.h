// gRPC streaming handlers of WatchRun and WatchRuns (callback API). The
// blocking first steps (authentication, authorisation, the first read) run
// on the Executor; afterwards each stream is fed by the ProgressHub.
#ifndef CAMPAIGN_SERVER_API_WATCH_HANDLERS_H_
#define CAMPAIGN_SERVER_API_WATCH_HANDLERS_H_

#include "outbound/v1/campaign_service.grpc.pb.h"
#include "server/api/executor.h"
#include "server/auth/auth.h"
#include "server/progress/hub.h"
#include "server/store/run_store.h"

namespace campaign::api {

// Serves the two watch RPCs; CampaignHandlers delegates to it.
class WatchHandlers {
 public:
  // `run_store` is used only to log cross-business probes.
  WatchHandlers(progress::ProgressHub* hub, auth::Authenticator* authenticator, Executor* executor,
                store::RunStore* run_store);

  // WatchRun: see proto/outbound/v1/campaign_service.proto.
  grpc::ServerWriteReactor<outbound::v1::WatchRunResponse>* WatchRun(
      grpc::CallbackServerContext* context, const outbound::v1::WatchRunRequest* request);
  // WatchRuns: see proto/outbound/v1/campaign_service.proto.
  grpc::ServerWriteReactor<outbound::v1::WatchRunsResponse>* WatchRuns(
      grpc::CallbackServerContext* context, const outbound::v1::WatchRunsRequest* request);

 private:
  progress::ProgressHub* hub_;
  auth::Authenticator* authenticator_;
  Executor* executor_;
  store::RunStore* run_store_;
};

}  // namespace campaign::api

#endif  // CAMPAIGN_SERVER_API_WATCH_HANDLERS_H_
