// Fuzz target for the LogQL front end: parsing (lexer, parser, stage
// compilation: regexes, patterns, json paths, Go templates), printing, and
// running the pipeline of a log query over a few lines derived from the
// input (so parsers, label filters and templates see hostile data too).
//
// Contracts checked besides "does not crash": a query that parses prints a
// String() that parses again to the same String().
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "logs/logql/engine.h"

namespace {

using sightline::logs::Entry;
using sightline::logs::Labels;
namespace logql = sightline::logs::logql;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "contract violated: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Input: "<query>\n<line>\n<line>..." — the query is the first line.
  size_t nl = in.find('\n');
  std::string query(in.substr(0, nl));
  auto q = logql::Parse(query);
  if (!q.ok()) return 0;
  std::string s = q->String();
  auto again = logql::Parse(s);
  if (!again.ok()) Fail("String() does not parse", s + " -> " + again.status().message());
  if (again->String() != s) Fail("String() is not stable", s + " vs " + again->String());
  (void)q->Pretty();
  (void)q->StreamMatchers();
  if (q->IsLogQuery()) {
    auto p = logql::LogPipeline::Make(*q);
    if (!p.ok()) Fail("LogPipeline::Make failed on a log query", p.status().message());
    Labels stream = Labels::FromStrings({"app", "fuzz", "level", "info"});
    std::string_view rest = nl == std::string_view::npos ? "" : in.substr(nl + 1);
    int64_t ts = 1;
    while (true) {
      size_t e = rest.find('\n');
      std::string line(rest.substr(0, e));
      logql::LogEntry out;
      Labels all;
      (*p)->Process(stream, Entry{ts++, line, Labels::FromStrings({"trace_id", line.substr(0, 8)})},
                    &out, &all);
      if (e == std::string_view::npos) break;
      rest.remove_prefix(e + 1);
    }
  }
  return 0;
}
