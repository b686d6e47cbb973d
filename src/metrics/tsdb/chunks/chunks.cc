#include "metrics/tsdb/chunks/chunks.h"

#include <algorithm>
#include <cstdio>

#include "base/coding.h"
#include "base/crc32c.h"

namespace sightline::tsdb {

std::string SegmentFileName(uint32_t index) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%06u", index + 1);
  return buf;
}

Result<std::unique_ptr<ChunkWriter>> ChunkWriter::Create(io::Env* env, const std::string& dir,
                                                         uint64_t segment_size) {
  segment_size = std::clamp<uint64_t>(segment_size, kSegmentHeaderSize + 1, kMaxSegmentSize);
  SL_RETURN_IF_ERROR(env->CreateDirs(dir));
  std::unique_ptr<ChunkWriter> w(new ChunkWriter(env, dir, segment_size));
  SL_RETURN_IF_ERROR(w->OpenSegment(0));
  return w;
}

ChunkWriter::~ChunkWriter() = default;

Status ChunkWriter::OpenSegment(uint32_t index) {
  SL_ASSIGN_OR_RETURN(file_, env_->NewWritableFile(io::JoinPath(dir_, SegmentFileName(index))));
  segment_index_ = index;
  std::string header;
  coding::PutFixed32BE(header, kChunksMagic);
  header.push_back(static_cast<char>(kChunksFormatV1));
  header.append(3, '\0');
  SL_RETURN_IF_ERROR(file_->Append(header));
  pos_ = header.size();
  total_bytes_ += header.size();
  return Status::Ok();
}

Status ChunkWriter::FinishSegment() {
  if (!file_) return Status::Ok();
  SL_RETURN_IF_ERROR(file_->Sync());
  SL_RETURN_IF_ERROR(file_->Close());
  file_.reset();
  return Status::Ok();
}

Result<ChunkRef> ChunkWriter::Write(chunkenc::Encoding encoding, std::string_view data) {
  if (closed_ || !file_) return FailedPreconditionError("chunk writer is closed");
  if (data.size() > 0xffffffffu) return InvalidArgumentError("chunk larger than 4 GiB");
  buf_.clear();
  coding::PutUvarint(buf_, data.size());
  size_t enc_pos = buf_.size();
  buf_.push_back(static_cast<char>(encoding));
  buf_.append(data.data(), data.size());
  uint32_t crc = crc32c::Value(buf_.data() + enc_pos, buf_.size() - enc_pos);
  coding::PutFixed32BE(buf_, crc);

  if (pos_ > kSegmentHeaderSize && pos_ + buf_.size() > segment_size_) {
    SL_RETURN_IF_ERROR(FinishSegment());
    SL_RETURN_IF_ERROR(OpenSegment(segment_index_ + 1));
  }
  if (pos_ > 0xffffffffu) return InternalError("chunk segment offset exceeds 32 bits");
  ChunkRef ref = MakeChunkRef(segment_index_, static_cast<uint32_t>(pos_));
  SL_RETURN_IF_ERROR(file_->Append(buf_));
  pos_ += buf_.size();
  total_bytes_ += buf_.size();
  return ref;
}

Status ChunkWriter::Close() {
  if (closed_) return FailedPreconditionError("chunk writer is closed");
  closed_ = true;
  SL_RETURN_IF_ERROR(FinishSegment());
  return env_->SyncDir(dir_);
}

ChunkReader::~ChunkReader() = default;

Result<std::unique_ptr<ChunkReader>> ChunkReader::Open(io::Env* env, const std::string& dir) {
  std::unique_ptr<ChunkReader> r(new ChunkReader());
  if (!env->FileExists(dir)) return r;
  SL_ASSIGN_OR_RETURN(std::vector<std::string> children, env->GetChildren(dir));
  // Numbered files only, in numeric order (Prometheus's sequenceFiles).
  std::vector<std::pair<uint64_t, std::string>> files;
  for (const std::string& name : children) {
    if (name.empty() || name.size() > 19 ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    files.emplace_back(std::stoull(name), name);
  }
  std::sort(files.begin(), files.end());
  for (const auto& [num, name] : files) {
    std::string path = io::JoinPath(dir, name);
    SL_ASSIGN_OR_RETURN(std::unique_ptr<io::RandomAccessFile> f, env->NewRandomAccessFile(path));
    SL_RETURN_IF_ERROR(r->AddSegment(std::move(f), std::move(path)));
  }
  return r;
}

Result<std::unique_ptr<ChunkReader>> ChunkReader::FromFiles(
    std::vector<std::unique_ptr<io::RandomAccessFile>> segments, std::vector<std::string> names) {
  if (segments.size() != names.size()) {
    return InvalidArgumentError("chunk reader: " + std::to_string(segments.size()) +
                                " segments but " + std::to_string(names.size()) + " names");
  }
  std::unique_ptr<ChunkReader> r(new ChunkReader());
  for (size_t i = 0; i < segments.size(); ++i) {
    SL_RETURN_IF_ERROR(r->AddSegment(std::move(segments[i]), std::move(names[i])));
  }
  return r;
}

Status ChunkReader::AddSegment(std::unique_ptr<io::RandomAccessFile> f, std::string path) {
  std::string scratch;
  if (f->Size() < kSegmentHeaderSize) {
    return DataLossError("chunk segment " + path + ": shorter than its 8-byte header");
  }
  SL_ASSIGN_OR_RETURN(std::string_view header, f->Read(0, kSegmentHeaderSize, &scratch));
  if (header.size() < kSegmentHeaderSize) {
    return DataLossError("chunk segment " + path + ": short header read");
  }
  if (uint32_t m = coding::LoadFixed32BE(header.data()); m != kChunksMagic) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), ": invalid magic number %08x", m);
    return DataLossError("chunk segment " + path + buf);
  }
  if (uint8_t v = static_cast<uint8_t>(header[4]); v != kChunksFormatV1) {
    return DataLossError("chunk segment " + path + ": unknown format version " +
                         std::to_string(v));
  }
  segments_.push_back(std::move(f));
  names_.push_back(std::move(path));
  return Status::Ok();
}

Result<RawChunk> ChunkReader::Read(ChunkRef ref, std::string* scratch) const {
  uint32_t seg = ChunkRefSegment(ref);
  uint64_t off = ChunkRefOffset(ref);
  if (seg >= segments_.size()) {
    return DataLossError("chunk ref " + std::to_string(ref) + ": segment index " +
                         std::to_string(seg) + " out of range (" +
                         std::to_string(segments_.size()) + " segments)");
  }
  const io::RandomAccessFile& f = *segments_[seg];
  uint64_t size = f.Size();
  if (off < kSegmentHeaderSize || off >= size) {
    return DataLossError("chunk ref " + std::to_string(ref) + ": offset " + std::to_string(off) +
                         " outside " + names_[seg] + " (" + std::to_string(size) + " bytes)");
  }
  size_t head_n = static_cast<size_t>(std::min<uint64_t>(10, size - off));
  SL_ASSIGN_OR_RETURN(std::string_view head, f.Read(off, head_n, scratch));
  coding::Reader lr(head);
  uint64_t len = lr.Uvarint();
  if (!lr.ok()) {
    return DataLossError("chunk ref " + std::to_string(ref) + ": bad length field in " +
                         names_[seg]);
  }
  uint64_t len_size = head.size() - lr.remaining();
  uint64_t avail = size - off;
  if (len > avail || len_size + 1 + len + 4 > avail) {
    return DataLossError("chunk ref " + std::to_string(ref) + ": chunk of " + std::to_string(len) +
                         " bytes runs past the end of " + names_[seg]);
  }
  size_t total = static_cast<size_t>(len_size + 1 + len + 4);
  SL_ASSIGN_OR_RETURN(std::string_view all, f.Read(off, total, scratch));
  if (all.size() != total) {
    return DataLossError("chunk ref " + std::to_string(ref) + ": short read in " + names_[seg]);
  }
  std::string_view body = all.substr(len_size, 1 + len);
  uint32_t want = coding::LoadFixed32BE(all.data() + len_size + 1 + len);
  uint32_t got = crc32c::Value(body);
  if (want != got) {
    return DataLossError("chunk ref " + std::to_string(ref) + ": checksum mismatch in " +
                         names_[seg]);
  }
  RawChunk c;
  c.encoding = static_cast<chunkenc::Encoding>(static_cast<uint8_t>(body[0]));
  c.data = body.substr(1);
  return c;
}

}  // namespace sightline::tsdb
