// LineMatcher: "does any of these terms occur in the line?" for LogQL line
// filters (`|= "a" or "b"`, `|~ "re"`), with Vectorscan (Hyperscan) where it
// is measurably faster and RE2/memmem elsewhere (docs/benchmarks.md, Logs:
// "Line filter engines").
//
// Semantics are always RE2's (Loki uses Go's regexp, which RE2 matches):
// a regex term is handed to Vectorscan only after TranslateForVectorscan
// rewrote it, from a conservative subset of RE2 syntax, into an equivalent
// byte-level Hyperscan pattern (UTF-8 `.` and classes spelled out as byte
// sequences, RE2's ASCII \d \w \s, (?i) folding incl. U+017F/U+212A). Any
// construct outside that subset (\b, \p{..}, flags other than a leading
// (?i), ...), and any pattern Vectorscan refuses to compile (e.g. one that
// matches the empty string), stays on RE2.
//
// Whole-column scanning: MatchColumn runs ONE hs_scan over the contiguous
// lines column of a chunk block (chunk.h) instead of one call per line; a
// match end offset is mapped to its line by binary search over the line
// offsets, that line is confirmed on its own (a match may straddle two
// lines: the column has no separators), and the scan resumes at the next
// line. Only patterns whose matching does not look outside the matched bytes
// qualify (no ^ or $), and not those with `.*`-like repeats (slower that
// way); others are scanned line by line.
//
// Thread-safety: immutable after Make; Match/MatchColumn may be called from
// any number of threads (each thread keeps its own Vectorscan scratch).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "logs/logql/storage.h"

namespace sightline::logs::logql {

struct MatchTerm {
  std::string text;    // a literal, or an RE2-valid regex
  bool regex = false;
};

enum class MatchEngine {
  kAuto,        // the measured choice (line_matcher.cc: UseVectorscan)
  kVectorscan,  // every term Vectorscan can take; the rest RE2/memmem
  kRe2,         // literals by memmem, regexes by RE2 (the reference)
};

class LineMatcher final : public LineFilterHint {
 public:
  // InvalidArgument if a regex term is not valid RE2.
  static Result<std::shared_ptr<const LineMatcher>> Make(std::vector<MatchTerm> terms,
                                                         MatchEngine engine = MatchEngine::kAuto);
  ~LineMatcher() override;
  LineMatcher(const LineMatcher&) = delete;
  LineMatcher& operator=(const LineMatcher&) = delete;

  // Whether any term matches somewhere in `line`.
  bool Match(std::string_view line) const override;
  // Lines [lo, hi) of a lines column (line i is column[off[i], off[i+1]));
  // appends the indexes of the lines that Match(), in increasing order.
  void MatchColumn(std::string_view column, const uint32_t* off, size_t lo, size_t hi,
                   std::vector<uint32_t>* hits) const override;

  // Terms compiled into the Vectorscan database (the others use RE2/memmem).
  size_t vectorscan_terms() const { return hs_terms_; }
  // Whether MatchColumn scans the column in one pass.
  bool column_scan() const { return column_; }

 private:
  struct Impl;
  LineMatcher() = default;
  bool MatchFallback(std::string_view line) const;
  bool MatchHs(std::string_view data, uint64_t* end) const;

  std::unique_ptr<Impl> impl_;
  size_t hs_terms_ = 0;
  bool column_ = false;
  bool always_ = false;  // an empty literal term: every line matches
};

// Rewrites an RE2 pattern into an equivalent Hyperscan pattern for byte-mode
// (non-UTF8) compilation. False when the pattern uses anything outside the
// supported subset. `anchored` is set when the pattern must be matched line
// by line: it contains ^ or $, or an unbounded repeat of `.` or of a negated
// class (`.*`, `[^"]+`), which over a whole column keeps matching across
// line boundaries (measured 2x slower than per line).
bool TranslateForVectorscan(std::string_view re2_pattern, std::string* hs_pattern,
                            bool* anchored);

// A literal as a Hyperscan pattern (every byte escaped).
std::string HsLiteral(std::string_view literal);

}  // namespace sightline::logs::logql
