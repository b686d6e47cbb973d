#include "app/import_command.h"

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string_view>

#include "io/env.h"
#include "metrics/scrape/backfill.h"

namespace sightline::app {

namespace {

constexpr const char* kUsage =
    "usage: sightline import openmetrics FILE [OUTPUT_DIR]\n\n"
    "Writes the samples of an OpenMetrics file (timestamps in seconds, ending with # EOF)\n"
    "into Prometheus TSDB blocks of 2h in OUTPUT_DIR (default ./data), like\n"
    "promtool tsdb create-blocks-from openmetrics.\n"
    "  --block-duration=DURATION   block length in hours (default 2h)\n";

}  // namespace

bool IsImportCommand(const std::vector<std::string>& args) {
  return !args.empty() && args[0] == "import";
}

int RunImportCommand(const std::vector<std::string>& args) {
  std::vector<std::string> pos;
  metrics::scrape::BackfillOptions opts;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a.rfind("--block-duration=", 0) == 0) {
      std::string_view v = std::string_view(a).substr(17);
      int64_t hours = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), hours);
      if (ec != std::errc() || p != v.data() + v.size() - 1 || *p != 'h' || hours <= 0) {
        std::fprintf(stderr, "sightline import: --block-duration must be whole hours (2h)\n");
        return 2;
      }
      opts.block_duration_ms = hours * 3600 * 1000;
      continue;
    }
    pos.push_back(a);
  }
  if (pos.size() < 2 || pos.size() > 3 || pos[0] != "openmetrics") {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::ifstream in(pos[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "sightline import: cannot open %s\n", pos[1].c_str());
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string out_dir = pos.size() == 3 ? pos[2] : "data";
  auto start = std::chrono::steady_clock::now();
  auto r = metrics::scrape::BackfillOpenMetrics(io::Env::Default(), ss.str(), out_dir, opts);
  if (!r.ok()) {
    std::fprintf(stderr, "sightline import: %s\n", r.status().message().c_str());
    return 1;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& b : r->blocks) std::printf("BLOCK ULID %s\n", b.c_str());
  std::printf("imported %llu samples of %llu series into %zu blocks in %s (%.2fs)\n",
              static_cast<unsigned long long>(r->samples),
              static_cast<unsigned long long>(r->series), r->blocks.size(), out_dir.c_str(), secs);
  return 0;
}

}  // namespace sightline::app
