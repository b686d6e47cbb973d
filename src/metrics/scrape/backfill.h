// Backfill: OpenMetrics text → Prometheus TSDB blocks, as `promtool tsdb
// create-blocks-from openmetrics` does (docs/scrape.md#backfill).
//
// The input must be OpenMetrics (timestamps in seconds, `# EOF` last);
// every sample needs a timestamp. Samples are grouped by series and cut at
// multiples of block_duration (2h by default, aligned to the epoch, like
// the head's blocks), one block per range with data, written with the TSDB
// block writer (tsdb::WriteBlock) into `output_dir`, so that Prometheus,
// promtool and Sightline read them. Within a series, samples are sorted by
// time; a repeated timestamp keeps the last value.
//
// Errors: InvalidArgument with the parser's message and the line number;
// I/O errors from the Env. Blocks written before an error stay.
//
// Thread-safety: a function; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/env.h"

namespace sightline::metrics::scrape {

struct BackfillOptions {
  int64_t block_duration_ms = 2 * 3600 * 1000;
};

struct BackfillResult {
  std::vector<std::string> blocks;  // ULIDs written
  uint64_t series = 0;
  uint64_t samples = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
};

Result<BackfillResult> BackfillOpenMetrics(io::Env* env, std::string_view input,
                                           const std::string& output_dir,
                                           const BackfillOptions& options = {});

}  // namespace sightline::metrics::scrape
