// Fuzz target for the JFR parser behind /ingest?format=jfr
// (src/profiles/ingest/jfr.h): any bytes must give OK or InvalidArgument,
// never a crash, and the profiles built must reference only ids they hold.
// The first byte picks whether the input is also tried as a labels part.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string_view>
#include <vector>

#include "profiles/ingest/jfr.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "contract violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<sightline::profiles::JfrProfile> out;
  sightline::profiles::JfrOptions o;
  o.sample_rate = 100;
  sightline::Status s = sightline::profiles::ParseJfr(in, "", o, &out);
  if (!s.ok() && s.code() != sightline::StatusCode::kInvalidArgument) {
    Fail("ParseJfr failed with an unexpected code");
  }
  for (const auto& jp : out) {
    const auto& p = jp.profile;
    std::set<uint64_t> locs;
    for (const auto& l : p.location()) locs.insert(l.id());
    for (const auto& smp : p.sample()) {
      if (smp.value_size() != p.sample_type_size()) Fail("sample values != sample types");
      for (uint64_t id : smp.location_id()) {
        if (!locs.count(id)) Fail("sample references a missing location");
      }
    }
  }
  if (size > 0 && data[0] & 1) {
    // The same bytes as a LabelsSnapshot next to an empty JFR.
    out.clear();
    (void)sightline::profiles::ParseJfr("FLR", in, o, &out);
  }
  return 0;
}
