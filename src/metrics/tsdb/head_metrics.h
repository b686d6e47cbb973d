// Self-metrics of the metrics TSDB, under Prometheus's names so that the
// seed's runbook queries and alerts work unchanged (DESIGN.md §7).
//
// One set of families per Registry, shared by every tenant's head and DB in
// the process: counters and the series/chunk gauges are sums over tenants
// (sum() of the Prometheus series gives the same number). The series keep
// Prometheus 2.42's identity, label sets included (e.g.
// prometheus_tsdb_head_samples_appended_total{type="float"}).
// prometheus_tsdb_head_min_time / max_time are the minimum / maximum over
// the tenants' heads that hold data (ReportHeadTimes).
//
// Thread-safety: every member may be used from any thread.
#pragma once

#include <cstdint>
#include <memory>

#include "telemetry/metrics.h"

namespace sightline::tsdb {

struct TsdbMetrics {
  // Handles to the metrics of `registry` (nullptr: Registry::Default()),
  // registering them on first use; every call for the same registry returns
  // handles to the same series. The registry must outlive the result.
  static std::unique_ptr<TsdbMetrics> Make(telemetry::Registry* registry);

  telemetry::Gauge* head_series;
  telemetry::Gauge* head_chunks;
  telemetry::Counter* head_series_created;
  telemetry::Counter* head_series_removed;
  telemetry::Counter* head_chunks_created;
  telemetry::Counter* head_chunks_removed;
  telemetry::Counter* samples_appended;      // {type="float"}
  telemetry::Counter* ooo_samples_appended;  // accepted out of order
  telemetry::Counter* out_of_order_samples;  // rejected {type="float"}
  telemetry::Counter* out_of_bound_samples;  // rejected {type="float"}
  telemetry::Counter* duplicate_samples;     // conflicting duplicates rejected
  telemetry::Counter* series_not_found;      // replay: samples of unknown series
  telemetry::Counter* exemplars_appended;
  telemetry::Gauge* exemplars_in_storage;
  telemetry::Counter* compactions;
  telemetry::Counter* compactions_failed;
  telemetry::Counter* truncations;
  telemetry::Counter* truncations_failed;
  telemetry::Counter* checkpoint_creations;
  telemetry::Counter* checkpoint_creations_failed;
  telemetry::Gauge* blocks_loaded;
  telemetry::Counter* blocks_deleted;  // local retention
  telemetry::Gauge* head_min_time;
  telemetry::Gauge* head_max_time;
  telemetry::Gauge* replay_duration_seconds;

  // Records head `id`'s time range (has_data false: it holds nothing) and
  // refreshes head_min_time / head_max_time from every head reporting to
  // the same registry. Forget(id) when the head goes away.
  void ReportHeadTimes(const void* id, bool has_data, int64_t min_time, int64_t max_time);
  void Forget(const void* id) { ReportHeadTimes(id, false, 0, 0); }
};

}  // namespace sightline::tsdb
