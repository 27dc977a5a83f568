// The one place where absl::Status becomes grpc::Status.
#ifndef CAMPAIGN_SERVER_API_STATUS_H_
#define CAMPAIGN_SERVER_API_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace campaign::api {

// Same code (the two enums share their numbering) and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace campaign::api

#endif  // CAMPAIGN_SERVER_API_STATUS_H_
