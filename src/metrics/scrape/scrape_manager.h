// ScrapeManager: the `scraper` role. Turns `scrape_configs` into targets
// (static_configs and file_sd_configs, then relabel_configs), runs one
// ScrapeLoop per target on its own thread, and keeps the set current as
// file_sd files change (checked every second, and re-read every
// refresh_interval).
//
// Targets (Prometheus 2.42's populateLabels): the discovered labels are the
// group's labels plus __address__, job, __scheme__, __metrics_path__,
// __scrape_interval__, __scrape_timeout__ and __param_<name>; after
// relabel_configs, a target without __address__ is dropped, instance
// defaults to __address__, __meta_* labels go, and the remaining labels
// without the "__" prefix are the target labels stored with every sample.
// The URL is <__scheme__>://<__address__><__metrics_path__>?<params, with
// __param_ labels overriding the configured ones>.
//
// Timing: each target is scraped every interval at an offset derived from
// its labels' hash, so targets spread over the interval and a target keeps
// its phase across restarts, as in Prometheus. A target that goes away (or
// Stop) gets staleness markers for everything it exposed.
//
// Extra jobs with their own Fetcher (the self-scrape of /metrics into tenant
// `self`) run the same loop.
//
// Thread-safety: TargetsJson and SyncNow may be called from any thread;
// Stop from one thread, once. The Appendable must outlive the manager.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "metrics/scrape/scrape_config.h"
#include "metrics/scrape/scrape_loop.h"
#include "metrics/storage/storage.h"

namespace sightline::metrics::scrape {

struct ExtraJob {
  std::string job_name;
  std::string tenant = "self";
  Labels target_labels;  // e.g. {job="sightline", instance="host:port"}
  std::string url;       // shown in /api/v1/targets
  std::chrono::milliseconds interval{std::chrono::seconds(15)};
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
  Fetcher fetch;
};

struct ManagerOptions {
  std::vector<ExtraJob> extra_jobs;
  // Wall clock for sample timestamps (ms); empty: the system clock.
  std::function<int64_t()> now_ms;
  // How often file_sd files are checked for changes.
  std::chrono::milliseconds file_check_interval{std::chrono::seconds(1)};
};

class ScrapeManager {
 public:
  // Compiles the rules, discovers the targets and starts their loops.
  static Result<std::unique_ptr<ScrapeManager>> Start(Appendable* db, ScrapeFileConfig config,
                                                      ManagerOptions options = {});
  ~ScrapeManager();  // Stop()

  // Stops every loop (each writes its staleness markers). Idempotent.
  void Stop();
  // Re-reads file_sd files now and applies the target changes.
  void SyncNow();

  // A new configuration (SIGHUP, POST /-/reload): jobs that are gone stop,
  // with staleness markers for their targets; new jobs start; a job whose
  // targets changed (static_configs, file_sd_configs) adds and removes only
  // those (removed ones get staleness markers); a job whose other settings
  // changed keeps scraping the targets that stay, as Prometheus does: their
  // loops stop without end-of-run staleness markers and hand their series
  // to new loops with the new settings, on the same schedule, so continuing
  // series have no gap and no marker (ScrapeLoop::Adopt); targets gone from
  // the job get staleness markers. The extra jobs are kept. On error (rules that do not
  // compile) nothing changes. Thread-safe.
  Status ApplyConfig(ScrapeFileConfig config);

  // The `data` object of /api/v1/targets: {"activeTargets":[...],
  // "droppedTargets":[...]}; state is "", "any", "active" or "dropped".
  std::string TargetsJson(std::string_view state = "any") const;

  // Number of running loops (for tests).
  size_t ActiveTargets() const;

 private:
  struct Impl;
  explicit ScrapeManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The discovered → target labels step alone (for tests): returns false in
// *keep when relabeling drops the target, the final labels (with "__"
// labels still present) otherwise.
Labels DiscoveredLabels(const ScrapeConfig& job, const std::string& address,
                        const std::map<std::string, std::string>& group_labels);
Result<Labels> TargetLabels(const ScrapeConfig& job, const std::vector<relabel::Rule>& rules,
                            const Labels& discovered, bool* keep);
// The scrape URL of a target's final labels.
std::string TargetUrl(const ScrapeConfig& job, const Labels& final_labels);

}  // namespace sightline::metrics::scrape
