// Internals of the PromQL engine shared by its translation units
// (engine.cc, engine_binary.cc, engine_aggregate.cc, engine_functions.cc).
// Not part of the engine's contract; include engine.h instead.
//
// Model: an Evaluator evaluates expressions over the steps start, start +
// interval, ..., <= end. An instant-vector expression evaluates to a Matrix
// holding, for every output series, one point per step at which the series
// has a value (the point's t is the step's timestamp). A scalar evaluates to
// one value per step. Subqueries create a nested Evaluator over their own
// steps. Everything a query shares (the Querier, limits, annotations) lives
// in QueryState.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "metrics/promql/ast.h"
#include "metrics/promql/engine.h"
#include "metrics/promql/value.h"
#include "metrics/storage/storage.h"

namespace sightline::promql::internal {

// What an expression evaluates to over an evaluator's steps.
struct EvalValue {
  ValueType type = ValueType::kNone;
  Matrix series;                // kVector (points at steps) or kMatrix (raw samples).
  std::vector<double> scalars;  // kScalar: one value per step.
  std::string str;              // kString.
};

// An evaluation error with Prometheus's message (errorType "execution").
inline Status ExecError(std::string msg) { return FailedPreconditionError(std::move(msg)); }

inline constexpr std::string_view kDuplicateLabelsetMsg =
    "vector cannot contain metrics with the same labelset";

// Selection window of one vector selector, computed when the query is
// prepared (Prometheus's getTimeRangesForSelector).
struct SelectRange {
  int64_t mint = 0;
  int64_t maxt = 0;
  int64_t range_ms = 0;  // Of the enclosing matrix selector, if any.
  std::string func;      // Enclosing function, for SelectHints.
};

// State shared by all evaluators of one query.
class QueryState {
 public:
  const EngineOptions* opts = nullptr;
  bool v3 = true;
  bool delayed_name_removal = false;
  int64_t lookback_ms = 0;
  int64_t query_start = 0;  // For @ start() / @ end().
  int64_t query_end = 0;
  int64_t query_step = 0;  // 0 for instant queries.
  std::string_view query_text;
  metrics::Querier* querier = nullptr;
  std::unordered_map<const VectorSelector*, SelectRange> ranges;
  Annotations annotations;

  // Deadline and cancellation, polled by Interrupted().
  std::chrono::steady_clock::time_point deadline;
  const std::atomic<bool>* cancel = nullptr;

  // Series of a selector, selected once per query (the Series objects stay
  // valid while the querier lives).
  Result<const std::vector<const metrics::Series*>*> Select(const VectorSelector& vs);

  // Sample accounting against max_samples.
  Status AddSamples(int64_t n);
  void ReleaseSamples(int64_t n) { current_samples_ -= n; }
  int64_t current_samples() const { return current_samples_; }

  // OK, or the timeout / cancellation error. Cheap enough to call per series.
  Status Interrupted();

  // The @ timestamp of a selector or subquery, resolving start()/end().
  std::optional<int64_t> AtTs(const std::optional<int64_t>& ts, AtModifier at) const;

  // Marks `s` as having lost its metric name: removes __name__ now (2.x),
  // or flags it for removal at the end of evaluation (3.x delayed removal).
  void DropName(Series& s) const;
  Labels DropNameLabels(const Labels& l) const;

 private:
  std::unordered_map<const VectorSelector*, std::vector<const metrics::Series*>> selected_;
  std::vector<std::unique_ptr<metrics::SeriesSet>> sets_;
  int64_t current_samples_ = 0;
  uint32_t poll_counter_ = 0;
};

struct RangeCall;
// Receives the output series of a range function with the index of its
// source series.
using RangeSink = std::function<Status(size_t src_index, Series&& s)>;

class Evaluator {
 public:
  Evaluator(QueryState* q, int64_t start, int64_t end, int64_t interval);

  Result<EvalValue> Eval(const Expr& e);
  Result<EvalValue> EvalNode(const Expr& e);

  size_t num_steps() const { return num_steps_; }
  int64_t start() const { return start_; }
  int64_t end() const { return end_; }
  int64_t interval() const { return interval_; }
  int64_t Ts(size_t step) const { return start_ + static_cast<int64_t>(step) * interval_; }
  size_t StepOf(int64_t t) const { return static_cast<size_t>((t - start_) / interval_); }
  QueryState* q() const { return q_; }

  // engine_aggregate.cc
  Result<EvalValue> EvalAggregate(const AggregateExpr& e);
  // Aggregates a range function's output as it is produced; nullopt when
  // that does not pay off (many groups) and the caller should materialise.
  Result<std::optional<EvalValue>> StreamAggregate(const AggregateExpr& e, RangeCall& rc);
  // engine_binary.cc
  Result<EvalValue> EvalBinary(const BinaryExpr& e);
  // engine_functions.cc
  Result<EvalValue> EvalCall(const Call& e);

  // Evaluates an instant-vector or scalar expression as a vector (for
  // arguments), or a scalar as one value per step.
  Result<EvalValue> EvalScalarArg(const Expr& e);

  // Range-vector sources: the series and windows a range function reads,
  // either selected from storage (read one series at a time) or computed by
  // a subquery.
  struct RangeSource {
    int64_t range_ms = 0;
    int64_t offset_ms = 0;
    std::optional<int64_t> at;
    const VectorSelector* selector = nullptr;                      // Matrix selectors.
    const std::vector<const metrics::Series*>* storage = nullptr;  // Matrix selectors.
    Matrix series;                                                 // Subqueries.

    size_t size() const { return storage != nullptr ? storage->size() : series.size(); }
    const Labels& labels(size_t i) const {
      return storage != nullptr ? (*storage)[i]->labels() : series[i].metric;
    }
    bool drop_name(size_t i) const { return storage != nullptr ? false : series[i].drop_name; }
  };
  Result<RangeSource> EvalRangeSource(const Expr& e);
  // The samples of series `i` covering every window of this evaluator
  // (stale markers removed, sorted by time); `buf` is scratch space.
  Status LoadRangeSeries(const RangeSource& src, size_t i, std::vector<FPoint>* buf,
                         std::span<const FPoint>* pts);

  // Window bounds of step `i` for a range source: samples with
  // lo < t <= hi (3.x) or lo <= t <= hi (2.x), lo = hi - range.
  int64_t WindowEnd(const RangeSource& src, size_t i) const {
    return (src.at ? *src.at : Ts(i)) - src.offset_ms;
  }
  bool InWindowLeft(int64_t t, int64_t lo) const { return q_->v3 ? t > lo : t >= lo; }

  // Range-vector functions (engine_functions.cc), in two phases so that an
  // aggregation can consume their output series as they are produced.
  Result<std::unique_ptr<RangeCall>> PrepareRangeCall(const Call& e, int matrix_arg);
  Status RunRangeCall(RangeCall& rc, const RangeSink& sink);
  Result<EvalValue> CollectRangeCall(RangeCall& rc);

 private:
  Result<EvalValue> EvalVectorSelector(const VectorSelector& vs, bool want_timestamps);
  Result<EvalValue> EvalMatrixSelectorInstant(const MatrixSelector& ms);
  Result<EvalValue> EvalSubquery(const SubqueryExpr& sq);
  Result<EvalValue> EvalUnary(const UnaryExpr& e);

  QueryState* q_;
  int64_t start_;
  int64_t end_;
  int64_t interval_;
  size_t num_steps_;

 public:
  // Used by timestamp(): a selector's values replaced by its samples'
  // timestamps in seconds.
  Result<EvalValue> EvalSelectorTimestamps(const VectorSelector& vs) {
    return EvalVectorSelector(vs, true);
  }
};

// A range-vector function call with its arguments evaluated.
struct RangeCall {
  const Call* call = nullptr;
  int matrix_arg = 0;
  int fn = 0;  // engine_functions.cc's RangeFn.
  bool keep_name = false;
  bool absent = false;
  bool info_non_counter = false;
  std::string hw_error;
  std::vector<std::vector<double>> sargs;
  Evaluator::RangeSource src;
  std::vector<bool> present;  // absent_over_time: steps with a sample.
};

// The index of the range-vector argument of `e`, or -1.
int RangeArgIndex(const Call& e);

// Iterates an instant-vector value step by step: for each step timestamp,
// which series have a point there.
class StepCursor {
 public:
  explicit StepCursor(const Matrix& m) : m_(&m), pos_(m.size(), 0) {}
  // Calls fn(series_index, value) for each series with a point at ts, in
  // series order. Steps must be visited in increasing order.
  template <typename Fn>
  void ForEachAt(int64_t ts, Fn&& fn) {
    for (size_t i = 0; i < m_->size(); ++i) {
      const auto& pts = (*m_)[i].floats;
      size_t& p = pos_[i];
      while (p < pts.size() && pts[p].t < ts) ++p;
      if (p < pts.size() && pts[p].t == ts) {
        fn(i, pts[p].f);
        ++p;
      }
    }
  }

 private:
  const Matrix* m_;
  std::vector<size_t> pos_;
};

// Hash of a label set for unordered containers.
struct LabelsHash {
  size_t operator()(const Labels& l) const { return static_cast<size_t>(l.Hash()); }
};

// Collects output series keyed by labels in first-seen order; a second value
// for the same labels at the same timestamp is the duplicate-labelset error.
class SeriesCollector {
 public:
  // Index of the series with these labels, created if new.
  size_t IndexOf(const Labels& l, bool drop_name = false);
  // Appends (t, f) to series `idx`; ExecError on a duplicate timestamp.
  Status Add(size_t idx, int64_t t, double f);
  Matrix Take();
  size_t size() const { return out_.size(); }
  Series& at(size_t idx) { return out_[idx]; }

 private:
  std::unordered_map<Labels, size_t, LabelsHash> index_;
  Matrix out_;
};

// Merges series with identical labels (points interleaved by time); ExecError
// kDuplicateLabelsetMsg when two have a point at the same time. Keeps the
// first-seen order.
Status MergeSameLabels(Matrix* m);

// ExecError kDuplicateLabelsetMsg if two series have the same labels.
Status CheckNoSameLabelset(const Matrix& m);

// Labels without __name__ (and, for 3.x, without __type__ and __unit__).
Labels WithoutName(const Labels& l, bool v3);

// Go-compatible float helpers.
double GoMax(double a, double b);  // math.Max
double GoMin(double a, double b);  // math.Min
// Prometheus's Neumaier-compensated summation step. `v3` adds the 3.x
// treatment of infinities (the compensation is reset when the sum overflows).
void KahanSumInc(double inc, double* sum, double* c, bool v3);
// Prometheus's quantile over values (sorts them; NaN first).
double Quantile(double q, std::vector<double>* values);
// strconv.FormatFloat(v, 'f', -1, 64).
std::string FormatFloatF(double v);
// Parses a float like Go's strconv.ParseFloat (Inf, NaN, hex, ...).
bool ParseGoFloat(std::string_view s, double* out);
// Go's strings.HasSuffix etc. are trivial; label name validity:
bool IsValidLabelName(std::string_view name, bool utf8);

}  // namespace sightline::promql::internal
