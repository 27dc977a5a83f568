// gRPC streaming handlers of WatchRun and WatchRuns (callback API). The
// blocking first steps (authentication through the CallRunner, authorisation,
// the first read) run on the Executor; afterwards each stream is fed by the
// ProgressHub.
#ifndef CAMPAIGN_SERVER_API_WATCH_HANDLERS_H_
#define CAMPAIGN_SERVER_API_WATCH_HANDLERS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "outbound/v1/campaign_service.grpc.pb.h"
#include "server/api/call.h"
#include "server/auth/auth.h"
#include "server/progress/hub.h"
#include "server/store/run_store.h"

namespace campaign::api {

// Serves the two watch RPCs; CampaignHandlers delegates to it.
//
// A stream's key is checked when it opens and again every `recheck_interval`
// (at most the auth cache TTL) while it is open, and at once whenever any
// call's lookup finds the key revoked: a stream whose key is revoked or gone
// ends with UNAUTHENTICATED and is sent nothing more.
class WatchHandlers {
 public:
  // `calls` opens each stream; `run_store` is used only to log
  // cross-business probes. Registers itself as `authenticator`'s revocation
  // listener and starts the re-check thread. None is owned.
  WatchHandlers(progress::ProgressHub* hub, auth::Authenticator* authenticator, CallRunner* calls,
                store::RunStore* run_store, absl::Duration recheck_interval);
  // Stops the re-check thread.
  ~WatchHandlers();
  WatchHandlers(const WatchHandlers&) = delete;
  WatchHandlers& operator=(const WatchHandlers&) = delete;

  // WatchRun: see proto/outbound/v1/campaign_service.proto.
  grpc::ServerWriteReactor<outbound::v1::WatchRunResponse>* WatchRun(
      grpc::CallbackServerContext* context, const outbound::v1::WatchRunRequest* request);
  // WatchRuns: see proto/outbound/v1/campaign_service.proto.
  grpc::ServerWriteReactor<outbound::v1::WatchRunsResponse>* WatchRuns(
      grpc::CallbackServerContext* context, const outbound::v1::WatchRunsRequest* request);

 private:
  // An open stream and the credentials it was opened with.
  struct Watched {
    std::weak_ptr<progress::Subscription> subscription;
    std::string authorization;
    int64_t api_key_id = 0;
  };

  // Remembers an open stream for re-checks.
  void Register(const std::shared_ptr<progress::Subscription>& subscription,
                std::string authorization, int64_t api_key_id);
  // Ends every open stream of key `api_key_id` with `status`.
  void EndStreamsOfKey(int64_t api_key_id, const absl::Status& status);
  // Every `recheck_interval_`: authenticates each open stream's key again.
  void RecheckLoop();

  progress::ProgressHub* hub_;
  auth::Authenticator* authenticator_;
  CallRunner* calls_;
  store::RunStore* run_store_;
  const absl::Duration recheck_interval_;
  absl::Mutex mu_;
  std::vector<Watched> watched_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread recheck_thread_;
};

}  // namespace campaign::api

#endif  // CAMPAIGN_SERVER_API_WATCH_HANDLERS_H_
