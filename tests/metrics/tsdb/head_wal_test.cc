// The head and its WAL: record encodings (pinned bytes), replay after a
// clean close and after a simulated machine crash (every committed sample
// back, nothing uncommitted), checkpoints after truncation, refs preserved
// and aliased across restarts, failed WAL writes.
#include <gtest/gtest.h>

#include <bit>
#include <random>

#include "head_test_util.h"
#include "io/fault_env.h"
#include "io/mem_env.h"
#include "metrics/tsdb/head.h"
#include "metrics/tsdb/wal_records.h"
#include "wal/wal.h"

namespace sightline::tsdb {
namespace {

using namespace testutil;  // NOLINT

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 3'600'000;

Labels L(std::initializer_list<std::string_view> kv) { return Labels::FromStrings(kv); }
uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }

std::string Hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

TEST(WalRecordsTest, BytesArePinned) {
  std::string rec;
  EncodeSeries(WalSeries{5, L({"a", "b"})}, &rec);
  EXPECT_EQ(Hex(rec), "0101050101610162");
  rec.clear();
  std::vector<WalSample> samples = {{300, 1000, Bits(1.0)}, {299, 1015, Bits(2.0)}};
  EncodeSamples(samples, &rec);
  // type, count 2, base ref 300 (ac 02), base t 1000 (zigzag d0 0f),
  // then (dref 0, dt 0, 1.0) and (dref -1 -> 01, dt 15 -> 1e, 2.0).
  EXPECT_EQ(Hex(rec),
            "0202ac02d00f0000000000000000f03f"
            "011e0000000000000040");
  rec.clear();
  EncodeMetadata(WalMetadata{"up", "gauge", "Up.", ""}, &rec);
  EXPECT_EQ(Hex(rec), "040275700567617567650355702e00");
  rec.clear();
  EncodeExemplars(std::vector<WalExemplar>{{7, -5, Bits(0.5), L({"trace_id", "x"})}}, &rec);
  EXPECT_EQ(Hex(rec), "030107090000000000000000e03f010874726163655f69640178");
}

TEST(WalRecordsTest, RoundTripAndRejectEveryTruncation) {
  std::mt19937_64 rng(1);
  std::vector<WalSample> samples;
  for (int i = 0; i < 100; ++i) {
    samples.push_back({rng(), static_cast<int64_t>(rng()), rng()});
  }
  samples.push_back({1, std::numeric_limits<int64_t>::min(), metrics::kStaleNaNBits});
  samples.push_back({~uint64_t{0}, std::numeric_limits<int64_t>::max(), 0});
  std::string rec;
  EncodeSamples(samples, &rec);
  std::vector<WalSample> back;
  ASSERT_TRUE(DecodeSamples(rec, &back).ok());
  ASSERT_EQ(back.size(), samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    EXPECT_EQ(back[i].ref, samples[i].ref);
    EXPECT_EQ(back[i].t, samples[i].t);
    EXPECT_EQ(back[i].v_bits, samples[i].v_bits);
  }
  for (size_t n = 0; n < rec.size(); ++n) {
    EXPECT_FALSE(DecodeSamples(rec.substr(0, n), &back).ok()) << n;
  }
  std::string srec;
  EncodeSeries(WalSeries{123456789, L({"__name__", "x", "job", "é\n"})}, &srec);
  std::vector<WalSeries> sback;
  ASSERT_TRUE(DecodeSeries(srec, &sback).ok());
  ASSERT_EQ(sback.size(), 1u);
  EXPECT_EQ(sback[0].ref, 123456789u);
  EXPECT_EQ(sback[0].labels, L({"__name__", "x", "job", "é\n"}));
  for (size_t n = 0; n < srec.size(); ++n)
    EXPECT_FALSE(DecodeSeries(srec.substr(0, n), &sback).ok());
  EXPECT_FALSE(DecodeSeries(srec + "x", &sback).ok());
  EXPECT_FALSE(DecodeSamples(srec, &back).ok()) << "wrong type";
  EXPECT_EQ(RecordTypeOf(""), WalRecordType::kUnknown);
  EXPECT_EQ(RecordTypeOf("\x09"), WalRecordType::kUnknown);
}

// A head with a WAL on `env`, replayed.
struct Opened {
  std::unique_ptr<wal::Wal> wal;
  std::unique_ptr<Head> head;
};

Opened Open(io::Env* env, const std::string& dir, int64_t min_valid = head_internal::kMinTime,
            uint64_t segment_size = 128ull << 20, int replay_threads = 0) {
  Opened o;
  wal::WalOptions wo;
  wo.dir = dir;
  wo.env = env;
  wo.segment_size = segment_size;
  wo.sync_policy = wal::SyncPolicy::kAlways;
  static telemetry::Registry reg;
  wo.registry = &reg;
  auto w = wal::Wal::Open(wo);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  o.wal = std::move(w).value();
  HeadOptions ho;
  ho.stripes = 16;
  ho.wal = o.wal.get();
  ho.chunk_range_ms = 2 * kHour;
  ho.replay_threads = replay_threads;
  o.head = std::make_unique<Head>(ho);
  o.head->SetMinValidTime(min_valid);
  Status st = o.head->ReplayWal();
  EXPECT_TRUE(st.ok()) << st.ToString();
  return o;
}

Selection Everything(Head& head) {
  auto q =
      head.NewQuerier(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  return ReadAll(*q, {Re("__name__", ".*")});
}

metrics::Exemplar Ex(double v, int64_t t) {
  metrics::Exemplar e;
  e.labels = L({"trace_id", "abc" + std::to_string(t)});
  e.value = v;
  e.timestamp_ms = t;
  e.has_timestamp = true;
  return e;
}

TEST(HeadWalTest, ReplayAfterCleanCloseRestoresEverything) {
  io::MemEnv env;
  uint64_t ref_a = 0;
  Selection before;
  {
    Opened o = Open(&env, "/wal");
    auto app = o.head->NewAppender();
    for (int i = 0; i < 300; ++i) {
      auto r = app->Append(ref_a, L({"__name__", "a", "job", "x"}), i * 1000, i);
      ASSERT_TRUE(r.ok());
      ref_a = *r;
      ASSERT_TRUE(
          app->Append(0, L({"__name__", "b"}), i * 1000, i % 3 ? i : metrics::StaleNaN()).ok());
    }
    ASSERT_TRUE(app->AppendExemplar(ref_a, Labels(), Ex(1.5, 299'000)).ok());
    ASSERT_TRUE(app->UpdateMetadata("a", {"counter", "A counter.", ""}).ok());
    ASSERT_TRUE(app->Commit().ok());
    // Out of order (default window 10m).
    app = o.head->NewAppender();
    ASSERT_TRUE(app->Append(ref_a, Labels(), 250'500, -1).ok());
    ASSERT_TRUE(app->Commit().ok());
    // Uncommitted: must not come back.
    app = o.head->NewAppender();
    ASSERT_TRUE(app->Append(0, L({"__name__", "never"}), 400'000, 1).ok());
    app->Rollback();
    before = Everything(*o.head);
    ASSERT_TRUE(o.wal->Close().ok());
  }
  Opened o = Open(&env, "/wal");
  Selection after = Everything(*o.head);
  EXPECT_EQ(after.order, before.order);
  EXPECT_TRUE(after.series == before.series);
  EXPECT_EQ(after.series.count("{__name__=\"never\"}"), 0u);
  EXPECT_EQ(after.series["{__name__=\"a\", job=\"x\"}"].size(), 301u);
  EXPECT_EQ(o.head->Stats().num_series, 2u);
  auto ex = o.head->QueryExemplars(0, 1'000'000, {{Eq("__name__", "a")}});
  ASSERT_EQ(ex->size(), 1u);
  EXPECT_EQ((*ex)[0].exemplars[0].value, 1.5);
  EXPECT_EQ(o.head->Metadata("a", -1)["a"][0].help, "A counter.");
  // The ref survived: appending by it reaches the same series.
  auto app = o.head->NewAppender();
  auto r = app->Append(ref_a, Labels(), 300'000, 300);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, ref_a);
  // New series get refs after the replayed ones.
  auto r2 = app->Append(0, L({"__name__", "c"}), 300'000, 1);
  ASSERT_TRUE(r2.ok());
  EXPECT_GT(*r2, ref_a);
  ASSERT_TRUE(app->Commit().ok());
}

class HeadWalCrashTest : public ::testing::TestWithParam<bool> {};

TEST_P(HeadWalCrashTest, CommittedSurvivesUncommittedDoesNot) {
  const bool torn = GetParam();
  io::MemEnv mem;
  io::FaultEnv env(&mem);
  std::mt19937 rng(torn ? 2 : 1);
  std::map<std::string, std::vector<BitsSample>> committed;
  int64_t t = 1'000'000;
  for (int round = 0; round < 4; ++round) {
    {
      Opened o = Open(&env, "/wal");
      // Everything committed so far is back.
      Selection got = Everything(*o.head);
      ASSERT_TRUE(got.series == committed) << "round " << round;
      for (int batch = 0; batch < 30; ++batch) {
        auto app = o.head->NewAppender();
        t += 1000;
        for (int s = 0; s < 20; ++s) {
          if (rng() % 4 == 0) continue;
          Labels l = L({"__name__", "m", "s", std::to_string(s + round * 7)});
          double v = rng() % 1000;
          ASSERT_TRUE(app->Append(0, l, t, v).ok());
          committed[l.ToString()].push_back({t, Bits(v)});
        }
        ASSERT_TRUE(app->Commit().ok());
      }
      // Appended but never committed, then the machine dies.
      auto app = o.head->NewAppender();
      ASSERT_TRUE(app->Append(0, L({"__name__", "uncommitted"}), t + 1, 1).ok());
      ASSERT_TRUE(app->Append(0, L({"__name__", "m", "s", "0"}), t + 1, 1).ok());
      ASSERT_TRUE(
          env.SimulateCrash({.torn_tail = torn, .seed = static_cast<uint64_t>(round)}).ok());
      app.reset();
    }
    env.Restart();
  }
}

INSTANTIATE_TEST_SUITE_P(TornTail, HeadWalCrashTest, ::testing::Values(false, true));

TEST(HeadWalTest, CheckpointAfterTruncationRestartsToTheSameState) {
  io::MemEnv env;
  Selection before;
  uint64_t series_before = 0;
  {
    Opened o = Open(&env, "/wal", head_internal::kMinTime, 32 * 1024);
    // 4h of data: "long" series throughout, "short" ones only in the first
    // hour; a family's metadata changes.
    for (int64_t t = 0; t <= 4 * kHour; t += kMin) {
      auto app = o.head->NewAppender();
      for (int i = 0; i < 60; ++i) {
        ASSERT_TRUE(
            app->Append(0, L({"__name__", "long", "i", std::to_string(i)}), t, t / kMin + i).ok());
        if (t < kHour && i < 20) {
          ASSERT_TRUE(app->Append(0, L({"__name__", "short", "i", std::to_string(i)}), t, 1).ok());
        }
      }
      if (t == kHour) ASSERT_TRUE(app->UpdateMetadata("long", {"gauge", "v1", ""}).ok());
      if (t == 3 * kHour) ASSERT_TRUE(app->UpdateMetadata("long", {"gauge", "v2", ""}).ok());
      ASSERT_TRUE(app->Commit().ok());
    }
    auto segs = o.wal->Segments();
    ASSERT_GE(segs->size(), 4u);
    ASSERT_TRUE(o.head->Compactable());
    o.head->RaiseMinValidTime(2 * kHour);
    ASSERT_TRUE(o.head->Truncate(2 * kHour).ok());
    auto children = env.GetChildren("/wal");
    bool has_checkpoint = false;
    for (const auto& c : *children) has_checkpoint |= c.rfind("checkpoint.", 0) == 0;
    EXPECT_TRUE(has_checkpoint);
    EXPECT_LT(o.wal->Segments()->size(), segs->size());
    before = Everything(*o.head);
    series_before = o.head->Stats().num_series;
    EXPECT_EQ(series_before, 60u);
    ASSERT_TRUE(o.wal->Close().ok());
  }
  Opened o = Open(&env, "/wal", 2 * kHour, 32 * 1024);
  EXPECT_TRUE(o.wal->replay_stats().checkpoint.has_value());
  Selection after = Everything(*o.head);
  EXPECT_EQ(after.order, before.order);
  EXPECT_TRUE(after.series == before.series);
  EXPECT_EQ(o.head->Stats().num_series, series_before) << "dead series must not come back";
  EXPECT_EQ(o.head->Metadata("long", -1)["long"][0].help, "v2");
}

// A series garbage-collected and created again gets a new ref; when both
// series records are replayed, the second ref is an alias of the first, and
// a later checkpoint keeps both records.
TEST(HeadWalTest, SeriesRecreatedUnderANewRefIsOneSeriesAfterRestart) {
  io::MemEnv env;
  const Labels flappy = L({"__name__", "flappy"});
  const Labels other = L({"__name__", "other"});
  const int64_t t_new = 3 * kHour + 10 * kMin + 1000;
  uint64_t r1 = 0, r2 = 0;
  {
    Opened o = Open(&env, "/wal", head_internal::kMinTime, 32 * 1024);
    // Fill several segments so that the series records below land after
    // the part a checkpoint covers.
    for (int64_t t = 2 * kHour; t < 3 * kHour; t += 1000 * 100) {
      auto app = o.head->NewAppender();
      for (int64_t k = 0; k < 1000; k += 1) ASSERT_TRUE(app->Append(0, other, t + k * 100, 1).ok());
      ASSERT_TRUE(app->Commit().ok());
    }
    auto app = o.head->NewAppender();
    r1 = *app->Append(0, flappy, 3 * kHour, 1);
    ASSERT_TRUE(app->Append(0, other, 3 * kHour + 10 * kMin, 1).ok());
    ASSERT_TRUE(app->Commit().ok());
    o.head->RaiseMinValidTime(3 * kHour + 1);
    ASSERT_TRUE(o.head->Truncate(3 * kHour + 1).ok());  // flappy is gone
    EXPECT_EQ(o.head->Stats().num_series, 1u);
    app = o.head->NewAppender();
    r2 = *app->Append(0, flappy, t_new, 2);
    ASSERT_TRUE(app->Commit().ok());
    EXPECT_NE(r1, r2);
    ASSERT_TRUE(o.wal->Close().ok());
  }
  {
    // No block on disk: replay sees both series records.
    Opened o = Open(&env, "/wal", head_internal::kMinTime, 32 * 1024);
    Selection got = Everything(*o.head);
    EXPECT_EQ(got.series["{__name__=\"flappy\"}"],
              (std::vector<BitsSample>{{3 * kHour, Bits(1)}, {t_new, Bits(2)}}));
    EXPECT_EQ(o.head->Stats().num_series, 2u);
    // Truncate again: the checkpoint must keep both refs' series records.
    o.head->RaiseMinValidTime(3 * kHour + 5 * kMin);
    ASSERT_TRUE(o.head->Truncate(3 * kHour + 5 * kMin).ok());
    ASSERT_TRUE(o.wal->Close().ok());
  }
  Opened o = Open(&env, "/wal", 3 * kHour + 5 * kMin, 32 * 1024);
  Selection got = Everything(*o.head);
  EXPECT_EQ(got.series["{__name__=\"flappy\"}"], (std::vector<BitsSample>{{t_new, Bits(2)}}));
  EXPECT_EQ(got.series["{__name__=\"other\"}"],
            (std::vector<BitsSample>{{3 * kHour + 10 * kMin, Bits(1)}}));
}

// Replay reads the WAL ahead on its own thread and hands each batch's
// samples to every worker, which picks its own series: over many batches,
// with series records between sample records, out-of-order samples and
// series recreated under new refs (aliases), any number of workers must
// give what one gives, and that is what was written.
TEST(HeadWalTest, LargeReplayIsTheSameWithOneOrManyWorkers) {
  io::MemEnv env;
  constexpr int kSeries = 4000, kRounds = 60, kFlappy = 50;
  const int64_t t0 = 2 * kHour;
  auto name = [](int i) { return L({"__name__", "m", "i", std::to_string(i)}); };
  auto flappy = [](int k) { return L({"__name__", "flappy", "k", std::to_string(k)}); };
  Selection written;
  {
    Opened o = Open(&env, "/wal", head_internal::kMinTime, 1u << 20, 1);
    std::vector<uint64_t> refs(kSeries, 0);
    for (int r = 0; r < kRounds; ++r) {
      auto app = o.head->NewAppender();
      for (int i = 0; i < kSeries; ++i) {
        if (i % 40 > r) continue;  // series appear over the first rounds
        auto got = app->Append(refs[i], refs[i] ? Labels() : name(i), t0 + r * 15'000, r * 1.5 + i);
        ASSERT_TRUE(got.ok()) << got.status().ToString();
        refs[i] = *got;
      }
      if (r < 5) {
        for (int k = 0; k < kFlappy; ++k) {
          ASSERT_TRUE(app->Append(0, flappy(k), t0 + r * 1000, k).ok());
        }
      }
      ASSERT_TRUE(app->Commit().ok());
      if (r == 30) {
        // Out of order, inside the window: every 7th series, 20 s back.
        app = o.head->NewAppender();
        for (int i = 0; i < kSeries; i += 7) {
          if (refs[i] == 0) continue;
          ASSERT_TRUE(app->Append(refs[i], Labels(), t0 + r * 15'000 - 20'000, -1).ok());
        }
        ASSERT_TRUE(app->Commit().ok());
      }
      if (r == 10) {
        // Drop the flappy series (their samples are older than this), then
        // recreate them: new refs with the labels of the old ones.
        o.head->RaiseMinValidTime(t0 + 6000);
        ASSERT_TRUE(o.head->Truncate(t0 + 6000).ok());
        app = o.head->NewAppender();
        for (int k = 0; k < kFlappy; ++k) {
          ASSERT_TRUE(app->Append(0, flappy(k), t0 + 20 * 15'000 + k, k).ok());
        }
        ASSERT_TRUE(app->Commit().ok());
      }
    }
    written = Everything(*o.head);
    ASSERT_TRUE(o.wal->Close().ok());
  }
  Selection one;
  {
    Opened o = Open(&env, "/wal", head_internal::kMinTime, 1u << 20, 1);
    one = Everything(*o.head);
    ASSERT_TRUE(o.wal->Close().ok());
  }
  EXPECT_EQ(one.series.size(), static_cast<size_t>(kSeries + kFlappy));
  for (int i = 0; i < kSeries; ++i) {
    const std::string key = "{__name__=\"m\", i=\"" + std::to_string(i) + "\"}";
    const auto& got = one.series[key];
    // The checkpoint written by the truncation dropped the sample records
    // wholly before its mint (round 0).
    std::vector<BitsSample> want = written.series[key];
    std::erase_if(want, [&](const BitsSample& x) { return x.first < t0 + 6000; });
    ASSERT_EQ(got, want) << i;
    ASSERT_GE(got.size(), static_cast<size_t>(kRounds - 1 - i % 40)) << i;
    EXPECT_EQ(got.back(), (BitsSample{t0 + (kRounds - 1) * 15'000, Bits((kRounds - 1) * 1.5 + i)}));
  }
  for (int k = 0; k < kFlappy; ++k) {
    const auto& got = one.series["{__name__=\"flappy\", k=\"" + std::to_string(k) + "\"}"];
    ASSERT_FALSE(got.empty()) << k;
    EXPECT_EQ(got.back(), (BitsSample{t0 + 20 * 15'000 + k, Bits(k)})) << k;
  }
  for (int threads : {2, 3, 8}) {
    Opened o = Open(&env, "/wal", head_internal::kMinTime, 1u << 20, threads);
    Selection many = Everything(*o.head);
    EXPECT_EQ(many.order, one.order) << threads;
    EXPECT_TRUE(many.series == one.series) << threads;
    EXPECT_EQ(o.head->Stats().num_series, static_cast<size_t>(kSeries + kFlappy)) << threads;
    ASSERT_TRUE(o.wal->Close().ok());
  }
}

TEST(HeadWalTest, FailedWalWriteFailsTheCommitAndAppliesNothing) {
  io::MemEnv mem;
  io::FaultEnv env(&mem);
  Opened o = Open(&env, "/wal");
  auto app = o.head->NewAppender();
  ASSERT_TRUE(app->Append(0, L({"__name__", "a"}), 1000, 1).ok());
  ASSERT_TRUE(app->Commit().ok());
  env.FailNext(io::FaultEnv::Op::kSync, 1);
  app = o.head->NewAppender();
  ASSERT_TRUE(app->Append(0, L({"__name__", "a"}), 2000, 2).ok());
  ASSERT_TRUE(app->Append(0, L({"__name__", "b"}), 2000, 2).ok());
  EXPECT_FALSE(app->Commit().ok());
  Selection got = Everything(*o.head);
  EXPECT_EQ(got.series.size(), 1u);
  EXPECT_EQ(got.series["{__name__=\"a\"}"].size(), 1u);
  // The next commit works and logs series "b" itself.
  app = o.head->NewAppender();
  ASSERT_TRUE(app->Append(0, L({"__name__", "b"}), 3000, 3).ok());
  ASSERT_TRUE(app->Commit().ok());
  ASSERT_TRUE(o.wal->Close().ok());
  o.head.reset();
  Opened re = Open(&env, "/wal");
  Selection back = Everything(*re.head);
  // The failed append's records may or may not have reached the WAL (never
  // half of them); the later commit must be there either way.
  auto b = back.series["{__name__=\"b\"}"];
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(b.back(), (BitsSample{3000, Bits(3)}));
  EXPECT_LE(b.size(), 2u);
}

}  // namespace
}  // namespace sightline::tsdb
