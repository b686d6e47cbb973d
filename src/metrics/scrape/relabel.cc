#include "metrics/scrape/relabel.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>

#include "io/crypto.h"

namespace sightline::metrics::relabel {

namespace {

constexpr struct {
  Action action;
  std::string_view name;
} kActions[] = {
    {Action::kReplace, "replace"},     {Action::kKeep, "keep"},
    {Action::kDrop, "drop"},           {Action::kKeepEqual, "keepequal"},
    {Action::kDropEqual, "dropequal"}, {Action::kHashMod, "hashmod"},
    {Action::kLabelMap, "labelmap"},   {Action::kLabelDrop, "labeldrop"},
    {Action::kLabelKeep, "labelkeep"}, {Action::kLowercase, "lowercase"},
    {Action::kUppercase, "uppercase"},
};

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Prometheus's relabelTarget: ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$
bool IsValidTargetTemplate(std::string_view t) {
  if (t.empty()) return false;
  size_t i = 0;
  bool any = false;
  while (i < t.size()) {
    char c = t[i];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      ++i;
    } else if (c == '$') {
      ++i;
      if (i < t.size() && t[i] == '{') {
        size_t s = ++i;
        while (i < t.size() && IsWordChar(t[i])) ++i;
        if (i == s || i >= t.size() || t[i] != '}') return false;
        ++i;
      } else {
        size_t s = i;
        while (i < t.size() && IsWordChar(t[i])) ++i;
        if (i == s) return false;
      }
    } else if (any && IsWordChar(c)) {
      ++i;  // \w* after a leading element
    } else {
      return false;
    }
    any = true;
  }
  return true;
}

uint64_t Sum64(const io::Md5Digest& d) {
  uint64_t s = 0;
  for (int i = 8; i < 16; ++i) s = (s << 8) | d[i];
  return s;
}

std::string JoinSource(const Config& c, const tsdb::LabelsBuilder& lb) {
  std::string out;
  for (size_t i = 0; i < c.source_labels.size(); ++i) {
    if (i > 0) out += c.separator;
    out += lb.Get(c.source_labels[i]);
  }
  return out;
}

bool FullMatch(const re2::RE2& re, std::string_view s, std::vector<std::string_view>* groups) {
  int n = re.NumberOfCapturingGroups() + 1;
  thread_local std::vector<re2::StringPiece> pieces;
  pieces.assign(n, re2::StringPiece());
  if (!re.Match(re2::StringPiece(s.data(), s.size()), 0, s.size(), re2::RE2::ANCHOR_BOTH,
                pieces.data(), n)) {
    return false;
  }
  groups->resize(n);
  for (int i = 0; i < n; ++i) {
    (*groups)[i] = pieces[i].data() == nullptr
                       ? std::string_view()
                       : std::string_view(pieces[i].data(), pieces[i].size());
  }
  return true;
}

}  // namespace

std::string_view ActionName(Action a) {
  for (const auto& e : kActions) {
    if (e.action == a) return e.name;
  }
  return "unknown";
}

Result<Action> ParseAction(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& e : kActions) {
    if (e.name == lower) return e.action;
  }
  return InvalidArgumentError("unknown relabel action " + tsdb::GoQuote(name));
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

Status Validate(const Config& c) {
  const std::string_view action = ActionName(c.action);
  bool needs_target = c.action == Action::kReplace || c.action == Action::kHashMod ||
                      c.action == Action::kLowercase || c.action == Action::kUppercase ||
                      c.action == Action::kKeepEqual || c.action == Action::kDropEqual;
  if (needs_target && c.target_label.empty()) {
    return InvalidArgumentError("relabel configuration for " + std::string(action) +
                                " action requires 'target_label' value");
  }
  if (c.action == Action::kReplace && !IsValidTargetTemplate(c.target_label)) {
    return InvalidArgumentError(tsdb::GoQuote(c.target_label) + " is invalid 'target_label' for " +
                                std::string(action) + " action");
  }
  if ((c.action == Action::kLowercase || c.action == Action::kUppercase ||
       c.action == Action::kKeepEqual || c.action == Action::kDropEqual ||
       c.action == Action::kHashMod) &&
      !IsValidLabelName(c.target_label)) {
    return InvalidArgumentError(tsdb::GoQuote(c.target_label) + " is invalid 'target_label' for " +
                                std::string(action) + " action");
  }
  if (c.action == Action::kLabelMap && !IsValidTargetTemplate(c.replacement)) {
    return InvalidArgumentError(tsdb::GoQuote(c.replacement) + " is invalid 'replacement' for " +
                                std::string(action) + " action");
  }
  if (c.action == Action::kHashMod && c.modulus == 0) {
    return InvalidArgumentError("relabel configuration for hashmod requires non-zero modulus");
  }
  if (c.action == Action::kLabelDrop || c.action == Action::kLabelKeep) {
    if (!c.source_labels.empty() || !c.target_label.empty() || c.modulus != 0 ||
        c.separator != kDefaultSeparator || c.replacement != kDefaultReplacement) {
      return InvalidArgumentError(std::string(action) +
                                  " action requires only 'regex', and no other fields");
    }
  }
  if (c.action == Action::kKeepEqual || c.action == Action::kDropEqual) {
    if (c.regex != kDefaultRegex || c.modulus != 0 || c.separator != kDefaultSeparator ||
        c.replacement != kDefaultReplacement) {
      return InvalidArgumentError(std::string(action) +
                                  " action requires only 'source_labels' and `target_label`, and "
                                  "no other fields");
    }
  }
  return Status::Ok();
}

Result<Rule> Rule::Compile(const Config& config) {
  SL_RETURN_IF_ERROR(Validate(config));
  re2::RE2::Options o;
  o.set_log_errors(false);
  o.set_dot_nl(true);  // Prometheus compiles with (?s)
  auto re = std::make_shared<re2::RE2>("^(?:" + config.regex + ")$", o);
  if (!re->ok()) {
    return InvalidArgumentError("error parsing regexp: " + re->error() + ": " +
                                tsdb::GoQuote(config.regex));
  }
  Rule r;
  r.config_ = config;
  r.re_ = std::move(re);
  return r;
}

Result<std::vector<Rule>> CompileAll(const std::vector<Config>& configs) {
  std::vector<Rule> out;
  out.reserve(configs.size());
  for (const Config& c : configs) {
    SL_ASSIGN_OR_RETURN(Rule r, Rule::Compile(c));
    out.push_back(std::move(r));
  }
  return out;
}

std::string ExpandTemplate(std::string_view tmpl, const re2::RE2& re,
                           const std::vector<std::string_view>& groups) {
  std::string out;
  out.reserve(tmpl.size() + 16);
  size_t i = 0;
  while (i < tmpl.size()) {
    size_t dollar = tmpl.find('$', i);
    if (dollar == std::string_view::npos) {
      out.append(tmpl.substr(i));
      break;
    }
    out.append(tmpl.substr(i, dollar - i));
    i = dollar + 1;
    if (i < tmpl.size() && tmpl[i] == '$') {
      out += '$';
      ++i;
      continue;
    }
    std::string_view name;
    size_t next = i;
    bool ok = false;
    if (i < tmpl.size() && tmpl[i] == '{') {
      size_t s = i + 1, e = s;
      while (e < tmpl.size() && IsWordChar(tmpl[e])) ++e;
      if (e > s && e < tmpl.size() && tmpl[e] == '}') {
        name = tmpl.substr(s, e - s);
        next = e + 1;
        ok = true;
      }
    } else {
      size_t e = i;
      while (e < tmpl.size() && IsWordChar(tmpl[e])) ++e;
      if (e > i) {
        name = tmpl.substr(i, e - i);
        next = e;
        ok = true;
      }
    }
    if (!ok) {
      out += '$';  // malformed: the $ stays as text
      continue;
    }
    i = next;
    // A number (no leading zero, below 1e8) names a group by index.
    int num = 0;
    for (char c : name) {
      if (c < '0' || c > '9' || num >= 100000000) {
        num = -1;
        break;
      }
      num = num * 10 + (c - '0');
    }
    if (name.size() > 1 && name[0] == '0') num = -1;
    if (num >= 0) {
      if (static_cast<size_t>(num) < groups.size()) out.append(groups[num]);
      continue;
    }
    const auto& named = re.NamedCapturingGroups();
    auto it = named.find(std::string(name));
    if (it != named.end() && static_cast<size_t>(it->second) < groups.size()) {
      out.append(groups[it->second]);
    }
  }
  return out;
}

bool Process(const std::vector<Rule>& rules, tsdb::LabelsBuilder* lb) {
  std::vector<std::string_view> groups;
  for (const Rule& rule : rules) {
    const Config& c = rule.config_;
    const re2::RE2& re = *rule.re_;
    switch (c.action) {
      case Action::kDrop:
        if (FullMatch(re, JoinSource(c, *lb), &groups)) return false;
        break;
      case Action::kKeep:
        if (!FullMatch(re, JoinSource(c, *lb), &groups)) return false;
        break;
      case Action::kDropEqual:
        if (lb->Get(c.target_label) == JoinSource(c, *lb)) return false;
        break;
      case Action::kKeepEqual:
        if (lb->Get(c.target_label) != JoinSource(c, *lb)) return false;
        break;
      case Action::kReplace: {
        std::string val = JoinSource(c, *lb);
        if (!FullMatch(re, val, &groups)) break;
        std::string target = ExpandTemplate(c.target_label, re, groups);
        if (!IsValidLabelName(target)) break;
        std::string res = ExpandTemplate(c.replacement, re, groups);
        if (res.empty()) {
          lb->Del(target);
        } else {
          lb->Set(target, res);
        }
        break;
      }
      case Action::kLowercase:
      case Action::kUppercase: {
        std::string val = JoinSource(c, *lb);
        for (char& ch : val) {
          ch = static_cast<char>(c.action == Action::kLowercase
                                     ? std::tolower(static_cast<unsigned char>(ch))
                                     : std::toupper(static_cast<unsigned char>(ch)));
        }
        lb->Set(c.target_label, val);
        break;
      }
      case Action::kHashMod: {
        uint64_t mod = Sum64(io::Md5(JoinSource(c, *lb))) % c.modulus;
        lb->Set(c.target_label, std::to_string(mod));
        break;
      }
      case Action::kLabelMap: {
        tsdb::Labels cur = lb->Build();
        for (const tsdb::Label& l : cur) {
          if (!FullMatch(re, l.name, &groups)) continue;
          std::string name = ExpandTemplate(c.replacement, re, groups);
          lb->Set(name, l.value);
        }
        break;
      }
      case Action::kLabelDrop:
      case Action::kLabelKeep: {
        tsdb::Labels cur = lb->Build();
        bool keep_matching = c.action == Action::kLabelKeep;
        for (const tsdb::Label& l : cur) {
          bool m = FullMatch(re, l.name, &groups);
          if (m != keep_matching) lb->Del(l.name);
        }
        break;
      }
    }
  }
  return true;
}

tsdb::Labels Process(const std::vector<Rule>& rules, const tsdb::Labels& in, bool* kept) {
  tsdb::LabelsBuilder lb(in);
  *kept = Process(rules, &lb);
  if (!*kept) return {};
  return lb.Build();
}

}  // namespace sightline::metrics::relabel
