// Fuzz target: the block cut's transcoder (store/codec.h TranscodeTrace),
// which rewrites the head's records (EncodeTrace, inline strings) into a
// row group's dictionary encoding without decoding them, differentially
// against the slow path it stands in for. Contracts checked on arbitrary
// records (a damaged WAL record that passed its checksum, a bug in an
// encoder):
//  - no crash, no out-of-bounds read;
//  - it accepts exactly when DecodeTrace accepts every part;
//  - what it writes decodes (with the dictionary) to the parts decoded and
//    merged in order (MergeTrace, dedup off), field for field, with the
//    summary's span count and time range of that trace.
// Input: byte 0 = number of parts (1-3), then per part a 2-byte length,
// the last part taking the rest; later parts carry the first's trace id.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "traces/store/codec.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "traces_transcode_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sightline::traces;
  if (size < 1 || size > (1 << 16)) return 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t n = 1 + data[0] % 3;
  std::vector<std::string_view> parts;
  for (size_t i = 0; i + 1 < n; ++i) {
    if (in.size() < 2) return 0;
    size_t len = static_cast<uint8_t>(in[0]) | static_cast<size_t>(static_cast<uint8_t>(in[1])) << 8;
    in.remove_prefix(2);
    if (len > in.size()) len = in.size();
    parts.push_back(in.substr(0, len));
    in.remove_prefix(len);
  }
  parts.push_back(in);
  // The parts of one trace share its id (the head groups records by id):
  // later parts get the first part's id bytes.
  std::vector<std::string> owned(parts.begin(), parts.end());
  for (size_t i = 1; i < owned.size(); ++i) {
    if (owned[0].size() >= 16 && owned[i].size() >= 16) owned[i].replace(0, 16, owned[0], 0, 16);
    parts[i] = owned[i];
  }

  bool decode_ok = true;
  Trace merged;
  for (size_t i = 0; i < parts.size(); ++i) {
    Trace t;
    if (!store::DecodeTrace(parts[i], nullptr, &t).ok()) {
      decode_ok = false;
      break;
    }
    if (i == 0) {
      merged = std::move(t);
    } else {
      store::MergeTrace(std::move(t), &merged, /*dedup=*/false);
    }
  }
  store::StringDict dict;
  std::string out;
  store::TraceSummary summary;
  const bool transcode_ok = store::TranscodeTrace(parts, &dict, &out, &summary).ok();
  if (transcode_ok != decode_ok) Fail("accepts differently from DecodeTrace");
  if (!decode_ok) return 0;

  const std::vector<std::string_view> views = dict.strings();
  Trace got;
  if (!store::DecodeTrace(out, &views, &got).ok()) Fail("its output does not decode");
  std::string want_bytes, got_bytes;
  store::EncodeTrace(merged, nullptr, &want_bytes);
  store::EncodeTrace(got, nullptr, &got_bytes);
  if (want_bytes != got_bytes) Fail("output differs from the merged parts");
  if (summary.spans != merged.spans.size()) Fail("summary span count differs");
  const auto [lo, hi] = store::TraceTimeRange(merged);
  if (summary.spans != 0 && (summary.min_start != lo || summary.max_end != hi)) {
    Fail("summary time range differs");
  }
  return 0;
}
