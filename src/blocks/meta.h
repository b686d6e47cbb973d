// Block metadata (meta.json), the one description of an immutable block for
// every signal. The JSON is Prometheus's and Thanos's meta.json — ulid,
// minTime, maxTime, stats, compaction, version, thanos{labels, downsample,
// source, files} — so promtool and Thanos tools read our metrics blocks;
// logs, traces and profiles blocks add a "sightline" section naming the
// signal, tenant and format. Unknown fields are ignored when reading, as Go's
// encoding/json does.
//
// A block becomes visible in the object store only once its meta.json
// exists: writers upload every other file first (see shipper.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "blocks/ulid.h"

namespace sightline::blocks {

struct BlockFile {
  std::string rel_path;  // "chunks/000001", "index", "meta.json"
  uint64_t size_bytes = 0;
};

struct BlockMeta {
  Ulid ulid;
  int64_t min_time = 0;  // ms, inclusive
  int64_t max_time = 0;  // ms, exclusive (Prometheus convention)
  int version = 1;

  // "numSamples", "numSeries", "numChunks", ... for metrics; each signal
  // uses its own names (numEntries, numSpans, numProfiles, numBytes...).
  std::map<std::string, uint64_t> stats;

  int compaction_level = 1;
  std::vector<Ulid> compaction_sources;
  struct Parent {
    Ulid ulid;
    int64_t min_time = 0;
    int64_t max_time = 0;
  };
  std::vector<Parent> compaction_parents;

  // Thanos section: external labels (cluster, replica...), downsampling
  // resolution in ms (0 raw, 300000 5m, 3600000 1h), who made it.
  std::map<std::string, std::string> labels;
  int64_t downsample_resolution = 0;
  std::string source = "sidecar";
  std::vector<BlockFile> files;

  // Sightline section.
  std::string signal;  // "metrics", "logs", "traces", "profiles"
  std::string tenant;
  std::string format;  // signal-specific format name and version, e.g. "logs-v1"

  std::string ToJson() const;
  static Result<BlockMeta> Parse(std::string_view json);
};

}  // namespace sightline::blocks
