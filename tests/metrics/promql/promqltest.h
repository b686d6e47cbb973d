// promqltest: runs Prometheus's PromQL test scripts (the `load` / `clear` /
// `eval` language of promql/promqltest, see DSL.md in
// ../shared/conformance/promql) against Sightline's engine through the
// storage interfaces, with a MemoryStorage as the store.
//
// Semantics follow Prometheus's runner:
//   - `load <interval>` appends series written in the expanding notation
//     (`0+10x100`, `1x5`, `-2+4x3`, `_`, `_x3`, `stale`); `load_with_nhcb`
//     loads the float series (the native-histogram copies are not
//     supported); series holding native histograms (`{{...}}`) are skipped.
//   - `eval instant at <t> <query>` / `eval range from <a> to <b> step <s>`
//     with the old `eval_fail` / `eval_ordered` / `eval_warn` / `eval_info`
//     forms and the new `expect fail|warn|info|no_warn|no_info|ordered|
//     string|range vector` lines; floats compare with Prometheus's relative
//     epsilon 1e-6 (NaN equals NaN).
//   - every instant eval whose result is a vector or scalar is re-run as a
//     range query (t-1m .. t+1m step 1m, middle step compared) and, unless it
//     uses a time-dependent function, with `@ <t>` added to its selectors and
//     evaluated at -10t, 0, t/5, t and 10t, as Prometheus does.
//
// Thread-safety: RunScript is reentrant; each call owns its storage.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/promql/engine.h"

namespace sightline::promql::promqltest {

struct ScriptOptions {
  EngineOptions engine;
  // Evals not run, by line number of the `eval` line, with the reason
  // (reported, never silent).
  std::map<int, std::string> skip;
  // Re-run instant evals in range mode and with @ (Prometheus does).
  bool range_mode_check = true;
  bool at_modifier_check = true;
  // Check `expect warn/info/no_warn/no_info` lines.
  bool check_annotations = true;
};

struct EvalOutcome {
  enum class Status { kPass, kFail, kSkip };
  int line = 0;
  std::string query;
  Status status = Status::kPass;
  std::string message;  // Why it failed / was skipped.
  // The eval touches data loaded from native-histogram series (which are
  // not loaded): a hint for the skip list, not a skip by itself.
  bool uses_native_histogram_data = false;
};

struct ScriptReport {
  std::vector<EvalOutcome> evals;
  std::vector<std::string> load_errors;  // Series that could not be loaded.
  int passed = 0;
  int failed = 0;
  int skipped = 0;
};

ScriptReport RunScript(std::string_view script, const ScriptOptions& options);

}  // namespace sightline::promql::promqltest
