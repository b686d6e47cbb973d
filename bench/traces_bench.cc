// Traces hot paths:
//   OtlpDecode*: the decode steps of POST /v1/traces for requests shaped as
//     the OTel JS SDK sends them (JsSdkRequest), per span;
//   OtlpWholePath/<sync>: TracesReceiver::ExportBody (what the HTTP handler
//     runs: protobuf decode into an arena, conversion, limits, sampling off)
//     into the real TraceStore (per-request WAL record + head), per span,
//     CPU time of the one thread doing it = spans/s per core;
//   BinaryOtlpHttp / BinaryOtlpGrpc: the same requests sent over HTTP
//     (POST /v1/traces) or gRPC (TraceService/Export) to a running sightline
//     binary (SIGHTLINE_BINARY=path; skipped without it) by a load driver;
//     spans per CPU second of the server process (/proc/<pid>/stat);
//   TraceById: find-by-id over many cut blocks (bloom + sorted index +
//     one row group read and decoded), per lookup;
//   TraceById14Days: 14 days of 5-minute blocks (4032) in a filesystem
//     object store, looked up through a fresh TraceStore: blocklist load,
//     then p50/p99 of existing and missing ids, cold and warm;
//   BytesPerSpan: a block of realistic traces, stored bytes per span and the
//     ratio to the same spans as an OTLP protobuf request;
//   BlockCut / BlockCutJsSdk: the head's block cut alone (held records, or
//     the JS-SDK requests received into a real store), CPU and bytes per span.
// Figures: spans_per_second (CPU time), latency per iteration, and counters.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include <benchmark/benchmark.h>
#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>

#include "blocks/bucket.h"
#include "io/env.h"
#include "io/faulty_object_store.h"
#include "io/filesystem_object_store.h"
#include "io/mem_env.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "telemetry/metrics.h"
#include "traces/ingest/otlp_convert.h"
#include "traces/ingest/receiver.h"
#include "traces/store/block.h"
#include "traces/store/sharded_scan.h"
#include "traces/store/store.h"

namespace sightline::traces {
namespace {

namespace coltrace = opentelemetry::proto::collector::trace::v1;

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ull;

std::string Id(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) s[i + j] = static_cast<char>(v >> (8 * j));
  }
  return s;
}

uint64_t TraceTimeStart(const Trace& t) {
  uint64_t lo = UINT64_MAX;
  for (const Span& s : t.spans) lo = std::min(lo, s.start_unix_nano);
  return lo;
}

KeyValue S(std::string k, std::string v) {
  KeyValue kv;
  kv.key = std::move(k);
  kv.value.v = std::move(v);
  return kv;
}
KeyValue I(std::string k, int64_t v) {
  KeyValue kv;
  kv.key = std::move(k);
  kv.value.v = v;
  return kv;
}

// A microservice-style trace: `spans` spans over a few services, HTTP and DB
// attributes as OTel instrumentations emit them.
Trace RealisticTrace(std::mt19937_64& rng, int spans, uint64_t start) {
  static const char* kServices[] = {"frontend", "checkout", "payments", "cart", "shipping"};
  static const char* kRoutes[] = {"/api/cart", "/api/checkout", "/api/orders/{id}", "/health"};
  Trace t;
  t.trace_id = Id(rng, 16);
  for (int r = 0; r < 3; ++r) {
    Resource res;
    res.attributes = {S("service.name", kServices[(rng() % 5)]), S("service.version", "1.4.2"),
                      S("k8s.namespace.name", "shop"), S("k8s.pod.name", "pod-" + std::to_string(rng() % 50)),
                      S("host.name", "node-" + std::to_string(rng() % 10)),
                      S("telemetry.sdk.language", "nodejs")};
    t.resources.push_back(std::move(res));
  }
  Scope sc;
  sc.name = "@opentelemetry/instrumentation-http";
  sc.version = "0.52.0";
  t.scopes.push_back(sc);
  for (int i = 0; i < spans; ++i) {
    Span s;
    s.span_id = Id(rng, 8);
    if (i > 0) s.parent_span_id = t.spans[(rng() % i)].span_id;
    s.resource_index = i % 3;
    s.kind = i == 0 ? 2 : (i % 2 ? 3 : 2);
    s.start_unix_nano = start + i * 150'000 + rng() % 1000;
    s.end_unix_nano = s.start_unix_nano + 200'000 + rng() % 5'000'000;
    if (i % 3 == 2) {
      s.name = "SELECT shop.orders";
      s.attributes = {S("db.system", "postgresql"), S("db.name", "shop"),
                      S("db.statement", "SELECT * FROM orders WHERE id = $1"),
                      S("net.peer.name", "pg-0.pg"), I("net.peer.port", 5432)};
    } else {
      const char* route = kRoutes[rng() % 4];
      s.name = std::string("GET ") + route;
      s.attributes = {S("http.method", "GET"), S("http.route", route),
                      S("http.target", std::string(route) + "?session=" + std::to_string(rng() % 100000)),
                      I("http.status_code", rng() % 20 ? 200 : 500), S("http.scheme", "http"),
                      S("net.host.name", "checkout"), I("net.host.port", 8080),
                      S("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)")};
      if (rng() % 20 == 0) s.status_code = 2;
    }
    t.spans.push_back(std::move(s));
  }
  return t;
}


// One OTLP request as the OTel JS SDK's BatchSpanProcessor sends it: one
// ResourceSpans (the process: 9 resource attributes), ScopeSpans of the
// http and pg instrumentations, `spans` spans of `traces` traces
// interleaved, ~10 attributes per span (http server/client spans with the
// semantic-convention attributes the instrumentation sets, pg client spans).
std::string JsSdkRequest(std::mt19937_64& rng, uint64_t start_ns, int spans = 100,
                         int traces = 10) {
  namespace otlp = opentelemetry::proto::trace::v1;
  namespace common = opentelemetry::proto::common::v1;
  coltrace::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto str = [](google::protobuf::RepeatedPtrField<common::KeyValue>* a, const char* k,
                std::string v) {
    auto* kv = a->Add();
    kv->set_key(k);
    kv->mutable_value()->set_string_value(std::move(v));
  };
  auto num = [](google::protobuf::RepeatedPtrField<common::KeyValue>* a, const char* k,
                int64_t v) {
    auto* kv = a->Add();
    kv->set_key(k);
    kv->mutable_value()->set_int_value(v);
  };
  auto* ra = rs->mutable_resource()->mutable_attributes();
  str(ra, "service.name", "checkout");
  str(ra, "service.version", "2.14.1");
  str(ra, "telemetry.sdk.language", "nodejs");
  str(ra, "telemetry.sdk.name", "opentelemetry");
  str(ra, "telemetry.sdk.version", "2.12.1");
  num(ra, "process.pid", 4242);
  str(ra, "process.runtime.name", "nodejs");
  str(ra, "process.runtime.version", "20.11.1");
  str(ra, "host.name", "checkout-7d9f8c6b5-x2k4q");
  auto* http = rs->add_scope_spans();
  http->mutable_scope()->set_name("@opentelemetry/instrumentation-http");
  http->mutable_scope()->set_version("0.223.1");
  auto* pg = rs->add_scope_spans();
  pg->mutable_scope()->set_name("@opentelemetry/instrumentation-pg");
  pg->mutable_scope()->set_version("0.50.0");
  std::vector<std::string> trace_ids, roots;
  for (int i = 0; i < traces; ++i) {
    trace_ids.push_back(Id(rng, 16));
    roots.push_back(Id(rng, 8));
  }
  static const char* kRoutes[] = {"/api/cart", "/api/checkout", "/api/orders/:id", "/api/products"};
  for (int i = 0; i < spans; ++i) {
    int t = i % traces;
    bool root = i < traces;
    bool db = !root && i % 3 == 0;
    otlp::Span* s = (db ? pg : http)->add_spans();
    s->set_trace_id(trace_ids[t]);
    s->set_span_id(root ? roots[t] : Id(rng, 8));
    if (!root) s->set_parent_span_id(roots[t]);
    s->set_flags(0x101);
    uint64_t st = start_ns + i * 137'000 + rng() % 1000;
    s->set_start_time_unix_nano(st);
    s->set_end_time_unix_nano(st + 150'000 + rng() % 20'000'000);
    auto* a = s->mutable_attributes();
    if (db) {
      s->set_name("pg.query:SELECT shop");
      s->set_kind(otlp::Span::SPAN_KIND_CLIENT);
      str(a, "db.system", "postgresql");
      str(a, "db.name", "shop");
      str(a, "db.user", "checkout");
      str(a, "db.connection_string", "postgresql://pg-0.pg.shop.svc:5432/shop");
      str(a, "db.statement", "SELECT id, total, status FROM orders WHERE customer_id = $1");
      str(a, "net.peer.name", "pg-0.pg.shop.svc");
      num(a, "net.peer.port", 5432);
    } else {
      const char* route = kRoutes[rng() % 4];
      bool server = root || i % 3 == 1;
      s->set_name(std::string(server ? "GET " : "POST ") + route);
      s->set_kind(server ? otlp::Span::SPAN_KIND_SERVER : otlp::Span::SPAN_KIND_CLIENT);
      std::string target = std::string(route) + "?session=" + std::to_string(rng() % 1000000);
      str(a, "http.url", "http://checkout.shop.svc:8080" + target);
      str(a, "http.host", "checkout.shop.svc:8080");
      str(a, "net.host.name", "checkout.shop.svc");
      str(a, "http.method", server ? "GET" : "POST");
      str(a, "http.scheme", "http");
      str(a, "http.target", target);
      str(a, "http.user_agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36");
      str(a, "http.flavor", "1.1");
      str(a, "net.transport", "ip_tcp");
      str(a, "net.host.ip", "10.42.3.17");
      num(a, "net.host.port", 8080);
      num(a, "http.status_code", rng() % 50 ? 200 : 500);
      if (server) str(a, "http.route", route);
    }
    if (rng() % 50 == 0) s->mutable_status()->set_code(otlp::Status::STATUS_CODE_ERROR);
  }
  return req.SerializeAsString();
}

// `spans` per request, 10 spans per trace.
std::vector<std::string> JsSdkRequests(int n, uint64_t seed, int spans = 100) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(JsSdkRequest(rng, kT0 + i * 1'000'000'000ull, spans, std::max(1, spans / 10)));
  }
  return out;
}

class NoopSink : public ingest::TraceSink {
 public:
  Status Push(std::string_view, std::vector<Trace> traces, ingest::PushResult*) override {
    for (auto& t : traces) spans += t.spans.size();
    return Status::Ok();
  }
  uint64_t spans = 0;
};

// Decode only: the protobuf parse, heap-allocated (arg 0) or into an arena
// as the receiver does (arg 1).
void BM_OtlpDecodeProtobuf(benchmark::State& state) {
  auto bodies = JsSdkRequests(64, 1);
  uint64_t spans = 0;
  size_t i = 0;
  for (auto _ : state) {
    const std::string& body = bodies[i++ % bodies.size()];
    if (state.range(0) == 0) {
      coltrace::ExportTraceServiceRequest req;
      benchmark::DoNotOptimize(req.ParseFromString(body));
    } else {
      google::protobuf::ArenaOptions ao;
      ao.start_block_size = std::clamp<size_t>(body.size() * 4, 4096, 1 << 20);
      google::protobuf::Arena arena(ao);
      auto* req = google::protobuf::Arena::CreateMessage<coltrace::ExportTraceServiceRequest>(&arena);
      benchmark::DoNotOptimize(req->ParseFromString(body));
    }
    spans += 100;
  }
  state.counters["spans_per_second"] =
      benchmark::Counter(static_cast<double>(spans), benchmark::Counter::kIsRate);
  state.counters["request_bytes"] = static_cast<double>(bodies[0].size());
}
BENCHMARK(BM_OtlpDecodeProtobuf)->ArgName("arena")->Arg(0)->Arg(1);

// The receiver as the benchmarks drive it: no rate limit, the default
// attribute value cap.
ingest::ReceiverOptions BenchReceiverOptions(telemetry::Registry* reg) {
  ingest::ReceiverOptions o;
  o.registry = reg;
  o.rate_limit_bytes = 0;
  o.convert.max_attribute_value_bytes = 2048;
  return o;
}

// A store that cuts only when told (no maintenance, no size cut).
Result<std::unique_ptr<store::TraceStore>> OpenBenchStore(const std::string& dir,
                                                          wal::SyncPolicy sync,
                                                          telemetry::Registry* reg) {
  store::StoreOptions so;
  so.data_dir = dir;
  so.run_maintenance = false;
  so.wal_sync = sync;
  so.registry = reg;
  so.max_block_bytes = 1ull << 40;
  return store::TraceStore::Open(so);
}

// Decode + convert + limits into a sink that drops everything.
void BM_OtlpDecodeConvert(benchmark::State& state) {
  auto bodies = JsSdkRequests(64, 1);
  telemetry::Registry reg;
  NoopSink sink;
  ingest::TracesReceiver r(&sink, BenchReceiverOptions(&reg));
  size_t i = 0;
  const bool wire = state.range(0) == 1;
  for (auto _ : state) {
    const std::string& body = bodies[i++ % bodies.size()];
    coltrace::ExportTraceServiceResponse resp;
    if (wire) {
      // What POST /v1/traces does: straight from the bytes (otlp_wire.h).
      benchmark::DoNotOptimize(r.ExportBody("t", body, false, &resp));
    } else {
      // The protobuf way (still gRPC's and OTLP/JSON's): a message in an
      // arena, then TracesFromOtlp.
      google::protobuf::ArenaOptions ao;
      ao.start_block_size = std::clamp<size_t>(body.size() * 4, 4096, 1 << 20);
      ao.max_block_size = 4 << 20;
      google::protobuf::Arena arena(ao);
      auto* msg = google::protobuf::Arena::CreateMessage<coltrace::ExportTraceServiceRequest>(&arena);
      msg->ParseFromString(body);
      benchmark::DoNotOptimize(r.Export("t", *msg, body.size(), &resp));
    }
  }
  state.counters["spans_per_second"] =
      benchmark::Counter(static_cast<double>(sink.spans), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_OtlpDecodeConvert)->ArgName("wire")->Arg(0)->Arg(1);

// The whole request path into the real store. The head is cut (timing
// paused) every 100k spans so that it stays the size a 5-minute head of a
// busy tenant has; the cut's own cost is BM_BytesPerSpan's.
void BM_OtlpWholePath(benchmark::State& state) {
  std::string dir = std::filesystem::temp_directory_path() /
                    ("traces_bench_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  // Distinct trace ids until the next cut: every request brings new traces
  // (a trace whose spans come in several requests is merged in the head,
  // which BM_OtlpWholePathMerging measures).
  auto bodies = JsSdkRequests(state.range(1) ? 128 : 1000, 2);
  telemetry::Registry reg;
  auto s = OpenBenchStore(dir, state.range(0) == 0 ? wal::SyncPolicy::kNone : wal::SyncPolicy::kAlways,
                          &reg);
  if (!s.ok()) {
    state.SkipWithError(s.status().ToString().c_str());
    return;
  }
  ingest::TracesReceiver r(s->get(), BenchReceiverOptions(&reg));
  uint64_t spans = 0;
  size_t i = 0;
  for (auto _ : state) {
    const std::string& body = bodies[i++ % bodies.size()];
    coltrace::ExportTraceServiceResponse resp;
    Status st = r.ExportBody("t", body, false, &resp);
    if (!st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      break;
    }
    spans += 100;
    if (i % 1000 == 0) {
      state.PauseTiming();
      (void)(*s)->CutAll(true);
      state.ResumeTiming();
    }
  }
  state.counters["spans_per_second"] =
      benchmark::Counter(static_cast<double>(spans), benchmark::Counter::kIsRate);
  (void)(*s)->Close();
  std::filesystem::remove_all(dir);
}
// Args: fsync (0: WAL without fsync, 1: fdatasync per request); merging
// (1: the 128 request bodies repeat, so each trace of the head receives
// spans from ~8 requests before the cut).
BENCHMARK(BM_OtlpWholePath)->ArgNames({"fsync", "merging"})->Args({0, 0})->Args({1, 0})->Args({0, 1});

// ---------------------------------------------------------------------------
// Load driver against the binary.

// Clock ticks of user+system CPU of a process (fields 14 and 15).
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t rp = all.rfind(')');
  if (rp == std::string::npos) return 0;
  std::istringstream in(all.substr(rp + 2));
  std::string field;
  double ut = 0, st = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) ut = std::stod(field);
    if (i == 15) st = std::stod(field);
  }
  return (ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A keep-alive HTTP/1.1 connection that POSTs and reads the answer.
class Conn {
 public:
  bool Connect(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Returns the HTTP status, 0 on a connection error.
  int Post(const std::string& head, const std::string& body) {
    if (!WriteAll(head) || !WriteAll(body)) return 0;
    // Headers, then Content-Length bytes of body.
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return 0;
    }
    int status = std::atoi(buf_.c_str() + 9);
    size_t len = 0;
    std::string headers = buf_.substr(0, end);
    for (auto& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t cl = headers.find("content-length:");
    if (cl != std::string::npos) len = std::strtoul(headers.c_str() + cl + 15, nullptr, 10);
    while (buf_.size() < end + 4 + len) {
      if (!Fill()) return 0;
    }
    buf_.erase(0, end + 4 + len);
    return status;
  }

 private:
  bool WriteAll(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  bool Fill() {
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

// Starts `binary` with `args` on port 0; returns its pid and HTTP port.
bool StartServer(const std::string& binary, const std::string& dir,
                 const std::vector<std::string>& extra, pid_t* pid, int* port,
                 int* grpc_port = nullptr) {
  std::string log = dir + "/server.log";
  std::vector<std::string> args = {binary, "--http.listen=127.0.0.1:0", "--grpc.listen=127.0.0.1:0",
                                   "--data.dir=" + dir + "/data"};
  args.insert(args.end(), extra.begin(), extra.end());
  *pid = ::fork();
  if (*pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  for (int i = 0; i < 600; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream f(log);
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    size_t at = all.find("msg=\"listening\"");
    if (at == std::string::npos) continue;
    size_t h = all.find("http=", at);
    size_t colon = all.find(':', h);
    *port = std::atoi(all.c_str() + colon + 1);
    if (grpc_port != nullptr) {
      size_t g = all.find("grpc=", at);
      if (g == std::string::npos) return false;
      *grpc_port = std::atoi(all.c_str() + all.find(':', g) + 1);
    }
    return *port > 0;
  }
  return false;
}

// SIGHTLINE_BINARY: the binary; SIGHTLINE_LOAD_SECONDS (10), _CONNECTIONS
// (4); SIGHTLINE_LOAD_ARGS: extra flags separated by spaces. The server's
// ingestion rate limit is lifted (--traces.limits.ingestion_rate_limit_bytes=0).
// Args: generator (span metrics + service graphs off/on; on is the default
// config), spans per request.
void BinaryLoad(benchmark::State& state, bool grpc) {
  const char* bin = std::getenv("SIGHTLINE_BINARY");
  if (bin == nullptr) {
    state.SkipWithError("set SIGHTLINE_BINARY to a sightline binary to run the load driver");
    for (auto _ : state) {
    }
    return;
  }
  double seconds = std::getenv("SIGHTLINE_LOAD_SECONDS") ? std::atof(std::getenv("SIGHTLINE_LOAD_SECONDS")) : 10;
  int conns = std::getenv("SIGHTLINE_LOAD_CONNECTIONS") ? std::atoi(std::getenv("SIGHTLINE_LOAD_CONNECTIONS")) : 4;
  std::vector<std::string> extra = {"--traces.limits.ingestion_rate_limit_bytes=0",
                                    "--log.level=info"};
  if (state.range(0) == 0) extra.push_back("--traces.generator.enabled=false");
  if (const char* a = std::getenv("SIGHTLINE_LOAD_ARGS")) {
    std::istringstream in(a);
    std::string w;
    while (in >> w) extra.push_back(w);
  }
  std::string dir = std::filesystem::temp_directory_path() /
                    ("traces_load_" + std::to_string(getpid()) + "_" + std::to_string(state.range(0)));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  pid_t pid = 0;
  int port = 0, grpc_port = 0;
  if (!StartServer(bin, dir, extra, &pid, &port, &grpc_port)) {
    state.SkipWithError("the binary did not start; see its log in the temp dir");
    for (auto _ : state) {
    }
    return;
  }
  // ~25 MB of distinct requests whatever their size.
  const int spans_per_request = static_cast<int>(state.range(1));
  auto bodies = JsSdkRequests(std::max(4, 51200 / spans_per_request), 3, spans_per_request);
  std::vector<coltrace::ExportTraceServiceRequest> messages;
  if (grpc) {
    messages.resize(bodies.size());
    for (size_t i = 0; i < bodies.size(); ++i) messages[i].ParseFromString(bodies[i]);
  }
  std::atomic<uint64_t> ok{0}, failed{0};
  double cpu0 = 0, cpu1 = 0, wall = 0;
  for (auto _ : state) {
    cpu0 = ProcessCpuSeconds(pid);
    auto t0 = std::chrono::steady_clock::now();
    auto deadline = t0 + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    std::vector<std::thread> threads;
    for (int c = 0; c < conns; ++c) {
      threads.emplace_back([&, c] {
        size_t i = static_cast<size_t>(c) * 131;
        if (grpc) {
          // A channel per "connection" (distinct channel args: one HTTP/2
          // connection each), as several exporters would open.
          grpc::ChannelArguments args;
          args.SetInt("sightline.bench.conn", c);
          args.SetMaxSendMessageSize(64 << 20);
          auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(grpc_port),
                                                   grpc::InsecureChannelCredentials(), args);
          auto stub = coltrace::TraceService::NewStub(channel);
          while (std::chrono::steady_clock::now() < deadline) {
            grpc::ClientContext ctx;
            coltrace::ExportTraceServiceResponse resp;
            grpc::Status st = stub->Export(&ctx, messages[i++ % messages.size()], &resp);
            if (st.ok()) {
              ++ok;
            } else {
              ++failed;
              if (st.error_code() == grpc::StatusCode::UNAVAILABLE) return;
            }
          }
          return;
        }
        Conn conn;
        if (!conn.Connect(port)) {
          ++failed;
          return;
        }
        while (std::chrono::steady_clock::now() < deadline) {
          const std::string& body = bodies[i++ % bodies.size()];
          std::string head = "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Content-Type: application/x-protobuf\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n";
          int st = conn.Post(head, body);
          if (st == 200) {
            ++ok;
          } else {
            ++failed;
            if (st == 0) return;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cpu1 = ProcessCpuSeconds(pid);
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::filesystem::remove_all(dir);
  double spans = static_cast<double>(ok.load()) * spans_per_request;
  state.counters["spans_acked"] = spans;
  state.counters["requests_failed"] = static_cast<double>(failed.load());
  state.counters["server_cpu_s"] = cpu1 - cpu0;
  state.counters["spans_per_server_cpu_s"] = cpu1 > cpu0 ? spans / (cpu1 - cpu0) : 0;
  state.counters["spans_per_wall_s"] = wall > 0 ? spans / wall : 0;
}

void BM_BinaryOtlpHttp(benchmark::State& state) { BinaryLoad(state, /*grpc=*/false); }
void BM_BinaryOtlpGrpc(benchmark::State& state) { BinaryLoad(state, /*grpc=*/true); }

// spans per request: 100 (the bench's historical size), 512 (the OTel SDKs'
// BatchSpanProcessor maxExportBatchSize), 8192 (the OTel Collector batch
// processor's send_batch_size).
BENCHMARK(BM_BinaryOtlpHttp)
    ->ArgNames({"generator", "spans"})
    ->ArgsProduct({{0, 1}, {100, 512, 8192}})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kSecond);
BENCHMARK(BM_BinaryOtlpGrpc)
    ->ArgNames({"generator", "spans"})
    ->ArgsProduct({{0, 1}, {100, 512, 8192}})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kSecond);

// Many cut blocks (each one 5-minute cut of a busy tenant, scaled down).
void BM_TraceById(benchmark::State& state) {
  const int blocks = static_cast<int>(state.range(0));
  const int per_block = 200;
  std::string dir = std::filesystem::temp_directory_path() / ("traces_bench_id_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::mt19937_64 rng(3);
  telemetry::Registry reg;
  auto s = OpenBenchStore(dir, wal::SyncPolicy::kNone, &reg);
  std::vector<std::string> ids;
  for (int b = 0; b < blocks; ++b) {
    std::vector<Trace> batch;
    for (int i = 0; i < per_block; ++i) {
      batch.push_back(RealisticTrace(rng, 8, kT0 + (b * per_block + i) * 1000000ull));
      if (i % 97 == 0) ids.push_back(batch.back().trace_id);
    }
    ingest::PushResult pr;
    (void)(*s)->Push("t", std::move(batch), &pr);
    (void)(*s)->CutAll(true);
  }
  size_t i = 0;
  for (auto _ : state) {
    auto t = (*s)->FindTraceById("t", ids[(i++ * 7919) % ids.size()]);
    if (!t.ok() || !t->has_value()) state.SkipWithError("trace not found");
  }
  state.counters["blocks"] = blocks;
  (void)(*s)->Close();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_TraceById)->Arg(100)->Unit(benchmark::kMicrosecond);

// 14 days of 5-minute blocks (4032; SIGHTLINE_TRACE_BLOCKS overrides) in a
// filesystem object store, 200 traces of 4 spans each per block, written
// straight into the bucket as the shipper leaves them (meta.json last).
// Then a fresh TraceStore (a querier after a restart: nothing local) loads
// the blocklist and looks ids up:
//   cold   each existing id once, the bucket's files dropped from the page
//          cache first (sync + POSIX_FADV_DONTNEED), no time range;
//   warm   the same ids again;
//   range  the same ids with Grafana's start/end (±1 h around the trace);
//   missing  random ids that no block holds.
// Latencies are wall time per FindTraceById; figures are counters in ms.
void DropPageCache(const std::string& root) {
  ::sync();
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    int fd = ::open(e.path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void BM_TraceById14Days(benchmark::State& state) {
  const int blocks = std::getenv("SIGHTLINE_TRACE_BLOCKS")
                         ? std::atoi(std::getenv("SIGHTLINE_TRACE_BLOCKS"))
                         : 14 * 24 * 12;
  const int per_block = std::getenv("SIGHTLINE_TRACES_PER_BLOCK")
                            ? std::atoi(std::getenv("SIGHTLINE_TRACES_PER_BLOCK"))
                            : 200;
  const uint64_t kBlockNs = 5ull * 60 * 1'000'000'000;
  const uint64_t t0 = kT0;
  std::string dir = std::filesystem::temp_directory_path() /
                    ("traces_bench_14d_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  io::FilesystemOptions fo;
  fo.fsync = false;
  auto bucket = io::FilesystemObjectStore::Open(dir + "/bucket", fo);
  if (!bucket.ok()) {
    state.SkipWithError(bucket.status().ToString().c_str());
    return;
  }
  std::mt19937_64 rng(14);
  struct Known {
    std::string id;
    uint64_t start;
  };
  std::vector<Known> known;
  const std::string prefix = blocks::TenantPrefix("traces", "t");
  auto g0 = std::chrono::steady_clock::now();
  uint64_t stored_bytes = 0;
  for (int b = 0; b < blocks; ++b) {
    io::MemEnv mem;
    std::vector<Trace> traces;
    traces.reserve(per_block);
    for (int i = 0; i < per_block; ++i) {
      traces.push_back(RealisticTrace(rng, 4, t0 + b * kBlockNs + i * (kBlockNs / per_block)));
    }
    const Trace& pick = traces[rng() % per_block];
    known.push_back({pick.trace_id, TraceTimeStart(pick)});
    std::vector<const Trace*> ptrs;
    for (const auto& t : traces) ptrs.push_back(&t);
    // SIGHTLINE_TRACE_BLOOM_FP: the blocks' bloom false-positive rate
    // (each false positive costs a find-by-id one id-page read).
    store::BlockWriteOptions wo;
    if (const char* fp = std::getenv("SIGHTLINE_TRACE_BLOOM_FP")) wo.bloom_false_positive = std::atof(fp);
    auto meta = store::WriteBlock(&mem, "/b", "t", ptrs, wo);
    if (!meta.ok()) {
      state.SkipWithError(meta.status().ToString().c_str());
      return;
    }
    const std::string bp = blocks::BlockPrefix(prefix, meta->ulid);
    for (const char* f : {"data", "index", "bloom", "meta.json"}) {
      auto data = mem.ReadFile("/b/" + meta->ulid.ToString() + "/" + f);
      stored_bytes += data->size();
      (void)(*bucket)->Put(bp + f, *data);
    }
  }
  double generate_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - g0).count();
  DropPageCache(dir + "/bucket");

  telemetry::Registry reg;
  auto reader_bucket = io::FilesystemObjectStore::Open(dir + "/bucket");
  // A fixed latency per store request (an S3 round trip is ~5-20 ms): the
  // benchmark's argument in µs (/latency_us:0 and /latency_us:5000), or
  // SIGHTLINE_TRACE_STORE_LATENCY_US when set.
  io::FaultOptions fault;
  fault.latency = std::chrono::microseconds(state.range(0));
  if (const char* l = std::getenv("SIGHTLINE_TRACE_STORE_LATENCY_US")) {
    fault.latency = std::chrono::microseconds(std::atoi(l));
  }
  io::FaultyObjectStore slow(reader_bucket->get(), fault);
  store::StoreOptions so;
  so.data_dir = dir + "/querier";
  so.store = &slow;
  so.run_maintenance = false;
  so.registry = &reg;
  so.blocklist_poll = std::chrono::hours(1);
  auto s = store::TraceStore::Open(so);
  // Resident memory: the blocklist's share is the growth across its load.
  auto rss_bytes = [] {
    long pages = 0, resident = 0;
    std::ifstream statm("/proc/self/statm");
    statm >> pages >> resident;
    return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
  };
  auto cpu_s = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
  };
  const double rss0 = rss_bytes();
  const double cpu0 = cpu_s();
  auto l0 = std::chrono::steady_clock::now();
  // The first lookup of a tenant loads its blocklist (the poller does this
  // at startup in the binary).
  (void)(*s)->FindTraceById("t", std::string(16, '\x01'));
  double blocklist_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - l0).count();
  const double blocklist_cpu_s = cpu_s() - cpu0;
  const double blocklist_rss = rss_bytes() - rss0;
  const store::TenantStats ts = (*s)->Stats("t");
  DropPageCache(dir + "/bucket");

  std::shuffle(known.begin(), known.end(), rng);
  const size_t n = std::min<size_t>(known.size(), 1000);
  auto time_one = [&](const std::string& id, uint64_t start, uint64_t end, bool want) {
    auto a = std::chrono::steady_clock::now();
    auto t = (*s)->FindTraceById("t", id, start, end);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count();
    if (!t.ok() || t->has_value() != want) state.SkipWithError("wrong find-by-id answer");
    return ms;
  };
  std::vector<double> cold, warm, ranged, missing;
  for (auto _ : state) {
    for (size_t i = 0; i < n; ++i) cold.push_back(time_one(known[i].id, 0, 0, true));
    for (size_t i = 0; i < n; ++i) warm.push_back(time_one(known[i].id, 0, 0, true));
    const uint64_t hour = 3600ull * 1'000'000'000;
    for (size_t i = 0; i < n; ++i) {
      ranged.push_back(time_one(known[i].id, known[i].start - hour, known[i].start + hour, true));
    }
    for (size_t i = 0; i < n; ++i) missing.push_back(time_one(Id(rng, 16), 0, 0, false));
  }
  // A search plan over all 14 days. Split traces: since session 7 from the
  // blocks' in-memory split links (index version 3), no id page read; the
  // blocks of older versions had every block's ids read from the store.
  DropPageCache(dir + "/bucket");
  const uint64_t pages0 = store::BlockReader::IdPagesRead();
  const double pc0 = cpu_s();
  auto p0 = std::chrono::steady_clock::now();
  auto plan = (*s)->PlanScan("t", 0, 0);
  const double plan_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count();
  const double plan_cpu_s = cpu_s() - pc0;
  if (!plan.ok()) state.SkipWithError(plan.status().ToString().c_str());
  state.counters["plan_14d_s"] = plan_s;
  state.counters["plan_14d_cpu_s"] = plan_cpu_s;
  state.counters["plan_id_pages_read"] =
      static_cast<double>(store::BlockReader::IdPagesRead() - pages0);
  state.counters["latency_ms"] = static_cast<double>(fault.latency.count()) / 1000;
  state.counters["blocks"] = blocks;
  state.counters["traces"] = static_cast<double>(blocks) * per_block;
  state.counters["stored_MB"] = static_cast<double>(stored_bytes) / 1e6;
  state.counters["generate_s"] = generate_s;
  state.counters["blocklist_load_s"] = blocklist_s;
  state.counters["blocklist_cpu_s"] = blocklist_cpu_s;
  state.counters["blocklist_rss_MB"] = blocklist_rss / 1e6;
  // Counted: what the open blocks hold (headers, blooms), and what the
  // session-5 reader held on top of it (every block's sorted ids, 16 B each).
  state.counters["blocklist_held_MB"] = static_cast<double>(ts.block_memory_bytes) / 1e6;
  state.counters["blocklist_held_v1_MB"] =
      static_cast<double>(ts.block_memory_bytes + 16 * ts.block_traces) / 1e6;
  state.counters["cold_p50_ms"] = Percentile(cold, 0.5);
  state.counters["cold_p99_ms"] = Percentile(cold, 0.99);
  state.counters["warm_p50_ms"] = Percentile(warm, 0.5);
  state.counters["warm_p99_ms"] = Percentile(warm, 0.99);
  state.counters["range_p50_ms"] = Percentile(ranged, 0.5);
  state.counters["range_p99_ms"] = Percentile(ranged, 0.99);
  state.counters["missing_p50_ms"] = Percentile(missing, 0.5);
  state.counters["missing_p99_ms"] = Percentile(missing, 0.99);
  (void)(*s)->Close();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_TraceById14Days)
    ->ArgName("latency_us")
    ->Arg(0)
    ->Arg(5000)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kSecond);

// What the split window adds to a cut (store.cc): SplitWindow::Links (one
// fingerprint and probe per trace) over a cut's 10,000 trace ids, 1% of
// them late parts of traces of the window's blocks, against a window of
// `window_blocks` blocks of 10,000 ids. Per trace of the cut: `per_trace`.
void BM_SplitWindowCut(benchmark::State& state) {
  const int window_blocks = static_cast<int>(state.range(0));
  constexpr int kIds = 10000;
  io::MemEnv mem;
  std::mt19937_64 rng(7);
  Trace one = RealisticTrace(rng, 2, kT0);
  auto meta = store::WriteBlock(&mem, "/b", "t", {&one});
  auto reader = store::BlockReader::Open(
      store::LocalBlockFiles(&mem, "/b/" + meta->ulid.ToString()), *meta);
  std::shared_ptr<const store::BlockReader> r(std::move(reader).value());
  store::SplitWindow w(int64_t{1} << 60, uint64_t{1} << 40);
  std::vector<std::string> window_ids;
  int64_t t = 0;
  for (int b = 0; b < window_blocks; ++b) {
    std::vector<uint64_t> fps;
    for (int i = 0; i < kIds; ++i) {
      window_ids.push_back(Id(rng, 16));
      fps.push_back(store::SplitWindow::Fingerprint(window_ids.back()));
    }
    ++t;
    w.Add(r, t, fps, t);
  }
  std::vector<std::string> cut_ids;
  for (int i = 0; i < kIds; ++i) {
    cut_ids.push_back(i % 100 == 0 ? window_ids[rng() % window_ids.size()] : Id(rng, 16));
  }
  std::vector<store::BlockTrace> cut(kIds);
  for (int i = 0; i < kIds; ++i) cut[i].trace_id = cut_ids[i];
  std::vector<uint64_t> fps;
  size_t links = 0;
  for (auto _ : state) {
    store::SplitLinks l = w.Links(cut, &fps);
    links = l.entries.size();
    benchmark::DoNotOptimize(l);
  }
  state.counters["links"] = static_cast<double>(links);
  state.counters["window_ids"] = static_cast<double>(w.ids());
  state.counters["window_MB"] = static_cast<double>(w.MemoryBytes()) / 1e6;
  state.counters["per_trace"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kIds, benchmark::Counter::kIsRate |
                                                          benchmark::Counter::kInvert);
}
BENCHMARK(BM_SplitWindowCut)->ArgName("window_blocks")->Arg(2)->Arg(200)->Unit(benchmark::kMicrosecond);

void BM_BytesPerSpan(benchmark::State& state) {
  std::mt19937_64 rng(4);
  std::vector<Trace> traces;
  for (int i = 0; i < 10000; ++i) traces.push_back(RealisticTrace(rng, 10, kT0 + i * 1000000ull));
  opentelemetry::proto::trace::v1::TracesData td;
  for (const auto& t : traces) ingest::TraceToOtlp(t, &td);
  double otlp_bytes = static_cast<double>(td.ByteSizeLong());
  std::vector<const Trace*> ptrs;
  for (const auto& t : traces) ptrs.push_back(&t);
  std::string dir = std::filesystem::temp_directory_path() / ("traces_bench_b_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  double stored = 0;
  for (auto _ : state) {
    auto meta = store::WriteBlock(io::Env::Default(), dir, "t", ptrs);
    if (!meta.ok()) state.SkipWithError("write failed");
    stored = static_cast<double>(meta->stats.at("numBytes"));
  }
  state.counters["bytes_per_span"] = stored / 100000.0;
  state.counters["otlp_bytes_per_span"] = otlp_bytes / 100000.0;
  state.counters["compression_vs_otlp"] = otlp_bytes / stored;
  state.counters["spans_per_second"] = benchmark::Counter(100000.0 * state.iterations(), benchmark::Counter::kIsRate);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_BytesPerSpan)->Unit(benchmark::kMillisecond)->Iterations(3);

// The head's block cut alone: 10,000 traces × 10 spans held as the head
// holds them (one inline-string record per trace, what EncodeOtlpWire and
// EncodeTrace write) transcoded into a block (TranscodeTrace, dictionary,
// zstd, index, bloom) in a MemEnv. CPU per span is the figure: it is what
// the maintenance thread takes from ingest. Args: zstd level; parts per
// trace (2: every trace's spans arrived in two requests and are merged).
void BM_BlockCut(benchmark::State& state) {
  std::mt19937_64 rng(4);
  const int parts = static_cast<int>(state.range(1));
  std::vector<std::string> ids;
  std::vector<std::vector<std::string>> recs;
  for (int i = 0; i < 10000; ++i) {
    Trace t = RealisticTrace(rng, 10, kT0 + i * 1000000ull);
    ids.push_back(t.trace_id);
    std::vector<std::string> rs;
    if (parts == 1) {
      rs.emplace_back();
      store::EncodeTrace(t, nullptr, &rs.back());
    } else {
      // Spans split in halves, each part with all resources and scopes.
      Trace a = t, b = t;
      a.spans.resize(t.spans.size() / 2);
      b.spans.erase(b.spans.begin(), b.spans.begin() + static_cast<long>(t.spans.size() / 2));
      for (const Trace* p : {&a, &b}) {
        rs.emplace_back();
        store::EncodeTrace(*p, nullptr, &rs.back());
      }
    }
    recs.push_back(std::move(rs));
  }
  store::BlockWriteOptions wo;
  wo.zstd_level = static_cast<int>(state.range(0));
  double stored = 0;
  for (auto _ : state) {
    io::MemEnv mem;
    std::vector<store::BlockTrace> bt;
    bt.reserve(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      const std::vector<std::string>* rs = &recs[i];
      bt.push_back({ids[i], [rs](store::StringDict* dict, std::string* out,
                                 store::TraceSummary* sum) {
                      std::vector<std::string_view> v(rs->begin(), rs->end());
                      return store::TranscodeTrace(v, dict, out, sum);
                    }});
    }
    auto meta = store::WriteBlockEncoded(&mem, "/b", "t", std::move(bt), wo);
    if (!meta.ok()) {
      state.SkipWithError(meta.status().ToString().c_str());
      break;
    }
    stored = static_cast<double>(meta->stats.at("numBytes"));
  }
  state.counters["bytes_per_span"] = stored / 100000.0;
  state.counters["ns_per_span"] = benchmark::Counter(
      100000.0 * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_BlockCut)
    ->ArgNames({"zstd", "parts"})
    ->Args({3, 1})
    ->Args({1, 1})
    ->Args({3, 2})
    ->Unit(benchmark::kMillisecond);

// The head's cut of what the OTel JS SDK sends: 1,000 requests of
// JsSdkRequests (100 spans of 10 traces each, 100k spans, one record per
// trace, as BM_OtlpWholePath pushes them) received into a real store
// (untimed), then CutAll (timed): transcoding, dictionary, zstd, files on
// disk (no fsync cost counted separately). Count its instructions with
// valgrind --tool=callgrind --toggle-collect='sightline::traces::store::WriteBlockEncoded*'
// --benchmark_min_time=0 (one cut).
void BM_BlockCutJsSdk(benchmark::State& state) {
  std::string dir = std::filesystem::temp_directory_path() /
                    ("traces_bench_cut_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  auto bodies = JsSdkRequests(1000, 2);
  telemetry::Registry reg;
  auto s = OpenBenchStore(dir, wal::SyncPolicy::kNone, &reg);
  if (!s.ok()) {
    state.SkipWithError(s.status().ToString().c_str());
    return;
  }
  ingest::TracesReceiver r(s->get(), BenchReceiverOptions(&reg));
  for (auto _ : state) {
    state.PauseTiming();
    for (const std::string& body : bodies) {
      coltrace::ExportTraceServiceResponse resp;
      Status st = r.ExportBody("t", body, false, &resp);
      if (!st.ok()) state.SkipWithError(st.ToString().c_str());
    }
    state.ResumeTiming();
    Status st = (*s)->CutAll(true);
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
  }
  // Stored bytes per span: the blocks' files (data, index, bloom), all cuts.
  double stored = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && (name == "data" || name == "index" || name == "bloom") &&
        e.path().string().find("/blocks/") != std::string::npos) {
      stored += static_cast<double>(e.file_size());
    }
  }
  state.counters["bytes_per_span"] = stored / (100000.0 * static_cast<double>(state.iterations()));
  state.counters["ns_per_span"] = benchmark::Counter(
      100000.0 * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  (void)(*s)->Close();
  // SIGHTLINE_KEEP_CUT=1: the block stays (to inspect its sections).
  if (std::getenv("SIGHTLINE_KEEP_CUT") == nullptr) std::filesystem::remove_all(dir);
}
BENCHMARK(BM_BlockCutJsSdk)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sightline::traces
