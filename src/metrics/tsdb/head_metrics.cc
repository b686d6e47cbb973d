#include "metrics/tsdb/head_metrics.h"

#include <limits>
#include <map>
#include <mutex>

namespace sightline::tsdb {

namespace {

// The time ranges of the heads reporting to each head_min_time gauge (one
// per registry). Heads forget themselves on close, so an entry whose
// registry is gone is empty.
struct TimeTracker {
  std::mutex mu;
  std::map<const telemetry::Gauge*, std::map<const void*, std::pair<int64_t, int64_t>>> heads;
};

TimeTracker& Tracker() {
  static auto* t = new TimeTracker();
  return *t;
}

}  // namespace

std::unique_ptr<TsdbMetrics> TsdbMetrics::Make(telemetry::Registry* registry) {
  telemetry::Registry& r = registry != nullptr ? *registry : telemetry::Registry::Default();
  auto m = std::make_unique<TsdbMetrics>();
  m->head_series =
      &r.AddGauge("prometheus_tsdb_head_series", "Total number of series in the head block.").Get();
  m->head_chunks =
      &r.AddGauge("prometheus_tsdb_head_chunks", "Total number of chunks in the head block.").Get();
  m->head_series_created = &r.AddCounter("prometheus_tsdb_head_series_created_total",
                                         "Total number of series created in the head")
                                .Get();
  m->head_series_removed = &r.AddCounter("prometheus_tsdb_head_series_removed_total",
                                         "Total number of series removed in the head")
                                .Get();
  m->head_chunks_created = &r.AddCounter("prometheus_tsdb_head_chunks_created_total",
                                         "Total number of chunks created in the head")
                                .Get();
  m->head_chunks_removed = &r.AddCounter("prometheus_tsdb_head_chunks_removed_total",
                                         "Total number of chunks removed in the head")
                                .Get();
  m->samples_appended = &r.AddCounter("prometheus_tsdb_head_samples_appended_total",
                                      "Total number of appended samples.", {"type"})
                             .WithLabels({"float"});
  m->ooo_samples_appended =
      &r.AddCounter("prometheus_tsdb_head_out_of_order_samples_appended_total",
                    "Total number of appended out of order samples.")
           .Get();
  m->out_of_order_samples =
      &r.AddCounter("prometheus_tsdb_out_of_order_samples_total",
                    "Total number of out of order samples ingestion failed attempts due to out "
                    "of order being disabled.",
                    {"type"})
           .WithLabels({"float"});
  m->out_of_bound_samples =
      &r.AddCounter("prometheus_tsdb_out_of_bound_samples_total",
                    "Total number of out of bound samples ingestion failed attempts with out of "
                    "order support disabled.",
                    {"type"})
           .WithLabels({"float"});
  m->duplicate_samples =
      &r.AddCounter("sightline_tsdb_duplicate_samples_total",
                    "Samples rejected because another value exists for their timestamp.")
           .Get();
  m->series_not_found = &r.AddCounter("prometheus_tsdb_head_series_not_found_total",
                                      "Total number of requests for series that were not found.")
                             .Get();
  m->exemplars_appended = &r.AddCounter("prometheus_tsdb_exemplar_exemplars_appended_total",
                                        "Total number of appended exemplars.")
                               .Get();
  m->exemplars_in_storage = &r.AddGauge("prometheus_tsdb_exemplar_exemplars_in_storage",
                                        "Number of exemplars currently in circular storage.")
                                 .Get();
  m->compactions = &r.AddCounter("prometheus_tsdb_compactions_total",
                                 "Total number of compactions that were executed for the "
                                 "partition.")
                        .Get();
  m->compactions_failed = &r.AddCounter("prometheus_tsdb_compactions_failed_total",
                                        "Total number of compactions that failed for the "
                                        "partition.")
                               .Get();
  m->truncations = &r.AddCounter("prometheus_tsdb_head_truncations_total",
                                 "Total number of head truncations attempted.")
                        .Get();
  m->truncations_failed = &r.AddCounter("prometheus_tsdb_head_truncations_failed_total",
                                        "Total number of head truncations that failed.")
                               .Get();
  m->checkpoint_creations = &r.AddCounter("prometheus_tsdb_checkpoint_creations_total",
                                          "Total number of checkpoint creations attempted.")
                                 .Get();
  m->checkpoint_creations_failed =
      &r.AddCounter("prometheus_tsdb_checkpoint_creations_failed_total",
                    "Total number of checkpoint creations that failed.")
           .Get();
  m->blocks_loaded =
      &r.AddGauge("prometheus_tsdb_blocks_loaded", "Number of currently loaded data blocks").Get();
  m->blocks_deleted = &r.AddCounter("sightline_tsdb_local_blocks_deleted_total",
                                    "Local blocks deleted by local retention after upload.")
                           .Get();
  m->head_min_time = &r.AddGauge("prometheus_tsdb_head_min_time",
                                 "Minimum time bound of the head block. The unit is decided by "
                                 "the library consumer.")
                          .Get();
  m->head_max_time = &r.AddGauge("prometheus_tsdb_head_max_time",
                                 "Maximum timestamp of the head block. The unit is decided by "
                                 "the library consumer.")
                          .Get();
  m->replay_duration_seconds = &r.AddGauge("prometheus_tsdb_data_replay_duration_seconds",
                                           "Time taken to replay the data on disk.")
                                    .Get();
  {
    TimeTracker& t = Tracker();
    std::lock_guard<std::mutex> l(t.mu);
    if (t.heads[m->head_min_time].empty()) {
      m->head_min_time->Set(static_cast<double>(std::numeric_limits<int64_t>::max()));
      m->head_max_time->Set(static_cast<double>(std::numeric_limits<int64_t>::min()));
    }
  }
  return m;
}

void TsdbMetrics::ReportHeadTimes(const void* id, bool has_data, int64_t min_time,
                                  int64_t max_time) {
  TimeTracker& t = Tracker();
  std::lock_guard<std::mutex> l(t.mu);
  auto& heads = t.heads[head_min_time];
  if (has_data) {
    heads[id] = {min_time, max_time};
  } else {
    heads.erase(id);
  }
  int64_t lo = std::numeric_limits<int64_t>::max();
  int64_t hi = std::numeric_limits<int64_t>::min();
  for (const auto& [h, mm] : heads) {
    lo = std::min(lo, mm.first);
    hi = std::max(hi, mm.second);
  }
  head_min_time->Set(static_cast<double>(lo));
  head_max_time->Set(static_cast<double>(hi));
}

}  // namespace sightline::tsdb
