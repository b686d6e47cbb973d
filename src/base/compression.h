// Whole-buffer compression and *bounded* decompression for the codecs our
// clients send: gzip, deflate, snappy (block format), zstd.
//
// Decompress() is the defence against decompression bombs: it never holds
// more than `max_output` + 1 bytes of output (plus the codec's own working
// state), whatever the input claims about its size. Output grows in steps as
// the stream is decoded; snappy's declared length is checked before anything
// is allocated; zstd is decoded as a stream (a frame's content-size field is
// not trusted) with its window capped (see compression.cc).
//
// Errors:
//   InvalidArgument    malformed, truncated or trailing-garbage input;
//                      unknown Content-Encoding syntax.
//   ResourceExhausted  the output would exceed `max_output`.
//   Unimplemented      CodecFromContentEncoding: an encoding we do not speak
//                      (HTTP servers answer 415).
//
// Thread-safety: free functions without shared state; call from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"

namespace sightline {

enum class Codec {
  kNone,     // identity
  kGzip,     // RFC 1952; concatenated members are accepted
  kDeflate,  // HTTP "deflate": zlib-wrapped (RFC 1950); raw RFC 1951 also accepted
  kSnappy,   // snappy block format (what Prometheus remote write and Loki use),
             // not the framing format
  kZstd,     // RFC 8878 frames; concatenated frames are accepted
};

// "none", "gzip", "deflate", "snappy", "zstd".
std::string_view CodecName(Codec codec);

// Maps an HTTP Content-Encoding value to a codec. Case-insensitive and
// whitespace-tolerant; "" and "identity" are kNone, "x-gzip" is kGzip. A list
// ("gzip, identity") is accepted when at most one element is not identity.
Result<Codec> CodecFromContentEncoding(std::string_view content_encoding);

// Decodes `in`. The result holds at most `max_output` bytes; if the decoded
// data would be longer, fails with ResourceExhausted after having allocated
// at most about `max_output` bytes.
Result<std::string> Decompress(Codec codec, std::string_view in, size_t max_output);

// Encodes `in` with the codec's default level (gzip/deflate 6, zstd 3).
// kDeflate produces the zlib-wrapped form. Fails only on allocation failure
// inside the codec library (Internal).
Result<std::string> Compress(Codec codec, std::string_view in);

// As Compress(), with an explicit level for gzip/deflate (1..9) and zstd
// (1..19); ignored for snappy and kNone.
Result<std::string> Compress(Codec codec, std::string_view in, int level);

}  // namespace sightline
