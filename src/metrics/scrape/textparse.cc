#include "metrics/scrape/textparse.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <limits>

#include "metrics/tsdb/labels.h"

namespace sightline::metrics::scrape {

namespace {

// Prometheus's value.NormalNaN.
constexpr uint64_t kNormalNaNBits = 0x7ff8000000000001ull;

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
bool IsMetricNameStart(char c) { return IsNameStart(c) || c == ':'; }
bool IsMetricNameChar(char c) { return IsNameChar(c) || c == ':'; }
bool IsBlank(char c) { return c == ' ' || c == '\t'; }

bool EqualsFold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

size_t SkipBlanks(std::string_view s, size_t i) {
  while (i < s.size() && IsBlank(s[i])) ++i;
  return i;
}

// The token starting at `pos`, as Prometheus's lexer would name it, for
// error messages.
std::pair<std::string_view, std::string_view> TokenAt(std::string_view line, size_t pos,
                                                      bool at_end_of_input) {
  if (pos >= line.size()) {
    if (at_end_of_input) return {"", "EOF"};
    return {"\n", "LINEBREAK"};
  }
  char c = line[pos];
  size_t end = pos + 1;
  std::string_view kind = "INVALID";
  if (c == '{') {
    kind = "BOPEN";
  } else if (c == '}') {
    kind = "BCLOSE";
  } else if (c == ',') {
    kind = "COMMA";
  } else if (c == '=') {
    kind = "EQUAL";
  } else if (c == '#') {
    kind = "COMMENT";
  } else if (IsMetricNameStart(c)) {
    while (end < line.size() && IsMetricNameChar(line[end])) ++end;
    kind = "MNAME";
  } else if (c == '"') {
    kind = "LVALUE";
    while (end < line.size() && line[end] != '"') end += line[end] == '\\' ? 2 : 1;
    end = std::min(end + 1, line.size());
  } else if (IsBlank(c)) {
    kind = "WHITESPACE";
  } else if (((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.') && pos > 0 &&
             IsBlank(line[pos - 1])) {
    // Values and timestamps follow whitespace; elsewhere a digit is no token.
    kind = "VALUE";
    while (end < line.size() && !IsBlank(line[end])) ++end;
  }
  return {line.substr(pos, end - pos), kind};
}

// A line of the body starting at `pos` (without its '\n') and where the next
// one starts.
std::string_view LineAt(std::string_view body, size_t pos, size_t* next, bool* had_newline) {
  size_t nl = body.find('\n', pos);
  if (nl == std::string_view::npos) {
    *next = body.size();
    *had_newline = false;
    return body.substr(pos);
  }
  *next = nl + 1;
  *had_newline = true;
  return body.substr(pos, nl - pos);
}

std::string UnescapeHelp(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '\\' || s[i + 1] == 'n')) {
      out += s[i + 1] == 'n' ? '\n' : '\\';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0 || i + static_cast<size_t>(n) >= s.size()) return false;
    uint32_t cp = c & (0x3F >> n);
    for (int k = 1; k <= n; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace

Format FormatFromContentType(std::string_view ct) {
  size_t semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && IsBlank(media.back())) media.remove_suffix(1);
  while (!media.empty() && IsBlank(media.front())) media.remove_prefix(1);
  return EqualsFold(media, "application/openmetrics-text") ? Format::kOpenMetrics
                                                           : Format::kPrometheusText;
}

std::string UnescapeLabelValue(std::string_view raw) {
  if (raw.find('\\') == std::string_view::npos) return std::string(raw);
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size()) {
      char n = raw[i + 1];
      if (n == '\\' || n == '"' || n == 'n') {
        out += n == 'n' ? '\n' : n;
        ++i;
        continue;
      }
    }
    out += raw[i];
  }
  return out;
}

Result<double> ParseGoFloat(std::string_view s) {
  auto bad = [&] {
    return InvalidArgumentError("strconv.ParseFloat: parsing " + tsdb::GoQuote(s) +
                                ": invalid syntax");
  };
  if (s.empty()) return bad();
  if (s.find_first_of("pP_") != std::string_view::npos) {
    return InvalidArgumentError("unsupported character in float");
  }
  std::string_view body = s;
  bool neg = false;
  if (body[0] == '+' || body[0] == '-') {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  if (EqualsFold(body, "inf") || EqualsFold(body, "infinity")) {
    return neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (EqualsFold(body, "nan")) {
    if (s[0] == '+' || s[0] == '-') return bad();
    return std::bit_cast<double>(kNormalNaNBits);
  }
  if (body.empty() || body[0] == '+' || body[0] == '-') return bad();
  if (body.size() > 1 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) return bad();
  double v = 0;
  auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
  if (p != body.data() + body.size()) return bad();
  if (ec == std::errc::result_out_of_range) {
    // Go returns ±Inf with a range error for overflow; underflow rounds to 0.
    bool tiny = false;
    for (char c : body) {
      if (c == 'e' || c == 'E') {
        tiny =
            body.find("e-") != std::string_view::npos || body.find("E-") != std::string_view::npos;
        break;
      }
    }
    if (!tiny) {
      return InvalidArgumentError("strconv.ParseFloat: parsing " + tsdb::GoQuote(s) +
                                  ": value out of range");
    }
    v = 0;
  } else if (ec != std::errc()) {
    return bad();
  }
  return neg ? -v : v;
}

TextParser::TextParser(std::string_view body, Format format) : body_(body), format_(format) {}

std::string_view TextParser::CurrentType() const {
  if (type_.empty()) return "unknown";
  std::string_view m = metric_name_;
  if (m == type_family_) return type_;
  // Suffixes that belong to the family.
  for (std::string_view suf :
       {"_bucket", "_count", "_sum", "_total", "_created", "_gcount", "_gsum", "_info"}) {
    if (m.size() == type_family_.size() + suf.size() &&
        m.substr(0, type_family_.size()) == type_family_ && m.substr(type_family_.size()) == suf) {
      return type_;
    }
  }
  return "unknown";
}

bool TextParser::SkipCreated() const {
  if (format_ != Format::kOpenMetrics) return false;
  std::string_view m = metric_name_;
  constexpr std::string_view kCreated = "_created";
  if (m.size() <= kCreated.size() || m.substr(m.size() - kCreated.size()) != kCreated) {
    return false;
  }
  if (type_ != "counter" && type_ != "histogram" && type_ != "summary" &&
      type_ != "gaugehistogram") {
    return false;
  }
  return m.substr(0, m.size() - kCreated.size()) == type_family_;
}

Status TextParser::Error(std::string_view expected, std::string_view line, size_t pos) const {
  bool at_end = pos >= line.size() && line.data() + line.size() == body_.data() + body_.size();
  auto [text, kind] = TokenAt(line, pos, at_end);
  size_t upto = std::min(line.size(), pos + 1);
  std::string parsing(line.substr(0, upto));
  if (pos >= line.size() && !at_end) parsing += '\n';
  return InvalidArgumentError(std::string(expected) + ", got " + tsdb::GoQuote(text) + " (" +
                              tsdb::GoQuote(kind) + ") while parsing: " + tsdb::GoQuote(parsing));
}

Result<bool> TextParser::Next() {
  if (done_) return false;
  Result<bool> r = format_ == Format::kOpenMetrics ? NextOpenMetrics() : NextText();
  if (!r.ok() || !*r) done_ = true;
  return r;
}

Result<bool> TextParser::NextText() {
  while (pos_ < body_.size()) {
    size_t next;
    bool nl;
    std::string_view line = LineAt(body_, pos_, &next, &nl);
    pos_ = next;
    size_t i = SkipBlanks(line, 0);
    if (i == line.size()) continue;  // blank line
    std::string_view rest = line.substr(i);
    if (rest[0] == '#') {
      bool is_meta = false;
      SL_RETURN_IF_ERROR(ParseMeta(rest, /*openmetrics=*/false, &is_meta));
      if (!is_meta) {
        entry_ = Entry::kComment;
        meta_text_ = rest;
      }
      return true;
    }
    SL_RETURN_IF_ERROR(ParseSeries(rest, /*openmetrics=*/false));
    entry_ = Entry::kSeries;
    return true;
  }
  return false;
}

Result<bool> TextParser::NextOpenMetrics() {
  while (true) {
    if (pos_ >= body_.size()) return InvalidArgumentError("data does not end with # EOF");
    size_t next;
    bool nl;
    std::string_view line = LineAt(body_, pos_, &next, &nl);
    pos_ = next;
    if (line == "# EOF") {
      if (pos_ < body_.size()) return InvalidArgumentError("unexpected data after # EOF");
      return false;
    }
    if (!nl) return InvalidArgumentError("data does not end with # EOF");
    if (line.empty()) return Error("expected a valid start token", line, 0);
    if (line[0] == '#') {
      bool is_meta = false;
      SL_RETURN_IF_ERROR(ParseMeta(line, /*openmetrics=*/true, &is_meta));
      if (!is_meta) return Error("expected a valid start token", line, 0);
      return true;
    }
    SL_RETURN_IF_ERROR(ParseSeries(line, /*openmetrics=*/true));
    if (SkipCreated()) continue;
    entry_ = Entry::kSeries;
    return true;
  }
}

Status TextParser::ParseMeta(std::string_view line, bool openmetrics, bool* is_meta) {
  // line starts with '#'.
  size_t i = 1;
  size_t ws = SkipBlanks(line, i);
  if (ws == i) {
    *is_meta = false;  // "#comment"
    return Status::Ok();
  }
  if (openmetrics && ws != i + 1) {
    *is_meta = false;
    return Status::Ok();
  }
  i = ws;
  size_t word_end = i;
  while (word_end < line.size() && !IsBlank(line[word_end])) ++word_end;
  std::string_view word = line.substr(i, word_end - i);
  Entry kind;
  if (word == "HELP") {
    kind = Entry::kHelp;
  } else if (word == "TYPE") {
    kind = Entry::kType;
  } else if (word == "UNIT" && openmetrics) {
    kind = Entry::kUnit;
  } else {
    *is_meta = false;
    return Status::Ok();
  }
  *is_meta = true;
  size_t name_start = SkipBlanks(line, word_end);
  if (name_start == word_end && word_end < line.size()) {
    return Error("expected metric name after " + std::string(word), line, word_end);
  }
  if (word_end == line.size()) {
    return Error("expected metric name after " + std::string(word), line, word_end);
  }
  size_t name_end = name_start;
  if (name_end < line.size() && IsMetricNameStart(line[name_end])) {
    while (name_end < line.size() && IsMetricNameChar(line[name_end])) ++name_end;
  }
  if (name_end == name_start) {
    return Error("expected metric name after " + std::string(word), line, name_start);
  }
  meta_name_ = line.substr(name_start, name_end - name_start);
  std::string_view text;
  if (name_end < line.size()) {
    if (!IsBlank(line[name_end])) {
      return Error("expected metric name after " + std::string(word), line, name_end);
    }
    text = line.substr(name_end + 1);
  } else if (kind != Entry::kHelp || openmetrics) {
    return InvalidArgumentError("expected text in " + std::string(word));
  }
  entry_ = kind;
  switch (kind) {
    case Entry::kHelp:
      if (!ValidUtf8(text)) {
        return InvalidArgumentError("help text " + tsdb::GoQuote(text) +
                                    " is not a valid utf8 string");
      }
      if (openmetrics) {
        // OpenMetrics escapes \" too.
        meta_buf_ = UnescapeLabelValue(text);
      } else {
        meta_buf_ = UnescapeHelp(text);
      }
      meta_text_ = meta_buf_;
      break;
    case Entry::kType: {
      std::string_view t = text;
      if (!openmetrics) {
        while (!t.empty() && IsBlank(t.back())) t.remove_suffix(1);
      }
      static constexpr std::string_view kText[] = {"counter", "gauge", "histogram", "summary",
                                                   "untyped"};
      static constexpr std::string_view kOm[] = {"counter", "gauge", "histogram", "gaugehistogram",
                                                 "summary", "info",  "stateset",  "unknown"};
      bool ok = false;
      if (openmetrics) {
        ok = std::find(std::begin(kOm), std::end(kOm), t) != std::end(kOm);
      } else {
        ok = std::find(std::begin(kText), std::end(kText), t) != std::end(kText);
      }
      if (!ok) return InvalidArgumentError("invalid metric type " + tsdb::GoQuote(t));
      meta_text_ = t == "untyped" ? std::string_view("unknown") : t;
      type_family_.assign(meta_name_);
      type_.assign(meta_text_);
      break;
    }
    case Entry::kUnit:
      if (!text.empty()) {
        std::string_view m = meta_name_;
        if (m.size() < text.size() + 1 || m.substr(m.size() - text.size()) != text ||
            m[m.size() - text.size() - 1] != '_') {
          return InvalidArgumentError("unit " + tsdb::GoQuote(text) + " not a suffix of metric " +
                                      tsdb::GoQuote(m));
        }
      }
      meta_text_ = text;
      break;
    default:
      break;
  }
  return Status::Ok();
}

Status TextParser::ParseLabelSet(std::string_view line, size_t* pos, std::vector<RawLabel>* out,
                                 bool openmetrics) {
  // *pos is just after '{'.
  size_t i = *pos;
  while (true) {
    if (!openmetrics) i = SkipBlanks(line, i);
    if (i < line.size() && line[i] == '}') {
      *pos = i + 1;
      return Status::Ok();
    }
    if (i >= line.size() || !IsNameStart(line[i])) return Error("expected label name", line, i);
    size_t ns = i;
    while (i < line.size() && IsNameChar(line[i])) ++i;
    std::string_view name = line.substr(ns, i - ns);
    if (!openmetrics) i = SkipBlanks(line, i);
    if (i >= line.size() || line[i] != '=') return Error("expected equal", line, i);
    ++i;
    if (!openmetrics) i = SkipBlanks(line, i);
    if (i >= line.size() || line[i] != '"') return Error("expected label value", line, i);
    size_t vs = ++i;
    while (i < line.size() && line[i] != '"') {
      if (line[i] == '\\') {
        if (i + 1 >= line.size()) break;
        ++i;
      }
      ++i;
    }
    if (i >= line.size()) return Error("expected label value", line, vs - 1);
    std::string_view raw = line.substr(vs, i - vs);
    if (!ValidUtf8(raw)) {
      return InvalidArgumentError("invalid UTF-8 label value: " +
                                  tsdb::GoQuote(line.substr(vs - 1, i - vs + 2)));
    }
    out->push_back({name, raw});
    ++i;  // closing quote
    if (!openmetrics) i = SkipBlanks(line, i);
    if (i < line.size() && line[i] == ',') {
      ++i;
    } else if (openmetrics && (i >= line.size() || line[i] != '}')) {
      return Error("expected comma or brace close", line, i);
    }
  }
}

Status TextParser::ParseExemplar(std::string_view line, size_t* pos) {
  // *pos is at '#' of " # {".
  size_t i = *pos + 1;
  if (i >= line.size() || line[i] != ' ') return Error("expected a valid start token", line, i);
  ++i;
  if (i >= line.size() || line[i] != '{') return Error("expected label name", line, i);
  ++i;
  exemplar_labels_.clear();
  SL_RETURN_IF_ERROR(ParseLabelSet(line, &i, &exemplar_labels_, /*openmetrics=*/true));
  if (i >= line.size() || line[i] != ' ')
    return Error("expected value after exemplar labels", line, i);
  ++i;
  size_t vs = i;
  while (i < line.size() && line[i] != ' ') ++i;
  if (vs == i) return Error("expected value after exemplar labels", line, vs);
  auto v = ParseGoFloat(line.substr(vs, i - vs));
  if (!v.ok()) {
    return InvalidArgumentError(v.status().message() +
                                " while parsing: " + tsdb::GoQuote(line.substr(0, i)));
  }
  exemplar_.value = *v;
  exemplar_.has_timestamp = false;
  exemplar_.timestamp_ms = 0;
  if (i < line.size()) {
    ++i;
    size_t ts = i;
    while (i < line.size() && line[i] != ' ') ++i;
    auto t = ParseGoFloat(line.substr(ts, i - ts));
    if (!t.ok()) {
      return InvalidArgumentError(t.status().message() +
                                  " while parsing: " + tsdb::GoQuote(line.substr(0, i)));
    }
    if (std::isnan(*t) || std::isinf(*t)) {
      return InvalidArgumentError("invalid exemplar timestamp " + std::to_string(*t));
    }
    exemplar_.has_timestamp = true;
    exemplar_.timestamp_ms = static_cast<int64_t>(*t * 1000);
    if (i < line.size()) return Error("expected next entry after exemplar timestamp", line, i);
  }
  std::vector<Label> ls;
  ls.reserve(exemplar_labels_.size());
  for (const RawLabel& l : exemplar_labels_) {
    std::string v = UnescapeLabelValue(l.raw_value);
    if (!v.empty()) ls.push_back({std::string(l.name), std::move(v)});
  }
  auto labels = Labels::FromUnsorted(std::move(ls));
  if (!labels.ok())
    return InvalidArgumentError("invalid exemplar labels: " + labels.status().message());
  exemplar_.labels = std::move(*labels);
  has_exemplar_ = true;
  *pos = i;
  return Status::Ok();
}

Status TextParser::ParseSeries(std::string_view line, bool openmetrics) {
  labels_.clear();
  has_exemplar_ = false;
  size_t i = 0;
  if (!IsMetricNameStart(line[0])) return Error("expected a valid start token", line, 0);
  while (i < line.size() && IsMetricNameChar(line[i])) ++i;
  metric_name_ = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    ++i;
    SL_RETURN_IF_ERROR(ParseLabelSet(line, &i, &labels_, openmetrics));
  }
  series_ = line.substr(0, i);
  // Value.
  size_t ws = openmetrics ? (i < line.size() && line[i] == ' ' ? i + 1 : i) : SkipBlanks(line, i);
  if (ws == i) return Error("expected value after metric", line, i);
  i = ws;
  size_t vs = i;
  while (i < line.size() && !IsBlank(line[i])) ++i;
  if (vs == i) return Error("expected value after metric", line, vs);
  auto v = ParseGoFloat(line.substr(vs, i - vs));
  if (!v.ok()) {
    return InvalidArgumentError(v.status().message() +
                                " while parsing: " + tsdb::GoQuote(line.substr(0, i)));
  }
  value_ = *v;
  has_ts_ = false;
  size_t after = openmetrics ? i : SkipBlanks(line, i);
  if (after >= line.size()) return Status::Ok();
  if (openmetrics) {
    if (line[i] != ' ' || i + 1 >= line.size()) {
      return Error("expected timestamp or comment", line, i);
    }
    ++i;
    if (line[i] == '#') return ParseExemplar(line, &i);
    size_t ts = i;
    while (i < line.size() && line[i] != ' ') ++i;
    auto t = ParseGoFloat(line.substr(ts, i - ts));
    if (!t.ok()) {
      return InvalidArgumentError(t.status().message() +
                                  " while parsing: " + tsdb::GoQuote(line.substr(0, i)));
    }
    if (std::isnan(*t) || std::isinf(*t)) {
      return InvalidArgumentError("invalid timestamp " + std::to_string(*t));
    }
    has_ts_ = true;
    ts_ms_ = static_cast<int64_t>(*t * 1000);
    if (i >= line.size()) return Status::Ok();
    if (i + 1 < line.size() && line[i + 1] == '#') {
      ++i;
      return ParseExemplar(line, &i);
    }
    return Error("expected next entry after timestamp", line, i);
  }
  i = after;
  size_t ts = i;
  while (i < line.size() && !IsBlank(line[i])) ++i;
  std::string_view tstext = line.substr(ts, i - ts);
  int64_t t = 0;
  const char* b = tstext.data();
  const char* e = b + tstext.size();
  if (b != e && *b == '+') ++b;
  auto [p, ec] = std::from_chars(b, e, t);
  if (b == e || p != e || ec != std::errc()) {
    if ((tstext[0] >= '0' && tstext[0] <= '9') || tstext[0] == '-' || tstext[0] == '+') {
      return InvalidArgumentError(
          "strconv.ParseInt: parsing " + tsdb::GoQuote(tstext) +
          (ec == std::errc::result_out_of_range ? ": value out of range" : ": invalid syntax") +
          " while parsing: " + tsdb::GoQuote(line.substr(0, i)));
    }
    return Error("expected timestamp or new record", line, ts);
  }
  has_ts_ = true;
  ts_ms_ = t;
  i = SkipBlanks(line, i);
  if (i < line.size()) return Error("expected next entry after timestamp", line, i);
  return Status::Ok();
}

Result<Labels> TextParser::SeriesLabels() const {
  std::vector<Label> ls;
  ls.reserve(labels_.size() + 1);
  ls.push_back({"__name__", std::string(metric_name_)});
  for (const RawLabel& l : labels_) {
    ls.push_back({std::string(l.name), UnescapeLabelValue(l.raw_value)});
  }
  std::sort(ls.begin(), ls.end(), [](const Label& a, const Label& b) { return a.name < b.name; });
  for (size_t k = 1; k < ls.size(); ++k) {
    if (ls[k].name == ls[k - 1].name) {
      return InvalidArgumentError("label name " + tsdb::GoQuote(ls[k].name) +
                                  " is not unique: " + "invalid sample");
    }
  }
  ls.erase(std::remove_if(ls.begin(), ls.end(), [](const Label& l) { return l.value.empty(); }),
           ls.end());
  return Labels::FromSortedUnchecked(std::move(ls));
}

}  // namespace sightline::metrics::scrape
