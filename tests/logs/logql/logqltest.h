// logqltest: runs Loki's declarative LogQL test scripts (the DSL in
// ../shared/conformance/logql/DSL.md: load / clear / eval with expected
// vectors, matrices, scalars, `expect empty`, `expect fail`, `expect
// ordered`) through the LogQL engine over MemoryLogQuerier.
#pragma once

#include <string>
#include <vector>

namespace sightline::logs::logql::testing {

struct ScriptReport {
  int passed = 0;
  int failed = 0;
  int skipped = 0;
  std::vector<std::string> failures;  // "file:line: query: what went wrong"
};

// Runs every eval of the script at `path`. Script syntax errors count as
// failures.
ScriptReport RunLogqlScript(const std::string& path);

}  // namespace sightline::logs::logql::testing
