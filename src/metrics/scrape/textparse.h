// Parsers for the two text exposition formats a scrape target may answer
// with (Prometheus's model/textparse):
//
//   Prometheus text 0.0.4   `name{l="v",...} value [timestamp_ms]`, with
//                           # HELP / # TYPE lines, other # comments and blank
//                           lines allowed;
//   OpenMetrics 1.0         the same shape with # UNIT, timestamps in
//                           (float) seconds, exemplars after ` # `, no blank
//                           lines or free comments, and a final `# EOF`.
//
// Values follow Go's ParseFloat as Prometheus uses it (NaN, Inf, +Inf, -Inf
// in any case, exponents, hex floats; `_`, `p`-less forms rejected), label
// values unescape \\ \" \n. NaN values become Prometheus's normal NaN (never
// the staleness marker).
//
// OpenMetrics `<family>_created` series of counters, histograms, summaries
// and gauge histograms are skipped, as Prometheus does (they carry the
// creation time, not a sample).
//
// Errors are InvalidArgument with Prometheus's messages ("expected label
// name, got ... while parsing: ...", "data does not end with # EOF", "invalid
// metric type ..."); the first error ends the parse (a scrape with an error
// is a failed scrape, as in Prometheus).
//
// Use:
//   TextParser p(body, FormatFromContentType(content_type));
//   while (true) {
//     SL_ASSIGN_OR_RETURN(bool more, p.Next());
//     if (!more) break;
//     switch (p.entry()) { case TextParser::Entry::kSeries: ... }
//   }
//
// Views returned by the accessors point into the body or into the parser and
// stay valid until the next call to Next(). The body must outlive the parser.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "metrics/storage/storage.h"

namespace sightline::metrics::scrape {

enum class Format { kPrometheusText, kOpenMetrics };

// The format of a response, from its Content-Type, as Prometheus picks it:
// application/openmetrics-text is OpenMetrics, anything else (text/plain,
// missing, unknown) the Prometheus text format.
Format FormatFromContentType(std::string_view content_type);

// The Accept header Prometheus 2.42 sends on scrapes: OpenMetrics 1.0.0
// first, then 0.0.1, then the text format.
inline constexpr std::string_view kScrapeAcceptHeader =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

class TextParser {
 public:
  enum class Entry { kSeries, kHelp, kType, kUnit, kComment };

  TextParser(std::string_view body, Format format);

  // Advances to the next entry: true when there is one, false at the end of
  // the input (OpenMetrics: at `# EOF`), InvalidArgument on bad input.
  Result<bool> Next();
  Entry entry() const { return entry_; }

  // --- kSeries ---
  // The series as written (`name{labels}`, without value), a cache key.
  std::string_view series_text() const { return series_; }
  std::string_view metric_name() const { return metric_name_; }
  // The series' labels, __name__ included, sorted by name, with empty
  // values dropped; InvalidArgument on a repeated label name.
  Result<Labels> SeriesLabels() const;
  double value() const { return value_; }
  bool has_timestamp() const { return has_ts_; }
  int64_t timestamp_ms() const { return ts_ms_; }
  // OpenMetrics exemplar of this sample, if any.
  bool has_exemplar() const { return has_exemplar_; }
  const Exemplar& exemplar() const { return exemplar_; }

  // --- kHelp / kType / kUnit ---
  std::string_view meta_name() const { return meta_name_; }
  // Help text (unescaped), type name ("counter", ...; the text format's
  // "untyped" is "unknown") or unit.
  std::string_view meta_text() const { return meta_text_; }

  // --- kComment (text format only) ---
  std::string_view comment() const { return meta_text_; }

  // The current family's type (from the last # TYPE), "unknown" if none or
  // if the series is not of that family.
  std::string_view CurrentType() const;

 private:
  struct RawLabel {
    std::string_view name;
    std::string_view raw_value;  // still escaped
  };

  Result<bool> NextText();
  Result<bool> NextOpenMetrics();
  Status ParseMeta(std::string_view line, bool openmetrics, bool* is_meta);
  Status ParseSeries(std::string_view line, bool openmetrics);
  Status ParseLabelSet(std::string_view line, size_t* pos, std::vector<RawLabel>* out,
                       bool openmetrics);
  Status ParseExemplar(std::string_view line, size_t* pos);
  Status Error(std::string_view expected, std::string_view line, size_t pos) const;
  bool SkipCreated() const;

  std::string_view body_;
  Format format_;
  size_t pos_ = 0;
  bool done_ = false;
  Entry entry_ = Entry::kComment;

  std::string_view series_;
  std::string_view metric_name_;
  std::vector<RawLabel> labels_;
  double value_ = 0;
  bool has_ts_ = false;
  int64_t ts_ms_ = 0;
  bool has_exemplar_ = false;
  Exemplar exemplar_;
  std::vector<RawLabel> exemplar_labels_;

  std::string_view meta_name_;
  std::string_view meta_text_;
  std::string meta_buf_;  // unescaped help text

  std::string type_family_;
  std::string type_;
};

// Unescapes a label value (\\ \" \n; other backslashes stay as they are).
std::string UnescapeLabelValue(std::string_view raw);
// Go's strconv.ParseFloat(s, 64) as Prometheus calls it (rejecting `_`,
// `p` exponents without hex are errors, hex floats accepted).
Result<double> ParseGoFloat(std::string_view s);

}  // namespace sightline::metrics::scrape
