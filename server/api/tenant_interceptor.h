// The tenant interceptor: on every CampaignService call it parses and checks
// the tenant metadata (`authorization`, `x-business-id`), answers the key from
// the auth cache when it can, and records the result as the call's
// CallContext in the CallRegistry for the handler (server/api/call.h).
//
// An interceptor cannot stop a handler (gRPC 1.51), so it only records: the
// handler (CallRunner) refuses what the context says is refused, and refuses
// every call that has no context. The context never travels in metadata, so
// a client cannot forge it. Health and reflection calls get no interceptor.
#ifndef CAMPAIGN_SERVER_API_TENANT_INTERCEPTOR_H_
#define CAMPAIGN_SERVER_API_TENANT_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include <string>

#include "server/api/call.h"
#include "server/auth/auth.h"

namespace campaign::api {

// Creates a tenant interceptor for each call of a method whose full name
// starts with `method_prefix` ("/outbound.v1.CampaignService/").
class TenantInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // Neither is owned; both must outlive the server.
  TenantInterceptorFactory(CallRegistry* registry, auth::Authenticator* authenticator,
                           std::string method_prefix);
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  CallRegistry* registry_;
  auth::Authenticator* authenticator_;
  const std::string method_prefix_;
};

}  // namespace campaign::api

#endif  // CAMPAIGN_SERVER_API_TENANT_INTERCEPTOR_H_
