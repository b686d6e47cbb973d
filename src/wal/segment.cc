#include "wal/segment.h"

#include <algorithm>
#include <cstdio>

#include "base/coding.h"
#include "base/compression.h"
#include "base/crc32c.h"

namespace sightline::wal {
namespace {

// Bytes read from the file at a time (a whole number of pages, so that a
// fragment, which never crosses a page, never crosses a chunk either).
constexpr uint64_t kReadChunk = 32 * kPageSize;

uint64_t PageRemaining(uint64_t offset) { return kPageSize - offset % kPageSize; }

std::string Hex(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02x", b);
  return buf;
}

}  // namespace

std::string SegmentName(uint32_t index) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08u", index);
  return buf;
}

std::optional<uint32_t> ParseSegmentName(std::string_view name) {
  if (name.size() < 8 || name.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

std::string CheckpointName(uint32_t index) { return "checkpoint." + SegmentName(index); }

std::optional<uint32_t> ParseCheckpointName(std::string_view name) {
  constexpr std::string_view kPrefix = "checkpoint.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  return ParseSegmentName(name.substr(kPrefix.size()));
}

uint64_t PagePadding(uint64_t offset) {
  uint64_t rem = PageRemaining(offset);
  return rem == kPageSize ? 0 : rem;
}

uint64_t EncodedEnd(uint64_t offset, uint64_t size) {
  bool first = true;
  while (first || size > 0) {
    uint64_t rem = PageRemaining(offset);
    // A fragment needs its header and, unless the record is empty, at least
    // one payload byte; otherwise the page is padded.
    if (rem < kHeaderSize || (rem == kHeaderSize && size > 0)) {
      offset += rem;
      continue;
    }
    uint64_t n = std::min(size, rem - kHeaderSize);
    offset += kHeaderSize + n;
    size -= n;
    first = false;
    if (PageRemaining(offset) < kHeaderSize) offset += PageRemaining(offset);
  }
  return offset;
}

namespace {

// Frames `record` at `*offset`: calls header(const char*), payload(view) and
// pad(n) (n <= kHeaderSize zero bytes) in file order.
template <typename Header, typename Payload, typename Pad>
uint64_t FrameRecord(std::string_view record, uint8_t flags, uint64_t* offset,
                     uint64_t* completed_pages, Header&& header_fn, Payload&& payload_fn,
                     Pad&& pad_fn) {
  bool first = true;
  uint64_t pos = *offset;
  uint64_t start = pos;
  auto pad = [&](uint64_t n) {
    pad_fn(static_cast<size_t>(n));
    pos += n;
    if (completed_pages) ++*completed_pages;
  };
  while (first || !record.empty()) {
    uint64_t rem = PageRemaining(pos);
    if (rem < kHeaderSize || (rem == kHeaderSize && !record.empty())) {
      pad(rem);
      continue;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(record.size(), rem - kHeaderSize));
    bool last = n == record.size();
    uint8_t type = first ? (last ? kFull : kFirst) : (last ? kLast : kMiddle);
    std::string_view part = record.substr(0, n);
    if (first) start = pos;
    char header[kHeaderSize];
    header[0] = static_cast<char>(type | flags);
    header[1] = static_cast<char>(n >> 8);
    header[2] = static_cast<char>(n);
    uint32_t crc = crc32c::Value(part);
    header[3] = static_cast<char>(crc >> 24);
    header[4] = static_cast<char>(crc >> 16);
    header[5] = static_cast<char>(crc >> 8);
    header[6] = static_cast<char>(crc);
    header_fn(header);
    payload_fn(part);
    pos += kHeaderSize + n;
    record.remove_prefix(n);
    first = false;
    if (PageRemaining(pos) == kPageSize) {
      if (completed_pages) ++*completed_pages;
    } else if (PageRemaining(pos) < kHeaderSize) {
      pad(PageRemaining(pos));
    }
  }
  *offset = pos;
  return start;
}

constexpr char kZeros[kHeaderSize] = {};

}  // namespace

uint64_t EncodeRecord(std::string_view record, uint8_t flags, uint64_t* offset, std::string* out,
                      uint64_t* completed_pages) {
  return FrameRecord(
      record, flags, offset, completed_pages,
      [&](const char* header) { out->append(header, kHeaderSize); },
      [&](std::string_view part) { out->append(part); },
      [&](size_t n) { out->append(n, '\0'); });
}

uint64_t EncodeRecordGather(std::string_view record, uint8_t flags, uint64_t* offset,
                            GatherBuffer* out, uint64_t* completed_pages) {
  return FrameRecord(
      record, flags, offset, completed_pages,
      [&](const char* header) {
        auto& h = out->headers.emplace_back();
        std::copy(header, header + kHeaderSize, h.begin());
        out->pieces.emplace_back(h.data(), kHeaderSize);
        out->bytes += kHeaderSize;
      },
      [&](std::string_view part) {
        if (part.empty()) return;
        out->pieces.push_back(part);
        out->bytes += part.size();
      },
      [&](size_t n) {
        out->pieces.emplace_back(kZeros, n);
        out->bytes += n;
      });
}

SegmentReader::SegmentReader(const io::RandomAccessFile* file) : file_(file), size_(file->Size()) {}

SegmentReader::Outcome SegmentReader::Fail(Outcome kind, uint64_t offset, std::string what) {
  error_offset_ = offset;
  error_ = std::move(what);
  pos_ = size_;  // further calls report the end
  return kind;
}

bool SegmentReader::Load(uint64_t pos, uint64_t n) {
  if (pos >= chunk_start_ && pos + n <= chunk_start_ + chunk_.size()) return true;
  if (pos + n > size_) return false;
  uint64_t start = pos - pos % kPageSize;
  uint64_t len = std::min(kReadChunk, size_ - start);
  auto got = file_->Read(start, static_cast<size_t>(len), &scratch_);
  if (!got.ok()) {
    status_ = got.status();
    return false;
  }
  chunk_ = *got;
  chunk_start_ = start;
  if (chunk_.size() < len) {
    status_ = DataLossError("short read");
    return false;
  }
  return pos + n <= chunk_start_ + chunk_.size();
}

SegmentReader::Outcome SegmentReader::Next(std::string_view* record, uint64_t* offset) {
  if (!status_.ok()) return Outcome::kIoError;
  assembled_.clear();
  bool in_record = false;
  uint64_t record_start = pos_;
  uint8_t record_flags = 0;
  while (true) {
    if (pos_ >= size_) {
      if (in_record) {
        return Fail(Outcome::kTorn, record_start, "the file ends inside a record");
      }
      return Outcome::kEnd;
    }
    if (!Load(pos_, 1)) return status_.ok() ? Outcome::kEnd : Outcome::kIoError;
    const uint64_t page_end = pos_ - pos_ % kPageSize + kPageSize;
    const uint8_t b0 = static_cast<uint8_t>(chunk_[pos_ - chunk_start_]);
    const uint8_t type = b0 & kTypeMask;
    if (type == kPageTerm) {
      // The rest of the page must be zeros.
      if (b0 != 0) return Fail(Outcome::kCorrupt, pos_, "invalid fragment type byte " + Hex(b0));
      uint64_t end = std::min(page_end, size_);
      if (!Load(pos_, end - pos_)) return status_.ok() ? Outcome::kEnd : Outcome::kIoError;
      std::string_view pad = chunk_.substr(pos_ - chunk_start_, end - pos_);
      size_t bad = pad.find_first_not_of('\0');
      if (bad != std::string_view::npos) {
        return Fail(Outcome::kCorrupt, pos_ + bad, "non-zero byte in page padding");
      }
      if (end < page_end) {
        // Writers pad only to a page end; zeros that stop short of it are
        // a preallocated or half-written tail.
        return Fail(Outcome::kTorn, in_record ? record_start : pos_,
                    "the file ends inside zero padding");
      }
      pos_ = end;
      if (!in_record) good_offset_ = pos_;
      continue;
    }
    if (type > kLast) return Fail(Outcome::kCorrupt, pos_, "invalid fragment type " + Hex(b0));
    const uint8_t flags = b0 & ~kTypeMask;
    if ((flags & ~(kSnappyFlag | kZstdFlag)) != 0 || flags == (kSnappyFlag | kZstdFlag)) {
      return Fail(Outcome::kCorrupt, pos_, "invalid fragment flags " + Hex(b0));
    }
    if (page_end - pos_ < kHeaderSize) {
      return Fail(Outcome::kCorrupt, pos_, "fragment header crosses a page boundary");
    }
    if (pos_ + kHeaderSize > size_) {
      return Fail(Outcome::kTorn, in_record ? record_start : pos_,
                  "the file ends inside a fragment header");
    }
    if (!Load(pos_, kHeaderSize)) return status_.ok() ? Outcome::kEnd : Outcome::kIoError;
    const char* h = chunk_.data() + (pos_ - chunk_start_);
    const uint64_t length =
        (uint64_t{static_cast<uint8_t>(h[1])} << 8) | static_cast<uint8_t>(h[2]);
    const uint32_t want_crc = coding::LoadFixed32BE(h + 3);
    if (pos_ + kHeaderSize + length > page_end) {
      return Fail(Outcome::kCorrupt, pos_,
                  "fragment length " + std::to_string(length) + " crosses a page boundary");
    }
    if (pos_ + kHeaderSize + length > size_) {
      return Fail(Outcome::kTorn, in_record ? record_start : pos_,
                  "the file ends inside a fragment");
    }
    if (!Load(pos_, kHeaderSize + length)) return status_.ok() ? Outcome::kEnd : Outcome::kIoError;
    std::string_view data = chunk_.substr(pos_ - chunk_start_ + kHeaderSize, length);
    if (crc32c::Value(data) != want_crc) {
      return Fail(Outcome::kCorrupt, pos_, "fragment checksum mismatch");
    }
    const uint64_t frag_start = pos_;
    // Sequencing: FULL | FIRST MIDDLE* LAST.
    if (type == kFull || type == kFirst) {
      if (in_record) {
        return Fail(Outcome::kCorrupt, frag_start, "a record starts before the previous one ended");
      }
      record_start = frag_start;
      record_flags = flags;
    } else {
      if (!in_record) {
        return Fail(Outcome::kCorrupt, frag_start, "a continuation fragment without a first one");
      }
      if (flags != record_flags) {
        return Fail(Outcome::kCorrupt, frag_start, "fragment flags differ within a record");
      }
    }
    pos_ += kHeaderSize + length;
    std::string_view payload;
    if (type == kFull) {
      payload = data;
    } else {
      if (assembled_.size() + data.size() > kMaxRecordSize) {
        return Fail(Outcome::kCorrupt, record_start, "record larger than 1 GiB");
      }
      assembled_.append(data);
      if (type != kLast) {
        in_record = true;
        continue;
      }
      payload = assembled_;
    }
    good_offset_ = pos_;
    if (record_flags != 0) {
      Codec codec = (record_flags & kSnappyFlag) ? Codec::kSnappy : Codec::kZstd;
      auto out = Decompress(codec, payload, kMaxRecordSize);
      if (!out.ok()) {
        good_offset_ = record_start;
        return Fail(Outcome::kCorrupt, record_start,
                    "record does not decompress: " + out.status().message());
      }
      decompressed_ = std::move(*out);
      payload = decompressed_;
    }
    *record = payload;
    *offset = record_start;
    return Outcome::kRecord;
  }
}

}  // namespace sightline::wal
