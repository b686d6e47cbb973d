// Binary operators: arithmetic, comparisons (filtering or `bool`), set
// operators, with Prometheus's vector matching (on/ignoring,
// group_left/group_right) and its matching errors. Vector-vector operations
// compute each series' matching signature once and then match step by step.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "metrics/promql/engine_internal.h"

namespace sightline::promql::internal {
namespace {

// Operators whose result drops the metric name. Prometheus 2.x kept it for
// atan2; 3.x drops it.
bool DropsName(BinaryOp op, bool v3) {
  if (op == BinaryOp::kAtan2) return v3;
  switch (op) {
    case BinaryOp::kAdd:
    case BinaryOp::kSub:
    case BinaryOp::kMul:
    case BinaryOp::kDiv:
    case BinaryOp::kMod:
    case BinaryOp::kPow:
      return true;
    default:
      return false;
  }
}

// Prometheus's vectorElemBinop for floats: the value and whether to keep it
// (comparisons keep the left value when true).
inline double ElemBinop(BinaryOp op, double l, double r, bool* keep) {
  *keep = true;
  switch (op) {
    case BinaryOp::kAdd:
      return l + r;
    case BinaryOp::kSub:
      return l - r;
    case BinaryOp::kMul:
      return l * r;
    case BinaryOp::kDiv:
      return l / r;
    case BinaryOp::kPow:
      return std::pow(l, r);
    case BinaryOp::kMod:
      return std::fmod(l, r);
    case BinaryOp::kAtan2:
      return std::atan2(l, r);
    case BinaryOp::kEql:
      *keep = l == r;
      return l;
    case BinaryOp::kNeq:
      *keep = l != r;
      return l;
    case BinaryOp::kGtr:
      *keep = l > r;
      return l;
    case BinaryOp::kLss:
      *keep = l < r;
      return l;
    case BinaryOp::kGte:
      *keep = l >= r;
      return l;
    case BinaryOp::kLte:
      *keep = l <= r;
      return l;
    default:
      *keep = false;
      return 0;
  }
}

double ScalarBinop(BinaryOp op, double l, double r) {
  bool keep;
  const double v = ElemBinop(op, l, r, &keep);
  if (IsComparisonOp(op)) return keep ? 1 : 0;
  return v;
}

// The matching signature of a series: the values of the `on` labels, or of
// every label but the `ignoring` ones and __name__.
std::string Signature(const Labels& l, const VectorMatching& m) {
  std::string sig;
  if (m.on) {
    for (const Label& x : l) {
      if (std::find(m.matching_labels.begin(), m.matching_labels.end(), x.name) !=
          m.matching_labels.end()) {
        sig += x.name;
        sig += '\xff';
        sig += x.value;
        sig += '\xff';
      }
    }
  } else {
    for (const Label& x : l) {
      if (x.name == kMetricNameLabel) continue;
      if (std::find(m.matching_labels.begin(), m.matching_labels.end(), x.name) !=
          m.matching_labels.end()) {
        continue;
      }
      sig += x.name;
      sig += '\xff';
      sig += x.value;
      sig += '\xff';
    }
  }
  return sig;
}

// Labels.MatchLabels: the matching labels of a series, for error messages.
Labels MatchLabels(const Labels& l, const VectorMatching& m) {
  std::vector<Label> out;
  for (const Label& x : l) {
    const bool in = std::find(m.matching_labels.begin(), m.matching_labels.end(), x.name) !=
                    m.matching_labels.end();
    if (in == m.on && (m.on || x.name != kMetricNameLabel)) out.push_back(x);
  }
  return Labels::FromSortedUnchecked(std::move(out));
}

std::vector<uint32_t> InternSignatures(const Matrix& m, const VectorMatching& vm,
                                       std::unordered_map<std::string, uint32_t>* ids) {
  std::vector<uint32_t> out;
  out.reserve(m.size());
  for (const Series& s : m) {
    auto [it, _] = ids->try_emplace(Signature(s.metric, vm), static_cast<uint32_t>(ids->size()));
    out.push_back(it->second);
  }
  return out;
}

struct StepSample {
  uint32_t series;
  double f;
};

// Per-step presence of a vector value's series.
void Gather(StepCursor& c, int64_t ts, std::vector<StepSample>* out) {
  out->clear();
  c.ForEachAt(ts, [&](size_t i, double f) { out->push_back({static_cast<uint32_t>(i), f}); });
}

}  // namespace

Result<EvalValue> Evaluator::EvalBinary(const BinaryExpr& e) {
  if (e.op == BinaryOp::kTrimUpper || e.op == BinaryOp::kTrimLower) {
    return UnimplementedError("native histograms are not supported: operator " +
                              std::string(BinaryOpString(e.op)));
  }
  SL_ASSIGN_OR_RETURN(EvalValue lhs, Eval(*e.lhs));
  SL_ASSIGN_OR_RETURN(EvalValue rhs, Eval(*e.rhs));
  const bool drop = DropsName(e.op, q_->v3) || e.return_bool;

  // scalar op scalar.
  if (lhs.type == ValueType::kScalar && rhs.type == ValueType::kScalar) {
    EvalValue out;
    out.type = ValueType::kScalar;
    out.scalars.resize(num_steps_);
    for (size_t i = 0; i < num_steps_; ++i) {
      out.scalars[i] = ScalarBinop(e.op, lhs.scalars[i], rhs.scalars[i]);
    }
    return out;
  }

  // vector op scalar, scalar op vector.
  if (lhs.type == ValueType::kScalar || rhs.type == ValueType::kScalar) {
    const bool swap = lhs.type == ValueType::kScalar;
    EvalValue& vec = swap ? rhs : lhs;
    const std::vector<double>& sc = swap ? lhs.scalars : rhs.scalars;
    for (Series& s : vec.series) {
      size_t w = 0;
      for (size_t k = 0; k < s.floats.size(); ++k) {
        FPoint p = s.floats[k];
        const double scalar = sc[StepOf(p.t)];
        double l = p.f, r = scalar;
        if (swap) std::swap(l, r);
        bool keep;
        double v = ElemBinop(e.op, l, r, &keep);
        // A comparison keeps the vector's value even when it is on the right.
        if (IsComparisonOp(e.op) && swap) v = r;
        if (e.return_bool) {
          v = keep ? 1 : 0;
          keep = true;
        }
        if (!keep) continue;
        p.f = v;
        s.floats[w++] = p;
      }
      s.floats.resize(w);
      if (drop) q_->DropName(s);
    }
    std::erase_if(vec.series, [](const Series& s) { return s.floats.empty(); });
    if (drop && !q_->delayed_name_removal) SL_RETURN_IF_ERROR(MergeSameLabels(&vec.series));
    return std::move(vec);
  }

  // vector op vector.
  const VectorMatching& vm = *e.matching;
  std::unordered_map<std::string, uint32_t> sig_ids;
  const std::vector<uint32_t> lsig = InternSignatures(lhs.series, vm, &sig_ids);
  const std::vector<uint32_t> rsig = InternSignatures(rhs.series, vm, &sig_ids);
  const size_t nsig = sig_ids.size();
  StepCursor lc(lhs.series), rc(rhs.series);
  std::vector<StepSample> ls, rs;
  SeriesCollector out;
  EvalValue res;
  res.type = ValueType::kVector;

  if (IsSetOp(e.op)) {
    // Output series are the input series themselves.
    std::vector<size_t> lout(lhs.series.size(), SIZE_MAX), rout(rhs.series.size(), SIZE_MAX);
    auto lidx = [&](uint32_t i) {
      if (lout[i] == SIZE_MAX) lout[i] = out.IndexOf(lhs.series[i].metric, lhs.series[i].drop_name);
      return lout[i];
    };
    auto ridx = [&](uint32_t j) {
      if (rout[j] == SIZE_MAX) rout[j] = out.IndexOf(rhs.series[j].metric, rhs.series[j].drop_name);
      return rout[j];
    };
    std::vector<size_t> stamp(nsig, SIZE_MAX);
    for (size_t step = 0; step < num_steps_; ++step) {
      const int64_t ts = Ts(step);
      Gather(lc, ts, &ls);
      Gather(rc, ts, &rs);
      switch (e.op) {
        case BinaryOp::kAnd:
          if (ls.empty() || rs.empty()) break;
          for (const StepSample& r : rs) stamp[rsig[r.series]] = step;
          for (const StepSample& l : ls) {
            if (stamp[lsig[l.series]] == step) SL_RETURN_IF_ERROR(out.Add(lidx(l.series), ts, l.f));
          }
          break;
        case BinaryOp::kOr:
          for (const StepSample& l : ls) {
            stamp[lsig[l.series]] = step;
            SL_RETURN_IF_ERROR(out.Add(lidx(l.series), ts, l.f));
          }
          for (const StepSample& r : rs) {
            if (stamp[rsig[r.series]] != step) SL_RETURN_IF_ERROR(out.Add(ridx(r.series), ts, r.f));
          }
          break;
        case BinaryOp::kUnless:
          for (const StepSample& r : rs) stamp[rsig[r.series]] = step;
          for (const StepSample& l : ls) {
            if (stamp[lsig[l.series]] != step) SL_RETURN_IF_ERROR(out.Add(lidx(l.series), ts, l.f));
          }
          break;
        default:
          break;
      }
      SL_RETURN_IF_ERROR(q_->Interrupted());
    }
    res.series = out.Take();
    std::erase_if(res.series, [](const Series& s) { return s.floats.empty(); });
    return res;
  }

  // Arithmetic and comparisons. For one-to-many, swap sides so that the
  // right is always the "one" side; values are swapped back for the op.
  const bool swapped = vm.card == Cardinality::kOneToMany;
  const Matrix& many = swapped ? rhs.series : lhs.series;
  const Matrix& one = swapped ? lhs.series : rhs.series;
  const std::vector<uint32_t>& many_sig = swapped ? rsig : lsig;
  const std::vector<uint32_t>& one_sig = swapped ? lsig : rsig;
  StepCursor& many_c = swapped ? rc : lc;
  StepCursor& one_c = swapped ? lc : rc;

  // Output series per (many, one) pair, computed once.
  std::unordered_map<uint64_t, size_t> pair_out;
  auto result_index = [&](uint32_t mi, uint32_t oi) -> size_t {
    const uint64_t key = (static_cast<uint64_t>(mi) << 32) | oi;
    auto it = pair_out.find(key);
    if (it != pair_out.end()) return it->second;
    static const Labels kEmpty;
    const Labels& ml = many[mi].metric;
    const Labels& ol = oi == UINT32_MAX ? kEmpty : one[oi].metric;
    LabelsBuilder b(ml);
    bool drop_flag = many[mi].drop_name;
    if (drop) {
      if (q_->delayed_name_removal) {
        drop_flag = true;
      } else {
        b.Del(kMetricNameLabel);
      }
    }
    if (vm.card == Cardinality::kOneToOne) {
      if (vm.on) {
        LabelsBuilder kept;
        for (const std::string& n : vm.matching_labels) {
          std::string_view v = b.Get(n);
          if (!v.empty()) kept.Set(n, v);
        }
        b = std::move(kept);
      } else {
        for (const std::string& n : vm.matching_labels) b.Del(n);
      }
    }
    for (const std::string& n : vm.include) {
      std::string_view v = ol.Get(n);
      if (!v.empty()) {
        b.Set(n, v);
      } else {
        b.Del(n);
      }
    }
    const size_t idx = out.IndexOf(b.Build(), drop_flag);
    pair_out.emplace(key, idx);
    return idx;
  };

  // 3.x fill modifiers: values for a missing "many" side (fill_left) or
  // "one" side (fill_right), sides taken after the one-to-many swap as
  // Prometheus does.
  const std::optional<double> fill_many = vm.fill_lhs;
  const std::optional<double> fill_one = vm.fill_rhs;
  constexpr uint32_t kNone = UINT32_MAX;
  // Output index of a result whose "many" side was filled: the match group's
  // labels, combined with the "one" side as usual.
  std::unordered_map<uint32_t, size_t> filled_many_out;
  auto filled_many_index = [&](uint32_t oi) -> size_t {
    auto it = filled_many_out.find(oi);
    if (it != filled_many_out.end()) return it->second;
    LabelsBuilder b(MatchLabels(one[oi].metric, vm));
    if (vm.card == Cardinality::kOneToOne && vm.on) {
      LabelsBuilder kept;
      for (const std::string& n : vm.matching_labels) {
        std::string_view v = b.Get(n);
        if (!v.empty()) kept.Set(n, v);
      }
      b = std::move(kept);
    }
    for (const std::string& n : vm.include) {
      std::string_view v = one[oi].metric.Get(n);
      if (!v.empty()) {
        b.Set(n, v);
      } else {
        b.Del(n);
      }
    }
    const size_t idx = out.IndexOf(b.Build(), false);
    filled_many_out.emplace(oi, idx);
    return idx;
  };

  std::vector<size_t> one_stamp(nsig, SIZE_MAX);
  std::vector<uint32_t> one_at(nsig, 0);  // Index into `os` for the step.
  std::vector<size_t> matched_stamp(nsig, SIZE_MAX);
  std::vector<size_t> found_stamp(nsig, SIZE_MAX);  // A "many" sample found the sig.
  std::vector<size_t> out_stamp;                    // Per output series: step written.
  std::vector<size_t> m2o_stamp;                    // 3.x: per output series, step matched.
  std::vector<uint32_t> out_sig;                    // Per output series: signature at that step.
  std::vector<StepSample>& ms = swapped ? rs : ls;
  std::vector<StepSample>& os = swapped ? ls : rs;
  const bool v3 = q_->v3;
  for (size_t step = 0; step < num_steps_; ++step) {
    SL_RETURN_IF_ERROR(q_->Interrupted());
    const int64_t ts = Ts(step);
    Gather(many_c, ts, &ms);
    Gather(one_c, ts, &os);
    if (ms.empty() && os.empty()) continue;
    if ((ms.empty() && !fill_many) || (os.empty() && !fill_one)) continue;
    for (uint32_t k = 0; k < os.size(); ++k) {
      const uint32_t sig = one_sig[os[k].series];
      if (one_stamp[sig] == step) {
        const Series& dup = one[os[one_at[sig]].series];
        const Series& cur = one[os[k].series];
        return ExecError("found duplicate series for the match group " +
                         MatchLabels(cur.metric, vm).ToString() + " on the " +
                         (swapped ? "left" : "right") + " hand-side of the operation: [" +
                         cur.metric.ToString() + ", " + dup.metric.ToString() +
                         "];many-to-many matching not allowed: matching labels must be unique "
                         "on one side");
      }
      one_stamp[sig] = step;
      one_at[sig] = k;
    }
    bool dup_labelset = false;
    auto emit = [&](size_t idx, uint32_t sig, double v) -> Status {
      if (idx >= out_stamp.size()) {
        out_stamp.resize(idx + 1, SIZE_MAX);
        out_sig.resize(idx + 1, 0);
      }
      if (out_stamp[idx] == step) {
        if (vm.card != Cardinality::kOneToOne && out_sig[idx] == sig) {
          return ExecError(
              "multiple matches for labels: grouping labels must ensure unique matches");
        }
        dup_labelset = true;
        return Status::Ok();
      }
      out_stamp[idx] = step;
      out_sig[idx] = sig;
      out.at(idx).floats.push_back(FPoint{ts, v});
      return Status::Ok();
    };
    for (const StepSample& m : ms) {
      const uint32_t sig = many_sig[m.series];
      double mv = m.f, ov;
      uint32_t oi;
      if (one_stamp[sig] == step) {
        const StepSample& o = os[one_at[sig]];
        ov = o.f;
        oi = o.series;
        found_stamp[sig] = step;
      } else if (fill_one) {
        ov = *fill_one;
        oi = kNone;
      } else {
        continue;
      }
      double l = mv, r = ov;
      if (swapped) std::swap(l, r);
      bool keep;
      double v = ElemBinop(e.op, l, r, &keep);
      const bool matched = oi != kNone;
      // 3.x checks the matching before filtering; 2.x only kept results.
      const bool filtered = !e.return_bool && !keep;
      if (matched && vm.card == Cardinality::kOneToOne && (v3 || !filtered)) {
        if (matched_stamp[sig] == step) {
          return ExecError(
              "multiple matches for labels: many-to-one matching must be explicit "
              "(group_left/group_right)");
        }
        matched_stamp[sig] = step;
      }
      const size_t idx = result_index(m.series, oi);
      if (matched && v3 && vm.card != Cardinality::kOneToOne) {
        if (idx >= m2o_stamp.size()) m2o_stamp.resize(idx + 1, SIZE_MAX);
        if (m2o_stamp[idx] == step) {
          return ExecError(
              "multiple matches for labels: grouping labels must ensure unique matches");
        }
        m2o_stamp[idx] = step;
      }
      if (e.return_bool) {
        v = keep ? 1 : 0;
      } else if (!keep) {
        continue;
      }
      SL_RETURN_IF_ERROR(emit(idx, sig, v));
    }
    if (fill_many) {
      for (const StepSample& o : os) {
        const uint32_t sig = one_sig[o.series];
        if (found_stamp[sig] == step) continue;
        double l = *fill_many, r = o.f;
        if (swapped) std::swap(l, r);
        bool keep;
        double v = ElemBinop(e.op, l, r, &keep);
        if (e.return_bool) {
          v = keep ? 1 : 0;
        } else if (!keep) {
          continue;
        }
        SL_RETURN_IF_ERROR(emit(filled_many_index(o.series), sig, v));
      }
    }
    if (dup_labelset) return ExecError(std::string(kDuplicateLabelsetMsg));
  }
  res.series = out.Take();
  std::erase_if(res.series, [](const Series& s) { return s.floats.empty(); });
  return res;
}

}  // namespace sightline::promql::internal
