// `sightline import openmetrics FILE [OUTPUT_DIR]`: backfills an OpenMetrics
// file into Prometheus TSDB blocks in OUTPUT_DIR (default ./data), like
// `promtool tsdb create-blocks-from openmetrics` (docs/scrape.md#backfill).
#pragma once

#include <string>
#include <vector>

namespace sightline::app {

// True when argv (without the program name) names a subcommand this file
// handles.
bool IsImportCommand(const std::vector<std::string>& args);
// Runs it; the process exit code (0 ok, 1 failed, 2 usage).
int RunImportCommand(const std::vector<std::string>& args);

}  // namespace sightline::app
