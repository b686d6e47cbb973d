// The real binary answers the standard gRPC health check on --grpc.listen.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "harness/harness.h"
#include "health.grpc.pb.h"

namespace sightline {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

TEST(GrpcHealthTest, BinaryIsServing) {
  auto s = testing::SightlineServer::Start();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_FALSE((*s)->grpc_addr().empty());
  auto channel = grpc::CreateChannel((*s)->grpc_addr(), grpc::InsecureChannelCredentials());
  auto stub = Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  HealthCheckRequest req;
  HealthCheckResponse resp;
  grpc::Status st = stub->Check(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);

  grpc::ClientContext ctx2;
  req.set_service("no.such.Service");
  st = stub->Check(&ctx2, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace sightline
