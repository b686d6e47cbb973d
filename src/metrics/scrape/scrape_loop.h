// ScrapeLoop: scrapes one target and appends what it exposes to the TSDB,
// as Prometheus's scrapeLoop does.
//
// One ScrapeOnce(t):
//   fetch (HTTP with Accept negotiation, gzip, timeout, body size limit; or
//   any Fetcher) → parse (text 0.0.4 / OpenMetrics by Content-Type) → per
//   series: target labels merged (honor_labels: the exposed value wins;
//   otherwise a clash is renamed exported_<name>), metric_relabel_configs,
//   timestamps (honored or the scrape time) → Append; exemplars and
//   metadata (type/help/unit) too → Commit.
//   Series seen in the previous scrape and missing now get a staleness
//   marker at t. A failed scrape (fetch error, parse error, sample_limit,
//   body_size_limit, label limits, a series without a metric name) stores none of its
//   samples and marks every series of the previous scrape stale.
//   Then the report series, with the target labels: up,
//   scrape_duration_seconds, scrape_samples_scraped,
//   scrape_samples_post_metric_relabeling, scrape_series_added.
// EndOfRun(t) marks everything of the last scrape (report series included)
// stale: the target is gone.
//
// Reload (Prometheus's scrapePool.reload): when a job's settings change but
// a target stays, the old loop is stopped without EndOfRun and hands its
// series over (TakeHandover → Adopt) to the loop built with the new
// settings. The new loop's first scrape continues them: a series it scrapes
// again gets no staleness marker and no gap; one it no longer exposes (e.g.
// renamed by new metric_relabel_configs) is marked stale then, as are all of
// them if that scrape fails. Report series continue too.
//
// Per-sample store errors (out of order, duplicate, out of bounds, limits)
// are counted and skipped, as Prometheus does; other store errors fail the
// scrape.
//
// Thread-safety: ScrapeOnce/EndOfRun from one thread at a time (the loop's
// runner); State() from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"
#include "metrics/scrape/relabel.h"
#include "metrics/storage/storage.h"

namespace sightline::metrics::scrape {

struct FetchResult {
  std::string body;  // decompressed
  std::string content_type;
};
// Fetches the exposition within `timeout`. Errors become the target's
// lastError and up=0.
using Fetcher = std::function<Result<FetchResult>(std::chrono::milliseconds timeout)>;

// A pool-wide error that every scrape of the pool's loops fails with while
// it is set, without fetching (target_limit exceeded). Thread-safe.
class ForcedError {
 public:
  void Set(std::string error) {
    std::lock_guard<std::mutex> l(mu_);
    error_ = std::move(error);
  }
  std::string Get() const {
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }

 private:
  mutable std::mutex mu_;
  std::string error_;
};

struct LoopOptions {
  std::string tenant = "anonymous";
  // The target's labels as stored with each sample (job, instance, ...; no
  // "__" labels).
  Labels target_labels;
  bool honor_labels = false;
  bool honor_timestamps = true;
  uint64_t sample_limit = 0;  // 0: none
  // Prometheus's label limits on every series after metric relabeling
  // (0: none); one series over a limit fails the whole scrape with
  // Prometheus's message ("label_limit exceeded (metric: ...").
  uint64_t label_limit = 0;              // labels per series, __name__ included
  uint64_t label_name_length_limit = 0;  // bytes
  uint64_t label_value_length_limit = 0;  // bytes
  // While it holds an error, scrapes fail with it without fetching: up=0,
  // series stale. May be null.
  std::shared_ptr<const ForcedError> forced_error;
  std::shared_ptr<const std::vector<relabel::Rule>> metric_relabel;
  std::chrono::milliseconds interval{std::chrono::seconds(15)};
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

// What /api/v1/targets shows of a target.
struct TargetState {
  std::string health = "unknown";  // up, down, unknown
  std::string last_error;
  int64_t last_scrape_ms = 0;  // 0: never
  double last_duration_s = 0;
  uint64_t last_samples = 0;
};

// What a stopped loop hands to its replacement on reload (see above).
struct LoopHandover {
  // Series of the last successful scrape (as stored) with their refs.
  std::vector<std::pair<Labels, uint64_t>> live;
  std::map<std::string, uint64_t> report_refs;
  std::map<std::string, MetricMetadata> metadata;
  bool reported = false;
};

class ScrapeLoop {
 public:
  ScrapeLoop(Appendable* db, Fetcher fetch, LoopOptions options);
  ~ScrapeLoop();
  ScrapeLoop(const ScrapeLoop&) = delete;
  ScrapeLoop& operator=(const ScrapeLoop&) = delete;

  // One scrape at `t_ms` (the scrape timestamp). Returns the scrape's error
  // (also in State()); storage errors writing the report are logged.
  Status ScrapeOnce(int64_t t_ms);
  // Staleness markers at `t_ms` for every series of the last scrape.
  void EndOfRun(int64_t t_ms);
  // Reload: the state of a loop that will not scrape again (no EndOfRun
  // after it), for Adopt by the loop replacing it on the same target and
  // tenant. Adopt is called before the new loop's first ScrapeOnce.
  LoopHandover TakeHandover();
  void Adopt(LoopHandover h);

  TargetState State() const;
  const LoopOptions& options() const { return options_; }

 private:
  struct CacheEntry {
    uint64_t ref = 0;
    Labels labels;           // after merging and metric relabeling
    bool dropped = false;    // by metric relabeling
    uint64_t last_iter = 0;  // the last scrape that exposed it
    uint64_t prev_iter = 0;  // the one before (restored when a scrape fails)
  };
  // Appends the body; fills counters; on error the caller rolls back.
  Status AppendBody(Appender* app, const FetchResult& r, int64_t t_ms, uint64_t* scraped,
                    uint64_t* post_relabel, uint64_t* added);
  Labels MutateSampleLabels(const Labels& exposed) const;
  Status VerifyLabelLimits(const Labels& ls) const;
  void MarkStale(Appender* app, uint64_t seen_iter, int64_t t_ms);
  // Staleness markers for the adopted series not stored by the current
  // (successful) scrape; all of them when `all`. Clears them.
  void StaleAdopted(Appender* app, int64_t t_ms, bool all);
  void Report(int64_t t_ms, double duration_s, bool up, uint64_t scraped, uint64_t post_relabel,
              uint64_t added, bool stale);

  Appendable* db_;
  Fetcher fetch_;
  LoopOptions options_;

  // Keyed by the series as exposed (`name{labels}`); looked up by
  // string_view, without a copy per sample.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, CacheEntry, KeyHash, std::equal_to<>> cache_;
  uint64_t iter_ = 0;                               // scrapes so far
  uint64_t last_ok_iter_ = 0;                       // the iteration whose series are live (0: none)
  std::map<std::string, MetricMetadata> metadata_;  // as last sent to the store
  std::map<std::string, uint64_t> report_refs_;
  bool reported_ = false;
  // Series handed over by the loop this one replaced (reload), until the
  // first scrape settles which continue.
  std::vector<std::pair<Labels, uint64_t>> adopted_;

  mutable std::mutex state_mu_;
  TargetState state_;
};

}  // namespace sightline::metrics::scrape
