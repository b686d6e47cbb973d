// Fuzz target for the scrape parsers (untrusted bytes from any target): the
// Prometheus text format and OpenMetrics (first byte picks the format), and
// relabel template expansion. Besides "does not crash", checks the
// contracts: every error is InvalidArgument, series labels are sorted and
// unique, NaN values are never the staleness marker.
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "metrics/scrape/textparse.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "contract violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sightline::metrics::scrape;
  if (size == 0) return 0;
  Format f = (data[0] & 1) ? Format::kOpenMetrics : Format::kPrometheusText;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  TextParser p(body, f);
  for (int i = 0; i < 100000; ++i) {
    auto more = p.Next();
    if (!more.ok()) {
      if (more.status().code() != sightline::StatusCode::kInvalidArgument) {
        Fail("parser error with a code other than InvalidArgument");
      }
      break;
    }
    if (!*more) break;
    if (p.entry() != TextParser::Entry::kSeries) continue;
    if (std::bit_cast<uint64_t>(p.value()) == 0x7ff0000000000002ull) Fail("stale NaN parsed");
    auto ls = p.SeriesLabels();
    if (!ls.ok()) continue;
    for (size_t k = 1; k < ls->size(); ++k) {
      if (!((*ls)[k - 1].name < (*ls)[k].name)) Fail("labels not sorted and unique");
    }
    if (ls->Get("__name__") != p.metric_name()) Fail("__name__ differs from metric_name");
  }
  return 0;
}
