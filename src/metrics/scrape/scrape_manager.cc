#include "metrics/scrape/scrape_manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <utility>

#include "base/json_writer.h"
#include "base/periodic_worker.h"
#include "config/config.h"
#include "metrics/scrape/http_fetcher.h"
#include "net/http.h"
#include "telemetry/log.h"

namespace sightline::metrics::scrape {

namespace {

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms % 1000 != 0) return fmt::format("{}ms", ms);
  int64_t s = ms / 1000;
  std::string out;
  if (s >= 3600) {
    out += fmt::format("{}h", s / 3600);
    s %= 3600;
  }
  if (s >= 60) {
    out += fmt::format("{}m", s / 60);
    s %= 60;
  }
  if (s > 0 || out.empty()) out += fmt::format("{}s", s);
  return out;
}

std::string Rfc3339(int64_t ms) {
  if (ms == 0) return "0001-01-01T00:00:00Z";
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ms % 1000));
}

void WriteLabels(JsonWriter& w, const Labels& ls) {
  w.BeginObject();
  for (const Label& l : ls) w.Key(l.name).String(l.value);
  w.EndObject();
}

}  // namespace

Labels DiscoveredLabels(const ScrapeConfig& job, const std::string& address,
                        const std::map<std::string, std::string>& group_labels) {
  tsdb::LabelsBuilder lb;
  for (const auto& [k, v] : group_labels) lb.Set(k, v);
  lb.Set("__address__", address);
  // Prometheus sets these only when the group does not.
  auto set_default = [&](std::string_view k, const std::string& v) {
    if (lb.Get(k).empty()) lb.Set(k, v);
  };
  set_default("job", job.job_name);
  set_default("__scrape_interval__", FormatDuration(job.scrape_interval));
  set_default("__scrape_timeout__", FormatDuration(job.scrape_timeout));
  set_default("__metrics_path__", job.metrics_path);
  set_default("__scheme__", job.scheme);
  for (const auto& [name, values] : job.params) {
    if (!values.empty()) set_default("__param_" + name, values.front());
  }
  return lb.Build();
}

Result<Labels> TargetLabels(const ScrapeConfig& job, const std::vector<relabel::Rule>& rules,
                            const Labels& discovered, bool* keep) {
  tsdb::LabelsBuilder lb(discovered);
  *keep = relabel::Process(rules, &lb);
  if (!*keep) return Labels();
  if (lb.Get("__address__").empty()) {
    *keep = false;
    return Labels();
  }
  for (std::string_view k : {"__scrape_interval__", "__scrape_timeout__"}) {
    std::string_view v = lb.Get(k);
    if (!v.empty() && !config::ParseDuration(v).ok()) {
      return InvalidArgumentError(fmt::format("error parsing {} {}", k.substr(2, k.size() - 4), v));
    }
  }
  Labels pre = lb.Build();
  for (const Label& l : pre) {
    if (l.name.rfind("__meta_", 0) == 0) lb.Del(l.name);
  }
  if (lb.Get("instance").empty()) lb.Set("instance", std::string(lb.Get("__address__")));
  (void)job;
  return lb.Build();
}

std::string TargetUrl(const ScrapeConfig& job, const Labels& final_labels) {
  std::string url = std::string(final_labels.Get("__scheme__")) + "://" +
                    std::string(final_labels.Get("__address__")) +
                    std::string(final_labels.Get("__metrics_path__"));
  std::map<std::string, std::vector<std::string>> params = job.params;
  for (const Label& l : final_labels) {
    if (l.name.rfind("__param_", 0) == 0) {
      auto& vs = params[l.name.substr(8)];
      if (vs.empty()) {
        vs.push_back(l.value);
      } else {
        vs[0] = l.value;
      }
    }
  }
  char sep = url.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, vs] : params) {
    for (const auto& v : vs) {
      url += sep;
      url += net::PercentEncode(k) + "=" + net::PercentEncode(v);
      sep = '&';
    }
  }
  return url;
}

namespace {

// Labels kept with samples: the final labels without "__" ones.
Labels StoredLabels(const Labels& final_labels) {
  std::vector<Label> out;
  for (const Label& l : final_labels) {
    if (l.name.rfind("__", 0) != 0) out.push_back(l);
  }
  return Labels::FromSortedUnchecked(std::move(out));
}

// One running target: its loop and the thread driving it.
class Runner {
 public:
  Runner(std::unique_ptr<ScrapeLoop> loop, std::unique_ptr<HttpFetcher> fetcher,
         std::function<int64_t()> now_ms, uint64_t offset_seed)
      : loop_(std::move(loop)),
        fetcher_(std::move(fetcher)),
        now_ms_(std::move(now_ms)),
        interval_ms_(loop_->options().interval.count()),
        worker_("scrape", loop_->options().interval, [this] { return Tick(); }) {
    const int64_t offset_ms =
        static_cast<int64_t>((loop_->options().target_labels.Hash() ^ offset_seed) %
                             static_cast<uint64_t>(interval_ms_));
    // The first scrape at the target's offset within the interval.
    const int64_t now = now_ms_();
    next_ = now - (now % interval_ms_) + offset_ms;
    if (next_ < now) next_ += interval_ms_;
    worker_.Start(std::chrono::milliseconds(next_ - now));
  }
  ~Runner() { Stop(); }

  // Stops the thread, then writes the end-of-run staleness markers (once).
  void Stop() {
    worker_.Stop();
    bool end_of_run;
    {
      std::lock_guard<std::mutex> l(mu_);
      end_of_run = std::exchange(end_of_run_, false);
    }
    if (end_of_run && loop_ != nullptr) loop_->EndOfRun(now_ms_());
  }
  // Reload: stops the thread without the end-of-run staleness markers and
  // returns the loop, whose series a replacing loop adopts.
  std::unique_ptr<ScrapeLoop> Detach() {
    {
      std::lock_guard<std::mutex> l(mu_);
      end_of_run_ = false;
    }
    Stop();
    return std::move(loop_);
  }
  ScrapeLoop& loop() { return *loop_; }
  bool has_loop() const { return loop_ != nullptr; }

 private:
  // Scrapes when `next_` is reached (by now_ms_, which tests may fake) and
  // schedules the next one; missed slots are skipped, not caught up.
  PeriodicWorker::Next Tick() {
    const int64_t t = now_ms_();
    if (t < next_) return PeriodicWorker::Next::After(std::chrono::milliseconds(next_ - t));
    (void)loop_->ScrapeOnce(t);
    next_ += interval_ms_;
    const int64_t after = now_ms_();
    if (next_ <= after) next_ += ((after - next_) / interval_ms_ + 1) * interval_ms_;
    return PeriodicWorker::Next::After(std::chrono::milliseconds(next_ - after));
  }

  std::unique_ptr<ScrapeLoop> loop_;
  std::unique_ptr<HttpFetcher> fetcher_;
  std::function<int64_t()> now_ms_;
  const int64_t interval_ms_;
  int64_t next_ = 0;  // when the next scrape is due (now_ms_ time); worker thread only
  std::mutex mu_;
  bool end_of_run_ = true;  // guarded by mu_
  PeriodicWorker worker_;   // last: it stops before what Tick() uses goes
};

struct Target {
  std::string pool;
  Labels discovered;
  Labels final_labels;  // with "__" labels
  std::string url;
  std::chrono::milliseconds interval{0}, timeout{0};
  std::unique_ptr<Runner> runner;
};

struct Pool {
  ScrapeConfig config;
  std::vector<relabel::Rule> relabel;
  std::shared_ptr<const std::vector<relabel::Rule>> metric_relabel;
  std::shared_ptr<ForcedError> target_limit_error = std::make_shared<ForcedError>();
  // file_sd: the files last read and their mtimes.
  std::map<std::string, int64_t> file_mtimes;
  std::chrono::steady_clock::time_point last_full_read{};
};

}  // namespace

struct ScrapeManager::Impl {
  Appendable* db = nullptr;
  ScrapeFileConfig config;
  ManagerOptions options;
  uint64_t seed = 0;
  std::vector<Pool> pools;

  mutable std::mutex mu;  // guards active, dropped
  // Keyed by pool + "\xff" + final labels string.
  std::map<std::string, Target> active;
  std::vector<std::pair<std::string, Labels>> dropped;  // pool, discovered

  std::mutex sync_mu;  // one sync at a time
  std::atomic<bool> stopping{false};
  bool stopped = false;
  // Re-reads the file_sd files every file_check_interval.
  std::unique_ptr<PeriodicWorker> sync_worker;

  int64_t Now() const { return options.now_ms ? options.now_ms() : SystemNowMs(); }

  // All target groups of a pool (static + files), re-reading files if
  // `force` or they changed.
  bool CollectGroups(Pool& p, bool force, std::vector<StaticConfig>* groups) {
    std::map<std::string, int64_t> mtimes = MatchFileSdFiles(p.config);
    if (!force && mtimes == p.file_mtimes) return false;
    p.file_mtimes = mtimes;
    std::vector<Status> errors;
    *groups = CollectTargetGroups(p.config, mtimes, &errors);
    for (const Status& e : errors) {
      log::Warn("file_sd: cannot read target file",
                {{"job", p.config.job_name}, {"err", e.ToString()}});
    }
    return true;
  }

  void Sync(bool force) {
    std::lock_guard<std::mutex> sl(sync_mu);
    if (stopped) return;
    auto now = std::chrono::steady_clock::now();
    for (Pool& p : pools) {
      bool full = force;
      for (const FileSdConfig& f : p.config.file_sd_configs) {
        if (now - p.last_full_read >= f.refresh_interval) full = true;
      }
      std::vector<StaticConfig> groups;
      if (!CollectGroups(p, full, &groups)) continue;
      p.last_full_read = now;
      ApplyGroups(p, groups);
    }
  }

  // Loops of targets whose job changed settings on reload, stopped without
  // staleness markers, by target key; ApplyGroups hands them to the new
  // loops of the same targets.
  using Handovers = std::map<std::string, std::unique_ptr<ScrapeLoop>>;

  void ApplyGroups(const Pool& p, const std::vector<StaticConfig>& groups,
                   Handovers* handovers = nullptr) {
    std::map<std::string, Target> wanted;
    std::vector<std::pair<std::string, Labels>> dropped_now;
    for (const StaticConfig& g : groups) {
      for (const std::string& addr : g.targets) {
        Labels disc = DiscoveredLabels(p.config, addr, g.labels);
        bool keep = false;
        auto final_labels = TargetLabels(p.config, p.relabel, disc, &keep);
        if (!final_labels.ok()) {
          log::Warn("scrape: invalid target",
                    {{"job", p.config.job_name}, {"err", final_labels.status().ToString()}});
          continue;
        }
        if (!keep) {
          dropped_now.emplace_back(p.config.job_name, disc);
          continue;
        }
        Target t;
        t.pool = p.config.job_name;
        t.discovered = disc;
        t.final_labels = *final_labels;
        t.url = TargetUrl(p.config, t.final_labels);
        t.interval = config::ParseDuration(t.final_labels.Get("__scrape_interval__"))
                         .value_or(p.config.scrape_interval);
        t.timeout = config::ParseDuration(t.final_labels.Get("__scrape_timeout__"))
                        .value_or(p.config.scrape_timeout);
        if (t.interval.count() <= 0) t.interval = p.config.scrape_interval;
        std::string key =
            t.pool + "\xff" + StoredLabels(t.final_labels).ToString() + "\xff" + t.url;
        wanted.emplace(std::move(key), std::move(t));
      }
    }
    // Prometheus: more targets than target_limit fail every scrape of the
    // pool until there are few enough again.
    if (p.config.target_limit > 0 && wanted.size() > p.config.target_limit) {
      p.target_limit_error->Set(fmt::format("target_limit exceeded (number of targets: {}, limit: {})",
                                            wanted.size(), p.config.target_limit));
    } else {
      p.target_limit_error->Set("");
    }
    // Swap: stop the loops of targets that went away (outside the lock:
    // EndOfRun writes), start the new ones.
    std::vector<std::unique_ptr<Runner>> to_stop;
    {
      std::lock_guard<std::mutex> l(mu);
      for (auto it = active.begin(); it != active.end();) {
        if (it->second.pool == p.config.job_name && wanted.count(it->first) == 0) {
          to_stop.push_back(std::move(it->second.runner));
          it = active.erase(it);
        } else {
          ++it;
        }
      }
      dropped.erase(std::remove_if(dropped.begin(), dropped.end(),
                                   [&](const auto& d) { return d.first == p.config.job_name; }),
                    dropped.end());
      for (auto& d : dropped_now) dropped.push_back(std::move(d));
      for (auto& [key, t] : wanted) {
        if (active.count(key) != 0) continue;
        LoopOptions lo;
        lo.tenant = p.config.tenant;
        lo.target_labels = StoredLabels(t.final_labels);
        lo.honor_labels = p.config.honor_labels;
        lo.honor_timestamps = p.config.honor_timestamps;
        lo.sample_limit = p.config.sample_limit;
        lo.label_limit = p.config.label_limit;
        lo.label_name_length_limit = p.config.label_name_length_limit;
        lo.label_value_length_limit = p.config.label_value_length_limit;
        lo.forced_error = p.target_limit_error;
        lo.metric_relabel = p.metric_relabel;
        lo.interval = t.interval;
        lo.timeout = std::min(t.timeout, t.interval);
        auto fetcher =
            std::make_unique<HttpFetcher>(t.url, p.config.body_size_limit, p.config.http_client);
        HttpFetcher* f = fetcher.get();
        auto loop = std::make_unique<ScrapeLoop>(
            db, [f](std::chrono::milliseconds timeout) { return f->Fetch(timeout); }, lo);
        if (handovers != nullptr) {
          if (auto h = handovers->find(key); h != handovers->end()) {
            loop->Adopt(h->second->TakeHandover());
            handovers->erase(h);
          }
        }
        t.runner = std::make_unique<Runner>(
            std::move(loop), std::move(fetcher), [this] { return Now(); }, seed);
        log::Info("scrape: target added", {{"job", t.pool}, {"url", t.url}});
        active.emplace(key, std::move(t));
      }
    }
    for (auto& r : to_stop) r->Stop();
  }

  void StartExtra(const ExtraJob& j) {
    LoopOptions lo;
    lo.tenant = j.tenant;
    lo.target_labels = j.target_labels;
    lo.interval = j.interval;
    lo.timeout = std::min(j.timeout, j.interval);
    auto loop = std::make_unique<ScrapeLoop>(db, j.fetch, lo);
    Target t;
    t.pool = j.job_name;
    t.discovered = j.target_labels;
    t.final_labels = j.target_labels;
    t.url = j.url;
    t.interval = j.interval;
    t.timeout = lo.timeout;
    t.runner = std::make_unique<Runner>(
        std::move(loop), nullptr, [this] { return Now(); }, seed);
    std::lock_guard<std::mutex> l(mu);
    active.emplace(t.pool + "\xff" + j.target_labels.ToString() + "\xff" + j.url, std::move(t));
  }
};

ScrapeManager::ScrapeManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ScrapeManager::~ScrapeManager() { Stop(); }

Result<std::unique_ptr<ScrapeManager>> ScrapeManager::Start(Appendable* db, ScrapeFileConfig config,
                                                            ManagerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->db = db;
  impl->config = std::move(config);
  impl->options = std::move(options);
  impl->seed = std::random_device{}();
  // A stable per-process seed would keep phases across restarts; Prometheus
  // derives it from the external labels and hostname.
  impl->seed = 0;
  for (const auto& [k, v] : impl->config.global.external_labels) {
    impl->seed ^= Labels::FromStrings({k, v}).Hash();
  }
  for (const ScrapeConfig& c : impl->config.scrape_configs) {
    Pool p;
    p.config = c;
    SL_ASSIGN_OR_RETURN(p.relabel, relabel::CompileAll(c.relabel_configs));
    SL_ASSIGN_OR_RETURN(auto mr, relabel::CompileAll(c.metric_relabel_configs));
    p.metric_relabel = std::make_shared<const std::vector<relabel::Rule>>(std::move(mr));
    impl->pools.push_back(std::move(p));
  }
  std::unique_ptr<ScrapeManager> m(new ScrapeManager(std::move(impl)));
  for (const ExtraJob& j : m->impl_->options.extra_jobs) m->impl_->StartExtra(j);
  m->impl_->Sync(true);
  Impl* raw = m->impl_.get();
  raw->sync_worker = std::make_unique<PeriodicWorker>("scrape-sd", raw->options.file_check_interval,
                                                      [raw] { raw->Sync(false); });
  raw->sync_worker->Start();
  return m;
}

void ScrapeManager::Stop() {
  if (!impl_) return;
  if (impl_->stopping.exchange(true)) return;
  if (impl_->sync_worker) impl_->sync_worker->Stop();
  {
    std::lock_guard<std::mutex> sl(impl_->sync_mu);
    impl_->stopped = true;
    std::lock_guard<std::mutex> l(impl_->mu);
    for (auto& [k, t] : impl_->active) {
      if (t.runner) t.runner->Stop();
    }
  }
}

void ScrapeManager::SyncNow() { impl_->Sync(true); }

namespace {

// The job's settings without its target lists.
ScrapeConfig WithoutTargets(ScrapeConfig c) {
  c.static_configs.clear();
  c.file_sd_configs.clear();
  return c;
}

}  // namespace

Status ScrapeManager::ApplyConfig(ScrapeFileConfig config) {
  std::vector<Pool> fresh;
  for (const ScrapeConfig& c : config.scrape_configs) {
    Pool p;
    p.config = c;
    SL_ASSIGN_OR_RETURN(p.relabel, relabel::CompileAll(c.relabel_configs));
    SL_ASSIGN_OR_RETURN(auto mr, relabel::CompileAll(c.metric_relabel_configs));
    p.metric_relabel = std::make_shared<const std::vector<relabel::Rule>>(std::move(mr));
    fresh.push_back(std::move(p));
  }
  std::lock_guard<std::mutex> sl(impl_->sync_mu);
  if (impl_->stopped) return FailedPreconditionError("the scrape manager is stopped");
  size_t kept = 0, restarted = 0, removed = 0;
  // Old pools: kept (same settings), or their targets stop.
  std::vector<Pool> next;
  Impl::Handovers handovers;
  for (Pool& old : impl_->pools) {
    auto it = std::find_if(fresh.begin(), fresh.end(), [&](const Pool& p) {
      return p.config.job_name == old.config.job_name;
    });
    if (it != fresh.end() && WithoutTargets(it->config) == WithoutTargets(old.config)) {
      old.config = it->config;  // new target lists
      old.file_mtimes.clear();  // re-read the files
      fresh.erase(it);
      next.push_back(std::move(old));
      ++kept;
      continue;
    }
    if (it != fresh.end() && it->config.tenant == old.config.tenant) {
      // Prometheus keeps scraping a job's targets across a settings change
      // without a gap or staleness markers for the series that continue:
      // stop the loops without end-of-run markers and hand their series to
      // the new loops of the same targets (below).
      std::vector<std::pair<std::string, std::unique_ptr<Runner>>> runners;
      {
        std::lock_guard<std::mutex> l(impl_->mu);
        for (auto t = impl_->active.begin(); t != impl_->active.end();) {
          if (t->second.pool == old.config.job_name) {
            runners.emplace_back(t->first, std::move(t->second.runner));
            t = impl_->active.erase(t);
          } else {
            ++t;
          }
        }
      }
      // A detached loop never fetches again (its fetcher goes with the
      // runner): it only hands its series over or writes EndOfRun.
      for (auto& [key, runner] : runners) handovers[key] = runner->Detach();
      ++restarted;
      continue;
    }
    impl_->ApplyGroups(old, {});  // stops its targets: staleness markers
    if (it != fresh.end()) {
      ++restarted;
    } else {
      ++removed;
    }
  }
  size_t added = fresh.size() - restarted;
  for (Pool& p : fresh) next.push_back(std::move(p));
  impl_->pools = std::move(next);
  impl_->config.global = config.global;
  impl_->config.scrape_configs = std::move(config.scrape_configs);
  auto now = std::chrono::steady_clock::now();
  for (Pool& p : impl_->pools) {
    std::vector<StaticConfig> groups;
    impl_->CollectGroups(p, /*force=*/true, &groups);
    p.last_full_read = now;
    impl_->ApplyGroups(p, groups, &handovers);
  }
  // Targets of a changed job that are gone now: their series go stale.
  for (auto& [key, loop] : handovers) loop->EndOfRun(impl_->Now());
  log::Info("scrape: configuration applied",
            {{"jobs", std::to_string(impl_->pools.size())},
             {"unchanged_or_retargeted", std::to_string(kept)},
             {"restarted", std::to_string(restarted)},
             {"added", std::to_string(added)},
             {"removed", std::to_string(removed)}});
  return Status::Ok();
}

size_t ScrapeManager::ActiveTargets() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->active.size();
}

std::string ScrapeManager::TargetsJson(std::string_view state) const {
  bool want_active = state.empty() || state == "any" || state == "active";
  bool want_dropped = state.empty() || state == "any" || state == "dropped";
  JsonWriter w;
  w.BeginObject();
  w.Key("activeTargets").BeginArray();
  std::lock_guard<std::mutex> l(impl_->mu);
  if (want_active) {
    for (const auto& [key, t] : impl_->active) {
      TargetState s = t.runner && t.runner->has_loop() ? t.runner->loop().State() : TargetState{};
      w.BeginObject();
      w.Key("discoveredLabels");
      WriteLabels(w, t.discovered);
      w.Key("labels");
      WriteLabels(w, StoredLabels(t.final_labels));
      w.Key("scrapePool").String(t.pool);
      w.Key("scrapeUrl").String(t.url);
      w.Key("globalUrl").String(t.url);
      w.Key("lastError").String(s.last_error);
      w.Key("lastScrape").String(Rfc3339(s.last_scrape_ms));
      w.Key("lastScrapeDuration").Double(s.last_duration_s);
      w.Key("health").String(s.health);
      w.Key("scrapeInterval").String(FormatDuration(t.interval));
      w.Key("scrapeTimeout").String(FormatDuration(t.timeout));
      w.EndObject();
    }
  }
  w.EndArray();
  w.Key("droppedTargets").BeginArray();
  if (want_dropped) {
    for (const auto& [pool, disc] : impl_->dropped) {
      w.BeginObject();
      w.Key("discoveredLabels");
      WriteLabels(w, disc);
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  return w.Take();
}

}  // namespace sightline::metrics::scrape
