#include "server/api/status.h"

#include <string>

namespace campaign::api {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = static_cast<int>(status.code());
  // absl has no code beyond UNAUTHENTICATED (16) that gRPC knows; anything
  // else would be a bug, reported as UNKNOWN rather than passed through.
  const auto grpc_code =
      (code >= 1 && code <= 16) ? static_cast<grpc::StatusCode>(code) : grpc::StatusCode::UNKNOWN;
  return grpc::Status(grpc_code, std::string(status.message()));
}

}  // namespace campaign::api
