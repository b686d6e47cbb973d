#include "net/grpc_server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <string>

#include "echo.grpc.pb.h"
#include "health.grpc.pb.h"
#include "net/grpc_status.h"

namespace sightline::net {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class EchoService final : public sightline::test::Echo::Service {
  grpc::Status Echo(grpc::ServerContext*, const sightline::test::EchoMessage* req,
                    sightline::test::EchoMessage* resp) override {
    if (req->payload() == "fail") return ToGrpcStatus(InvalidArgumentError("bad payload"));
    resp->set_payload(req->payload());
    return grpc::Status::OK;
  }
};

std::shared_ptr<grpc::Channel> Dial(const std::string& addr) {
  return grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
}

grpc::Status Check(Health::Stub& stub, const std::string& service, HealthCheckResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  HealthCheckRequest req;
  req.set_service(service);
  return stub.Check(&ctx, req, resp);
}

TEST(GrpcServerTest, HealthIsServingAndServicesWork) {
  EchoService echo;
  GrpcServerOptions o;
  o.listen = "127.0.0.1:0";
  o.max_recv_bytes = 1 << 20;
  GrpcServer server(o);
  server.RegisterService(&echo, sightline::test::Echo::service_full_name());
  ASSERT_TRUE(server.Start().ok());
  std::string addr = server.bound_address();
  ASSERT_EQ(addr.rfind("127.0.0.1:", 0), 0u) << addr;
  ASSERT_NE(addr, "127.0.0.1:0");

  auto channel = Dial(addr);
  auto health = Health::NewStub(channel);
  HealthCheckResponse resp;
  grpc::Status s = Check(*health, "", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);
  s = Check(*health, "sightline.test.Echo", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);
  s = Check(*health, "no.such.Service", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);

  auto stub = sightline::test::Echo::NewStub(channel);
  {
    grpc::ClientContext ctx;
    sightline::test::EchoMessage req, out;
    req.set_payload("hi");
    ASSERT_TRUE(stub->Echo(&ctx, req, &out).ok());
    EXPECT_EQ(out.payload(), "hi");
  }
  {
    grpc::ClientContext ctx;
    sightline::test::EchoMessage req, out;
    req.set_payload("fail");
    grpc::Status st = stub->Echo(&ctx, req, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(FromGrpcStatus(st), InvalidArgumentError("bad payload"));
  }
  {
    // Over max_recv_bytes, and the same gzip-compressed: the limit applies
    // to the decompressed message.
    for (bool gzip : {false, true}) {
      grpc::ClientContext ctx;
      if (gzip) ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
      sightline::test::EchoMessage req, out;
      req.set_payload(std::string(2 << 20, 'a'));
      grpc::Status st = stub->Echo(&ctx, req, &out);
      EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << "gzip=" << gzip;
    }
  }

  server.Stop(std::chrono::milliseconds(100));
  auto fresh = Health::NewStub(Dial(addr));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  HealthCheckRequest req;
  EXPECT_FALSE(fresh->Check(&ctx, req, &resp).ok()) << "still serving after Stop";
}

TEST(GrpcServerTest, BusyPortIsUnavailable) {
  GrpcServer a(GrpcServerOptions{.listen = "127.0.0.1:0"});
  ASSERT_TRUE(a.Start().ok());
  GrpcServer b(GrpcServerOptions{.listen = a.bound_address()});
  Status s = b.Start();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_EQ(a.Start().code(), StatusCode::kFailedPrecondition);
}

TEST(GrpcServerTest, HealthWorksWithoutServices) {
  GrpcServer server(GrpcServerOptions{.listen = "127.0.0.1:0"});
  Status s = server.Start();
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto health = Health::NewStub(Dial(server.bound_address()));
  HealthCheckResponse resp;
  grpc::Status st = Check(*health, "", &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);
}

TEST(GrpcStatusTest, CodesMapOneToOne) {
  for (int c = 1; c <= 16; ++c) {
    Status s(static_cast<StatusCode>(c), "m");
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), c);
    EXPECT_EQ(FromGrpcStatus(g), s);
  }
  EXPECT_TRUE(ToGrpcStatus(Status::Ok()).ok());
}

}  // namespace
}  // namespace sightline::net
