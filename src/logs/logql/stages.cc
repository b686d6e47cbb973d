// Pipeline stages: line filters, parsers, label filters, formatters.
#include "logs/logql/stages.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <unordered_set>

#include "logs/logql/json_scan.h"
#include "logs/logql/line_matcher.h"
#include "logs/logql/template.h"
#include "metrics/promql/go_text.h"

namespace sightline::logs::logql {

using promql::QuoteGo;

namespace {

constexpr std::string_view kJsonParserErr = "JSONParserErr";
constexpr std::string_view kLogfmtParserErr = "LogfmtParserErr";
constexpr std::string_view kLabelFilterErr = "LabelFilterErr";
constexpr std::string_view kTemplateFormatErr = "TemplateFormatErr";

// Validates a Go regexp and returns Loki's message on error.
Status CheckRegexp(const std::string& re) {
  auto m = promql::Matcher::Make(promql::MatchType::kRegexp, "x", re,
                                 promql::MatcherOptions{.dot_matches_newline = false});
  if (!m.ok()) return m.status();
  return Status::Ok();
}

std::shared_ptr<const re2::RE2> CompileRe(const std::string& re) {
  re2::RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_dot_nl(false);
  return std::make_shared<const re2::RE2>(re, opts);
}

// ---------------------------------------------------------------- IP ------

struct IpAddr {
  std::array<uint8_t, 16> b{};
  bool v4 = false;
};

bool ParseIp(std::string_view s, IpAddr* out) {
  if (s.empty() || s.size() > 63) return false;
  char buf[64];
  memcpy(buf, s.data(), s.size());
  buf[s.size()] = 0;
  if (s.find(':') == std::string_view::npos) {
    uint8_t v4[4];
    if (inet_pton(AF_INET, buf, v4) != 1) return false;
    out->b = {};
    out->b[10] = 0xff;
    out->b[11] = 0xff;
    memcpy(out->b.data() + 12, v4, 4);
    out->v4 = true;
    return true;
  }
  if (inet_pton(AF_INET6, buf, out->b.data()) != 1) return false;
  out->v4 = false;
  return true;
}

// An ip() pattern: a single address, a range a-b, or a CIDR a/n.
struct IpPattern {
  IpAddr lo, hi;

  bool Contains(const IpAddr& a) const {
    if (a.v4 != lo.v4) return false;
    return std::memcmp(a.b.data(), lo.b.data(), 16) >= 0 &&
           std::memcmp(a.b.data(), hi.b.data(), 16) <= 0;
  }

  // IPv4 patterns: only runs of digits and dots around a '.' can hold one.
  bool MatchesIn4(std::string_view s) const {
    const char* b = s.data();
    const char* e = b + s.size();
    const char* p = b;
    auto digit_or_dot = [](char c) { return (c >= '0' && c <= '9') || c == '.'; };
    while (p < e) {
      const char* dot = static_cast<const char*>(std::memchr(p, '.', static_cast<size_t>(e - p)));
      if (dot == nullptr) return false;
      const char* l = dot;
      while (l > b && digit_or_dot(l[-1])) --l;
      const char* r = dot;
      while (r < e && digit_or_dot(*r)) ++r;
      // Candidates: every maximal dotted-quad inside [l, r).
      for (const char* k = l; k < r;) {
        if (*k == '.') {
          ++k;
          continue;
        }
        const char* m = k;
        int dots = 0;
        while (m < r && (*m != '.' || (dots < 3 && m + 1 < r && m[1] != '.'))) {
          if (*m == '.') ++dots;
          ++m;
        }
        IpAddr a;
        if (dots == 3 && ParseIp(std::string_view(k, static_cast<size_t>(m - k)), &a) && Contains(a)) {
          return true;
        }
        while (k < m && *k != '.') ++k;  // next start: after the first octet
      }
      p = r > dot ? r : dot + 1;
    }
    return false;
  }

  // Whether `s` contains an address inside the pattern anywhere.
  bool MatchesIn(std::string_view s) const {
    if (lo.v4) return MatchesIn4(s);
    size_t i = 0;
    while (i < s.size()) {
      char c = s[i];
      bool hex = std::isxdigit(static_cast<unsigned char>(c)) || c == ':';
      if (!hex) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < s.size() && (std::isxdigit(static_cast<unsigned char>(s[j])) || s[j] == ':' ||
                              s[j] == '.')) {
        ++j;
      }
      std::string_view run = s.substr(i, j - i);
      IpAddr a;
      if (ParseIp(run, &a) && Contains(a)) return true;
      // An IPv4 address inside the run (e.g. "10.0.0.7:80").
      size_t k = 0;
      while (k < run.size()) {
        if (!std::isdigit(static_cast<unsigned char>(run[k]))) {
          ++k;
          continue;
        }
        size_t e = k;
        while (e < run.size() && (std::isdigit(static_cast<unsigned char>(run[e])) || run[e] == '.')) {
          ++e;
        }
        std::string_view cand = run.substr(k, e - k);
        while (!cand.empty() && cand.back() == '.') cand.remove_suffix(1);
        if (ParseIp(cand, &a) && Contains(a)) return true;
        k = e;
      }
      // IPv6 followed by a port or punctuation: try prefixes ending at ':'.
      if (run.find(':') != std::string_view::npos) {
        for (size_t p = run.size(); p > 2; --p) {
          if (run[p - 1] == ':' || run[p - 1] == '.') {
            if (ParseIp(run.substr(0, p - 1), &a) && Contains(a)) return true;
          }
        }
      }
      i = j;
    }
    return false;
  }
};

Result<IpPattern> ParseIpPattern(std::string_view p) {
  auto invalid = [&]() {
    return InvalidArgumentError(fmt::format("ip: invalid pattern: {}", QuoteGo(p)));
  };
  IpPattern out;
  if (size_t dash = p.find('-'); dash != std::string_view::npos) {
    if (!ParseIp(p.substr(0, dash), &out.lo) || !ParseIp(p.substr(dash + 1), &out.hi) ||
        out.lo.v4 != out.hi.v4) {
      return invalid();
    }
    return out;
  }
  if (size_t slash = p.find('/'); slash != std::string_view::npos) {
    IpAddr base;
    if (!ParseIp(p.substr(0, slash), &base)) return invalid();
    std::string_view bits_s = p.substr(slash + 1);
    int bits = 0;
    if (bits_s.empty() || bits_s.size() > 3) return invalid();
    for (char c : bits_s) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return invalid();
      bits = bits * 10 + (c - '0');
    }
    int total = base.v4 ? 32 : 128;
    if (bits > total) return invalid();
    int skip = base.v4 ? 96 : 0;
    int prefix = skip + bits;
    out.lo = base;
    out.hi = base;
    for (int bit = prefix; bit < 128; ++bit) {
      uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
      out.lo.b[bit / 8] &= static_cast<uint8_t>(~mask);
      out.hi.b[bit / 8] |= mask;
    }
    return out;
  }
  if (!ParseIp(p, &out.lo)) return invalid();
  out.hi = out.lo;
  return out;
}

// ------------------------------------------------------- pattern --------

struct PatternNode {
  bool capture = false;
  std::string text;  // literal text, or capture name ("_" unnamed)
};

Result<std::vector<PatternNode>> ParsePattern(std::string_view p) {
  std::vector<PatternNode> nodes;
  size_t i = 0;
  std::string lit;
  while (i < p.size()) {
    if (p[i] == '<') {
      size_t j = i + 1;
      bool ok = j < p.size() && (std::isalpha(static_cast<unsigned char>(p[j])) || p[j] == '_');
      while (ok && j < p.size() &&
             (std::isalnum(static_cast<unsigned char>(p[j])) || p[j] == '_')) {
        ++j;
      }
      if (ok && j < p.size() && p[j] == '>') {
        if (!lit.empty()) {
          nodes.push_back({false, lit});
          lit.clear();
        }
        if (!nodes.empty() && nodes.back().capture) {
          return InvalidArgumentError(fmt::format(
              "found consecutive capture '{}': syntax error: unexpected IDENTIFIER", p));
        }
        nodes.push_back({true, std::string(p.substr(i + 1, j - i - 1))});
        i = j + 1;
        continue;
      }
    }
    lit.push_back(p[i]);
    ++i;
  }
  if (!lit.empty()) nodes.push_back({false, lit});
  return nodes;
}

// Loki's pattern matcher: each capture runs to the next literal; a missing
// literal ends matching with the capture taking the rest.
void PatternMatch(const std::vector<PatternNode>& e, std::string_view in,
                  std::vector<std::pair<const std::string*, std::string_view>>* caps) {
  caps->clear();
  if (in.empty() || e.empty()) return;
  size_t k = 0;
  if (!e[0].capture) {
    if (in.substr(0, e[0].text.size()) != e[0].text) return;
    in.remove_prefix(e[0].text.size());
    k = 1;
  }
  while (k < e.size()) {
    if (k + 1 == e.size()) {
      if (e[k].text != "_") caps->push_back({&e[k].text, in});
      return;
    }
    const PatternNode& cap = e[k];
    const std::string& ls = e[k + 1].text;
    k += 2;
    size_t i = in.find(ls);
    if (i == std::string_view::npos) {
      if (cap.text != "_") caps->push_back({&cap.text, in});
      return;
    }
    if (cap.text != "_") caps->push_back({&cap.text, in.substr(0, i)});
    in.remove_prefix(i + ls.size());
  }
}

// Loki's pattern line-filter test.
bool PatternTest(const std::vector<PatternNode>& e, std::string_view in) {
  if (in.empty() || e.empty()) return in.empty() && e.empty();
  size_t off = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    if (e[i].capture) continue;
    size_t j = in.substr(off).find(e[i].text);
    if (j == std::string_view::npos) return false;
    if (i == 0 && j != 0) return false;
    if (i != 0 && j == 0) return false;
    off += j + e[i].text.size();
  }
  bool req_rem = e.back().capture;
  bool has_rem = off != in.size();
  return req_rem == has_rem;
}

// ---------------------------------------------------- line filters ------

std::string_view LineFilterOpString(LineFilterOp op) {
  switch (op) {
    case LineFilterOp::kContains: return "|=";
    case LineFilterOp::kNotContains: return "!=";
    case LineFilterOp::kRegex: return "|~";
    case LineFilterOp::kNotRegex: return "!~";
    case LineFilterOp::kPattern: return "|>";
    case LineFilterOp::kNotPattern: return "!>";
  }
  return "";
}

class LineFilterStage final : public Stage {
 public:
  struct Term {
    LineFilterTerm src;
    // Regexes that are plain literals are matched as substrings (Loki
    // simplifies them the same way); `fold` for a (?i) literal (lowercase).
    std::optional<std::string> literal;
    bool fold = false;
    std::shared_ptr<const re2::RE2> re;
    std::optional<IpPattern> ip;
    std::vector<PatternNode> pattern;
  };

  LineFilterStage(LineFilterOp op, std::vector<Term> terms,
                  std::shared_ptr<const LineMatcher> matcher)
      : op_(op), terms_(std::move(terms)), matcher_(std::move(matcher)) {}

  bool Process(int64_t, std::string* line, LabelsState*) const override { return Test(*line); }

  bool Test(std::string_view line) const override {
    bool any = false;
    if (matcher_) {
      any = matcher_->Match(line);
    } else {
      for (const auto& t : terms_) {
        if (MatchTerm(t, line)) {
          any = true;
          break;
        }
      }
    }
    bool negative = op_ == LineFilterOp::kNotContains || op_ == LineFilterOp::kNotRegex ||
                    op_ == LineFilterOp::kNotPattern;
    return negative ? !any : any;
  }

  std::string String() const override {
    std::string s(LineFilterOpString(op_));
    for (size_t i = 0; i < terms_.size(); ++i) {
      if (i > 0) s += " or";
      s += ' ';
      if (terms_[i].src.ip) {
        s += "ip(" + QuoteGo(terms_[i].src.value) + ")";
      } else {
        s += QuoteGo(terms_[i].src.value);
      }
    }
    return s;
  }
  bool IsLineFilter() const override { return true; }
  void RequiredLiterals(std::vector<std::string>* out) const override {
    if (op_ == LineFilterOp::kContains && terms_.size() == 1 && !terms_[0].src.ip &&
        !terms_[0].src.value.empty()) {
      out->push_back(terms_[0].src.value);
    }
  }
  std::shared_ptr<const LineFilterHint> RequiredMatcher() const override {
    if (matcher_ && (op_ == LineFilterOp::kContains || op_ == LineFilterOp::kRegex)) return matcher_;
    return nullptr;
  }

 private:
  bool MatchTerm(const Term& t, std::string_view line) const {
    if (t.ip) return t.ip->MatchesIn(line);
    switch (op_) {
      case LineFilterOp::kContains:
      case LineFilterOp::kNotContains:
        if (t.src.value.empty()) return true;
        return memmem(line.data(), line.size(), t.src.value.data(), t.src.value.size()) != nullptr;
      case LineFilterOp::kRegex:
      case LineFilterOp::kNotRegex:
        if (t.literal) {
          if (t.literal->empty()) return true;
          if (!t.fold) {
            return memmem(line.data(), line.size(), t.literal->data(), t.literal->size()) != nullptr;
          }
          return ContainsFold(line, *t.literal);
        }
        return re2::RE2::PartialMatch(line, *t.re);
      case LineFilterOp::kPattern:
      case LineFilterOp::kNotPattern:
        return PatternTest(t.pattern, line);
    }
    return false;
  }

  static bool ContainsFold(std::string_view hay, std::string_view needle) {
    if (needle.size() > hay.size()) return false;
    const unsigned char n0 = static_cast<unsigned char>(needle[0]);
    const unsigned char n0u = static_cast<unsigned char>(std::toupper(n0));
    const size_t last = hay.size() - needle.size();
    const char* p = hay.data();
    for (size_t i = 0; i <= last; ++i) {
      unsigned char c = static_cast<unsigned char>(p[i]);
      if (c != n0 && c != n0u) continue;
      size_t k = 1;
      while (k < needle.size() &&
             std::tolower(static_cast<unsigned char>(p[i + k])) ==
                 static_cast<unsigned char>(needle[k])) {
        ++k;
      }
      if (k == needle.size()) return true;
    }
    return false;
  }

  LineFilterOp op_;
  std::vector<Term> terms_;
  // Set when LineMatcher picked Vectorscan for this chain (or regex): it
  // then answers for all terms.
  std::shared_ptr<const LineMatcher> matcher_;
};

// A regex that matches exactly its own text (no metacharacters, ASCII),
// optionally behind a (?i) flag.
bool LiteralRegex(std::string_view re, std::string* lit, bool* fold) {
  *fold = false;
  if (re.substr(0, 4) == "(?i)") {
    *fold = true;
    re.remove_prefix(4);
  }
  for (char c : re) {
    if (std::strchr("\\.+*?()|[]{}^$", c) != nullptr || static_cast<unsigned char>(c) >= 0x80 ||
        static_cast<unsigned char>(c) < 0x20) {
      return false;
    }
  }
  lit->assign(re);
  if (*fold) {
    for (auto& c : *lit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return true;
}

// ------------------------------------------------------------ json ------

void AppendSanitized(std::string* out, std::string_view key) {
  for (char c : key) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    out->push_back(ok ? c : '_');
  }
}

class SeenKeys {
 public:
  bool Insert(std::string_view k) {
    for (const auto& s : seen_) {
      if (s == k) return false;
    }
    seen_.emplace_back(k);
    return true;
  }
  void Clear() { seen_.clear(); }

 private:
  std::vector<std::string> seen_;
};

class JsonParserStage final : public Stage {
 public:
  struct Compiled {
    std::string label;
    std::string expr;
    std::vector<JsonPathElem> path;
  };
  explicit JsonParserStage(std::vector<Compiled> exprs) : exprs_(std::move(exprs)) {}

  bool Process(int64_t, std::string* line, LabelsState* lbs) const override {
    if (exprs_.empty()) {
      SeenKeys seen;
      std::string err;
      bool ok = JsonFlatten(*line, [&](std::string_view key, std::string_view value) {
        std::string k;
        if (!key.empty() && std::isdigit(static_cast<unsigned char>(key[0]))) k.push_back('_');
        AppendSanitized(&k, key);
        if (!seen.Insert(k)) return;
        lbs->AddParsed(k, value);
      }, &err);
      if (!ok) {
        lbs->SetErr(kJsonParserErr);
        lbs->SetErrDetails(err);
      }
      return true;
    }
    std::string err;
    if (!JsonValidate(*line, &err)) {
      lbs->SetErr(kJsonParserErr);
      lbs->SetErrDetails(err);
      return true;
    }
    for (const auto& e : exprs_) {
      std::string v;
      JsonExtract(*line, e.path, &v);
      lbs->AddParsed(e.label, v);
    }
    return true;
  }

  std::string String() const override {
    std::string s = "| json";
    for (size_t i = 0; i < exprs_.size(); ++i) {
      s += i == 0 ? " " : ",";
      s += exprs_[i].label + "=" + QuoteGo(exprs_[i].expr);
    }
    return s;
  }

 private:
  std::vector<Compiled> exprs_;
};

class UnpackStage final : public Stage {
 public:
  bool Process(int64_t, std::string* line, LabelsState* lbs) const override {
    std::string err;
    std::string entry;
    bool has_entry = false;
    std::vector<std::pair<std::string, std::string>> kv;
    bool ok = JsonTopLevelStrings(*line, [&](std::string_view k, std::string_view v) {
      if (k == "_entry") {
        entry.assign(v);
        has_entry = true;
        return;
      }
      kv.emplace_back(std::string(k), std::string(v));
    }, &err);
    if (!ok) {
      lbs->SetErr(kJsonParserErr);
      lbs->SetErrDetails(err);
      return true;
    }
    for (auto& [k, v] : kv) lbs->AddParsed(k, v);
    if (has_entry) *line = std::move(entry);
    return true;
  }
  std::string String() const override { return "| unpack"; }
};

// ---------------------------------------------------------- logfmt ------

class LogfmtStage final : public Stage {
 public:
  LogfmtStage(bool strict, bool keep_empty, std::vector<ParserExpr> exprs)
      : strict_(strict), keep_empty_(keep_empty), exprs_(std::move(exprs)) {}

  bool Process(int64_t, std::string* line, LabelsState* lbs) const override {
    std::string_view s = *line;
    size_t i = 0;
    SeenKeys seen;
    std::string key, value;
    std::vector<std::pair<std::string, std::string>> found;
    while (true) {
      while (i < s.size() && static_cast<unsigned char>(s[i]) <= ' ') ++i;
      if (i >= s.size()) break;
      // key
      size_t ks = i;
      bool bad = false;
      std::string err;
      while (i < s.size() && static_cast<unsigned char>(s[i]) > ' ' && s[i] != '=' && s[i] != '"') ++i;
      if (i == ks) {
        bad = true;
        err = fmt::format("logfmt syntax error at pos {} : unexpected '{}'", i + 1, s[i]);
      }
      key.assign(s.substr(ks, i - ks));
      value.clear();
      if (!bad && i < s.size() && s[i] == '"') {
        bad = true;
        err = fmt::format("logfmt syntax error at pos {} : unexpected '\"'", i + 1);
      }
      if (!bad && i < s.size() && s[i] == '=') {
        ++i;
        if (i < s.size() && s[i] == '"') {
          ++i;
          bool closed = false;
          while (i < s.size()) {
            char c = s[i];
            if (c == '\\' && i + 1 < s.size()) {
              char n = s[i + 1];
              switch (n) {
                case 'n': value.push_back('\n'); break;
                case 't': value.push_back('\t'); break;
                case 'r': value.push_back('\r'); break;
                case '"': value.push_back('"'); break;
                case '\\': value.push_back('\\'); break;
                default: value.push_back('\\'); value.push_back(n); break;
              }
              i += 2;
              continue;
            }
            if (c == '"') {
              closed = true;
              ++i;
              break;
            }
            value.push_back(c);
            ++i;
          }
          if (!closed) {
            bad = true;
            err = fmt::format("logfmt syntax error at pos {} : unterminated quoted value", i + 1);
          }
        } else {
          size_t vs = i;
          while (i < s.size() && static_cast<unsigned char>(s[i]) > ' ' && s[i] != '"' && s[i] != '=') ++i;
          if (i < s.size() && (s[i] == '"' || s[i] == '=')) {
            bad = true;
            err = fmt::format("logfmt syntax error at pos {} : unexpected '{}'", i + 1, s[i]);
          }
          value.assign(s.substr(vs, i - vs));
        }
      }
      if (bad) {
        if (strict_) {
          lbs->SetErr(kLogfmtParserErr);
          lbs->SetErrDetails(err);
          return true;
        }
        // Skip to the next whitespace and go on.
        while (i < s.size() && static_cast<unsigned char>(s[i]) > ' ') ++i;
        continue;
      }
      if (value.empty() && !keep_empty_) continue;
      std::string k;
      if (!key.empty() && !std::isalpha(static_cast<unsigned char>(key[0])) && key[0] != '_') {
        k.push_back('_');
      }
      AppendSanitized(&k, key);
      if (!exprs_.empty()) {
        for (const auto& e : exprs_) {
          const std::string& want = e.expr.empty() ? e.label : e.expr;
          if (want == key && seen.Insert(e.label)) found.emplace_back(e.label, value);
        }
        continue;
      }
      if (!seen.Insert(k)) continue;
      found.emplace_back(std::move(k), value);
    }
    for (auto& [k, v] : found) lbs->AddParsed(k, v);
    return true;
  }

  std::string String() const override {
    std::string s = "| logfmt";
    if (strict_) s += " --strict";
    if (keep_empty_) s += " --keep-empty";
    for (size_t i = 0; i < exprs_.size(); ++i) {
      s += i == 0 ? " " : ",";
      if (exprs_[i].expr.empty()) {
        s += exprs_[i].label;
      } else {
        s += exprs_[i].label + "=" + QuoteGo(exprs_[i].expr);
      }
    }
    return s;
  }

 private:
  bool strict_;
  bool keep_empty_;
  std::vector<ParserExpr> exprs_;
};

// ---------------------------------------------------------- regexp ------

class RegexpStage final : public Stage {
 public:
  RegexpStage(std::string src, std::shared_ptr<const re2::RE2> re,
              std::vector<std::pair<int, std::string>> names)
      : src_(std::move(src)), re_(std::move(re)), names_(std::move(names)) {
    ngroups_ = re_->NumberOfCapturingGroups();
  }

  bool Process(int64_t, std::string* line, LabelsState* lbs) const override {
    std::vector<re2::StringPiece> groups(ngroups_ + 1);
    if (!re_->Match(*line, 0, line->size(), re2::RE2::UNANCHORED, groups.data(),
                    static_cast<int>(groups.size()))) {
      return true;
    }
    for (const auto& [idx, name] : names_) {
      const auto& g = groups[idx];
      lbs->AddParsed(name, std::string_view(g.data() == nullptr ? "" : g.data(), g.size()));
    }
    return true;
  }
  std::string String() const override { return "| regexp " + QuoteGo(src_); }

 private:
  std::string src_;
  std::shared_ptr<const re2::RE2> re_;
  std::vector<std::pair<int, std::string>> names_;
  int ngroups_ = 0;
};

class PatternStage final : public Stage {
 public:
  PatternStage(std::string src, std::vector<PatternNode> nodes)
      : src_(std::move(src)), nodes_(std::move(nodes)) {}
  bool Process(int64_t, std::string* line, LabelsState* lbs) const override {
    std::vector<std::pair<const std::string*, std::string_view>> caps;
    PatternMatch(nodes_, *line, &caps);
    for (const auto& [name, v] : caps) lbs->AddParsed(*name, v);
    return true;
  }
  std::string String() const override { return "| pattern " + QuoteGo(src_); }

 private:
  std::string src_;
  std::vector<PatternNode> nodes_;
};

class DecolorizeStage final : public Stage {
 public:
  bool Process(int64_t, std::string* line, LabelsState*) const override {
    if (line->find('\x1b') != std::string::npos) *line = Decolorize(*line);
    return true;
  }
  std::string String() const override { return "| decolorize"; }
};

// ----------------------------------------------------- label filters ----

template <typename T>
bool Compare(CmpOp op, T a, T b) {
  switch (op) {
    case CmpOp::kEq: return a == b;
    case CmpOp::kNe: return a != b;
    case CmpOp::kGt: return a > b;
    case CmpOp::kGe: return a >= b;
    case CmpOp::kLt: return a < b;
    case CmpOp::kLe: return a <= b;
  }
  return false;
}

class StringLabelFilter final : public LabelFilter {
 public:
  explicit StringLabelFilter(Matcher m) : m_(std::move(m)) {}
  bool Process(LabelsState* lbs) const override {
    auto v = lbs->Get(m_.name());
    return m_.Matches(v.value_or(""));
  }
  std::string String() const override { return m_.ToString(); }
  std::optional<std::string> RequiredValue(std::string_view name) const override {
    if (m_.type() != promql::MatchType::kEqual || m_.name() != name) return std::nullopt;
    return m_.value();
  }

 private:
  Matcher m_;
};

// Number, duration and bytes filters share their flow: a missing label
// drops the entry, an entry already in error is kept, a value that does not
// convert sets LabelFilterErr and is kept.
template <typename T, typename Conv>
class TypedLabelFilter final : public LabelFilter {
 public:
  TypedLabelFilter(std::string name, CmpOp op, std::string op_text, T v, std::string literal,
                   Conv conv)
      : name_(std::move(name)), op_(op), op_text_(std::move(op_text)), v_(v),
        literal_(std::move(literal)), conv_(conv) {}
  bool Process(LabelsState* lbs) const override {
    // __error__ / __error_details__ are not values a conversion can read.
    if (name_ == kErrorLabel || name_ == kErrorDetailsLabel) return false;
    auto v = lbs->Get(name_);
    if (!v) return false;
    auto r = conv_(*v);
    if (!r.ok()) {
      // The first failure wins; the entry is kept for __error__ filters.
      if (!lbs->HasErr()) {
        lbs->SetErr(kLabelFilterErr);
        lbs->SetErrDetails(r.status().message());
      }
      return true;
    }
    return Compare<T>(op_, *r, v_);
  }
  std::string String() const override { return name_ + op_text_ + literal_; }

 private:
  std::string name_;
  CmpOp op_;
  std::string op_text_;
  T v_;
  std::string literal_;
  Conv conv_;
};

class IpLabelFilter final : public LabelFilter {
 public:
  IpLabelFilter(std::string name, bool equal, std::string pattern, IpPattern p)
      : name_(std::move(name)), equal_(equal), pattern_(std::move(pattern)), p_(p) {}
  bool Process(LabelsState* lbs) const override {
    if (lbs->HasErr()) return true;
    auto v = lbs->Get(name_);
    if (!v) return false;
    bool m = p_.MatchesIn(*v);
    return equal_ ? m : !m;
  }
  std::string String() const override {
    return name_ + (equal_ ? "=" : "!=") + "ip(" + QuoteGo(pattern_) + ")";
  }

 private:
  std::string name_;
  bool equal_;
  std::string pattern_;
  IpPattern p_;
};

class BinaryLabelFilter final : public LabelFilter {
 public:
  BinaryLabelFilter(bool is_and, LabelFilterPtr l, LabelFilterPtr r, std::string sep)
      : and_(is_and), l_(std::move(l)), r_(std::move(r)), sep_(std::move(sep)) {}
  bool Process(LabelsState* lbs) const override {
    bool lok = l_->Process(lbs);
    if (!and_ && lok) return true;
    bool rok = r_->Process(lbs);
    return and_ ? (lok && rok) : (lok || rok);
  }
  std::string String() const override {
    return l_->String() + (and_ ? sep_ : " or ") + r_->String();
  }
  std::optional<std::string> RequiredValue(std::string_view name) const override {
    if (!and_) return std::nullopt;
    if (auto v = l_->RequiredValue(name)) return v;
    return r_->RequiredValue(name);
  }

 private:
  bool and_;
  LabelFilterPtr l_, r_;
  std::string sep_;
};

class ParenLabelFilter final : public LabelFilter {
 public:
  explicit ParenLabelFilter(LabelFilterPtr in) : in_(std::move(in)) {}
  bool Process(LabelsState* lbs) const override { return in_->Process(lbs); }
  std::optional<std::string> RequiredValue(std::string_view name) const override {
    return in_->RequiredValue(name);
  }
  std::string String() const override { return "( " + in_->String() + " )"; }

 private:
  LabelFilterPtr in_;
};

class LabelFilterStage final : public Stage {
 public:
  explicit LabelFilterStage(LabelFilterPtr f) : f_(std::move(f)) {}
  bool Process(int64_t, std::string*, LabelsState* lbs) const override { return f_->Process(lbs); }
  std::string String() const override { return "| " + f_->String(); }
  std::optional<std::string> RequiredLabelValue(std::string_view name) const override {
    return f_->RequiredValue(name);
  }

 private:
  LabelFilterPtr f_;
};

// ---------------------------------------------------- formatting ------

class LineFormatStage final : public Stage {
 public:
  LineFormatStage(std::string src, std::shared_ptr<const Template> t)
      : src_(std::move(src)), t_(std::move(t)) {}
  bool Synthesizes() const override { return true; }
  bool Process(int64_t ts, std::string* line, LabelsState* lbs) const override {
    std::string out;
    Status s = t_->Execute(*lbs, *line, ts, &out);
    if (!s.ok()) {
      lbs->SetErr(kTemplateFormatErr);
      lbs->SetErrDetails(s.message());
      return true;
    }
    *line = std::move(out);
    return true;
  }
  std::string String() const override { return "| line_format " + QuoteGo(src_); }

 private:
  std::string src_;
  std::shared_ptr<const Template> t_;
};

class LabelFormatStage final : public Stage {
 public:
  struct Item {
    LabelFmt fmt;
    std::shared_ptr<const Template> t;
  };
  explicit LabelFormatStage(std::vector<Item> items) : items_(std::move(items)) {}
  bool Synthesizes() const override { return true; }
  bool Process(int64_t ts, std::string* line, LabelsState* lbs) const override {
    // All templates see the labels as they were before this stage.
    std::vector<std::pair<std::string, std::optional<std::string>>> sets;
    std::vector<std::string> dels;
    for (const auto& it : items_) {
      if (it.fmt.rename) {
        auto v = lbs->Get(it.fmt.value);
        if (!v) continue;
        sets.emplace_back(it.fmt.dst, std::string(*v));
        if (it.fmt.value != it.fmt.dst) dels.push_back(it.fmt.value);
      } else {
        std::string out;
        Status s = it.t->Execute(*lbs, *line, ts, &out);
        if (!s.ok()) {
          lbs->SetErr(kTemplateFormatErr);
          lbs->SetErrDetails(s.message());
          continue;
        }
        sets.emplace_back(it.fmt.dst, std::move(out));
      }
    }
    for (const auto& d : dels) lbs->Del(d);
    for (auto& [k, v] : sets) lbs->Set(k, *v);
    return true;
  }
  std::string String() const override {
    std::string s = "| label_format ";
    for (size_t i = 0; i < items_.size(); ++i) {
      if (i > 0) s += ",";
      s += items_[i].fmt.dst + "=" +
           (items_[i].fmt.rename ? items_[i].fmt.value : QuoteGo(items_[i].fmt.value));
    }
    return s;
  }

 private:
  std::vector<Item> items_;
};

class DropKeepStage final : public Stage {
 public:
  DropKeepStage(bool keep, std::vector<DropKeepItem> items) : keep_(keep), items_(std::move(items)) {}

  bool Process(int64_t, std::string*, LabelsState* lbs) const override {
    auto selected = [&](std::string_view name, std::string_view value) {
      for (const auto& it : items_) {
        if (it.matcher) {
          if (it.matcher->name() == name && it.matcher->Matches(value)) return true;
        } else if (it.name == name) {
          return true;
        }
      }
      return false;
    };
    if (keep_) {
      lbs->Filter([&](const LabelsState::Item& i) { return selected(i.name, i.value); });
      if (lbs->HasErr() && !selected(kErrorLabel, lbs->error())) lbs->SetErr("");
      if (!lbs->error_details().empty() && !selected(kErrorDetailsLabel, lbs->error_details())) {
        lbs->SetErrDetails("");
      }
    } else {
      lbs->Filter([&](const LabelsState::Item& i) { return !selected(i.name, i.value); });
      if (lbs->HasErr() && selected(kErrorLabel, lbs->error())) lbs->SetErr("");
      if (!lbs->error_details().empty() && selected(kErrorDetailsLabel, lbs->error_details())) {
        lbs->SetErrDetails("");
      }
    }
    return true;
  }
  std::string String() const override {
    std::string s = keep_ ? "| keep " : "| drop ";
    for (size_t i = 0; i < items_.size(); ++i) {
      if (i > 0) s += ",";
      s += items_[i].matcher ? items_[i].matcher->ToString() : items_[i].name;
    }
    return s;
  }

 private:
  bool keep_;
  std::vector<DropKeepItem> items_;
};

}  // namespace

// ------------------------------------------------------- factories ------

Result<StagePtr> MakeLineFilter(LineFilterOp op, std::vector<LineFilterTerm> terms) {
  std::vector<LineFilterStage::Term> compiled;
  for (auto& t : terms) {
    LineFilterStage::Term c;
    if (t.ip) {
      if (op != LineFilterOp::kContains && op != LineFilterOp::kNotContains) {
        return InvalidArgumentError(fmt::format("ip: invalid operation: {}", LineFilterOpString(op)));
      }
      auto p = ParseIpPattern(t.value);
      if (!p.ok()) return p.status();
      c.ip = *p;
    } else if (op == LineFilterOp::kRegex || op == LineFilterOp::kNotRegex) {
      if (Status s = CheckRegexp(t.value); !s.ok()) return s;
      c.re = CompileRe(t.value);
      if (!c.re->ok()) return InvalidArgumentError("error parsing regexp: " + c.re->error());
      std::string lit;
      bool fold;
      if (LiteralRegex(t.value, &lit, &fold)) {
        c.literal = std::move(lit);
        c.fold = fold;
      }
    } else if (op == LineFilterOp::kPattern || op == LineFilterOp::kNotPattern) {
      auto nodes = ParsePattern(t.value);
      if (!nodes.ok()) return nodes.status();
      for (const auto& n : *nodes) {
        if (n.capture && n.text != "_") {
          return InvalidArgumentError("named captures are not allowed in pattern line filters");
        }
      }
      c.pattern = std::move(*nodes);
    }
    c.src = std::move(t);
    compiled.push_back(std::move(c));
  }
  // ip() anywhere in a regex chain is invalid (checked above per term); a
  // regex chain that mixes in ip() fails too.
  std::shared_ptr<const LineMatcher> matcher;
  bool plain = op == LineFilterOp::kContains || op == LineFilterOp::kNotContains ||
               op == LineFilterOp::kRegex || op == LineFilterOp::kNotRegex;
  for (const auto& c : compiled) plain &= !c.src.ip;
  if (plain) {
    std::vector<MatchTerm> mt;
    bool regex = op == LineFilterOp::kRegex || op == LineFilterOp::kNotRegex;
    for (const auto& c : compiled) mt.push_back({c.src.value, regex});
    auto m = LineMatcher::Make(std::move(mt));
    if (m.ok() && (*m)->vectorscan_terms() > 0) matcher = std::move(*m);
  }
  return StagePtr(std::make_unique<LineFilterStage>(op, std::move(compiled), std::move(matcher)));
}

Result<StagePtr> MakeJsonParser(std::vector<ParserExpr> exprs) {
  std::vector<JsonParserStage::Compiled> compiled;
  for (auto& e : exprs) {
    JsonParserStage::Compiled c;
    c.label = e.label;
    c.expr = e.expr.empty() ? e.label : e.expr;
    auto p = ParseJsonPath(c.expr);
    if (!p.ok()) return p.status();
    c.path = std::move(*p);
    compiled.push_back(std::move(c));
  }
  return StagePtr(std::make_unique<JsonParserStage>(std::move(compiled)));
}

Result<StagePtr> MakeLogfmtParser(bool strict, bool keep_empty, std::vector<ParserExpr> exprs) {
  return StagePtr(std::make_unique<LogfmtStage>(strict, keep_empty, std::move(exprs)));
}

Result<StagePtr> MakeRegexpParser(std::string regex) {
  if (Status s = CheckRegexp(regex); !s.ok()) return s;
  auto re = CompileRe(regex);
  if (!re->ok()) return InvalidArgumentError("error parsing regexp: " + re->error());
  std::vector<std::pair<int, std::string>> names;
  std::unordered_set<std::string> seen;
  for (const auto& [name, idx] : re->NamedCapturingGroups()) {
    names.emplace_back(idx, name);
  }
  std::sort(names.begin(), names.end());
  for (const auto& [idx, name] : names) {
    if (!seen.insert(name).second) {
      return InvalidArgumentError(fmt::format("duplicate extracted label name '{}'", name));
    }
  }
  // RE2 keeps one index per name; count the (?P<...> occurrences to catch
  // duplicates it merged.
  size_t occurrences = 0;
  for (size_t p = regex.find("(?P<"); p != std::string::npos; p = regex.find("(?P<", p + 1)) {
    ++occurrences;
  }
  if (occurrences > names.size()) {
    return InvalidArgumentError("duplicate extracted label name");
  }
  if (names.empty()) {
    return InvalidArgumentError("at least one named capture must be supplied");
  }
  return StagePtr(std::make_unique<RegexpStage>(std::move(regex), std::move(re), std::move(names)));
}

Result<StagePtr> MakePatternParser(std::string pattern) {
  auto nodes = ParsePattern(pattern);
  if (!nodes.ok()) return nodes.status();
  int named = 0;
  std::unordered_set<std::string> seen;
  for (const auto& n : *nodes) {
    if (n.capture && n.text != "_") {
      ++named;
      if (!seen.insert(n.text).second) {
        return InvalidArgumentError(fmt::format("duplicate capture name ({}): syntax error", n.text));
      }
    }
  }
  if (named == 0) return InvalidArgumentError("at least one capture is required");
  return StagePtr(std::make_unique<PatternStage>(std::move(pattern), std::move(*nodes)));
}

StagePtr MakeUnpackParser() { return std::make_unique<UnpackStage>(); }
StagePtr MakeDecolorize() { return std::make_unique<DecolorizeStage>(); }

LabelFilterPtr MakeStringLabelFilter(Matcher m) {
  return std::make_unique<StringLabelFilter>(std::move(m));
}

LabelFilterPtr MakeNumberLabelFilter(std::string name, CmpOp op, std::string op_text, double v) {
  auto conv = [](std::string_view s) { return ParseGoFloat(s); };
  return std::make_unique<TypedLabelFilter<double, decltype(conv)>>(
      std::move(name), op, std::move(op_text), v, promql::FormatFloatV(v), conv);
}

LabelFilterPtr MakeDurationLabelFilter(std::string name, CmpOp op, std::string op_text, int64_t ns,
                                       std::string literal) {
  auto conv = [](std::string_view s) { return ParseGoDuration(s); };
  return std::make_unique<TypedLabelFilter<int64_t, decltype(conv)>>(
      std::move(name), op, std::move(op_text), ns, std::move(literal), conv);
}

LabelFilterPtr MakeBytesLabelFilter(std::string name, CmpOp op, std::string op_text,
                                    uint64_t bytes, std::string literal) {
  auto conv = [](std::string_view s) { return ParseHumanBytes(s); };
  return std::make_unique<TypedLabelFilter<uint64_t, decltype(conv)>>(
      std::move(name), op, std::move(op_text), bytes, std::move(literal), conv);
}

Result<LabelFilterPtr> MakeIpLabelFilter(std::string name, bool equal, std::string pattern) {
  auto p = ParseIpPattern(pattern);
  if (!p.ok()) return p.status();
  return LabelFilterPtr(std::make_unique<IpLabelFilter>(std::move(name), equal, std::move(pattern), *p));
}

LabelFilterPtr MakeBinaryLabelFilter(bool is_and, LabelFilterPtr l, LabelFilterPtr r,
                                     std::string sep) {
  return std::make_unique<BinaryLabelFilter>(is_and, std::move(l), std::move(r), std::move(sep));
}

LabelFilterPtr MakeParenLabelFilter(LabelFilterPtr inner) {
  return std::make_unique<ParenLabelFilter>(std::move(inner));
}

StagePtr MakeLabelFilterStage(LabelFilterPtr f) {
  return std::make_unique<LabelFilterStage>(std::move(f));
}

Result<StagePtr> MakeLineFormat(std::string tmpl) {
  auto t = Template::Parse(tmpl);
  if (!t.ok()) return t.status();
  return StagePtr(std::make_unique<LineFormatStage>(std::move(tmpl), std::move(*t)));
}

Result<StagePtr> MakeLabelFormat(std::vector<LabelFmt> fmts) {
  std::vector<LabelFormatStage::Item> items;
  std::unordered_set<std::string> dsts;
  for (auto& f : fmts) {
    if (!dsts.insert(f.dst).second) {
      return InvalidArgumentError(fmt::format(
          "multiple label name '{}' not allowed in a single format operation", f.dst));
    }
    LabelFormatStage::Item it;
    if (!f.rename) {
      auto t = Template::Parse(f.value);
      if (!t.ok()) return t.status();
      it.t = std::move(*t);
    }
    it.fmt = std::move(f);
    items.push_back(std::move(it));
  }
  return StagePtr(std::make_unique<LabelFormatStage>(std::move(items)));
}

StagePtr MakeDrop(std::vector<DropKeepItem> items) {
  return std::make_unique<DropKeepStage>(false, std::move(items));
}
StagePtr MakeKeep(std::vector<DropKeepItem> items) {
  return std::make_unique<DropKeepStage>(true, std::move(items));
}

// ----------------------------------------------------- conversions ------

Result<int64_t> ParseGoDuration(std::string_view orig) {
  // Go's time.ParseDuration.
  std::string_view s = orig;
  auto invalid = [&]() {
    return InvalidArgumentError("time: invalid duration " + QuoteGo(orig));
  };
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return int64_t{0};
  if (s.empty()) return invalid();
  long double total = 0;
  while (!s.empty()) {
    if (!(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.')) return invalid();
    size_t i = 0;
    long double v = 0;
    bool digits = false;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      v = v * 10 + (s[i] - '0');
      ++i;
      digits = true;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
        v += (s[i] - '0') * scale;
        scale /= 10;
        ++i;
        digits = true;
      }
    }
    if (!digits) return invalid();
    size_t u = i;
    while (u < s.size() && !(std::isdigit(static_cast<unsigned char>(s[u])) || s[u] == '.')) ++u;
    std::string_view unit = s.substr(i, u - i);
    if (unit.empty()) {
      return InvalidArgumentError("time: missing unit in duration " + QuoteGo(orig));
    }
    long double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") mult = 1e3L;
    else if (unit == "ms") mult = 1e6L;
    else if (unit == "s") mult = 1e9L;
    else if (unit == "m") mult = 60e9L;
    else if (unit == "h") mult = 3600e9L;
    else {
      return InvalidArgumentError(fmt::format("time: unknown unit {} in duration {}",
                                              QuoteGo(unit), QuoteGo(orig)));
    }
    total += v * mult;
    if (total > 9.223372036854775807e18L) return invalid();
    s.remove_prefix(u);
  }
  int64_t r = static_cast<int64_t>(total);
  return neg ? -r : r;
}

Result<uint64_t> ParseHumanBytes(std::string_view s) {
  // go-humanize ParseBytes: digits (with , and .) then an optional unit.
  size_t last_digit = 0;
  std::string num;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == ',')) break;
    if (c != ',') num.push_back(c);
    last_digit = i + 1;
  }
  auto f = ParseGoFloat(num);
  if (!f.ok()) return f.status();
  std::string unit;
  for (char c : s.substr(last_digit)) {
    unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
  double m;
  if (unit.empty() || unit == "b") m = 1;
  else if (unit == "k" || unit == "kb") m = 1e3;
  else if (unit == "kib" || unit == "ki") m = 1024.0;
  else if (unit == "m" || unit == "mb") m = 1e6;
  else if (unit == "mib" || unit == "mi") m = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb") m = 1e9;
  else if (unit == "gib" || unit == "gi") m = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tb") m = 1e12;
  else if (unit == "tib" || unit == "ti") m = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "p" || unit == "pb") m = 1e15;
  else if (unit == "pib" || unit == "pi") m = 1024.0 * 1024 * 1024 * 1024 * 1024;
  else if (unit == "e" || unit == "eb") m = 1e18;
  else if (unit == "eib" || unit == "ei") m = 1024.0 * 1024 * 1024 * 1024 * 1024 * 1024;
  else return InvalidArgumentError(fmt::format("unhandled size name: {}", unit));
  double v = *f * m;
  if (v >= 18446744073709551615.0) {
    return InvalidArgumentError(fmt::format("too large: {}", s));
  }
  return static_cast<uint64_t>(v);
}

Result<double> ParseGoFloat(std::string_view s) {
  std::string str(s);
  auto bad = [&]() {
    return InvalidArgumentError("strconv.ParseFloat: parsing " + QuoteGo(s) + ": invalid syntax");
  };
  if (str.empty()) return bad();
  std::string lower;
  for (char c : str) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  std::string_view l = lower;
  bool neg = false;
  if (!l.empty() && (l[0] == '+' || l[0] == '-')) {
    neg = l[0] == '-';
    l.remove_prefix(1);
  }
  if (l == "inf" || l == "infinity") return neg ? -HUGE_VAL : HUGE_VAL;
  if (l == "nan") return std::nan("");
  // Decimal only (hex floats need a 'p' exponent in Go; accept that form).
  for (char c : l) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' ||
          c == '-' || c == '_' || c == 'x' || c == 'p' || (c >= 'a' && c <= 'f'))) {
      return bad();
    }
  }
  bool hex = l.size() > 1 && l[0] == '0' && l[1] == 'x';
  if (hex && l.find('p') == std::string_view::npos) return bad();
  if (!hex && l.find_first_of("abcdfx") != std::string_view::npos) return bad();
  std::string clean;
  for (char c : str) {
    if (c != '_') clean.push_back(c);
  }
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return bad();
  if (errno == ERANGE && std::isinf(v)) {
    return InvalidArgumentError("strconv.ParseFloat: parsing " + QuoteGo(s) +
                                ": value out of range");
  }
  return v;
}

std::string SanitizeLabelKey(std::string_view key, bool is_prefix) {
  std::string k;
  if (is_prefix && !key.empty() && std::isdigit(static_cast<unsigned char>(key[0]))) {
    k.push_back('_');
  }
  AppendSanitized(&k, key);
  return k;
}

std::string Decolorize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      size_t j = i + 2;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == ';' ||
                              s[j] == '?')) {
        ++j;
      }
      if (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) {
        i = j + 1;
        continue;
      }
    }
    out.push_back(s[i]);
    ++i;
  }
  return out;
}

}  // namespace sightline::logs::logql
