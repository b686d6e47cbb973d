#include "logs/logql/json_scan.h"

#include <fmt/format.h>

#include <cctype>

#include "metrics/promql/go_text.h"

namespace sightline::logs::logql {
namespace {

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  void Ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool Eof() const { return i_ >= s_.size(); }
  char Peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  size_t pos() const { return i_; }

  bool Fail(std::string msg) {
    if (err_.empty()) err_ = std::move(msg);
    return false;
  }
  bool Unexpected(std::string_view ctx) {
    if (Eof()) return Fail(fmt::format("unexpected end of JSON input {}", ctx));
    return Fail(fmt::format("invalid character '{}' {}", s_[i_], ctx));
  }
  const std::string& err() const { return err_; }

  // Parses a string at the cursor into *out (unescaped).
  bool String(std::string* out) {
    if (Peek() != '"') return Unexpected("looking for beginning of string");
    ++i_;
    out->clear();
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '"') {
        ++i_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return Fail("invalid control character in string literal");
      if (c != '\\') {
        out->push_back(c);
        ++i_;
        continue;
      }
      if (i_ + 1 >= s_.size()) break;
      char e = s_[i_ + 1];
      i_ += 2;
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          auto hex4 = [&](uint32_t* v) {
            if (i_ + 4 > s_.size()) return false;
            *v = 0;
            for (int k = 0; k < 4; ++k) {
              char h = s_[i_ + k];
              *v <<= 4;
              if (h >= '0' && h <= '9') *v |= h - '0';
              else if (h >= 'a' && h <= 'f') *v |= h - 'a' + 10;
              else if (h >= 'A' && h <= 'F') *v |= h - 'A' + 10;
              else return false;
            }
            i_ += 4;
            return true;
          };
          uint32_t cp;
          if (!hex4(&cp)) return Fail("invalid escape in string literal");
          if (cp >= 0xD800 && cp < 0xDC00 && i_ + 6 <= s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
            size_t save = i_;
            i_ += 2;
            uint32_t lo;
            if (hex4(&lo) && lo >= 0xDC00 && lo < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              i_ = save;
              cp = 0xFFFD;
            }
          } else if (cp >= 0xD800 && cp < 0xE000) {
            cp = 0xFFFD;
          }
          promql::AppendUtf8(out, static_cast<int32_t>(cp));
          break;
        }
        default:
          return Fail(fmt::format("invalid character '{}' in string escape code", e));
      }
    }
    return Fail("unexpected end of JSON input");
  }

  // A scalar at the cursor: number, true, false, null. `raw` gets its text.
  bool Scalar(std::string_view* raw, bool* is_null) {
    size_t b = i_;
    *is_null = false;
    auto word = [&](std::string_view w) {
      if (s_.substr(i_, w.size()) == w) {
        i_ += w.size();
        return true;
      }
      return false;
    };
    char c = Peek();
    if (c == 't') {
      if (!word("true")) return Unexpected("in literal true (expecting 'r')");
    } else if (c == 'f') {
      if (!word("false")) return Unexpected("in literal false (expecting 'a')");
    } else if (c == 'n') {
      if (!word("null")) return Unexpected("in literal null (expecting 'u')");
      *is_null = true;
    } else if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
      if (c == '-') ++i_;
      if (!std::isdigit(static_cast<unsigned char>(Peek()))) return Unexpected("in numeric literal");
      while (std::isdigit(static_cast<unsigned char>(Peek()))) ++i_;
      if (Peek() == '.') {
        ++i_;
        if (!std::isdigit(static_cast<unsigned char>(Peek()))) return Unexpected("after decimal point in numeric literal");
        while (std::isdigit(static_cast<unsigned char>(Peek()))) ++i_;
      }
      if (Peek() == 'e' || Peek() == 'E') {
        ++i_;
        if (Peek() == '+' || Peek() == '-') ++i_;
        if (!std::isdigit(static_cast<unsigned char>(Peek()))) return Unexpected("in exponent of numeric literal");
        while (std::isdigit(static_cast<unsigned char>(Peek()))) ++i_;
      }
    } else {
      return Unexpected("looking for beginning of value");
    }
    *raw = s_.substr(b, i_ - b);
    return true;
  }

  // Skips any value.
  bool Skip(int depth = 0) {
    if (depth > 512) return Fail("exceeded max depth");
    Ws();
    char c = Peek();
    if (c == '"') {
      std::string tmp;
      return String(&tmp);
    }
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++i_;
      Ws();
      if (Peek() == close) {
        ++i_;
        return true;
      }
      while (true) {
        Ws();
        if (c == '{') {
          std::string k;
          if (!String(&k)) return false;
          Ws();
          if (Peek() != ':') return Unexpected("after object key");
          ++i_;
        }
        if (!Skip(depth + 1)) return false;
        Ws();
        if (Peek() == ',') {
          ++i_;
          continue;
        }
        if (Peek() == close) {
          ++i_;
          return true;
        }
        return Unexpected(c == '{' ? "after object key:value pair" : "after array element");
      }
    }
    std::string_view raw;
    bool is_null;
    return Scalar(&raw, &is_null);
  }

  std::string_view Slice(size_t b, size_t e) const { return s_.substr(b, e - b); }
  void Seek(size_t p) { i_ = p; }

 private:
  std::string_view s_;
  size_t i_ = 0;
  std::string err_;
};

bool FlattenObject(Scanner& sc, std::string& prefix,
                   const std::function<void(std::string_view, std::string_view)>& fn, int depth,
                   bool top_level_strings_only) {
  if (depth > 256) return sc.Fail("exceeded max depth");
  sc.Ws();
  if (sc.Peek() != '{') return sc.Unexpected("looking for beginning of object");
  sc.Seek(sc.pos() + 1);
  sc.Ws();
  if (sc.Peek() == '}') {
    sc.Seek(sc.pos() + 1);
    return true;
  }
  std::string key;
  std::string sval;
  while (true) {
    sc.Ws();
    if (!sc.String(&key)) return false;
    sc.Ws();
    if (sc.Peek() != ':') return sc.Unexpected("after object key");
    sc.Seek(sc.pos() + 1);
    sc.Ws();
    size_t plen = prefix.size();
    char c = sc.Peek();
    if (c == '"') {
      if (!sc.String(&sval)) return false;
      prefix += key;
      fn(prefix, sval);
    } else if (c == '{') {
      if (top_level_strings_only) {
        if (!sc.Skip()) return false;
      } else {
        prefix += key;
        prefix += '_';
        if (!FlattenObject(sc, prefix, fn, depth + 1, false)) return false;
      }
    } else if (c == '[') {
      if (!sc.Skip()) return false;
    } else {
      std::string_view raw;
      bool is_null;
      if (!sc.Scalar(&raw, &is_null)) return false;
      if (!is_null && !top_level_strings_only) {
        prefix += key;
        fn(prefix, raw);
      }
    }
    prefix.resize(plen);
    sc.Ws();
    if (sc.Peek() == ',') {
      sc.Seek(sc.pos() + 1);
      continue;
    }
    if (sc.Peek() == '}') {
      sc.Seek(sc.pos() + 1);
      return true;
    }
    return sc.Unexpected("after object key:value pair");
  }
}

}  // namespace

bool JsonFlatten(std::string_view doc,
                 const std::function<void(std::string_view, std::string_view)>& fn,
                 std::string* err) {
  Scanner sc(doc);
  std::string prefix;
  if (!FlattenObject(sc, prefix, fn, 0, false)) {
    *err = sc.err();
    return false;
  }
  sc.Ws();
  if (!sc.Eof()) {
    sc.Unexpected("after top-level value");
    *err = sc.err();
    return false;
  }
  return true;
}

bool JsonTopLevelStrings(std::string_view doc,
                         const std::function<void(std::string_view, std::string_view)>& fn,
                         std::string* err) {
  Scanner sc(doc);
  std::string prefix;
  if (!FlattenObject(sc, prefix, fn, 0, true)) {
    *err = sc.err();
    return false;
  }
  sc.Ws();
  if (!sc.Eof()) {
    sc.Unexpected("after top-level value");
    *err = sc.err();
    return false;
  }
  return true;
}

bool JsonValidate(std::string_view doc, std::string* err) {
  Scanner sc(doc);
  if (!sc.Skip()) {
    *err = sc.err();
    return false;
  }
  sc.Ws();
  if (!sc.Eof()) {
    sc.Unexpected("after top-level value");
    *err = sc.err();
    return false;
  }
  return true;
}

Result<std::vector<JsonPathElem>> ParseJsonPath(std::string_view expr) {
  std::vector<JsonPathElem> out;
  auto fail = [&]() {
    return InvalidArgumentError(fmt::format("cannot parse expression [{}]: syntax error", expr));
  };
  size_t i = 0;
  bool expect_field = true;
  while (i < expr.size()) {
    char c = expr[i];
    if (c == '[') {
      ++i;
      if (i < expr.size() && expr[i] == '"') {
        size_t e = expr.find('"', i + 1);
        if (e == std::string_view::npos) return fail();
        out.push_back({false, 0, std::string(expr.substr(i + 1, e - i - 1))});
        i = e + 1;
      } else {
        size_t b = i;
        while (i < expr.size() && std::isdigit(static_cast<unsigned char>(expr[i]))) ++i;
        if (i == b) return fail();
        out.push_back({true, std::stoll(std::string(expr.substr(b, i - b))), ""});
      }
      if (i >= expr.size() || expr[i] != ']') return fail();
      ++i;
      expect_field = false;
      continue;
    }
    if (c == '.') {
      if (out.empty()) return fail();
      ++i;
      expect_field = true;
      continue;
    }
    if (!expect_field) return fail();
    size_t b = i;
    while (i < expr.size() && expr[i] != '.' && expr[i] != '[') {
      char d = expr[i];
      if (!(std::isalnum(static_cast<unsigned char>(d)) || d == '_' || d == '-' || d == '$' ||
            d == '@' || static_cast<unsigned char>(d) >= 0x80)) {
        return fail();
      }
      ++i;
    }
    if (i == b) return fail();
    out.push_back({false, 0, std::string(expr.substr(b, i - b))});
    expect_field = false;
  }
  if (out.empty() || expect_field) return fail();
  return out;
}

void JsonExtract(std::string_view doc, const std::vector<JsonPathElem>& path, std::string* out) {
  out->clear();
  Scanner sc(doc);
  std::string key;
  for (const auto& el : path) {
    sc.Ws();
    if (!el.index) {
      if (sc.Peek() != '{') return;
      sc.Seek(sc.pos() + 1);
      bool found = false;
      sc.Ws();
      if (sc.Peek() == '}') return;
      while (true) {
        sc.Ws();
        if (!sc.String(&key)) return;
        sc.Ws();
        if (sc.Peek() != ':') return;
        sc.Seek(sc.pos() + 1);
        if (key == el.key) {
          found = true;
          break;
        }
        if (!sc.Skip()) return;
        sc.Ws();
        if (sc.Peek() != ',') return;
        sc.Seek(sc.pos() + 1);
      }
      if (!found) return;
    } else {
      if (sc.Peek() != '[') return;
      sc.Seek(sc.pos() + 1);
      for (int64_t k = 0; k < el.i; ++k) {
        sc.Ws();
        if (sc.Peek() == ']') return;
        if (!sc.Skip()) return;
        sc.Ws();
        if (sc.Peek() != ',') return;
        sc.Seek(sc.pos() + 1);
      }
      sc.Ws();
      if (sc.Peek() == ']') return;
    }
  }
  sc.Ws();
  char c = sc.Peek();
  if (c == '"') {
    sc.String(out);
    return;
  }
  size_t b = sc.pos();
  if (c == '{' || c == '[') {
    if (sc.Skip()) out->assign(sc.Slice(b, sc.pos()));
    return;
  }
  std::string_view raw;
  bool is_null;
  if (sc.Scalar(&raw, &is_null) && !is_null) out->assign(raw);
}

}  // namespace sightline::logs::logql
