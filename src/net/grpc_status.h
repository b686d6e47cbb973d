// Conversions between sightline::Status and grpc::Status, for the .cc files
// that implement gRPC services. Includes grpcpp: never include this from a
// header. Both sides use the canonical gRPC codes, so the mapping is 1:1.
#pragma once

#include <grpcpp/support/status.h>

#include "base/status.h"

namespace sightline::net {

inline grpc::Status ToGrpcStatus(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())), s.message());
}

inline Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return Status::Ok();
  return Status(static_cast<StatusCode>(static_cast<int>(s.error_code())), s.error_message());
}

}  // namespace sightline::net
