// Fuzz target for what the HTTP server does to untrusted request bytes
// before a handler sees them: Content-Encoding decoding (every codec, with a
// small output cap), percent-decoding, query strings and form bodies,
// request-target parsing, routing, tenant IDs and Content-Encoding names.
//
// The first input byte picks the decoder; the rest is its input. Besides
// "does not crash", it checks the contracts: Decompress never returns more
// than the cap, and compress→decompress and encode→decode round-trip.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/compression.h"
#include "net/http.h"
#include "net/tenant.h"

namespace {

using sightline::Codec;

constexpr size_t kCap = 256 * 1024;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "contract violated: %s\n", what);
  std::abort();
}

void DecompressOne(Codec codec, std::string_view in) {
  auto out = sightline::Decompress(codec, in, kCap);
  if (out.ok() && out->size() > kCap) Fail("Decompress returned more than max_output");
  if (!out.ok() && out.status().code() != sightline::StatusCode::kInvalidArgument &&
      out.status().code() != sightline::StatusCode::kResourceExhausted) {
    Fail("Decompress failed with an unexpected code");
  }
}

void RoundTrip(std::string_view in) {
  for (Codec c : {Codec::kNone, Codec::kGzip, Codec::kDeflate, Codec::kSnappy, Codec::kZstd}) {
    auto packed = sightline::Compress(c, in, 1);
    if (!packed.ok()) Fail("Compress failed");
    auto back = sightline::Decompress(c, *packed, in.size());
    if (!back.ok() || *back != in) Fail("compress/decompress round trip");
  }
}

void Url(std::string_view in) {
  (void)sightline::net::ParseQueryString(in);
  for (bool plus : {false, true}) {
    auto decoded = sightline::net::PercentDecode(in, plus);
    if (decoded.ok()) {
      auto again = sightline::net::PercentDecode(sightline::net::PercentEncode(*decoded), plus);
      if (!again.ok() || *again != *decoded) Fail("percent encode/decode round trip");
    }
  }
}

void Request(std::string_view in) {
  // First half: the target; second half: a form body.
  std::string_view target = in.substr(0, in.size() / 2);
  std::string_view body = in.substr(in.size() / 2);
  sightline::net::HttpHeaders h;
  h.Add("Content-Type", "application/x-www-form-urlencoded");
  auto req = sightline::net::HttpRequest::Make("POST", target, h, std::string(body));
  if (!req.ok()) return;
  for (const auto& [k, v] : req->query_params()) {
    (void)req->Param(k);
    (void)req->FormParams(k);
  }
  (void)req->FormParam("query");
  (void)req->Params("match[]");
}

const sightline::net::Router& TestRouter() {
  static const sightline::net::Router* router = [] {
    auto* r = new sightline::net::Router();
    auto noop = [](sightline::net::HttpRequest&, sightline::net::HttpResponse&) {};
    r->Handle("GET,POST", "/api/v1/query", noop);
    r->Handle("GET", "/api/v1/label/{name}/values", noop);
    r->Handle("GET", "/api/v1/label/__name__/values", noop);
    r->Handle("GET", "/api/v2/traces/{id}", noop);
    r->Handle("GET", "/debug/pprof/{profile...}", noop);
    r->Handle("GET", "/", noop);
    return r;
  }();
  return *router;
}

void Route(std::string_view in) {
  std::string path = "/" + std::string(in);
  auto m = TestRouter().Match("GET", path);
  if (m.route != nullptr && m.params.size() != m.route->param_names.size()) {
    Fail("route params do not match the pattern");
  }
}

void Names(std::string_view in) {
  auto t = sightline::net::ResolveTenant(in, true);
  if (t.ok() && (t->empty() || t->size() > sightline::net::kMaxTenantIdLength)) {
    Fail("accepted an out-of-range tenant ID");
  }
  (void)sightline::CodecFromContentEncoding(in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 10) {
    case 0:
      DecompressOne(Codec::kNone, in);
      break;
    case 1:
      DecompressOne(Codec::kGzip, in);
      break;
    case 2:
      DecompressOne(Codec::kDeflate, in);
      break;
    case 3:
      DecompressOne(Codec::kSnappy, in);
      break;
    case 4:
      DecompressOne(Codec::kZstd, in);
      break;
    case 5:
      RoundTrip(in);
      break;
    case 6:
      Url(in);
      break;
    case 7:
      Request(in);
      break;
    case 8:
      Route(in);
      break;
    default:
      Names(in);
      break;
  }
  return 0;
}
