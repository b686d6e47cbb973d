// Aggregation operators: sum avg count min max group stddev stdvar quantile
// count_values topk bottomk limitk limit_ratio, with by/without. Each input
// series' group is computed once; values are then aggregated step by step.
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "metrics/promql/engine_internal.h"
#include "metrics/promql/go_text.h"

namespace sightline::promql::internal {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool InGrouping(const std::vector<std::string>& grouping, std::string_view name) {
  return std::find(grouping.begin(), grouping.end(), name) != grouping.end();
}

// The labels of the group a series belongs to.
Labels GroupLabels(const Labels& l, const std::vector<std::string>& grouping, bool without) {
  std::vector<Label> out;
  for (const Label& x : l) {
    const bool in = InGrouping(grouping, x.name);
    if (without ? (!in && x.name != kMetricNameLabel) : in) out.push_back(x);
  }
  return Labels::FromSortedUnchecked(std::move(out));
}

// Go's float64 -> int64 convertibility check (Prometheus's convertibleToInt64).
bool ConvertibleToInt64(double v) {
  return v <= static_cast<double>(std::numeric_limits<int64_t>::max()) &&
         v >= static_cast<double>(std::numeric_limits<int64_t>::min());
}

// Go's container/heap over a slice with a Less function.
template <typename T, typename Less>
class GoHeap {
 public:
  explicit GoHeap(Less less) : less_(less) {}
  std::vector<T>& items() { return v_; }
  void Push(T x) {
    v_.push_back(std::move(x));
    Up(v_.size() - 1);
  }
  void Fix(size_t i) {
    if (!Down(i, v_.size())) Up(i);
  }

 private:
  bool L(size_t i, size_t j) const { return less_(v_[i], v_[j]); }
  void Up(size_t j) {
    while (j > 0) {
      const size_t i = (j - 1) / 2;
      if (!L(j, i)) break;
      std::swap(v_[i], v_[j]);
      j = i;
    }
  }
  bool Down(size_t i0, size_t n) {
    size_t i = i0;
    while (true) {
      const size_t j1 = 2 * i + 1;
      if (j1 >= n) break;
      size_t j = j1;
      if (j1 + 1 < n && L(j1 + 1, j1)) j = j1 + 1;
      if (!L(j, i)) break;
      std::swap(v_[i], v_[j]);
      i = j;
    }
    return i > i0;
  }

  Less less_;
  std::vector<T> v_;
};

// Go's sort.Sort: insertion sort for up to 12 elements (what pdqsort does for
// short inputs, which decides the order of ties); a stable sort beyond.
template <typename T, typename Less>
void GoSort(std::vector<T>* v, Less less) {
  if (v->size() <= 12) {
    for (size_t i = 1; i < v->size(); ++i) {
      for (size_t j = i; j > 0 && less((*v)[j], (*v)[j - 1]); --j) std::swap((*v)[j], (*v)[j - 1]);
    }
    return;
  }
  std::stable_sort(v->begin(), v->end(), less);
}

struct KItem {
  uint32_t series;
  double f;
};

struct Acc {
  size_t stamp = SIZE_MAX;
  double value = 0;
  double mean = 0;
  double c = 0;
  double count = 0;
  bool incremental = false;
};

// The first value of a group at a step.
inline void AccInit(Acc& a, AggregateOp op, double f, bool v3) {
  a.value = f;
  a.mean = f;
  a.c = 0;
  a.count = 1;
  a.incremental = false;
  switch (op) {
    case AggregateOp::kStddev:
    case AggregateOp::kStdvar:
      // 3.x: an infinite or NaN sample makes the deviation NaN.
      a.value = v3 && (std::isnan(f) || std::isinf(f)) ? kNaN : 0;
      break;
    case AggregateOp::kGroup:
      a.value = 1;
      break;
    default:
      break;
  }
}

// Adds a further value, in input order (which decides float rounding, as in
// Prometheus).
inline void AccAdd(Acc& a, AggregateOp op, double f, bool v3) {
  switch (op) {
    case AggregateOp::kSum:
      if (v3) {
        KahanSumInc(f, &a.value, &a.c, true);
      } else {
        a.value += f;
      }
      break;
    case AggregateOp::kAvg:
      a.count += 1;
      if (v3) {
        if (!a.incremental) {
          double nv = a.value, nc = a.c;
          KahanSumInc(f, &nv, &nc, true);
          if (!std::isinf(nv)) {
            a.value = nv;
            a.c = nc;
            break;
          }
          // The sum would overflow: continue with an incremental mean.
          a.incremental = true;
          a.mean = a.value / (a.count - 1);
          a.c /= a.count - 1;
        }
        if (std::isinf(a.mean)) {
          if (std::isinf(f) && (a.mean > 0) == (f > 0)) break;
          if (!std::isinf(f) && !std::isnan(f)) break;
        }
        const double current = a.mean + a.c;
        KahanSumInc(f / a.count - current / a.count, &a.mean, &a.c, true);
      } else {
        if (std::isinf(a.mean)) {
          if (std::isinf(f) && (a.mean > 0) == (f > 0)) break;
          if (!std::isinf(f) && !std::isnan(f)) break;
        }
        a.mean += f / a.count - a.mean / a.count;
      }
      break;
    case AggregateOp::kMax:
      if (a.value < f || std::isnan(a.value)) a.value = f;
      break;
    case AggregateOp::kMin:
      if (a.value > f || std::isnan(a.value)) a.value = f;
      break;
    case AggregateOp::kCount:
      a.count += 1;
      break;
    case AggregateOp::kStddev:
    case AggregateOp::kStdvar: {
      a.count += 1;
      const double delta = f - a.mean;
      a.mean += delta / a.count;
      a.value += delta * (f - a.mean);
      break;
    }
    default:
      break;
  }
}

inline double AccFinal(const Acc& a, AggregateOp op, bool v3) {
  switch (op) {
    case AggregateOp::kSum:
      return v3 ? a.value + a.c : a.value;
    case AggregateOp::kAvg:
      if (v3) return a.incremental ? a.mean + a.c : (a.value + a.c) / a.count;
      return a.mean;
    case AggregateOp::kCount:
      return a.count;
    case AggregateOp::kStdvar:
      return a.value / a.count;
    case AggregateOp::kStddev:
      return std::sqrt(a.value / a.count);
    default:
      return a.value;
  }
}

bool Streamable(AggregateOp op) {
  switch (op) {
    case AggregateOp::kSum:
    case AggregateOp::kAvg:
    case AggregateOp::kCount:
    case AggregateOp::kMin:
    case AggregateOp::kMax:
    case AggregateOp::kGroup:
    case AggregateOp::kStddev:
    case AggregateOp::kStdvar:
      return true;
    default:
      return false;
  }
}

const Expr* UnwrapParens(const Expr* e) {
  while (true) {
    if (const auto* p = e->As<ParenExpr>()) {
      e = p->expr.get();
    } else if (const auto* s = e->As<StepInvariantExpr>()) {
      e = s->expr.get();
    } else {
      return e;
    }
  }
}

}  // namespace

Result<EvalValue> Evaluator::EvalAggregate(const AggregateExpr& e) {
  const AggregateOp op = e.op;
  const bool v3 = q_->v3;
  std::vector<double> params;
  std::string label_param;
  if (e.param) {
    SL_ASSIGN_OR_RETURN(EvalValue p, Eval(*e.param));
    if (p.type == ValueType::kString) {
      label_param = p.str;
    } else {
      params = std::move(p.scalars);
    }
  }
  EvalValue in;
  bool have_in = false;
  // sum/avg/... over a range function (the common `sum by (job)
  // (rate(x[5m]))`): consume the function's output series as they are
  // produced instead of holding them all, when there are few groups.
  if (!e.param && Streamable(op)) {
    if (const auto* call = UnwrapParens(e.expr.get())->As<Call>()) {
      if (const int ma = RangeArgIndex(*call); ma >= 0) {
        SL_ASSIGN_OR_RETURN(std::unique_ptr<RangeCall> rc, PrepareRangeCall(*call, ma));
        if (!rc->absent) {
          SL_ASSIGN_OR_RETURN(std::optional<EvalValue> fused, StreamAggregate(e, *rc));
          if (fused) return std::move(*fused);
        }
        SL_ASSIGN_OR_RETURN(in, CollectRangeCall(*rc));
        have_in = true;
      }
    }
  }
  if (!have_in) {
    SL_ASSIGN_OR_RETURN(in, Eval(*e.expr));
  }
  const Matrix& m = in.series;
  EvalValue res;
  res.type = ValueType::kVector;
  StepCursor cur(m);

  if (op == AggregateOp::kCountValues) {
    if (!IsValidLabelName(label_param, v3)) {
      return ExecError("invalid label name " + QuoteGo(label_param));
    }
    std::vector<std::string> grouping = e.grouping;
    if (!e.without) grouping.push_back(label_param);
    SeriesCollector out;
    std::unordered_map<Labels, size_t, LabelsHash> counts_idx;
    std::vector<std::pair<size_t, double>> counts;  // (output index, count) in first-seen order.
    for (size_t step = 0; step < num_steps_; ++step) {
      SL_RETURN_IF_ERROR(q_->Interrupted());
      const int64_t ts = Ts(step);
      counts.clear();
      counts_idx.clear();
      cur.ForEachAt(ts, [&](size_t i, double f) {
        LabelsBuilder b(m[i].metric);
        b.Set(label_param, FormatFloatF(f));
        const Labels g = GroupLabels(b.Build(), grouping, e.without);
        auto [it, ins] = counts_idx.try_emplace(g, counts.size());
        if (ins) {
          counts.push_back({out.IndexOf(g), 1});
        } else {
          counts[it->second].second += 1;
        }
      });
      for (const auto& [idx, n] : counts) SL_RETURN_IF_ERROR(out.Add(idx, ts, n));
    }
    res.series = out.Take();
    return res;
  }

  // Group of each input series.
  std::unordered_map<Labels, uint32_t, LabelsHash> group_index;
  std::vector<uint32_t> group_of(m.size());
  std::vector<Labels> group_labels;
  std::vector<bool> group_drop;
  for (size_t i = 0; i < m.size(); ++i) {
    Labels g = GroupLabels(m[i].metric, e.grouping, e.without);
    auto [it, ins] = group_index.try_emplace(g, static_cast<uint32_t>(group_labels.size()));
    if (ins) {
      group_labels.push_back(std::move(g));
      group_drop.push_back(false);
    }
    group_of[i] = it->second;
    if (m[i].drop_name && !e.without) group_drop[it->second] = true;
  }
  const size_t ngroups = group_labels.size();

  if (op == AggregateOp::kTopk || op == AggregateOp::kBottomk || op == AggregateOp::kLimitk ||
      op == AggregateOp::kLimitRatio) {
    if (v3 && op != AggregateOp::kLimitRatio) {
      for (double p : params) {
        if (std::isnan(p)) return ExecError("Parameter value is NaN");
      }
    }
    if (op == AggregateOp::kLimitRatio) {
      double mx = -std::numeric_limits<double>::infinity(), mn = -mx;
      for (double p : params) {
        if (std::isnan(p)) return ExecError("Ratio value is NaN");
        mx = std::max(mx, p);
        mn = std::min(mn, p);
      }
      if (mx > 1.0) {
        q_->annotations.AddWarning("PromQL warning: ratio value should be between -1 and 1, got " +
                                       FormatFloatV(mx) + ", capping to 1",
                                   e.param->pos);
      } else if (mn < -1.0) {
        q_->annotations.AddWarning("PromQL warning: ratio value should be between -1 and 1, got " +
                                       FormatFloatV(mn) + ", capping to -1",
                                   e.param->pos);
      }
    }
    std::vector<size_t> out_idx(m.size(), SIZE_MAX);
    Matrix out;
    const bool top = op == AggregateOp::kTopk;
    auto heap_less = [top](const KItem& a, const KItem& b) {
      if (std::isnan(a.f)) return true;
      return top ? a.f < b.f : a.f > b.f;
    };
    using Heap = GoHeap<KItem, decltype(heap_less)>;
    std::vector<Heap> heaps(ngroups, Heap(heap_less));
    std::vector<size_t> stamp(ngroups, SIZE_MAX);
    std::vector<uint32_t> order;
    for (size_t step = 0; step < num_steps_; ++step) {
      SL_RETURN_IF_ERROR(q_->Interrupted());
      const int64_t ts = Ts(step);
      int64_t k = 0;
      double ratio = 0;
      if (op == AggregateOp::kLimitRatio) {
        ratio = std::clamp(params[step], -1.0, 1.0);
        if (ratio == 0) continue;
      } else {
        const double f = params[step];
        if (!ConvertibleToInt64(f)) {
          return ExecError("Scalar value " + FormatFloatV(f) + " overflows int64");
        }
        k = static_cast<int64_t>(f);
        if (v3 && k > static_cast<int64_t>(m.size())) k = static_cast<int64_t>(m.size());
        if (k < 1) continue;
      }
      order.clear();
      cur.ForEachAt(ts, [&](size_t i, double f) {
        const uint32_t g = group_of[i];
        Heap& h = heaps[g];
        if (stamp[g] != step) {
          stamp[g] = step;
          h.items().clear();
          order.push_back(g);
          if (op == AggregateOp::kLimitRatio) {
            // Handled below like the others.
          }
        }
        const KItem item{static_cast<uint32_t>(i), f};
        switch (op) {
          case AggregateOp::kTopk:
          case AggregateOp::kBottomk: {
            auto& v = h.items();
            if (static_cast<int64_t>(v.size()) < k) {
              h.Push(item);
            } else if ((top ? v[0].f < f : v[0].f > f) || (std::isnan(v[0].f) && !std::isnan(f))) {
              v[0] = item;
              if (k > 1) h.Fix(0);
            }
            break;
          }
          case AggregateOp::kLimitk:
            if (static_cast<int64_t>(h.items().size()) < k) h.items().push_back(item);
            break;
          case AggregateOp::kLimitRatio: {
            const double offset = static_cast<double>(m[i].metric.Hash()) /
                                  static_cast<double>(std::numeric_limits<uint64_t>::max());
            if ((ratio >= 0 && offset < ratio) || (ratio < 0 && offset >= 1.0 + ratio)) {
              h.items().push_back(item);
            }
            break;
          }
          default:
            break;
        }
      });
      for (uint32_t g : order) {
        auto& v = heaps[g].items();
        if (op == AggregateOp::kTopk || op == AggregateOp::kBottomk) {
          if (v.size() > 1) {
            GoSort(&v, [&](const KItem& a, const KItem& b) { return heap_less(b, a); });
          }
        }
        for (const KItem& it : v) {
          size_t& oi = out_idx[it.series];
          if (oi == SIZE_MAX) {
            oi = out.size();
            Series s;
            s.metric = m[it.series].metric;
            s.drop_name = m[it.series].drop_name;
            out.push_back(std::move(s));
          }
          out[oi].floats.push_back(FPoint{ts, it.f});
        }
      }
    }
    res.series = std::move(out);
    return res;
  }

  if (op == AggregateOp::kQuantile && v3) {
    bool nan = false;
    double mx = -std::numeric_limits<double>::infinity(), mn = -mx;
    for (double p : params) {
      nan = nan || std::isnan(p);
      mx = std::max(mx, p);
      mn = std::min(mn, p);
    }
    auto warn = [&](double v) {
      q_->annotations.AddWarning(
          "PromQL warning: quantile value should be between 0 and 1, got " + FormatFloatV(v),
          e.param->pos);
    };
    if (nan) warn(kNaN);
    if (mx > 1) warn(mx);
    if (mn < 0) warn(mn);
  }

  Matrix out(ngroups);
  for (size_t g = 0; g < ngroups; ++g) {
    out[g].metric = group_labels[g];
    out[g].drop_name = group_drop[g];
  }
  std::vector<Acc> acc(ngroups);
  std::vector<std::vector<double>> qvalues(op == AggregateOp::kQuantile ? ngroups : 0);
  std::vector<uint32_t> touched;
  for (size_t step = 0; step < num_steps_; ++step) {
    SL_RETURN_IF_ERROR(q_->Interrupted());
    const int64_t ts = Ts(step);
    touched.clear();
    cur.ForEachAt(ts, [&](size_t i, double f) {
      const uint32_t g = group_of[i];
      Acc& a = acc[g];
      if (a.stamp != step) {
        a.stamp = step;
        touched.push_back(g);
        AccInit(a, op, f, v3);
        if (op == AggregateOp::kQuantile) {
          qvalues[g].clear();
          qvalues[g].push_back(f);
        }
        return;
      }
      if (op == AggregateOp::kQuantile) {
        qvalues[g].push_back(f);
      } else {
        AccAdd(a, op, f, v3);
      }
    });
    for (uint32_t g : touched) {
      const double v = op == AggregateOp::kQuantile ? Quantile(params[step], &qvalues[g])
                                                    : AccFinal(acc[g], op, v3);
      out[g].floats.push_back(FPoint{ts, v});
    }
  }
  std::erase_if(out, [](const Series& s) { return s.floats.empty(); });
  res.series = std::move(out);
  return res;
}

Result<std::optional<EvalValue>> Evaluator::StreamAggregate(const AggregateExpr& e, RangeCall& rc) {
  const RangeSource& src = rc.src;
  const bool v3 = q_->v3;
  const bool delayed = q_->delayed_name_removal;
  const bool drops = !rc.keep_name;
  // The groups of the function's output series, known from the source.
  std::unordered_map<Labels, uint32_t, LabelsHash> group_index;
  std::vector<uint32_t> group_of(src.size());
  std::vector<Labels> group_labels;
  std::vector<bool> group_drop;
  for (size_t i = 0; i < src.size(); ++i) {
    const Labels out = drops && !delayed ? WithoutName(src.labels(i), v3) : src.labels(i);
    Labels g = GroupLabels(out, e.grouping, e.without);
    auto [it, ins] = group_index.try_emplace(g, static_cast<uint32_t>(group_labels.size()));
    if (ins) {
      group_labels.push_back(std::move(g));
      group_drop.push_back(false);
    }
    group_of[i] = it->second;
  }
  const size_t ngroups = group_labels.size();
  // Worth it only when the accumulators are much smaller than the series.
  if (num_steps_ < 2 || ngroups * 4 > src.size()) return std::optional<EvalValue>();
  const AggregateOp op = e.op;
  std::vector<Acc> acc(ngroups * num_steps_);
  for (Acc& a : acc) a.count = 0;
  std::vector<bool> touched(ngroups, false);
  std::unordered_map<Labels, bool, LabelsHash> seen;  // 2.x duplicate check.
  const bool check_dups = drops && !delayed;
  SL_RETURN_IF_ERROR(RunRangeCall(rc, [&](size_t si, Series&& s) -> Status {
    if (check_dups && !seen.emplace(s.metric, true).second) {
      return ExecError(std::string(kDuplicateLabelsetMsg));
    }
    const uint32_t g = group_of[si];
    touched[g] = true;
    if (s.drop_name && !e.without) group_drop[g] = true;
    Acc* row = &acc[static_cast<size_t>(g) * num_steps_];
    for (const FPoint& p : s.floats) {
      Acc& a = row[StepOf(p.t)];
      if (a.count == 0) {
        AccInit(a, op, p.f, v3);
      } else {
        AccAdd(a, op, p.f, v3);
      }
    }
    return Status::Ok();
  }));
  EvalValue res;
  res.type = ValueType::kVector;
  for (size_t g = 0; g < ngroups; ++g) {
    if (!touched[g]) continue;
    Series s;
    s.metric = group_labels[g];
    s.drop_name = group_drop[g];
    const Acc* row = &acc[g * num_steps_];
    for (size_t step = 0; step < num_steps_; ++step) {
      if (row[step].count == 0) continue;
      s.floats.push_back(FPoint{Ts(step), AccFinal(row[step], op, v3)});
    }
    if (!s.floats.empty()) res.series.push_back(std::move(s));
  }
  return std::optional<EvalValue>(std::move(res));
}

}  // namespace sightline::promql::internal
