// Runs Loki's LogQL test scripts (../shared/conformance/logql/cases, read at
// test time, never copied into the repository) through the LogQL engine
// over an in-memory LogQuerier: one gtest case per script, each printing
// its pass/fail/skip counts. Skips (with the reason) when ../shared is not
// next to the repository.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

#include "harness/harness.h"
#include "logqltest.h"

namespace sightline::logs::logql::testing {
namespace {

namespace fs = std::filesystem;

std::string CasesDir() {
  std::string shared = sightline::testing::SharedDir();
  if (shared.empty()) return "";
  std::string dir = shared + "/conformance/logql/cases";
  return fs::is_directory(dir) ? dir : "";
}

class LogqlConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(LogqlConformance, Script) {
  std::string dir = CasesDir();
  if (dir.empty()) {
    GTEST_SKIP() << "../shared/conformance/logql/cases is not next to the repository; the "
                    "LogQL scripts are read from there at test time";
  }
  std::string path = dir + "/" + GetParam();
  if (!fs::exists(path)) GTEST_SKIP() << path << " is missing";
  ScriptReport r = RunLogqlScript(path);
  std::cout << GetParam() << ": " << r.passed << " passed, " << r.failed << " failed, "
            << r.skipped << " skipped\n";
  for (const auto& f : r.failures) ADD_FAILURE() << f;
  EXPECT_GT(r.passed, 0);
}

INSTANTIATE_TEST_SUITE_P(Cases, LogqlConformance,
                         ::testing::Values("binary_operations.logqltest",
                                           "conversions.logqltest", "functions.logqltest",
                                           "label_filters.logqltest", "line_filters.logqltest",
                                           "parsers.logqltest", "range_aggregations.logqltest"),
                         [](const auto& info) {
                           std::string n = info.param;
                           return n.substr(0, n.find('.'));
                         });

// Every script file present must be in the list above.
TEST(LogqlConformance, AllScriptsListed) {
  std::string dir = CasesDir();
  if (dir.empty()) GTEST_SKIP() << "../shared/conformance/logql/cases is not present";
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".logqltest") ++n;
  }
  EXPECT_EQ(n, 7) << "a new script appeared in " << dir << "; add it to the list";
}

}  // namespace
}  // namespace sightline::logs::logql::testing
