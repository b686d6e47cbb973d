// Profiles: pprof ingest throughput, flame-graph query over 1 h of 50
// services at 10 s intervals, and stored bytes vs raw pprof bytes.
//
// Synthetic profiles shaped like Go CPU profiles: per service a pool of 400
// functions and 1000 distinct stacks (depth 8-32), each profile sampling 250
// stacks with random values, gzipped as SDKs send them.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>

#include "base/compression.h"
#include "pprof/profile.pb.h"
#include "profiles/ingest/ingest.h"
#include "profiles/ingest/jfr.h"
#include "profiles/query/query.h"
#include "profiles/store/pprof_append.h"
#include "profiles/store/segment.h"

namespace sightline::profiles {
namespace {

constexpr char kCpuType[] = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

struct ServiceShape {
  std::vector<std::vector<int>> stacks;  // function indexes, root first
};

ServiceShape MakeShape(std::mt19937& rng) {
  ServiceShape s;
  std::uniform_int_distribution<int> fn(0, 399), depth(8, 32);
  for (int i = 0; i < 1000; ++i) {
    std::vector<int> st;
    int d = depth(rng);
    // Shared prefixes, as real stacks have: main → a few entry points.
    st.push_back(0);
    st.push_back(1 + i % 5);
    for (int j = 2; j < d; ++j) st.push_back(fn(rng));
    s.stacks.push_back(std::move(st));
  }
  return s;
}

std::string fmt_name(int service, int f) {
  return "github.com/acme/service" + std::to_string(service) + "/pkg" + std::to_string(f % 20) +
         ".Func" + std::to_string(f);
}

perftools::profiles::Profile MakeProfile(const ServiceShape& shape, int service, std::mt19937& rng,
                                         int64_t time_ns) {
  perftools::profiles::Profile p;
  p.add_string_table("");
  p.add_string_table("samples");
  p.add_string_table("count");
  p.add_string_table("cpu");
  p.add_string_table("nanoseconds");
  p.add_sample_type()->set_type(1);
  p.mutable_sample_type(0)->set_unit(2);
  p.add_sample_type()->set_type(3);
  p.mutable_sample_type(1)->set_unit(4);
  p.mutable_period_type()->set_type(3);
  p.mutable_period_type()->set_unit(4);
  p.set_period(10'000'000);
  p.set_time_nanos(time_ns);
  auto* m = p.add_mapping();
  m->set_id(1);
  m->set_memory_start(0x400000);
  m->set_memory_limit(0x800000);
  m->set_filename(p.string_table_size());
  p.add_string_table("/usr/bin/service-" + std::to_string(service));
  for (int f = 0; f < 400; ++f) {
    auto* fn = p.add_function();
    fn->set_id(f + 1);
    fn->set_name(p.string_table_size());
    p.add_string_table(fmt_name(service, f));
    fn->set_system_name(fn->name());
    fn->set_filename(p.string_table_size());
    p.add_string_table("pkg" + std::to_string(f % 20) + "/file" + std::to_string(f % 50) + ".go");
    auto* loc = p.add_location();
    loc->set_id(f + 1);
    loc->set_mapping_id(1);
    loc->set_address(0x400000 + f * 64 + (rng() % 16));  // per-process jitter
    auto* line = loc->add_line();
    line->set_function_id(f + 1);
    line->set_line(10 + f % 200);
  }
  std::uniform_int_distribution<int> pick(0, static_cast<int>(shape.stacks.size()) - 1);
  std::uniform_int_distribution<int> count(1, 20);
  for (int i = 0; i < 250; ++i) {
    const auto& st = shape.stacks[pick(rng)];
    auto* s = p.add_sample();
    for (size_t j = st.size(); j-- > 0;) s->add_location_id(st[j] + 1);
    int c = count(rng);
    s->add_value(c);
    s->add_value(int64_t{c} * 10'000'000);
  }
  return p;
}

struct Corpus {
  std::vector<std::string> gz;  // gzipped pprof
  std::vector<int> service;
  std::vector<int64_t> time_ms;
  uint64_t raw_bytes = 0;
  uint64_t gz_bytes = 0;
};

int EnvInt(const char* name, int def) {
  const char* v = std::getenv(name);
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : def;
}

// 50 services × 360 profiles (1 h at 10 s). PROFILES_BENCH_SERVICES and
// PROFILES_BENCH_PROFILES (per service) shrink it for slow (Debug) builds.
const Corpus& HourCorpus() {
  static const Corpus* c = [] {
    auto* c = new Corpus;
    std::mt19937 rng(42);
    const int services = EnvInt("PROFILES_BENCH_SERVICES", 50);
    const int per_service = EnvInt("PROFILES_BENCH_PROFILES", 360);
    std::vector<ServiceShape> shapes;
    for (int s = 0; s < services; ++s) shapes.push_back(MakeShape(rng));
    const int64_t t0 = 1'700'000'000'000;
    for (int i = 0; i < per_service; ++i) {
      for (int s = 0; s < services; ++s) {
        auto p = MakeProfile(shapes[s], s, rng, (t0 + i * 10'000) * 1'000'000);
        std::string raw = p.SerializeAsString();
        c->raw_bytes += raw.size();
        std::string gz = *Compress(Codec::kGzip, raw);
        c->gz_bytes += gz.size();
        c->gz.push_back(std::move(gz));
        c->service.push_back(s);
        c->time_ms.push_back(t0 + i * 10'000);
      }
    }
    return c;
  }();
  return *c;
}

class OneSegment : public SegmentSource {
 public:
  Status View(std::string_view, int64_t, int64_t,
              const std::function<void(const Segment&)>& fn) override {
    fn(*seg);
    return Status::Ok();
  }
  std::unique_ptr<Segment> seg = std::make_unique<Segment>();
};

Labels ServiceLabels(int s) {
  return {{"service_name", "service-" + std::to_string(s)}, {"env", "prod"}};
}

// Decode (gunzip + parse) + validate + append into the head segment.
void BM_PprofIngest(benchmark::State& state) {
  const Corpus& c = HourCorpus();
  Segment seg;
  size_t i = 0;
  uint64_t bytes = 0;
  IngestLimits limits;
  for (auto _ : state) {
    const size_t k = i % c.gz.size();
    const std::string& body = c.gz[k];
    perftools::profiles::Profile p;
    if (!DecodePprof(body, 4 << 20, &p).ok()) state.SkipWithError("decode");
    Labels l = ServiceLabels(c.service[k]);
    if (!ValidateProfile(p, l, limits).ok()) state.SkipWithError("validate");
    if (!CheckPprof(p).ok() || !AppendPprof(&seg, l, p, c.time_ms[k]).ok()) {
      state.SkipWithError("append");
    }
    bytes += body.size();
    ++i;
  }
  state.SetItemsProcessed(static_cast<int64_t>(i));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["profiles_per_s"] =
      benchmark::Counter(static_cast<double>(i), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PprofIngest)->Unit(benchmark::kMicrosecond);

// JFR → pprof (format=jfr): a real recording named by PROFILES_BENCH_JFR
// (e.g. made with `java -XX:StartFlightRecording=...`); skipped without one.
void BM_JfrParse(benchmark::State& state) {
  const char* path = std::getenv("PROFILES_BENCH_JFR");
  if (path == nullptr || *path == '\0') {
    state.SkipWithError("set PROFILES_BENCH_JFR to a .jfr file");
    return;
  }
  std::ifstream in(path, std::ios::binary);
  const std::string jfr((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t n = 0;
  for (auto _ : state) {
    std::vector<JfrProfile> out;
    JfrOptions o;
    o.sample_rate = 100;
    if (!ParseJfr(jfr, "", o, &out).ok()) state.SkipWithError("parse");
    n += out.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(jfr.size()) * state.iterations());
  state.counters["profiles"] = static_cast<double>(n) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_JfrParse)->Unit(benchmark::kMillisecond);

const OneSegment& HourSegment() {
  static OneSegment* src = [] {
    auto* src = new OneSegment;
    const Corpus& c = HourCorpus();
    for (size_t i = 0; i < c.gz.size(); ++i) {
      perftools::profiles::Profile p;
      (void)DecodePprof(c.gz[i], 4 << 20, &p);
      (void)AppendPprof(src->seg.get(), ServiceLabels(c.service[i]), p, c.time_ms[i]);
    }
    src->seg->Finish();
    return src;
  }();
  return *src;
}

void FlameQuery(benchmark::State& state, const std::string& selector) {
  auto& src = const_cast<OneSegment&>(HourSegment());
  query::Selection sel;
  sel.profile_type = kCpuType;
  sel.matchers = *query::ParseSelector(selector);
  for (auto _ : state) {
    auto tree = query::MergeTree(src, "t", sel);
    auto fg = query::ToFlameGraph(*tree, 16384);
    benchmark::DoNotOptimize(fg.total);
  }
}

// Every service's profiles over the hour merged into one flame graph.
void BM_FlameGraph1h50ServicesAll(benchmark::State& state) { FlameQuery(state, "{}"); }
BENCHMARK(BM_FlameGraph1h50ServicesAll)->Unit(benchmark::kMillisecond);
// One service's hour (what a Grafana panel usually asks for).
void BM_FlameGraph1hOneService(benchmark::State& state) {
  FlameQuery(state, R"({service_name="service-7"})");
}
BENCHMARK(BM_FlameGraph1hOneService)->Unit(benchmark::kMillisecond);

// Stored bytes (zstd block) vs raw pprof bytes for the hour.
void BM_StoredVsRawBytes(benchmark::State& state) {
  const Corpus& c = HourCorpus();
  const auto& src = HourSegment();
  uint64_t stored = 0;
  for (auto _ : state) {
    std::string body = src.seg->Serialize();
    stored = Compress(Codec::kZstd, body, 3)->size();
  }
  state.counters["profiles"] = static_cast<double>(c.gz.size());
  state.counters["raw_pprof_MB"] = static_cast<double>(c.raw_bytes) / 1e6;
  state.counters["gzip_pprof_MB"] = static_cast<double>(c.gz_bytes) / 1e6;
  state.counters["stored_MB"] = static_cast<double>(stored) / 1e6;
  state.counters["raw_over_stored"] =
      static_cast<double>(c.raw_bytes) / static_cast<double>(stored);
  state.counters["gzip_over_stored"] =
      static_cast<double>(c.gz_bytes) / static_cast<double>(stored);
}
BENCHMARK(BM_StoredVsRawBytes)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace sightline::profiles
