// Parses every `eval` query of Prometheus' PromQL test scripts (v2.42 and
// v3.14, see ../shared/conformance/promql/README.md) with the matching
// dialect, and checks that each one that must succeed parses and
// round-trips through the printer. Evals that expect failure (`eval_fail`,
// `expect fail ...`, `expected_fail_*`) may fail at parse or evaluation time;
// they are only counted.
//
// The data is not part of the repository: the test skips when the shared
// directory is absent (e.g. in a user's clone).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness/harness.h"
#include "metrics/promql/parser.h"
#include "metrics/promql/printer.h"

namespace sightline::promql {
namespace {

namespace fs = std::filesystem;

struct EvalCase {
  std::string file;
  int line = 0;
  std::string query;
  bool expect_fail = false;
};

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Skips `n` whitespace-separated words.
std::string_view SkipWords(std::string_view s, int n) {
  for (int i = 0; i < n; ++i) {
    s = TrimLeft(s);
    const size_t sp = s.find_first_of(" \t");
    if (sp == std::string_view::npos) return {};
    s.remove_prefix(sp);
  }
  return TrimLeft(s);
}

// Reads the eval commands of one test script (DSL.md): `eval[_fail|_ordered|
// _warn|_info] instant at <t> <query>` and `eval ... range from <a> to <b>
// step <s> <query>`, with the `expect` lines that follow.
std::vector<EvalCase> ReadEvals(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::vector<EvalCase> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = TrimRight(TrimLeft(lines[i]));
    if (!line.starts_with("eval")) continue;
    const std::string_view cmd = line.substr(0, line.find_first_of(" \t"));
    std::string_view rest = SkipWords(line, 1);
    std::string_view query;
    if (rest.starts_with("instant")) {
      query = SkipWords(rest, 3);  // instant at <time>
    } else if (rest.starts_with("range")) {
      query = SkipWords(rest, 7);  // range from <a> to <b> step <s>
    } else {
      ADD_FAILURE() << path << ":" << i + 1 << ": cannot read eval line: " << line;
      continue;
    }
    EvalCase c;
    c.file = path.parent_path().filename().string() + "/" + path.filename().string();
    c.line = static_cast<int>(i + 1);
    c.query = std::string(query);
    c.expect_fail = cmd == "eval_fail";
    for (size_t j = i + 1; j < lines.size(); ++j) {
      const std::string_view next = TrimRight(TrimLeft(lines[j]));
      if (next.empty() || next.starts_with("eval") || next.starts_with("load") ||
          next.starts_with("clear")) {
        break;
      }
      if (next.starts_with("expect fail") || next.starts_with("expected_fail_message") ||
          next.starts_with("expected_fail_regexp")) {
        c.expect_fail = true;
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

// Queries allowed to fail with the reason. Empty: every query that must
// parse does.
const std::map<std::string, std::string>& KnownGaps() {
  static const std::map<std::string, std::string> gaps;
  return gaps;
}

struct Counts {
  int total = 0;
  int must_parse = 0;
  int parsed = 0;
  int expect_fail = 0;
  int expect_fail_parsed = 0;
  int known_gaps = 0;
};

void RunVersion(const fs::path& dir, const ParseOptions& options, Counts* counts) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".test") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << "no .test files in " << dir;
  for (const fs::path& file : files) {
    for (const EvalCase& c : ReadEvals(file)) {
      ++counts->total;
      Result<ExprPtr> e = ParseExpr(c.query, options);
      if (c.expect_fail) {
        ++counts->expect_fail;
        if (e.ok()) ++counts->expect_fail_parsed;
      } else {
        ++counts->must_parse;
        if (e.ok()) {
          ++counts->parsed;
        } else if (KnownGaps().count(c.query) != 0) {
          ++counts->known_gaps;
        } else {
          ADD_FAILURE() << c.file << ":" << c.line << ": " << c.query << "\n  "
                        << e.status().message();
        }
      }
      if (!e.ok()) continue;
      // The canonical form must parse back to the same tree.
      const std::string printed = ToString(**e);
      Result<ExprPtr> again = ParseExpr(printed, options);
      if (!again.ok()) {
        ADD_FAILURE() << c.file << ":" << c.line << ": printed form does not parse: " << printed
                      << "\n  " << again.status().message();
        continue;
      }
      EXPECT_EQ(DebugString(**again), DebugString(**e))
          << c.file << ":" << c.line << ": " << c.query << " printed as " << printed;
    }
  }
}

class ConformanceParseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string shared = testing::SharedDir();
    if (shared.empty()) {
      GTEST_SKIP() << "PromQL conformance data not found: expected ../shared/conformance/promql "
                      "next to the source tree (SIGHTLINE_SOURCE_DIR); it is not part of the "
                      "repository";
    }
    root_ = fs::path(shared) / "conformance" / "promql";
    if (!fs::is_directory(root_)) GTEST_SKIP() << root_ << " does not exist";
  }

  void Report(std::string_view version, const Counts& c) {
    std::ostringstream msg;
    msg << version << ": " << c.total << " evals; " << c.parsed << "/" << c.must_parse
        << " that must parse do";
    if (c.known_gaps > 0) msg << " (" << c.known_gaps << " known gaps)";
    msg << "; " << c.expect_fail << " expect failure (" << c.expect_fail_parsed << " parse, "
        << c.expect_fail - c.expect_fail_parsed << " rejected by the parser)";
    std::cout << "[conformance] " << msg.str() << std::endl;
    RecordProperty(std::string(version), msg.str());
  }

  fs::path root_;
};

TEST_F(ConformanceParseTest, Prometheus2_42) {
  Counts counts;
  RunVersion(root_ / "v2.42", ParseOptions::Prometheus2(), &counts);
  Report("v2.42", counts);
  EXPECT_GT(counts.must_parse, 500);
  EXPECT_EQ(counts.parsed + counts.known_gaps, counts.must_parse);
}

TEST_F(ConformanceParseTest, Prometheus3_14) {
  Counts counts;
  RunVersion(root_ / "v3.14", ParseOptions(), &counts);
  Report("v3.14", counts);
  EXPECT_GT(counts.must_parse, 2000);
  EXPECT_EQ(counts.parsed + counts.known_gaps, counts.must_parse);
}

}  // namespace
}  // namespace sightline::promql
