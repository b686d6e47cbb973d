// Label matchers to postings: which series (as sorted refs) a list of
// matchers selects, with Prometheus's semantics (tsdb/querier.go,
// PostingsForMatchers in 2.42):
//  - a matcher that matches the empty string also selects series that do
//    not have the label at all ({foo=""}, {foo!="bar"}, {foo=~"|x"},
//    {foo!~"x"});
//  - one that does not match the empty string requires the label;
//  - the result is the intersection of the "positive" postings minus the
//    union of the "negative" ones, starting from all series when there is no
//    positive one; no matchers select nothing.
//
// Written once for any index: the head's MemPostings (head_read.cc) and a
// block's IndexReader (db_querier.cc) provide an adapter with
//   std::vector<uint64_t> All();
//   std::vector<uint64_t> Equal(std::string_view name, std::string_view value);
//   // union of the postings of name's values v for which pred(v) holds
//   template <class Pred> std::vector<uint64_t> Values(std::string_view name, Pred pred);
// all returning sorted refs (or an error through the adapter's own status).
//
// Thread-safety: pure functions; the adapter does the locking.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "metrics/promql/matcher.h"

namespace sightline::tsdb {

// Sorted-set operations on sorted, unique ref lists.
std::vector<uint64_t> IntersectPostings(std::span<const uint64_t> a, std::span<const uint64_t> b);
std::vector<uint64_t> WithoutPostings(std::span<const uint64_t> a, std::span<const uint64_t> b);
// Union of several sorted lists (each unique), sorted and unique.
std::vector<uint64_t> MergePostings(std::vector<std::vector<uint64_t>> lists);

template <typename Index>
std::vector<uint64_t> SelectPostings(Index& ix, const std::vector<promql::Matcher>& ms) {
  using promql::MatchType;
  if (ms.empty()) return {};
  std::map<std::string, bool> must_be_set;
  for (const promql::Matcher& m : ms) {
    if (!m.Matches("")) must_be_set[m.name()] = true;
  }
  std::vector<std::vector<uint64_t>> its;
  std::vector<std::vector<uint64_t>> not_its;
  auto matching = [&](const promql::Matcher& m) {
    if (m.type() == MatchType::kEqual) return ix.Equal(m.name(), m.value());
    return ix.Values(m.name(), [&m](std::string_view v) { return m.Matches(v); });
  };
  auto not_matching = [&](const promql::Matcher& m) {
    return ix.Values(m.name(), [&m](std::string_view v) { return !m.Matches(v); });
  };
  for (const promql::Matcher& m : ms) {
    const bool is_not = m.type() == MatchType::kNotEqual || m.type() == MatchType::kNotRegexp;
    if (must_be_set.count(m.name()) > 0) {
      const bool matches_empty = m.Matches("");
      if (is_not && matches_empty) {
        // {l!="foo"} with l required elsewhere: subtract l="foo".
        not_its.push_back(not_matching(m));
      } else {
        // {l="a"}, {l=~"a.*"}, or {l!=""}: the values that match.
        std::vector<uint64_t> p = matching(m);
        if (p.empty()) return {};
        its.push_back(std::move(p));
      }
    } else {
      // Matches "": every series except those with a non-matching value.
      not_its.push_back(not_matching(m));
    }
  }
  std::vector<uint64_t> result;
  if (its.empty()) {
    result = ix.All();
  } else {
    // Smallest first keeps intermediate results small.
    std::sort(its.begin(), its.end(),
              [](const auto& a, const auto& b) { return a.size() < b.size(); });
    result = std::move(its[0]);
    for (size_t i = 1; i < its.size() && !result.empty(); ++i) {
      result = IntersectPostings(result, its[i]);
    }
  }
  for (const auto& n : not_its) {
    if (result.empty()) break;
    if (!n.empty()) result = WithoutPostings(result, n);
  }
  return result;
}

}  // namespace sightline::tsdb
