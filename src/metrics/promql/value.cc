#include "metrics/promql/value.h"

#include <algorithm>

namespace sightline::promql {
namespace {

// " (line:col)" for the start of `pos` in `query`, as Prometheus appends to
// annotation messages.
std::string PositionSuffix(std::string_view query, PosRange pos) {
  int line = 1, col = 1;
  const size_t end = std::min<size_t>(static_cast<size_t>(std::max(pos.start, 0)), query.size());
  for (size_t i = 0; i < end; ++i) {
    if (query[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return " (" + std::to_string(line) + ":" + std::to_string(col) + ")";
}

std::vector<std::string> Messages(const std::vector<Annotation>& items, Annotation::Kind kind,
                                  std::string_view query) {
  std::vector<std::string> out;
  for (const Annotation& a : items) {
    if (a.kind != kind) continue;
    if (!query.empty() && a.has_pos) {
      out.push_back(a.message + PositionSuffix(query, a.pos));
    } else {
      out.push_back(a.message);
    }
  }
  return out;
}

}  // namespace

void Annotations::Add(Annotation a) {
  std::string key = std::to_string(static_cast<int>(a.kind)) + ":" + std::to_string(a.pos.start) +
                    ":" + std::to_string(a.pos.end) + ":" + a.message;
  if (!keys_.insert(std::move(key)).second) return;
  items_.push_back(std::move(a));
}

void Annotations::AddWarning(std::string message, PosRange pos) {
  Add(Annotation{Annotation::Kind::kWarning, std::move(message), pos, true});
}

void Annotations::AddInfo(std::string message, PosRange pos) {
  Add(Annotation{Annotation::Kind::kInfo, std::move(message), pos, true});
}

void Annotations::Merge(const Annotations& other) {
  for (const Annotation& a : other.items_) Add(a);
}

std::vector<std::string> Annotations::Warnings(std::string_view query) const {
  return Messages(items_, Annotation::Kind::kWarning, query);
}

std::vector<std::string> Annotations::Infos(std::string_view query) const {
  return Messages(items_, Annotation::Kind::kInfo, query);
}

std::string_view ErrorTypeString(ErrorType t) {
  switch (t) {
    case ErrorType::kNone:
      return "";
    case ErrorType::kBadData:
      return "bad_data";
    case ErrorType::kExecution:
      return "execution";
    case ErrorType::kTimeout:
      return "timeout";
    case ErrorType::kCanceled:
      return "canceled";
    case ErrorType::kInternal:
      return "internal";
  }
  return "";
}

ErrorType ClassifyError(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return ErrorType::kNone;
    case StatusCode::kInvalidArgument:
      return ErrorType::kBadData;
    case StatusCode::kDeadlineExceeded:
      return ErrorType::kTimeout;
    case StatusCode::kCancelled:
      return ErrorType::kCanceled;
    case StatusCode::kInternal:
    case StatusCode::kUnavailable:
    case StatusCode::kDataLoss:
      return ErrorType::kInternal;
    default:
      return ErrorType::kExecution;
  }
}

}  // namespace sightline::promql
