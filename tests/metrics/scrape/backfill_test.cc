// Backfill (`sightline import openmetrics`): our blocks against promtool's.
// The same OpenMetrics file goes through `sightline import openmetrics` and
// `promtool tsdb create-blocks-from openmetrics`; `promtool tsdb dump` must
// print the same samples for both, and the blocks must be 2h-aligned.
// Skips the promtool comparison with a reason when promtool is missing.
#include "metrics/scrape/backfill.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include "harness/harness.h"
#include "metrics/tsdb/block.h"

namespace sightline::metrics::scrape {
namespace {

namespace th = sightline::testing;

std::string FindPromtool() {
  if (const char* p = std::getenv("SIGHTLINE_PROMTOOL"); p != nullptr && *p != '\0') return p;
  for (const char* dir : {"/usr/bin", "/usr/local/bin"}) {
    std::string c = std::string(dir) + "/promtool";
    if (::access(c.c_str(), X_OK) == 0) return c;
  }
  return "";
}

struct ToolRun {
  int code = -1;
  std::string out;
};
ToolRun RunTool(const std::vector<std::string>& argv) {
  ToolRun r;
  auto p = th::Process::Start(argv);
  if (!p.ok()) return {-1, p.status().ToString()};
  auto st = (*p)->Wait(std::chrono::seconds(120));
  r.out = (*p)->Output();
  if (st && WIFEXITED(*st)) r.code = WEXITSTATUS(*st);
  return r;
}

// 5h of data in 1-minute steps, starting 1h into a 2h range, for counters,
// gauges with labels that need escaping, NaN/Inf, and a series with gaps.
std::string MakeOpenMetrics() {
  std::ostringstream o;
  const int64_t t0 = 1'700'000'000 - (1'700'000'000 % 7200) + 3600;  // seconds
  o << "# HELP http_requests Requests.\n# TYPE http_requests counter\n";
  for (int i = 0; i < 300; ++i) {
    o << "http_requests_total{code=\"200\",path=\"/a\\\"b\"} " << i * 3 << " " << t0 + i * 60
      << "\n";
    o << "http_requests_total{code=\"500\",path=\"/\\\\x\"} " << i << " " << t0 + i * 60 << ".5\n";
  }
  o << "# TYPE temp gauge\n";
  for (int i = 0; i < 300; i += 7) {
    o << "temp{room=\"k\\nitchen\"} " << (i % 11 == 0 ? "+Inf" : std::to_string(20.25 + i)) << " "
      << t0 + i * 60 << "\n";
  }
  o << "# EOF\n";
  return o.str();
}

std::vector<std::string> SortedLines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '{') out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(BackfillTest, BlocksAreAlignedAndReadable) {
  th::TempDir dir;
  std::string om = MakeOpenMetrics();
  auto r = BackfillOpenMetrics(io::Env::Default(), om, dir.Join("out"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->series, 3u);
  EXPECT_EQ(r->samples, 300u + 300u + 43u);
  // 5h starting 1h into a 2h range: 3 blocks.
  ASSERT_EQ(r->blocks.size(), 3u);
  uint64_t total = 0;
  for (const std::string& ulid : r->blocks) {
    auto b = tsdb::BlockReader::Open(io::Env::Default(), dir.Join("out/" + ulid));
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    const auto& m = (*b)->meta();
    EXPECT_EQ(m.min_time / 7'200'000, (m.max_time - 1) / 7'200'000) << "crosses a 2h boundary";
    ASSERT_TRUE((*b)->ForEachSeries([&](const tsdb::Labels&, std::span<const tsdb::Sample> s) {
                      total += s.size();
                      return Status::Ok();
                    })
                    .ok());
  }
  EXPECT_EQ(total, r->samples);
}

TEST(BackfillTest, Errors) {
  th::TempDir dir;
  auto r = BackfillOpenMetrics(io::Env::Default(), "a 1 10\n", dir.Join("o"));
  EXPECT_EQ(r.status().message(), "parse error: data does not end with # EOF");
  r = BackfillOpenMetrics(io::Env::Default(), "a 1 10\nb 2\n# EOF\n", dir.Join("o"));
  EXPECT_EQ(r.status().message(), "line 2: expected timestamp for series b");
}

TEST(BackfillTest, SameSamplesAsPromtool) {
  std::string promtool = FindPromtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not found (Debian package 'prometheus'): comparison skipped";
  }
  th::TempDir dir;
  th::WriteFile(dir.Join("in.om"), MakeOpenMetrics());

  auto ours = BackfillOpenMetrics(io::Env::Default(), MakeOpenMetrics(), dir.Join("ours"));
  ASSERT_TRUE(ours.ok()) << ours.status().ToString();
  ToolRun theirs = RunTool({promtool, "tsdb", "create-blocks-from", "openmetrics",
                            dir.Join("in.om"), dir.Join("theirs")});
  ASSERT_EQ(theirs.code, 0) << theirs.out;

  // promtool 2.42's dump opens the directory as a DB and wants a wal/ in
  // it, for its own create-blocks output as much as for ours.
  ASSERT_TRUE(io::Env::Default()->CreateDirs(dir.Join("ours/wal")).ok());
  ASSERT_TRUE(io::Env::Default()->CreateDirs(dir.Join("theirs/wal")).ok());
  ToolRun analyze = RunTool({promtool, "tsdb", "analyze", dir.Join("ours")});
  EXPECT_EQ(analyze.code, 0) << analyze.out;
  ToolRun d1 = RunTool({promtool, "tsdb", "dump", dir.Join("ours")});
  ToolRun d2 = RunTool({promtool, "tsdb", "dump", dir.Join("theirs")});
  ASSERT_EQ(d1.code, 0) << d1.out;
  ASSERT_EQ(d2.code, 0) << d2.out;
  auto a = SortedLines(d1.out);
  auto b = SortedLines(d2.out);
  EXPECT_EQ(a.size(), 643u);
  EXPECT_EQ(a, b);
}

// The same through the binary's subcommand.
TEST(BackfillTest, ImportCommand) {
  th::TempDir dir;
  th::WriteFile(dir.Join("in.om"), MakeOpenMetrics());
  ToolRun r =
      RunTool({th::SightlineBinary(), "import", "openmetrics", dir.Join("in.om"), dir.Join("out")});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("imported 643 samples of 3 series into 3 blocks"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("BLOCK ULID "), std::string::npos) << r.out;
  ToolRun bad = RunTool({th::SightlineBinary(), "import", "openmetrics", dir.Join("missing.om")});
  EXPECT_EQ(bad.code, 1) << bad.out;
}

TEST(BackfillTest, ImportUsage) {
  ToolRun r = RunTool({th::SightlineBinary(), "import"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("usage: sightline import openmetrics FILE [OUTPUT_DIR]"), std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace sightline::metrics::scrape
