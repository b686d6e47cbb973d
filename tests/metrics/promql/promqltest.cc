#include "promqltest.h"

#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

#include "metrics/promql/duration.h"
#include "metrics/promql/go_text.h"
#include "metrics/promql/parser.h"
#include "metrics/storage/memory_storage.h"

namespace sightline::promql::promqltest {
namespace {

constexpr std::string_view kTenant = "test";
constexpr double kEpsilon = 0.000001;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Prometheus's almost.Equal.
bool AlmostEqual(double a, double b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  if (a == b) return true;
  constexpr double kMinNormal = 2.2250738585072014e-308;
  const double abs_sum = std::fabs(a) + std::fabs(b);
  const double diff = std::fabs(a - b);
  if (a == 0 || b == 0 || abs_sum < kMinNormal) return diff < kEpsilon * kMinNormal;
  return diff / std::min(abs_sum, std::numeric_limits<double>::max()) < kEpsilon;
}

std::string Fmt(double v) { return FormatFloatV(v); }

// A value of the expanding series notation.
struct SeqValue {
  bool omitted = false;
  double value = 0;
};

bool ParseNumber(std::string_view s, double* out) {
  std::string str(s);
  std::string lower;
  for (char c : str) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view body = lower;
  bool neg = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "infinity") {
    *out = neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return true;
  }
  if (body == "nan") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (body.empty()) return false;
  for (char c : body) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' ||
          c == '-' || c == 'x' || (c >= 'a' && c <= 'f') || c == 'p' || c == '_')) {
      return false;
    }
  }
  std::string clean;
  for (char c : str) {
    if (c != '_') clean += c;
  }
  char* end = nullptr;
  const double v = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return false;
  *out = v;
  return true;
}

// One token of a series' values: `_`, `_xN`, `stale`, `N`, `NxM`, `A+BxN`, `A-BxN`.
bool ParseValueToken(std::string_view tok, std::vector<SeqValue>* out) {
  auto parse_count = [](std::string_view s, uint64_t* n) {
    if (s.empty()) return false;
    uint64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    *n = v;
    return true;
  };
  if (tok == "_") {
    out->push_back({true, 0});
    return true;
  }
  if (tok == "stale") {
    out->push_back({false, metrics::StaleNaN()});
    return true;
  }
  const size_t x = tok.rfind('x');
  uint64_t n = 0;
  if (x != std::string_view::npos && x > 0 && parse_count(tok.substr(x + 1), &n)) {
    std::string_view base = tok.substr(0, x);
    if (base == "_") {
      for (uint64_t i = 0; i < n; ++i) out->push_back({true, 0});
      return true;
    }
    // A+B or A-B: the sign that is not leading and not an exponent's.
    size_t op = std::string_view::npos;
    for (size_t i = 1; i < base.size(); ++i) {
      if ((base[i] == '+' || base[i] == '-') && base[i - 1] != 'e' && base[i - 1] != 'E') {
        op = i;
        break;
      }
    }
    double a, b = 0;
    if (op == std::string_view::npos) {
      if (base == "stale") {
        for (uint64_t i = 0; i <= n; ++i) out->push_back({false, metrics::StaleNaN()});
        return true;
      }
      if (!ParseNumber(base, &a)) return false;
    } else {
      if (!ParseNumber(base.substr(0, op), &a)) return false;
      if (!ParseNumber(base.substr(op), &b)) return false;
    }
    for (uint64_t i = 0; i <= n; ++i) {
      out->push_back({false, a});
      a += b;
    }
    return true;
  }
  double v;
  if (!ParseNumber(tok, &v)) return false;
  out->push_back({false, v});
  return true;
}

// Splits `metric{labels} values...` into the metric part and the rest.
bool SplitSeries(std::string_view line, std::string_view* metric, std::string_view* rest) {
  size_t i = 0;
  if (line.empty()) return false;
  if (line[0] != '{') {
    while (i < line.size() && line[i] != '{' && line[i] != '@' && line[i] != ' ' && line[i] != '\t')
      ++i;
  }
  if (i < line.size() && line[i] == '{') {
    bool in_quote = false;
    char q = 0;
    for (; i < line.size(); ++i) {
      const char c = line[i];
      if (in_quote) {
        if (c == '\\') {
          ++i;
        } else if (c == q) {
          in_quote = false;
        }
      } else if (c == '"' || c == '\'' || c == '`') {
        in_quote = true;
        q = c;
      } else if (c == '}') {
        ++i;
        break;
      }
    }
  }
  *metric = line.substr(0, i);
  *rest = Trim(line.substr(i));
  return true;
}

struct SeriesLine {
  Labels labels;
  std::vector<SeqValue> values;
  bool histogram = false;
  bool start_timestamps = false;
};

Result<SeriesLine> ParseSeriesLine(std::string_view line, const ParseOptions& popts) {
  SeriesLine out;
  std::string_view metric, rest;
  if (!SplitSeries(line, &metric, &rest)) return InvalidArgumentError("empty series line");
  if (metric != "{}") {
    SL_ASSIGN_OR_RETURN(std::vector<Matcher> ms, ParseMetricSelector(metric, popts));
    LabelsBuilder b;
    for (const Matcher& m : ms) {
      if (m.type() != MatchType::kEqual) {
        return InvalidArgumentError("series description with a non-equality matcher: " +
                                    std::string(line));
      }
      b.Set(m.name(), m.value());
    }
    out.labels = b.Build();
  }
  if (rest.starts_with("@st")) {
    // Start (created) timestamps of the series (3.x, experimental): not
    // supported, the line is ignored.
    out.start_timestamps = true;
    return out;
  }
  if (rest.find("{{") != std::string_view::npos) {
    out.histogram = true;
    return out;
  }
  std::istringstream in{std::string(rest)};
  for (std::string tok; in >> tok;) {
    if (!ParseValueToken(tok, &out.values)) {
      return InvalidArgumentError("cannot parse value \"" + tok + "\" in: " + std::string(line));
    }
  }
  return out;
}

Result<int64_t> ParseTime(std::string_view s) {
  s = Trim(s);
  Result<int64_t> d = ParseDuration(s);
  if (d.ok()) return d;
  bool neg = false;
  std::string_view body = s;
  if (!body.empty() && body[0] == '-') {
    neg = true;
    body.remove_prefix(1);
    Result<int64_t> nd = ParseDuration(body);
    if (nd.ok()) return -*nd;
  }
  double v;
  if (ParseNumber(s, &v)) return static_cast<int64_t>(std::llround(v * 1000));
  (void)neg;
  return InvalidArgumentError("cannot parse time \"" + std::string(s) + "\"");
}

struct Expectation {
  std::string kind;   // fail, warn, info, no_warn, no_info, ordered
  std::string match;  // "", "msg", "regex"
  std::string text;
};

struct EvalCmd {
  int line = 0;
  std::string query;
  bool range = false;
  int64_t start = 0, end = 0, step = 0;
  bool fail = false;
  bool ordered = false;
  std::vector<Expectation> expects;
  // Expected results: by labels, in order of appearance.
  std::vector<std::pair<Labels, std::vector<SeqValue>>> series;
  std::optional<double> scalar;
  std::optional<std::string> string;
  bool expect_range_vector = false;
  int64_t rv_start = 0, rv_end = 0, rv_step = 0;
  std::string parse_error;  // Of the expected-result lines.
};

bool UnsafeForAt(std::string_view fn) {
  static const std::set<std::string_view> kUnsafe = {
      "days_in_month", "day_of_month", "day_of_week",    "day_of_year", "hour",     "minute",
      "month",         "year",         "predict_linear", "time",        "timestamp"};
  return kUnsafe.count(fn) != 0;
}

// Adds `@ ts` to every selector and subquery that has none (not descending
// into subqueries); false if the query uses a time-dependent function.
bool AddAt(Expr& e, int64_t ts) {
  bool safe = true;
  if (auto* vs = e.As<VectorSelector>()) {
    if (!vs->timestamp_ms && vs->at == AtModifier::kNone) vs->timestamp_ms = ts;
    return true;
  }
  if (auto* ms = e.As<MatrixSelector>()) {
    VectorSelector* vs = ms->vector_selector.get();
    if (!vs->timestamp_ms && vs->at == AtModifier::kNone) vs->timestamp_ms = ts;
    return true;
  }
  if (auto* sq = e.As<SubqueryExpr>()) {
    if (!sq->timestamp_ms && sq->at == AtModifier::kNone) sq->timestamp_ms = ts;
    // The inside keeps its timestamps, but unsafe functions still count.
    std::vector<Expr*> stack = {sq->expr.get()};
    while (!stack.empty()) {
      Expr* x = stack.back();
      stack.pop_back();
      if (auto* c = x->As<Call>(); c != nullptr && UnsafeForAt(c->func->name)) safe = false;
      for (Expr* ch : Children(*x)) stack.push_back(ch);
    }
    return safe;
  }
  if (auto* c = e.As<Call>(); c != nullptr && UnsafeForAt(c->func->name)) safe = false;
  for (Expr* ch : Children(e)) safe = AddAt(*ch, ts) && safe;
  return safe;
}

bool DurationDepends(const std::unique_ptr<DurationExpr>& d) {
  return d != nullptr && d->DependsOnQuery();
}

// Whether the value of `e` depends on the query's range or step.
bool DependsOnQueryRange(const Expr& e) {
  if (const auto* c = e.As<Call>()) {
    const std::string_view n = c->func->name;
    if (n == "step" || n == "range" || n == "start" || n == "end") return true;
  }
  if (const auto* vs = e.As<VectorSelector>()) {
    if (DurationDepends(vs->original_offset_expr)) return true;
  }
  if (const auto* ms = e.As<MatrixSelector>()) {
    if (DurationDepends(ms->range_expr)) return true;
  }
  if (const auto* sq = e.As<SubqueryExpr>()) {
    if (DurationDepends(sq->range_expr) || DurationDepends(sq->step_expr) ||
        DurationDepends(sq->original_offset_expr)) {
      return true;
    }
  }
  for (const Expr* c : Children(e)) {
    if (DependsOnQueryRange(*c)) return true;
  }
  return false;
}

class Runner {
 public:
  explicit Runner(const ScriptOptions& opts)
      : opts_(opts), engine_(opts.engine), popts_(engine_.parse_options()) {}

  ScriptReport Run(std::string_view script) {
    std::vector<std::string> lines;
    {
      std::string cur;
      std::istringstream in{std::string(script)};
      for (std::string l; std::getline(in, l);) {
        std::string_view t = Trim(l);
        if (t.starts_with("#")) t = {};
        lines.emplace_back(t);
      }
    }
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::string& l = lines[i];
      if (l.empty()) continue;
      const std::string word = l.substr(0, l.find_first_of(" \t"));
      if (word == "clear") {
        storage_ = std::make_unique<metrics::MemoryStorage>();
        histogram_series_.clear();
      } else if (word == "load" || word == "load_with_nhcb") {
        i = Load(lines, i, word == "load_with_nhcb");
      } else if (word.starts_with("eval")) {
        EvalCmd cmd;
        i = ParseEval(lines, i, &cmd);
        RunEval(cmd);
      } else {
        report_.load_errors.push_back("line " + std::to_string(i + 1) + ": unknown command: " + l);
      }
    }
    return std::move(report_);
  }

 private:
  size_t Load(const std::vector<std::string>& lines, size_t i, bool nhcb) {
    const std::string& head = lines[i];
    const std::string_view arg = Trim(std::string_view(head).substr(head.find_first_of(" \t")));
    Result<int64_t> interval = ParseDuration(arg);
    if (!interval.ok()) {
      report_.load_errors.push_back("line " + std::to_string(i + 1) + ": " +
                                    interval.status().message());
    }
    // As Prometheus's runner: a series defined twice in one block keeps the
    // last definition.
    std::vector<std::pair<Labels, std::pair<int, std::vector<SeqValue>>>> defs;
    for (; i + 1 < lines.size() && !lines[i + 1].empty(); ++i) {
      const std::string& def = lines[i + 1];
      Result<SeriesLine> s = ParseSeriesLine(def, popts_);
      if (!s.ok()) {
        report_.load_errors.push_back("line " + std::to_string(i + 2) + ": " +
                                      s.status().message());
        continue;
      }
      const std::string name(s->labels.Get(kMetricNameLabel));
      if (s->start_timestamps) continue;
      if (s->histogram) {
        histogram_series_.push_back(s->labels);
        continue;
      }
      if (nhcb && name.ends_with("_bucket")) {
        // The native-histogram copy: the name without _bucket, no `le`.
        LabelsBuilder b(s->labels);
        b.Set(kMetricNameLabel, name.substr(0, name.size() - 7));
        b.Del("le");
        histogram_series_.push_back(b.Build());
      }
      auto it = std::find_if(defs.begin(), defs.end(),
                             [&](const auto& d) { return d.first == s->labels; });
      if (it != defs.end()) {
        it->second = {static_cast<int>(i + 2), std::move(s->values)};
      } else {
        defs.push_back({s->labels, {static_cast<int>(i + 2), std::move(s->values)}});
      }
    }
    auto app = storage_->NewAppender(kTenant);
    if (interval.ok()) {
      for (const auto& [labels, def] : defs) {
        const auto& [line, values] = def;
        for (size_t k = 0; k < values.size(); ++k) {
          if (values[k].omitted) continue;
          Result<uint64_t> r =
              app->Append(0, labels, static_cast<int64_t>(k) * *interval, values[k].value);
          if (!r.ok()) {
            report_.load_errors.push_back("line " + std::to_string(line) + ": " +
                                          r.status().message());
            break;
          }
        }
      }
    }
    if (Status st = app->Commit(); !st.ok()) report_.load_errors.push_back(st.message());
    return i;
  }

  size_t ParseEval(const std::vector<std::string>& lines, size_t i, EvalCmd* cmd) {
    const std::string& l = lines[i];
    cmd->line = static_cast<int>(i + 1);
    static const re2::RE2 kInstant(
        R"(^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(\S+?))?\s+(.+)$)");
    static const re2::RE2 kRange(
        R"(^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$)");
    std::string mod, at, from, to, step, query;
    if (re2::RE2::FullMatch(l, kInstant, &mod, &at, &query)) {
      Result<int64_t> t = ParseTime(at.empty() ? "0" : at);
      if (!t.ok()) cmd->parse_error = t.status().message();
      cmd->start = cmd->end = t.value_or(0);
    } else if (re2::RE2::FullMatch(l, kRange, &mod, &from, &to, &step, &query)) {
      cmd->range = true;
      Result<int64_t> a = ParseTime(from), b = ParseTime(to), s = ParseTime(step);
      if (!a.ok() || !b.ok() || !s.ok()) cmd->parse_error = "cannot parse range eval times";
      cmd->start = a.value_or(0);
      cmd->end = b.value_or(0);
      cmd->step = s.value_or(1);
    } else {
      cmd->parse_error = "cannot parse eval line: " + l;
      cmd->query = l;
    }
    cmd->query = cmd->query.empty() ? query : cmd->query;
    if (mod == "fail") cmd->fail = true;
    if (mod == "ordered") cmd->ordered = true;
    if (mod == "warn") cmd->expects.push_back({"warn", "", ""});
    if (mod == "info") cmd->expects.push_back({"info", "", ""});
    for (; i + 1 < lines.size() && !lines[i + 1].empty(); ++i) {
      const std::string& def = lines[i + 1];
      if (def.starts_with("expect ")) {
        ParseExpect(def, cmd);
        continue;
      }
      if (def.starts_with("expected_fail_message") || def.starts_with("expected_fail_regexp")) {
        cmd->fail = true;
        const size_t sp = def.find_first_of(" \t");
        const std::string text(sp == std::string::npos ? "" : Trim(def.substr(sp)));
        cmd->expects.push_back(
            {"fail", def.starts_with("expected_fail_message") ? "msg" : "regex", text});
        continue;
      }
      double v;
      if (ParseNumber(def, &v)) {
        cmd->scalar = v;
        continue;
      }
      Result<SeriesLine> s = ParseSeriesLine(def, popts_);
      if (!s.ok()) {
        cmd->parse_error = s.status().message();
        continue;
      }
      if (s->histogram) {
        cmd->parse_error = "expected native histogram values are not supported";
        continue;
      }
      cmd->series.emplace_back(s->labels, s->values);
    }
    return i;
  }

  void ParseExpect(const std::string& def, EvalCmd* cmd) {
    std::string_view rest = Trim(std::string_view(def).substr(7));
    const size_t sp = rest.find_first_of(" \t:");
    const std::string kind(rest.substr(0, sp));
    rest = sp == std::string_view::npos ? std::string_view() : Trim(rest.substr(sp));
    if (kind == "fail") cmd->fail = true;
    if (kind == "ordered") {
      cmd->ordered = true;
      return;
    }
    if (kind == "string") {
      Result<std::string> s = UnquoteGo(rest);
      if (!s.ok()) {
        cmd->parse_error = "cannot parse expected string: " + std::string(rest);
      } else {
        cmd->string = *s;
      }
      return;
    }
    if (kind == "range") {
      static const re2::RE2 kRv(R"(^vector\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)$)");
      std::string a, b, s;
      if (!re2::RE2::FullMatch(rest, kRv, &a, &b, &s)) {
        cmd->parse_error = "cannot parse: " + def;
        return;
      }
      cmd->expect_range_vector = true;
      cmd->rv_start = ParseTime(a).value_or(0);
      cmd->rv_end = ParseTime(b).value_or(0);
      cmd->rv_step = ParseTime(s).value_or(1);
      return;
    }
    Expectation e{kind, "", ""};
    if (rest.starts_with("msg") || rest.starts_with("regex")) {
      const size_t colon = rest.find(':');
      e.match = std::string(Trim(rest.substr(0, colon)));
      e.text = std::string(Trim(rest.substr(colon + 1)));
      // `expect fail msg: "..."` may quote the message.
      if (e.text.size() >= 2 && e.text.front() == '"' && e.text.back() == '"') {
        Result<std::string> u = UnquoteGo(e.text);
        if (u.ok()) e.text = *u;
      }
    }
    cmd->expects.push_back(std::move(e));
  }

  static bool MatchText(const Expectation& e, const std::string& msg) {
    if (e.match.empty()) return true;
    if (e.match == "msg") return msg == e.text;
    re2::RE2 re(e.text);
    return re.ok() && re2::RE2::PartialMatch(msg, re);
  }

  // Compares a vector (instant result or the middle step of a range query).
  std::string CompareVector(const EvalCmd& cmd, const Vector& v, bool ordered) {
    if (cmd.scalar) return "expected scalar result, but got vector";
    std::unordered_map<std::string, size_t> expected;
    for (size_t i = 0; i < cmd.series.size(); ++i) expected[cmd.series[i].first.ToString()] = i;
    std::set<std::string> seen;
    for (size_t pos = 0; pos < v.size(); ++pos) {
      const std::string key = v[pos].metric.ToString();
      auto it = expected.find(key);
      if (it == expected.end()) {
        return "unexpected metric " + key + " in result, has value " + Fmt(v[pos].f);
      }
      if (ordered && it->second != pos) {
        return "expected metric " + key + " at position " + std::to_string(it->second + 1) +
               " but was at " + std::to_string(pos + 1);
      }
      const auto& vals = cmd.series[it->second].second;
      if (vals.empty()) return "no expected value for " + key;
      if (!AlmostEqual(vals[0].value, v[pos].f)) {
        return "expected " + Fmt(vals[0].value) + " for " + key + " but got " + Fmt(v[pos].f);
      }
      if (!seen.insert(key).second) return "duplicate metric " + key + " in result";
    }
    for (const auto& [key, idx] : expected) {
      if (seen.count(key) == 0) return "expected metric " + key + " not found";
    }
    return "";
  }

  std::string CompareMatrix(const EvalCmd& cmd, const Matrix& m, int64_t start, int64_t end,
                            int64_t step) {
    std::unordered_map<std::string, size_t> expected;
    for (size_t i = 0; i < cmd.series.size(); ++i) expected[cmd.series[i].first.ToString()] = i;
    std::set<std::string> seen;
    for (size_t i = 1; i < m.size(); ++i) {
      if (Labels::Compare(m[i - 1].metric, m[i].metric) >= 0) return "matrix is not sorted";
    }
    for (const Series& s : m) {
      const std::string key = s.metric.ToString();
      auto it = expected.find(key);
      if (it == expected.end()) {
        std::string pts;
        for (const FPoint& p : s.floats) pts += " " + Fmt(p.f) + "@" + std::to_string(p.t);
        return "unexpected metric " + key + " in result, has" + pts;
      }
      seen.insert(key);
      std::vector<FPoint> want;
      const auto& vals = cmd.series[it->second].second;
      for (size_t i = 0; i < vals.size(); ++i) {
        const int64_t t = start + static_cast<int64_t>(i) * step;
        if (t > end) return "expected more points for " + key + " than the range has";
        if (!vals[i].omitted) want.push_back(FPoint{t, vals[i].value});
      }
      if (want.size() != s.floats.size()) {
        std::string got;
        for (const FPoint& p : s.floats) got += " " + Fmt(p.f) + "@" + std::to_string(p.t);
        return "expected " + std::to_string(want.size()) + " points for " + key + ", got " +
               std::to_string(s.floats.size()) + ":" + got;
      }
      for (size_t i = 0; i < want.size(); ++i) {
        if (want[i].t != s.floats[i].t) {
          return "expected timestamp " + std::to_string(want[i].t) + " for " + key + " but got " +
                 std::to_string(s.floats[i].t);
        }
        if (!AlmostEqual(want[i].f, s.floats[i].f)) {
          return "expected " + Fmt(want[i].f) + " for " + key + " at " + std::to_string(want[i].t) +
                 " but got " + Fmt(s.floats[i].f);
        }
      }
    }
    for (const auto& [key, idx] : expected) {
      if (seen.count(key) == 0) return "expected metric " + key + " not found";
    }
    return "";
  }

  std::string CompareResult(const EvalCmd& cmd, const QueryResult& r, bool ordered) {
    switch (r.type) {
      case ValueType::kVector:
        return CompareVector(cmd, r.vector, ordered);
      case ValueType::kScalar:
        if (!cmd.scalar)
          return "expected vector or matrix result, but got scalar " + Fmt(r.scalar.v);
        if (!AlmostEqual(*cmd.scalar, r.scalar.v)) {
          return "expected scalar " + Fmt(*cmd.scalar) + " but got " + Fmt(r.scalar.v);
        }
        return "";
      case ValueType::kString:
        if (!cmd.string) return "unexpected string result \"" + r.string.v + "\"";
        if (*cmd.string != r.string.v) {
          return "expected string \"" + *cmd.string + "\" but got \"" + r.string.v + "\"";
        }
        return "";
      case ValueType::kMatrix:
        if (cmd.range) return CompareMatrix(cmd, r.matrix, cmd.start, cmd.end, cmd.step);
        if (!cmd.expect_range_vector && !cmd.series.empty()) {
          return "received range result on instant evaluation";
        }
        return CompareMatrix(cmd, r.matrix, cmd.rv_start, cmd.rv_end, cmd.rv_step);
      default:
        return "no result";
    }
  }

  std::string CheckAnnotations(const EvalCmd& cmd, const Annotations& a) {
    if (!opts_.check_annotations) return "";
    const std::vector<std::string> warns = a.Warnings(), infos = a.Infos();
    for (const char* kind : {"warn", "info"}) {
      const std::vector<std::string>& got = std::string_view(kind) == "warn" ? warns : infos;
      bool any = false;
      for (const Expectation& e : cmd.expects) {
        if (e.kind == std::string("no_") + kind && !got.empty()) {
          return std::string("expected no ") + kind + " annotations but got: " + got[0];
        }
        if (e.kind != kind) continue;
        any = true;
        bool matched = false;
        for (const std::string& g : got) matched = matched || MatchText(e, g);
        if (!matched) {
          return std::string("expected ") + kind + " annotation" +
                 (e.text.empty() ? "" : " \"" + e.text + "\"") + " but got " +
                 (got.empty() ? "none" : "\"" + got[0] + "\"");
        }
      }
      if (any) {
        for (const std::string& g : got) {
          bool matched = false;
          for (const Expectation& e : cmd.expects) {
            if (e.kind == kind && MatchText(e, g)) matched = true;
          }
          if (!matched) return std::string("unexpected ") + kind + " annotation: " + g;
        }
      }
    }
    return "";
  }

  std::string CheckFailure(const EvalCmd& cmd, const Status& s) {
    for (const Expectation& e : cmd.expects) {
      if (e.kind != "fail" || e.match.empty()) continue;
      if (!MatchText(e, s.message())) {
        return "expected error \"" + e.text + "\" but got \"" + s.message() + "\"";
      }
    }
    return "";
  }

  // Runs one instant query (and its range-mode twin); "" on success.
  std::string RunInstant(const EvalCmd& cmd, const Expr& expr, int64_t t) {
    Result<QueryResult> r = engine_.InstantQuery(*storage_, kTenant, expr, t);
    if (!r.ok()) {
      if (cmd.fail) return CheckFailure(cmd, r.status());
      return "error evaluating query at " + std::to_string(t) + ": " + r.status().message();
    }
    if (cmd.fail) return "expected error evaluating query but got none";
    if (std::string err = CheckAnnotations(cmd, r->annotations); !err.empty()) return err;
    if (std::string err = CompareResult(cmd, *r, cmd.ordered); !err.empty()) return err;
    if (!range_mode_ || r->type == ValueType::kMatrix || r->type == ValueType::kString) {
      return "";
    }
    Result<QueryResult> rr =
        engine_.RangeQuery(*storage_, kTenant, expr, t - 60000, t + 60000, 60000);
    if (!rr.ok()) return "error evaluating query in range mode: " + rr.status().message();
    if (cmd.ordered) return "";
    Vector vec;
    for (const Series& s : rr->matrix) {
      for (const FPoint& p : s.floats) {
        if (p.t == t) {
          vec.push_back(Sample{s.metric, p.t, p.f});
          break;
        }
      }
    }
    QueryResult as_instant;
    if (r->type == ValueType::kScalar) {
      as_instant.type = ValueType::kScalar;
      if (vec.empty()) return "range mode: no value at the middle step";
      as_instant.scalar = Scalar{t, vec[0].f};
    } else {
      as_instant.type = ValueType::kVector;
      as_instant.vector = std::move(vec);
    }
    if (std::string err = CompareResult(cmd, as_instant, false); !err.empty()) {
      return "range mode: " + err;
    }
    return "";
  }

  void RunEval(const EvalCmd& cmd) {
    EvalOutcome o;
    o.line = cmd.line;
    o.query = cmd.query;
    if (Result<ExprPtr> pe = ParseExpr(cmd.query, popts_); pe.ok()) {
      for (const VectorSelector* vs : CollectSelectors(**pe)) {
        for (const Labels& l : histogram_series_) {
          bool all = true;
          for (const Matcher& m : vs->matchers) all = all && m.Matches(l.Get(m.name()));
          if (all) o.uses_native_histogram_data = true;
        }
      }
    }
    auto finish = [&](EvalOutcome::Status st, std::string msg) {
      o.status = st;
      o.message = std::move(msg);
      if (st == EvalOutcome::Status::kPass) ++report_.passed;
      if (st == EvalOutcome::Status::kFail) ++report_.failed;
      if (st == EvalOutcome::Status::kSkip) ++report_.skipped;
      report_.evals.push_back(std::move(o));
    };
    if (auto it = opts_.skip.find(cmd.line); it != opts_.skip.end()) {
      finish(EvalOutcome::Status::kSkip, it->second);
      return;
    }
    if (!cmd.parse_error.empty()) {
      finish(EvalOutcome::Status::kFail, "cannot read the eval: " + cmd.parse_error);
      return;
    }
    Result<ExprPtr> expr = ParseExpr(cmd.query, popts_);
    if (!expr.ok()) {
      if (cmd.fail) {
        std::string err = CheckFailure(cmd, expr.status());
        finish(err.empty() ? EvalOutcome::Status::kPass : EvalOutcome::Status::kFail, err);
      } else {
        finish(EvalOutcome::Status::kFail, "parse error: " + expr.status().message());
      }
      return;
    }
    if (cmd.range) {
      Result<QueryResult> r =
          engine_.RangeQuery(*storage_, kTenant, **expr, cmd.start, cmd.end, cmd.step);
      std::string err;
      if (!r.ok()) {
        err = cmd.fail ? CheckFailure(cmd, r.status())
                       : "error evaluating range query: " + r.status().message();
      } else if (cmd.fail) {
        err = "expected error evaluating query but got none";
      } else {
        err = CheckAnnotations(cmd, r->annotations);
        if (err.empty()) err = CompareResult(cmd, *r, false);
      }
      finish(err.empty() ? EvalOutcome::Status::kPass : EvalOutcome::Status::kFail, err);
      return;
    }
    // Queries that depend on the query's own range or step (step(),
    // range(), start(), end()) answer differently in range mode by design.
    const bool query_dependent = DependsOnQueryRange(**expr);
    range_mode_ = opts_.range_mode_check && !query_dependent;
    std::string err = RunInstant(cmd, **expr, cmd.start);
    if (err.empty() && opts_.at_modifier_check && !query_dependent) {
      ExprPtr with_at = Clone(**expr);
      const int64_t ts = cmd.start;
      if (AddAt(*with_at, ts)) {
        std::vector<int64_t> times = {-10 * ts, 0, ts / 5, ts, 10 * ts};
        if (ts == 0) times = {-1000, 0, 1000};
        for (int64_t t : times) {
          err = RunInstant(cmd, *with_at, t);
          if (!err.empty()) {
            err =
                "with @ " + std::to_string(ts) + " evaluated at " + std::to_string(t) + ": " + err;
            break;
          }
        }
      }
    }
    finish(err.empty() ? EvalOutcome::Status::kPass : EvalOutcome::Status::kFail, err);
  }

  const ScriptOptions& opts_;
  Engine engine_;
  ParseOptions popts_;
  bool range_mode_ = true;
  std::unique_ptr<metrics::MemoryStorage> storage_ = std::make_unique<metrics::MemoryStorage>();
  // Series of the current section that hold native histograms (not loaded).
  std::vector<Labels> histogram_series_;
  ScriptReport report_;
};

}  // namespace

ScriptReport RunScript(std::string_view script, const ScriptOptions& options) {
  Runner r(options);
  return r.Run(script);
}

}  // namespace sightline::promql::promqltest
