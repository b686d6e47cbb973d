// Scrape configuration: Prometheus's `global` and `scrape_configs` sections,
// read from the same YAML file as the rest of Sightline's configuration
// (docs/scrape.md lists the keys). Unknown keys are errors that name the
// file and line, like the rest of the configuration.
//
//   global:
//     scrape_interval: 15s        # default 1m, as Prometheus
//     scrape_timeout: 10s         # default 10s, at most the interval
//     external_labels: {cluster: eu-1}
//   scrape_configs:
//     - job_name: node
//       tenant: team-a            # Sightline: the tenant written to (default anonymous)
//       scrape_interval / scrape_timeout / metrics_path / scheme / params
//       honor_labels / honor_timestamps / sample_limit / body_size_limit
//       static_configs: [{targets: [host:port], labels: {...}}]
//       file_sd_configs: [{files: [targets/*.json], refresh_interval: 5m}]
//       relabel_configs / metric_relabel_configs: [relabel rules]
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "metrics/scrape/relabel.h"
#include "metrics/tsdb/labels.h"

namespace sightline::metrics::scrape {

struct StaticConfig {
  std::vector<std::string> targets;
  std::map<std::string, std::string> labels;
};

struct FileSdConfig {
  std::vector<std::string> files;  // paths; the last path element may hold * ? [..] globs
  std::chrono::milliseconds refresh_interval{std::chrono::minutes(5)};
};

struct ScrapeConfig {
  std::string job_name;
  std::string tenant = "anonymous";
  std::chrono::milliseconds scrape_interval{0};  // 0 before Finalize: the global one
  std::chrono::milliseconds scrape_timeout{0};
  std::string metrics_path = "/metrics";
  std::string scheme = "http";
  std::map<std::string, std::vector<std::string>> params;
  bool honor_labels = false;
  bool honor_timestamps = true;
  uint64_t sample_limit = 0;     // 0: none
  uint64_t body_size_limit = 0;  // bytes, 0: none
  std::vector<StaticConfig> static_configs;
  std::vector<FileSdConfig> file_sd_configs;
  std::vector<relabel::Config> relabel_configs;
  std::vector<relabel::Config> metric_relabel_configs;
};

struct GlobalConfig {
  std::chrono::milliseconds scrape_interval{std::chrono::minutes(1)};
  std::chrono::milliseconds scrape_timeout{std::chrono::seconds(10)};
  std::map<std::string, std::string> external_labels;
};

struct ScrapeFileConfig {
  GlobalConfig global;
  std::vector<ScrapeConfig> scrape_configs;
};

// Reads `global` and `scrape_configs` from YAML text (other top-level keys
// are ignored: they belong to other modules); applies the global defaults
// and Prometheus's checks (unique job names, timeout <= interval, valid
// relabel rules and label names). `file_name` labels messages. Relative
// file_sd paths are resolved against the directory of `file_name`.
Result<ScrapeFileConfig> ParseScrapeConfig(const std::string& yaml_text,
                                           const std::string& file_name);

// A target group from file_sd (JSON or YAML: a list of {targets, labels}).
Result<std::vector<StaticConfig>> ParseFileSd(const std::string& text, const std::string& path);

}  // namespace sightline::metrics::scrape
