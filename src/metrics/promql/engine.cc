// The PromQL engine: query preparation, selectors, subqueries, dispatch and
// result assembly. Operators, aggregations and functions live in
// engine_binary.cc, engine_aggregate.cc and engine_functions.cc.
#include "metrics/promql/engine.h"

#include <algorithm>
#include <limits>

#include "metrics/promql/engine_internal.h"
#include "metrics/storage/storage.h"

namespace sightline::promql {

using internal::Evaluator;
using internal::EvalValue;
using internal::ExecError;
using internal::QueryState;
using internal::SelectRange;

namespace internal {

// ---------------------------------------------------------------------------
// QueryState

Result<const std::vector<const metrics::Series*>*> QueryState::Select(const VectorSelector& vs) {
  auto it = selected_.find(&vs);
  if (it != selected_.end()) return &it->second;
  std::vector<const metrics::Series*>& out = selected_[&vs];
  if (querier == nullptr) return &out;
  const auto rit = ranges.find(&vs);
  metrics::SelectHints hints;
  if (rit != ranges.end()) {
    hints.start_ms = rit->second.mint;
    hints.end_ms = rit->second.maxt;
    hints.range_ms = rit->second.range_ms;
    hints.func = rit->second.func;
  } else {
    hints.start_ms = std::numeric_limits<int64_t>::min();
    hints.end_ms = std::numeric_limits<int64_t>::max();
  }
  hints.step_ms = query_step;
  std::unique_ptr<metrics::SeriesSet> set = querier->Select(false, &hints, vs.matchers);
  while (set->Next()) out.push_back(&set->At());
  if (Status s = set->err(); !s.ok()) {
    if (s.code() == StatusCode::kInvalidArgument) return InternalError(s.message());
    return s;
  }
  for (std::string& w : set->warnings()) {
    annotations.Add(Annotation{Annotation::Kind::kWarning, std::move(w), {}, false});
  }
  // Keep the set too: some stores tie their Series to it.
  sets_.push_back(std::move(set));
  return &out;
}

Status QueryState::AddSamples(int64_t n) {
  current_samples_ += n;
  if (current_samples_ > opts->max_samples) {
    return ResourceExhaustedError(
        "query processing would load too many samples into memory in query execution");
  }
  return Status::Ok();
}

Status QueryState::Interrupted() {
  if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
    return CancelledError("query was canceled in expression evaluation");
  }
  if ((++poll_counter_ & 63) == 0 && std::chrono::steady_clock::now() > deadline) {
    return DeadlineExceededError("query timed out in expression evaluation");
  }
  return Status::Ok();
}

std::optional<int64_t> QueryState::AtTs(const std::optional<int64_t>& ts, AtModifier at) const {
  if (at == AtModifier::kStart) return query_start;
  if (at == AtModifier::kEnd) return query_end;
  return ts;
}

Labels WithoutName(const Labels& l, bool v3) {
  auto reserved = [v3](std::string_view n) {
    // 3.x also drops the type and unit labels with the name.
    return n == kMetricNameLabel || (v3 && (n == "__type__" || n == "__unit__"));
  };
  if (std::none_of(l.begin(), l.end(), [&](const Label& x) { return reserved(x.name); })) {
    return l;
  }
  std::vector<Label> out;
  out.reserve(l.size());
  for (const Label& x : l) {
    if (!reserved(x.name)) out.push_back(x);
  }
  return Labels::FromSortedUnchecked(std::move(out));
}

void QueryState::DropName(Series& s) const {
  if (delayed_name_removal) {
    s.drop_name = true;
  } else {
    s.metric = WithoutName(s.metric, v3);
  }
}

Labels QueryState::DropNameLabels(const Labels& l) const {
  return delayed_name_removal ? l : WithoutName(l, v3);
}

// ---------------------------------------------------------------------------
// Collectors

size_t SeriesCollector::IndexOf(const Labels& l, bool drop_name) {
  auto [it, inserted] = index_.try_emplace(l, out_.size());
  if (inserted) {
    Series s;
    s.metric = l;
    s.drop_name = drop_name;
    out_.push_back(std::move(s));
  } else if (drop_name) {
    out_[it->second].drop_name = true;
  }
  return it->second;
}

Status SeriesCollector::Add(size_t idx, int64_t t, double f) {
  auto& pts = out_[idx].floats;
  if (!pts.empty() && pts.back().t == t) return ExecError(std::string(kDuplicateLabelsetMsg));
  pts.push_back(FPoint{t, f});
  return Status::Ok();
}

Matrix SeriesCollector::Take() {
  index_.clear();
  return std::move(out_);
}

Status MergeSameLabels(Matrix* m) {
  std::unordered_map<Labels, size_t, LabelsHash> index;
  Matrix out;
  out.reserve(m->size());
  for (Series& s : *m) {
    auto [it, inserted] = index.try_emplace(s.metric, out.size());
    if (inserted) {
      out.push_back(std::move(s));
      continue;
    }
    Series& dst = out[it->second];
    std::vector<FPoint> merged;
    merged.reserve(dst.floats.size() + s.floats.size());
    size_t i = 0, j = 0;
    while (i < dst.floats.size() || j < s.floats.size()) {
      if (j == s.floats.size() || (i < dst.floats.size() && dst.floats[i].t < s.floats[j].t)) {
        merged.push_back(dst.floats[i++]);
      } else if (i == dst.floats.size() || s.floats[j].t < dst.floats[i].t) {
        merged.push_back(s.floats[j++]);
      } else {
        return ExecError(std::string(kDuplicateLabelsetMsg));
      }
    }
    dst.floats = std::move(merged);
    dst.drop_name = dst.drop_name || s.drop_name;
  }
  *m = std::move(out);
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Evaluator

Evaluator::Evaluator(QueryState* q, int64_t start, int64_t end, int64_t interval)
    : q_(q), start_(start), end_(end), interval_(interval) {
  num_steps_ = end >= start ? static_cast<size_t>((end - start) / interval) + 1 : 0;
}

namespace {

const Expr* Unwrap(const Expr* e) {
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

Result<EvalValue> Evaluator::Eval(const Expr& e) {
  // Samples held: while a node evaluates, its children's values count; once
  // it returns they are gone and only its result remains.
  const int64_t before = q_->current_samples();
  SL_ASSIGN_OR_RETURN(EvalValue v, EvalNode(e));
  int64_t held = static_cast<int64_t>(v.scalars.size());
  for (const Series& s : v.series) held += static_cast<int64_t>(s.floats.size());
  q_->ReleaseSamples(q_->current_samples() - before);
  SL_RETURN_IF_ERROR(q_->AddSamples(held));
  return v;
}

Result<EvalValue> Evaluator::EvalNode(const Expr& e) {
  SL_RETURN_IF_ERROR(q_->Interrupted());
  switch (e.kind()) {
    case ExprKind::kNumberLiteral: {
      EvalValue v;
      v.type = ValueType::kScalar;
      v.scalars.assign(num_steps_, e.As<NumberLiteral>()->value);
      return v;
    }
    case ExprKind::kStringLiteral: {
      EvalValue v;
      v.type = ValueType::kString;
      v.str = e.As<StringLiteral>()->value;
      return v;
    }
    case ExprKind::kVectorSelector:
      return EvalVectorSelector(*e.As<VectorSelector>(), false);
    case ExprKind::kMatrixSelector:
      return EvalMatrixSelectorInstant(*e.As<MatrixSelector>());
    case ExprKind::kSubquery:
      return EvalSubquery(*e.As<SubqueryExpr>());
    case ExprKind::kAggregate:
      return EvalAggregate(*e.As<AggregateExpr>());
    case ExprKind::kBinary:
      return EvalBinary(*e.As<BinaryExpr>());
    case ExprKind::kUnary:
      return EvalUnary(*e.As<UnaryExpr>());
    case ExprKind::kCall:
      return EvalCall(*e.As<Call>());
    case ExprKind::kParen:
      return Eval(*e.As<ParenExpr>()->expr);
    case ExprKind::kStepInvariant:
      return Eval(*e.As<StepInvariantExpr>()->expr);
  }
  return InternalError("unknown expression kind");
}

Result<EvalValue> Evaluator::EvalScalarArg(const Expr& e) { return Eval(e); }

namespace {

// Reads the samples of `s` with mint <= t <= maxt into `buf`.
Status ReadSamples(const metrics::Series& s, int64_t mint, int64_t maxt, bool keep_stale,
                   std::vector<FPoint>* buf) {
  buf->clear();
  std::unique_ptr<metrics::SeriesIterator> it = s.Iterator();
  if (it->Seek(mint)) {
    do {
      const int64_t t = it->t();
      if (t > maxt) break;
      const double v = it->v();
      if (!keep_stale && metrics::IsStaleNaN(v)) continue;
      buf->push_back(FPoint{t, v});
    } while (it->Next());
  }
  return it->err();
}

}  // namespace

Result<EvalValue> Evaluator::EvalVectorSelector(const VectorSelector& vs, bool want_timestamps) {
  SL_ASSIGN_OR_RETURN(const std::vector<const metrics::Series*>* series, q_->Select(vs));
  const std::optional<int64_t> at = q_->AtTs(vs.timestamp_ms, vs.at);
  const int64_t off = vs.offset_ms;
  const int64_t lookback = q_->lookback_ms;
  const bool v3 = q_->v3;
  EvalValue out;
  out.type = ValueType::kVector;
  if (num_steps_ == 0) return out;
  const int64_t first_ref = (at ? *at : start_) - off;
  const int64_t last_ref = (at ? *at : end_) - off;
  std::vector<FPoint> buf;
  for (const metrics::Series* s : *series) {
    SL_RETURN_IF_ERROR(q_->Interrupted());
    SL_RETURN_IF_ERROR(ReadSamples(*s, first_ref - lookback, last_ref, true, &buf));
    if (buf.empty()) continue;
    Series o;
    o.metric = s->labels();
    auto value_at = [&](size_t idx_after, int64_t ref, double* v) {
      // idx_after: number of samples with t <= ref.
      if (idx_after == 0) return false;
      const FPoint& p = buf[idx_after - 1];
      const bool in_lookback = v3 ? p.t > ref - lookback : p.t >= ref - lookback;
      if (!in_lookback || metrics::IsStaleNaN(p.f)) return false;
      *v = want_timestamps ? static_cast<double>(p.t) / 1000.0 : p.f;
      return true;
    };
    if (at) {
      const size_t n =
          static_cast<size_t>(std::upper_bound(buf.begin(), buf.end(), first_ref,
                                               [](int64_t t, const FPoint& p) { return t < p.t; }) -
                              buf.begin());
      double v;
      if (value_at(n, first_ref, &v)) {
        o.floats.reserve(num_steps_);
        for (size_t i = 0; i < num_steps_; ++i) o.floats.push_back(FPoint{Ts(i), v});
      }
    } else {
      size_t j = 0;
      for (size_t i = 0; i < num_steps_; ++i) {
        const int64_t ref = Ts(i) - off;
        while (j < buf.size() && buf[j].t <= ref) ++j;
        double v;
        if (value_at(j, ref, &v)) o.floats.push_back(FPoint{Ts(i), v});
      }
    }
    if (o.floats.empty()) continue;
    SL_RETURN_IF_ERROR(q_->AddSamples(static_cast<int64_t>(o.floats.size())));
    out.series.push_back(std::move(o));
  }
  return out;
}

Result<Evaluator::RangeSource> Evaluator::EvalRangeSource(const Expr& arg) {
  const Expr* e = Unwrap(&arg);
  RangeSource src;
  if (const auto* ms = e->As<MatrixSelector>()) {
    const VectorSelector& vs = *ms->vector_selector;
    SL_ASSIGN_OR_RETURN(const std::vector<const metrics::Series*>* series, q_->Select(vs));
    src.range_ms = ms->range_ms;
    src.offset_ms = vs.offset_ms;
    src.at = q_->AtTs(vs.timestamp_ms, vs.at);
    src.selector = &vs;
    src.storage = series;
    return src;
  }
  if (const auto* sq = e->As<SubqueryExpr>()) {
    SL_ASSIGN_OR_RETURN(EvalValue inner, EvalSubquery(*sq));
    src.range_ms = sq->range_ms;
    src.offset_ms = sq->offset_ms;
    src.at = q_->AtTs(sq->timestamp_ms, sq->at);
    src.series = std::move(inner.series);
    return src;
  }
  return InternalError("expected a range vector argument");
}

Status Evaluator::LoadRangeSeries(const RangeSource& src, size_t i, std::vector<FPoint>* buf,
                                  std::span<const FPoint>* pts) {
  if (num_steps_ == 0) {
    *pts = {};
    return Status::Ok();
  }
  if (src.storage != nullptr) {
    const int64_t hi = WindowEnd(src, num_steps_ - 1);
    const int64_t lo = WindowEnd(src, 0) - src.range_ms;
    SL_RETURN_IF_ERROR(ReadSamples(*(*src.storage)[i], lo, hi, false, buf));
    *pts = std::span<const FPoint>(*buf);
    return Status::Ok();
  }
  *pts = std::span<const FPoint>(src.series[i].floats);
  return Status::Ok();
}

Result<EvalValue> Evaluator::EvalMatrixSelectorInstant(const MatrixSelector& ms) {
  SL_ASSIGN_OR_RETURN(RangeSource src, EvalRangeSource(ms));
  EvalValue out;
  out.type = ValueType::kMatrix;
  std::vector<FPoint> buf;
  const int64_t hi = WindowEnd(src, 0);
  const int64_t lo = hi - src.range_ms;
  for (size_t i = 0; i < src.size(); ++i) {
    SL_RETURN_IF_ERROR(q_->Interrupted());
    std::span<const FPoint> pts;
    SL_RETURN_IF_ERROR(LoadRangeSeries(src, i, &buf, &pts));
    Series o;
    o.metric = src.labels(i);
    for (const FPoint& p : pts) {
      if (InWindowLeft(p.t, lo) && p.t <= hi) o.floats.push_back(p);
    }
    if (o.floats.empty()) continue;
    SL_RETURN_IF_ERROR(q_->AddSamples(static_cast<int64_t>(o.floats.size())));
    out.series.push_back(std::move(o));
  }
  return out;
}

Result<EvalValue> Evaluator::EvalSubquery(const SubqueryExpr& sq) {
  const int64_t step = sq.step_ms > 0 ? sq.step_ms : q_->opts->default_subquery_step_ms;
  const std::optional<int64_t> at = q_->AtTs(sq.timestamp_ms, sq.at);
  const int64_t ref_start = (at ? *at : start_) - sq.offset_ms;
  const int64_t ref_end = (at ? *at : end_) - sq.offset_ms;
  const int64_t lo = ref_start - sq.range_ms;
  // The first step after lo that is a multiple of the subquery step (Go's
  // division truncates toward zero, as C++'s does).
  int64_t inner_start = step * (lo / step);
  if (q_->v3 ? inner_start <= lo : inner_start < lo) inner_start += step;
  EvalValue out;
  out.type = ValueType::kMatrix;
  if (inner_start > ref_end) return out;
  Evaluator sub(q_, inner_start, ref_end, step);
  SL_ASSIGN_OR_RETURN(EvalValue inner, sub.Eval(*sq.expr));
  if (inner.type == ValueType::kScalar) {
    Series s;
    for (size_t i = 0; i < sub.num_steps(); ++i)
      s.floats.push_back(FPoint{sub.Ts(i), inner.scalars[i]});
    out.series.push_back(std::move(s));
    return out;
  }
  out.series = std::move(inner.series);
  return out;
}

Result<EvalValue> Evaluator::EvalUnary(const UnaryExpr& e) {
  SL_ASSIGN_OR_RETURN(EvalValue v, Eval(*e.expr));
  if (e.op != '-') return v;
  if (v.type == ValueType::kScalar) {
    for (double& x : v.scalars) x = -x;
    return v;
  }
  for (Series& s : v.series) {
    q_->DropName(s);
    for (FPoint& p : s.floats) p.f = -p.f;
  }
  if (!q_->delayed_name_removal) SL_RETURN_IF_ERROR(CheckNoSameLabelset(v.series));
  return v;
}

Status CheckNoSameLabelset(const Matrix& m) {
  std::unordered_map<Labels, size_t, LabelsHash> seen;
  for (size_t i = 0; i < m.size(); ++i) {
    if (!seen.emplace(m[i].metric, i).second) return ExecError(std::string(kDuplicateLabelsetMsg));
  }
  return Status::Ok();
}

}  // namespace internal

// ---------------------------------------------------------------------------
// Preparation

namespace {

Status ResolveDurations(Expr& e, const DurationContext& ctx) {
  if (auto* vs = e.As<VectorSelector>()) {
    if (vs->original_offset_expr) {
      SL_ASSIGN_OR_RETURN(vs->offset_ms, EvaluateDuration(*vs->original_offset_expr, ctx));
    } else {
      vs->offset_ms = vs->original_offset_ms;
    }
  } else if (auto* ms = e.As<MatrixSelector>()) {
    if (ms->range_expr) {
      SL_ASSIGN_OR_RETURN(ms->range_ms, EvaluateDuration(*ms->range_expr, ctx));
      if (ms->range_ms <= 0) {
        return InvalidArgumentError("range duration must be greater than 0");
      }
    }
  } else if (auto* sq = e.As<SubqueryExpr>()) {
    if (sq->range_expr) {
      SL_ASSIGN_OR_RETURN(sq->range_ms, EvaluateDuration(*sq->range_expr, ctx));
      if (sq->range_ms <= 0) {
        return InvalidArgumentError("range duration must be greater than 0");
      }
    }
    if (sq->step_expr) {
      SL_ASSIGN_OR_RETURN(sq->step_ms, EvaluateDuration(*sq->step_expr, ctx));
      if (sq->step_ms <= 0) return InvalidArgumentError("step duration must be greater than 0");
    }
    if (sq->original_offset_expr) {
      SL_ASSIGN_OR_RETURN(sq->offset_ms, EvaluateDuration(*sq->original_offset_expr, ctx));
    } else {
      sq->offset_ms = sq->original_offset_ms;
    }
  }
  for (Expr* c : Children(e)) SL_RETURN_IF_ERROR(ResolveDurations(*c, ctx));
  return Status::Ok();
}

struct SubqueryPath {
  int64_t offset = 0;
  int64_t range = 0;
  std::optional<int64_t> at;
};

// Prometheus's getTimeRangesForSelector, for every selector of the tree.
void ComputeRanges(const Expr& e, QueryState& qs, int64_t start, int64_t end, SubqueryPath path,
                   int64_t eval_range, std::string_view func) {
  if (const auto* vs = e.As<VectorSelector>()) {
    int64_t s = start, en = end;
    if (path.at) s = en = *path.at;
    if (auto at = qs.AtTs(vs->timestamp_ms, vs->at)) {
      s = en = *at;
    } else {
      s = s - path.offset - path.range;
      en -= path.offset;
    }
    if (eval_range == 0) {
      s -= qs.lookback_ms;
    } else {
      s -= eval_range;
    }
    s -= vs->offset_ms;
    en -= vs->offset_ms;
    SelectRange r{s, en, eval_range, std::string(func)};
    auto [it, inserted] = qs.ranges.emplace(vs, r);
    if (!inserted) {
      it->second.mint = std::min(it->second.mint, s);
      it->second.maxt = std::max(it->second.maxt, en);
    }
    return;
  }
  if (const auto* ms = e.As<MatrixSelector>()) {
    ComputeRanges(*ms->vector_selector, qs, start, end, path, ms->range_ms, func);
    return;
  }
  if (const auto* sq = e.As<SubqueryExpr>()) {
    SubqueryPath p = path;
    p.offset += sq->offset_ms;
    p.range += sq->range_ms;
    if (auto at = qs.AtTs(sq->timestamp_ms, sq->at)) {
      p.offset = sq->offset_ms;
      p.range = sq->range_ms;
      p.at = at;
    }
    ComputeRanges(*sq->expr, qs, start, end, p, 0, func);
    return;
  }
  std::string_view f = func;
  if (const auto* call = e.As<Call>()) f = call->func->name;
  for (const Expr* c : Children(e)) ComputeRanges(*c, qs, start, end, path, 0, f);
}

bool LabelsLess(const Series& a, const Series& b) {
  return Labels::Compare(a.metric, b.metric) < 0;
}

}  // namespace

EngineOptions EngineOptions::Prometheus2() {
  EngineOptions o;
  o.dialect = Dialect::kPrometheus2;
  o.enable_experimental = false;
  o.delayed_name_removal = false;
  return o;
}

Engine::Engine(EngineOptions options) : options_(options) {}

ParseOptions Engine::parse_options() const {
  if (options_.dialect == Dialect::kPrometheus2) return ParseOptions::Prometheus2();
  ParseOptions p;
  p.experimental_functions = options_.enable_experimental;
  p.duration_expressions = options_.enable_experimental;
  p.extended_range_selectors = options_.enable_experimental;
  p.binop_fill_modifiers = options_.enable_experimental;
  return p;
}

Result<QueryResult> Engine::InstantQuery(metrics::Queryable& storage, std::string_view tenant,
                                         std::string_view query, int64_t time_ms,
                                         const QueryOptions& qopts) const {
  SL_ASSIGN_OR_RETURN(ExprPtr expr, ParseExpr(query, parse_options()));
  return Exec(storage, tenant, *expr, query, time_ms, time_ms, 0, true, qopts);
}

Result<QueryResult> Engine::InstantQuery(metrics::Queryable& storage, std::string_view tenant,
                                         const Expr& expr, int64_t time_ms,
                                         const QueryOptions& qopts) const {
  return Exec(storage, tenant, expr, {}, time_ms, time_ms, 0, true, qopts);
}

Result<QueryResult> Engine::RangeQuery(metrics::Queryable& storage, std::string_view tenant,
                                       std::string_view query, int64_t start_ms, int64_t end_ms,
                                       int64_t step_ms, const QueryOptions& qopts) const {
  SL_ASSIGN_OR_RETURN(ExprPtr expr, ParseExpr(query, parse_options()));
  return Exec(storage, tenant, *expr, query, start_ms, end_ms, step_ms, false, qopts);
}

Result<QueryResult> Engine::RangeQuery(metrics::Queryable& storage, std::string_view tenant,
                                       const Expr& expr, int64_t start_ms, int64_t end_ms,
                                       int64_t step_ms, const QueryOptions& qopts) const {
  return Exec(storage, tenant, expr, {}, start_ms, end_ms, step_ms, false, qopts);
}

Result<QueryResult> Engine::Exec(metrics::Queryable& storage, std::string_view tenant,
                                 const Expr& expr, std::string_view query_text, int64_t start_ms,
                                 int64_t end_ms, int64_t step_ms, bool instant,
                                 const QueryOptions& qopts) const {
  if (!instant) {
    if (step_ms <= 0) {
      return InvalidArgumentError(
          "zero or negative query resolution step widths are not accepted. Try a positive "
          "integer");
    }
    if (end_ms < start_ms) {
      return InvalidArgumentError("end timestamp must not be before start time");
    }
    const ValueType t = expr.Type();
    if (t != ValueType::kVector && t != ValueType::kScalar) {
      return InvalidArgumentError("invalid expression type \"" +
                                  std::string(DocumentedTypeName(t)) +
                                  "\" for range query, must be Scalar or instant Vector");
    }
  }
  SL_RETURN_IF_ERROR(CheckRangeModifierUse(expr));

  ExprPtr root = Clone(expr);
  QueryState qs;
  qs.opts = &options_;
  qs.v3 = options_.dialect == Dialect::kPrometheus3;
  qs.delayed_name_removal = qs.v3 && options_.delayed_name_removal;
  qs.lookback_ms = qopts.lookback_delta_ms.value_or(options_.lookback_delta_ms);
  if (qs.lookback_ms <= 0) qs.lookback_ms = options_.lookback_delta_ms;
  qs.query_start = start_ms;
  qs.query_end = end_ms;
  qs.query_step = instant ? 0 : step_ms;
  qs.query_text = query_text;
  qs.cancel = qopts.cancel;
  qs.deadline = std::chrono::steady_clock::now() + qopts.timeout.value_or(options_.timeout);

  SL_RETURN_IF_ERROR(
      ResolveDurations(*root, DurationContext{instant ? 0 : step_ms, end_ms - start_ms}));
  ComputeRanges(*root, qs, start_ms, end_ms, {}, 0, "");

  std::unique_ptr<metrics::Querier> querier;
  if (!qs.ranges.empty()) {
    int64_t mint = std::numeric_limits<int64_t>::max();
    int64_t maxt = std::numeric_limits<int64_t>::min();
    for (const auto& [vs, r] : qs.ranges) {
      mint = std::min(mint, r.mint);
      maxt = std::max(maxt, r.maxt);
    }
    SL_ASSIGN_OR_RETURN(querier, storage.NewQuerier(tenant, mint, maxt));
    qs.querier = querier.get();
  }

  Evaluator ev(&qs, start_ms, end_ms, instant ? 1 : step_ms);
  SL_ASSIGN_OR_RETURN(EvalValue v, ev.Eval(*root));

  QueryResult res;
  if (v.type == ValueType::kVector || v.type == ValueType::kMatrix) {
    if (qs.delayed_name_removal) {
      bool any = false;
      for (Series& s : v.series) {
        if (s.drop_name) {
          s.metric = internal::WithoutName(s.metric, true);
          any = true;
        }
        s.drop_name = false;
      }
      if (any) SL_RETURN_IF_ERROR(internal::MergeSameLabels(&v.series));
    }
  }
  switch (v.type) {
    case ValueType::kVector:
      if (instant) {
        res.type = ValueType::kVector;
        res.vector.reserve(v.series.size());
        for (Series& s : v.series) {
          if (s.floats.empty()) continue;
          res.vector.push_back(Sample{std::move(s.metric), start_ms, s.floats.front().f});
        }
      } else {
        res.type = ValueType::kMatrix;
        res.matrix = std::move(v.series);
        std::erase_if(res.matrix, [](const Series& s) { return s.floats.empty(); });
        std::sort(res.matrix.begin(), res.matrix.end(), LabelsLess);
      }
      break;
    case ValueType::kMatrix:
      res.type = ValueType::kMatrix;
      res.matrix = std::move(v.series);
      break;
    case ValueType::kScalar:
      if (instant) {
        res.type = ValueType::kScalar;
        res.scalar = Scalar{start_ms, v.scalars.empty() ? 0 : v.scalars[0]};
      } else {
        res.type = ValueType::kMatrix;
        Series s;
        for (size_t i = 0; i < ev.num_steps(); ++i)
          s.floats.push_back(FPoint{ev.Ts(i), v.scalars[i]});
        res.matrix.push_back(std::move(s));
      }
      break;
    case ValueType::kString:
      res.type = ValueType::kString;
      res.string = StringValue{start_ms, std::move(v.str)};
      break;
    case ValueType::kNone:
      return InternalError("expression evaluated to nothing");
  }
  res.annotations = std::move(qs.annotations);
  return res;
}

}  // namespace sightline::promql
