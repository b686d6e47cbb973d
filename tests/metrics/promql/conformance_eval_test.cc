// Runs Prometheus's PromQL test scripts (../shared/conformance/promql, not
// part of the repository) through the engine with the promqltest runner:
// every v2.42 script in the 2.x dialect and every v3.14 script in the
// default (3.x) dialect, one gtest case per script so that failures show
// per file. Each case prints its pass/fail/skip counts.
//
// Evals that cannot pass because they need something Sightline does not
// implement (native histograms, some experimental 3.x features) are listed in
// kSkips below with the reason, per file and line; nothing is skipped
// silently. A skipped eval that starts passing fails the test, so the list
// cannot go stale.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness/harness.h"
#include "promqltest.h"

namespace sightline::promql {
namespace {

namespace fs = std::filesystem;

constexpr const char* kV2Files[] = {
    "aggregators.test", "at_modifier.test", "collision.test",      "functions.test",
    "histograms.test",  "literals.test",    "operators.test",      "selectors.test",
    "staleness.test",   "subquery.test",    "trig_functions.test",
};

constexpr const char* kV3Files[] = {
    "aggregators.test",
    "at_modifier.test",
    "collision.test",
    "duration_expression.test",
    "extended_vectors.test",
    "fill-modifier.test",
    "functions.test",
    "histograms.test",
    "info.test",
    "limit.test",
    "literals.test",
    "name_label_dropping.test",
    "native_histograms.test",
    "operators.test",
    "range_queries.test",
    "selectors.test",
    "staleness.test",
    "start_timestamps.test",
    "subquery.test",
    "trig_functions.test",
    "type_and_unit.test",
};

// Why evals are skipped.
constexpr const char* kNativeHistograms =
    "native histograms not implemented (the eval reads native-histogram series, which the "
    "runner does not load)";
constexpr const char* kExtendedRangeSelectors =
    "experimental anchored/smoothed range selectors not implemented";
constexpr const char* kInfoFunction = "experimental info() function not implemented";
constexpr const char* kStartTimestamps =
    "experimental start timestamps (created timestamps) not implemented";

struct SkipGroup {
  const char* file;  // "v3.14/native_histograms.test"
  const char* reason;
  std::vector<int> lines;  // Of the `eval` lines.
};

// The explicit skip list: every eval not run, by file and line, with why.
const std::vector<SkipGroup>& Skips() {
  static const std::vector<SkipGroup> kSkips = {
      {"v3.14/aggregators.test",
       kNativeHistograms,
       {239, 244, 252, 257, 370, 374, 378, 382, 386, 390, 396, 400, 404, 408, 412, 416, 447,
        453, 459, 467, 474, 520, 528, 573, 805, 809, 814, 817, 820, 825, 837, 841, 845, 850}},
      {"v3.14/extended_vectors.test",
       kExtendedRangeSelectors,
       {32,  35,  38,  41,  44,  47,  50,  53,  56,  59,  62,  65,  68,  71,  74,  77,
        80,  83,  118, 121, 124, 127, 130, 133, 136, 139, 142, 145, 148, 151, 154, 157,
        160, 163, 166, 169, 178, 181, 193, 198, 205, 210, 215, 225, 230, 235, 240, 247,
        251, 275, 281, 287, 299, 317, 321, 324, 328, 339, 343, 346, 350, 358, 366, 388,
        390, 407, 410, 416, 427, 429, 431, 434, 436, 455, 458, 745, 766}},
      {"v3.14/extended_vectors.test",
       kNativeHistograms,
       {468, 471, 475, 478, 484, 487, 493, 497, 501, 504, 510, 515, 520, 526, 530, 534, 545,
        555, 561, 570, 573, 576, 579, 588, 592, 598, 607, 610, 622, 631, 642, 653, 664, 676,
        686, 695, 698, 715, 742, 748, 751, 754, 757, 760, 763, 769, 772, 775, 778}},
      {"v3.14/functions.test",
       kNativeHistograms,
       {47,   52,   92,   97,   245,  249,  256,  260,  264,  267,  271,  290,  295,  300,  328,
        332,  339,  343,  347,  350,  353,  384,  388,  445,  449,  536,  539,  542,  545,  548,
        551,  660,  663,  666,  906,  1061, 1065, 1070, 1073, 1076, 1253, 1261, 1315, 1343, 1346,
        1365, 1368, 1442, 1597, 1617, 1625, 1637, 1649, 1750, 1752, 1845, 1847, 2020}},
      {"v3.14/histograms.test",
       kNativeHistograms,
       {72,   84,   96,   102,  108,  115,  123,  131,  140,  150,  176,  195,  215,  232,
        249,  267,  285,  304,  322,  339,  354,  369,  384,  403,  422,  441,  459,  479,
        492,  505,  519,  533,  551,  561,  571,  581,  591,  601,  629,  637,  647,  659,
        669,  681,  691,  709,  721,  733,  743,  753,  764,  774,  784,  796,  804,  812,
        820,  828,  836,  847,  855,  865,  873,  883,  893,  904,  914,  925,  939,  954,
        968,  983,  987,  991,  1008, 1048, 1081, 1084, 1102, 1110, 1120, 1123, 1134, 1137,
        1140, 1143, 1158, 1163, 1168, 1223, 1228, 1233}},
      {"v3.14/info.test", kInfoFunction, {9,   13,  17,  22,  27,  32,  36,  40,  46,  50,  56,
                                          60,  64,  68,  71,  75,  79,  83,  89,  93,  98,  104,
                                          116, 129, 133, 145, 158, 170, 175, 180, 202, 207, 211,
                                          225, 241, 246, 258, 267, 279, 293, 304}},
      {"v3.14/limit.test", kNativeHistograms, {34,  44,  49,  52,  56,  61,  66,  69,
                                               72,  75,  79,  110, 114, 118, 123, 131,
                                               139, 146, 154, 166, 169, 173}},
      {"v3.14/native_histograms.test",
       kNativeHistograms,
       {6,    10,   14,   18,   22,   26,   37,   41,   45,   49,   53,   61,   65,   75,   78,
        81,   84,   88,   93,   96,   99,   102,  106,  117,  120,  123,  127,  131,  135,  138,
        141,  144,  148,  152,  156,  162,  176,  179,  182,  185,  189,  199,  202,  205,  211,
        215,  224,  227,  230,  234,  238,  248,  251,  254,  257,  261,  270,  273,  276,  279,
        284,  294,  297,  306,  310,  320,  323,  332,  335,  344,  347,  356,  359,  368,  371,
        380,  383,  392,  395,  404,  407,  416,  420,  427,  431,  435,  439,  444,  448,  452,
        462,  466,  473,  477,  481,  485,  489,  493,  505,  509,  513,  517,  521,  527,  531,
        535,  540,  544,  548,  552,  556,  569,  574,  577,  580,  590,  595,  598,  601,  611,
        616,  619,  622,  631,  636,  639,  642,  650,  659,  662,  665,  668,  672,  676,  681,
        684,  687,  694,  697,  700,  703,  706,  709,  712,  715,  718,  721,  724,  727,  730,
        733,  736,  739,  742,  745,  748,  751,  754,  761,  764,  767,  770,  773,  776,  779,
        782,  785,  788,  791,  794,  797,  800,  803,  806,  809,  812,  815,  818,  821,  824,
        827,  830,  833,  836,  839,  842,  845,  848,  857,  860,  863,  866,  869,  872,  875,
        878,  881,  884,  887,  890,  893,  896,  899,  902,  905,  908,  911,  914,  917,  920,
        923,  926,  929,  932,  935,  938,  941,  944,  947,  956,  960,  964,  968,  972,  976,
        980,  984,  988,  992,  996,  1000, 1004, 1008, 1012, 1016, 1020, 1024, 1027, 1030, 1033,
        1045, 1048, 1051, 1054, 1061, 1066, 1070, 1080, 1083, 1086, 1096, 1101, 1112, 1117, 1124,
        1131, 1138, 1150, 1156, 1161, 1166, 1172, 1177, 1183, 1188, 1193, 1209, 1213, 1225, 1229,
        1234, 1237, 1240, 1243, 1248, 1254, 1257, 1262, 1266, 1277, 1281, 1285, 1296, 1301, 1306,
        1310, 1314, 1318, 1322, 1326, 1330, 1334, 1341, 1345, 1349, 1353, 1357, 1361, 1365, 1370,
        1374, 1378, 1398, 1415, 1419, 1422, 1432, 1436, 1468, 1496, 1499, 1502, 1505, 1508, 1511,
        1514, 1517, 1527, 1530, 1533, 1536, 1539, 1542, 1545, 1548, 1558, 1561, 1572, 1576, 1590,
        1593, 1596, 1605, 1616, 1621, 1626, 1631, 1635, 1639, 1644, 1648, 1653, 1670, 1678, 1688,
        1696, 1702, 1706, 1710, 1714, 1726, 1733, 1740, 1747, 1752, 1769, 1774, 1779, 1784, 1790,
        1795, 1800, 1805, 1811, 1816, 1821, 1826, 1832, 1837, 1842, 1847, 1857, 1862, 1867, 1872,
        1880, 1885, 1914, 1917, 1933, 1936, 1947, 1951, 1955, 1960, 1964, 1969, 1983, 1986, 1989,
        2002, 2005, 2014, 2022, 2033, 2043, 2046, 2049, 2052, 2055, 2058, 2063, 2066, 2073, 2076,
        2079, 2082, 2086, 2089, 2092, 2095, 2103, 2106, 2109, 2112, 2115, 2118, 2126, 2129, 2132,
        2135, 2138, 2141, 2149, 2152, 2155, 2158, 2161, 2164, 2167, 2170, 2173, 2176, 2184, 2187,
        2191, 2194, 2197, 2201, 2204, 2207, 2210, 2213, 2217, 2220, 2228, 2231, 2234, 2242, 2245,
        2253, 2257, 2261, 2265, 2269, 2273, 2281, 2285, 2289, 2293, 2297, 2301, 2309, 2313, 2317,
        2321, 2325, 2329, 2333, 2337, 2345, 2349, 2353, 2357, 2361, 2365, 2369, 2373, 2377, 2380,
        2390, 2399, 2403, 2407, 2411, 2415, 2419, 2423, 2427, 2431, 2435, 2446, 2449, 2452, 2455,
        2459, 2462, 2465, 2468, 2472, 2475, 2478, 2481, 2485, 2488, 2491, 2494, 2498, 2501, 2504,
        2507, 2511, 2514, 2517, 2520, 2524, 2527, 2530, 2533}},
      {"v3.14/operators.test",
       kNativeHistograms,
       {292, 296, 299, 302, 305, 308, 312, 564, 568, 572, 576, 588, 592, 596, 600, 612, 616, 620,
        624, 636, 640, 644, 648, 660, 664, 668, 672, 684, 688, 692, 696, 745, 749, 753, 757, 761,
        765, 769, 773, 777, 781, 785, 789, 793, 797, 801, 805, 809, 813, 817, 821, 825, 829, 833,
        837, 887, 891, 895, 899, 903, 907, 911, 915, 919, 923, 927, 931, 969, 973}},
      {"v3.14/range_queries.test", kNativeHistograms, {93}},
      {"v3.14/start_timestamps.test",
       kNativeHistograms,
       {207, 210, 213, 217, 234, 240, 246, 259, 305, 310}},
      {"v3.14/start_timestamps.test",
       kStartTimestamps,
       {8, 13, 18, 24, 42, 66, 74, 82, 144, 169, 189, 276, 284, 289}},
      {"v3.14/subquery.test", kNativeHistograms, {146, 151}},

  };
  return kSkips;
}

std::map<int, std::string> SkipsFor(const std::string& file) {
  std::map<int, std::string> out;
  for (const SkipGroup& g : Skips()) {
    if (file != g.file) continue;
    for (int line : g.lines) out[line] = g.reason;
  }
  return out;
}

struct Param {
  std::string version;  // "v2.42" / "v3.14"
  std::string file;
};

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  std::string n = info.param.version + "_" + info.param.file;
  for (char& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

std::vector<Param> Params(const std::string& version) {
  std::vector<Param> out;
  if (version == "v2.42") {
    for (const char* f : kV2Files) out.push_back({version, f});
  } else {
    for (const char* f : kV3Files) out.push_back({version, f});
  }
  return out;
}

fs::path ConformanceRoot() {
  const std::string shared = testing::SharedDir();
  if (shared.empty()) return {};
  return fs::path(shared) / "conformance" / "promql";
}

class ConformanceEvalTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    root_ = ConformanceRoot();
    if (root_.empty() || !fs::is_directory(root_)) {
      GTEST_SKIP() << "PromQL conformance data not found: expected ../shared/conformance/promql "
                      "next to the source tree (SIGHTLINE_SOURCE_DIR); it is not part of the "
                      "repository";
    }
  }
  fs::path root_;
};

TEST_P(ConformanceEvalTest, Script) {
  const Param& p = GetParam();
  const std::string rel = p.version + "/" + p.file;
  const fs::path path = root_ / p.version / p.file;
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream buf;
  buf << in.rdbuf();

  promqltest::ScriptOptions opts;
  opts.engine = p.version == "v2.42" ? EngineOptions::Prometheus2() : EngineOptions();
  opts.skip = SkipsFor(rel);

  const promqltest::ScriptReport r = promqltest::RunScript(buf.str(), opts);
  for (const std::string& e : r.load_errors) {
    ADD_FAILURE() << rel << ": load: " << e;
  }
  int skipped_but_passing = 0;
  for (const promqltest::EvalOutcome& o : r.evals) {
    if (o.status == promqltest::EvalOutcome::Status::kFail) {
      ADD_FAILURE() << rel << ":" << o.line << ": " << o.query << "\n  " << o.message
                    << (o.uses_native_histogram_data ? "\n  (uses native histogram data)" : "");
    }
  }
  // A skipped eval must still fail: re-run the skipped ones.
  if (!opts.skip.empty()) {
    promqltest::ScriptOptions again = opts;
    again.skip.clear();
    const promqltest::ScriptReport r2 = promqltest::RunScript(buf.str(), again);
    for (const promqltest::EvalOutcome& o : r2.evals) {
      if (opts.skip.count(o.line) != 0 && o.status == promqltest::EvalOutcome::Status::kPass) {
        ++skipped_but_passing;
        ADD_FAILURE() << rel << ":" << o.line << ": listed in the skip list (\""
                      << opts.skip.at(o.line) << "\") but passes: remove it from kSkips";
      }
    }
  }
  std::ostringstream summary;
  summary << rel << ": " << r.evals.size() << " evals, " << r.passed << " passed, " << r.failed
          << " failed, " << r.skipped << " skipped";
  std::cout << "[conformance] " << summary.str() << std::endl;
  RecordProperty("summary", summary.str());
  EXPECT_EQ(skipped_but_passing, 0);
}

INSTANTIATE_TEST_SUITE_P(V2, ConformanceEvalTest, ::testing::ValuesIn(Params("v2.42")), ParamName);
INSTANTIATE_TEST_SUITE_P(V3, ConformanceEvalTest, ::testing::ValuesIn(Params("v3.14")), ParamName);

// The hard-coded file lists must cover every script in the shared data.
TEST(ConformanceFiles, ListsMatchTheData) {
  const fs::path root = ConformanceRoot();
  if (root.empty() || !fs::is_directory(root)) GTEST_SKIP() << "conformance data not found";
  for (const std::string version : {"v2.42", "v3.14"}) {
    std::set<std::string> on_disk, listed;
    for (const auto& e : fs::directory_iterator(root / version)) {
      if (e.path().extension() == ".test") on_disk.insert(e.path().filename().string());
    }
    for (const Param& p : Params(version)) listed.insert(p.file);
    EXPECT_EQ(on_disk, listed) << version;
  }
}

}  // namespace
}  // namespace sightline::promql

namespace sightline::promql {
namespace {

// Development aid: runs the script at $PROMQLTEST_SCRIPT in the dialect of
// $PROMQLTEST_DIALECT ("v2" or default 3.x) and prints every outcome.
TEST(ConformanceAdHoc, Script) {
  const char* path = std::getenv("PROMQLTEST_SCRIPT");
  if (path == nullptr) GTEST_SKIP() << "set PROMQLTEST_SCRIPT to run a script";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  std::stringstream buf;
  buf << in.rdbuf();
  promqltest::ScriptOptions opts;
  const char* dialect = std::getenv("PROMQLTEST_DIALECT");
  if (dialect != nullptr && std::string(dialect) == "v2")
    opts.engine = EngineOptions::Prometheus2();
  const promqltest::ScriptReport r = promqltest::RunScript(buf.str(), opts);
  for (const std::string& e : r.load_errors) std::cout << "load: " << e << "\n";
  for (const promqltest::EvalOutcome& o : r.evals) {
    std::cout << o.line << ": "
              << (o.status == promqltest::EvalOutcome::Status::kPass ? "PASS" : "FAIL") << " "
              << o.query << (o.message.empty() ? "" : "\n    " + o.message) << "\n";
  }
  std::cout << r.passed << " passed, " << r.failed << " failed\n";
}

}  // namespace
}  // namespace sightline::promql
