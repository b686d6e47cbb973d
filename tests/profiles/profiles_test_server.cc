// The profiles signal alone behind a real HTTP server, wired as the
// sightline binary wires it (ProfilesSignal: ingester, distributor,
// querier), with the binary's flags and its "listening" log line so that
// testing::SightlineServer can start it. The end-to-end tests use it so that
// they do not need every other signal built; with
// SIGHTLINE_PROFILES_USE_BINARY=1 they run against the real binary instead.
#include <signal.h>

#include <cstdio>
#include <filesystem>

#include "config/config.h"
#include "io/object_store.h"
#include "io/storage_config.h"
#include "net/http.h"
#include "net/http_server.h"
#include "profiles/module/profiles_signal.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

using namespace sightline;

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto cl = config::ParseCommandLine(args);
  if (!cl.ok()) {
    std::fprintf(stderr, "profiles_test_server: %s\n", cl.status().message().c_str());
    return 2;
  }
  config::Config cfg = std::move(cl->config);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (cfg.storage.backend == "filesystem") {
    std::error_code ec;
    std::filesystem::create_directories(cfg.storage.filesystem_path, ec);
  }
  auto store = io::OpenObjectStore(cfg.storage);
  if (!store.ok()) {
    log::Error("object store", {{"err", store.status().ToString()}});
    return 1;
  }
  net::Router router;
  net::RouteOptions ops;
  ops.tenant = false;
  router.Handle(
      "GET", "/ready", [](net::HttpRequest&, net::HttpResponse& r) { r.Text(200, "ready\n"); },
      ops);
  router.Handle(
      "GET", "/metrics",
      [](net::HttpRequest&, net::HttpResponse& r) {
        r.Text(200, telemetry::Registry::Default().Expose());
      },
      ops);
  profiles::ProfilesSignal signal(&cfg, &router);
  Status s = signal.StartIngester(store->get());
  if (s.ok()) s = signal.StartDistributor();
  if (s.ok()) s = signal.StartQuerier();
  if (!s.ok()) {
    log::Error("failed to start", {{"err", s.ToString()}});
    return 1;
  }
  net::HttpServerOptions h;
  h.listen = cfg.http.listen;
  h.multitenancy = cfg.multitenancy_enabled;
  h.max_body_bytes = cfg.http.max_body_bytes;
  h.max_decompressed_bytes = cfg.http.max_decompressed_bytes;
  auto http = net::HttpServer::Start(h, &router, &telemetry::Registry::Default());
  if (!http.ok()) {
    log::Error("http server", {{"err", http.status().ToString()}});
    return 1;
  }
  log::Info("listening", {{"http", (*http)->bound_address()}, {"grpc", "none"}});
  int sig = 0;
  sigwait(&sigs, &sig);
  (*http)->Stop(std::chrono::milliseconds(1000));
  signal.Stop();
  return 0;
}
