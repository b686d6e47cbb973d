#include "metrics/tsdb/head_postings.h"

namespace sightline::tsdb {

std::vector<uint64_t> IntersectPostings(std::span<const uint64_t> a, std::span<const uint64_t> b) {
  std::vector<uint64_t> out;
  out.reserve(std::min(a.size(), b.size()));
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::vector<uint64_t> WithoutPostings(std::span<const uint64_t> a, std::span<const uint64_t> b) {
  std::vector<uint64_t> out;
  out.reserve(a.size());
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::vector<uint64_t> MergePostings(std::vector<std::vector<uint64_t>> lists) {
  if (lists.empty()) return {};
  if (lists.size() == 1) return std::move(lists[0]);
  size_t total = 0;
  for (const auto& l : lists) total += l.size();
  std::vector<uint64_t> out;
  out.reserve(total);
  for (const auto& l : lists) out.insert(out.end(), l.begin(), l.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace sightline::tsdb
