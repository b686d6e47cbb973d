#include "metrics/tsdb/block.h"

#include <algorithm>
#include <string_view>

#include "base/coding.h"
#include "base/crc32c.h"
#include "metrics/tsdb/index/index_writer.h"

namespace sightline::tsdb {

namespace {

constexpr uint32_t kTombstonesMagic = 0x0130BA30;
constexpr uint8_t kTombstonesFormatV1 = 1;
constexpr size_t kTombstonesHeaderSize = 5;

std::string Range(int64_t a, int64_t b) {
  return "[" + std::to_string(a) + ", " + std::to_string(b) + ")";
}

// Checks `series` against the contract and computes the block range.
Status Validate(std::span<const SeriesInput> series, int64_t* min_time, int64_t* max_time) {
  bool derive = *min_time == 0 && *max_time == 0;
  if (!derive && *max_time <= *min_time) {
    return InvalidArgumentError("block range " + Range(*min_time, *max_time) + " is empty");
  }
  int64_t lo = std::numeric_limits<int64_t>::max();
  int64_t hi = std::numeric_limits<int64_t>::min();
  const Labels* prev = nullptr;
  for (const SeriesInput& s : series) {
    if (s.labels.empty()) return InvalidArgumentError("series with no labels");
    if (prev != nullptr && Labels::Compare(*prev, s.labels) >= 0) {
      return InvalidArgumentError("series not sorted or repeated: " + s.labels.ToString() +
                                  " after " + prev->ToString());
    }
    prev = &s.labels;
    if (!s.samples.empty() && !s.chunks.empty()) {
      return InvalidArgumentError("series " + s.labels.ToString() + " has both samples and chunks");
    }
    for (size_t i = 0; i < s.samples.size(); ++i) {
      if (i > 0 && s.samples[i].t <= s.samples[i - 1].t) {
        return InvalidArgumentError("series " + s.labels.ToString() +
                                    ": timestamps not strictly increasing at " +
                                    std::to_string(s.samples[i].t));
      }
    }
    for (const EncodedChunk& c : s.chunks) {
      if (c.data.size() < 2) {
        return InvalidArgumentError("series " + s.labels.ToString() + ": chunk without header");
      }
    }
    auto note = [&](int64_t a, int64_t b) -> Status {
      lo = std::min(lo, a);
      hi = std::max(hi, b);
      if (!derive && (a < *min_time || b >= *max_time)) {
        return InvalidArgumentError("series " + s.labels.ToString() + ": data at " +
                                    std::to_string(a < *min_time ? a : b) +
                                    " outside the block range " + Range(*min_time, *max_time));
      }
      return Status::Ok();
    };
    if (!s.samples.empty()) SL_RETURN_IF_ERROR(note(s.samples.front().t, s.samples.back().t));
    for (const EncodedChunk& c : s.chunks) SL_RETURN_IF_ERROR(note(c.min_time, c.max_time));
  }
  if (derive && lo <= hi) {
    if (hi == std::numeric_limits<int64_t>::max()) {
      return InvalidArgumentError("sample at the largest timestamp: no exclusive block end");
    }
    *min_time = lo;
    *max_time = hi + 1;
  }
  return Status::Ok();
}

Status Build(io::Env* env, const std::string& tmp, std::span<const SeriesInput> series,
             const WriteBlockOptions& options, blocks::BlockMeta* meta) {
  SL_RETURN_IF_ERROR(env->CreateDirs(tmp));

  // Chunks first: the index needs their refs.
  uint64_t num_samples = 0, num_chunks = 0, num_series = 0;
  std::vector<std::vector<ChunkMeta>> metas(series.size());
  {
    SL_ASSIGN_OR_RETURN(
        auto cw, ChunkWriter::Create(env, io::JoinPath(tmp, "chunks"), options.segment_size));
    int per_chunk = std::clamp(options.samples_per_chunk, 1, chunkenc::kMaxSamplesPerChunk);
    for (size_t i = 0; i < series.size(); ++i) {
      const SeriesInput& s = series[i];
      for (size_t j = 0; j < s.samples.size(); j += per_chunk) {
        size_t end = std::min(s.samples.size(), j + per_chunk);
        chunkenc::XorChunk c;
        for (size_t k = j; k < end; ++k)
          SL_RETURN_IF_ERROR(c.Append(s.samples[k].t, s.samples[k].v));
        SL_ASSIGN_OR_RETURN(ChunkRef ref, cw->Write(chunkenc::Encoding::kXor, c.Bytes()));
        metas[i].push_back(ChunkMeta{ref, s.samples[j].t, s.samples[end - 1].t});
        num_samples += end - j;
      }
      for (const EncodedChunk& c : s.chunks) {
        SL_ASSIGN_OR_RETURN(ChunkRef ref, cw->Write(c.encoding, c.data));
        metas[i].push_back(ChunkMeta{ref, c.min_time, c.max_time});
        num_samples += (static_cast<uint8_t>(c.data[0]) << 8) | static_cast<uint8_t>(c.data[1]);
      }
      num_chunks += metas[i].size();
      if (!metas[i].empty()) ++num_series;
    }
    SL_RETURN_IF_ERROR(cw->Close());
  }

  // Index: symbols of the series that have chunks, then the series.
  {
    std::vector<std::string_view> symbols;
    for (size_t i = 0; i < series.size(); ++i) {
      if (metas[i].empty()) continue;
      for (const Label& l : series[i].labels) {
        symbols.push_back(l.name);
        symbols.push_back(l.value);
      }
    }
    std::sort(symbols.begin(), symbols.end());
    symbols.erase(std::unique(symbols.begin(), symbols.end()), symbols.end());
    SL_ASSIGN_OR_RETURN(auto iw, IndexWriter::Create(env, io::JoinPath(tmp, "index")));
    for (std::string_view s : symbols) SL_RETURN_IF_ERROR(iw->AddSymbol(s));
    for (size_t i = 0; i < series.size(); ++i) {
      if (metas[i].empty()) continue;
      SL_RETURN_IF_ERROR(iw->AddSeries(series[i].labels, metas[i]).status());
    }
    SL_RETURN_IF_ERROR(iw->Close());
  }

  // No deletions in a new block.
  {
    SL_ASSIGN_OR_RETURN(auto f, env->NewWritableFile(io::JoinPath(tmp, "tombstones")));
    SL_RETURN_IF_ERROR(f->Append(EncodeTombstones({})));
    SL_RETURN_IF_ERROR(f->Sync());
    SL_RETURN_IF_ERROR(f->Close());
  }

  meta->stats["numSamples"] = num_samples;
  meta->stats["numSeries"] = num_series;
  meta->stats["numChunks"] = num_chunks;
  // meta.json last: a block directory without it is incomplete.
  SL_RETURN_IF_ERROR(env->WriteFileAtomic(io::JoinPath(tmp, "meta.json"), meta->ToJson()));
  return env->SyncDir(tmp);
}

}  // namespace

std::string EncodeTombstones(const Tombstones& t) {
  std::string out;
  coding::PutFixed32BE(out, kTombstonesMagic);
  out.push_back(static_cast<char>(kTombstonesFormatV1));
  for (const auto& [ref, intervals] : t) {
    for (const TombstoneInterval& iv : intervals) {
      coding::PutUvarint(out, ref);
      coding::PutVarint(out, iv.min_time);
      coding::PutVarint(out, iv.max_time);
    }
  }
  // The CRC covers the entries, not the header (Prometheus's choice).
  coding::PutFixed32BE(
      out, crc32c::Value(out.data() + kTombstonesHeaderSize, out.size() - kTombstonesHeaderSize));
  return out;
}

Result<Tombstones> DecodeTombstones(std::string_view file) {
  if (file.size() < kTombstonesHeaderSize + 4) {
    return DataLossError("tombstones: file of " + std::to_string(file.size()) +
                         " bytes is too short");
  }
  if (coding::LoadFixed32BE(file.data()) != kTombstonesMagic) {
    return DataLossError("tombstones: invalid magic number");
  }
  if (static_cast<uint8_t>(file[4]) != kTombstonesFormatV1) {
    return DataLossError("tombstones: unknown format version " +
                         std::to_string(static_cast<uint8_t>(file[4])));
  }
  std::string_view body =
      file.substr(kTombstonesHeaderSize, file.size() - kTombstonesHeaderSize - 4);
  if (crc32c::Value(body) != coding::LoadFixed32BE(file.data() + file.size() - 4)) {
    return DataLossError("tombstones: checksum mismatch");
  }
  Tombstones t;
  coding::Reader r(body);
  while (!r.empty()) {
    SeriesRef ref = r.Uvarint();
    TombstoneInterval iv;
    iv.min_time = r.Varint();
    iv.max_time = r.Varint();
    if (!r.ok()) return DataLossError("tombstones: truncated entry");
    t[ref].push_back(iv);
  }
  return t;
}

Result<blocks::Ulid> WriteBlock(io::Env* env, const std::string& dir,
                                std::span<const SeriesInput> series,
                                const WriteBlockOptions& options) {
  int64_t min_time = options.min_time;
  int64_t max_time = options.max_time;
  SL_RETURN_IF_ERROR(Validate(series, &min_time, &max_time));

  blocks::BlockMeta meta = options.meta;
  meta.ulid = options.ulid.IsZero() ? blocks::NewUlid() : options.ulid;
  meta.min_time = min_time;
  meta.max_time = max_time;
  meta.version = 1;
  meta.stats.clear();

  const std::string name = meta.ulid.ToString();
  const std::string final_dir = io::JoinPath(dir, name);
  const std::string tmp = final_dir + ".tmp";
  if (env->FileExists(final_dir)) return AlreadyExistsError("block " + final_dir + " exists");
  SL_RETURN_IF_ERROR(env->CreateDirs(dir));
  SL_RETURN_IF_ERROR(env->RemoveAll(tmp));
  Status s = Build(env, tmp, series, options, &meta);
  if (s.ok()) s = env->Rename(tmp, final_dir);
  if (s.ok()) s = env->SyncDir(dir);
  if (!s.ok()) {
    (void)env->RemoveAll(tmp);
    return s.Annotate("writing block " + final_dir);
  }
  return meta.ulid;
}

BlockReader::~BlockReader() = default;

Result<std::unique_ptr<BlockReader>> BlockReader::Open(io::Env* env, const std::string& block_dir) {
  std::unique_ptr<BlockReader> r(new BlockReader());
  r->dir_ = block_dir;
  SL_ASSIGN_OR_RETURN(std::string meta_json, env->ReadFile(io::JoinPath(block_dir, "meta.json")));
  auto meta = blocks::BlockMeta::Parse(meta_json);
  if (!meta.ok()) return DataLossError(block_dir + ": " + meta.status().message());
  r->meta_ = std::move(*meta);
  if (r->meta_.version != 1) {
    return DataLossError(block_dir + ": unsupported meta.json version " +
                         std::to_string(r->meta_.version));
  }
  SL_ASSIGN_OR_RETURN(r->index_, IndexReader::Open(env, io::JoinPath(block_dir, "index")));
  SL_ASSIGN_OR_RETURN(r->chunks_, ChunkReader::Open(env, io::JoinPath(block_dir, "chunks")));
  std::string tpath = io::JoinPath(block_dir, "tombstones");
  if (env->FileExists(tpath)) {
    SL_ASSIGN_OR_RETURN(std::string t, env->ReadFile(tpath));
    auto ts = DecodeTombstones(t);
    if (!ts.ok()) return ts.status().Annotate(tpath);
    r->tombstones_ = std::move(*ts);
  }
  return r;
}

Result<std::unique_ptr<BlockReader>> BlockReader::FromParts(blocks::BlockMeta meta,
                                                          std::unique_ptr<IndexReader> index,
                                                          std::unique_ptr<ChunkReader> chunks,
                                                          Tombstones tombstones,
                                                          std::string name) {
  if (index == nullptr || chunks == nullptr) {
    return InvalidArgumentError("block " + name + ": index and chunks are required");
  }
  if (meta.version != 1) {
    return DataLossError(name + ": unsupported meta.json version " + std::to_string(meta.version));
  }
  std::unique_ptr<BlockReader> r(new BlockReader());
  r->dir_ = std::move(name);
  r->meta_ = std::move(meta);
  r->index_ = std::move(index);
  r->chunks_ = std::move(chunks);
  r->tombstones_ = std::move(tombstones);
  return r;
}

Status BlockReader::ReadSamples(SeriesRef ref, std::span<const ChunkMeta> chunks, int64_t mint,
                                int64_t maxt, std::vector<Sample>* out) const {
  const std::vector<TombstoneInterval>* deleted = nullptr;
  if (auto it = tombstones_.find(ref); it != tombstones_.end()) deleted = &it->second;
  std::string scratch;
  for (const ChunkMeta& m : chunks) {
    if (m.max_time < mint || m.min_time > maxt) continue;
    SL_ASSIGN_OR_RETURN(RawChunk raw, chunks_->Read(m.ref, &scratch));
    if (raw.encoding != chunkenc::Encoding::kXor) {
      return UnimplementedError("chunk encoding " +
                                std::string(chunkenc::EncodingName(raw.encoding)) +
                                " is not supported yet");
    }
    chunkenc::XorIterator it(raw.data);
    if (!it.Seek(mint)) {
      SL_RETURN_IF_ERROR(it.status());
      continue;
    }
    do {
      if (it.t() > maxt) break;
      bool gone = false;
      if (deleted != nullptr) {
        for (const TombstoneInterval& iv : *deleted) {
          if (it.t() >= iv.min_time && it.t() <= iv.max_time) {
            gone = true;
            break;
          }
        }
      }
      if (!gone) out->push_back(Sample{it.t(), it.v()});
    } while (it.Next());
    SL_RETURN_IF_ERROR(it.status());
  }
  return Status::Ok();
}

Status BlockReader::ForEachSeries(const SeriesFn& fn, int64_t mint, int64_t maxt) const {
  SL_ASSIGN_OR_RETURN(std::vector<SeriesRef> refs, index_->AllPostings());
  Labels labels;
  std::vector<ChunkMeta> metas;
  std::vector<Sample> samples;
  for (SeriesRef ref : refs) {
    SL_RETURN_IF_ERROR(index_->Series(ref, &labels, &metas));
    samples.clear();
    SL_RETURN_IF_ERROR(ReadSamples(ref, metas, mint, maxt, &samples));
    if (samples.empty()) continue;
    SL_RETURN_IF_ERROR(fn(labels, samples));
  }
  return Status::Ok();
}

}  // namespace sightline::tsdb
