// A gRPC server interceptor for every call (the API, health and reflection):
// takes the caller's x-request-id (or generates one) and makes it visible to
// the handler in the received metadata, echoes it in the response's initial
// metadata, logs one line per finished call (method, code, latency, request
// id, peer) and feeds campaign_rpcs_total / campaign_rpc_duration_seconds.
// Only the server assembly includes this header (it pulls in grpcpp).
#ifndef CAMPAIGN_SERVER_OBSERVABILITY_RPC_INTERCEPTOR_H_
#define CAMPAIGN_SERVER_OBSERVABILITY_RPC_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include <string>

#include "absl/strings/string_view.h"

namespace campaign::observability {

class Metrics;

inline constexpr char kRequestIdHeader[] = "x-request-id";

// True for a request id taken as the caller sent it: 1..128 characters of
// letters, digits and - _ . : / + =. Anything else is replaced by a generated id.
bool IsAcceptableRequestId(absl::string_view id);

// "OK", "NOT_FOUND", ... for a gRPC status code.
absl::string_view StatusCodeName(grpc::StatusCode code);

class RpcInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `metrics` may be null (no metrics); not owned.
  explicit RpcInterceptorFactory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  Metrics* metrics_;
};

}  // namespace campaign::observability

#endif  // CAMPAIGN_SERVER_OBSERVABILITY_RPC_INTERCEPTOR_H_
