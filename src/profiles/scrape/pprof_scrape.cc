#include "profiles/scrape/pprof_scrape.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

#include "base/periodic_worker.h"
#include "config/config.h"
#include "config/yaml_util.h"
#include "metrics/scrape/http_fetcher.h"
#include "metrics/scrape/relabel.h"
#include "metrics/scrape/scrape_manager.h"
#include "pprof/profile.pb.h"
#include "profiles/ingest/ingest.h"
#include "telemetry/log.h"

namespace sightline::profiles::scrape {

namespace ms = metrics::scrape;
namespace relabel = metrics::relabel;

std::vector<ProfileTypeConfig> DefaultProfileTypes() {
  return {
      {"process_cpu", true, "/debug/pprof/profile", true},
      {"memory", true, "/debug/pprof/allocs", false},
      {"goroutine", true, "/debug/pprof/goroutine", false},
      {"mutex", true, "/debug/pprof/mutex", false},
      {"block", true, "/debug/pprof/block", false},
      {"fgprof", false, "/debug/fgprof", true},
      {"godeltaprof_memory", false, "/debug/pprof/delta_heap", false},
      {"godeltaprof_mutex", false, "/debug/pprof/delta_mutex", false},
      {"godeltaprof_block", false, "/debug/pprof/delta_block", false},
  };
}

namespace {

constexpr char kJobsKey[] = "scrape_configs";

using config::yaml::Bool;
using config::yaml::Err;
using config::yaml::Scalar;

Status CheckKeys(const std::string& file, const YAML::Node& n, const std::string& where,
                 std::initializer_list<std::string_view> known) {
  if (!n.IsMap()) return Err(file, n, where + " must be a mapping");
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string key = it->first.as<std::string>("");
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return Err(file, it->first, fmt::format("unknown key \"{}\" in {}", key, where));
    }
  }
  return Status::Ok();
}

// profiling_config of one job, merged into job->types.
Status ParseProfilingConfig(const std::string& file, const YAML::Node& n, JobConfig* job) {
  SL_RETURN_IF_ERROR(CheckKeys(file, n, "profiling_config",
                               {"path_prefix", "delta_profiling_duration", "pprof_config"}));
  if (n["path_prefix"]) {
    SL_ASSIGN_OR_RETURN(job->path_prefix, Scalar(file, n["path_prefix"], "path_prefix"));
  }
  if (n["delta_profiling_duration"]) {
    SL_ASSIGN_OR_RETURN(std::string d, Scalar(file, n["delta_profiling_duration"],
                                              "delta_profiling_duration"));
    auto parsed = config::ParseDuration(d);
    if (!parsed.ok() || parsed->count() < 1000) {
      return Err(file, n["delta_profiling_duration"],
                 fmt::format("delta_profiling_duration: \"{}\" is not a duration of at least 1s",
                             d));
    }
    job->delta_profiling_duration = *parsed;
  }
  YAML::Node pc = n["pprof_config"];
  if (!pc || pc.IsNull()) return Status::Ok();
  if (!pc.IsMap()) return Err(file, pc, "pprof_config must be a mapping of profile types");
  for (auto it = pc.begin(); it != pc.end(); ++it) {
    const std::string name = it->first.as<std::string>("");
    if (!relabel::IsValidLabelName(name)) {
      return Err(file, it->first, fmt::format("\"{}\" is not a valid profile type name", name));
    }
    YAML::Node t = it->second;
    if (t.IsNull()) continue;
    SL_RETURN_IF_ERROR(CheckKeys(file, t, "pprof_config." + name, {"enabled", "path", "delta"}));
    auto existing = std::find_if(job->types.begin(), job->types.end(),
                                 [&](const ProfileTypeConfig& c) { return c.name == name; });
    if (existing == job->types.end()) {
      // A custom profile type: needs its path.
      if (!t["path"]) {
        return Err(file, t, fmt::format("custom profile type \"{}\" needs a path", name));
      }
      job->types.push_back({name, true, "", false});
      existing = job->types.end() - 1;
    }
    if (t["enabled"]) {
      SL_ASSIGN_OR_RETURN(existing->enabled, Bool(file, t["enabled"], name + ".enabled"));
    }
    if (t["path"]) {
      SL_ASSIGN_OR_RETURN(existing->path, Scalar(file, t["path"], name + ".path"));
      if (existing->path.empty() || existing->path[0] != '/') {
        return Err(file, t["path"], fmt::format("{}.path must start with /", name));
      }
    }
    if (t["delta"]) {
      SL_ASSIGN_OR_RETURN(existing->delta, Bool(file, t["delta"], name + ".delta"));
    }
  }
  return Status::Ok();
}

using TLabels = tsdb::Labels;

Labels ToProfileLabels(const TLabels& ls) {
  Labels out;
  out.reserve(ls.size());
  for (const auto& l : ls) out.emplace_back(l.name, l.value);
  return out;
}

// Pyroscope's service_name inference from discovery labels.
std::string InferServiceName(const TLabels& ls) {
  if (auto v = ls.Get("__meta_kubernetes_pod_annotation_pyroscope_io_service_name"); !v.empty()) {
    return std::string(v);
  }
  auto ns = ls.Get("__meta_kubernetes_namespace");
  auto container = ls.Get("__meta_kubernetes_pod_container_name");
  if (!ns.empty() && !container.empty()) return fmt::format("{}/{}", ns, container);
  if (auto v = ls.Get("__meta_docker_container_name"); !v.empty()) return std::string(v);
  if (auto v = ls.Get("__meta_dockerswarm_container_label_service_name"); !v.empty()) {
    return std::string(v);
  }
  if (auto v = ls.Get("__meta_dockerswarm_service_name"); !v.empty()) return std::string(v);
  return "unspecified";
}

}  // namespace

Result<std::vector<JobConfig>> ParseScrapeConfigs(const std::string& yaml_text,
                                                  const std::string& file_name) {
  ms::GlobalConfig defaults;
  defaults.scrape_interval = std::chrono::seconds(15);
  defaults.scrape_timeout = std::chrono::seconds(15);
  SL_ASSIGN_OR_RETURN(auto jobs, ms::ParseScrapeJobs(yaml_text, file_name, {"profiles", kJobsKey},
                                                     defaults, {"profiling_config"}));
  std::vector<JobConfig> out;
  if (jobs.empty()) return out;
  try {
    YAML::Node list = YAML::Load(yaml_text)["profiles"][kJobsKey];
    size_t i = 0;
    for (const auto& item : list) {
      if (i >= jobs.size()) break;
      JobConfig jc;
      jc.job = std::move(jobs[i++]);
      jc.types = DefaultProfileTypes();
      if (YAML::Node pc = item["profiling_config"]; pc && !pc.IsNull()) {
        SL_RETURN_IF_ERROR(ParseProfilingConfig(file_name, pc, &jc));
      }
      out.push_back(std::move(jc));
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(fmt::format("{}:{}: {}", file_name, e.mark.line + 1, e.msg));
  }
  return out;
}

Result<std::vector<Target>> ExpandTargets(const JobConfig& jc,
                                          const std::vector<ms::StaticConfig>& groups,
                                          std::vector<Labels>* dropped) {
  SL_ASSIGN_OR_RETURN(auto rules, relabel::CompileAll(jc.job.relabel_configs));
  std::vector<Target> out;
  for (const ms::StaticConfig& g : groups) {
    for (const std::string& addr : g.targets) {
      const TLabels base = ms::DiscoveredLabels(jc.job, addr, g.labels);
      for (const ProfileTypeConfig& type : jc.types) {
        if (!type.enabled) continue;
        tsdb::LabelsBuilder lb(base);
        lb.Set("__name__", type.name);
        lb.Set("__profile_path__", jc.path_prefix + type.path);
        lb.Set("__delta__", type.delta ? "true" : "false");
        const TLabels disc = lb.Build();
        bool keep = false;
        auto final_labels = ms::TargetLabels(jc.job, rules, disc, &keep);
        if (!final_labels.ok()) {
          log::Warn("profiles scrape: invalid target",
                    {{"job", jc.job.job_name}, {"err", final_labels.status().ToString()}});
          continue;
        }
        if (!keep || final_labels->Get("__name__").empty()) {
          if (dropped != nullptr) dropped->push_back(ToProfileLabels(disc));
          continue;
        }
        Target t;
        t.job = jc.job.job_name;
        t.tenant = jc.job.tenant;
        t.profile_name = std::string(final_labels->Get("__name__"));
        t.delta = final_labels->Get("__delta__") == "true";
        t.discovered = ToProfileLabels(disc);
        t.interval = config::ParseDuration(final_labels->Get("__scrape_interval__"))
                         .value_or(jc.job.scrape_interval);
        if (t.interval.count() <= 0) t.interval = jc.job.scrape_interval;
        t.timeout = config::ParseDuration(final_labels->Get("__scrape_timeout__"))
                        .value_or(jc.job.scrape_timeout);
        t.timeout = std::min(t.timeout, t.interval);
        tsdb::LabelsBuilder url_labels(*final_labels);
        url_labels.Set("__metrics_path__", final_labels->Get("__profile_path__"));
        ms::ScrapeConfig job_for_url = jc.job;
        if (t.profile_name == "process_cpu" && t.delta && job_for_url.params.count("seconds") == 0 &&
            final_labels->Get("__param_seconds").empty()) {
          // The CPU profile covers most of the interval, leaving time to
          // answer within the timeout.
          auto secs = std::chrono::duration_cast<std::chrono::seconds>(
              std::min(jc.delta_profiling_duration, t.timeout - std::chrono::seconds(1)));
          job_for_url.params["seconds"] = {std::to_string(std::max<int64_t>(1, secs.count()))};
        }
        t.url = ms::TargetUrl(job_for_url, url_labels.Build());
        // Stored labels: the target labels, __name__ and service_name.
        Labels stored;
        for (const auto& l : *final_labels) {
          if (l.name.rfind("__", 0) != 0) stored.emplace_back(l.name, l.value);
        }
        stored.emplace_back("__name__", t.profile_name);
        if (final_labels->Get("service_name").empty()) {
          stored.emplace_back("service_name", InferServiceName(disc));
        }
        NormalizeLabels(&stored);
        t.labels = std::move(stored);
        out.push_back(std::move(t));
      }
    }
  }
  return out;
}

// --- The scraper ---

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::vector<std::string>& CumulativeTypes() {
  static const std::vector<std::string> k = {"alloc_objects", "alloc_space", "contentions",
                                             "delay"};
  return k;
}

bool HasCumulative(const perftools::profiles::Profile& p) {
  for (const auto& st : p.sample_type()) {
    if (st.type() < 0 || st.type() >= p.string_table_size()) continue;
    const std::string& name = p.string_table(static_cast<int>(st.type()));
    for (const auto& c : CumulativeTypes()) {
      if (name == c) return true;
    }
  }
  return false;
}

// One target's loop on its own thread.
class Runner {
 public:
  Runner(Target target, PprofFetcher fetch, ProfileSink* sink, uint64_t max_bytes,
         std::chrono::milliseconds first_after)
      : fetch_(std::move(fetch)), sink_(sink), max_bytes_(max_bytes) {
    status_.job = target.job;
    status_.labels = target.labels;
    status_.url = target.url;
    target_ = std::move(target);
    if (target_.interval.count() <= 0) target_.interval = std::chrono::seconds(15);
    const int64_t interval = target_.interval.count();
    int64_t now = NowMs();
    if (first_after.count() > 0) {
      next_ = now + first_after.count();
    } else {
      // Spread targets over the interval by their labels, as Prometheus.
      uint64_t h = std::hash<std::string>{}(LabelsToString(target_.labels) + target_.url);
      next_ = now - now % interval + static_cast<int64_t>(h % static_cast<uint64_t>(interval));
      if (next_ < now) next_ += interval;
    }
    worker_.Start(std::chrono::milliseconds(std::max<int64_t>(0, next_ - now)));
  }
  ~Runner() { Stop(); }

  void Stop() { worker_.Stop(); }

  TargetStatus Snapshot() const {
    std::lock_guard<std::mutex> l(mu_);
    return status_;
  }

 private:
  // Scrapes when `next_` (wall clock) is reached and schedules the next
  // one; missed slots are skipped, not caught up.
  PeriodicWorker::Next Tick() {
    const int64_t start = NowMs();
    if (start < next_) return PeriodicWorker::Next::After(std::chrono::milliseconds(next_ - start));
    Status s = ScrapeOnce();
    {
      std::lock_guard<std::mutex> l(mu_);
      ++status_.scrapes;
      status_.last_scrape_ms = start;
      status_.health = s.ok() ? "up" : "down";
      status_.last_error = s.ok() ? "" : s.message();
      if (s.ok()) ++status_.profiles_stored;
    }
    if (!s.ok()) {
      log::Debug("profiles scrape failed", {{"url", target_.url}, {"err", s.ToString()}});
    }
    const int64_t interval = target_.interval.count();
    next_ += interval;
    const int64_t after = NowMs();
    if (next_ <= after) next_ += ((after - next_) / interval + 1) * interval;
    return PeriodicWorker::Next::After(std::chrono::milliseconds(next_ - after));
  }

  Status ScrapeOnce() {
    SL_ASSIGN_OR_RETURN(std::string body, fetch_(target_.timeout));
    perftools::profiles::Profile p;
    SL_RETURN_IF_ERROR(DecodePprof(body, max_bytes_, &p));
    if (!target_.delta && HasCumulative(p)) {
      perftools::profiles::Profile cur = p;
      if (prev_ == nullptr) {
        SubtractPrevious(&p, cur, CumulativeTypes());  // the baseline: cumulative types → 0
      } else {
        SubtractPrevious(&p, *prev_, CumulativeTypes());
      }
      prev_ = std::make_unique<perftools::profiles::Profile>(std::move(cur));
    }
    return (*sink_)(target_.tenant, target_.labels, p, body.size());
  }

  Target target_;
  PprofFetcher fetch_;
  ProfileSink* sink_;
  uint64_t max_bytes_;
  std::unique_ptr<perftools::profiles::Profile> prev_;
  int64_t next_ = 0;  // when the next scrape is due (NowMs); worker thread only
  mutable std::mutex mu_;
  TargetStatus status_;  // guarded by mu_
  // Last: it stops before what Tick() uses goes. Tick() always names its next
  // delay, so the period given here is never used.
  PeriodicWorker worker_{"profiles-scrape", std::chrono::seconds(15), [this] { return Tick(); }};
};

}  // namespace

struct PprofScraper::Impl {
  std::vector<JobConfig> jobs;
  ProfileSink sink;
  ScraperOptions options;

  mutable std::mutex mu;  // guards runners, dropped
  std::map<std::string, std::unique_ptr<Runner>> runners;  // key: job \xff url \xff labels
  std::map<std::string, std::vector<Labels>> dropped;       // by job
  std::vector<std::unique_ptr<Runner>> extra;

  std::mutex sync_mu;
  std::map<std::string, std::map<std::string, int64_t>> file_mtimes;  // by job
  std::map<std::string, std::chrono::steady_clock::time_point> last_full;
  std::atomic<bool> stopping{false};
  // Re-reads the file_sd files every file_check_interval.
  std::unique_ptr<PeriodicWorker> sync_worker;

  void Sync(bool force) {
    std::lock_guard<std::mutex> sl(sync_mu);
    const auto now = std::chrono::steady_clock::now();
    for (const JobConfig& jc : jobs) {
      const std::string& name = jc.job.job_name;
      bool changed = force;
      for (const auto& f : jc.job.file_sd_configs) {
        if (now - last_full[name] >= f.refresh_interval) changed = true;
      }
      std::map<std::string, int64_t> mtimes = ms::MatchFileSdFiles(jc.job);
      if (mtimes != file_mtimes[name]) changed = true;
      if (!changed) continue;
      file_mtimes[name] = mtimes;
      last_full[name] = now;
      std::vector<Status> errors;
      std::vector<ms::StaticConfig> groups = ms::CollectTargetGroups(jc.job, mtimes, &errors);
      for (const Status& e : errors) {
        log::Warn("profiles scrape: cannot read target file",
                  {{"job", name}, {"err", e.ToString()}});
      }
      Apply(jc, groups);
    }
  }

  void Apply(const JobConfig& jc, const std::vector<ms::StaticConfig>& groups) {
    std::vector<Labels> dropped_now;
    auto targets = ExpandTargets(jc, groups, &dropped_now);
    if (!targets.ok()) {
      log::Warn("profiles scrape: bad job",
                {{"job", jc.job.job_name}, {"err", targets.status().ToString()}});
      return;
    }
    const std::string prefix = jc.job.job_name + "\xff";
    std::map<std::string, Target> wanted;
    for (auto& t : *targets) {
      wanted.emplace(prefix + t.url + "\xff" + LabelsToString(t.labels), std::move(t));
    }
    std::vector<std::unique_ptr<Runner>> to_stop;
    {
      std::lock_guard<std::mutex> l(mu);
      for (auto it = runners.begin(); it != runners.end();) {
        if (it->first.rfind(prefix, 0) == 0 && wanted.count(it->first) == 0) {
          to_stop.push_back(std::move(it->second));
          it = runners.erase(it);
        } else {
          ++it;
        }
      }
      dropped[jc.job.job_name] = std::move(dropped_now);
      for (auto& [key, t] : wanted) {
        if (runners.count(key) != 0) continue;
        auto fetcher = std::make_shared<ms::HttpFetcher>(t.url, jc.job.body_size_limit);
        PprofFetcher fetch = [fetcher](std::chrono::milliseconds timeout) -> Result<std::string> {
          SL_ASSIGN_OR_RETURN(auto r, fetcher->Fetch(timeout));
          return std::move(r.body);
        };
        log::Info("profiles scrape: target added", {{"job", t.job}, {"url", t.url}});
        runners.emplace(key, std::make_unique<Runner>(std::move(t), std::move(fetch), &sink,
                                                      options.max_profile_bytes,
                                                      std::chrono::milliseconds(0)));
      }
    }
    for (auto& r : to_stop) r->Stop();
  }
};

PprofScraper::PprofScraper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PprofScraper::~PprofScraper() { Stop(); }

Result<std::unique_ptr<PprofScraper>> PprofScraper::Start(std::vector<JobConfig> jobs,
                                                          ProfileSink sink,
                                                          std::vector<ExtraTarget> extra,
                                                          ScraperOptions options) {
  for (const JobConfig& jc : jobs) {
    SL_RETURN_IF_ERROR(relabel::CompileAll(jc.job.relabel_configs).status());
  }
  auto impl = std::make_unique<Impl>();
  impl->jobs = std::move(jobs);
  impl->sink = std::move(sink);
  impl->options = options;
  std::unique_ptr<PprofScraper> s(new PprofScraper(std::move(impl)));
  Impl* raw = s->impl_.get();
  for (ExtraTarget& e : extra) {
    raw->extra.push_back(std::make_unique<Runner>(std::move(e.target), std::move(e.fetch),
                                                  &raw->sink, options.max_profile_bytes,
                                                  e.first_after));
  }
  raw->Sync(true);
  raw->sync_worker = std::make_unique<PeriodicWorker>(
      "profiles-sd", raw->options.file_check_interval, [raw] { raw->Sync(false); });
  raw->sync_worker->Start();
  return s;
}

void PprofScraper::Stop() {
  if (!impl_) return;
  if (impl_->stopping.exchange(true)) return;
  if (impl_->sync_worker) impl_->sync_worker->Stop();
  std::lock_guard<std::mutex> sl(impl_->sync_mu);
  std::lock_guard<std::mutex> l(impl_->mu);
  for (auto& [k, r] : impl_->runners) r->Stop();
  for (auto& r : impl_->extra) r->Stop();
}

void PprofScraper::SyncNow() { impl_->Sync(true); }

std::vector<TargetStatus> PprofScraper::Targets() const {
  std::vector<TargetStatus> out;
  std::lock_guard<std::mutex> l(impl_->mu);
  for (const auto& r : impl_->extra) out.push_back(r->Snapshot());
  for (const auto& [k, r] : impl_->runners) out.push_back(r->Snapshot());
  return out;
}

std::vector<Labels> PprofScraper::DroppedTargets() const {
  std::vector<Labels> out;
  std::lock_guard<std::mutex> l(impl_->mu);
  for (const auto& [job, d] : impl_->dropped) out.insert(out.end(), d.begin(), d.end());
  return out;
}

}  // namespace sightline::profiles::scrape
