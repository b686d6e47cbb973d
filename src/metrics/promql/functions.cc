#include "metrics/promql/functions.h"

#include <algorithm>
#include <array>

namespace sightline::promql {
namespace {

using VT = ValueType;
constexpr VT kS = VT::kScalar;
constexpr VT kV = VT::kVector;
constexpr VT kM = VT::kMatrix;
constexpr VT kStr = VT::kString;

// Argument lists shared by many functions.
constexpr VT kArgsNone[] = {kS};  // Placeholder so that an empty span has storage.
constexpr VT kArgsV[] = {kV};
constexpr VT kArgsM[] = {kM};
constexpr VT kArgsS[] = {kS};
constexpr VT kArgsVS[] = {kV, kS};
constexpr VT kArgsVSS[] = {kV, kS, kS};
constexpr VT kArgsMS[] = {kM, kS};
constexpr VT kArgsMSS[] = {kM, kS, kS};
constexpr VT kArgsSS[] = {kS, kS};
constexpr VT kArgsSV[] = {kS, kV};
constexpr VT kArgsSM[] = {kS, kM};
constexpr VT kArgsSSV[] = {kS, kS, kV};
constexpr VT kArgsVV[] = {kV, kV};
constexpr VT kArgsVStr[] = {kV, kStr};
constexpr VT kArgsVStrSS[] = {kV, kStr, kS, kS};
constexpr VT kArgsLabelReplace[] = {kV, kStr, kStr, kStr, kStr};
constexpr VT kArgsLabelJoin[] = {kV, kStr, kStr, kStr};

constexpr std::span<const VT> kNoArgs(kArgsNone, 0);

struct Entry {
  std::string_view name;
  std::span<const VT> args;
  int variadic;
  VT ret;
  bool experimental;
  bool v2;
  bool v3;
};

// Kept in name order: FindFunction binary-searches it.
constexpr Entry kTable[] = {
    {"abs", kArgsV, 0, kV, false, true, true},
    {"absent", kArgsV, 0, kV, false, true, true},
    {"absent_over_time", kArgsM, 0, kV, false, true, true},
    {"acos", kArgsV, 0, kV, false, true, true},
    {"acosh", kArgsV, 0, kV, false, true, true},
    {"asin", kArgsV, 0, kV, false, true, true},
    {"asinh", kArgsV, 0, kV, false, true, true},
    {"atan", kArgsV, 0, kV, false, true, true},
    {"atanh", kArgsV, 0, kV, false, true, true},
    {"avg_over_time", kArgsM, 0, kV, false, true, true},
    {"ceil", kArgsV, 0, kV, false, true, true},
    {"changes", kArgsM, 0, kV, false, true, true},
    {"clamp", kArgsVSS, 0, kV, false, true, true},
    {"clamp_max", kArgsVS, 0, kV, false, true, true},
    {"clamp_min", kArgsVS, 0, kV, false, true, true},
    {"cos", kArgsV, 0, kV, false, true, true},
    {"cosh", kArgsV, 0, kV, false, true, true},
    {"count_over_time", kArgsM, 0, kV, false, true, true},
    {"day_of_month", kArgsV, 1, kV, false, true, true},
    {"day_of_week", kArgsV, 1, kV, false, true, true},
    {"day_of_year", kArgsV, 1, kV, false, true, true},
    {"days_in_month", kArgsV, 1, kV, false, true, true},
    {"deg", kArgsV, 0, kV, false, true, true},
    {"delta", kArgsM, 0, kV, false, true, true},
    {"deriv", kArgsM, 0, kV, false, true, true},
    {"double_exponential_smoothing", kArgsMSS, 0, kV, true, false, true},
    {"end", kNoArgs, 0, kS, true, false, true},
    {"exp", kArgsV, 0, kV, false, true, true},
    {"first_over_time", kArgsM, 0, kV, true, false, true},
    {"floor", kArgsV, 0, kV, false, true, true},
    {"histogram_avg", kArgsV, 0, kV, false, false, true},
    {"histogram_count", kArgsV, 0, kV, false, true, true},
    {"histogram_fraction", kArgsSSV, 0, kV, false, true, true},
    {"histogram_quantile", kArgsSV, 0, kV, false, true, true},
    {"histogram_quantiles", kArgsVStrSS, 9, kV, true, false, true},
    {"histogram_stddev", kArgsV, 0, kV, false, false, true},
    {"histogram_stdvar", kArgsV, 0, kV, false, false, true},
    {"histogram_sum", kArgsV, 0, kV, false, true, true},
    {"holt_winters", kArgsMSS, 0, kV, false, true, false},
    {"hour", kArgsV, 1, kV, false, true, true},
    {"idelta", kArgsM, 0, kV, false, true, true},
    {"increase", kArgsM, 0, kV, false, true, true},
    {"info", kArgsVV, 1, kV, true, false, true},
    {"integral", kArgsMS, 1, kV, true, false, true},
    {"irate", kArgsM, 0, kV, false, true, true},
    {"label_join", kArgsLabelJoin, -1, kV, false, true, true},
    {"label_replace", kArgsLabelReplace, 0, kV, false, true, true},
    {"last_over_time", kArgsM, 0, kV, false, true, true},
    {"ln", kArgsV, 0, kV, false, true, true},
    {"log10", kArgsV, 0, kV, false, true, true},
    {"log2", kArgsV, 0, kV, false, true, true},
    {"mad_over_time", kArgsM, 0, kV, true, false, true},
    {"max_of", kArgsSS, 0, kS, true, false, true},
    {"max_over_time", kArgsM, 0, kV, false, true, true},
    {"min_of", kArgsSS, 0, kS, true, false, true},
    {"min_over_time", kArgsM, 0, kV, false, true, true},
    {"minute", kArgsV, 1, kV, false, true, true},
    {"month", kArgsV, 1, kV, false, true, true},
    {"pi", kNoArgs, 0, kS, false, true, true},
    {"predict_linear", kArgsMS, 0, kV, false, true, true},
    {"present_over_time", kArgsM, 0, kV, false, true, true},
    {"quantile_over_time", kArgsSM, 0, kV, false, true, true},
    {"rad", kArgsV, 0, kV, false, true, true},
    {"range", kNoArgs, 0, kS, true, false, true},
    {"rate", kArgsM, 0, kV, false, true, true},
    {"resets", kArgsM, 0, kV, false, true, true},
    {"round", kArgsVS, 1, kV, false, true, true},
    {"scalar", kArgsV, 0, kS, false, true, true},
    {"sgn", kArgsV, 0, kV, false, true, true},
    {"sin", kArgsV, 0, kV, false, true, true},
    {"sinh", kArgsV, 0, kV, false, true, true},
    {"sort", kArgsV, 0, kV, false, true, true},
    {"sort_by_label", kArgsVStr, -1, kV, true, false, true},
    {"sort_by_label_desc", kArgsVStr, -1, kV, true, false, true},
    {"sort_desc", kArgsV, 0, kV, false, true, true},
    {"sqrt", kArgsV, 0, kV, false, true, true},
    {"start", kNoArgs, 0, kS, true, false, true},
    {"start_timestamp", kArgsV, 0, kV, true, false, true},
    {"stddev_over_time", kArgsM, 0, kV, false, true, true},
    {"stdvar_over_time", kArgsM, 0, kV, false, true, true},
    {"step", kNoArgs, 0, kS, true, false, true},
    {"sum_over_time", kArgsM, 0, kV, false, true, true},
    {"tan", kArgsV, 0, kV, false, true, true},
    {"tanh", kArgsV, 0, kV, false, true, true},
    {"time", kNoArgs, 0, kS, false, true, true},
    {"timestamp", kArgsV, 0, kV, false, true, true},
    {"ts_of_first_over_time", kArgsM, 0, kV, true, false, true},
    {"ts_of_last_over_time", kArgsM, 0, kV, true, false, true},
    {"ts_of_max_over_time", kArgsM, 0, kV, true, false, true},
    {"ts_of_min_over_time", kArgsM, 0, kV, true, false, true},
    {"vector", kArgsS, 0, kV, false, true, true},
    {"year", kArgsV, 1, kV, false, true, true},
};

constexpr size_t kCount = sizeof(kTable) / sizeof(kTable[0]);

const std::array<FunctionInfo, kCount>& Functions() {
  static const std::array<FunctionInfo, kCount> functions = [] {
    std::array<FunctionInfo, kCount> out{};
    for (size_t i = 0; i < kCount; ++i) {
      const Entry& e = kTable[i];
      out[i] = FunctionInfo{e.name, e.args, e.variadic, e.ret, e.experimental, e.v2, e.v3};
    }
    return out;
  }();
  return functions;
}

}  // namespace

std::string_view DocumentedTypeName(ValueType t) {
  switch (t) {
    case ValueType::kScalar:
      return "scalar";
    case ValueType::kVector:
      return "instant vector";
    case ValueType::kMatrix:
      return "range vector";
    case ValueType::kString:
      return "string";
    case ValueType::kNone:
      return "none";
  }
  return "none";
}

std::string_view ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kScalar:
      return "scalar";
    case ValueType::kVector:
      return "vector";
    case ValueType::kMatrix:
      return "matrix";
    case ValueType::kString:
      return "string";
    case ValueType::kNone:
      return "none";
  }
  return "none";
}

const FunctionInfo* FindFunction(std::string_view name) {
  const auto& fns = Functions();
  auto it = std::lower_bound(fns.begin(), fns.end(), name,
                             [](const FunctionInfo& f, std::string_view n) { return f.name < n; });
  if (it == fns.end() || it->name != name) return nullptr;
  return &*it;
}

std::span<const FunctionInfo> AllFunctions() { return Functions(); }

}  // namespace sightline::promql
