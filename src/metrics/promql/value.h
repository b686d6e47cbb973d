// PromQL values as the engine returns them: instant vectors, range vectors
// (matrices), scalars and strings, plus the annotations (warnings and infos)
// that accompany a result, and the mapping from engine errors to the
// Prometheus API's errorType values.
//
// These are plain values meant to be serialised by the HTTP API: floats are
// float64, timestamps are milliseconds since the epoch. Native histograms are
// not represented yet (they are out of scope; the engine rejects them).
//
// Thread-safety: values; copy freely.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "metrics/promql/ast.h"
#include "metrics/promql/functions.h"
#include "metrics/tsdb/labels.h"

namespace sightline::promql {

using tsdb::Label;
using tsdb::Labels;
using tsdb::LabelsBuilder;

struct FPoint {
  int64_t t = 0;
  double f = 0;
};

// One element of an instant vector.
struct Sample {
  Labels metric;
  int64_t t = 0;
  double f = 0;
};
using Vector = std::vector<Sample>;

// One series of a range vector (or of an intermediate result). `drop_name` is
// engine-internal (3.x delayed __name__ removal) and always false in results.
struct Series {
  Labels metric;
  std::vector<FPoint> floats;
  bool drop_name = false;
};
using Matrix = std::vector<Series>;

struct Scalar {
  int64_t t = 0;
  double v = 0;
};

struct StringValue {
  int64_t t = 0;
  std::string v;
};

// Prometheus's annotations: non-fatal remarks about a query. Messages carry
// Prometheus's prefixes ("PromQL warning: ...", "PromQL info: ...").
struct Annotation {
  enum class Kind { kWarning, kInfo };
  Kind kind = Kind::kWarning;
  std::string message;
  PosRange pos;  // Of the expression the remark is about; {0,0} when unknown.
  bool has_pos = false;
};

class Annotations {
 public:
  // Adds unless the same kind and message (and position) is already present.
  void Add(Annotation a);
  void AddWarning(std::string message, PosRange pos);
  void AddInfo(std::string message, PosRange pos);
  void Merge(const Annotations& other);

  const std::vector<Annotation>& items() const { return items_; }
  bool empty() const { return items_.empty(); }

  // Messages as Prometheus's API prints them: with " (line:col)" of the
  // expression's start in `query` appended when `query` is not empty.
  std::vector<std::string> Warnings(std::string_view query = {}) const;
  std::vector<std::string> Infos(std::string_view query = {}) const;

 private:
  std::vector<Annotation> items_;
  std::unordered_set<std::string> keys_;  // For de-duplication.
};

// The result of a query. `type` says which member holds the value:
// kVector → vector, kMatrix → matrix, kScalar → scalar, kString → string.
// Instant queries return any type; range queries return kMatrix.
struct QueryResult {
  ValueType type = ValueType::kNone;
  Vector vector;
  Matrix matrix;
  Scalar scalar;
  StringValue string;
  Annotations annotations;
};

// The Prometheus API's errorType for a failed query.
enum class ErrorType { kNone, kBadData, kExecution, kTimeout, kCanceled, kInternal };

// "bad_data", "execution", "timeout", "canceled", "internal", "".
std::string_view ErrorTypeString(ErrorType t);

// How an engine Status maps to errorType: InvalidArgument (parse errors,
// invalid parameters) → bad_data; DeadlineExceeded → timeout; Cancelled →
// canceled; Internal/Unavailable/DataLoss (storage) → internal; anything else
// (evaluation errors such as "vector cannot contain metrics with the same
// labelset" or the max-samples limit) → execution.
ErrorType ClassifyError(const Status& s);

}  // namespace sightline::promql
