// Factories for the pipeline stages of LogQL (internal to src/logs/logql).
// Each returns an immutable Stage (ast.h), or InvalidArgument with Loki's
// message when the stage's arguments are invalid (a bad regex, a pattern
// without captures, ...), which the parser reports as a parse error.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "logs/logql/ast.h"

namespace sightline::logs::logql {

enum class LineFilterOp { kContains, kNotContains, kRegex, kNotRegex, kPattern, kNotPattern };

struct LineFilterTerm {
  std::string value;
  bool ip = false;  // ip("...")
};

// `|= "a" or "b"`: a positive filter keeps a line matching any term; a
// negative one drops a line matching any term.
Result<StagePtr> MakeLineFilter(LineFilterOp op, std::vector<LineFilterTerm> terms);

// Parser stages. `exprs` are `label="expression"` pairs; empty: extract all.
struct ParserExpr {
  std::string label;
  std::string expr;  // empty: the label name itself (logfmt `| logfmt a`)
};
Result<StagePtr> MakeJsonParser(std::vector<ParserExpr> exprs);
Result<StagePtr> MakeLogfmtParser(bool strict, bool keep_empty, std::vector<ParserExpr> exprs);
Result<StagePtr> MakeRegexpParser(std::string regex);
Result<StagePtr> MakePatternParser(std::string pattern);
StagePtr MakeUnpackParser();
StagePtr MakeDecolorize();

// Label filters: a tree of predicates over the entry's labels.
class LabelFilter {
 public:
  virtual ~LabelFilter() = default;
  virtual bool Process(LabelsState* lbs) const = 0;
  virtual std::string String() const = 0;
  // See Stage::RequiredLabelValue.
  virtual std::optional<std::string> RequiredValue(std::string_view) const { return std::nullopt; }
};
using LabelFilterPtr = std::unique_ptr<const LabelFilter>;

enum class CmpOp { kEq, kNe, kGt, kGe, kLt, kLe };  // = or ==, !=, >, >=, <, <=

LabelFilterPtr MakeStringLabelFilter(Matcher m);
// `eq_op` says how the operator was written ("=" or "==") for String().
LabelFilterPtr MakeNumberLabelFilter(std::string name, CmpOp op, std::string op_text, double v);
LabelFilterPtr MakeDurationLabelFilter(std::string name, CmpOp op, std::string op_text,
                                       int64_t ns, std::string literal);
LabelFilterPtr MakeBytesLabelFilter(std::string name, CmpOp op, std::string op_text,
                                    uint64_t bytes, std::string literal);
Result<LabelFilterPtr> MakeIpLabelFilter(std::string name, bool equal, std::string pattern);
LabelFilterPtr MakeBinaryLabelFilter(bool is_and, LabelFilterPtr l, LabelFilterPtr r,
                                     std::string sep);
LabelFilterPtr MakeParenLabelFilter(LabelFilterPtr inner);
StagePtr MakeLabelFilterStage(LabelFilterPtr f);

// line_format / label_format (Go templates, template.h).
Result<StagePtr> MakeLineFormat(std::string tmpl);
struct LabelFmt {
  std::string dst;
  std::string value;  // a label name (rename) or a template
  bool rename = false;
};
Result<StagePtr> MakeLabelFormat(std::vector<LabelFmt> fmts);

// drop / keep: plain names or matchers (`drop level="debug"`).
struct DropKeepItem {
  std::string name;
  std::optional<Matcher> matcher;
};
StagePtr MakeDrop(std::vector<DropKeepItem> items);
StagePtr MakeKeep(std::vector<DropKeepItem> items);

// Value conversions shared with unwrap, following Go and Loki:
// time.ParseDuration (ns), humanize.ParseBytes, strconv.ParseFloat.
// Errors carry Go's messages (`time: invalid duration "x"`).
Result<int64_t> ParseGoDuration(std::string_view s);
Result<uint64_t> ParseHumanBytes(std::string_view s);
Result<double> ParseGoFloat(std::string_view s);

// Loki's label key sanitising for parsers: non [A-Za-z0-9_] -> '_', and a
// leading digit gets a '_' prefix.
std::string SanitizeLabelKey(std::string_view key, bool is_prefix);

// Removes ANSI escape sequences (decolorize).
std::string Decolorize(std::string_view s);

}  // namespace sightline::logs::logql
