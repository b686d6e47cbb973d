// Binary encoding of one Trace (traces/model.h), used by the WAL records and
// by the block format (docs/formats/traces-wal.md, traces-block.md).
//
// Strings are written either inline (length-prefixed) or as indexes into a
// dictionary shared by a row group of a block. Times are varints relative to
// the trace's earliest span start, ids raw bytes.
//
// Thread-safety: the encoder/decoder objects are single-threaded values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "traces/model.h"

namespace sightline::traces::store {

// The tag byte before each attribute value in the encoding (shared with the
// OTLP wire encoder of traces/ingest/otlp_wire.h, which writes the same
// bytes straight from a request).
enum ValueTag : uint8_t {
  kEmpty = 0,
  kString = 1,
  kFalse = 2,
  kTrue = 3,
  kInt = 4,
  kDouble = 5,
  kBytes = 6,
  kArray = 7,
  kKvList = 8,
};

// Collects the distinct strings of a row group. Every string of a cut
// goes through Add: the strings' bytes live back to back in one arena, and
// an open-addressing table of (hash tag, index) slots finds them. Strings
// of up to 16 bytes (most keys and many values) are hashed from two
// overlapping loads and compared by those two words, without touching the
// arena; longer ones are hashed with XXH3 and compared with memcmp.
class StringDict {
 public:
  uint32_t Add(std::string_view s);
  // Add, always inlined; defined in codec.cc for its transcoder (other
  // translation units call Add).
  [[gnu::always_inline]] inline uint32_t AddInline(std::string_view s);
  size_t size() const { return entries_.size(); }
  // String i; valid until the next Add or Clear.
  std::string_view at(size_t i) const {
    return {arena_.data() + entries_[i].offset, entries_[i].len};
  }
  // Copies of the views, in index order (tests and small users).
  std::vector<std::string_view> strings() const;
  // The block's dictionary section: uvarint n, then n length-prefixed
  // strings in index order (docs/formats/traces-block.md).
  void AppendTo(std::string* out) const;
  void Clear();  // strings and pieces

  // Pieces already transcoded with this dictionary (TranscodeTrace: a
  // resource's or scope's inline bytes -> their bytes with dictionary
  // indexes). The traces of one SDK process repeat the same resource and
  // scopes byte for byte, so the cut copies a piece's transcoding instead of
  // looking up each of its strings again: the result is the same bytes, as
  // the strings' indexes never change until Clear. A small direct-mapped
  // cache (kPieces entries, the newest piece wins a slot).
  // Pieces that do not repeat cost an extra walk and hash each: the cache
  // turns itself off for the rest of the row group (until Clear) once it
  // has missed 32 times with fewer than one hit per two misses.
  // FindPiece: the transcoding of `raw`, or nullptr. Pieces are keyed by
  // their kind too: the same bytes can be both a valid resource and a
  // valid scope, with different transcodings.
  enum class PieceKind : uint8_t { kResource, kScope };
  bool PiecesUseful() const { return piece_misses_ < 32 || piece_hits_ * 2 >= piece_misses_; }
  const std::string* FindPiece(PieceKind kind, std::string_view raw);
  void AddPiece(PieceKind kind, std::string_view raw, std::string_view transcoded);

  // Scratch output for TranscodeTrace: at least `n` bytes, contents not
  // kept across calls.
  char* Scratch(size_t n);

 private:
  static constexpr size_t kPieces = 64;
  struct Piece {
    uint64_t hash = 0;
    PieceKind kind = PieceKind::kResource;
    std::string raw, transcoded;
  };
  struct Entry {
    uint64_t a = 0, b = 0;  // the two words hashed and compared (len <= 16)
    size_t offset = 0;      // into arena_
    uint32_t len = 0;
  };
  void Rehash(size_t slots);
  // Add's miss: appends `s` and fills slot `i`.
  uint32_t Insert(std::string_view s, uint64_t a, uint64_t b, uint64_t tag, size_t i);
  // High 32 bits: the hash's high bits; low 32: index + 1 (0: empty).
  std::vector<uint64_t> slots_;
  std::vector<Entry> entries_;
  std::string arena_;
  std::vector<Piece> pieces_;  // kPieces once used; raw empty: unused
  uint64_t piece_hits_ = 0, piece_misses_ = 0;
  std::unique_ptr<char[]> scratch_;
  size_t scratch_size_ = 0;
};

// Appends the encoding of `t` to `out`. `dict` null: strings inline.
void EncodeTrace(const Trace& t, StringDict* dict, std::string* out);

// Decodes one trace from `in` (exactly the bytes EncodeTrace wrote).
// `dict` null: strings inline. DataLoss on malformed input or an index
// outside the dictionary.
Status DecodeTrace(std::string_view in, const std::vector<std::string_view>* dict, Trace* t);

// What a block needs to know of a trace besides its bytes.
struct TraceSummary {
  uint64_t spans = 0;
  uint64_t min_start = 0;  // TraceTimeRange
  uint64_t max_end = 0;
};

// The parts of one trace as the head keeps them (EncodeTrace records with
// inline strings, in arrival order) written as one record with `dict`:
// exactly EncodeTrace(merged, dict, out) where `merged` is the parts decoded
// and merged in order with MergeTrace(dedup=false), but without building
// Trace objects (strings are re-pointed into the dictionary, everything
// else is copied). DataLoss where DecodeTrace would fail.
Status TranscodeTrace(const std::vector<std::string_view>& parts, StringDict* dict,
                      std::string* out, TraceSummary* summary);

// Approximate in-memory size of a trace (limits, metrics).
size_t TraceBytes(const Trace& t);

// Merges `from` into `into` (same trace id): resources and scopes appended.
// With `dedup`, spans whose span id `into` already holds are skipped (a span
// stored twice, e.g. replayed from the WAL after its block was cut, counts
// once); without, everything is appended (the head's fast path).
void MergeTrace(Trace from, Trace* into, bool dedup = true);

// Earliest span start and latest span end (0, 0 for no spans).
std::pair<uint64_t, uint64_t> TraceTimeRange(const Trace& t);

}  // namespace sightline::traces::store
