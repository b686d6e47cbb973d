#include "base/compression.h"

#include <snappy.h>
#include <zconf.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

namespace sightline {
namespace {

// Output buffers start small and double, so a request that decodes to a few
// bytes does not allocate much and a large one is not copied too often.
constexpr size_t kFirstChunk = 16 * 1024;
constexpr size_t kMaxZlibChunk = std::numeric_limits<uInt>::max();

// zstd windows: wide enough for every level up to 19 in streaming mode (8
// MiB) and for windows that fit the output cap, never above the library's
// default limit (128 MiB). A frame that asks for more is refused, so a 20-byte
// request cannot make us allocate a huge window.
constexpr int kZstdMinWindowLog = 23;
constexpr int kZstdMaxWindowLog = 27;  // ZSTD_WINDOWLOG_LIMIT_DEFAULT (static-only API)

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status TooLarge(Codec codec, size_t max_output) {
  return ResourceExhaustedError(std::string(CodecName(codec)) +
                                ": decompressed body is larger than the limit of " +
                                std::to_string(max_output) + " bytes");
}

// A growable output area that never exceeds `cap` = max_output + 1 bytes: the
// extra byte is how we learn that the output would be too long.
class BoundedOutput {
 public:
  explicit BoundedOutput(size_t max_output, size_t hint)
      : max_output_(max_output),
        cap_(max_output == std::numeric_limits<size_t>::max() ? max_output : max_output + 1),
        hint_(hint) {}

  // Makes sure there is free space after `used()`; false when the cap is hit.
  bool Reserve() {
    if (used_ < buf_.size()) return true;
    if (buf_.size() >= cap_) return false;
    size_t next = buf_.empty() ? std::max(kFirstChunk, hint_) : buf_.size() * 2;
    if (next < buf_.size()) next = cap_;  // overflow
    buf_.resize(std::min(next, cap_));
    return true;
  }
  char* free_data() { return buf_.data() + used_; }
  size_t free_size() const { return buf_.size() - used_; }
  void Commit(size_t n) { used_ += n; }
  size_t used() const { return used_; }
  bool over_limit() const { return used_ > max_output_; }
  std::string Take() && {
    buf_.resize(used_);
    return std::move(buf_);
  }

 private:
  size_t max_output_;
  size_t cap_;
  size_t hint_;
  size_t used_ = 0;
  std::string buf_;
};

size_t OutputHint(std::string_view in, size_t max_output) {
  // Typical ratios for telemetry payloads are 4-10x.
  size_t hint = in.size() > std::numeric_limits<size_t>::max() / 4 ? in.size() : in.size() * 4;
  return std::min(hint, max_output);
}

struct InflateEnd {
  void operator()(z_stream* zs) const { inflateEnd(zs); }
};

// Inflates `in` with zlib `window_bits` (15+16: gzip, 15: zlib, -15: raw).
// With gzip, further members may follow the first one.
Result<std::string> Inflate(Codec codec, std::string_view in, size_t max_output, int window_bits) {
  z_stream zs{};
  if (inflateInit2(&zs, window_bits) != Z_OK) {
    return InternalError("zlib: inflateInit2 failed");
  }
  std::unique_ptr<z_stream, InflateEnd> guard(&zs);
  const bool gzip = window_bits > 15;
  const auto* next_in = reinterpret_cast<const Bytef*>(in.data());
  size_t left_in = in.size();
  BoundedOutput out(max_output, OutputHint(in, max_output));
  std::string_view name = CodecName(codec);

  for (;;) {
    if (!out.Reserve()) return TooLarge(codec, max_output);
    zs.next_in = const_cast<Bytef*>(next_in);
    zs.avail_in = static_cast<uInt>(std::min(left_in, kMaxZlibChunk));
    zs.next_out = reinterpret_cast<Bytef*>(out.free_data());
    zs.avail_out = static_cast<uInt>(std::min(out.free_size(), kMaxZlibChunk));
    const uInt avail_in_before = zs.avail_in;
    const uInt avail_out_before = zs.avail_out;
    int rc = inflate(&zs, Z_NO_FLUSH);
    size_t consumed = avail_in_before - zs.avail_in;
    next_in += consumed;
    left_in -= consumed;
    out.Commit(avail_out_before - zs.avail_out);
    if (out.over_limit()) return TooLarge(codec, max_output);

    switch (rc) {
      case Z_STREAM_END:
        if (left_in == 0) return std::move(out).Take();
        // Another gzip member may follow (as `cat a.gz b.gz` makes).
        if (gzip && left_in >= 2 && next_in[0] == 0x1f && next_in[1] == 0x8b) {
          if (inflateReset(&zs) != Z_OK) return InternalError("zlib: inflateReset failed");
          continue;
        }
        return InvalidArgumentError(std::string(name) + ": " + std::to_string(left_in) +
                                    " bytes of trailing data after the compressed stream");
      case Z_OK:
        continue;
      case Z_BUF_ERROR:
        // No progress: either the output is full (Reserve() grows it) or the
        // input ended before the stream did.
        if (zs.avail_out == 0) continue;
        return InvalidArgumentError(std::string(name) + ": truncated compressed stream");
      case Z_MEM_ERROR:
        return ResourceExhaustedError(std::string(name) + ": out of memory");
      case Z_NEED_DICT:
        return InvalidArgumentError(std::string(name) + ": stream needs a preset dictionary");
      default:
        return InvalidArgumentError(std::string(name) + ": malformed compressed stream (" +
                                    (zs.msg != nullptr ? zs.msg : "unknown error") + ")");
    }
  }
}

bool LooksLikeZlibHeader(std::string_view in) {
  if (in.size() < 2) return false;
  auto cmf = static_cast<uint8_t>(in[0]);
  auto flg = static_cast<uint8_t>(in[1]);
  return (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
}

Result<std::string> DecompressSnappy(std::string_view in, size_t max_output) {
  size_t length = 0;
  if (!snappy::GetUncompressedLength(in.data(), in.size(), &length)) {
    return InvalidArgumentError("snappy: malformed block header");
  }
  if (length > max_output) return TooLarge(Codec::kSnappy, max_output);
  // Validate before allocating what the header claims: a few bytes must not
  // be able to make us allocate max_output.
  if (!snappy::IsValidCompressedBuffer(in.data(), in.size())) {
    return InvalidArgumentError("snappy: malformed compressed block");
  }
  std::string out(length, '\0');
  if (!snappy::RawUncompress(in.data(), in.size(), out.data())) {
    return InvalidArgumentError("snappy: malformed compressed block");
  }
  return out;
}

struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

int ZstdWindowLog(size_t max_output) {
  int log = max_output <= 1 ? 0 : static_cast<int>(std::bit_width(max_output - 1));
  return std::clamp(log, kZstdMinWindowLog, kZstdMaxWindowLog);
}

Result<std::string> DecompressZstd(std::string_view in, size_t max_output) {
  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  if (dctx == nullptr) return InternalError("zstd: cannot create a decompression context");
  size_t rc = ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, ZstdWindowLog(max_output));
  if (ZSTD_isError(rc)) return InternalError("zstd: cannot set windowLogMax");

  ZSTD_inBuffer input{in.data(), in.size(), 0};
  BoundedOutput out(max_output, OutputHint(in, max_output));
  if (in.empty()) return InvalidArgumentError("zstd: empty input");
  for (;;) {
    if (!out.Reserve()) return TooLarge(Codec::kZstd, max_output);
    ZSTD_outBuffer output{out.free_data(), out.free_size(), 0};
    size_t ret = ZSTD_decompressStream(dctx.get(), &output, &input);
    if (ZSTD_isError(ret)) {
      if (ZSTD_getErrorCode(ret) == ZSTD_error_frameParameter_windowTooLarge) {
        return ResourceExhaustedError(
            "zstd: frame window is larger than the limit for this request (" +
            std::to_string(size_t{1} << ZstdWindowLog(max_output)) + " bytes)");
      }
      return InvalidArgumentError(std::string("zstd: malformed compressed stream (") +
                                  ZSTD_getErrorName(ret) + ")");
    }
    out.Commit(output.pos);
    if (out.over_limit()) return TooLarge(Codec::kZstd, max_output);
    if (ret == 0) {
      // A frame ended; another may follow.
      if (input.pos == input.size) return std::move(out).Take();
      continue;
    }
    if (input.pos == input.size && output.pos < output.size) {
      return InvalidArgumentError("zstd: truncated compressed stream");
    }
  }
}

struct DeflateEnd {
  void operator()(z_stream* zs) const { deflateEnd(zs); }
};

Result<std::string> Deflate(std::string_view in, int window_bits, int level) {
  z_stream zs{};
  if (level < 1 || level > 9) level = Z_DEFAULT_COMPRESSION;
  if (deflateInit2(&zs, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return InternalError("zlib: deflateInit2 failed");
  }
  std::unique_ptr<z_stream, DeflateEnd> guard(&zs);
  std::string out;
  out.resize(in.size() <= kMaxZlibChunk ? deflateBound(&zs, static_cast<uLong>(in.size()))
                                        : in.size() + in.size() / 1000 + 64);
  const auto* next_in = reinterpret_cast<const Bytef*>(in.data());
  size_t left_in = in.size();
  size_t used = 0;
  for (;;) {
    if (used == out.size()) out.resize(out.size() * 2 + 64);
    zs.next_in = const_cast<Bytef*>(next_in);
    zs.avail_in = static_cast<uInt>(std::min(left_in, kMaxZlibChunk));
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    zs.avail_out = static_cast<uInt>(std::min(out.size() - used, kMaxZlibChunk));
    const uInt avail_in_before = zs.avail_in;
    const uInt avail_out_before = zs.avail_out;
    int flush = left_in <= kMaxZlibChunk ? Z_FINISH : Z_NO_FLUSH;
    int rc = deflate(&zs, flush);
    size_t consumed = avail_in_before - zs.avail_in;
    next_in += consumed;
    left_in -= consumed;
    used += avail_out_before - zs.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return InternalError("zlib: deflate failed");
  }
  out.resize(used);
  return out;
}

}  // namespace

std::string_view CodecName(Codec codec) {
  switch (codec) {
    case Codec::kNone:
      return "none";
    case Codec::kGzip:
      return "gzip";
    case Codec::kDeflate:
      return "deflate";
    case Codec::kSnappy:
      return "snappy";
    case Codec::kZstd:
      return "zstd";
  }
  return "unknown";
}

Result<Codec> CodecFromContentEncoding(std::string_view content_encoding) {
  Codec found = Codec::kNone;
  int non_identity = 0;
  std::string_view rest = content_encoding;
  for (;;) {
    size_t comma = rest.find(',');
    std::string token = Lower(Trim(rest.substr(0, comma)));
    if (!token.empty() && token != "identity") {
      ++non_identity;
      if (token == "gzip" || token == "x-gzip") {
        found = Codec::kGzip;
      } else if (token == "deflate") {
        found = Codec::kDeflate;
      } else if (token == "snappy") {
        found = Codec::kSnappy;
      } else if (token == "zstd") {
        found = Codec::kZstd;
      } else {
        return UnimplementedError("unsupported Content-Encoding \"" + token +
                                  "\"; supported: gzip, deflate, snappy, zstd");
      }
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (non_identity > 1) {
    return UnimplementedError("stacked Content-Encodings are not supported: \"" +
                              std::string(content_encoding) + "\"");
  }
  return found;
}

Result<std::string> Decompress(Codec codec, std::string_view in, size_t max_output) {
  switch (codec) {
    case Codec::kNone:
      if (in.size() > max_output) return TooLarge(codec, max_output);
      return std::string(in);
    case Codec::kGzip:
      return Inflate(codec, in, max_output, 15 + 16);
    case Codec::kDeflate:
      if (LooksLikeZlibHeader(in)) {
        auto zlib = Inflate(codec, in, max_output, 15);
        // A raw stream can start with bytes that look like a zlib header;
        // only a malformed-data error is worth a second try.
        if (zlib.ok() || zlib.status().code() != StatusCode::kInvalidArgument) return zlib;
      }
      return Inflate(codec, in, max_output, -15);
    case Codec::kSnappy:
      return DecompressSnappy(in, max_output);
    case Codec::kZstd:
      return DecompressZstd(in, max_output);
  }
  return InvalidArgumentError("unknown codec");
}

Result<std::string> Compress(Codec codec, std::string_view in) { return Compress(codec, in, 0); }

Result<std::string> Compress(Codec codec, std::string_view in, int level) {
  switch (codec) {
    case Codec::kNone:
      return std::string(in);
    case Codec::kGzip:
      return Deflate(in, 15 + 16, level);
    case Codec::kDeflate:
      return Deflate(in, 15, level);
    case Codec::kSnappy: {
      std::string out;
      snappy::Compress(in.data(), in.size(), &out);
      return out;
    }
    case Codec::kZstd: {
      if (level < 1 || level > ZSTD_maxCLevel()) level = ZSTD_CLEVEL_DEFAULT;
      std::string out(ZSTD_compressBound(in.size()), '\0');
      size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level);
      if (ZSTD_isError(n)) return InternalError(std::string("zstd: ") + ZSTD_getErrorName(n));
      out.resize(n);
      return out;
    }
  }
  return InvalidArgumentError("unknown codec");
}

}  // namespace sightline
