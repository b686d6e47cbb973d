#include "metrics/scrape/scrape_loop.h"

#include <fmt/format.h>

#include <chrono>
#include <unordered_set>

#include "metrics/scrape/textparse.h"
#include "telemetry/log.h"

namespace sightline::metrics::scrape {

namespace {

constexpr std::string_view kSampleLimitExceeded = "sample limit exceeded";

bool IsPerSampleError(const Status& s) {
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kResourceExhausted;
}

// Go's %.50s: at most 50 characters (runes, not bytes).
std::string_view Trunc50(std::string_view s) {
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && ++chars > 50) return s.substr(0, i);
  }
  return s;
}

// Go's %.50q for printable text: the first 50 characters, double-quoted,
// with \ " and control characters escaped.
std::string Quote50(std::string_view s) {
  std::string out = "\"";
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80 && ++chars > 50) break;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace

Status ScrapeLoop::VerifyLabelLimits(const Labels& ls) const {
  if (options_.label_limit == 0 && options_.label_name_length_limit == 0 &&
      options_.label_value_length_limit == 0) {
    return Status::Ok();
  }
  std::string_view met = Trunc50(ls.Get("__name__"));
  if (options_.label_limit > 0 && ls.size() > options_.label_limit) {
    return InvalidArgumentError(
        fmt::format("label_limit exceeded (metric: {}, number of labels: {}, limit: {})", met,
                    ls.size(), options_.label_limit));
  }
  for (const Label& l : ls) {
    if (options_.label_name_length_limit > 0 && l.name.size() > options_.label_name_length_limit) {
      return InvalidArgumentError(fmt::format(
          "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
          met, Trunc50(l.name), l.name.size(), options_.label_name_length_limit));
    }
    if (options_.label_value_length_limit > 0 &&
        l.value.size() > options_.label_value_length_limit) {
      return InvalidArgumentError(
          fmt::format("label_value_length_limit exceeded (metric: {}, label name: {}, value: {}, "
                      "length: {}, limit: {})",
                      met, Trunc50(l.name), Quote50(l.value), l.value.size(),
                      options_.label_value_length_limit));
    }
  }
  return Status::Ok();
}

ScrapeLoop::ScrapeLoop(Appendable* db, Fetcher fetch, LoopOptions options)
    : db_(db), fetch_(std::move(fetch)), options_(std::move(options)) {}

ScrapeLoop::~ScrapeLoop() = default;

TargetState ScrapeLoop::State() const {
  std::lock_guard<std::mutex> l(state_mu_);
  return state_;
}

Labels ScrapeLoop::MutateSampleLabels(const Labels& exposed) const {
  tsdb::LabelsBuilder lb(exposed);
  if (options_.honor_labels) {
    for (const Label& l : options_.target_labels) {
      if (lb.Get(l.name).empty()) lb.Set(l.name, l.value);
    }
  } else {
    // Exposed labels that clash with target labels are kept as
    // exported_<name> (exported_exported_<name> if that is taken too).
    for (const Label& l : options_.target_labels) {
      std::string_view ev = exposed.Get(l.name);
      if (!ev.empty()) {
        std::string name = "exported_" + l.name;
        while (!exposed.Get(name).empty() || options_.target_labels.Has(name)) {
          name = "exported_" + name;
        }
        lb.Set(name, ev);
      }
    }
    for (const Label& l : options_.target_labels) lb.Set(l.name, l.value);
  }
  return lb.Build();
}

Status ScrapeLoop::AppendBody(Appender* app, const FetchResult& r, int64_t t_ms, uint64_t* scraped,
                              uint64_t* post_relabel, uint64_t* added) {
  TextParser p(r.body, FormatFromContentType(r.content_type));
  std::map<std::string, MetricMetadata> meta;
  uint64_t store_errors = 0;
  Status first_store_error;
  while (true) {
    SL_ASSIGN_OR_RETURN(bool more, p.Next());
    if (!more) break;
    switch (p.entry()) {
      case TextParser::Entry::kType:
        meta[std::string(p.meta_name())].type = std::string(p.meta_text());
        continue;
      case TextParser::Entry::kHelp:
        meta[std::string(p.meta_name())].help = std::string(p.meta_text());
        continue;
      case TextParser::Entry::kUnit:
        meta[std::string(p.meta_name())].unit = std::string(p.meta_text());
        continue;
      case TextParser::Entry::kComment:
        continue;
      case TextParser::Entry::kSeries:
        break;
    }
    ++*scraped;
    std::string_view key = p.series_text();
    auto it = cache_.find(key);
    bool miss = it == cache_.end();
    if (miss) {
      SL_ASSIGN_OR_RETURN(Labels exposed, p.SeriesLabels());
      CacheEntry e;
      e.labels = MutateSampleLabels(exposed);
      if (options_.metric_relabel && !options_.metric_relabel->empty()) {
        bool kept = false;
        e.labels = relabel::Process(*options_.metric_relabel, e.labels, &kept);
        e.dropped = !kept;
      }
      if (!e.dropped && e.labels.Get("__name__").empty()) {
        return InvalidArgumentError("__name__ label is missing");
      }
      // Checked once per series, as Prometheus does (a failed scrape does
      // not cache it, so the next scrape checks again).
      if (!e.dropped) SL_RETURN_IF_ERROR(VerifyLabelLimits(e.labels));
      it = cache_.emplace(std::string(key), std::move(e)).first;
    }
    CacheEntry& e = it->second;
    if (e.last_iter != iter_) e.prev_iter = e.last_iter;
    e.last_iter = iter_;
    if (e.dropped) continue;
    ++*post_relabel;
    if (options_.sample_limit > 0 && *post_relabel > options_.sample_limit) {
      return ResourceExhaustedError(std::string(kSampleLimitExceeded));
    }
    int64_t t = (options_.honor_timestamps && p.has_timestamp()) ? p.timestamp_ms() : t_ms;
    Result<uint64_t> ref = app->Append(e.ref, e.labels, t, p.value());
    if (!ref.ok()) {
      if (!IsPerSampleError(ref.status())) return ref.status();
      if (store_errors++ == 0) first_store_error = ref.status();
      continue;
    }
    if (e.ref == 0) ++*added;
    e.ref = *ref;
    if (p.has_exemplar()) {
      Exemplar ex = p.exemplar();
      if (!ex.has_timestamp) {
        ex.timestamp_ms = t;
        ex.has_timestamp = true;
      }
      (void)app->AppendExemplar(e.ref, e.labels, ex);
    }
  }
  if (store_errors > 0) {
    log::Debug("scrape: samples refused by the store",
               {{"count", std::to_string(store_errors)}, {"first", first_store_error.ToString()}});
  }
  for (auto& [name, m] : meta) {
    if (m.type.empty()) m.type = "unknown";
    auto old = metadata_.find(name);
    if (old != metadata_.end() && old->second.type == m.type && old->second.help == m.help &&
        old->second.unit == m.unit) {
      continue;
    }
    if (app->UpdateMetadata(name, m).ok()) metadata_[name] = m;
  }
  return Status::Ok();
}

void ScrapeLoop::MarkStale(Appender* app, uint64_t seen_iter, int64_t t_ms) {
  if (seen_iter == 0) return;
  for (auto it = cache_.begin(); it != cache_.end();) {
    CacheEntry& e = it->second;
    if (!e.dropped && e.last_iter == seen_iter) {
      Result<uint64_t> r = app->Append(e.ref, e.labels, t_ms, StaleNaN());
      if (r.ok()) e.ref = *r;
    }
    ++it;
  }
}

void ScrapeLoop::StaleAdopted(Appender* app, int64_t t_ms, bool all) {
  if (adopted_.empty()) return;
  std::unordered_set<std::string> stored;
  if (!all) {
    for (const auto& [key, e] : cache_) {
      if (!e.dropped && e.last_iter == iter_) stored.insert(e.labels.ToString());
    }
  }
  for (auto& [labels, ref] : adopted_) {
    if (!all && stored.count(labels.ToString()) != 0) continue;
    (void)app->Append(ref, labels, t_ms, StaleNaN());
  }
  adopted_.clear();
}

LoopHandover ScrapeLoop::TakeHandover() {
  LoopHandover h;
  if (last_ok_iter_ != 0) {
    for (const auto& [key, e] : cache_) {
      if (!e.dropped && e.last_iter == last_ok_iter_) h.live.emplace_back(e.labels, e.ref);
    }
  }
  for (auto& a : adopted_) h.live.push_back(std::move(a));  // never scraped since
  adopted_.clear();
  h.report_refs = std::move(report_refs_);
  h.metadata = std::move(metadata_);
  h.reported = reported_;
  last_ok_iter_ = 0;
  reported_ = false;
  report_refs_.clear();
  metadata_.clear();
  return h;
}

void ScrapeLoop::Adopt(LoopHandover h) {
  adopted_ = std::move(h.live);
  report_refs_ = std::move(h.report_refs);
  metadata_ = std::move(h.metadata);
  reported_ = h.reported;
}

Status ScrapeLoop::ScrapeOnce(int64_t t_ms) {
  ++iter_;
  auto start = std::chrono::steady_clock::now();
  std::string forced = options_.forced_error ? options_.forced_error->Get() : std::string();
  Result<FetchResult> fetched =
      forced.empty() ? fetch_(options_.timeout) : Result<FetchResult>(UnavailableError(forced));
  uint64_t scraped = 0, post_relabel = 0, added = 0;
  Status err;
  if (!fetched.ok()) {
    err = fetched.status();
  } else {
    std::unique_ptr<Appender> app = db_->NewAppender(options_.tenant);
    err = AppendBody(app.get(), *fetched, t_ms, &scraped, &post_relabel, &added);
    if (err.ok()) {
      // Series of the previous scrape not exposed now.
      for (auto& [key, e] : cache_) {
        if (!e.dropped && e.last_iter == last_ok_iter_ && last_ok_iter_ != 0) {
          Result<uint64_t> r = app->Append(e.ref, e.labels, t_ms, StaleNaN());
          if (r.ok()) e.ref = *r;
        }
      }
      StaleAdopted(app.get(), t_ms, /*all=*/false);
      err = app->Commit();
    } else {
      app->Rollback();
    }
    if (!err.ok()) {
      // The samples of this scrape that were marked seen are not stored.
      for (auto& [key, e] : cache_) {
        if (e.last_iter == iter_) e.last_iter = e.prev_iter;
      }
    }
  }
  if (!err.ok()) {
    std::unique_ptr<Appender> app = db_->NewAppender(options_.tenant);
    MarkStale(app.get(), last_ok_iter_, t_ms);
    StaleAdopted(app.get(), t_ms, /*all=*/true);
    Status c = app->Commit();
    if (!c.ok()) log::Warn("scrape: storing staleness markers failed", {{"err", c.ToString()}});
    last_ok_iter_ = 0;
  } else {
    last_ok_iter_ = iter_;
    // Prune entries unseen for a few scrapes.
    for (auto it = cache_.begin(); it != cache_.end();) {
      // A series that comes back is looked up (and relabeled) again.
      if (it->second.last_iter + 3 < iter_) {
        it = cache_.erase(it);
      } else {
        ++it;
      }
    }
  }
  double duration = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Report(t_ms, duration, err.ok(), scraped, post_relabel, added, /*stale=*/false);
  {
    std::lock_guard<std::mutex> l(state_mu_);
    state_.health = err.ok() ? "up" : "down";
    state_.last_error = err.ok() ? "" : err.message();
    state_.last_scrape_ms = t_ms;
    state_.last_duration_s = duration;
    state_.last_samples = scraped;
  }
  return err;
}

void ScrapeLoop::Report(int64_t t_ms, double duration_s, bool up, uint64_t scraped,
                        uint64_t post_relabel, uint64_t added, bool stale) {
  std::unique_ptr<Appender> app = db_->NewAppender(options_.tenant);
  auto add = [&](const char* name, double v) {
    tsdb::LabelsBuilder lb(options_.target_labels);
    lb.Set("__name__", name);
    uint64_t& ref = report_refs_[name];
    Result<uint64_t> r = app->Append(ref, lb.Build(), t_ms, stale ? StaleNaN() : v);
    if (r.ok()) ref = *r;
  };
  add("up", up ? 1 : 0);
  add("scrape_duration_seconds", duration_s);
  add("scrape_samples_scraped", static_cast<double>(scraped));
  add("scrape_samples_post_metric_relabeling", static_cast<double>(post_relabel));
  add("scrape_series_added", static_cast<double>(added));
  Status c = app->Commit();
  if (!c.ok()) log::Warn("scrape: storing the report failed", {{"err", c.ToString()}});
  reported_ = true;
}

void ScrapeLoop::EndOfRun(int64_t t_ms) {
  std::unique_ptr<Appender> app = db_->NewAppender(options_.tenant);
  MarkStale(app.get(), last_ok_iter_, t_ms);
  StaleAdopted(app.get(), t_ms, /*all=*/true);
  Status c = app->Commit();
  if (!c.ok()) log::Warn("scrape: storing staleness markers failed", {{"err", c.ToString()}});
  last_ok_iter_ = 0;
  if (reported_) Report(t_ms, 0, false, 0, 0, 0, /*stale=*/true);
}

}  // namespace sightline::metrics::scrape
