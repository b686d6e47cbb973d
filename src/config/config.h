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
#include <optional>
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
  // Handlers may run on the I/O thread that read the request while another
  // I/O thread stays free (net/http_server.h).
  bool handlers_on_io_threads = true;
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
  uint64_t store_chunk_cache_bytes = 256ull << 20;  // Per-tenant ingest limits, Mimir's names and meaning (0: unlimited).
  // Per-tenant values: metrics.limits.overrides.<tenant>.<name>
  // (src/metrics/limits/limits.h reads them from file_text).
  int ingestion_rate = 0;        // samples/s; over it: 429
  int ingestion_burst_size = 0;  // samples
  int max_global_series_per_user = 0;
  int max_label_names_per_series = 30;
  int max_label_name_length = 1024;
  int max_label_value_length = 2048;
  // Sightline's own /metrics scraped into a tenant.
  bool self_scrape_enabled = true;
  std::chrono::milliseconds self_scrape_interval{15 * 1000};
  std::string self_scrape_tenant = "self";
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
  // How long uploaded blocks stay on local disk (0: removed once uploaded).
  std::chrono::milliseconds local_retention{2 * 3600 * 1000};
  // zstd level (1-22) of the chunk blocks of cut blocks.
  int chunk_zstd_level = 9;
  // Bytes of object-store chunk data cached in memory (0: no cache).
  uint64_t chunk_cache_size = 256ull << 20;
  // Loki's compactor retention_period: blocks whose newest entry is older
  // are deleted from the object store and local disk (0: kept forever).
  std::chrono::milliseconds retention_period{0};
  // Loki's compactor retention_delete_delay: blocks past retention are
  // hidden from queries at once and deleted this much later.
  std::chrono::milliseconds retention_delete_delay{2 * 3600 * 1000};
  // Query limits.
  int max_entries_limit_per_query = 5000;
  int max_query_series = 500;
  std::chrono::milliseconds query_timeout{60 * 1000};
  std::chrono::milliseconds max_query_length{721ll * 3600 * 1000};
  // Live tailing (/loki/api/v1/tail).
  int max_concurrent_tail_requests = 10;
  std::chrono::milliseconds tail_max_duration{3600 * 1000};
};

// The traces signal: Tempo's distributor limits, the trace store, and the
// OTel Collector-style tail sampling in front of it (off by default).
struct TracesConfig {
  uint64_t ingestion_rate_limit_bytes = 15'000'000;  // Tempo ingestion_rate_limit_bytes
  uint64_t ingestion_burst_size_bytes = 20'000'000;  // ingestion_burst_size_bytes
  uint64_t max_bytes_per_trace = 5'000'000;          // max_bytes_per_trace
  uint64_t max_attribute_bytes = 2048;               // distributor max_attribute_bytes (0: none)
  // Store: the head is cut into a block this often or at this size.
  std::chrono::milliseconds max_block_duration{5 * 60 * 1000};
  uint64_t max_block_bytes = 100ull << 20;
  std::chrono::milliseconds ship_interval{30 * 1000};
  std::chrono::milliseconds local_retention{3600 * 1000};
  std::chrono::milliseconds blocklist_poll{30 * 1000};
  // Blocks keep only their index header and bloom in memory; find-by-id
  // reads one row group's trace-id page and keeps recent ones in this LRU.
  uint64_t id_page_cache_bytes = 32ull << 20;
  // Split traces: each cut links its traces to the blocks cut within this
  // window that hold other parts (0: 2 x max_block_duration), so searches
  // find them without reading every block's ids; at most this many ids.
  std::chrono::milliseconds split_window{0};
  int split_window_max_ids = 2'000'000;  // an int: the field table's kInt
  // Search: blocks are batched into jobs of at least this many bytes
  // (Tempo's query_frontend.search.target_bytes_per_job); the streaming
  // querier sends what each job found.
  uint64_t search_target_bytes_per_job = 100ull << 20;
  // Streaming (gRPC) search and metrics: progress goes out after a job when
  // this long has passed since the previous message (Tempo's frontend: 500ms).
  std::chrono::milliseconds search_streaming_interval{500};
  // TraceQL metrics: series limit (Tempo's query_frontend.metrics.
  // max_response_series); over it the answer is cut and marked PARTIAL.
  int metrics_max_response_series = 1000;
  // TraceQL metrics: longest range (Tempo's query_frontend.metrics.
  // max_duration, 3h; 0: none) and the tenant's override of it (Tempo's
  // max_metrics_duration; 0: use the default).
  std::chrono::milliseconds metrics_max_duration{3 * 3600 * 1000};
  std::chrono::milliseconds max_metrics_duration{0};
  // Exemplars of a range query when it asks none or more (Tempo's
  // query_frontend.metrics.max_exemplars; 0: exemplars off).
  int metrics_max_exemplars = 100;
  // Search: longest range (query_frontend.search.max_duration, 168h; 0:
  // none), the tenant's override (max_search_duration; 0: the default), and
  // the largest spss (query_frontend.search.max_spans_per_span_set).
  std::chrono::milliseconds search_max_duration{168ll * 3600 * 1000};
  std::chrono::milliseconds max_search_duration{0};
  int search_max_spans_per_span_set = 100;
  // Tail sampling (the seed's gateway policies): keep errors, slow traces,
  // critical attribute values, and a probabilistic share of the rest.
  // Unset (nullopt): on in the gateway role, off otherwise; an explicit
  // true/false wins in every role.
  std::optional<bool> sampling_enabled;
  std::chrono::milliseconds sampling_decision_wait{30 * 1000};
  int sampling_num_traces = 50'000;
  bool sampling_keep_errors = true;
  std::chrono::milliseconds sampling_latency_threshold{2000};  // 0: no latency policy
  std::string sampling_attribute_key = "service.name";
  std::vector<std::string> sampling_attribute_values;  // empty: no attribute policy
  int sampling_percentage = 10;
  int sampling_spans_per_second = 0;  // rate_limiting policy (0: none)
  // Metrics from traces (span metrics, service graph) into the metrics store.
  bool generator_enabled = true;
  std::chrono::milliseconds generator_collection_interval{15 * 1000};
  // The gateway role (an OTel Collector gateway: receivers -> tail sampling
  // -> a persistent queue -> OTLP/HTTP to `gateway_endpoint`), defaults as
  // the Collector's batch processor, sending_queue and retry_on_failure.
  std::string gateway_endpoint;                  // base URL; required by the role
  std::vector<std::string> gateway_headers;      // "Name=value" added to each request
  std::string gateway_compression = "gzip";      // gzip or none
  int gateway_send_batch_size = 8192;            // spans per request (at most, unless one trace is larger)
  std::chrono::milliseconds gateway_batch_timeout{200};
  std::chrono::milliseconds gateway_timeout{30 * 1000};  // per request
  int gateway_queue_size = 100'000;               // spans queued (0: no span bound)
  uint64_t gateway_queue_max_bytes = 256ull << 20;  // encoded bytes queued
  std::chrono::milliseconds gateway_retry_initial_interval{5 * 1000};
  std::chrono::milliseconds gateway_retry_max_interval{30 * 1000};
  std::chrono::milliseconds gateway_retry_max_elapsed_time{300 * 1000};  // 0: retry forever
};

// The profiles signal: Pyroscope's per-tenant ingest limits (defaults are
// Pyroscope's) and the profile store.
struct ProfilesConfig {
  uint64_t max_profile_size_bytes = 4ull << 20;  // decompressed pprof; over it: 413
  int max_profile_stacktrace_samples = 16000;
  int max_profile_stacktrace_depth = 1000;
  int max_label_names_per_series = 30;
  int max_label_name_length = 1024;
  int max_label_value_length = 2048;
  uint64_t ingestion_rate_bytes = 4ull << 20;  // per second, per tenant; over it: 429
  uint64_t ingestion_burst_bytes = 2ull << 20;
  // Store: the head is cut into a block after this much profile or wall time.
  std::chrono::milliseconds block_duration{3600 * 1000};
  std::chrono::milliseconds ship_interval{30 * 1000};
  std::chrono::milliseconds retention{7ll * 24 * 3600 * 1000};  // the seed's profiles tier
  std::chrono::milliseconds local_retention{2 * 3600 * 1000};
  // Object-store blocks kept decoded in memory between queries (LRU).
  uint64_t remote_block_cache_bytes = 512ull << 20;
  // Flame graph nodes when a query does not say (Grafana sends max_nodes).
  int max_nodes_default = 16384;
  // Sightline profiling itself (the CPU profiler behind /debug/pprof/profile)
  // into a tenant, by the scraper role: a `duration` window at `hz` every
  // `interval` (a 1/6 duty cycle by default; docs/api-pyroscope.md says why
  // it is safe). Pull targets are profiles.scrape_configs in the file.
  bool self_profile_enabled = true;
  std::chrono::milliseconds self_profile_interval{60 * 1000};
  std::chrono::milliseconds self_profile_duration{10 * 1000};
  int self_profile_hz = 100;
  std::chrono::milliseconds self_profile_first_after{5 * 1000};
  std::string self_profile_tenant = "self";
  // Where the agent role sends what it scrapes when this process runs no
  // profiles ingester: a Sightline or Pyroscope base URL (Push API), with a
  // bounded queue and retries with exponential backoff.
  std::string remote_write_url;
  int remote_write_queue_capacity = 256;  // profiles; the oldest is dropped when full
  int remote_write_max_retries = 10;
  std::chrono::milliseconds remote_write_min_backoff{100};
  std::chrono::milliseconds remote_write_max_backoff{10 * 1000};
  std::chrono::milliseconds remote_write_timeout{10 * 1000};
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
  TracesConfig traces;
  ProfilesConfig profiles;

  // Where values came from, for messages and /config.
  std::string config_file;
  // The text of config_file ("" without one). Sections parsed by their own
  // modules come from here: global and scrape_configs (src/metrics/scrape),
  // metrics.limits.overrides (src/metrics/limits).
  std::string file_text;
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
