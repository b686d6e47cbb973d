// Our blocks against the real Prometheus (promtool 2.42), both ways:
//  - a block we write must pass `promtool tsdb analyze`, and `promtool tsdb
//    dump` must print exactly the samples we wrote;
//  - a block Prometheus writes (`promtool tsdb create-blocks-from
//    openmetrics`) must read back through BlockReader with the samples we
//    fed it, and re-encoding its chunks with XorChunk must give the same
//    bytes Prometheus wrote.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

#include "harness/harness.h"
#include "metrics/tsdb/block.h"

namespace sightline::tsdb {
namespace {

std::string FindPromtool() {
  if (const char* p = std::getenv("SIGHTLINE_PROMTOOL"); p != nullptr && *p != '\0') return p;
  const char* path = std::getenv("PATH");
  std::stringstream ss(path != nullptr ? path : "/usr/bin:/usr/local/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::string candidate = dir + "/promtool";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

struct RunResult {
  int exit_code = -1;
  std::string output;
};

RunResult RunTool(const std::vector<std::string>& argv) {
  RunResult out;
  auto p = testing::Process::Start(argv);
  if (!p.ok()) {
    out.output = p.status().ToString();
    return out;
  }
  std::optional<int> st = (*p)->Wait(std::chrono::seconds(120));
  out.output = (*p)->Output();
  if (st && WIFEXITED(*st)) out.exit_code = WEXITSTATUS(*st);
  return out;
}

#define REQUIRE_PROMTOOL(var)                                                          \
  std::string var = FindPromtool();                                                    \
  if (var.empty()) {                                                                   \
    GTEST_SKIP() << "promtool not found on PATH (Debian package 'prometheus'; or set " \
                    "SIGHTLINE_PROMTOOL): cannot check block compatibility";           \
  }

bool SameValue(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

// 50 series x 500 samples: counters, gauges, special values, and label
// values that need quoting.
std::vector<SeriesInput> MakeSeries() {
  std::mt19937_64 rng(2024);
  std::vector<SeriesInput> out;
  const int64_t t0 = 1'700'000'000'000;
  for (int i = 0; i < 50; ++i) {
    SeriesInput s;
    LabelsBuilder b;
    b.Set("__name__", i % 2 ? "node_cpu_seconds_total" : "node_memory_free_bytes");
    b.Set("instance", "10.1.0." + std::to_string(i / 5) + ":9100");
    b.Set("job", "node");
    b.Set("cpu", std::to_string(i % 5));
    if (i == 7) b.Set("path", "/var/\"log\"\\x");
    if (i == 8) b.Set("team", "équipe ✓");
    if (i == 9) b.Set("note", "line1\nline2\ttab");
    s.labels = b.Build();
    int64_t t = t0 + i;  // series start slightly apart
    double v = i * 1000.0;
    for (int k = 0; k < 500; ++k) {
      t += 15'000 + static_cast<int64_t>(rng() % 41) - 20;
      if (k == 250) t += 3'600'000;  // a gap: large dod
      double value;
      if (i % 2) {
        v += static_cast<double>(rng() % 10'000) / 100;  // counter
        value = v;
      } else {
        value =
            std::ldexp(static_cast<double>(rng() % (1ull << 40)), -static_cast<int>(rng() % 30));
      }
      if (i == 10 && k % 50 == 3) value = std::bit_cast<double>(chunkenc::kStaleNaNBits);
      if (i == 12 && k == 7) value = std::numeric_limits<double>::infinity();
      if (i == 12 && k == 8) value = -std::numeric_limits<double>::infinity();
      if (i == 14 && k == 9) value = -0.0;
      if (i == 16 && k == 10) value = 1e-300;
      s.samples.push_back({t, value});
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const SeriesInput& a, const SeriesInput& b) { return a.labels < b.labels; });
  return out;
}

TEST(PromtoolTest, PromtoolAnalyzesAndDumpsOurBlock) {
  REQUIRE_PROMTOOL(promtool);
  testing::TempDir dir;
  std::vector<SeriesInput> input = MakeSeries();
  auto ulid = WriteBlock(io::Env::Default(), dir.path(), input);
  ASSERT_TRUE(ulid.ok()) << ulid.status().ToString();
  auto reader = BlockReader::Open(io::Env::Default(), dir.Join(ulid->ToString()));
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const blocks::BlockMeta meta = (*reader)->meta();

  RunResult analyze =
      RunTool({promtool, "tsdb", "analyze", "--extended", dir.path(), ulid->ToString()});
  ASSERT_EQ(analyze.exit_code, 0) << analyze.output;
  if (std::getenv("SIGHTLINE_TEST_VERBOSE") != nullptr) std::cout << analyze.output;
  EXPECT_NE(analyze.output.find("Block ID: " + ulid->ToString()), std::string::npos)
      << analyze.output;
  EXPECT_NE(analyze.output.find("Series: 50"), std::string::npos) << analyze.output;
  EXPECT_NE(analyze.output.find("Label names: 7"), std::string::npos) << analyze.output;
  EXPECT_NE(analyze.output.find("node_cpu_seconds_total"), std::string::npos) << analyze.output;
  // --extended decoded every chunk.
  EXPECT_NE(analyze.output.find("Compaction analysis"), std::string::npos) << analyze.output;

  // dump prints "{labels} value timestamp" per sample; the range is
  // inclusive, our max_time exclusive.
  RunResult dump = RunTool({promtool, "tsdb", "dump", "--min-time=" + std::to_string(meta.min_time),
                            "--max-time=" + std::to_string(meta.max_time - 1), dir.path()});
  ASSERT_EQ(dump.exit_code, 0) << dump.output.substr(0, 2000);

  std::map<std::string, std::vector<Sample>> got;
  std::istringstream lines(dump.output);
  std::string line;
  size_t parsed = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;  // log lines
    size_t ts_sep = line.rfind(' ');
    ASSERT_NE(ts_sep, std::string::npos) << line;
    size_t v_sep = line.rfind(' ', ts_sep - 1);
    ASSERT_NE(v_sep, std::string::npos) << line;
    std::string labels = line.substr(0, v_sep);
    std::string value = line.substr(v_sep + 1, ts_sep - v_sep - 1);
    int64_t ts = std::strtoll(line.c_str() + ts_sep + 1, nullptr, 10);
    got[labels].push_back({ts, std::strtod(value.c_str(), nullptr)});
    ++parsed;
  }
  EXPECT_EQ(parsed, 50u * 500);
  ASSERT_EQ(got.size(), input.size());
  for (const SeriesInput& s : input) {
    std::string key = s.labels.ToString();
    auto it = got.find(key);
    ASSERT_NE(it, got.end()) << "promtool did not print " << key;
    std::vector<Sample>& printed = it->second;
    std::sort(printed.begin(), printed.end(),
              [](const Sample& a, const Sample& b) { return a.t < b.t; });
    ASSERT_EQ(printed.size(), s.samples.size()) << key;
    for (size_t k = 0; k < printed.size(); ++k) {
      EXPECT_EQ(printed[k].t, s.samples[k].t) << key << " sample " << k;
      EXPECT_TRUE(SameValue(printed[k].v, s.samples[k].v))
          << key << " sample " << k << ": promtool " << printed[k].v << ", wrote "
          << s.samples[k].v;
    }
  }
}

TEST(PromtoolTest, WeReadAPrometheusWrittenBlock) {
  REQUIRE_PROMTOOL(promtool);
  testing::TempDir dir;
  // Expected data, by labels string. Timestamps in seconds, some with
  // fractions that are exact in binary so the ms value is unambiguous.
  std::map<std::string, std::vector<Sample>> want;
  std::ostringstream om;
  om.precision(17);
  std::mt19937_64 rng(77);
  const int64_t start_s = 1'699'999'200;  // a 2h boundary: one block
  struct Family {
    const char* name;
    int series;
  };
  for (Family f : {Family{"room_temperature_celsius", 6}, Family{"queue_depth", 5}}) {
    om << "# HELP " << f.name << " Test data.\n# TYPE " << f.name << " gauge\n";
    for (int s = 0; s < f.series; ++s) {
      Labels ls = Labels::FromStrings({"__name__", f.name, "site", "dc" + std::to_string(s % 2),
                                       "unit", "u" + std::to_string(s)});
      std::string sel = std::string(f.name) + "{site=\"dc" + std::to_string(s % 2) + "\",unit=\"u" +
                        std::to_string(s) + "\"}";
      auto& samples = want[ls.ToString()];
      int64_t t_ms = start_s * 1000;
      double v = s * 10.0;
      for (int k = 0; k < 300; ++k) {
        t_ms += 15'000 + ((rng() % 4) * 250);
        v += (static_cast<double>(rng() % 2001) - 1000) / 64;
        double value = v;
        if (s == 1 && k == 5) value = std::numeric_limits<double>::infinity();
        if (s == 2 && k == 6) value = std::nan("");
        samples.push_back({t_ms, value});
        om << sel << ' ';
        if (std::isnan(value))
          om << "NaN";
        else if (std::isinf(value))
          om << (value > 0 ? "+Inf" : "-Inf");
        else
          om << value;
        om << ' ' << t_ms / 1000 << '.' << std::setw(3) << std::setfill('0') << t_ms % 1000
           << std::setfill(' ') << '\n';
      }
    }
  }
  om << "# EOF\n";
  std::string input_path = dir.Join("input.om");
  testing::WriteFile(input_path, om.str());
  std::string out_dir = dir.Join("out");

  RunResult made =
      RunTool({promtool, "tsdb", "create-blocks-from", "openmetrics", input_path, out_dir});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  if (std::getenv("SIGHTLINE_TEST_VERBOSE") != nullptr) std::cout << made.output;

  io::Env* env = io::Env::Default();
  auto children = env->GetChildren(out_dir);
  ASSERT_TRUE(children.ok()) << children.status().ToString();
  std::map<std::string, std::vector<Sample>> got;
  int blocks_read = 0;
  size_t chunks_compared = 0;
  for (const std::string& name : *children) {
    if (!blocks::Ulid::Parse(name).ok()) continue;
    auto r = BlockReader::Open(env, io::JoinPath(out_dir, name));
    ASSERT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    ++blocks_read;
    Status s = (*r)->ForEachSeries([&](const Labels& ls, std::span<const Sample> samples) {
      auto& v = got[ls.ToString()];
      v.insert(v.end(), samples.begin(), samples.end());
      return Status::Ok();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();

    // Bit-exactness: re-encode each Prometheus chunk's samples.
    const IndexReader& ix = (*r)->index();
    auto all = ix.AllPostings();
    ASSERT_TRUE(all.ok());
    Labels ls;
    std::vector<ChunkMeta> metas;
    std::string scratch;
    for (SeriesRef ref : *all) {
      ASSERT_TRUE(ix.Series(ref, &ls, &metas).ok());
      for (const ChunkMeta& m : metas) {
        auto raw = (*r)->chunks().Read(m.ref, &scratch);
        ASSERT_TRUE(raw.ok()) << raw.status().ToString();
        ASSERT_EQ(raw->encoding, chunkenc::Encoding::kXor);
        chunkenc::XorChunk ours;
        chunkenc::XorIterator it(raw->data);
        while (it.Next()) ASSERT_TRUE(ours.Append(it.t(), it.v()).ok());
        ASSERT_TRUE(it.status().ok());
        EXPECT_EQ(ours.Bytes(), raw->data) << ls.ToString() << " chunk " << m.ref;
        EXPECT_EQ(ours.MinTime(), m.min_time);
        EXPECT_EQ(ours.MaxTime(), m.max_time);
        ++chunks_compared;
      }
    }
  }
  ASSERT_GE(blocks_read, 1) << made.output;
  EXPECT_GT(chunks_compared, 11u);
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [key, samples] : want) {
    auto it = got.find(key);
    ASSERT_NE(it, got.end()) << key;
    ASSERT_EQ(it->second.size(), samples.size()) << key;
    for (size_t k = 0; k < samples.size(); ++k) {
      EXPECT_EQ(it->second[k].t, samples[k].t) << key << " " << k;
      EXPECT_TRUE(SameValue(it->second[k].v, samples[k].v))
          << key << " " << k << ": read " << it->second[k].v << ", fed " << samples[k].v;
    }
  }
}

}  // namespace
}  // namespace sightline::tsdb
