#include "logs/logql/line_matcher.h"

#include <hs.h>
#include <re2/re2.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>

namespace sightline::logs::logql {

namespace {

// ------------------------------------------------------ translation ------

using Range = std::pair<uint32_t, uint32_t>;  // inclusive code point range
constexpr uint32_t kMaxRune = 0x10FFFF;

void AppendByte(std::string* out, uint8_t b) {
  static const char* d = "0123456789abcdef";
  out->append("\\x");
  out->push_back(d[b >> 4]);
  out->push_back(d[b & 15]);
}

int EncodeUtf8(uint32_t r, uint8_t* b) {
  if (r < 0x80) {
    b[0] = static_cast<uint8_t>(r);
    return 1;
  }
  if (r < 0x800) {
    b[0] = static_cast<uint8_t>(0xC0 | (r >> 6));
    b[1] = static_cast<uint8_t>(0x80 | (r & 0x3F));
    return 2;
  }
  if (r < 0x10000) {
    b[0] = static_cast<uint8_t>(0xE0 | (r >> 12));
    b[1] = static_cast<uint8_t>(0x80 | ((r >> 6) & 0x3F));
    b[2] = static_cast<uint8_t>(0x80 | (r & 0x3F));
    return 3;
  }
  b[0] = static_cast<uint8_t>(0xF0 | (r >> 18));
  b[1] = static_cast<uint8_t>(0x80 | ((r >> 12) & 0x3F));
  b[2] = static_cast<uint8_t>(0x80 | ((r >> 6) & 0x3F));
  b[3] = static_cast<uint8_t>(0x80 | (r & 0x3F));
  return 4;
}

// Decodes one valid UTF-8 rune at s[*i]; false on invalid input.
bool DecodeUtf8(std::string_view s, size_t* i, uint32_t* r) {
  uint8_t c = static_cast<uint8_t>(s[*i]);
  if (c < 0x80) {
    *r = c;
    ++*i;
    return true;
  }
  int n;
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    v = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    v = c & 0x07;
  } else {
    return false;
  }
  if (*i + n > s.size()) return false;
  for (int k = 1; k < n; ++k) {
    uint8_t cc = static_cast<uint8_t>(s[*i + k]);
    if ((cc & 0xC0) != 0x80) return false;
    v = (v << 6) | (cc & 0x3F);
  }
  if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > kMaxRune))) return false;
  *r = v;
  *i += n;
  return true;
}

// Byte sequences for the code points [lo, hi] (all of one UTF-8 length),
// as alternatives of byte-class sequences (the classic utf8-ranges split).
void Utf8Split(uint32_t lo, uint32_t hi, std::vector<std::string>* alts) {
  for (int i = 1; i < 4; ++i) {
    uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        Utf8Split(lo, lo | m, alts);
        Utf8Split((lo | m) + 1, hi, alts);
        return;
      }
      if ((hi & m) != m) {
        Utf8Split(lo, (hi & ~m) - 1, alts);
        Utf8Split(hi & ~m, hi, alts);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  int n = EncodeUtf8(lo, a);
  EncodeUtf8(hi, b);
  std::string s;
  for (int k = 0; k < n; ++k) {
    if (a[k] == b[k]) {
      AppendByte(&s, a[k]);
    } else {
      s.push_back('[');
      AppendByte(&s, a[k]);
      s.push_back('-');
      AppendByte(&s, b[k]);
      s.push_back(']');
    }
  }
  alts->push_back(std::move(s));
}

void Utf8Ranges(uint32_t lo, uint32_t hi, std::vector<std::string>* alts) {
  static const uint32_t bounds[] = {0x7F, 0x7FF, 0xFFFF, kMaxRune};
  for (uint32_t b : bounds) {
    if (lo > hi) return;
    if (lo <= b) {
      uint32_t top = std::min(hi, b);
      Utf8Split(lo, top, alts);
      lo = top + 1;
    }
  }
}

std::vector<Range> Normalize(std::vector<Range> v) {
  std::sort(v.begin(), v.end());
  std::vector<Range> out;
  for (const auto& r : v) {
    if (!out.empty() && r.first <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, r.second);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

std::vector<Range> Negate(const std::vector<Range>& v) {
  std::vector<Range> out;
  uint32_t next = 0;
  for (const auto& r : v) {
    if (r.first > next) out.push_back({next, r.first - 1});
    next = r.second + 1;
  }
  if (next <= kMaxRune) out.push_back({next, kMaxRune});
  return out;
}

bool Contains(const std::vector<Range>& v, uint32_t c) {
  for (const auto& r : v) {
    if (c >= r.first && c <= r.second) return true;
  }
  return false;
}

// RE2's simple case folding restricted to what ASCII letters reach: a<->A
// for every letter, plus k<->U+212A (Kelvin) and s<->U+017F (long s).
// False when the set holds other non-ASCII code points (their folding is
// not modelled).
bool AddFolds(std::vector<Range>* set) {
  std::vector<Range> v = Normalize(*set);
  for (const auto& r : v) {
    if (r.second < 0x80) continue;
    for (uint32_t c = r.first; c <= r.second; ++c) {
      if (c != 0x17F && c != 0x212A) return false;
    }
  }
  std::vector<Range> add;
  for (uint32_t c = 'a'; c <= 'z'; ++c) {
    uint32_t u = c - 32;
    bool in = Contains(v, c) || Contains(v, u) || (c == 'k' && Contains(v, 0x212A)) ||
              (c == 's' && Contains(v, 0x17F));
    if (!in) continue;
    add.push_back({c, c});
    add.push_back({u, u});
    if (c == 'k') add.push_back({0x212A, 0x212A});
    if (c == 's') add.push_back({0x17F, 0x17F});
  }
  v.insert(v.end(), add.begin(), add.end());
  *set = Normalize(std::move(v));
  return true;
}

// The hs expression for a set of code points (RE2's UTF-8 semantics): one
// self-contained unit a quantifier may follow.
bool EmitSet(const std::vector<Range>& set_in, std::string* out) {
  std::vector<Range> set = Normalize(set_in);
  if (set.empty()) return false;
  if (set.size() == 1 && set[0].first == set[0].second && set[0].first < 0x80) {
    AppendByte(out, static_cast<uint8_t>(set[0].first));
    return true;
  }
  std::string ascii;
  std::vector<std::string> alts;
  for (const auto& r : set) {
    if (r.first < 0x80) {
      uint32_t hi = std::min<uint32_t>(r.second, 0x7F);
      AppendByte(&ascii, static_cast<uint8_t>(r.first));
      if (hi != r.first) {
        ascii.push_back('-');
        AppendByte(&ascii, static_cast<uint8_t>(hi));
      }
      if (r.second >= 0x80) Utf8Ranges(0x80, r.second, &alts);
    } else {
      Utf8Ranges(r.first, r.second, &alts);
    }
  }
  if (alts.size() > 64) return false;
  if (!ascii.empty()) alts.insert(alts.begin(), "[" + ascii + "]");
  if (alts.size() == 1) {
    out->append(alts[0]);
    return true;
  }
  out->append("(?:");
  for (size_t i = 0; i < alts.size(); ++i) {
    if (i > 0) out->push_back('|');
    out->append(alts[i]);
  }
  out->push_back(')');
  return true;
}

class Translator {
 public:
  explicit Translator(std::string_view p) : p_(p) {}

  bool Run(std::string* out, bool* anchored) {
    if (p_.substr(0, 4) == "(?i)") {
      fold_ = true;
      i_ = 4;
    }
    if (!Alt(out, 0)) return false;
    if (i_ != p_.size()) return false;
    *anchored = anchored_ || broad_unbounded_;
    return true;
  }

 private:
  bool Alt(std::string* out, int depth) {
    if (depth > 100) return false;
    if (!Concat(out, depth)) return false;
    while (i_ < p_.size() && p_[i_] == '|') {
      ++i_;
      out->push_back('|');
      if (!Concat(out, depth)) return false;
    }
    return true;
  }

  bool Concat(std::string* out, int depth) {
    while (i_ < p_.size() && p_[i_] != '|' && p_[i_] != ')') {
      std::string atom;
      bool quantifiable = true;
      int broad_before = broad_;
      if (!Atom(&atom, depth, &quantifiable)) return false;
      out->append(atom);
      bool unbounded = false;
      if (!Quantifier(out, quantifiable, &unbounded)) return false;
      if (unbounded && broad_ != broad_before) broad_unbounded_ = true;
    }
    return true;
  }

  // A quantifier after an atom (at most one, plus a laziness '?').
  bool Quantifier(std::string* out, bool quantifiable, bool* unbounded) {
    if (i_ >= p_.size()) return true;
    char c = p_[i_];
    std::string q;
    if (c == '*' || c == '+' || c == '?') {
      q.push_back(c);
      *unbounded = c != '?';
      ++i_;
    } else if (c == '{') {
      size_t j = i_ + 1;
      std::string n1, n2;
      bool comma = false;
      while (j < p_.size() && isdigit(static_cast<unsigned char>(p_[j]))) n1.push_back(p_[j++]);
      if (j < p_.size() && p_[j] == ',') {
        comma = true;
        ++j;
        while (j < p_.size() && isdigit(static_cast<unsigned char>(p_[j]))) n2.push_back(p_[j++]);
      }
      if (n1.empty() || j >= p_.size() || p_[j] != '}') return true;  // a literal '{'
      if (n1.size() > 4 || n2.size() > 4) return false;
      q = "{" + n1 + (comma ? "," + n2 : "") + "}";
      *unbounded = comma && n2.empty();
      i_ = j + 1;
    } else {
      return true;
    }
    if (!quantifiable) return false;
    out->append(q);
    if (i_ < p_.size() && p_[i_] == '?') ++i_;  // lazy: same yes/no answer
    if (i_ < p_.size() && (p_[i_] == '*' || p_[i_] == '+' || p_[i_] == '?')) return false;
    if (i_ < p_.size() && p_[i_] == '{') return false;
    return true;
  }

  bool Atom(std::string* out, int depth, bool* quantifiable) {
    char c = p_[i_];
    switch (c) {
      case '(': {
        ++i_;
        if (p_.substr(i_, 2) == "?:") {
          i_ += 2;
        } else if (p_.substr(i_, 3) == "?P<" || p_.substr(i_, 2) == "?<") {
          size_t e = p_.find('>', i_);
          if (e == std::string_view::npos) return false;
          i_ = e + 1;
        } else if (i_ < p_.size() && p_[i_] == '?') {
          return false;  // flags
        }
        out->append("(?:");
        if (!Alt(out, depth + 1)) return false;
        if (i_ >= p_.size() || p_[i_] != ')') return false;
        ++i_;
        out->push_back(')');
        return true;
      }
      case '.': {
        ++i_;
        ++broad_;
        return EmitSet({{0, 9}, {11, kMaxRune}}, out);
      }
      case '[':
        return Class(out);
      case '^':
        ++i_;
        anchored_ = true;
        *quantifiable = false;
        out->push_back('^');
        return true;
      case '$':
        ++i_;
        anchored_ = true;
        *quantifiable = false;
        out->append("\\z");
        return true;
      case '\\':
        return Escape(out);
      case '*':
      case '+':
      case '?':
      case ')':
      case '|':
        return false;
      default:
        break;
    }
    uint32_t r;
    if (!DecodeUtf8(p_, &i_, &r)) return false;
    return Rune(r, out);
  }

  bool Rune(uint32_t r, std::string* out) {
    std::vector<Range> set{{r, r}};
    if (fold_ && !AddFolds(&set)) return false;
    return EmitSet(set, out);
  }

  static bool PerlClass(char c, std::vector<Range>* set, bool* negated) {
    std::vector<Range> v;
    switch (c) {
      case 'd': case 'D': v = {{'0', '9'}}; break;
      case 'w': case 'W': v = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}; break;
      case 's': case 'S': v = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}}; break;
      default: return false;
    }
    *negated = c == 'D' || c == 'W' || c == 'S';
    *set = std::move(v);
    return true;
  }

  // A single-character escape (outside \d-style classes): its code point.
  static bool EscapedRune(char c, uint32_t* r) {
    switch (c) {
      case 't': *r = '\t'; return true;
      case 'n': *r = '\n'; return true;
      case 'r': *r = '\r'; return true;
      case 'f': *r = '\f'; return true;
      case 'v': *r = '\v'; return true;
      case 'a': *r = '\a'; return true;
      default: break;
    }
    if (static_cast<unsigned char>(c) < 0x80 && ispunct(static_cast<unsigned char>(c))) {
      *r = static_cast<uint8_t>(c);
      return true;
    }
    return false;
  }

  bool HexEscape(uint32_t* r) {
    // At "\x": exactly two hex digits.
    if (i_ + 4 > p_.size()) return false;
    auto hex = [](char h) -> int {
      if (h >= '0' && h <= '9') return h - '0';
      if (h >= 'a' && h <= 'f') return h - 'a' + 10;
      if (h >= 'A' && h <= 'F') return h - 'A' + 10;
      return -1;
    };
    int a = hex(p_[i_ + 2]), b = hex(p_[i_ + 3]);
    if (a < 0 || b < 0) return false;
    *r = static_cast<uint32_t>(a * 16 + b);
    i_ += 4;
    return true;
  }

  bool Escape(std::string* out) {
    if (i_ + 1 >= p_.size()) return false;
    char c = p_[i_ + 1];
    std::vector<Range> set;
    bool neg = false;
    if (PerlClass(c, &set, &neg)) {
      i_ += 2;
      if (neg) ++broad_;
      if (fold_ && !AddFolds(&set)) return false;
      return EmitSet(neg ? Negate(Normalize(set)) : set, out);
    }
    uint32_t r;
    if (c == 'x') {
      if (!HexEscape(&r)) return false;
      return Rune(r, out);
    }
    if (!EscapedRune(c, &r)) return false;  // \b \B \A \z \p \Q \C digits ...
    i_ += 2;
    return Rune(r, out);
  }

  bool Class(std::string* out) {
    ++i_;  // '['
    bool negated = false;
    if (i_ < p_.size() && p_[i_] == '^') {
      negated = true;
      ++i_;
    }
    std::vector<Range> set;
    bool first = true;
    while (true) {
      if (i_ >= p_.size()) return false;
      char c = p_[i_];
      if (c == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      if (c == '[' && i_ + 1 < p_.size() && p_[i_ + 1] == ':') return false;  // [:alpha:]
      uint32_t lo;
      if (c == '\\') {
        if (i_ + 1 >= p_.size()) return false;
        char e = p_[i_ + 1];
        std::vector<Range> pc;
        bool pneg = false;
        if (PerlClass(e, &pc, &pneg)) {
          i_ += 2;
          if (pneg) pc = Negate(Normalize(pc));
          set.insert(set.end(), pc.begin(), pc.end());
          continue;
        }
        if (e == 'x') {
          if (!HexEscape(&lo)) return false;
        } else {
          if (!EscapedRune(e, &lo)) return false;
          i_ += 2;
        }
      } else {
        if (!DecodeUtf8(p_, &i_, &lo)) return false;
      }
      uint32_t hi = lo;
      if (i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']') {
        ++i_;
        char h = p_[i_];
        if (h == '\\') {
          if (i_ + 1 >= p_.size()) return false;
          if (p_[i_ + 1] == 'x') {
            if (!HexEscape(&hi)) return false;
          } else {
            if (!EscapedRune(p_[i_ + 1], &hi)) return false;
            i_ += 2;
          }
        } else if (h == '[') {
          return false;
        } else {
          if (!DecodeUtf8(p_, &i_, &hi)) return false;
        }
        if (hi < lo) return false;
      }
      set.push_back({lo, hi});
    }
    if (fold_ && !AddFolds(&set)) return false;
    set = Normalize(std::move(set));
    if (negated) {
      set = Negate(set);
      ++broad_;
    }
    return EmitSet(set, out);
  }

  std::string_view p_;
  size_t i_ = 0;
  bool fold_ = false;
  bool anchored_ = false;
  // Atoms matching almost any character (`.`, negated classes) seen so far,
  // and whether one sits under an unbounded repeat (`.*`, `[^"]+`).
  int broad_ = 0;
  bool broad_unbounded_ = false;
};

// ---------------------------------------------------- engine choice ------

// The measured policy (docs/benchmarks.md, Logs, "Line filter engines"):
// Vectorscan was faster than memmem and RE2 for every measured case, line
// by line (1.2-4x) and far more over whole columns (up to 10 GB/s/core),
// so it takes every term it can represent exactly.
bool UseVectorscan(const std::vector<MatchTerm>& terms) { return !terms.empty(); }

std::atomic<uint64_t> next_db_id{1};

struct ScratchCache {
  hs_scratch_t* scratch = nullptr;
  std::vector<uint64_t> ready;  // databases the scratch was grown for
  ~ScratchCache() {
    if (scratch != nullptr) hs_free_scratch(scratch);
  }
};

hs_scratch_t* ScratchFor(const hs_database_t* db, uint64_t id) {
  thread_local ScratchCache cache;
  for (uint64_t r : cache.ready) {
    if (r == id) return cache.scratch;
  }
  if (hs_alloc_scratch(db, &cache.scratch) != HS_SUCCESS) return nullptr;
  if (cache.ready.size() >= 256) cache.ready.clear();
  cache.ready.push_back(id);
  return cache.scratch;
}

int OnMatch(unsigned int, unsigned long long, unsigned long long to, unsigned int, void* ctx) {
  *static_cast<uint64_t*>(ctx) = to;
  return 1;  // stop at the first match
}

}  // namespace

std::string HsLiteral(std::string_view literal) {
  std::string out;
  for (char c : literal) AppendByte(&out, static_cast<uint8_t>(c));
  return out;
}

bool TranslateForVectorscan(std::string_view re2_pattern, std::string* hs_pattern,
                            bool* anchored) {
  hs_pattern->clear();
  *anchored = false;
  Translator t(re2_pattern);
  return t.Run(hs_pattern, anchored);
}

struct LineMatcher::Impl {
  hs_database_t* db = nullptr;
  uint64_t db_id = 0;
  std::vector<std::string> literals;                   // memmem
  std::vector<std::unique_ptr<re2::RE2>> regexes;      // RE2
  ~Impl() {
    if (db != nullptr) hs_free_database(db);
  }
};

LineMatcher::~LineMatcher() = default;

Result<std::shared_ptr<const LineMatcher>> LineMatcher::Make(std::vector<MatchTerm> terms,
                                                             MatchEngine engine) {
  std::shared_ptr<LineMatcher> m(new LineMatcher());
  m->impl_ = std::make_unique<Impl>();
  Impl& impl = *m->impl_;
  bool hs = engine == MatchEngine::kVectorscan ||
            (engine == MatchEngine::kAuto && UseVectorscan(terms));
  std::vector<std::string> hs_patterns;
  std::vector<const MatchTerm*> hs_src;
  std::vector<bool> hs_line_only;
  bool anchored_any = false;
  for (const auto& t : terms) {
    if (t.regex) {
      re2::RE2::Options opts;
      opts.set_log_errors(false);
      opts.set_dot_nl(false);
      auto re = std::make_unique<re2::RE2>(t.text, opts);
      if (!re->ok()) return InvalidArgumentError("error parsing regexp: " + re->error());
      std::string p;
      bool anchored = false;
      if (hs && TranslateForVectorscan(t.text, &p, &anchored)) {
        hs_patterns.push_back(std::move(p));
        hs_src.push_back(&t);
        hs_line_only.push_back(anchored);
        anchored_any |= anchored;
        continue;
      }
      impl.regexes.push_back(std::move(re));
    } else {
      if (t.text.empty()) {
        m->always_ = true;
        continue;
      }
      if (hs) {
        hs_patterns.push_back(HsLiteral(t.text));
        hs_src.push_back(&t);
        hs_line_only.push_back(false);
        continue;
      }
      impl.literals.push_back(t.text);
    }
  }
  if (!hs_patterns.empty()) {
    std::vector<const char*> exprs;
    std::vector<unsigned> flags, ids;
    for (size_t i = 0; i < hs_patterns.size(); ++i) {
      exprs.push_back(hs_patterns[i].c_str());
      flags.push_back(HS_FLAG_SINGLEMATCH);
      ids.push_back(static_cast<unsigned>(i));
    }
    hs_compile_error_t* err = nullptr;
    hs_error_t rc = hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                                     static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK, nullptr,
                                     &impl.db, &err);
    if (rc != HS_SUCCESS) {
      if (err != nullptr) hs_free_compile_error(err);
      impl.db = nullptr;
      // Compile the terms one by one: the ones Vectorscan refuses (e.g. an
      // empty-matching regex) go to RE2/memmem.
      std::vector<size_t> ok;
      for (size_t i = 0; i < hs_patterns.size(); ++i) {
        hs_database_t* one = nullptr;
        hs_compile_error_t* e1 = nullptr;
        if (hs_compile(hs_patterns[i].c_str(), HS_FLAG_SINGLEMATCH, HS_MODE_BLOCK, nullptr, &one,
                       &e1) == HS_SUCCESS) {
          hs_free_database(one);
          ok.push_back(i);
        } else {
          if (e1 != nullptr) hs_free_compile_error(e1);
          const MatchTerm& t = *hs_src[i];
          if (t.regex) {
            re2::RE2::Options opts;
            opts.set_log_errors(false);
            opts.set_dot_nl(false);
            impl.regexes.push_back(std::make_unique<re2::RE2>(t.text, opts));
          } else {
            impl.literals.push_back(t.text);
          }
        }
      }
      exprs.clear();
      flags.clear();
      ids.clear();
      anchored_any = false;
      for (size_t i : ok) {
        exprs.push_back(hs_patterns[i].c_str());
        flags.push_back(HS_FLAG_SINGLEMATCH);
        ids.push_back(static_cast<unsigned>(i));
        anchored_any |= hs_line_only[i];
      }
      if (!exprs.empty() &&
          hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                           static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK, nullptr, &impl.db,
                           &err) != HS_SUCCESS) {
        if (err != nullptr) hs_free_compile_error(err);
        impl.db = nullptr;
        return InternalError("vectorscan: compiling accepted patterns together failed");
      }
      m->hs_terms_ = exprs.size();
    } else {
      m->hs_terms_ = hs_patterns.size();
    }
    if (impl.db != nullptr) impl.db_id = next_db_id.fetch_add(1);
  }
  m->column_ = impl.db != nullptr && !anchored_any && impl.literals.empty() &&
               impl.regexes.empty();
  return std::shared_ptr<const LineMatcher>(std::move(m));
}

bool LineMatcher::MatchHs(std::string_view data, uint64_t* end) const {
  hs_scratch_t* s = ScratchFor(impl_->db, impl_->db_id);
  if (s == nullptr) return false;
  *end = 0;
  hs_error_t rc = hs_scan(impl_->db, data.data(), static_cast<unsigned>(data.size()), 0, s,
                          OnMatch, end);
  return rc == HS_SCAN_TERMINATED;
}

bool LineMatcher::MatchFallback(std::string_view line) const {
  for (const auto& l : impl_->literals) {
    if (memmem(line.data(), line.size(), l.data(), l.size()) != nullptr) return true;
  }
  for (const auto& re : impl_->regexes) {
    if (re2::RE2::PartialMatch(line, *re)) return true;
  }
  return false;
}

bool LineMatcher::Match(std::string_view line) const {
  if (always_) return true;
  if (impl_->db != nullptr) {
    uint64_t end;
    if (MatchHs(line, &end)) return true;
  }
  return MatchFallback(line);
}

void LineMatcher::MatchColumn(std::string_view column, const uint32_t* off, size_t lo, size_t hi,
                              std::vector<uint32_t>* hits) const {
  if (lo >= hi) return;
  if (always_ || !column_) {
    for (size_t i = lo; i < hi; ++i) {
      if (Match(column.substr(off[i], off[i + 1] - off[i]))) hits->push_back(static_cast<uint32_t>(i));
    }
    return;
  }
  size_t from = off[lo];
  const size_t stop = off[hi];
  while (from < stop) {
    uint64_t end = 0;
    if (!MatchHs(column.substr(from, stop - from), &end)) break;
    if (end == 0) end = 1;  // not produced (no empty matches); be safe
    size_t pos = from + end - 1;  // the match's last byte
    // The line holding `pos`: the last i with off[i] <= pos.
    const uint32_t* it = std::upper_bound(off + lo, off + hi + 1, static_cast<uint32_t>(pos));
    size_t i = static_cast<size_t>(it - off) - 1;
    std::string_view line = column.substr(off[i], off[i + 1] - off[i]);
    if (off[i] <= from || MatchHs(line, &end)) {
      // A match that started inside line i is inside it (it ended there).
      hits->push_back(static_cast<uint32_t>(i));
    }
    from = off[i + 1];
  }
}

}  // namespace sightline::logs::logql
