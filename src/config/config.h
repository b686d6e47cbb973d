// Sightline's configuration: one YAML file (--config.file) plus flags that
// override it. Loading never throws; every problem comes back as an
// InvalidArgument Status whose message names the file and line and says what
// is wrong ("sightline.yaml:12: unknown key \"http_listn\" in server").
//
// The stable flags (scripts and tests rely on their names):
//   --http.listen --grpc.listen --data.dir --storage.backend --storage.path
//   --multitenancy.enabled --target --config.file --log.level
//
// Config is a plain value: build it once at start, then share it read-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/storage_config.h"

namespace sightline::config {

struct HttpConfig {
  std::string listen = "0.0.0.0:9090";
  uint64_t max_body_bytes = 64ull << 20;
  uint64_t max_decompressed_bytes = 256ull << 20;
  uint64_t max_header_bytes = 64ull << 10;
  std::chrono::milliseconds read_header_timeout{10'000};
  std::chrono::milliseconds request_timeout{120'000};
  std::chrono::milliseconds idle_timeout{120'000};
  std::chrono::milliseconds shutdown_drain{10'000};
  int io_threads = 2;
  int worker_threads = 8;
};

struct GrpcConfig {
  std::string listen = "0.0.0.0:4317";
  uint64_t max_recv_bytes = 16ull << 20;
};

// The metrics signal: query dialect and limits, TSDB and store gateway.
struct MetricsConfig {
  // "v3" (Prometheus 3.x semantics) or "v2" (exactly Prometheus 2.42).
  std::string promql_compat = "v3";
  std::chrono::milliseconds lookback_delta{5 * 60 * 1000};
  std::chrono::milliseconds query_timeout{2 * 60 * 1000};
  uint64_t query_max_samples = 50'000'000;
  // Longest end-start of a range query (0: unlimited).
  std::chrono::milliseconds max_query_range{0};
  // TSDB.
  std::chrono::milliseconds block_duration{2 * 3600 * 1000};
  std::chrono::milliseconds out_of_order_window{10 * 60 * 1000};
  // How long blocks stay on local disk once uploaded (0: forever).
  std::chrono::milliseconds local_retention{6 * 3600 * 1000};
  std::chrono::milliseconds ship_interval{30 * 1000};
  // "name=value" pairs written into every block's meta.json (Thanos
  // external labels: cluster, replica, ...).
  std::vector<std::string> external_labels;
  // Label names that tell HA replicas apart; non-empty turns on query-time
  // deduplication (dedup=false per request turns it off).
  std::vector<std::string> replica_labels;
  // Store gateway: blocks in the object store, queried lazily.
  std::chrono::milliseconds store_sync_interval{60 * 1000};
  uint64_t store_index_cache_bytes = 256ull << 20;
  uint64_t store_chunk_cache_bytes = 256ull << 20;
};

// The logs signal: Loki's per-tenant limits (defaults are Loki's), the log
// store and the query limits.
struct LogsConfig {
  // Ingest validation (Loki limits_config names in comments).
  uint64_t max_line_size = 256ull << 10;                         // max_line_size
  bool reject_old_samples = true;                                // reject_old_samples
  std::chrono::milliseconds reject_old_samples_max_age{7ll * 24 * 3600 * 1000};
  std::chrono::milliseconds creation_grace_period{10 * 60 * 1000};
  int max_label_names_per_series = 15;
  int max_label_name_length = 1024;
  int max_label_value_length = 2048;
  uint64_t ingestion_rate_bytes = 4ull << 20;   // ingestion_rate_mb
  uint64_t ingestion_burst_bytes = 6ull << 20;  // ingestion_burst_size_mb
  uint64_t per_stream_rate_bytes = 3ull << 20;
  uint64_t per_stream_burst_bytes = 15ull << 20;
  int max_streams_per_tenant = 5000;  // max_global_streams_per_user (0: unlimited)
  uint64_t max_structured_metadata_bytes = 64ull << 10;
  int max_structured_metadata_entries = 128;
  // How far behind a stream's newest entry an entry may be.
  std::chrono::milliseconds out_of_order_window{3600 * 1000};
  // Store: the head is cut into a block this often (and at shutdown).
  std::chrono::milliseconds block_cut_interval{3600 * 1000};
  std::chrono::milliseconds ship_interval{30 * 1000};
  // Query limits.
  int max_entries_limit_per_query = 5000;
  int max_query_series = 500;
  std::chrono::milliseconds query_timeout{60 * 1000};
  std::chrono::milliseconds max_query_length{721ll * 3600 * 1000};
};

struct Config {
  std::vector<std::string> target = {"all"};
  std::string data_dir = "./data";
  std::string log_level = "info";
  HttpConfig http;
  GrpcConfig grpc;
  io::StorageConfig storage;
  bool multitenancy_enabled = false;
  MetricsConfig metrics;
  LogsConfig logs;

  // Where values came from, for messages and /config.
  std::string config_file;
};

// Outcome of command-line parsing: either run with a config, or print
// something (help, version) and exit 0.
struct CommandLine {
  enum class Action { kRun, kHelp, kVersion };
  Action action = Action::kRun;
  Config config;
};

// Parses argv (flags override the file given by --config.file). Applies
// defaults that depend on other values (storage path under data dir) and
// validates the result.
Result<CommandLine> ParseCommandLine(const std::vector<std::string>& args);

// Loads YAML text into `cfg` (used by ParseCommandLine; exposed for tests).
// `file_name` only labels messages.
Status LoadYaml(const std::string& text, const std::string& file_name, Config* cfg);

// Checks cross-field rules and fills derived defaults.
Status Finalize(Config* cfg);

// The effective configuration as YAML, secrets replaced by "<secret>".
std::string ToYaml(const Config& cfg);

// --help text.
std::string Usage();

// Parses "10s", "1m30s", "250ms", "2h".
Result<std::chrono::milliseconds> ParseDuration(std::string_view s);
// Parses "1024", "64KiB", "16MiB", "1GiB", "10MB".
Result<uint64_t> ParseBytes(std::string_view s);
// Checks "host:port" (port 0-65535; host may be empty, an IP, [v6] or a name).
Status ValidateListenAddress(std::string_view addr);

}  // namespace sightline::config
