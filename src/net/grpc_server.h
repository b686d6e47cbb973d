// GrpcServer: one gRPC server (OTLP receivers on 4317, and later internal
// APIs) with the standard grpc.health.v1.Health service.
//
// Usage: construct, RegisterService() each service (not owned; must outlive
// the server), Start(), and Stop() (or let the destructor stop it). The
// health service reports SERVING for "" (the whole server) and for each
// service registered with a health name, from Start() until Stop() begins;
// other names answer NOT_FOUND, as the health protocol says.
//
// gRPC stays out of this header; signal modules include their generated
// service headers and net/grpc_status.h in their own .cc files.
//
// Thread-safety: RegisterService and Start from one thread, before serving;
// bound_address, AdoptConnection and Stop from any thread; Stop is idempotent.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"

namespace grpc {
class CallbackGenericService;
class Server;
class Service;
}  // namespace grpc

namespace sightline::net {

struct GrpcServerOptions {
  // "host:port", "[v6]:port" or ":port" (all interfaces); port 0 picks one.
  std::string listen = "0.0.0.0:4317";
  // Largest message accepted (after grpc-encoding decompression), as OTLP
  // collectors configure it.
  int max_recv_bytes = 16 << 20;
  // Largest message sent.
  int max_send_bytes = 64 << 20;
  // Threads of the synchronous server waiting for calls. gRPC's default
  // (at most 2) makes every thread that finishes a call while two others
  // wait exit, and a new one start for the next call: under concurrent
  // unary calls (OTLP exporters) that is a thread created and destroyed per
  // call. Idle pollers cost a parked thread each.
  int min_pollers = 1;
  int max_pollers = 16;
};

class GrpcServer {
 public:
  explicit GrpcServer(GrpcServerOptions options);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Before Start(). Not owned. `health_name` is the service's full name for
  // the health service, e.g. Foo::service_full_name() of the generated
  // code ("opentelemetry.proto.collector.trace.v1.TraceService"); "" leaves
  // it out of health checks (the server-wide "" entry still reports).
  void RegisterService(grpc::Service* service, std::string health_name = "");

  // Binds and starts serving. Unavailable if the address cannot be bound,
  // FailedPrecondition if already started.
  Status Start();

  // "host:port" with the port actually bound; "" before Start().
  std::string bound_address() const;

  // Serves gRPC (plaintext HTTP/2, "h2c") on an already accepted TCP
  // connection, e.g. one the HTTP server recognized by its HTTP/2 preface
  // (HttpServerOptions::on_h2c_connection). Takes ownership of `fd`: it is
  // closed here when the server is not running (before Start, after Stop).
  // The bytes the peer sent must still be unread. Any thread; waits while
  // Stop() drains (both hold one lock), so stop the HTTP server that calls
  // it first, as the app does, or an I/O thread blocks for up to the drain.
  void AdoptConnection(int fd);

  // Marks health NOT_SERVING, stops accepting calls, lets calls in progress
  // run for up to `drain`, then cancels them and returns.
  void Stop(std::chrono::milliseconds drain);

 private:
  GrpcServerOptions options_;
  std::vector<grpc::Service*> services_;
  std::vector<std::string> health_names_;
  // gRPC refuses to start a server with no service at all; this one answers
  // UNIMPLEMENTED to everything and lets the health service run alone.
  std::unique_ptr<grpc::CallbackGenericService> fallback_;
  std::unique_ptr<grpc::Server> server_;
  std::string bound_address_;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace sightline::net
