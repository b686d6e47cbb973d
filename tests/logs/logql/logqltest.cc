#include "logqltest.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "logs/logql/engine.h"
#include "logs/logql/stages.h"
#include "memory_querier.h"
#include "metrics/promql/go_text.h"

namespace sightline::logs::logql::testing {
namespace {

std::string TrimWs(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Strips a `#` comment outside "…" and `…`.
std::string StripComment(const std::string& line) {
  char q = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (q != 0) {
      if (c == '\\' && q == '"') {
        ++i;
        continue;
      }
      if (c == q) q = 0;
      continue;
    }
    if (c == '"' || c == '`') q = c;
    else if (c == '#') return line.substr(0, i);
  }
  return line;
}

bool ParseTime(std::string_view s, int64_t* ns) {
  auto d = ParseGoDuration(s);
  if (!d.ok()) return false;
  *ns = *d;
  return true;
}

// {a="b", c="d"} -> Labels. `pos` advances past the closing brace.
bool ParseLabelSet(std::string_view s, size_t* pos, Labels* out) {
  size_t i = *pos;
  while (i < s.size() && s[i] == ' ') ++i;
  if (i >= s.size() || s[i] != '{') return false;
  ++i;
  std::vector<tsdb::Label> ls;
  while (true) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    if (i >= s.size()) return false;
    if (s[i] == '}') {
      ++i;
      break;
    }
    size_t b = i;
    std::string name;
    if (s[i] == '"') {
      size_t e = s.find('"', i + 1);
      if (e == std::string_view::npos) return false;
      name = std::string(s.substr(i + 1, e - i - 1));
      i = e + 1;
    } else {
      while (i < s.size() && s[i] != '=' && s[i] != ' ') ++i;
      name = std::string(s.substr(b, i - b));
    }
    while (i < s.size() && s[i] == ' ') ++i;
    if (i >= s.size() || s[i] != '=') return false;
    ++i;
    while (i < s.size() && s[i] == ' ') ++i;
    if (i >= s.size() || s[i] != '"') return false;
    size_t e = i + 1;
    while (e < s.size() && s[e] != '"') {
      if (s[e] == '\\') ++e;
      ++e;
    }
    if (e >= s.size()) return false;
    auto v = promql::UnquoteGo(s.substr(i, e - i + 1));
    if (!v.ok()) return false;
    ls.push_back({name, *v});
    i = e + 1;
  }
  auto l = Labels::FromUnsorted(std::move(ls));
  if (!l.ok()) return false;
  *out = std::move(*l);
  *pos = i;
  return true;
}

bool ParseValue(std::string_view tok, std::vector<std::optional<double>>* out) {
  if (tok == "_") {
    out->push_back(std::nullopt);
    return true;
  }
  auto one = [](std::string_view t, double* v) {
    if (t == "NaN") { *v = std::nan(""); return true; }
    if (t == "Inf" || t == "+Inf") { *v = HUGE_VAL; return true; }
    if (t == "-Inf") { *v = -HUGE_VAL; return true; }
    std::string s(t);
    char* end = nullptr;
    *v = std::strtod(s.c_str(), &end);
    return !s.empty() && *end == '\0';
  };
  double v;
  if (one(tok, &v)) {
    out->push_back(v);
    return true;
  }
  // base[+-step]xcount
  size_t x = tok.rfind('x');
  if (x == std::string_view::npos) return false;
  std::string_view head = tok.substr(0, x);
  int count = std::atoi(std::string(tok.substr(x + 1)).c_str());
  double base = 0, step = 0;
  size_t sign = std::string_view::npos;
  for (size_t k = 1; k < head.size(); ++k) {
    if ((head[k] == '+' || head[k] == '-') && head[k - 1] != 'e' && head[k - 1] != 'E') sign = k;
  }
  if (sign != std::string_view::npos) {
    if (!one(head.substr(0, sign), &base) || !one(head.substr(sign + 1), &step)) return false;
    if (head[sign] == '-') step = -step;
  } else if (!one(head, &base)) {
    return false;
  }
  for (int k = 0; k <= count; ++k) out->push_back(base + step * k);
  return true;
}

bool AlmostEqual(double a, double b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  if (a == b) return true;
  double diff = std::fabs(a - b);
  double eps = 1e-6;
  if (a == 0 || b == 0 || diff < std::numeric_limits<double>::min()) {
    return diff < eps * std::numeric_limits<double>::min();
  }
  return diff / (std::fabs(a) + std::fabs(b)) < eps;
}

struct Expected {
  Labels labels;
  std::vector<std::optional<double>> values;
};

class Runner {
 public:
  explicit Runner(std::string path) : path_(std::move(path)) {}

  ScriptReport Run() {
    std::ifstream in(path_);
    if (!in) {
      report_.failed++;
      report_.failures.push_back(path_ + ": cannot open");
      return report_;
    }
    std::string l;
    while (std::getline(in, l)) lines_.push_back(l);
    size_t i = 0;
    while (i < lines_.size()) {
      std::string raw = StripComment(lines_[i]);
      std::string t = TrimWs(raw);
      if (t.empty()) {
        ++i;
        continue;
      }
      if (t == "clear") {
        q_.Clear();
        ++i;
      } else if (t == "load") {
        i = Load(i + 1);
      } else if (t.rfind("eval ", 0) == 0) {
        i = Eval(i);
      } else {
        Fail(i, "", "unknown command: " + t);
        ++i;
      }
    }
    return report_;
  }

 private:
  bool Indented(size_t i) const {
    return i < lines_.size() && !lines_[i].empty() && (lines_[i][0] == ' ' || lines_[i][0] == '\t');
  }

  void Fail(size_t line, const std::string& query, const std::string& what) {
    report_.failed++;
    report_.failures.push_back(fmt::format("{}:{}: {}: {}", path_, line + 1, query, what));
  }

  size_t Load(size_t i) {
    while (i < lines_.size()) {
      std::string t = TrimWs(StripComment(lines_[i]));
      if (t.empty()) {
        if (Indented(i) || lines_[i].empty()) {
          // blank line ends the block
          if (lines_[i].empty() || TrimWs(lines_[i]).empty()) return i + 1;
          ++i;
          continue;
        }
      }
      if (!Indented(i)) return i;
      if (!LoadLine(t)) Fail(i, "", "bad load line: " + t);
      ++i;
    }
    return i;
  }

  bool LoadLine(const std::string& t) {
    size_t pos = 0;
    Labels stream;
    if (!ParseLabelSet(t, &pos, &stream)) return false;
    {
      // A stream label with an empty value does not exist (as at ingest).
      std::vector<tsdb::Label> kept;
      for (const auto& l : stream) {
        if (!l.value.empty()) kept.push_back(l);
      }
      stream = Labels::FromSortedUnchecked(std::move(kept));
    }
    while (pos < t.size() && t[pos] == ' ') ++pos;
    if (pos >= t.size()) return false;
    char q = t[pos];
    if (q != '"' && q != '`') return false;
    size_t e = t.find(q, pos + 1);
    if (e == std::string::npos) return false;
    std::string line = t.substr(pos + 1, e - pos - 1);  // no unescaping, per DSL.md
    pos = e + 1;
    while (pos < t.size() && t[pos] == ' ') ++pos;
    if (pos >= t.size() || t[pos] != '@') return false;
    ++pos;
    while (pos < t.size() && t[pos] == ' ') ++pos;
    size_t te = t.find(' ', pos);
    std::string start_s = t.substr(pos, te == std::string::npos ? std::string::npos : te - pos);
    int64_t start;
    if (!ParseTime(start_s, &start)) return false;
    pos = te == std::string::npos ? t.size() : te;
    int64_t step = 0;
    int count = 1;
    Labels md;
    while (pos < t.size()) {
      while (pos < t.size() && t[pos] == ' ') ++pos;
      if (pos >= t.size()) break;
      if (t[pos] != '[') return false;
      size_t close = pos + 1;
      char qq = 0;
      while (close < t.size()) {
        if (qq) {
          if (t[close] == '\\') ++close;
          else if (t[close] == qq) qq = 0;
        } else if (t[close] == '"') {
          qq = '"';
        } else if (t[close] == ']') {
          break;
        }
        ++close;
      }
      if (close >= t.size()) return false;
      std::string inner = TrimWs(t.substr(pos + 1, close - pos - 1));
      pos = close + 1;
      if (inner.rfind("repeat every ", 0) == 0) {
        std::istringstream is(inner.substr(13));
        std::string st, kw;
        is >> st >> kw >> count;
        if (kw != "for" || !ParseTime(st, &step)) return false;
      } else if (inner.rfind("metadata", 0) == 0) {
        std::string body = "{" + inner.substr(8) + "}";
        // key="value" pairs separated by spaces -> reuse the label-set parser.
        size_t p2 = 0;
        if (!ParseLabelSet(body, &p2, &md)) return false;
      } else {
        return false;
      }
    }
    for (int k = 0; k < count; ++k) {
      Entry en;
      en.timestamp_ns = start + step * k;
      std::string ln = line;
      size_t f;
      while ((f = ln.find("{{.i}}")) != std::string::npos) ln.replace(f, 6, std::to_string(k));
      en.line = std::move(ln);
      en.structured_metadata = md;
      q_.Add(stream, std::move(en));
    }
    return true;
  }

  size_t Eval(size_t i) {
    const size_t eval_line = i;
    std::string t = TrimWs(StripComment(lines_[i]));
    QueryParams p;
    std::string query;
    bool instant;
    std::istringstream is(t);
    std::string w1, w2;
    is >> w1 >> w2;
    size_t n_steps = 1;
    if (w2 == "instant") {
      std::string at, ts;
      is >> at >> ts;
      int64_t v;
      if (at != "at" || !ParseTime(ts, &v)) {
        Fail(i, t, "bad eval line");
        return SkipBlock(i + 1);
      }
      p.start_ns = p.end_ns = v;
      p.step_ns = 0;
      instant = true;
    } else if (w2 == "range") {
      std::string from, t0, to, t1, step, st;
      is >> from >> t0 >> to >> t1 >> step >> st;
      int64_t a, b, c;
      if (from != "from" || to != "to" || step != "step" || !ParseTime(t0, &a) ||
          !ParseTime(t1, &b) || !ParseTime(st, &c)) {
        Fail(i, t, "bad eval line");
        return SkipBlock(i + 1);
      }
      p.start_ns = a;
      p.end_ns = b;
      p.step_ns = c;
      n_steps = static_cast<size_t>((b - a) / c) + 1;
      instant = false;
    } else {
      Fail(i, t, "bad eval line");
      return SkipBlock(i + 1);
    }
    std::getline(is, query);
    query = TrimWs(query);
    p.query = query;

    // Expected block.
    std::vector<Expected> expected;
    std::optional<double> scalar;
    bool expect_empty = false, expect_fail = false, ordered = false;
    std::string fail_msg, fail_regex;
    ++i;
    bool bad = false;
    while (i < lines_.size() && Indented(i)) {
      std::string e = TrimWs(StripComment(lines_[i]));
      ++i;
      if (e.empty()) continue;
      if (e == "expect empty") {
        expect_empty = true;
      } else if (e.rfind("expect fail", 0) == 0) {
        expect_fail = true;
        std::string rest = TrimWs(e.substr(11));
        if (rest.rfind("msg:", 0) == 0) fail_msg = TrimWs(rest.substr(4));
        if (rest.rfind("regex:", 0) == 0) fail_regex = TrimWs(rest.substr(6));
      } else if (e == "expect ordered") {
        ordered = true;
      } else if (e.rfind("skip values-comparison", 0) == 0) {
        // Other execution stacks only; the direct stack compares values.
      } else if (e[0] == '{') {
        Expected ex;
        size_t pos = 0;
        if (!ParseLabelSet(e, &pos, &ex.labels)) {
          bad = true;
          continue;
        }
        std::istringstream vs(e.substr(pos));
        std::string tok;
        while (vs >> tok) {
          if (!ParseValue(tok, &ex.values)) bad = true;
        }
        expected.push_back(std::move(ex));
      } else {
        std::vector<std::optional<double>> v;
        if (ParseValue(e, &v) && v.size() == 1 && v[0]) scalar = *v[0];
        else bad = true;
      }
    }
    if (bad) {
      Fail(eval_line, query, "cannot parse the expected block");
      return i;
    }

    auto res = engine_.Exec(q_, p);
    if (expect_fail) {
      if (res.ok()) {
        Fail(eval_line, query, "expected a failure, got success");
        return i;
      }
      const std::string& msg = res.status().message();
      if (!fail_msg.empty() && msg.find(fail_msg) == std::string::npos) {
        Fail(eval_line, query, fmt::format("error {:?} does not contain {:?}", msg, fail_msg));
        return i;
      }
      if (!fail_regex.empty()) {
        re2::RE2 re(fail_regex);
        if (!re2::RE2::PartialMatch(msg, re)) {
          Fail(eval_line, query, fmt::format("error {:?} does not match /{}/", msg, fail_regex));
          return i;
        }
      }
      report_.passed++;
      return i;
    }
    if (!res.ok()) {
      Fail(eval_line, query, "unexpected error: " + res.status().message());
      return i;
    }
    std::string err = Compare(*res, instant, n_steps, p, expected, scalar, expect_empty, ordered);
    if (!err.empty()) {
      Fail(eval_line, query, err);
    } else {
      report_.passed++;
    }
    return i;
  }

  static std::string Show(const Labels& l) { return l.ToString(); }

  std::string Compare(const QueryResult& r, bool instant, size_t n_steps, const QueryParams& p,
                      const std::vector<Expected>& exp, std::optional<double> scalar,
                      bool expect_empty, bool ordered) {
    if (scalar) {
      if (r.type != ResultType::kScalar) return "expected a scalar, got " + std::string(ResultTypeString(r.type));
      if (!AlmostEqual(r.scalar.v, *scalar)) {
        return fmt::format("scalar: got {}, want {}", r.scalar.v, *scalar);
      }
      return "";
    }
    if (instant) {
      if (r.type == ResultType::kScalar) return "expected a vector, got a scalar";
      if (r.type != ResultType::kVector) return "expected a vector";
      if (expect_empty) {
        if (!r.vector.empty()) return fmt::format("expected empty, got {} series, first {}", r.vector.size(), Show(r.vector[0].metric));
        return "";
      }
      if (exp.empty()) return "no expected result (harness error)";
      if (r.vector.size() != exp.size()) {
        std::string got;
        for (const auto& s : r.vector) got += " " + Show(s.metric) + "=" + promql::FormatFloatV(s.v);
        return fmt::format("got {} series, want {}:{}", r.vector.size(), exp.size(), got);
      }
      for (size_t k = 0; k < exp.size(); ++k) {
        const Expected& e = exp[k];
        if (e.values.size() != 1 || !e.values[0]) return "bad expected vector line";
        const VectorSample* found = nullptr;
        if (ordered) {
          if (r.vector[k].metric == e.labels) found = &r.vector[k];
          else return fmt::format("position {}: got {}, want {}", k, Show(r.vector[k].metric), Show(e.labels));
        } else {
          for (const auto& s : r.vector) {
            if (s.metric == e.labels) found = &s;
          }
        }
        if (found == nullptr) {
          std::string got;
          for (const auto& s : r.vector) got += " " + Show(s.metric);
          return "missing series " + Show(e.labels) + "; got" + got;
        }
        if (!AlmostEqual(found->v, *e.values[0])) {
          return fmt::format("{}: got {}, want {}", Show(e.labels), found->v, *e.values[0]);
        }
      }
      return "";
    }
    if (r.type != ResultType::kMatrix) return "expected a matrix, got " + std::string(ResultTypeString(r.type));
    if (expect_empty) {
      if (!r.matrix.empty()) return fmt::format("expected empty, got {} series", r.matrix.size());
      return "";
    }
    if (exp.empty()) return "no expected result (harness error)";
    if (r.matrix.size() != exp.size()) {
      std::string got;
      for (const auto& s : r.matrix) got += " " + Show(s.metric);
      return fmt::format("got {} series, want {}:{}", r.matrix.size(), exp.size(), got);
    }
    for (const auto& e : exp) {
      const MatrixSeries* found = nullptr;
      for (const auto& s : r.matrix) {
        if (s.metric == e.labels) found = &s;
      }
      if (found == nullptr) {
        std::string got;
        for (const auto& s : r.matrix) got += " " + Show(s.metric);
        return "missing series " + Show(e.labels) + "; got" + got;
      }
      if (e.values.size() != n_steps) {
        return fmt::format("{}: expected {} points in the script for {} steps", Show(e.labels), e.values.size(), n_steps);
      }
      std::vector<std::optional<double>> got(n_steps);
      for (const auto& pt : found->points) {
        size_t k = static_cast<size_t>((pt.t_ns - p.start_ns) / p.step_ns);
        if (k < n_steps) got[k] = pt.v;
      }
      for (size_t k = 0; k < n_steps; ++k) {
        bool ok = (!got[k] && !e.values[k]) ||
                  (got[k] && e.values[k] && AlmostEqual(*got[k], *e.values[k]));
        if (!ok) {
          std::string gs, ws;
          for (auto& g : got) gs += " " + (g ? promql::FormatFloatV(*g) : "_");
          for (auto& w : e.values) ws += " " + (w ? promql::FormatFloatV(*w) : "_");
          return fmt::format("{}: got{}, want{}", Show(e.labels), gs, ws);
        }
      }
    }
    return "";
  }

  size_t SkipBlock(size_t i) {
    while (i < lines_.size() && Indented(i)) ++i;
    return i;
  }

  std::string path_;
  std::vector<std::string> lines_;
  MemoryLogQuerier q_;
  Engine engine_;
  ScriptReport report_;
};

}  // namespace

ScriptReport RunLogqlScript(const std::string& path) { return Runner(path).Run(); }

}  // namespace sightline::logs::logql::testing
