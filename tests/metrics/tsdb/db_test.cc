// The per-tenant DB and the multi-tenant storage on a real temp directory:
// block cutting (read back by us and by the real promtool), head truncation
// with WAL checkpoint and restart, out-of-order data in cut blocks, shipping
// to an object store (also one that is down for a while), local retention,
// tenant isolation, self-metrics.
#include "metrics/tsdb/db.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <sstream>
#include <thread>

#include "blocks/bucket.h"
#include "harness/harness.h"
#include "head_test_util.h"
#include "io/faulty_object_store.h"
#include "io/memory_object_store.h"
#include "metrics/tsdb/db_multi_tenant.h"

namespace sightline::tsdb {
namespace {

using namespace testutil;  // NOLINT

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kT0 = 1'699'999'200'000;  // a multiple of 2h

Labels L(std::initializer_list<std::string_view> kv) { return Labels::FromStrings(kv); }
uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }

telemetry::Registry& TestRegistry() {
  static telemetry::Registry r;
  return r;
}

DBOptions Options(const std::string& dir) {
  DBOptions o;
  o.dir = dir;
  o.head.stripes = 16;
  o.head.chunk_range_ms = 2 * kHour;
  o.wal_segment_size = 256 * 1024;
  o.external_labels = {{"cluster", "eu-1"}, {"replica", "a"}};
  o.registry = &TestRegistry();
  o.ship_interval = std::chrono::milliseconds(20);
  o.ship_min_backoff = std::chrono::milliseconds(10);
  o.ship_max_backoff = std::chrono::milliseconds(40);
  return o;
}

using Expected = std::map<std::string, std::vector<BitsSample>>;

// Appends `series` series every `step` in [from, to], one commit per step.
// Series 3 gets a staleness marker now and then.
void Fill(DB& db, int series, int64_t from, int64_t to, int64_t step, Expected* want) {
  std::vector<uint64_t> refs(series, 0);
  for (int64_t t = from; t <= to; t += step) {
    auto app = db.NewAppender();
    for (int i = 0; i < series; ++i) {
      Labels l = L({"__name__", i % 2 ? "node_cpu_seconds_total" : "node_load1", "instance",
                    "host-" + std::to_string(i), "job", "node"});
      double v = (i % 2) ? static_cast<double>((t - kT0) / 1000 + i) : std::sin(t / 1e7 + i);
      if (i == 3 && (t / step) % 97 == 0) v = metrics::StaleNaN();
      auto r = app->Append(refs[i], l, t, v);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      refs[i] = *r;
      if (want != nullptr) (*want)[l.ToString()].push_back({t, Bits(v)});
    }
    ASSERT_TRUE(app->Commit().ok());
  }
}

Expected Restrict(const Expected& e, int64_t mint, int64_t maxt) {
  Expected out;
  for (const auto& [k, v] : e) {
    for (const auto& s : v) {
      if (s.first >= mint && s.first <= maxt) out[k].push_back(s);
    }
  }
  return out;
}

Selection Query(DB& db, int64_t mint, int64_t maxt, std::vector<promql::Matcher> ms = {}) {
  if (ms.empty()) ms = {Re("__name__", ".+")};
  auto q = db.NewQuerier(mint, maxt);
  EXPECT_TRUE(q.ok());
  return ReadAll(**q, ms);
}

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

TEST(DbTest, CutBlockThenQueryMergesHeadAndBlocks) {
  testing::TempDir tmp;
  auto db = DB::Open(Options(tmp.Join("t")));
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  Expected want;
  Fill(**db, 10, kT0, kT0 + 4 * kHour, 30'000, &want);
  EXPECT_TRUE((*db)->head().Compactable());
  auto n = (*db)->CutBlocks();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1);
  EXPECT_FALSE((*db)->head().Compactable());
  auto blocks = (*db)->Blocks();
  ASSERT_EQ(blocks.size(), 1u);
  EXPECT_EQ(blocks[0].meta.min_time, kT0);
  EXPECT_EQ(blocks[0].meta.max_time, kT0 + 2 * kHour);
  EXPECT_EQ(blocks[0].meta.labels,
            (std::map<std::string, std::string>{{"cluster", "eu-1"}, {"replica", "a"}}));
  EXPECT_EQ(blocks[0].meta.stats["numSeries"], 10u);
  EXPECT_EQ(blocks[0].meta.stats["numSamples"], 10u * 240);
  EXPECT_EQ((*db)->head().MinTime(), kT0 + 2 * kHour);
  std::string meta_json = testing::ReadFile(blocks[0].dir + "/meta.json");
  EXPECT_NE(meta_json.find("\"thanos\""), std::string::npos) << meta_json;
  EXPECT_NE(meta_json.find("\"cluster\":\"eu-1\""), std::string::npos) << meta_json;

  Selection all = Query(**db, kT0, kT0 + 4 * kHour);
  EXPECT_TRUE(all.error.empty()) << all.error;
  EXPECT_TRUE(all.sorted);
  EXPECT_TRUE(all.series == want);
  // Across the boundary, and only the block, and only the head.
  for (auto [a, b] : {std::pair{kT0 + kHour, kT0 + 3 * kHour}, std::pair{kT0, kT0 + kHour},
                      std::pair{kT0 + 2 * kHour + 1, kT0 + 5 * kHour}}) {
    Selection s = Query(**db, a, b, {Eq("__name__", "node_load1"), Neq("instance", "host-2")});
    Expected w;
    for (auto& [k, v] : Restrict(want, a, b)) {
      if (k.find("node_load1") != std::string::npos && k.find("host-2\"") == std::string::npos)
        w[k] = v;
    }
    EXPECT_TRUE(s.series == w) << a << " " << b;
  }
  auto q = (*db)->NewQuerier(kT0, kT0 + kHour);
  EXPECT_EQ(q.value()->LabelValues("instance", {Eq("__name__", "node_load1")})->size(), 5u);
  EXPECT_EQ(*q.value()->LabelNames({}), (std::vector<std::string>{"__name__", "instance", "job"}));
}

TEST(DbTest, RestartAfterCutAndCheckpointGivesTheSameAnswers) {
  testing::TempDir tmp;
  Selection before;
  Expected want;
  {
    auto db = DB::Open(Options(tmp.Join("t")));
    ASSERT_TRUE(db.ok());
    Fill(**db, 8, kT0, kT0 + 7 * kHour + kMin, kMin, &want);
    auto n = (*db)->CutBlocks();
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 3);
    before = Query(**db, kT0, kT0 + 8 * kHour);
    ASSERT_TRUE(before.series == want);
    ASSERT_TRUE((*db)->Close().ok());
  }
  auto children = io::Env::Default()->GetChildren(tmp.Join("t/wal"));
  ASSERT_TRUE(children.ok());
  bool checkpoint = false;
  for (const auto& c : *children) checkpoint |= c.rfind("checkpoint.", 0) == 0;
  EXPECT_TRUE(checkpoint);
  auto db = DB::Open(Options(tmp.Join("t")));
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_EQ((*db)->Blocks().size(), 3u);
  EXPECT_EQ((*db)->head().MinValidTime(), kT0 + 6 * kHour);
  Selection after = Query(**db, kT0, kT0 + 8 * kHour);
  EXPECT_EQ(after.order, before.order);
  EXPECT_TRUE(after.series == before.series);
  // The head holds only what is not in a block.
  EXPECT_GE((*db)->head().MinTime(), kT0 + 6 * kHour);
  // And keeps going.
  Fill(**db, 8, kT0 + 7 * kHour + 2 * kMin, kT0 + 9 * kHour + kMin, kMin, &want);
  EXPECT_EQ(*(*db)->CutBlocks(), 1);
  EXPECT_TRUE(Query(**db, kT0, kT0 + 10 * kHour).series == want);
}

TEST(DbTest, OutOfOrderSamplesEndUpInTheBlock) {
  testing::TempDir tmp;
  auto db = DB::Open(Options(tmp.Join("t")));
  ASSERT_TRUE(db.ok());
  Expected want;
  Fill(**db, 4, kT0, kT0 + 2 * kHour + 5 * kMin, kMin, &want);
  // Within the 10m window behind the head's max time, inside the block range.
  const Labels l = L({"__name__", "node_load1", "instance", "host-0", "job", "node"});
  auto app = (*db)->NewAppender();
  const int64_t t_ooo = kT0 + 2 * kHour - kMin + 30'000;
  ASSERT_TRUE(app->Append(0, l, t_ooo, 42).ok());
  ASSERT_TRUE(app->Commit().ok());
  auto& v = want[l.ToString()];
  v.insert(std::upper_bound(v.begin(), v.end(), BitsSample{t_ooo, 0}), BitsSample{t_ooo, Bits(42)});
  Fill(**db, 4, kT0 + 2 * kHour + 6 * kMin, kT0 + 4 * kHour, kMin, &want);
  ASSERT_EQ(*(*db)->CutBlocks(), 1);
  auto blocks = (*db)->Blocks();
  ASSERT_EQ(blocks.size(), 1u);
  auto reader = BlockReader::Open(io::Env::Default(), blocks[0].dir);
  ASSERT_TRUE(reader.ok());
  bool found = false;
  ASSERT_TRUE((*reader)
                  ->ForEachSeries([&](const Labels& ls, std::span<const Sample> samples) {
                    for (const Sample& s : samples) found |= ls == l && s.t == t_ooo && s.v == 42;
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_TRUE(found);
  EXPECT_TRUE(Query(**db, kT0, kT0 + 4 * kHour).series == want);
}

std::string FindPromtool() {
  if (const char* p = std::getenv("SIGHTLINE_PROMTOOL"); p != nullptr && *p != '\0') return p;
  for (const char* c : {"/usr/bin/promtool", "/usr/local/bin/promtool"}) {
    if (::access(c, X_OK) == 0) return c;
  }
  return "";
}

TEST(DbTest, PromtoolDumpsTheCutBlockWithOurSamples) {
  const std::string promtool = FindPromtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not found (Debian package 'prometheus'; or set SIGHTLINE_PROMTOOL)";
  }
  testing::TempDir tmp;
  auto db = DB::Open(Options(tmp.Join("t")));
  ASSERT_TRUE(db.ok());
  Expected want;
  Fill(**db, 6, kT0, kT0 + 3 * kHour + kMin, 15'000, &want);
  ASSERT_EQ(*(*db)->CutBlocks(), 1);
  auto p = testing::Process::Start({promtool, "tsdb", "dump", "--min-time=" + std::to_string(kT0),
                                    "--max-time=" + std::to_string(kT0 + 2 * kHour - 1),
                                    (*db)->blocks_dir()});
  ASSERT_TRUE(p.ok());
  auto st = (*p)->Wait(std::chrono::seconds(120));
  ASSERT_TRUE(st.has_value() && WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
      << (*p)->Output().substr(0, 2000);
  Expected got;
  std::istringstream lines((*p)->Output());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;
    size_t ts_sep = line.rfind(' ');
    size_t v_sep = line.rfind(' ', ts_sep - 1);
    std::string value = line.substr(v_sep + 1, ts_sep - v_sep - 1);
    double v = std::strtod(value.c_str(), nullptr);
    got[line.substr(0, v_sep)].push_back(
        {std::strtoll(line.c_str() + ts_sep + 1, nullptr, 10), std::isnan(v) ? 0 : Bits(v)});
  }
  Expected w = Restrict(want, kT0, kT0 + 2 * kHour - 1);
  for (auto& [k, v] : w) {
    for (auto& s : v) {
      if (std::isnan(std::bit_cast<double>(s.second))) s.second = 0;  // promtool prints NaN
    }
  }
  for (auto& [k, v] : got) std::sort(v.begin(), v.end());
  EXPECT_EQ(got.size(), w.size());
  EXPECT_TRUE(got == w);
}

TEST(DbTest, ShipperUploadsTheCutBlock) {
  testing::TempDir tmp;
  io::MemoryObjectStore store;
  DBOptions o = Options(tmp.Join("t"));
  o.store = &store;
  auto db = DB::Open(o);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  Fill(**db, 5, kT0, kT0 + 3 * kHour + kMin, kMin, nullptr);
  ASSERT_EQ(*(*db)->CutBlocks(), 1);
  const blocks::Ulid ulid = (*db)->Blocks()[0].meta.ulid;
  ASSERT_TRUE(WaitFor([&] { return (*db)->shipper()->IsUploaded(ulid); }));
  auto listed = blocks::ListBlocks(store, blocks::TenantPrefix("metrics", "anonymous"));
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].ulid, ulid);
  EXPECT_EQ((*listed)[0].labels.at("cluster"), "eu-1");
  EXPECT_TRUE(store.Head("metrics/anonymous/" + ulid.ToString() + "/index").ok());
  EXPECT_TRUE(store.Head("metrics/anonymous/" + ulid.ToString() + "/chunks/000001").ok());
}

TEST(DbTest, StoreDownForAWhileNothingIsLostAndUploadsCatchUp) {
  testing::TempDir tmp;
  io::MemoryObjectStore inner;
  io::FaultOptions down;
  down.error_probability = 1.0;
  down.error_ops = io::kFaultUploads;
  io::FaultyObjectStore store(&inner, down);
  DBOptions o = Options(tmp.Join("t"));
  o.store = &store;
  o.local_retention_ms = 2 * kHour;
  Expected want;
  {
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok());
    Fill(**db, 4, kT0, kT0 + 9 * kHour + 2 * kMin, 2 * kMin, &want);
    ASSERT_EQ(*(*db)->CutBlocks(), 4);
    EXPECT_FALSE((*db)->shipper()->Sync().ok());
    // Beyond retention but not uploaded: kept.
    EXPECT_EQ(*(*db)->ApplyLocalRetention(), 0);
    EXPECT_EQ((*db)->Blocks().size(), 4u);
    EXPECT_TRUE(Query(**db, kT0, kT0 + 10 * kHour).series == want);
    ASSERT_TRUE((*db)->Close().ok());  // still down at shutdown
  }
  EXPECT_EQ(inner.ObjectCount(), 0u);
  store.SetOptions(io::FaultOptions{});  // the store is back
  auto db = DB::Open(o);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(WaitFor([&] {
    auto b = (*db)->Blocks();
    return std::all_of(b.begin(), b.end(), [](const LocalBlock& x) { return x.uploaded; });
  }));
  auto listed = blocks::ListBlocks(inner, "metrics/anonymous/");
  ASSERT_EQ(listed->size(), 4u);
  // Now retention may delete: blocks ending more than 2h before the newest.
  EXPECT_EQ(*(*db)->ApplyLocalRetention(), 2);
  EXPECT_EQ((*db)->Blocks().size(), 2u);
  // What is still local answers queries; the rest is in the store.
  EXPECT_TRUE(Query(**db, kT0 + 4 * kHour, kT0 + 10 * kHour).series ==
              Restrict(want, kT0 + 4 * kHour, kT0 + 10 * kHour));
  size_t in_store = 0;
  for (const auto& m : *listed) in_store += m.stats.at("numSamples");
  EXPECT_EQ(in_store, 4u * (8 * kHour / (2 * kMin)));
}

TEST(DbTest, MultiTenantStorageIsolatesTenants) {
  testing::TempDir tmp;
  io::MemoryObjectStore store;
  MultiTenantDBOptions mo;
  mo.data_dir = tmp.Join("data");
  mo.store = &store;
  mo.tenant_defaults = Options("");
  mo.run_maintenance = false;
  mo.max_series_for_tenant = [](std::string_view t) -> uint64_t { return t == "b" ? 1 : 0; };
  {
    auto mdb = MultiTenantDB::Open(mo);
    ASSERT_TRUE(mdb.ok()) << mdb.status().ToString();
    metrics::Appendable& app_able = **mdb;
    for (const char* tenant : {"a", "b"}) {
      auto app = app_able.NewAppender(tenant);
      ASSERT_TRUE(
          app->Append(0, L({"__name__", "up", "tenant_label", tenant}), kT0, tenant[0]).ok());
      auto second = app->Append(0, L({"__name__", "other"}), kT0, 1);
      if (std::string(tenant) == "b") {
        EXPECT_EQ(second.status().message(), "per-tenant series limit of 1 exceeded");
      } else {
        EXPECT_TRUE(second.ok());
      }
      ASSERT_TRUE(app->Commit().ok());
    }
    metrics::Queryable& q_able = **mdb;
    for (const char* tenant : {"a", "b"}) {
      auto q = q_able.NewQuerier(tenant, kT0, kT0 + 1000);
      ASSERT_TRUE(q.ok());
      Selection s = ReadAll(**q, {Eq("__name__", "up")});
      ASSERT_EQ(s.series.size(), 1u) << tenant;
      EXPECT_EQ(s.series.begin()->second[0].second, Bits(tenant[0]));
      EXPECT_EQ(*(*q)->LabelValues("tenant_label", {}), std::vector<std::string>{tenant});
    }
    auto unknown = q_able.NewQuerier("c", kT0, kT0 + 1000);
    ASSERT_TRUE(unknown.ok());
    EXPECT_TRUE(ReadAll(**unknown, {Eq("__name__", "up")}).series.empty());
    EXPECT_EQ((*mdb)->Get("c"), nullptr) << "queries do not create tenants";
    EXPECT_EQ(q_able.NewQuerier("../x", 0, 1).status().code(), StatusCode::kInvalidArgument);
    auto bad = app_able.NewAppender("a/b");
    EXPECT_EQ(bad->Append(0, L({"__name__", "x"}), 1, 1).status().code(),
              StatusCode::kInvalidArgument);
    EXPECT_TRUE(io::Env::Default()->FileExists(tmp.Join("data/metrics/a/wal")));
    EXPECT_TRUE(io::Env::Default()->FileExists(tmp.Join("data/metrics/b/blocks")));
    // Cut a block in tenant a only: it ships under metrics/a/.
    {
      auto app = app_able.NewAppender("a");
      for (int64_t t = kT0 + kMin; t <= kT0 + 3 * kHour + kMin; t += kMin) {
        ASSERT_TRUE(app->Append(0, L({"__name__", "up", "tenant_label", "a"}), t, 1).ok());
      }
      ASSERT_TRUE(app->Commit().ok());
    }
    ASSERT_TRUE((*mdb)->MaintainAll().ok());
    DB* a = (*mdb)->Get("a");
    ASSERT_EQ(a->Blocks().size(), 1u);
    ASSERT_TRUE(WaitFor([&] { return a->Blocks()[0].uploaded; }));
    EXPECT_EQ(blocks::ListBlocks(store, "metrics/a/")->size(), 1u);
    EXPECT_EQ(blocks::ListBlocks(store, "metrics/b/")->size(), 0u);
    ASSERT_TRUE((*mdb)->Close().ok());
  }
  // Reopen: every tenant directory is replayed.
  auto mdb = MultiTenantDB::Open(mo);
  ASSERT_TRUE(mdb.ok());
  EXPECT_EQ((*mdb)->Tenants(), (std::vector<std::string>{"a", "b"}));
  auto q = (*mdb)->NewQuerier("b", kT0, kT0 + 1000);
  Selection s = ReadAll(**q, {Eq("__name__", "up")});
  ASSERT_EQ(s.series.size(), 1u);
  EXPECT_EQ(s.series.begin()->first, "{__name__=\"up\", tenant_label=\"b\"}");
  auto qa = (*mdb)->NewQuerier("a", kT0, kT0 + 4 * kHour);
  EXPECT_EQ(ReadAll(**qa, {Eq("__name__", "up")}).series.begin()->second.size(), 182u);
}

TEST(DbTest, BackgroundMaintenanceCutsBlocks) {
  testing::TempDir tmp;
  MultiTenantDBOptions mo;
  mo.data_dir = tmp.Join("data");
  mo.tenant_defaults = Options("");
  mo.maintenance_interval = std::chrono::milliseconds(50);
  auto mdb = MultiTenantDB::Open(mo);
  ASSERT_TRUE(mdb.ok());
  auto app = (*mdb)->NewAppender("anonymous");
  for (int64_t t = kT0; t <= kT0 + 3 * kHour + kMin; t += kMin) {
    ASSERT_TRUE(app->Append(0, L({"__name__", "up"}), t, 1).ok());
  }
  ASSERT_TRUE(app->Commit().ok());
  app.reset();
  ASSERT_TRUE(WaitFor([&] { return (*mdb)->Get("anonymous")->Blocks().size() == 1; }));
}

TEST(DbTest, SelfMetricsUsePrometheusNames) {
  testing::TempDir tmp;
  telemetry::Registry reg;
  DBOptions o = Options(tmp.Join("t"));
  o.registry = &reg;
  {
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok());
    Fill(**db, 3, kT0, kT0 + 3 * kHour + kMin, kMin, nullptr);
    auto app = (*db)->NewAppender();
    EXPECT_FALSE(
        app->Append(0, L({"__name__", "node_load1", "instance", "host-0", "job", "node"}), kT0, 1)
            .ok());
    app->Rollback();
    std::string text = reg.Expose();
    EXPECT_NE(text.find("prometheus_tsdb_head_series 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("prometheus_tsdb_head_samples_appended_total{type=\"float\"} 546\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("prometheus_tsdb_out_of_bound_samples_total{type=\"float\"} 1\n"),
              std::string::npos);
    ASSERT_EQ(*(*db)->CutBlocks(), 1);
    ASSERT_TRUE((*db)->Maintain().ok());
    text = reg.Expose();
    EXPECT_NE(text.find("prometheus_tsdb_compactions_total 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("prometheus_tsdb_blocks_loaded 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("prometheus_tsdb_head_min_time " + telemetry::FormatValue(kT0 + 2 * kHour)),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("prometheus_tsdb_head_chunks "), std::string::npos);
    EXPECT_NE(text.find("prometheus_tsdb_head_series_removed_total 0\n"), std::string::npos);
    EXPECT_NE(text.find("prometheus_tsdb_wal_"), std::string::npos);
  }
  std::string text = reg.Expose();
  EXPECT_NE(text.find("prometheus_tsdb_head_series 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("prometheus_tsdb_blocks_loaded 0\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace sightline::tsdb
