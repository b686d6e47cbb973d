#include "net/grpc_server.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_posix.h>
#include <unistd.h>

#include <mutex>

#include "telemetry/log.h"

namespace sightline::net {
namespace {

// grpc::EnableDefaultHealthCheckService is a process-wide, not thread-safe
// switch: set it once.
void EnableHealthOnce() {
  static std::once_flag once;
  std::call_once(once, [] { grpc::EnableDefaultHealthCheckService(true); });
}

// ":4317" → "0.0.0.0:4317"; splits off the host for bound_address().
std::string NormalizeListen(const std::string& listen) {
  if (!listen.empty() && listen.front() == ':') return "0.0.0.0" + listen;
  return listen;
}

}  // namespace

GrpcServer::GrpcServer(GrpcServerOptions options) : options_(std::move(options)) {}

GrpcServer::~GrpcServer() { Stop(std::chrono::milliseconds(0)); }

void GrpcServer::RegisterService(grpc::Service* service, std::string health_name) {
  services_.push_back(service);
  if (!health_name.empty()) health_names_.push_back(std::move(health_name));
}

Status GrpcServer::Start() {
  // AdoptConnection may run on another thread as soon as the HTTP server
  // listens; it reads server_ under the same lock.
  std::lock_guard lock(stop_mu_);
  if (server_ != nullptr || stopped_) return FailedPreconditionError("gRPC server already started");
  EnableHealthOnce();
  std::string listen = NormalizeListen(options_.listen);
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return InvalidArgumentError("gRPC listen address \"" + options_.listen + "\" is not host:port");
  }
  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &selected_port);
  // gRPC sets SO_REUSEPORT by default: a second process on the same port
  // would then silently take half the traffic instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options_.max_recv_bytes);
  builder.SetMaxSendMessageSize(options_.max_send_bytes);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS,
                              options_.min_pollers);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              options_.max_pollers);
  for (grpc::Service* s : services_) builder.RegisterService(s);
  if (services_.empty()) {
    fallback_ = std::make_unique<grpc::CallbackGenericService>();
    builder.RegisterCallbackGenericService(fallback_.get());
  }
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || selected_port == 0) {
    server_.reset();
    return UnavailableError("cannot listen for gRPC on " + options_.listen);
  }
  bound_address_ = listen.substr(0, colon) + ":" + std::to_string(selected_port);
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus("", true);
    for (const std::string& name : health_names_) health->SetServingStatus(name, true);
  }
  log::Info("grpc server listening", {{"addr", bound_address_}});
  return Status::Ok();
}

std::string GrpcServer::bound_address() const { return bound_address_; }

void GrpcServer::AdoptConnection(int fd) {
  std::lock_guard lock(stop_mu_);
  if (server_ == nullptr || stopped_) {
    ::close(fd);
    return;
  }
  grpc::AddInsecureChannelFromFd(server_.get(), fd);
}

void GrpcServer::Stop(std::chrono::milliseconds drain) {
  std::lock_guard lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (server_ == nullptr) return;
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(false);
  server_->Shutdown(std::chrono::system_clock::now() + drain);
  server_->Wait();
  server_.reset();
  log::Info("grpc server stopped", {{"addr", bound_address_}});
}

}  // namespace sightline::net
