// JFR ingest (format=jfr) with REAL recordings: the test compiles a small
// Java program that burns CPU in a named method, allocates, contends on a
// monitor and parks, records it with the JDK's flight recorder
// (-XX:StartFlightRecording, settings=profile), and checks our parser
// against the JDK's own `jfr summary` counts, then ingests it through
// /ingest (raw, gzipped multipart with a labels part) and queries the flame
// graph. Corrupt files must give 400 and never crash.
//
// Skips (with the reason) when no JDK (java, javac, jfr) is installed;
// scripts/bootstrap installs openjdk-17-jdk-headless.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <regex>

#include "base/compression.h"
#include "harness/harness.h"
#include "net/http.h"
#include "pprof/profile.pb.h"
#include "profiles/api/querier_api.h"
#include "profiles/ingest/ingest.h"
#include "profiles/ingest/jfr.h"
#include "profiles/store/profile_db.h"
#include "pyroscope/querier/v1/querier.pb.h"

namespace sightline::profiles {
namespace {

namespace pp = perftools::profiles;

constexpr char kProgram[] = R"(
import java.util.concurrent.locks.LockSupport;
public class Burn {
  static volatile long sink;
  static final Object lock = new Object();
  static long burnCpuInNamedMethod(long n) {
    long x = 0;
    for (long i = 0; i < n; i++) { x += i * 31 ^ (x >>> 3); }
    return x;
  }
  static Object[] allocateStuff(int n) {
    Object[] a = new Object[n];
    for (int i = 0; i < n; i++) a[i] = new byte[4096];
    return a;
  }
  static void holdLockLong() throws Exception {
    synchronized (lock) { Thread.sleep(40); }
  }
  public static void main(String[] args) throws Exception {
    long end = System.currentTimeMillis() + Long.parseLong(args[0]);
    Thread contender = new Thread(() -> {
      try {
        while (System.currentTimeMillis() < end) { holdLockLong(); LockSupport.parkNanos(30_000_000L); }
      } catch (Exception e) {}
    });
    contender.start();
    while (System.currentTimeMillis() < end) {
      sink += burnCpuInNamedMethod(2_000_000);
      sink += allocateStuff(32).length;
      synchronized (lock) { sink++; }
    }
    contender.join();
  }
}
)";

std::string Which(const std::string& tool) {
  const char* home = std::getenv("JAVA_HOME");
  if (home && *home) {
    std::string p = std::string(home) + "/bin/" + tool;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/lib/jvm/default-java/bin"}) {
    std::string p = std::string(dir) + "/" + tool;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

std::string RunCapture(const std::string& cmd, int* rc) {
  std::string out;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  *rc = pclose(f);
  return out;
}

// The recording, made once for the whole suite.
struct Recording {
  std::string skip_reason;
  std::string jfr;                            // file bytes
  std::map<std::string, int64_t> jdk_counts;  // `jfr summary` event counts
};

Recording* MakeRecording() {
  auto* rec = new Recording;
  const std::string java = Which("java"), javac = Which("javac"), jfr = Which("jfr");
  if (java.empty() || javac.empty() || jfr.empty()) {
    rec->skip_reason =
        "no JDK (java, javac, jfr) found in JAVA_HOME or /usr/bin: run scripts/bootstrap "
        "(installs openjdk-17-jdk-headless)";
    return rec;
  }
  static testing::TempDir* dir = new testing::TempDir();
  testing::WriteFile(dir->Join("Burn.java"), kProgram);
  int rc = 0;
  std::string out = RunCapture(javac + " -d " + dir->path() + " " + dir->Join("Burn.java"), &rc);
  if (rc != 0) {
    ADD_FAILURE() << "javac failed: " << out;
    return rec;
  }
  const std::string file = dir->Join("x.jfr");
  out = RunCapture(java + " -XX:StartFlightRecording=filename=" + file +
                       ",settings=profile,jdk.ObjectAllocationInNewTLAB#enabled=true"
                       ",jdk.JavaMonitorEnter#threshold=5ms,jdk.ThreadPark#threshold=5ms"
                       " -cp " +
                       dir->path() + " Burn 3000",
                   &rc);
  if (rc != 0) {
    ADD_FAILURE() << "java failed: " << out;
    return rec;
  }
  rec->jfr = testing::ReadFile(file);
  out = RunCapture(jfr + " summary " + file, &rc);
  std::regex line(R"(^\s*(\S+)\s+(\d+)\s+\d+\s*$)");
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    std::smatch m;
    std::string l = out.substr(pos, nl - pos);
    if (std::regex_match(l, m, line)) rec->jdk_counts[m[1]] = std::stoll(m[2]);
    pos = nl + 1;
  }
  return rec;
}

const Recording& Rec() {
  static Recording* rec = MakeRecording();
  return *rec;
}

#define SKIP_WITHOUT_JDK()                                                \
  do {                                                                    \
    if (!Rec().skip_reason.empty()) GTEST_SKIP() << Rec().skip_reason;    \
    ASSERT_FALSE(Rec().jfr.empty()) << "the recording could not be made"; \
  } while (0)

const JfrProfile* Find(const std::vector<JfrProfile>& ps, const std::string& name,
                       const std::string& first_type) {
  for (const auto& p : ps) {
    if (p.name == name && p.profile.sample_type_size() > 0 &&
        p.profile.string_table(p.profile.sample_type(0).type()) == first_type) {
      return &p;
    }
  }
  return nullptr;
}

int64_t Sum(const pp::Profile& p, int col) {
  int64_t s = 0;
  for (const auto& x : p.sample()) s += x.value(col);
  return s;
}

bool HasFunction(const pp::Profile& p, const std::string& name) {
  for (const auto& f : p.function()) {
    if (p.string_table(f.name()) == name) return true;
  }
  return false;
}

TEST(JfrParse, MatchesTheJdkSummary) {
  SKIP_WITHOUT_JDK();
  const auto& counts = Rec().jdk_counts;
  ASSERT_GT(counts.count("jdk.ExecutionSample"), 0u) << "no ExecutionSample in the recording";
  JfrOptions o;
  o.sample_rate = 100;
  std::vector<JfrProfile> ps;
  Status s = ParseJfr(Rec().jfr, "", o, &ps);
  ASSERT_TRUE(s.ok()) << s.ToString();

  const JfrProfile* cpu = Find(ps, "process_cpu", "cpu");
  ASSERT_NE(cpu, nullptr);
  // Every JDK execution sample is of a running thread: one sample each.
  EXPECT_EQ(Sum(cpu->profile, 0), counts.at("jdk.ExecutionSample") * 10'000'000);
  EXPECT_TRUE(HasFunction(cpu->profile, "Burn.burnCpuInNamedMethod"));
  EXPECT_TRUE(HasFunction(cpu->profile, "Burn.main"));
  // Leaf first: the hot method is the first frame of most samples.
  int64_t leaf_burn = 0;
  std::map<uint64_t, std::string> loc_fn;
  for (const auto& l : cpu->profile.location()) {
    for (const auto& f : cpu->profile.function()) {
      if (f.id() == l.line(0).function_id()) loc_fn[l.id()] = cpu->profile.string_table(f.name());
    }
    EXPECT_GE(l.line(0).line(), 0);
  }
  for (const auto& x : cpu->profile.sample()) {
    if (loc_fn[x.location_id(0)] == "Burn.burnCpuInNamedMethod") leaf_burn += x.value(0);
  }
  EXPECT_GT(leaf_burn, Sum(cpu->profile, 0) / 2);

  if (counts.count("jdk.ObjectAllocationInNewTLAB")) {
    const JfrProfile* alloc = Find(ps, "memory", "alloc_in_new_tlab_objects");
    ASSERT_NE(alloc, nullptr);
    EXPECT_EQ(Sum(alloc->profile, 0), counts.at("jdk.ObjectAllocationInNewTLAB"));
    EXPECT_GT(Sum(alloc->profile, 1), 0);
    EXPECT_TRUE(HasFunction(alloc->profile, "Burn.allocateStuff"));
  }
  if (counts.count("jdk.ObjectAllocationSample")) {
    const JfrProfile* alloc = Find(ps, "memory", "alloc_sample_objects");
    ASSERT_NE(alloc, nullptr);
    EXPECT_EQ(Sum(alloc->profile, 0), counts.at("jdk.ObjectAllocationSample"));
  }
  ASSERT_GT(counts.count("jdk.JavaMonitorEnter"), 0u);
  const JfrProfile* lock = Find(ps, "mutex", "contentions");
  ASSERT_NE(lock, nullptr);
  EXPECT_EQ(Sum(lock->profile, 0), counts.at("jdk.JavaMonitorEnter"));
  EXPECT_GE(Sum(lock->profile, 1), counts.at("jdk.JavaMonitorEnter") * 5'000'000);  // ≥ 5 ms each
  if (counts.count("jdk.ThreadPark")) {
    const JfrProfile* park = Find(ps, "block", "contentions");
    ASSERT_NE(park, nullptr);
    EXPECT_EQ(Sum(park->profile, 0), counts.at("jdk.ThreadPark"));
  }

  // Several chunks in one file (a JFR file is a sequence of chunks).
  std::vector<JfrProfile> twice;
  ASSERT_TRUE(ParseJfr(Rec().jfr + Rec().jfr, "", o, &twice).ok());
  const JfrProfile* cpu2 = Find(twice, "process_cpu", "cpu");
  ASSERT_NE(cpu2, nullptr);
  EXPECT_EQ(Sum(cpu2->profile, 0), 2 * Sum(cpu->profile, 0));

  // Without sampleRate the recording's own period (settings=profile: 10 ms).
  std::vector<JfrProfile> own;
  ASSERT_TRUE(ParseJfr(Rec().jfr, "", JfrOptions{}, &own).ok());
  EXPECT_EQ(Sum(Find(own, "process_cpu", "cpu")->profile, 0),
            counts.at("jdk.ExecutionSample") * 10'000'000);
}

TEST(JfrParse, CorruptInputIsAnErrorNeverACrash) {
  SKIP_WITHOUT_JDK();
  const std::string& good = Rec().jfr;
  std::vector<JfrProfile> ps;
  EXPECT_FALSE(ParseJfr("", "", {}, &ps).ok());
  EXPECT_FALSE(ParseJfr("FLR", "", {}, &ps).ok());
  Status s = ParseJfr(good.substr(0, good.size() / 2), "", {}, &ps);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("JFR"));
  EXPECT_FALSE(ParseJfr(good, "\xff\xff", {}, &ps).ok());  // bad labels part
  std::mt19937 rng(7);
  int failed = 0;
  for (int i = 0; i < 150; ++i) {
    std::string bad = good;
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < flips; ++k) {
      bad[rng() % bad.size()] = static_cast<char>(rng());
    }
    if (i % 3 == 0) bad.resize(rng() % bad.size());
    std::vector<JfrProfile> out;
    if (!ParseJfr(bad, "", {}, &out).ok()) ++failed;
  }
  EXPECT_GT(failed, 0);
}

// Hand-made chunks (tests/profiles/gen_min_jfr.py, also the fuzz corpus):
// the same three samples with compressed and with big-endian integers.
TEST(JfrParse, MinimalChunksBothIntegerEncodings) {
  for (const char* name : {"minimal_compressed.jfr", "minimal_uncompressed.jfr"}) {
    SCOPED_TRACE(name);
    const std::string data =
        testing::ReadFile(testing::SourceDir() + "/fuzz/corpus/jfr_parse/" + name);
    ASSERT_FALSE(data.empty());
    std::vector<JfrProfile> ps;
    Status s = ParseJfr(data, "", JfrOptions{}, &ps);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(ps.size(), 1u);
    const auto& p = ps[0].profile;
    EXPECT_EQ(ps[0].name, "process_cpu");
    ASSERT_EQ(p.sample_size(), 1);  // one stack, three events
    EXPECT_EQ(p.sample(0).value(0), 3 * 10'000'000);
    ASSERT_EQ(p.sample(0).location_id_size(), 2);
    EXPECT_TRUE(HasFunction(p, "com/example/Foo.hot"));
    EXPECT_TRUE(HasFunction(p, "com/example/Foo.main"));
    // Leaf first, with its line.
    const auto& leaf = p.location(static_cast<int>(p.sample(0).location_id(0)) - 1);
    EXPECT_EQ(leaf.line(0).line(), 42);
    // Every truncation is an error, not a crash.
    for (size_t n = 0; n < data.size(); n += 7) {
      std::vector<JfrProfile> out;
      EXPECT_FALSE(ParseJfr(data.substr(0, n), "", {}, &out).ok()) << n;
    }
  }
}

class JfrIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProfileDBOptions o;
    o.data_dir = dir_.path();
    o.cut_check_interval = std::chrono::milliseconds(0);
    auto db = ProfileDB::Open(o);
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    router_ = std::make_unique<net::Router>();
    ingester_ = RegisterIngest(*router_, db_.get(), IngestLimits{});
    RegisterQuerierApi(*router_, db_.get());
  }

  net::HttpResponse Call(const std::string& target, const std::string& body,
                         const std::string& content_type = "") {
    net::HttpHeaders h;
    if (!content_type.empty()) h.Add("Content-Type", content_type);
    auto req = net::HttpRequest::Make("POST", target, h, body);
    EXPECT_TRUE(req.ok());
    req->set_tenant("anonymous");
    net::HttpResponse resp;
    router_->Serve(*req, resp);
    return resp;
  }

  querier::v1::FlameGraph Flame(const std::string& type, const std::string& selector) {
    querier::v1::SelectMergeStacktracesRequest r;
    r.set_profile_typeid(type);
    r.set_label_selector(selector);
    r.set_start(1);
    r.set_end(4'000'000'000'000);
    auto resp = Call("/querier.v1.QuerierService/SelectMergeStacktraces", r.SerializeAsString(),
                     "application/proto");
    EXPECT_EQ(resp.status, 200) << resp.body;
    querier::v1::SelectMergeStacktracesResponse out;
    EXPECT_TRUE(out.ParseFromString(resp.body));
    return out.flamegraph();
  }

  static bool HasName(const querier::v1::FlameGraph& fg, const std::string& name) {
    for (const auto& n : fg.names()) {
      if (n == name) return true;
    }
    return false;
  }

  testing::TempDir dir_;
  std::unique_ptr<ProfileDB> db_;
  std::unique_ptr<net::Router> router_;
  std::unique_ptr<Ingester> ingester_;
};

TEST_F(JfrIngestTest, RawAndMultipartIngestShowInTheFlameGraph) {
  SKIP_WITHOUT_JDK();
  const int64_t samples = Rec().jdk_counts.at("jdk.ExecutionSample");
  auto r = Call(
      "/ingest?name=javaapp%7Benv%3Dtest%7D&format=jfr&from=1700000000&until=1700000010"
      "&sampleRate=100&spyName=javaspy",
      Rec().jfr, "application/octet-stream");
  ASSERT_EQ(r.status, 200) << r.body;
  auto fg = Flame("process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                  R"({service_name="javaapp", env="test"})");
  EXPECT_EQ(fg.total(), samples * 10'000'000);
  EXPECT_TRUE(HasName(fg, "Burn.burnCpuInNamedMethod"));
  auto lock = Flame("mutex:contentions:count:mutex:count", R"({service_name="javaapp"})");
  EXPECT_EQ(lock.total(), Rec().jdk_counts.at("jdk.JavaMonitorEnter"));

  // The Java agent's multipart form: a gzipped `jfr` part and `labels`
  // (a LabelsSnapshot: contexts {1: {labels {1: 2}}}, strings {1: "k", 2: "v"}).
  auto gz = Compress(Codec::kGzip, Rec().jfr);
  ASSERT_TRUE(gz.ok());
  const std::string labels(
      "\x0a\x0a\x08\x01\x12\x06\x0a\x04\x08\x01\x10\x02"  // contexts
      "\x12\x05\x08\x01\x12\x01k"                         // strings 1 → k
      "\x12\x05\x08\x02\x12\x01v",                        // strings 2 → v
      26);
  const std::string b = "jfrBoundary";
  std::string body = "--" + b +
                     "\r\nContent-Disposition: form-data; name=\"jfr\"; filename=\"jfr\"\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n" +
                     *gz + "\r\n--" + b +
                     "\r\nContent-Disposition: form-data; name=\"labels\"; filename=\"labels\"\r\n"
                     "\r\n" +
                     labels + "\r\n--" + b + "--\r\n";
  r = Call("/ingest?name=javaapp2&format=jfr&from=1700000000&until=1700000010&sampleRate=100", body,
           "multipart/form-data; boundary=" + b);
  ASSERT_EQ(r.status, 200) << r.body;
  fg = Flame("process_cpu:cpu:nanoseconds:cpu:nanoseconds", R"({service_name="javaapp2"})");
  EXPECT_EQ(fg.total(), samples * 10'000'000);

  // Corrupt → 400 with a reason.
  r = Call("/ingest?name=javaapp&format=jfr", Rec().jfr.substr(0, 5000));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, ::testing::HasSubstr("JFR"));
}

}  // namespace
}  // namespace sightline::profiles
