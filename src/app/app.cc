#include "app/app.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>

#include "config/version.h"  // generated
#include "io/object_store.h"
#include "logs/module/logs_signal.h"
#include "metrics/module/metrics_signal.h"
#include "metrics/scrape/scrape_config.h"
#include "net/grpc_server.h"
#include "net/http.h"
#include "net/http_server.h"
#include "profiles/module/profiles_signal.h"
#include "telemetry/cpu_profiler.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "telemetry/process_metrics.h"
#include "traces/module/traces_signal.h"

namespace sightline::app {

App::App(config::Config cfg) : cfg_(std::move(cfg)), router_(std::make_unique<net::Router>()) {
  // Built now, started after every module registered its services.
  net::GrpcServerOptions g;
  g.listen = cfg_.grpc.listen;
  g.max_recv_bytes = static_cast<int>(cfg_.grpc.max_recv_bytes);
  grpc_ = std::make_unique<net::GrpcServer>(g);
  RegisterModules();
}

App::~App() { Stop(); }

telemetry::Registry& App::registry() { return telemetry::Registry::Default(); }

std::string App::http_address() const { return http_ ? http_->bound_address() : ""; }
std::string App::grpc_address() const { return grpc_ ? grpc_->bound_address() : ""; }

void App::RegisterModules() {
  // Shared services. Roles depend on them; they are not roles themselves.
  modules_.Register({.name = "self-telemetry",
                     .deps = {},
                     .is_role = false,
                     .start =
                         [this] {
                           static bool once = [this] {
                             telemetry::RegisterProcessCollector(registry());
                             registry()
                                 .AddGauge("sightline_build_info",
                                           "A metric with a constant '1' value labeled by version, "
                                           "revision and build type.",
                                           {"version", "revision", "build_type"})
                                 .WithLabels({kVersion, kRevision, kBuildType})
                                 .Set(1);
                             return true;
                           }();
                           (void)once;
                           return Status::Ok();
                         },
                     .stop = nullptr});
  modules_.Register({.name = "server",
                     .deps = {"self-telemetry"},
                     .is_role = false,
                     .start =
                         [this] {
                           RegisterOperationalRoutes();
                           return Status::Ok();
                         },
                     .stop = nullptr});
  modules_.Register({.name = "object-store",
                     .deps = {"self-telemetry"},
                     .is_role = false,
                     .start =
                         [this]() -> Status {
                           if (cfg_.storage.backend == "filesystem") {
                             std::error_code ec;
                             std::filesystem::create_directories(cfg_.storage.filesystem_path, ec);
                           }
                           SL_ASSIGN_OR_RETURN(store_, io::OpenObjectStore(cfg_.storage));
                           log::Info("object store ready", {{"store", store_->Describe()}});
                           return Status::Ok();
                         },
                     .stop = [this] { store_.reset(); }});

  // Signals. Each registers the modules that make up its part of a role.
  metrics_ = std::make_unique<metrics::MetricsSignal>(&cfg_, router_.get(), grpc_.get());
  modules_.Register({.name = "metrics-ingester",
                     .deps = {"server", "object-store"},
                     .is_role = false,
                     .start = [this] { return metrics_->StartIngester(store_.get()); },
                     .stop = [this] { metrics_->Stop(); }});
  modules_.Register({.name = "metrics-distributor",
                     .deps = {"server", "metrics-ingester"},
                     .is_role = false,
                     .start = [this] { return metrics_->StartDistributor(); },
                     .stop = nullptr});
  modules_.Register({.name = "metrics-querier",
                     .deps = {"server", "metrics-ingester"},
                     .is_role = false,
                     .start = [this] { return metrics_->StartQuerier(); },
                     .stop = nullptr});
  modules_.Register({.name = "metrics-store-gateway",
                     .deps = {"server", "object-store", "metrics-ingester"},
                     .is_role = false,
                     .start = [this] { return metrics_->StartStoreGateway(); },
                     .stop = nullptr});
  modules_.Register({.name = "metrics-scraper",
                     .deps = {"server", "metrics-ingester"},
                     .is_role = false,
                     .start = [this] { return metrics_->StartScraper(); },
                     .stop = nullptr});

  traces_ = std::make_unique<traces::TracesSignal>(&cfg_, router_.get(), grpc_.get());
  modules_.Register({.name = "traces-ingester",
                     .deps = {"server", "object-store"},
                     .is_role = false,
                     .start = [this] { return traces_->StartIngester(store_.get()); },
                     .stop = [this] { traces_->Stop(); }});
  modules_.Register({.name = "traces-distributor",
                     .deps = {"server", "traces-ingester", "metrics-ingester"},
                     .is_role = false,
                     .start =
                         [this] {
                           // Metrics from traces go into the metrics store.
                           traces_->SetMetricsAppendable(metrics_->appendable());
                           return traces_->StartDistributor();
                         },
                     .stop = nullptr});
  modules_.Register({.name = "traces-querier",
                     .deps = {"server", "traces-ingester"},
                     .is_role = false,
                     .start = [this] { return traces_->StartQuerier(); },
                     .stop = nullptr});
  // The gateway role (an OTel Collector gateway): receivers -> tail
  // sampling -> persistent queue -> OTLP/HTTP to traces.gateway.endpoint.
  modules_.Register({.name = "traces-gateway",
                     .deps = {"server"},
                     .is_role = false,
                     .start = [this] { return traces_->StartGateway(); },
                     .stop = [this] { traces_->Stop(); }});

  logs_ = std::make_unique<logs::LogsSignal>(&cfg_, router_.get(), grpc_.get());
  modules_.Register({.name = "logs-ingester",
                     .deps = {"server", "object-store"},
                     .is_role = false,
                     .start = [this] { return logs_->StartIngester(store_.get()); },
                     .stop = [this] { logs_->Stop(); }});
  modules_.Register({.name = "logs-distributor",
                     .deps = {"server", "logs-ingester"},
                     .is_role = false,
                     .start = [this] { return logs_->StartDistributor(); },
                     .stop = nullptr});
  modules_.Register({.name = "logs-querier",
                     .deps = {"server", "logs-ingester"},
                     .is_role = false,
                     .start = [this] { return logs_->StartQuerier(); },
                     .stop = nullptr});

  profiles_ = std::make_unique<profiles::ProfilesSignal>(&cfg_, router_.get());
  modules_.Register({.name = "profiles-ingester",
                     .deps = {"server", "object-store"},
                     .is_role = false,
                     .start = [this] { return profiles_->StartIngester(store_.get()); },
                     .stop = [this] { profiles_->Stop(); }});
  modules_.Register({.name = "profiles-distributor",
                     .deps = {"server", "profiles-ingester"},
                     .is_role = false,
                     .start = [this] { return profiles_->StartDistributor(); },
                     .stop = nullptr});
  modules_.Register({.name = "profiles-querier",
                     .deps = {"server", "profiles-ingester"},
                     .is_role = false,
                     .start = [this] { return profiles_->StartQuerier(); },
                     .stop = nullptr});
  modules_.Register({.name = "profiles-scraper",
                     .deps = {"server", "profiles-ingester"},
                     .is_role = false,
                     .start = [this] { return profiles_->StartScraper(); },
                     .stop = nullptr});  // stopped by profiles-ingester
  // The agent role's pprof scrape (DESIGN.md: Pyroscope's agent): into the
  // local profiles ingester when this process runs one (deps adjusted
  // below), else pushed to profiles.remote_write.url.
  modules_.Register({.name = "profiles-agent",
                     .deps = {"server"},
                     .is_role = false,
                     .start = [this] { return profiles_->StartScraper(); },
                     .stop = [this] { profiles_->Stop(); }});

  // Roles from DESIGN.md §1: a role is the union of the signals' modules for
  // it.
  const std::map<std::string, std::vector<std::string>> role_modules = {
      {"distributor", {"profiles-distributor", "traces-distributor", "metrics-distributor", "logs-distributor"}},
      {"ingester", {"profiles-ingester", "traces-ingester", "metrics-ingester", "logs-ingester"}},
      {"querier", {"profiles-querier", "traces-querier", "metrics-querier", "logs-querier"}},
      {"scraper", {"metrics-scraper", "profiles-scraper"}},
      {"agent", {"profiles-agent"}},
      {"store-gateway", {"metrics-store-gateway"}},
      {"gateway", {"traces-gateway"}},
  };
  for (const char* role : {"distributor", "ingester", "querier", "query-frontend",
                           "store-gateway", "compactor", "scraper", "agent", "gateway", "ruler",
                           "ring"}) {
    std::vector<std::string> deps = {"server", "object-store"};
    if (auto it = role_modules.find(role); it != role_modules.end()) {
      deps.insert(deps.end(), it->second.begin(), it->second.end());
    }
    modules_.Register({.name = role,
                       .deps = std::move(deps),
                       .is_role = true,
                       .start = nullptr,
                       .stop = nullptr});
  }
  // Simple scalable deployment groups, as in Loki.
  modules_.RegisterGroup("write", {"distributor", "ingester"});
  modules_.RegisterGroup("read", {"query-frontend", "querier"});
  modules_.RegisterGroup("backend", {"compactor", "store-gateway", "ruler"});
  // `all` is every role but the gateway (a separate tier in front of the
  // distributors, which it would clash with: same receivers).
  {
    std::vector<std::string> all;
    for (const auto& r : modules_.Roles()) {
      if (r != "gateway") all.push_back(r);
    }
    modules_.RegisterGroup("all", std::move(all));
  }
  // With a local profiles ingester in this process (e.g. --target=all or
  // agent,ingester) the agent scrapes into it, so it starts after it.
  if (auto order = modules_.Resolve(cfg_.target);
      order.ok() && std::find(order->begin(), order->end(), "profiles-ingester") != order->end()) {
    modules_.Register({.name = "profiles-agent",
                       .deps = {"server", "profiles-ingester"},
                       .is_role = false,
                       .start = [this] { return profiles_->StartScraper(); },
                       .stop = nullptr});  // stopped by profiles-ingester
  }
}

Status App::Reload() {
  const auto& started = modules_.started();
  if (!metrics_ ||
      std::find(started.begin(), started.end(), "metrics-scraper") == started.end()) {
    return Status::Ok();  // nothing reloadable runs
  }
  Status s = metrics_->ReloadScrapeConfig();
  if (s.ok()) {
    log::Info("configuration reloaded", {{"file", cfg_.config_file}});
  } else {
    log::Error("configuration reload failed", {{"err", s.ToString()}});
  }
  return s;
}

void App::RegisterOperationalRoutes() {
  net::RouteOptions ops;
  ops.tenant = false;

  auto ready = [this](net::HttpRequest&, net::HttpResponse& resp) {
    if (ready_.load()) {
      resp.Text(200, "ready\n");
    } else {
      resp.Text(503, "not ready: starting or stopping\n");
    }
  };
  ops.name = "ready";
  router_->Handle("GET", "/ready", ready, ops);
  router_->Handle("GET", "/-/ready", ready, ops);

  ops.name = "healthy";
  router_->Handle("GET", "/-/healthy", [](net::HttpRequest&, net::HttpResponse& resp) {
    resp.Text(200, "Sightline is Healthy.\n");
  }, ops);

  ops.name = "metrics";
  router_->Handle("GET", "/metrics", [this](net::HttpRequest&, net::HttpResponse& resp) {
    resp.status = 200;
    resp.body = registry().Expose();
    resp.SetHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  }, ops);

  ops.name = "config";
  router_->Handle("GET", "/config", [this](net::HttpRequest&, net::HttpResponse& resp) {
    resp.status = 200;
    // scrape_configs are read by the scraper itself; shown with secrets
    // replaced by <secret>.
    resp.body = config::ToYaml(cfg_) + metrics::scrape::RedactedScrapeConfigsYaml(cfg_.file_text);
    resp.SetHeader("Content-Type", "text/plain; charset=utf-8");
  }, ops);

  // Prometheus's reload: re-reads scrape_configs from the configuration
  // file (SIGHUP does the same).
  ops.name = "reload";
  auto reload = [this](net::HttpRequest&, net::HttpResponse& resp) {
    Status s = Reload();
    if (s.ok()) {
      resp.Text(200, "");
    } else {
      resp.Text(500, "failed to reload config: " + s.message() + "\n");
    }
  };
  router_->Handle("POST", "/-/reload", reload, ops);
  router_->Handle("PUT", "/-/reload", reload, ops);

  ops.name = "services";
  router_->Handle("GET", "/services", [this](net::HttpRequest&, net::HttpResponse& resp) {
    std::string out;
    for (const auto& m : modules_.started()) out += m + " => Running\n";
    resp.Text(200, out);
  }, ops);

  // Go-compatible profiling endpoints (docs/pprof.md). Only the CPU profile
  // exists: glibc malloc offers no sampling hook for heap profiles.
  ops.name = "debug_pprof";
  router_->Handle("GET", "/debug/pprof/", [](net::HttpRequest&, net::HttpResponse& resp) {
    resp.status = 200;
    resp.SetHeader("Content-Type", "text/html; charset=utf-8");
    resp.body =
        "<html><head><title>/debug/pprof/</title></head><body>\n"
        "<p>Profiles:</p>\n"
        "<a href=\"profile?seconds=30\">profile</a>: CPU profile of the whole process "
        "(pprof format, gzipped; ?seconds=N, default 30)<br>\n"
        "</body></html>\n";
  }, ops);
  router_->Handle("GET", "/debug/pprof/profile", [](net::HttpRequest& req,
                                                     net::HttpResponse& resp) {
    int seconds = 30;
    if (auto s = req.Param("seconds")) {
      char* end = nullptr;
      std::string text(*s);
      long v = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || v <= 0 || v > 300) {
        resp.Text(400, "seconds must be a whole number from 1 to 300\n");
        return;
      }
      seconds = static_cast<int>(v);
    }
    auto profile = telemetry::CollectCpuProfile(std::chrono::seconds(seconds));
    // The self-profile (profiles.self_profile) may hold the profiler for its
    // window: wait for it rather than fail a scrape.
    for (int i = 0; i < 150 && !profile.ok() && telemetry::CpuProfileInProgress(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!telemetry::CpuProfileInProgress()) {
        profile = telemetry::CollectCpuProfile(std::chrono::seconds(seconds));
      }
    }
    if (!profile.ok()) {
      // Go's net/http/pprof answers 500 when profiling cannot start.
      resp.Text(500, "Could not enable CPU profiling: " + profile.status().message() + "\n");
      return;
    }
    resp.status = 200;
    resp.body = std::move(profile).value();
    resp.compressible = false;  // already gzipped
    resp.SetHeader("Content-Type", "application/octet-stream");
    resp.SetHeader("Content-Disposition", "attachment; filename=\"profile\"");
  }, ops);

  ops.name = "version";
  router_->Handle("GET", "/version", [](net::HttpRequest&, net::HttpResponse& resp) {
    resp.Json(200, fmt::format(R"({{"version":"{}","revision":"{}"}})", kVersion, kRevision));
  }, ops);
}

Status App::Start() {
  SL_ASSIGN_OR_RETURN(auto order, modules_.Resolve(cfg_.target));
  std::string names;
  for (const auto& m : order) names += (names.empty() ? "" : ",") + m;
  log::Info("starting modules", {{"modules", names}});
  SL_RETURN_IF_ERROR(modules_.StartAll(order));

  net::HttpServerOptions h;
  h.listen = cfg_.http.listen;
  h.io_threads = cfg_.http.io_threads;
  h.worker_threads = cfg_.http.worker_threads;
  h.handlers_on_io_threads = cfg_.http.handlers_on_io_threads;
  h.max_body_bytes = cfg_.http.max_body_bytes;
  h.max_decompressed_bytes = cfg_.http.max_decompressed_bytes;
  h.max_header_bytes = cfg_.http.max_header_bytes;
  h.read_header_timeout = cfg_.http.read_header_timeout;
  h.request_timeout = cfg_.http.request_timeout;
  h.idle_timeout = cfg_.http.idle_timeout;
  h.multitenancy = cfg_.multitenancy_enabled;
  // gRPC clients may dial the HTTP port too (Grafana's Tempo streaming
  // queries do, as Tempo's stream_over_http_enabled allows): connections
  // that open with the HTTP/2 preface go to the gRPC server.
  h.on_h2c_connection = [grpc = grpc_.get()](int fd) { grpc->AdoptConnection(fd); };
  auto http = net::HttpServer::Start(h, router_.get(), &registry());
  if (!http.ok()) {
    modules_.StopAll();
    return http.status().Annotate("http server");
  }
  http_ = std::move(http).value();
  Status g = grpc_->Start();
  if (!g.ok()) {
    http_->Stop(std::chrono::milliseconds(0));
    modules_.StopAll();
    return g.Annotate("grpc server");
  }
  log::Info("listening", {{"http", http_->bound_address()}, {"grpc", grpc_->bound_address()}});
  ready_ = true;
  return Status::Ok();
}

void App::Stop() {
  if (stopped_) return;
  stopped_ = true;
  ready_ = false;
  log::Info("shutting down", {{"drain", fmt::format("{}ms", cfg_.http.shutdown_drain.count())}});
  if (http_) http_->Stop(cfg_.http.shutdown_drain);
  if (grpc_) grpc_->Stop(cfg_.http.shutdown_drain);
  modules_.StopAll();
  http_.reset();
  grpc_.reset();
  log::Info("stopped");
}

}  // namespace sightline::app
