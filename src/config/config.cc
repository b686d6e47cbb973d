#include "config/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>

#include "config/overrides.h"
#include "config/version.h"  // generated

namespace sightline::config {
namespace {

enum class Kind { kString, kBool, kInt, kBytes, kDuration, kList, kOptBool };

// One settable value: its YAML path, optional stable flag alias, and where it
// lives in Config. Everything else (YAML loading, flags, /config, --help) is
// derived from this table, so a new option is one line here.
struct Field {
  std::string path;   // "server.http.listen"
  std::string alias;  // "http.listen", or ""
  Kind kind;
  void* ptr;
  std::string help;
  bool secret = false;
};

std::vector<Field> Fields(Config& c) {
  auto& s3 = c.storage.s3;
  auto& m = c.metrics;
  auto& lg = c.logs;
  return {
      {"target", "target", Kind::kList, &c.target,
       "Comma-separated roles to run: all, or any of the roles in the documentation."},
      {"data_dir", "data.dir", Kind::kString, &c.data_dir, "Directory for WAL and local blocks."},
      {"log_level", "log.level", Kind::kString, &c.log_level, "debug, info, warn or error."},
      {"multitenancy.enabled", "multitenancy.enabled", Kind::kBool, &c.multitenancy_enabled,
       "Require X-Scope-OrgID on every request (off: every request is tenant anonymous)."},
      {"server.http.listen", "http.listen", Kind::kString, &c.http.listen,
       "HOST:PORT for every HTTP API (port 0: any free port)."},
      {"server.http.max_body_bytes", "", Kind::kBytes, &c.http.max_body_bytes,
       "Largest request body accepted on the wire (413 above)."},
      {"server.http.max_decompressed_bytes", "", Kind::kBytes, &c.http.max_decompressed_bytes,
       "Largest request body after decompression (413 above)."},
      {"server.http.max_header_bytes", "", Kind::kBytes, &c.http.max_header_bytes,
       "Largest request header block (431 above)."},
      {"server.http.read_header_timeout", "", Kind::kDuration, &c.http.read_header_timeout,
       "Time allowed to send the request headers."},
      {"server.http.request_timeout", "", Kind::kDuration, &c.http.request_timeout,
       "Time allowed to send a whole request body."},
      {"server.http.idle_timeout", "", Kind::kDuration, &c.http.idle_timeout,
       "Keep-alive connections idle longer than this are closed."},
      {"server.http.shutdown_drain", "", Kind::kDuration, &c.http.shutdown_drain,
       "On SIGTERM, time given to in-flight requests."},
      {"server.http.io_threads", "", Kind::kInt, &c.http.io_threads, "Threads doing network I/O."},
      {"server.http.worker_threads", "", Kind::kInt, &c.http.worker_threads,
       "Threads running request handlers."},
      {"server.http.handlers_on_io_threads", "", Kind::kBool, &c.http.handlers_on_io_threads,
       "Run a handler on the I/O thread that read its request while another I/O thread is free "
       "(no hand-off to a worker)."},
      {"server.grpc.listen", "grpc.listen", Kind::kString, &c.grpc.listen,
       "HOST:PORT for OTLP/gRPC (port 0: any free port)."},
      {"server.grpc.max_recv_bytes", "", Kind::kBytes, &c.grpc.max_recv_bytes,
       "Largest gRPC message accepted."},
      {"storage.backend", "storage.backend", Kind::kString, &c.storage.backend,
       "Object store: filesystem or s3."},
      {"storage.filesystem.path", "storage.path", Kind::kString, &c.storage.filesystem_path,
       "Root of the filesystem object store (default <data.dir>/objects)."},
      {"storage.s3.endpoint", "", Kind::kString, &s3.endpoint,
       "S3 endpoint URL (default: AWS for the region)."},
      {"storage.s3.region", "", Kind::kString, &s3.region, "S3 region."},
      {"storage.s3.bucket", "", Kind::kString, &s3.bucket, "S3 bucket."},
      {"storage.s3.prefix", "", Kind::kString, &s3.prefix, "Key prefix inside the bucket."},
      {"storage.s3.force_path_style", "", Kind::kBool, &s3.force_path_style,
       "Path-style addressing (needed by most S3-compatible servers)."},
      {"storage.s3.access_key_id", "", Kind::kString, &s3.access_key_id,
       "Static credentials (default: environment, IRSA, shared credentials file)."},
      {"storage.s3.secret_access_key", "", Kind::kString, &s3.secret_access_key,
       "Static credentials.", true},
      {"storage.s3.session_token", "", Kind::kString, &s3.session_token,
       "Static credentials.", true},
      {"storage.s3.storage_class", "", Kind::kString, &s3.storage_class,
       "Storage class for new objects (STANDARD, STANDARD_IA, GLACIER_IR, ...)."},
      {"storage.s3.sse", "", Kind::kString, &s3.sse, "Server-side encryption: \"\" or AES256."},
      {"storage.s3.multipart_threshold", "", Kind::kBytes, &s3.multipart_threshold,
       "Objects larger than this are uploaded in parts."},
      {"storage.s3.part_size", "", Kind::kBytes, &s3.part_size, "Multipart part size."},
      {"storage.s3.max_retries", "", Kind::kInt, &s3.max_retries,
       "Retries on 5xx, throttling and timeouts."},
      {"metrics.promql.compat", "promql.compat", Kind::kString, &m.promql_compat,
       "PromQL dialect: v3 (Prometheus 3.x, default) or v2 (exactly Prometheus 2.42)."},
      {"metrics.promql.lookback_delta", "query.lookback-delta", Kind::kDuration,
       &m.lookback_delta, "How far back an instant selector looks for the latest sample."},
      {"metrics.promql.timeout", "query.timeout", Kind::kDuration, &m.query_timeout,
       "Longest a query may evaluate."},
      {"metrics.promql.max_samples", "query.max-samples", Kind::kBytes, &m.query_max_samples,
       "Most samples a query may hold in memory at once."},
      {"metrics.promql.max_query_range", "", Kind::kDuration, &m.max_query_range,
       "Longest end-start of a range query (0: unlimited)."},
      {"metrics.tsdb.block_duration", "", Kind::kDuration, &m.block_duration,
       "Time range of a block cut from the head (Prometheus: 2h)."},
      {"metrics.tsdb.out_of_order_window", "", Kind::kDuration, &m.out_of_order_window,
       "How old a sample may be, relative to its series' newest, and still be accepted."},
      {"metrics.tsdb.local_retention", "", Kind::kDuration, &m.local_retention,
       "How long blocks stay on local disk once uploaded (0: forever)."},
      {"metrics.tsdb.ship_interval", "", Kind::kDuration, &m.ship_interval,
       "How often cut blocks are uploaded to the object store."},
      {"metrics.external_labels", "", Kind::kList, &m.external_labels,
       "name=value pairs written into every block's meta.json (cluster, replica, ...)."},
      {"metrics.replica_labels", "query.replica-label", Kind::kList, &m.replica_labels,
       "Labels that tell HA replicas apart; set, queries deduplicate (dedup=false disables)."},
      {"metrics.store_gateway.sync_interval", "", Kind::kDuration, &m.store_sync_interval,
       "How often the store gateway lists the blocks in the object store."},
      {"metrics.store_gateway.index_cache_size", "", Kind::kBytes, &m.store_index_cache_bytes,
       "Memory for cached postings and series of blocks in the object store."},
      {"metrics.store_gateway.chunk_cache_size", "", Kind::kBytes, &m.store_chunk_cache_bytes,
       "Memory for cached chunk bytes of blocks in the object store."},
      {"metrics.limits.ingestion_rate", "", Kind::kInt, &m.ingestion_rate,
       "Per-tenant samples per second (remote write, OTLP, scrapes); 0: unlimited."},
      {"metrics.limits.ingestion_burst_size", "", Kind::kInt, &m.ingestion_burst_size,
       "Per-tenant burst of samples above the rate."},
      {"metrics.limits.max_global_series_per_user", "", Kind::kInt,
       &m.max_global_series_per_user, "Per-tenant active series (0: unlimited)."},
      {"metrics.limits.max_label_names_per_series", "", Kind::kInt,
       &m.max_label_names_per_series, "Most labels a series may have (0: unlimited)."},
      {"metrics.limits.max_label_name_length", "", Kind::kInt, &m.max_label_name_length,
       "Longest label name (0: unlimited)."},
      {"metrics.limits.max_label_value_length", "", Kind::kInt, &m.max_label_value_length,
       "Longest label value (0: unlimited)."},
      {"metrics.self_scrape.enabled", "", Kind::kBool, &m.self_scrape_enabled,
       "Scrape Sightline's own /metrics into a tenant."},
      {"metrics.self_scrape.interval", "", Kind::kDuration, &m.self_scrape_interval,
       "How often the self-scrape runs."},
      {"metrics.self_scrape.tenant", "", Kind::kString, &m.self_scrape_tenant,
       "The tenant the self-scrape writes to."},
      {"logs.limits.max_line_size", "", Kind::kBytes, &lg.max_line_size,
       "Longest log line accepted (Loki max_line_size)."},
      {"logs.limits.reject_old_samples", "", Kind::kBool, &lg.reject_old_samples,
       "Reject entries older than reject_old_samples_max_age."},
      {"logs.limits.reject_old_samples_max_age", "", Kind::kDuration,
       &lg.reject_old_samples_max_age, "Oldest entry accepted, relative to now."},
      {"logs.limits.creation_grace_period", "", Kind::kDuration, &lg.creation_grace_period,
       "How far in the future an entry may be."},
      {"logs.limits.max_label_names_per_series", "", Kind::kInt, &lg.max_label_names_per_series,
       "Most labels a stream may have."},
      {"logs.limits.max_label_name_length", "", Kind::kInt, &lg.max_label_name_length,
       "Longest stream label name."},
      {"logs.limits.max_label_value_length", "", Kind::kInt, &lg.max_label_value_length,
       "Longest stream label value."},
      {"logs.limits.ingestion_rate", "", Kind::kBytes, &lg.ingestion_rate_bytes,
       "Per-tenant ingestion rate in bytes per second (Loki ingestion_rate_mb)."},
      {"logs.limits.ingestion_burst_size", "", Kind::kBytes, &lg.ingestion_burst_bytes,
       "Per-tenant ingestion burst in bytes."},
      {"logs.limits.per_stream_rate_limit", "", Kind::kBytes, &lg.per_stream_rate_bytes,
       "Per-stream rate in bytes per second."},
      {"logs.limits.per_stream_rate_limit_burst", "", Kind::kBytes, &lg.per_stream_burst_bytes,
       "Per-stream burst in bytes."},
      {"logs.limits.max_streams_per_tenant", "", Kind::kInt, &lg.max_streams_per_tenant,
       "Most active streams per tenant (0: unlimited)."},
      {"logs.limits.max_structured_metadata_size", "", Kind::kBytes,
       &lg.max_structured_metadata_bytes, "Largest structured metadata of one entry."},
      {"logs.limits.max_structured_metadata_entries_count", "", Kind::kInt,
       &lg.max_structured_metadata_entries, "Most structured metadata pairs of one entry."},
      {"logs.limits.out_of_order_window", "", Kind::kDuration, &lg.out_of_order_window,
       "How far behind its stream's newest entry an entry may be."},
      {"logs.limits.max_entries_limit_per_query", "", Kind::kInt,
       &lg.max_entries_limit_per_query, "Largest limit a log query may ask for."},
      {"logs.limits.max_query_series", "", Kind::kInt, &lg.max_query_series,
       "Most series a metric query may return."},
      {"logs.limits.query_timeout", "", Kind::kDuration, &lg.query_timeout,
       "Longest a LogQL query may run."},
      {"logs.limits.max_query_length", "", Kind::kDuration, &lg.max_query_length,
       "Longest end-start of a query (0: unlimited)."},
      {"logs.limits.max_concurrent_tail_requests", "", Kind::kInt,
       &lg.max_concurrent_tail_requests, "Most open /loki/api/v1/tail connections (0: unlimited)."},
      {"logs.tail_max_duration", "", Kind::kDuration, &lg.tail_max_duration,
       "Longest a /loki/api/v1/tail connection stays open."},
      {"logs.store.block_cut_interval", "", Kind::kDuration, &lg.block_cut_interval,
       "How often the in-memory head is cut into an immutable block."},
      {"logs.store.ship_interval", "", Kind::kDuration, &lg.ship_interval,
       "How often cut log blocks are uploaded to the object store."},
      {"logs.store.local_retention", "", Kind::kDuration, &lg.local_retention,
       "How long uploaded log blocks stay on local disk (0: removed once uploaded)."},
      {"logs.store.chunk_zstd_level", "", Kind::kInt, &lg.chunk_zstd_level,
       "zstd level (1-22) of the chunk blocks of cut log blocks."},
      {"logs.store.chunk_cache_size", "", Kind::kBytes, &lg.chunk_cache_size,
       "Bytes of object-store log chunk data cached in memory (0: no cache)."},
      {"logs.retention_period", "", Kind::kDuration, &lg.retention_period,
       "Log blocks older than this are deleted everywhere (0: kept forever)."},
      {"logs.retention_delete_delay", "", Kind::kDuration, &lg.retention_delete_delay,
       "Blocks past retention are hidden from queries at once, deleted this much later."},
      {"traces.limits.ingestion_rate_limit_bytes", "", Kind::kBytes,
       &c.traces.ingestion_rate_limit_bytes, "Per-tenant span bytes per second (0: unlimited)."},
      {"traces.limits.ingestion_burst_size_bytes", "", Kind::kBytes,
       &c.traces.ingestion_burst_size_bytes, "Per-tenant burst of span bytes."},
      {"traces.limits.max_bytes_per_trace", "", Kind::kBytes, &c.traces.max_bytes_per_trace,
       "Largest trace; spans beyond it are refused and counted (0: unlimited)."},
      {"traces.limits.max_attribute_bytes", "", Kind::kBytes, &c.traces.max_attribute_bytes,
       "Attribute values are cut to this length (0: unlimited)."},
      {"traces.limits.max_metrics_duration", "", Kind::kDuration,
       &c.traces.max_metrics_duration,
       "Tenant's longest TraceQL metrics range (Tempo max_metrics_duration; 0: traces.metrics.max_duration)."},
      {"traces.limits.max_search_duration", "", Kind::kDuration, &c.traces.max_search_duration,
       "Tenant's longest search range (Tempo max_search_duration; 0: traces.search.max_duration)."},
      {"traces.store.max_block_duration", "", Kind::kDuration, &c.traces.max_block_duration,
       "The head is cut into a block when its oldest data is this old."},
      {"traces.store.max_block_bytes", "", Kind::kBytes, &c.traces.max_block_bytes,
       "The head is cut into a block at this size."},
      {"traces.store.ship_interval", "", Kind::kDuration, &c.traces.ship_interval,
       "How often cut trace blocks are uploaded to the object store."},
      {"traces.store.local_retention", "", Kind::kDuration, &c.traces.local_retention,
       "How long uploaded blocks stay on local disk."},
      {"traces.store.blocklist_poll", "", Kind::kDuration, &c.traces.blocklist_poll,
       "How often the object store's block list is re-read."},
      {"traces.store.id_page_cache_bytes", "", Kind::kBytes, &c.traces.id_page_cache_bytes,
       "LRU of blocks' trace-id pages read by find-by-id (0: no cache)."},
      {"traces.store.split_window", "", Kind::kDuration, &c.traces.split_window,
       "Traces split over blocks cut within this window are linked at cut time and searched "
       "whole (0s: 2 x max_block_duration)."},
      {"traces.store.split_window_max_ids", "", Kind::kInt, &c.traces.split_window_max_ids,
       "Trace ids the split window may hold (~24 bytes each); past it the oldest blocks leave."},
      {"traces.search.target_bytes_per_job", "", Kind::kBytes,
       &c.traces.search_target_bytes_per_job,
       "Search jobs batch blocks up to this size; progress is streamed per job."},
      {"traces.search.streaming_interval", "", Kind::kDuration,
       &c.traces.search_streaming_interval,
       "Streaming search/metrics: minimum time between progress messages (Tempo: 500ms; 0: per job)."},
      {"traces.metrics.max_response_series", "", Kind::kInt,
       &c.traces.metrics_max_response_series,
       "TraceQL metrics: max series per answer; over it the answer is partial (0: no limit)."},
      {"traces.metrics.max_duration", "", Kind::kDuration, &c.traces.metrics_max_duration,
       "TraceQL metrics: longest start-end range; longer answers 400 (Tempo: 3h; 0: no limit)."},
      {"traces.metrics.max_exemplars", "", Kind::kInt, &c.traces.metrics_max_exemplars,
       "TraceQL metrics: exemplars when a range query asks none or more (Tempo: 100; 0: off)."},
      {"traces.search.max_duration", "", Kind::kDuration, &c.traces.search_max_duration,
       "Search: longest start-end range; longer answers 400 (Tempo: 168h; 0: no limit)."},
      {"traces.search.max_spans_per_span_set", "", Kind::kInt,
       &c.traces.search_max_spans_per_span_set,
       "Search: largest spss; larger answers 400 (Tempo: 100; 0: no limit)."},
      {"traces.sampling.enabled", "", Kind::kOptBool, &c.traces.sampling_enabled,
       "Tail sampling (unset: on in the gateway role, off otherwise)."},
      {"traces.sampling.decision_wait", "", Kind::kDuration, &c.traces.sampling_decision_wait,
       "Time from a trace's first span to its sampling decision."},
      {"traces.sampling.num_traces", "", Kind::kInt, &c.traces.sampling_num_traces,
       "Traces held in memory awaiting a decision."},
      {"traces.sampling.keep_errors", "", Kind::kBool, &c.traces.sampling_keep_errors,
       "status_code policy: keep traces with an error span."},
      {"traces.sampling.latency_threshold", "", Kind::kDuration,
       &c.traces.sampling_latency_threshold, "latency policy: keep traces at least this long (0: off)."},
      {"traces.sampling.attribute_key", "", Kind::kString, &c.traces.sampling_attribute_key,
       "string_attribute policy: the attribute (span or resource)."},
      {"traces.sampling.attribute_values", "", Kind::kList, &c.traces.sampling_attribute_values,
       "string_attribute policy: values that keep a trace (empty: off)."},
      {"traces.sampling.percentage", "", Kind::kInt, &c.traces.sampling_percentage,
       "probabilistic policy: percent of the other traces kept, by trace id."},
      {"traces.sampling.spans_per_second", "", Kind::kInt, &c.traces.sampling_spans_per_second,
       "rate_limiting policy: spans per second kept (0: off)."},
      {"traces.generator.enabled", "", Kind::kBool, &c.traces.generator_enabled,
       "Write span metrics and service-graph metrics into the metrics store."},
      {"traces.generator.collection_interval", "", Kind::kDuration,
       &c.traces.generator_collection_interval, "How often those metrics are written."},
      {"traces.gateway.endpoint", "", Kind::kString, &c.traces.gateway_endpoint,
       "Gateway role: OTLP/HTTP base URL spans are forwarded to (<endpoint>/v1/traces)."},
      {"traces.gateway.headers", "", Kind::kList, &c.traces.gateway_headers,
       "Gateway role: extra request headers, Name=value.", /*secret=*/true},
      {"traces.gateway.compression", "", Kind::kString, &c.traces.gateway_compression,
       "Gateway role: request body compression, gzip or none."},
      {"traces.gateway.send_batch_size", "", Kind::kInt, &c.traces.gateway_send_batch_size,
       "Gateway role: spans per request at most."},
      {"traces.gateway.batch_timeout", "", Kind::kDuration, &c.traces.gateway_batch_timeout,
       "Gateway role: longest wait for a batch to fill."},
      {"traces.gateway.timeout", "", Kind::kDuration, &c.traces.gateway_timeout,
       "Gateway role: timeout of one export request."},
      {"traces.gateway.queue_size", "", Kind::kInt, &c.traces.gateway_queue_size,
       "Gateway role: spans in the persistent queue at most (503 above; 0: no span bound)."},
      {"traces.gateway.queue_max_bytes", "", Kind::kBytes, &c.traces.gateway_queue_max_bytes,
       "Gateway role: encoded bytes in the persistent queue at most (503 above)."},
      {"traces.gateway.retry_initial_interval", "", Kind::kDuration,
       &c.traces.gateway_retry_initial_interval, "Gateway role: first retry backoff."},
      {"traces.gateway.retry_max_interval", "", Kind::kDuration,
       &c.traces.gateway_retry_max_interval, "Gateway role: longest retry backoff."},
      {"traces.gateway.retry_max_elapsed_time", "", Kind::kDuration,
       &c.traces.gateway_retry_max_elapsed_time,
       "Gateway role: a batch is dropped after retrying this long (0: never)."},
      {"profiles.limits.max_profile_size_bytes", "", Kind::kBytes,
       &c.profiles.max_profile_size_bytes, "Largest profile after decompression (413 above)."},
      {"profiles.limits.max_profile_stacktrace_samples", "", Kind::kInt,
       &c.profiles.max_profile_stacktrace_samples, "Most samples in one profile (400 above)."},
      {"profiles.limits.max_profile_stacktrace_depth", "", Kind::kInt,
       &c.profiles.max_profile_stacktrace_depth, "Deepest stack trace accepted (400 above)."},
      {"profiles.limits.max_label_names_per_series", "", Kind::kInt,
       &c.profiles.max_label_names_per_series, "Most labels on a profile series."},
      {"profiles.limits.max_label_name_length", "", Kind::kInt,
       &c.profiles.max_label_name_length, "Longest label name."},
      {"profiles.limits.max_label_value_length", "", Kind::kInt,
       &c.profiles.max_label_value_length, "Longest label value."},
      {"profiles.limits.ingestion_rate", "", Kind::kBytes, &c.profiles.ingestion_rate_bytes,
       "Per-tenant profile bytes per second (429 above; 0: unlimited)."},
      {"profiles.limits.ingestion_burst_size", "", Kind::kBytes, &c.profiles.ingestion_burst_bytes,
       "Per-tenant burst of profile bytes."},
      {"profiles.store.block_duration", "", Kind::kDuration, &c.profiles.block_duration,
       "The profiles head is cut into a block after this much time."},
      {"profiles.store.ship_interval", "", Kind::kDuration, &c.profiles.ship_interval,
       "How often cut profile blocks are uploaded to the object store."},
      {"profiles.store.retention", "", Kind::kDuration, &c.profiles.retention,
       "Profile blocks older than this are deleted, locally and in the object store (0: never)."},
      {"profiles.store.local_retention", "", Kind::kDuration, &c.profiles.local_retention,
       "How long uploaded profile blocks stay on local disk (0: forever)."},
      {"profiles.store.remote_block_cache_size", "", Kind::kBytes,
       &c.profiles.remote_block_cache_bytes,
       "Decoded object-store profile blocks kept in memory between queries (LRU)."},
      {"profiles.query.max_nodes", "", Kind::kInt, &c.profiles.max_nodes_default,
       "Flame graph nodes when a query does not set max_nodes."},
      {"profiles.self_profile.enabled", "", Kind::kBool, &c.profiles.self_profile_enabled,
       "Profile Sightline's own CPU into profiles.self_profile.tenant."},
      {"profiles.self_profile.interval", "", Kind::kDuration, &c.profiles.self_profile_interval,
       "Time between the starts of two self-profile windows."},
      {"profiles.self_profile.duration", "", Kind::kDuration, &c.profiles.self_profile_duration,
       "How long each self-profile window samples."},
      {"profiles.self_profile.hz", "", Kind::kInt, &c.profiles.self_profile_hz,
       "Samples per CPU-second during a self-profile window (1-1000)."},
      {"profiles.self_profile.first_after", "", Kind::kDuration,
       &c.profiles.self_profile_first_after, "Delay from start-up to the first self-profile."},
      {"profiles.self_profile.tenant", "", Kind::kString, &c.profiles.self_profile_tenant,
       "Tenant the self-profiles are stored under."},
      {"profiles.remote_write.url", "", Kind::kString, &c.profiles.remote_write_url,
       "Agent role without a local profiles ingester: push scraped profiles to this "
       "Sightline/Pyroscope base URL (Push API)."},
      {"profiles.remote_write.queue_capacity", "", Kind::kInt,
       &c.profiles.remote_write_queue_capacity,
       "Profiles waiting to be pushed; the oldest is dropped when full."},
      {"profiles.remote_write.max_retries", "", Kind::kInt, &c.profiles.remote_write_max_retries,
       "Attempts after the first for a push that failed with a retryable error."},
      {"profiles.remote_write.min_backoff", "", Kind::kDuration,
       &c.profiles.remote_write_min_backoff, "First retry delay (doubles up to max_backoff)."},
      {"profiles.remote_write.max_backoff", "", Kind::kDuration,
       &c.profiles.remote_write_max_backoff, "Longest retry delay."},
      {"profiles.remote_write.timeout", "", Kind::kDuration, &c.profiles.remote_write_timeout,
       "Timeout of one push request."},
  };
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    std::string item = Trim(s.substr(start, comma - start));
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

Result<bool> ParseBool(std::string_view s) {
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  return InvalidArgumentError(fmt::format("\"{}\" is not a boolean (true or false)", s));
}

// Stores `text` into the field, or says why it cannot.
Status SetFromText(const Field& f, std::string_view text) {
  switch (f.kind) {
    case Kind::kString:
      *static_cast<std::string*>(f.ptr) = std::string(text);
      return Status::Ok();
    case Kind::kBool: {
      SL_ASSIGN_OR_RETURN(bool b, ParseBool(text));
      *static_cast<bool*>(f.ptr) = b;
      return Status::Ok();
    }
    case Kind::kOptBool: {
      if (text.empty()) {  // `key:` with no value: back to unset
        *static_cast<std::optional<bool>*>(f.ptr) = std::nullopt;
        return Status::Ok();
      }
      SL_ASSIGN_OR_RETURN(bool b, ParseBool(text));
      *static_cast<std::optional<bool>*>(f.ptr) = b;
      return Status::Ok();
    }
    case Kind::kInt: {
      int v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size() || v < 0) {
        return InvalidArgumentError(fmt::format("\"{}\" is not a non-negative integer", text));
      }
      *static_cast<int*>(f.ptr) = v;
      return Status::Ok();
    }
    case Kind::kBytes: {
      SL_ASSIGN_OR_RETURN(uint64_t v, ParseBytes(text));
      *static_cast<uint64_t*>(f.ptr) = v;
      return Status::Ok();
    }
    case Kind::kDuration: {
      SL_ASSIGN_OR_RETURN(auto d, ParseDuration(text));
      *static_cast<std::chrono::milliseconds*>(f.ptr) = d;
      return Status::Ok();
    }
    case Kind::kList:
      *static_cast<std::vector<std::string>*>(f.ptr) = SplitList(text);
      return Status::Ok();
  }
  return InternalError("unknown field kind");
}

std::string FormatDurationMs(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms % 1000 != 0) return fmt::format("{}ms", ms);
  int64_t s = ms / 1000;
  if (s >= 3600) { out += fmt::format("{}h", s / 3600); s %= 3600; }
  if (s >= 60) { out += fmt::format("{}m", s / 60); s %= 60; }
  if (s > 0) out += fmt::format("{}s", s);
  return out;
}

std::string FormatBytes(uint64_t v) {
  if (v != 0 && v % (1ull << 30) == 0) return fmt::format("{}GiB", v >> 30);
  if (v != 0 && v % (1ull << 20) == 0) return fmt::format("{}MiB", v >> 20);
  if (v != 0 && v % (1ull << 10) == 0) return fmt::format("{}KiB", v >> 10);
  return std::to_string(v);
}

std::string FieldText(const Field& f) {
  switch (f.kind) {
    case Kind::kString: return *static_cast<std::string*>(f.ptr);
    case Kind::kBool: return *static_cast<bool*>(f.ptr) ? "true" : "false";
    case Kind::kOptBool: {
      const auto& b = *static_cast<std::optional<bool>*>(f.ptr);
      return !b.has_value() ? "" : *b ? "true" : "false";
    }
    case Kind::kInt: return std::to_string(*static_cast<int*>(f.ptr));
    case Kind::kBytes: return FormatBytes(*static_cast<uint64_t*>(f.ptr));
    case Kind::kDuration: return FormatDurationMs(*static_cast<std::chrono::milliseconds*>(f.ptr));
    case Kind::kList: {
      const auto& v = *static_cast<std::vector<std::string>*>(f.ptr);
      std::string out;
      for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
      return out;
    }
  }
  return "";
}

std::string Where(const std::string& file, const YAML::Node& n) {
  return fmt::format("{}:{}", file, n.Mark().line + 1);
}

// Sections that their modules parse themselves from Config::file_text.
const std::set<std::string>& OpaqueSections() {
  static const std::set<std::string> kSections = {"global", "scrape_configs", "overrides",
                                                  "metrics.limits.overrides",
                                                  "profiles.scrape_configs",
                                                  "traces.sampling.policies"};
  return kSections;
}

Status LoadNode(const YAML::Node& node, const std::string& prefix, const std::string& file,
                const std::vector<Field>& fields, const std::set<std::string>& sections) {
  if (!node.IsMap()) {
    return InvalidArgumentError(fmt::format("{}: {} must be a mapping of keys to values",
                                            Where(file, node), prefix.empty() ? "the file" : prefix));
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = it->first.as<std::string>("");
    std::string path = prefix.empty() ? key : prefix + "." + key;
    YAML::Node value = it->second;  // a copy: the iterator hands out temporaries
    YAML::Node key_node = it->first;
    auto field = std::find_if(fields.begin(), fields.end(),
                              [&](const Field& f) { return f.path == path; });
    if (field != fields.end()) {
      std::string text;
      if (value.IsNull()) {
        text = "";
      } else if (value.IsScalar()) {
        text = value.Scalar();
      } else if (field->kind == Kind::kList && value.IsSequence()) {
        for (const auto& item : value) {
          if (!item.IsScalar()) {
            return InvalidArgumentError(
                fmt::format("{}: {} must be a list of names", Where(file, item), path));
          }
          text += (text.empty() ? "" : ",") + item.Scalar();
        }
      } else {
        return InvalidArgumentError(
            fmt::format("{}: {} must be a single value, not a {}", Where(file, value), path,
                        value.IsMap() ? "mapping" : "list"));
      }
      Status s = SetFromText(*field, text);
      if (!s.ok()) {
        return InvalidArgumentError(
            fmt::format("{}: invalid value for {}: {}", Where(file, value), path, s.message()));
      }
      continue;
    }
    if (OpaqueSections().count(path) != 0) continue;  // read by their modules from file_text
    if (sections.count(path) != 0) {
      if (value.IsNull()) continue;  // an empty section keeps its defaults
      SL_RETURN_IF_ERROR(LoadNode(value, path, file, fields, sections));
      continue;
    }
    std::string where = prefix.empty() ? "at the top level" : "in " + prefix;
    return InvalidArgumentError(
        fmt::format("{}: unknown key \"{}\" {}", Where(file, key_node), key, where));
  }
  return Status::Ok();
}

std::set<std::string> Sections(const std::vector<Field>& fields) {
  std::set<std::string> out;
  for (const auto& f : fields) {
    for (size_t dot = f.path.find('.'); dot != std::string::npos; dot = f.path.find('.', dot + 1)) {
      out.insert(f.path.substr(0, dot));
    }
  }
  return out;
}

const std::vector<std::string>& KnownRoles() {
  static const std::vector<std::string> kRoles = {
      "all",        "distributor", "ingester", "querier",  "query-frontend", "store-gateway",
      "compactor",  "scraper",     "agent",    "gateway",  "ruler",          "ring",
      "write",      "read",        "backend"};
  return kRoles;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  std::string text = Trim(s);
  if (text.empty()) return InvalidArgumentError("empty duration");
  if (text == "0") return std::chrono::milliseconds(0);
  int64_t total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start) {
      return InvalidArgumentError(fmt::format("\"{}\" is not a duration (like 30s, 5m, 1h30m, 250ms)", text));
    }
    int64_t n = std::stoll(text.substr(start, i - start));
    size_t ustart = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string unit = text.substr(ustart, i - ustart);
    int64_t mult;
    if (unit == "ms") mult = 1;
    else if (unit == "s") mult = 1000;
    else if (unit == "m") mult = 60'000;
    else if (unit == "h") mult = 3'600'000;
    else if (unit == "d") mult = 86'400'000;
    else if (unit == "w") mult = 7 * 86'400'000LL;
    else if (unit == "y") mult = 365 * 86'400'000LL;
    else {
      return InvalidArgumentError(fmt::format(
          "\"{}\" is not a duration: unknown unit \"{}\" (use ms, s, m, h, d, w, y)", text, unit));
    }
    total_ms += n * mult;
  }
  return std::chrono::milliseconds(total_ms);
}

Result<uint64_t> ParseBytes(std::string_view s) {
  std::string text = Trim(s);
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) return InvalidArgumentError(fmt::format("\"{}\" is not a size (like 1024, 64KiB, 16MiB, 1GiB)", text));
  uint64_t n = std::stoull(text.substr(0, i));
  std::string unit = Trim(text.substr(i));
  static const std::map<std::string, uint64_t> kUnits = {
      {"", 1},          {"B", 1},         {"KB", 1000},     {"KiB", 1ull << 10},
      {"MB", 1000000},  {"MiB", 1ull << 20}, {"GB", 1000000000}, {"GiB", 1ull << 30},
      {"TB", 1000000000000ull}, {"TiB", 1ull << 40}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) {
    return InvalidArgumentError(fmt::format("\"{}\" is not a size: unknown unit \"{}\"", text, unit));
  }
  return n * it->second;
}

Status ValidateListenAddress(std::string_view addr) {
  size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos) {
    return InvalidArgumentError(fmt::format("\"{}\" is not HOST:PORT", addr));
  }
  std::string_view port = addr.substr(colon + 1);
  int p = -1;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p < 0 || p > 65535) {
    return InvalidArgumentError(
        fmt::format("\"{}\": port must be a number from 0 to 65535", addr));
  }
  return Status::Ok();
}

Status LoadYaml(const std::string& text, const std::string& file_name, Config* cfg) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(
        fmt::format("{}:{}: the file is not valid YAML: {}", file_name, e.mark.line + 1, e.msg));
  }
  if (root.IsNull()) return Status::Ok();  // empty file: all defaults
  std::vector<Field> fields = Fields(*cfg);
  try {
    return LoadNode(root, "", file_name, fields, Sections(fields));
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("{}:{}: {}", file_name, e.mark.line + 1, e.msg));
  }
}

Result<std::shared_ptr<const TenantOverrides>> TenantOverrides::Parse(
    const Config& base, const std::string& yaml_text, const std::string& file_name) {
  auto out = std::make_shared<TenantOverrides>();
  out->base_ = base;
  if (yaml_text.empty()) return std::shared_ptr<const TenantOverrides>(std::move(out));
  static const std::set<std::string> kSignals = {"metrics", "logs", "traces", "profiles"};
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root.IsMap()) return std::shared_ptr<const TenantOverrides>(std::move(out));
    YAML::Node section = root["overrides"];
    if (!section || section.IsNull()) return std::shared_ptr<const TenantOverrides>(std::move(out));
    if (!section.IsMap()) {
      return InvalidArgumentError(fmt::format(
          "{}: overrides must map tenant IDs to their settings", Where(file_name, section)));
    }
    for (auto it = section.begin(); it != section.end(); ++it) {
      std::string tenant = it->first.as<std::string>("");
      YAML::Node settings = it->second;
      if (tenant.empty()) {
        return InvalidArgumentError(
            fmt::format("{}: an override needs a tenant ID", Where(file_name, it->first)));
      }
      if (out->per_tenant_.count(tenant) != 0) {
        return InvalidArgumentError(fmt::format("{}: tenant \"{}\" is overridden twice",
                                                Where(file_name, it->first), tenant));
      }
      Config& cfg = out->per_tenant_.emplace(tenant, base).first->second;
      if (settings.IsNull()) continue;
      if (!settings.IsMap()) {
        return InvalidArgumentError(fmt::format(
            "{}: the overrides of tenant \"{}\" must be a mapping of signal sections",
            Where(file_name, settings), tenant));
      }
      for (auto s = settings.begin(); s != settings.end(); ++s) {
        std::string name = s->first.as<std::string>("");
        if (kSignals.count(name) == 0) {
          return InvalidArgumentError(fmt::format(
              "{}: overrides.{}: \"{}\" cannot be set per tenant (only the limits of metrics, "
              "logs, traces and profiles can)",
              Where(file_name, s->first), tenant, name));
        }
        YAML::Node sub = s->second;
        if (!sub.IsMap()) continue;  // LoadNode says what is wrong
        for (auto k = sub.begin(); k != sub.end(); ++k) {
          std::string key = k->first.as<std::string>("");
          if (key != "limits") {
            return InvalidArgumentError(fmt::format(
                "{}: overrides.{}.{}: \"{}\" cannot be set per tenant (only {}.limits can)",
                Where(file_name, k->first), tenant, name, key, name));
          }
        }
      }
      std::vector<Field> fields = Fields(cfg);
      Status st = LoadNode(settings, "", file_name, fields, Sections(fields));
      if (!st.ok()) {
        return InvalidArgumentError(fmt::format("{} (in overrides.{})", st.message(), tenant));
      }
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("{}:{}: {}", file_name, e.mark.line + 1, e.msg));
  }
  return std::shared_ptr<const TenantOverrides>(std::move(out));
}

Result<std::shared_ptr<const TenantOverrides>> TenantOverrides::FromConfig(const Config& base) {
  return Parse(base, base.file_text, base.config_file.empty() ? "config" : base.config_file);
}

const Config& TenantOverrides::For(std::string_view tenant) const {
  auto it = per_tenant_.find(tenant);
  return it == per_tenant_.end() ? base_ : it->second;
}

std::vector<std::string> TenantOverrides::Tenants() const {
  std::vector<std::string> out;
  out.reserve(per_tenant_.size());
  for (const auto& [tenant, cfg] : per_tenant_) out.push_back(tenant);
  return out;
}

Status Finalize(Config* cfg) {
  SL_RETURN_IF_ERROR(ValidateListenAddress(cfg->http.listen).Annotate("http.listen"));
  SL_RETURN_IF_ERROR(ValidateListenAddress(cfg->grpc.listen).Annotate("grpc.listen"));
  if (cfg->log_level != "debug" && cfg->log_level != "info" && cfg->log_level != "warn" &&
      cfg->log_level != "error") {
    return InvalidArgumentError(fmt::format(
        "log.level: \"{}\" is not a level (debug, info, warn, error)", cfg->log_level));
  }
  if (cfg->target.empty()) return InvalidArgumentError("target: name at least one role");
  for (const auto& t : cfg->target) {
    const auto& roles = KnownRoles();
    if (std::find(roles.begin(), roles.end(), t) == roles.end()) {
      std::string list;
      for (const auto& r : roles) list += (list.empty() ? "" : ", ") + r;
      return InvalidArgumentError(
          fmt::format("target: unknown role \"{}\" (known: {})", t, list));
    }
  }
  if (cfg->data_dir.empty()) return InvalidArgumentError("data.dir: must not be empty");
  if (cfg->metrics.promql_compat != "v3" && cfg->metrics.promql_compat != "v2") {
    return InvalidArgumentError(fmt::format(
        "metrics.promql.compat: \"{}\" is not a dialect (v3 or v2)", cfg->metrics.promql_compat));
  }
  if (cfg->metrics.block_duration.count() < 60'000) {
    return InvalidArgumentError("metrics.tsdb.block_duration: must be at least 1m");
  }
  // Prometheus's global.external_labels stand in for metrics.external_labels
  // when those are not set (docs/scrape.md); like Prometheus, Sightline
  // does not add them to stored samples, only to block meta and query
  // answers.
  if (cfg->metrics.external_labels.empty() && !cfg->file_text.empty()) {
    try {
      YAML::Node root = YAML::Load(cfg->file_text);
      YAML::Node g = root.IsMap() ? root["global"] : YAML::Node();
      YAML::Node el = g && g.IsMap() ? g["external_labels"] : YAML::Node();
      if (el && el.IsMap()) {
        for (auto it = el.begin(); it != el.end(); ++it) {
          cfg->metrics.external_labels.push_back(it->first.as<std::string>("") + "=" +
                                                 it->second.as<std::string>(""));
        }
      }
    } catch (const YAML::Exception&) {
      // Not YAML: LoadYaml has reported it already.
    }
  }
  for (const auto& kv : cfg->metrics.external_labels) {
    size_t eq = kv.find('=');
    if (eq == 0 || eq == std::string::npos) {
      return InvalidArgumentError(fmt::format(
          "metrics.external_labels: \"{}\" is not name=value", kv));
    }
  }
  if (cfg->storage.backend == "filesystem") {
    if (cfg->storage.filesystem_path.empty()) {
      cfg->storage.filesystem_path = cfg->data_dir + "/objects";
    }
  } else if (cfg->storage.backend == "s3") {
    if (cfg->storage.s3.bucket.empty()) {
      return InvalidArgumentError("storage.s3.bucket: required when storage.backend is s3");
    }
    if (cfg->storage.s3.sse != "" && cfg->storage.s3.sse != "AES256") {
      return InvalidArgumentError(fmt::format(
          "storage.s3.sse: \"{}\" is not supported (use AES256 or leave empty)", cfg->storage.s3.sse));
    }
    if (cfg->storage.s3.part_size < (5ull << 20)) {
      return InvalidArgumentError("storage.s3.part_size: S3 needs parts of at least 5MiB");
    }
  } else {
    return InvalidArgumentError(fmt::format(
        "storage.backend: \"{}\" is not a backend (filesystem or s3)", cfg->storage.backend));
  }
  return Status::Ok();
}

Result<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine cl;
  Config& cfg = cl.config;
  std::vector<Field> fields = Fields(cfg);
  auto find_field = [&](const std::string& name) -> const Field* {
    for (const auto& f : fields) {
      if (f.alias == name || f.path == name) return &f;
    }
    return nullptr;
  };

  // Collect (name, value) pairs first: the config file must load before the
  // flags apply, whatever their order. Accepts --name=value, --name value,
  // a bare --bool-flag, and Go-style single dashes like Prometheus.
  struct Flag {
    std::string name;
    std::string value;
  };
  std::vector<Flag> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help" || a == "-help") {
      cl.action = CommandLine::Action::kHelp;
      return cl;
    }
    if (a == "--version" || a == "-version") {
      cl.action = CommandLine::Action::kVersion;
      return cl;
    }
    if (a.size() < 2 || a[0] != '-') {
      return InvalidArgumentError(
          fmt::format("unexpected argument \"{}\" (flags look like --name=value)", a));
    }
    std::string body = a.substr(a.rfind("--", 0) == 0 ? 2 : 1);
    size_t eq = body.find('=');
    if (eq != std::string::npos) {
      flags.push_back({body.substr(0, eq), body.substr(eq + 1)});
      continue;
    }
    const Field* field = find_field(body);
    if (field != nullptr && (field->kind == Kind::kBool || field->kind == Kind::kOptBool)) {
      flags.push_back({body, "true"});
    } else if (i + 1 < args.size() && args[i + 1].rfind("-", 0) != 0) {
      flags.push_back({body, args[++i]});
    } else {
      return InvalidArgumentError(
          fmt::format("flag --{} needs a value (--{}=VALUE)", body, body));
    }
  }
  std::vector<Flag>& resolved = flags;

  for (const auto& f : resolved) {
    if (f.name == "config.file") {
      cfg.config_file = f.value;
    }
  }
  if (!cfg.config_file.empty()) {
    FILE* fp = std::fopen(cfg.config_file.c_str(), "rb");
    if (fp == nullptr) {
      return InvalidArgumentError(fmt::format("config.file: cannot open \"{}\": {}", cfg.config_file,
                                              std::strerror(errno)));
    }
    std::string text;
    char buf[8192];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), fp)) > 0) text.append(buf, n);
    std::fclose(fp);
    SL_RETURN_IF_ERROR(LoadYaml(text, cfg.config_file, &cfg));
    cfg.file_text = text;
  }
  for (const auto& f : resolved) {
    if (f.name == "config.file") continue;
    const Field* field = find_field(f.name);
    if (field == nullptr) {
      return InvalidArgumentError(fmt::format("unknown flag --{} (see --help)", f.name));
    }
    Status s = SetFromText(*field, f.value);
    if (!s.ok()) {
      return InvalidArgumentError(fmt::format("flag --{}: {}", f.name, s.message()));
    }
  }
  SL_RETURN_IF_ERROR(Finalize(&cfg));
  // Per-tenant overrides are read by the signals; a mistake in them is a
  // start-up error like any other.
  SL_RETURN_IF_ERROR(TenantOverrides::FromConfig(cfg).status());
  return cl;
}

std::string ToYaml(const Config& cfg_in) {
  Config cfg = cfg_in;
  std::vector<Field> fields = Fields(cfg);
  // Build a nested YAML document from the dotted paths, keeping table order.
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& f : fields) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t dot = f.path.find('.'); dot != std::string::npos; dot = f.path.find('.', start)) {
      parts.push_back(f.path.substr(start, dot - start));
      start = dot + 1;
    }
    parts.push_back(f.path.substr(start));
    std::string text = FieldText(f);
    if (f.secret && !text.empty()) text = "<secret>";
    std::vector<YAML::Node> chain{root};
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      YAML::Node next = chain.back()[parts[i]];
      chain.push_back(next);
    }
    if (f.kind == Kind::kList) {
      YAML::Node seq(YAML::NodeType::Sequence);
      for (const auto& v : *static_cast<std::vector<std::string>*>(f.ptr)) {
        seq.push_back(f.secret ? std::string("<secret>") : v);
      }
      chain.back()[parts.back()] = seq;
    } else if (f.kind == Kind::kOptBool && text.empty()) {
      continue;  // unset: the role decides
    } else if (f.kind == Kind::kBool || f.kind == Kind::kInt || f.kind == Kind::kOptBool) {
      chain.back()[parts.back()] = YAML::Load(text);
    } else {
      chain.back()[parts.back()] = text;
    }
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

std::string Usage() {
  Config cfg;
  std::vector<Field> fields = Fields(cfg);
  std::string out = fmt::format(
      "usage: sightline [flags]\n"
      "       sightline <command> [args]\n\n"
      "Sightline {}: metrics, logs, traces and profiles in one server.\n\n"
      "Flags (each also settable in the YAML file given by --config.file; flags win):\n"
      "  --config.file=FILE\n      YAML configuration file.\n"
      "  --help\n      Show this help.\n"
      "  --version\n      Show the version.\n",
      kVersion);
  for (const auto& f : fields) {
    std::string name = f.alias.empty() ? f.path : f.alias;
    std::string def = FieldText(f);
    out += fmt::format("  --{}={}\n      {}{}\n", name,
                       f.kind == Kind::kBool || f.kind == Kind::kOptBool ? "true|false" : "VALUE",
                       f.help,
                       def.empty() ? "" : fmt::format(" (default {})", def));
  }
  return out;
}

}  // namespace sightline::config
