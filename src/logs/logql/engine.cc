// LogQL evaluation: log queries (streams) and metric queries (range and
// vector aggregations, binary operations, label_replace, vector()).
#include "logs/logql/engine.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "logs/logql/ast.h"
#include "logs/logql/stages.h"
#include "metrics/promql/go_text.h"

namespace sightline::logs::logql {

std::string_view ResultTypeString(ResultType t) {
  switch (t) {
    case ResultType::kStreams: return "streams";
    case ResultType::kVector: return "vector";
    case ResultType::kMatrix: return "matrix";
    case ResultType::kScalar: return "scalar";
  }
  return "";
}

namespace {

struct LabelsHash {
  size_t operator()(const Labels& l) const { return static_cast<size_t>(l.Hash()); }
};

// Runs a selector's pipeline over entries.
class PipelineRunner {
 public:
  // `need_labels`: the caller reads labels (unwrap) even when every stage
  // is a line filter.
  explicit PipelineRunner(const std::vector<StagePtr>* stages, bool need_labels = false)
      : stages_(stages), labels_needed_(need_labels) {
    for (const auto& s : *stages) {
      if (!s->IsLineFilter()) labels_needed_ = true;
    }
  }

  // Returns false when the entry is dropped. On true, line() and lbs() hold
  // the result. Pipelines of line filters only test the entry's line in
  // place (no copy, no label state) unless the entry has structured
  // metadata.
  bool Run(const Labels& stream, const Entry& e) {
    if (!labels_needed_) {
      for (const auto& s : *stages_) {
        if (!s->Test(e.line)) return false;
      }
      line_view_ = e.line;
      if (e.structured_metadata.empty()) {
        lbs_.Reset(empty_, empty_);
      } else {
        lbs_.Reset(stream, e.structured_metadata);
      }
      return true;
    }
    line_.assign(e.line);
    lbs_.Reset(stream, e.structured_metadata);
    for (const auto& s : *stages_) {
      if (!s->Process(e.timestamp_ns, &line_, &lbs_)) return false;
    }
    line_view_ = line_;
    return true;
  }
  // Extra stages (unwrap post filters) on the current entry.
  bool RunMore(const std::vector<StagePtr>& stages, int64_t ts) {
    if (line_view_.data() != line_.data()) line_.assign(line_view_);
    line_view_ = line_;
    for (const auto& s : stages) {
      if (!s->Process(ts, &line_, &lbs_)) return false;
    }
    return true;
  }

  std::string_view line() const { return line_view_; }
  LabelsState& lbs() { return lbs_; }
  bool labels_needed() const { return labels_needed_; }

 private:
  const std::vector<StagePtr>* stages_;
  bool labels_needed_ = false;
  std::string line_;
  std::string_view line_view_;
  LabelsState lbs_;
  Labels empty_;
};

void CollectLiterals(const LogSelectorExpr& sel, SelectLogsParams* sp) {
  for (const auto& s : sel.stages) {
    if (!s->IsLineFilter()) break;  // a later line_format may rewrite the line
    s->RequiredLiterals(&sp->line_contains);
    if (auto m = s->RequiredMatcher()) sp->line_filters.push_back(std::move(m));
  }
  // `|= "<32 hex digits>"` (Grafana's trace-to-logs query): the store's
  // trace-id index can narrow the chunks.
  for (const auto& l : sp->line_contains) {
    if (l.size() == 32 && std::all_of(l.begin(), l.end(), [](char c) {
          return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        })) {
      sp->line_trace_id = l;
      break;
    }
  }
  // `| trace_id="<32 hex digits>"` before any line_format/label_format: the
  // value came from structured metadata, the stream's labels or a parser
  // reading the line, all of which the store's trace index (or its stream
  // check) covers.
  for (const auto& s : sel.stages) {
    if (s->Synthesizes()) break;
    auto v = s->RequiredLabelValue("trace_id");
    if (!v) continue;
    if (v->size() == 32 && std::all_of(v->begin(), v->end(), [](char c) {
          return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        })) {
      sp->label_trace_id = *v;
    }
    break;
  }
}

// ------------------------------------------------------------- values --

struct StepSeries {
  Labels metric;
  std::vector<double> v;
  std::vector<uint8_t> has;
};

struct Value {
  bool scalar = false;
  std::vector<double> s;  // scalar: one per step
  std::vector<StepSeries> series;
};

class Evaluator {
 public:
  Evaluator(const EngineOptions& opts, LogQuerier& q, const QueryParams& p, QueryStats* stats)
      : opts_(opts), q_(q), p_(p), stats_(stats) {
    instant_ = p.step_ns == 0;
    start_ = instant_ ? p.end_ns : p.start_ns;
    end_ = p.end_ns;
    step_ = instant_ ? 1 : p.step_ns;
    n_ = static_cast<size_t>((end_ - start_) / step_) + 1;
    deadline_ = std::chrono::steady_clock::now() + opts.timeout;
  }

  int64_t Ts(size_t i) const { return start_ + static_cast<int64_t>(i) * step_; }
  size_t steps() const { return n_; }
  std::vector<std::string>& warnings() { return warnings_; }

  Status Interrupted() {
    if (++poll_ % 1024 != 0) return Status::Ok();
    if (p_.cancel != nullptr && p_.cancel->load()) {
      return Status(StatusCode::kCancelled, "the query was canceled");
    }
    if (std::chrono::steady_clock::now() > deadline_) {
      return Status(StatusCode::kDeadlineExceeded, "context deadline exceeded");
    }
    return Status::Ok();
  }

  Result<Value> Eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: {
        Value v;
        v.scalar = true;
        v.s.assign(n_, e.value);
        return v;
      }
      case Expr::Kind::kVector: {
        Value v;
        StepSeries s;
        s.v.assign(n_, e.value);
        s.has.assign(n_, 1);
        v.series.push_back(std::move(s));
        return v;
      }
      case Expr::Kind::kRangeAgg:
        return EvalRange(e);
      case Expr::Kind::kVectorAgg:
        return EvalVectorAgg(e);
      case Expr::Kind::kBinary:
        return EvalBinary(e);
      case Expr::Kind::kLabelReplace:
        return EvalLabelReplace(e);
      case Expr::Kind::kLog:
        return InvalidArgumentError("a log query cannot be evaluated as a metric query");
    }
    return InternalError("unknown expression");
  }

 private:
  // ------------------------------------------------ range aggregation --

  struct Pt {
    int64_t t;
    double v;
  };

  Result<Value> EvalRange(const Expr& e) {
    const LogRangeExpr& r = *e.range;
    const std::string& op = e.op;
    SelectLogsParams sp;
    sp.matchers = r.selector.matchers;
    sp.start_ns = start_ - r.offset_ns - r.range_ns + 1;
    sp.end_ns = end_ - r.offset_ns + 1;
    sp.direction = Direction::kForward;
    CollectLiterals(r.selector, &sp);
    auto its = q_.SelectLogs(sp);
    if (!its.ok()) return its.status();

    PipelineRunner run(&r.selector.stages, r.unwrap.has_value());
    std::unordered_map<Labels, size_t, LabelsHash> index;
    struct Collected {
      Labels metric;       // after grouping
      Labels error_labels; // full labels when an error label is present
      bool error = false;
      std::vector<Pt> pts;
    };
    std::vector<Collected> series;
    bool any_entry = false;
    std::vector<int64_t> all_ts;  // absent_over_time
    const bool absent = op == "absent_over_time";
    const bool bytes = op == "bytes_over_time" || op == "bytes_rate";

    for (auto& it : *its) {
      const Labels& stream = it->labels();
      ++stats_->streams_selected;
      // Entries that keep the stream's labels all go to one series.
      size_t cached_series = SIZE_MAX;
      while (it->Next()) {
        if (Status s = Interrupted(); !s.ok()) return s;
        const Entry& en = it->entry();
        ++stats_->lines_processed;
        stats_->bytes_processed += static_cast<int64_t>(en.line.size());
        for (const auto& l : en.structured_metadata) {
          stats_->bytes_processed += static_cast<int64_t>(l.name.size() + l.value.size());
        }
        if (!run.Run(stream, en)) continue;
        double v = 1;
        if (bytes) v = static_cast<double>(run.line().size());
        if (r.unwrap) {
          auto lv = run.lbs().Get(r.unwrap->label);
          if (!lv) continue;
          std::string sval(*lv);
          if (!run.lbs().HasErr()) {
            Result<double> conv = 0.0;
            switch (r.unwrap->conv) {
              case UnwrapConv::kNone:
                conv = ParseGoFloat(Trim(sval));
                break;
              case UnwrapConv::kBytes: {
                auto b = ParseHumanBytes(sval);
                if (b.ok()) conv = static_cast<double>(*b);
                else conv = b.status();
                break;
              }
              case UnwrapConv::kDuration:
              case UnwrapConv::kDurationSeconds: {
                auto d = ParseGoDuration(sval);
                if (d.ok()) conv = static_cast<double>(*d) / 1e9;
                else conv = d.status();
                break;
              }
            }
            if (conv.ok()) {
              v = *conv;
            } else {
              v = 0;
              run.lbs().SetErr("SampleExtractionErr");
              run.lbs().SetErrDetails(conv.status().message());
            }
          }
          if (!run.RunMore(r.unwrap->post_filters, en.timestamp_ns)) continue;
          run.lbs().Del(r.unwrap->label);
        }
        ++stats_->post_filter_lines;
        any_entry = true;
        if (absent) {
          all_ts.push_back(en.timestamp_ns);
          continue;
        }
        const bool plain = !run.labels_needed() && en.structured_metadata.empty();
        if (plain && cached_series != SIZE_MAX) {
          series[cached_series].pts.push_back({en.timestamp_ns, v});
          continue;
        }
        Labels full = plain ? stream : run.lbs().Build();
        bool err = run.lbs().HasErr();
        Labels key = e.grouping ? Group(full, *e.grouping) : full;
        auto [pos, inserted] = index.try_emplace(key, series.size());
        if (inserted) {
          series.push_back({key, {}, false, {}});
        }
        Collected& c = series[pos->second];
        if (plain) cached_series = pos->second;
        if (err && !c.error) {
          c.error = true;
          c.error_labels = full;
        }
        c.pts.push_back({en.timestamp_ns, v});
      }
      if (Status s = it->status(); !s.ok()) return s;
    }
    (void)any_entry;

    Value out;
    if (absent) {
      std::sort(all_ts.begin(), all_ts.end());
      StepSeries s;
      s.metric = AbsentLabels(r.selector.matchers);
      s.v.assign(n_, 1);
      s.has.assign(n_, 0);
      bool anyp = false;
      for (size_t i = 0; i < n_; ++i) {
        int64_t hi = Ts(i) - r.offset_ns, lo = hi - r.range_ns;
        auto b = std::upper_bound(all_ts.begin(), all_ts.end(), lo);
        bool present = b != all_ts.end() && *b <= hi;
        if (!present) {
          s.has[i] = 1;
          anyp = true;
        }
      }
      if (anyp) out.series.push_back(std::move(s));
      return out;
    }

    const double range_s = static_cast<double>(r.range_ns) / 1e9;
    std::vector<double> buf;
    for (auto& c : series) {
      std::stable_sort(c.pts.begin(), c.pts.end(), [](const Pt& a, const Pt& b) { return a.t < b.t; });
      StepSeries s;
      s.metric = c.metric;
      s.v.assign(n_, 0);
      s.has.assign(n_, 0);
      bool anyp = false;
      size_t lo_i = 0, hi_i = 0;
      for (size_t i = 0; i < n_; ++i) {
        int64_t hi = Ts(i) - r.offset_ns, lo = hi - r.range_ns;
        while (lo_i < c.pts.size() && c.pts[lo_i].t <= lo) ++lo_i;
        if (hi_i < lo_i) hi_i = lo_i;
        while (hi_i < c.pts.size() && c.pts[hi_i].t <= hi) ++hi_i;
        if (hi_i == lo_i) continue;
        if (c.error) return PipelineError(c.error_labels);
        const Pt* b = c.pts.data() + lo_i;
        size_t n = hi_i - lo_i;
        double val = 0;
        if (op == "count_over_time") {
          val = static_cast<double>(n);
        } else if (op == "rate") {
          if (r.unwrap) {
            double sum = 0;
            for (size_t k = 0; k < n; ++k) sum += b[k].v;
            val = sum / range_s;
          } else {
            val = static_cast<double>(n) / range_s;
          }
        } else if (op == "bytes_over_time" || op == "sum_over_time") {
          for (size_t k = 0; k < n; ++k) val += b[k].v;
        } else if (op == "bytes_rate") {
          for (size_t k = 0; k < n; ++k) val += b[k].v;
          val /= range_s;
        } else if (op == "avg_over_time") {
          double mean = 0, count = 0;
          for (size_t k = 0; k < n; ++k) {
            count++;
            if (std::isinf(mean)) {
              if (std::isinf(b[k].v) && (mean > 0) == (b[k].v > 0)) continue;
              if (!std::isinf(b[k].v) && !std::isnan(b[k].v)) continue;
            }
            mean += b[k].v / count - mean / count;
          }
          val = mean;
        } else if (op == "min_over_time") {
          val = b[0].v;
          for (size_t k = 1; k < n; ++k) {
            if (b[k].v < val || std::isnan(val)) val = b[k].v;
          }
        } else if (op == "max_over_time") {
          val = b[0].v;
          for (size_t k = 1; k < n; ++k) {
            if (b[k].v > val || std::isnan(val)) val = b[k].v;
          }
        } else if (op == "stdvar_over_time" || op == "stddev_over_time") {
          double aux = 0, count = 0, mean = 0;
          for (size_t k = 0; k < n; ++k) {
            count++;
            double delta = b[k].v - mean;
            mean += delta / count;
            aux += delta * (b[k].v - mean);
          }
          val = aux / count;
          if (op == "stddev_over_time") val = std::sqrt(val);
        } else if (op == "quantile_over_time") {
          buf.clear();
          for (size_t k = 0; k < n; ++k) buf.push_back(b[k].v);
          val = Quantile(*e.param, &buf);
        } else if (op == "first_over_time") {
          val = b[0].v;
        } else if (op == "last_over_time") {
          val = b[n - 1].v;
        } else if (op == "rate_counter") {
          val = ExtrapolatedRate(b, n, lo, hi, range_s);
        } else {
          return UnimplementedError("unsupported range aggregation " + op);
        }
        s.v[i] = val;
        s.has[i] = 1;
        anyp = true;
      }
      if (anyp) out.series.push_back(std::move(s));
    }
    return out;
  }

  static std::string Trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
  }

  Status MaxSeriesError() const {
    return ResourceExhaustedError(fmt::format(
        "maximum number of series ({}) reached for a single query; consider reducing query "
        "cardinality by adding more filters to the log stream selector",
        opts_.max_series));
  }

  static Status PipelineError(const Labels& l) {
    std::string err(l.Get(kErrorLabel));
    return FailedPreconditionError(fmt::format(
        "pipeline error: '{}' for series: '{}'.\nUse a label filter to intentionally skip this "
        "error. (e.g | __error__!=\"{}\").\nTo skip all potential errors you can match empty "
        "errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g "
        "| unwrap latency | __error__=\"\" )\n",
        err, l.ToString(), err));
  }

  static double Quantile(double q, std::vector<double>* values) {
    if (values->empty()) return std::nan("");
    if (q < 0) return -HUGE_VAL;
    if (q > 1) return HUGE_VAL;
    std::sort(values->begin(), values->end());
    double n = static_cast<double>(values->size());
    double rank = q * (n - 1);
    double lower = std::max(0.0, std::floor(rank));
    double upper = std::min(n - 1, lower + 1);
    double weight = rank - std::floor(rank);
    return (*values)[static_cast<size_t>(lower)] * (1 - weight) +
           (*values)[static_cast<size_t>(upper)] * weight;
  }

  // Prometheus's extrapolatedRate for counters (isCounter, isRate).
  static double ExtrapolatedRate(const Pt* s, size_t n, int64_t range_start, int64_t range_end,
                                 double range_s) {
    if (n < 2) return 0;
    double result = s[n - 1].v - s[0].v;
    double last = 0;
    for (size_t k = 0; k < n; ++k) {
      if (s[k].v < last) result += last;
      last = s[k].v;
    }
    double to_start = static_cast<double>(s[0].t - range_start) / 1e9;
    double to_end = static_cast<double>(range_end - s[n - 1].t) / 1e9;
    double sampled = static_cast<double>(s[n - 1].t - s[0].t) / 1e9;
    double avg = sampled / static_cast<double>(n - 1);
    double threshold = avg * 1.1;
    // Prometheus 3.x order: the threshold cap first, then the zero point.
    if (to_start >= threshold) to_start = avg / 2;
    if (result > 0 && s[0].v >= 0) {
      double to_zero = sampled * (s[0].v / result);
      if (to_zero < to_start) to_start = to_zero;
    }
    if (to_end >= threshold) to_end = avg / 2;
    double interval = sampled + to_start + to_end;
    result = result * (interval / sampled);
    return result / range_s;
  }

  static Labels AbsentLabels(const std::vector<Matcher>& ms) {
    std::vector<tsdb::Label> v;
    std::unordered_map<std::string, int> seen;
    for (const auto& m : ms) {
      if (m.type() == promql::MatchType::kEqual) {
        if (seen[m.name()]++ == 0) v.push_back({m.name(), m.value()});
      } else {
        seen[m.name()] = 2;
      }
    }
    std::vector<tsdb::Label> out;
    for (auto& l : v) {
      if (seen[l.name] == 1) out.push_back(std::move(l));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return Labels::FromSortedUnchecked(std::move(out));
  }

  static Labels Group(const Labels& l, const Grouping& g) {
    std::vector<tsdb::Label> v;
    for (const auto& x : l) {
      bool listed = std::find(g.labels.begin(), g.labels.end(), x.name) != g.labels.end();
      if (listed != g.without) v.push_back(x);
    }
    return Labels::FromSortedUnchecked(std::move(v));
  }

  // ----------------------------------------------- vector aggregation --

  Result<Value> EvalVectorAgg(const Expr& e) {
    auto inner = Eval(*e.lhs);
    if (!inner.ok()) return inner.status();
    Value in = std::move(*inner);
    if (in.scalar) return InvalidArgumentError("vector aggregation of a scalar");
    const std::string& op = e.op;
    if (op == "approx_topk" && !instant_) {
      return InvalidArgumentError("approx_topk is only supported on instant queries");
    }
    if (op == "sort" || op == "sort_desc") {
      sort_op_ = op;
      return in;
    }
    if (op == "topk" || op == "bottomk" || op == "approx_topk") {
      size_t k = static_cast<size_t>(*e.param);
      bool top = op != "bottomk";
      // Groups by grouping labels; per step keep the k best.
      std::unordered_map<Labels, std::vector<size_t>, LabelsHash> groups;
      std::vector<Labels> order;
      for (size_t i = 0; i < in.series.size(); ++i) {
        Labels g = e.grouping ? Group(in.series[i].metric, *e.grouping) : Labels();
        auto [it, ins] = groups.try_emplace(g);
        if (ins) order.push_back(g);
        it->second.push_back(i);
      }
      std::vector<uint8_t> keep_any(in.series.size(), 0);
      std::vector<std::vector<uint8_t>> keep(in.series.size(), std::vector<uint8_t>(n_, 0));
      std::vector<size_t> cand;
      for (const auto& g : order) {
        const auto& members = groups[g];
        for (size_t st = 0; st < n_; ++st) {
          cand.clear();
          for (size_t m : members) {
            if (in.series[m].has[st]) cand.push_back(m);
          }
          auto better = [&](size_t a, size_t b) {
            double x = in.series[a].v[st], y = in.series[b].v[st];
            if (std::isnan(x)) return false;
            if (std::isnan(y)) return true;
            return top ? x > y : x < y;
          };
          std::stable_sort(cand.begin(), cand.end(), better);
          for (size_t j = 0; j < cand.size() && j < k; ++j) {
            keep[cand[j]][st] = 1;
            keep_any[cand[j]] = 1;
          }
        }
      }
      Value out;
      for (size_t i = 0; i < in.series.size(); ++i) {
        if (!keep_any[i]) continue;
        StepSeries s = std::move(in.series[i]);
        for (size_t st = 0; st < n_; ++st) s.has[st] = s.has[st] && keep[i][st];
        out.series.push_back(std::move(s));
      }
      if (instant_ && out.series.size() > 1) {
        // Instant results come out ordered by value (Loki's heap order).
        std::stable_sort(out.series.begin(), out.series.end(), [&](const StepSeries& a, const StepSeries& b) {
          return top ? a.v[0] > b.v[0] : a.v[0] < b.v[0];
        });
        ordered_ = true;
      }
      return out;
    }
    struct Acc {
      double sum = 0, count = 0, mean = 0, aux = 0, max = 0, min = 0;
      bool has = false;
    };
    std::unordered_map<Labels, size_t, LabelsHash> idx;
    std::vector<Labels> keys;
    std::vector<std::vector<Acc>> accs;
    for (const auto& s : in.series) {
      Labels g = e.grouping ? Group(s.metric, *e.grouping) : Labels();
      auto [it, ins] = idx.try_emplace(g, keys.size());
      if (ins) {
        keys.push_back(g);
        accs.emplace_back(n_);
      }
      auto& a = accs[it->second];
      for (size_t st = 0; st < n_; ++st) {
        if (!s.has[st]) continue;
        double v = s.v[st];
        Acc& x = a[st];
        if (!x.has) {
          x.has = true;
          x.max = v;
          x.min = v;
        } else {
          if (v > x.max || std::isnan(x.max)) x.max = v;
          if (v < x.min || std::isnan(x.min)) x.min = v;
        }
        x.sum += v;
        x.count += 1;
        double delta = v - x.mean;
        x.mean += delta / x.count;
        x.aux += delta * (v - x.mean);
      }
    }
    Value out;
    for (size_t gi = 0; gi < keys.size(); ++gi) {
      StepSeries s;
      s.metric = keys[gi];
      s.v.assign(n_, 0);
      s.has.assign(n_, 0);
      for (size_t st = 0; st < n_; ++st) {
        const Acc& x = accs[gi][st];
        if (!x.has) continue;
        s.has[st] = 1;
        if (op == "sum") s.v[st] = x.sum;
        else if (op == "avg") s.v[st] = x.mean;
        else if (op == "count") s.v[st] = x.count;
        else if (op == "max") s.v[st] = x.max;
        else if (op == "min") s.v[st] = x.min;
        else if (op == "stdvar") s.v[st] = x.aux / x.count;
        else if (op == "stddev") s.v[st] = std::sqrt(x.aux / x.count);
      }
      out.series.push_back(std::move(s));
    }
    return out;
  }

  // ---------------------------------------------------------- binary --

  static bool IsCmp(const std::string& op) {
    return op == "==" || op == "!=" || op == ">" || op == ">=" || op == "<" || op == "<=";
  }

  static bool Arith(const std::string& op, double l, double r, double* out) {
    if (op == "+") *out = l + r;
    else if (op == "-") *out = l - r;
    else if (op == "*") *out = l * r;
    else if (op == "/") *out = r == 0 ? std::nan("") : l / r;
    else if (op == "%") *out = r == 0 ? std::nan("") : std::fmod(l, r);
    else if (op == "^") *out = std::pow(l, r);
    else if (op == "==") return l == r;
    else if (op == "!=") return l != r;
    else if (op == ">") return l > r;
    else if (op == ">=") return l >= r;
    else if (op == "<") return l < r;
    else if (op == "<=") return l <= r;
    return true;
  }

  // Result of `l op r` for one pair: whether a sample is produced, and its
  // value. `vector_value` is the value a filtering comparison keeps.
  static bool Elem(const std::string& op, bool ret_bool, double l, double r, double vector_value,
                   double* out) {
    if (IsCmp(op)) {
      bool t = Arith(op, l, r, out);
      if (ret_bool) {
        *out = t ? 1 : 0;
        return true;
      }
      *out = vector_value;
      return t;
    }
    Arith(op, l, r, out);
    return true;
  }

  Labels Signature(const Labels& l, const VectorMatching& m) const {
    if (!m.has_matching) return l;
    std::vector<tsdb::Label> v;
    for (const auto& x : l) {
      bool listed = std::find(m.labels.begin(), m.labels.end(), x.name) != m.labels.end();
      if (listed == m.on) v.push_back(x);
    }
    return Labels::FromSortedUnchecked(std::move(v));
  }

  Result<Value> EvalBinary(const Expr& e) {
    auto lr = Eval(*e.lhs);
    if (!lr.ok()) return lr.status();
    auto rr = Eval(*e.rhs);
    if (!rr.ok()) return rr.status();
    Value& l = *lr;
    Value& r = *rr;
    const std::string& op = e.op;
    Value out;
    if (l.scalar && r.scalar) {
      out.scalar = true;
      out.s.resize(n_);
      for (size_t i = 0; i < n_; ++i) {
        double v;
        bool keep = Elem(op, true, l.s[i], r.s[i], l.s[i], &v);
        out.s[i] = keep ? v : 0;
      }
      return out;
    }
    if (l.scalar || r.scalar) {
      bool swap = l.scalar;
      Value& vec = swap ? r : l;
      Value& sc = swap ? l : r;
      for (auto& s : vec.series) {
        StepSeries o;
        o.metric = s.metric;
        o.v.assign(n_, 0);
        o.has.assign(n_, 0);
        bool any = false;
        for (size_t i = 0; i < n_; ++i) {
          if (!s.has[i]) continue;
          double lv = swap ? sc.s[i] : s.v[i];
          double rv = swap ? s.v[i] : sc.s[i];
          double v;
          if (Elem(op, e.return_bool, lv, rv, s.v[i], &v)) {
            o.v[i] = v;
            o.has[i] = 1;
            any = true;
          }
        }
        if (any) out.series.push_back(std::move(o));
      }
      return out;
    }
    const VectorMatching& m = e.matching;
    if (op == "and" || op == "or" || op == "unless") {
      std::unordered_map<Labels, std::vector<uint8_t>, LabelsHash> rsig;
      for (const auto& s : r.series) {
        auto& h = rsig[Signature(s.metric, m)];
        if (h.empty()) h.assign(n_, 0);
        for (size_t i = 0; i < n_; ++i) h[i] |= s.has[i];
      }
      std::unordered_map<Labels, std::vector<uint8_t>, LabelsHash> lsig;
      for (auto& s : l.series) {
        Labels sig = Signature(s.metric, m);
        auto& lh = lsig[sig];
        if (lh.empty()) lh.assign(n_, 0);
        for (size_t i = 0; i < n_; ++i) lh[i] |= s.has[i];
        auto it = rsig.find(sig);
        StepSeries o = s;
        bool any = false;
        for (size_t i = 0; i < n_; ++i) {
          bool in_r = it != rsig.end() && it->second[i];
          if (op == "and") o.has[i] = o.has[i] && in_r;
          else if (op == "unless") o.has[i] = o.has[i] && !in_r;
          any |= o.has[i] != 0;
        }
        if (any) out.series.push_back(std::move(o));
      }
      if (op == "or") {
        std::unordered_map<Labels, size_t, LabelsHash> out_idx;
        for (size_t k = 0; k < out.series.size(); ++k) out_idx.emplace(out.series[k].metric, k);
        for (auto& s : r.series) {
          auto it = lsig.find(Signature(s.metric, m));
          StepSeries o = s;
          bool any = false;
          for (size_t i = 0; i < n_; ++i) {
            bool in_l = it != lsig.end() && it->second[i];
            o.has[i] = o.has[i] && !in_l;
            any |= o.has[i] != 0;
          }
          if (!any) continue;
          // Same labels as a left-hand series: fill its missing steps.
          auto same = out_idx.find(o.metric);
          if (same != out_idx.end()) {
            StepSeries& t = out.series[same->second];
            bool clash = false;
            for (size_t i = 0; i < n_; ++i) clash |= t.has[i] && o.has[i];
            if (!clash) {
              for (size_t i = 0; i < n_; ++i) {
                if (o.has[i]) {
                  t.has[i] = 1;
                  t.v[i] = o.v[i];
                }
              }
              continue;
            }
          }
          out.series.push_back(std::move(o));
        }
      }
      return out;
    }
    // Arithmetic / comparison with vector matching, per step.
    bool many_to_one = m.card == VectorMatching::Card::kManyToOne;
    bool one_to_many = m.card == VectorMatching::Card::kOneToMany;
    Value* many = one_to_many ? &r : &l;
    Value* one = one_to_many ? &l : &r;
    std::vector<Labels> one_sig(one->series.size()), many_sig(many->series.size());
    for (size_t i = 0; i < one->series.size(); ++i) one_sig[i] = Signature(one->series[i].metric, m);
    for (size_t i = 0; i < many->series.size(); ++i) many_sig[i] = Signature(many->series[i].metric, m);
    std::unordered_map<Labels, size_t, LabelsHash> out_idx;
    for (size_t st = 0; st < n_; ++st) {
      std::unordered_map<Labels, size_t, LabelsHash> one_at;
      for (size_t i = 0; i < one->series.size(); ++i) {
        if (!one->series[i].has[st]) continue;
        auto [it, ins] = one_at.try_emplace(one_sig[i], i);
        if (!ins) {
          return FailedPreconditionError(fmt::format(
              "found duplicate series on the {} hand-side of the operation: [{}, {}];many-to-many "
              "matching not allowed: matching labels must be unique on one side",
              one_to_many ? "left" : "right", one->series[it->second].metric.ToString(),
              one->series[i].metric.ToString()));
        }
      }
      std::unordered_map<Labels, size_t, LabelsHash> matched_once;  // one-to-one: sig -> many idx
      std::unordered_set<Labels, LabelsHash> produced;
      for (size_t i = 0; i < many->series.size(); ++i) {
        const StepSeries& ms = many->series[i];
        if (!ms.has[st]) continue;
        auto it = one_at.find(many_sig[i]);
        if (it == one_at.end()) continue;
        const StepSeries& os = one->series[it->second];
        if (m.card == VectorMatching::Card::kOneToOne) {
          auto [mi, ins] = matched_once.try_emplace(many_sig[i], i);
          if (!ins) {
            return FailedPreconditionError(
                "multiple matches for labels: many-to-one matching must be explicit "
                "(group_left/group_right)");
          }
        }
        const StepSeries& ls = one_to_many ? os : ms;
        const StepSeries& rs = one_to_many ? ms : os;
        double v;
        if (!Elem(op, e.return_bool, ls.v[st], rs.v[st], ls.v[st], &v)) continue;
        Labels metric = ResultMetric(ls.metric, rs.metric, m, one_to_many);
        if (many_to_one || one_to_many) {
          if (!produced.insert(metric).second) {
            return FailedPreconditionError(
                "multiple matches for labels: grouping labels must ensure unique matches");
          }
        }
        auto [oi, ins] = out_idx.try_emplace(metric, out.series.size());
        if (ins) {
          StepSeries s;
          s.metric = metric;
          s.v.assign(n_, 0);
          s.has.assign(n_, 0);
          out.series.push_back(std::move(s));
        }
        StepSeries& o = out.series[oi->second];
        if (o.has[st]) {
          return FailedPreconditionError(
              "multiple matches for labels: grouping labels must ensure unique matches");
        }
        o.v[st] = v;
        o.has[st] = 1;
      }
    }
    return out;
  }

  Labels ResultMetric(const Labels& lhs, const Labels& rhs, const VectorMatching& m,
                      bool one_to_many) const {
    // Prometheus's resultMetric: the "many" side's labels, reduced by
    // on/ignoring for one-to-one, plus the included labels of the "one" side.
    const Labels& base = one_to_many ? rhs : lhs;
    const Labels& other = one_to_many ? lhs : rhs;
    tsdb::LabelsBuilder b(base);
    if (m.card == VectorMatching::Card::kOneToOne && m.has_matching) {
      for (const auto& x : base) {
        bool listed = std::find(m.labels.begin(), m.labels.end(), x.name) != m.labels.end();
        if (listed != m.on) b.Del(x.name);
      }
    }
    for (const auto& name : m.include) {
      std::string_view v = other.Get(name);
      if (!v.empty()) b.Set(name, v);
      else b.Del(name);
    }
    return b.Build();
  }

  // ---------------------------------------------------- label_replace --

  Result<Value> EvalLabelReplace(const Expr& e) {
    auto inner = Eval(*e.lhs);
    if (!inner.ok()) return inner.status();
    Value v = std::move(*inner);
    if (v.scalar) return v;
    std::string rewrite;
    // Go's $1 / ${1} / $name -> RE2 \1 (named groups resolved by index).
    const re2::RE2& re = *e.compiled_regex;
    const auto& names = re.NamedCapturingGroups();
    for (size_t i = 0; i < e.replacement.size(); ++i) {
      char c = e.replacement[i];
      if (c == '$' && i + 1 < e.replacement.size()) {
        size_t j = i + 1;
        bool brace = e.replacement[j] == '{';
        if (brace) ++j;
        size_t k = j;
        while (k < e.replacement.size() &&
               (std::isalnum(static_cast<unsigned char>(e.replacement[k])) || e.replacement[k] == '_')) {
          ++k;
        }
        std::string name = e.replacement.substr(j, k - j);
        if (brace && (k >= e.replacement.size() || e.replacement[k] != '}')) {
          rewrite.push_back(c);
          continue;
        }
        if (!name.empty()) {
          bool digits = std::all_of(name.begin(), name.end(), [](char d) { return std::isdigit(static_cast<unsigned char>(d)); });
          int idx = -1;
          if (digits) {
            idx = std::stoi(name);
          } else if (auto it = names.find(name); it != names.end()) {
            idx = it->second;
          }
          if (idx >= 0 && idx <= re.NumberOfCapturingGroups() && idx <= 9) {
            rewrite += "\\" + std::to_string(idx);
          }
          i = brace ? k : k - 1;
          continue;
        }
      }
      if (c == '\\') rewrite += "\\\\";
      else rewrite.push_back(c);
    }
    for (auto& s : v.series) {
      std::string src(s.metric.Get(e.src));
      if (!re2::RE2::FullMatch(src, re)) continue;
      std::string res = src;
      re2::RE2::Replace(&res, re, rewrite);
      tsdb::LabelsBuilder b(s.metric);
      if (res.empty()) b.Del(e.dst);
      else b.Set(e.dst, res);
      s.metric = b.Build();
    }
    return v;
  }

  const EngineOptions& opts_;
  LogQuerier& q_;
  const QueryParams& p_;
  QueryStats* stats_;
  bool instant_ = true;
  int64_t start_ = 0, end_ = 0, step_ = 1;
  size_t n_ = 1;
  std::chrono::steady_clock::time_point deadline_;
  uint32_t poll_ = 0;
  std::vector<std::string> warnings_;

 public:
  std::string sort_op_;
  bool ordered_ = false;
};

// ---------------------------------------------------------- log query --

Status ExecLogQuery(const EngineOptions& opts, LogQuerier& q, const Expr& e,
                    const QueryParams& p, QueryResult* out) {
  if (p.limit > opts.max_entries_limit) {
    return InvalidArgumentError(fmt::format(
        "max entries limit per query exceeded, limit > max_entries_limit_per_query ({} > {})",
        p.limit, opts.max_entries_limit));
  }
  out->type = ResultType::kStreams;
  if (p.end_ns < p.start_ns) return InvalidArgumentError("end timestamp must not be before start time");
  const LogSelectorExpr& sel = e.log;
  SelectLogsParams sp;
  sp.matchers = sel.matchers;
  sp.start_ns = p.start_ns;
  sp.end_ns = p.end_ns == p.start_ns ? p.end_ns + 1 : p.end_ns;
  sp.direction = p.direction;
  CollectLiterals(sel, &sp);
  if (sel.stages.empty() && p.interval_ns == 0) sp.limit = p.limit;
  auto its = q.SelectLogs(sp);
  if (!its.ok()) return its.status();
  auto deadline = std::chrono::steady_clock::now() + opts.timeout;

  struct Item {
    int64_t ts;
    size_t seq;
    size_t stream;  // index into keys
    LogEntry entry;
  };
  std::vector<Item> items;
  std::unordered_map<Labels, size_t, LabelsHash> key_idx;
  std::vector<Labels> keys;
  PipelineRunner run(&sel.stages);
  size_t seq = 0;
  uint32_t poll = 0;
  const bool forward = p.direction == Direction::kForward;
  for (auto& it : *its) {
    const Labels& stream = it->labels();
    ++out->stats.streams_selected;
    size_t taken = 0;
    int64_t last_ts = 0;
    bool have_last = false;
    while (it->Next()) {
      if (++poll % 1024 == 0) {
        if (p.cancel != nullptr && p.cancel->load()) {
          return Status(StatusCode::kCancelled, "the query was canceled");
        }
        if (std::chrono::steady_clock::now() > deadline) {
          return Status(StatusCode::kDeadlineExceeded, "context deadline exceeded");
        }
      }
      const Entry& en = it->entry();
      if (en.timestamp_ns < p.start_ns || en.timestamp_ns >= sp.end_ns) continue;
      ++out->stats.lines_processed;
      out->stats.bytes_processed += static_cast<int64_t>(en.line.size());
      if (!run.Run(stream, en)) continue;
      ++out->stats.post_filter_lines;
      if (p.interval_ns > 0 && have_last) {
        int64_t d = forward ? en.timestamp_ns - last_ts : last_ts - en.timestamp_ns;
        if (d < p.interval_ns) continue;
      }
      have_last = true;
      last_ts = en.timestamp_ns;
      LabelsState& lbs = run.lbs();
      Item item;
      item.ts = en.timestamp_ns;
      item.seq = seq++;
      item.entry.timestamp_ns = en.timestamp_ns;
      item.entry.line = std::string(run.line());
      Labels key;
      if (!run.labels_needed() && en.structured_metadata.empty()) {
        key = stream;
      } else if (p.categorize_labels) {
        key = lbs.BuildSource(LabelSource::kStream);
        item.entry.structured_metadata = lbs.BuildSource(LabelSource::kStructuredMetadata);
        item.entry.parsed = lbs.BuildParsedWithErrors();
      } else {
        key = lbs.Build();
        item.entry.structured_metadata = lbs.BuildSource(LabelSource::kStructuredMetadata);
        item.entry.parsed = lbs.BuildParsedWithErrors();
      }
      if (!run.labels_needed() && p.categorize_labels) {
        item.entry.structured_metadata = en.structured_metadata;
      } else if (!run.labels_needed() && !en.structured_metadata.empty()) {
        // handled above
      }
      auto [ki, ins] = key_idx.try_emplace(key, keys.size());
      if (ins) keys.push_back(key);
      item.stream = ki->second;
      items.push_back(std::move(item));
      if (p.limit > 0 && ++taken >= p.limit) break;  // this stream cannot contribute more
    }
    if (Status s = it->status(); !s.ok()) return s;
  }
  std::stable_sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
    if (a.ts != b.ts) return forward ? a.ts < b.ts : a.ts > b.ts;
    return a.seq < b.seq;
  });
  if (p.limit > 0 && items.size() > p.limit) items.resize(p.limit);
  std::vector<LogStream> streams(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) streams[i].labels = keys[i];
  for (auto& it : items) streams[it.stream].entries.push_back(std::move(it.entry));
  for (auto& s : streams) {
    if (!s.entries.empty()) out->streams.push_back(std::move(s));
  }
  std::sort(out->streams.begin(), out->streams.end(),
            [](const LogStream& a, const LogStream& b) { return a.labels < b.labels; });
  out->stats.entries_returned = static_cast<int64_t>(items.size());
  return Status::Ok();
}

}  // namespace

Engine::Engine(EngineOptions options) : options_(options) {}

Result<QueryResult> Engine::Exec(LogQuerier& querier, const QueryParams& params) const {
  auto q = Parse(params.query);
  if (!q.ok()) return q.status();
  return Exec(querier, *q, params);
}

Result<QueryResult> Engine::Exec(LogQuerier& querier, const ParsedQuery& query,
                                 const QueryParams& params) const {
  auto t0 = std::chrono::steady_clock::now();
  QueryResult res;
  const Expr& e = query.expr();
  if (e.IsLog()) {
    if (Status s = ExecLogQuery(options_, querier, e, params, &res); !s.ok()) return s;
  } else {
    if (params.step_ns < 0) return InvalidArgumentError("zero or negative query resolution step widths are not accepted. Try a positive integer");
    if (params.end_ns < params.start_ns) return InvalidArgumentError("end timestamp must not be before start time");
    if (params.step_ns > 0 && (params.end_ns - params.start_ns) / params.step_ns > 11000) {
      return InvalidArgumentError(
          "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
          "query resolution (?step=XX)");
    }
    Evaluator ev(options_, querier, params, &res.stats);
    auto v = ev.Eval(e);
    if (!v.ok()) return v.status();
    const bool instant = params.step_ns == 0;
    if (v->scalar) {
      if (instant) {
        res.type = ResultType::kScalar;
        res.scalar = {params.end_ns, v->s[0]};
      } else {
        res.type = ResultType::kMatrix;
        MatrixSeries ms;
        for (size_t i = 0; i < ev.steps(); ++i) {
          ms.points.push_back({params.start_ns + static_cast<int64_t>(i) * params.step_ns, v->s[i]});
        }
        res.matrix.push_back(std::move(ms));
      }
    } else if (instant) {
      res.type = ResultType::kVector;
      for (auto& s : v->series) {
        if (!s.has[0]) continue;
        res.vector.push_back({std::move(s.metric), params.end_ns, s.v[0]});
      }
      if (ev.sort_op_ == "sort" || ev.sort_op_ == "sort_desc") {
        bool desc = ev.sort_op_ == "sort_desc";
        std::stable_sort(res.vector.begin(), res.vector.end(), [&](const VectorSample& a, const VectorSample& b) {
          if (std::isnan(a.v)) return false;
          if (std::isnan(b.v)) return true;
          return desc ? a.v > b.v : a.v < b.v;
        });
      } else if (!ev.ordered_) {
        std::sort(res.vector.begin(), res.vector.end(),
                  [](const VectorSample& a, const VectorSample& b) { return a.metric < b.metric; });
      }
      if (res.vector.size() > options_.max_series) {
        return ResourceExhaustedError(fmt::format(
            "maximum number of series ({}) reached for a single query", options_.max_series));
      }
    } else {
      res.type = ResultType::kMatrix;
      for (auto& s : v->series) {
        MatrixSeries ms;
        ms.metric = std::move(s.metric);
        for (size_t i = 0; i < ev.steps(); ++i) {
          if (s.has[i]) ms.points.push_back({params.start_ns + static_cast<int64_t>(i) * params.step_ns, s.v[i]});
        }
        if (!ms.points.empty()) res.matrix.push_back(std::move(ms));
      }
      std::sort(res.matrix.begin(), res.matrix.end(),
                [](const MatrixSeries& a, const MatrixSeries& b) { return a.metric < b.metric; });
      if (res.matrix.size() > options_.max_series) {
        return ResourceExhaustedError(fmt::format(
            "maximum number of series ({}) reached for a single query", options_.max_series));
      }
    }
    res.warnings = std::move(ev.warnings());
  }
  res.stats.exec_time_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

// ---------------------------------------------------------- LogPipeline --

namespace {
class LogPipelineImpl final : public LogPipeline {
 public:
  // The runner always builds the label state (need_labels): a pipeline of
  // line filters only must still report the stream's labels.
  explicit LogPipelineImpl(ParsedQuery q)
      : q_(std::move(q)), run_(&q_.expr().log.stages, /*need_labels=*/true) {}
  const std::vector<Matcher>& matchers() const override { return q_.expr().log.matchers; }
  bool Process(const Labels& stream, const Entry& entry, LogEntry* out, Labels* out_labels) override {
    if (!run_.Run(stream, entry)) return false;
    out->timestamp_ns = entry.timestamp_ns;
    out->line = std::string(run_.line());
    out->structured_metadata = run_.lbs().BuildSource(LabelSource::kStructuredMetadata);
    out->parsed = run_.lbs().BuildParsedWithErrors();
    *out_labels = run_.lbs().Build();
    return true;
  }

 private:
  ParsedQuery q_;
  PipelineRunner run_;
};
}  // namespace

Result<std::unique_ptr<LogPipeline>> LogPipeline::Make(const ParsedQuery& query) {
  if (!query.IsLogQuery()) return InvalidArgumentError("tail requires a log query");
  return std::unique_ptr<LogPipeline>(std::make_unique<LogPipelineImpl>(query));
}

}  // namespace sightline::logs::logql
