// Helpers shared by the head and DB tests: matchers, reading a whole
// selection back as plain data, comparing with a reference store.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "metrics/promql/matcher.h"
#include "metrics/storage/storage.h"
#include "metrics/tsdb/labels.h"

namespace sightline::tsdb::testutil {

using promql::MatchType;

inline promql::Matcher M(MatchType type, std::string name, std::string value) {
  auto m = promql::Matcher::Make(type, std::move(name), std::move(value));
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}
inline promql::Matcher Eq(std::string n, std::string v) { return M(MatchType::kEqual, n, v); }
inline promql::Matcher Neq(std::string n, std::string v) { return M(MatchType::kNotEqual, n, v); }
inline promql::Matcher Re(std::string n, std::string v) { return M(MatchType::kRegexp, n, v); }
inline promql::Matcher Nre(std::string n, std::string v) { return M(MatchType::kNotRegexp, n, v); }

// A sample as bits, so NaN payloads compare exactly.
using BitsSample = std::pair<int64_t, uint64_t>;
// Labels (as a string) -> samples, in the order the SeriesSet returned them
// (std::map order is Labels::ToString order, so `order` keeps the original).
struct Selection {
  std::map<std::string, std::vector<BitsSample>> series;
  std::vector<std::string> order;
  bool sorted = true;
  std::string error;
};

// Reads everything `matchers` select; series without samples in range are
// left out (stores differ in whether they list them).
inline Selection ReadAll(metrics::Querier& q, const std::vector<promql::Matcher>& matchers,
                         bool want_sorted = true) {
  Selection out;
  auto set = q.Select(want_sorted, nullptr, matchers);
  const Labels* prev = nullptr;
  Labels prev_copy;
  while (set->Next()) {
    const metrics::Series& s = set->At();
    if (prev != nullptr && !(prev_copy < s.labels())) out.sorted = false;
    prev_copy = s.labels();
    prev = &prev_copy;
    auto it = s.Iterator();
    std::vector<BitsSample> samples;
    int64_t last = std::numeric_limits<int64_t>::min();
    while (it->Next()) {
      if (!samples.empty() && it->t() <= last)
        out.error = "timestamps not increasing in " + s.labels().ToString();
      last = it->t();
      samples.emplace_back(it->t(), std::bit_cast<uint64_t>(it->v()));
    }
    if (!it->err().ok()) out.error = it->err().ToString();
    if (samples.empty()) continue;
    std::string key = s.labels().ToString();
    if (out.series.count(key) > 0) out.error = "series listed twice: " + key;
    out.series[key] = std::move(samples);
    out.order.push_back(key);
  }
  if (!set->err().ok()) out.error = set->err().ToString();
  return out;
}

inline std::string Describe(const std::vector<promql::Matcher>& ms) {
  std::string s = "{";
  for (size_t i = 0; i < ms.size(); ++i) s += (i ? ", " : "") + ms[i].ToString();
  return s + "}";
}

}  // namespace sightline::tsdb::testutil
