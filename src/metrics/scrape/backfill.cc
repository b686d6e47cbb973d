#include "metrics/scrape/backfill.h"

#include <algorithm>
#include <limits>
#include <map>

#include "metrics/scrape/textparse.h"
#include "metrics/tsdb/block.h"

namespace sightline::metrics::scrape {

namespace {

int64_t FloorTo(int64_t t, int64_t d) {
  int64_t q = t / d;
  if (t % d != 0 && t < 0) --q;
  return q * d;
}

size_t LineOf(std::string_view input, const char* at) {
  if (at < input.data() || at > input.data() + input.size()) return 0;
  return static_cast<size_t>(std::count(input.data(), at, '\n')) + 1;
}

}  // namespace

Result<BackfillResult> BackfillOpenMetrics(io::Env* env, std::string_view input,
                                           const std::string& output_dir,
                                           const BackfillOptions& options) {
  if (options.block_duration_ms <= 0)
    return InvalidArgumentError("block duration must be positive");
  std::map<std::string, std::pair<tsdb::Labels, std::vector<tsdb::Sample>>> by_series;
  TextParser p(input, Format::kOpenMetrics);
  BackfillResult out;
  out.min_time = std::numeric_limits<int64_t>::max();
  out.max_time = std::numeric_limits<int64_t>::min();
  while (true) {
    Result<bool> more = p.Next();
    if (!more.ok()) {
      return InvalidArgumentError("parse error: " + more.status().message());
    }
    if (!*more) break;
    if (p.entry() != TextParser::Entry::kSeries) continue;
    if (!p.has_timestamp()) {
      return InvalidArgumentError("line " + std::to_string(LineOf(input, p.series_text().data())) +
                                  ": expected timestamp for series " +
                                  std::string(p.series_text()));
    }
    auto it = by_series.find(std::string(p.series_text()));
    if (it == by_series.end()) {
      Result<tsdb::Labels> ls = p.SeriesLabels();
      if (!ls.ok()) {
        return InvalidArgumentError("line " +
                                    std::to_string(LineOf(input, p.series_text().data())) + ": " +
                                    ls.status().message());
      }
      it = by_series
               .emplace(std::string(p.series_text()),
                        std::make_pair(std::move(*ls), std::vector<tsdb::Sample>{}))
               .first;
    }
    it->second.second.push_back({p.timestamp_ms(), p.value()});
    out.min_time = std::min(out.min_time, p.timestamp_ms());
    out.max_time = std::max(out.max_time, p.timestamp_ms());
  }
  if (by_series.empty()) return out;

  // One entry per distinct label set (different spellings of one series
  // merge), samples sorted with the last value of a timestamp kept.
  std::map<tsdb::Labels, std::vector<tsdb::Sample>> series;
  for (auto& [key, v] : by_series) {
    auto& dst = series[v.first];
    dst.insert(dst.end(), v.second.begin(), v.second.end());
  }
  for (auto& [ls, samples] : series) {
    std::stable_sort(samples.begin(), samples.end(),
                     [](const tsdb::Sample& a, const tsdb::Sample& b) { return a.t < b.t; });
    std::vector<tsdb::Sample> dedup;
    dedup.reserve(samples.size());
    for (const tsdb::Sample& s : samples) {
      if (!dedup.empty() && dedup.back().t == s.t) {
        dedup.back() = s;
      } else {
        dedup.push_back(s);
      }
    }
    samples.swap(dedup);
    out.samples += samples.size();
  }
  out.series = series.size();

  SL_RETURN_IF_ERROR(env->CreateDirs(output_dir));
  const int64_t d = options.block_duration_ms;
  for (int64_t start = FloorTo(out.min_time, d); start <= out.max_time; start += d) {
    const int64_t end = start + d;
    std::vector<tsdb::SeriesInput> inputs;
    for (const auto& [ls, samples] : series) {
      auto lo = std::lower_bound(samples.begin(), samples.end(), start,
                                 [](const tsdb::Sample& s, int64_t t) { return s.t < t; });
      auto hi = std::lower_bound(lo, samples.end(), end,
                                 [](const tsdb::Sample& s, int64_t t) { return s.t < t; });
      if (lo == hi) continue;
      tsdb::SeriesInput in;
      in.labels = ls;
      in.samples.assign(lo, hi);
      inputs.push_back(std::move(in));
    }
    if (inputs.empty()) continue;
    tsdb::WriteBlockOptions wo;
    // Like promtool: the block spans its data (first sample to last + 1).
    SL_ASSIGN_OR_RETURN(blocks::Ulid ulid, tsdb::WriteBlock(env, output_dir, inputs, wo));
    out.blocks.push_back(ulid.ToString());
  }
  return out;
}

}  // namespace sightline::metrics::scrape
