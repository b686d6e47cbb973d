#include "metrics/tsdb/head_chunks.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "base/coding.h"
#include "base/crc32c.h"
#include "telemetry/log.h"

namespace sightline::tsdb {

namespace {

constexpr uint32_t kMagic = 0x0130BC91;
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderBytes = 8;
// series ref, min_t, max_t, encoding
constexpr size_t kChunkFixed = 8 + 8 + 8 + 1;
constexpr uint8_t kEncodingXor = 1;
constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

Status Errno(std::string_view what, const std::string& path) {
  return InternalError(std::string(what) + " " + path + ": " + std::strerror(errno));
}

std::string SegmentName(uint32_t seq) {
  char b[16];
  std::snprintf(b, sizeof(b), "%06u", seq);
  return b;
}

uint64_t Load64BE(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t Load32BE(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Parses the chunk at p[0, n): its fields, and its total length. False when
// the bytes end before the chunk does.
struct ParsedChunk {
  uint64_t series_ref;
  int64_t min_t;
  int64_t max_t;
  uint8_t encoding;
  std::string_view data;
  size_t total;  // header through CRC
};

bool ParseChunk(const char* p, size_t n, ParsedChunk* out) {
  if (n < kChunkFixed + 1) return false;
  out->series_ref = Load64BE(p);
  out->min_t = static_cast<int64_t>(Load64BE(p + 8));
  out->max_t = static_cast<int64_t>(Load64BE(p + 16));
  out->encoding = static_cast<uint8_t>(p[24]);
  size_t off = kChunkFixed;
  uint64_t len = 0;
  int shift = 0;
  for (;;) {
    if (off >= n || shift > 63) return false;
    const uint8_t b = static_cast<uint8_t>(p[off++]);
    len |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
    shift += 7;
  }
  if (len > n || off + len + 4 > n) return false;
  out->data = std::string_view(p + off, len);
  out->total = off + len + 4;
  return true;
}

}  // namespace

struct HeadChunkFiles::Segment {
  std::string path;
  int fd = -1;          // open for writing while current
  char* map = nullptr;  // read-only shared mapping
  size_t map_len = 0;
  uint64_t size = 0;        // bytes in the file
  int64_t max_t = kNoTime;  // newest chunk end in it

  ~Segment() {
    if (map != nullptr) ::munmap(map, map_len);
    if (fd >= 0) ::close(fd);
  }
};

HeadChunkFiles::HeadChunkFiles(HeadChunkFilesOptions options) : options_(std::move(options)) {}

HeadChunkFiles::~HeadChunkFiles() {
  std::lock_guard<std::mutex> l(mu_);
  (void)FlushLocked();
}

Result<std::unique_ptr<HeadChunkFiles>> HeadChunkFiles::Open(
    HeadChunkFilesOptions options, const std::function<void(const HeadChunkMeta&)>& on_chunk,
    HeadChunkFilesOpenStats* stats) {
  HeadChunkFilesOpenStats local;
  if (stats == nullptr) stats = &local;
  *stats = HeadChunkFilesOpenStats{};
  if (options.max_segment_bytes > (1ull << 32) - 1 || options.max_segment_bytes < 1024)
    return InvalidArgumentError("head chunk files: max_segment_bytes out of range");
  if (::mkdir(options.dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Errno("creating", options.dir);
  std::unique_ptr<HeadChunkFiles> f(new HeadChunkFiles(std::move(options)));
  const std::string& dir = f->options_.dir;

  std::vector<uint32_t> seqs;
  {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return Errno("listing", dir);
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name.empty() || name.size() > 9 ||
          !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
        continue;
      seqs.push_back(static_cast<uint32_t>(std::strtoul(e->d_name, nullptr, 10)));
    }
    ::closedir(d);
  }
  std::sort(seqs.begin(), seqs.end());

  bool corrupt = false;
  uint32_t prev_seq = 0;
  for (uint32_t seq : seqs) {
    const std::string path = dir + "/" + SegmentName(seq);
    if (!corrupt && prev_seq != 0 && seq != prev_seq + 1) {
      // A file is missing: what follows it cannot be trusted to be complete
      // per series.
      corrupt = true;
      if (stats->first_error.empty())
        stats->first_error = "segment " + std::to_string(prev_seq + 1) + " missing in " + dir;
    }
    prev_seq = seq;
    if (corrupt) {
      // Everything after a corrupt segment is dropped: the WAL holds it.
      ::unlink(path.c_str());
      ++stats->removed_segments;
      continue;
    }
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Errno("opening", path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return Errno("stat", path);
    }
    auto seg = std::make_unique<Segment>();
    seg->path = path;
    seg->size = static_cast<uint64_t>(st.st_size);
    if (seg->size < kHeaderBytes) {
      // Cut but never written (a crash right after creating it).
      ::close(fd);
      ::unlink(path.c_str());
      continue;
    }
    void* m = ::mmap(nullptr, seg->size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
      ::close(fd);
      return Errno("mapping", path);
    }
    seg->map = static_cast<char*>(m);
    seg->map_len = seg->size;
    uint64_t good = 0;
    std::string error;
    if (Load32BE(seg->map) != kMagic || static_cast<uint8_t>(seg->map[4]) != kVersion) {
      error = "bad header";
    } else {
      good = kHeaderBytes;
      while (good < seg->size) {
        ParsedChunk c;
        if (!ParseChunk(seg->map + good, seg->size - good, &c)) {
          error = "torn chunk";
          break;
        }
        const uint32_t want = Load32BE(seg->map + good + c.total - 4);
        if (crc32c::Value(seg->map + good, c.total - 4) != want) {
          error = "checksum mismatch";
          break;
        }
        if (c.encoding != kEncodingXor || c.min_t > c.max_t) {
          error = "bad chunk fields";
          break;
        }
        on_chunk(HeadChunkMeta{c.series_ref, c.min_t, c.max_t,
                               (static_cast<uint64_t>(seq) << 32) | good});
        seg->max_t = std::max(seg->max_t, c.max_t);
        ++stats->chunks;
        good += c.total;
      }
    }
    if (!error.empty()) {
      corrupt = true;
      if (stats->first_error.empty())
        stats->first_error = error + " in " + path + " at offset " + std::to_string(good);
      stats->truncated_bytes += seg->size - good;
      if (good < kHeaderBytes) {
        ::close(fd);
        seg.reset();
        ::unlink(path.c_str());
        ++stats->removed_segments;
        continue;
      }
      if (::ftruncate(fd, static_cast<off_t>(good)) != 0) {
        ::close(fd);
        return Errno("truncating", path);
      }
      seg->size = good;
    }
    ::close(fd);
    // Validation touched every page: drop them from the process's resident
    // set (they stay in the page cache); reads fault in what they need.
    (void)::madvise(seg->map, seg->map_len, MADV_DONTNEED);
    ++stats->segments;
    f->segments_[seq] = std::move(seg);
  }
  if (!stats->first_error.empty()) {
    log::Warn("head chunk files: corrupt data cut off; the WAL replay restores it",
              {{"dir", dir},
               {"first", stats->first_error},
               {"truncated_bytes", stats->truncated_bytes},
               {"removed_segments", stats->removed_segments}});
  }
  return f;
}

Status HeadChunkFiles::FlushLocked() {
  if (current_ == 0 || buf_.empty()) return Status::Ok();
  Segment& seg = *segments_[current_];
  size_t done = 0;
  while (done < buf_.size()) {
    ssize_t n = ::pwrite(seg.fd, buf_.data() + done, buf_.size() - done,
                         static_cast<off_t>(buf_offset_ + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("writing", seg.path);
    }
    done += static_cast<size_t>(n);
  }
  buf_offset_ += buf_.size();
  seg.size = buf_offset_;
  buf_.clear();
  return Status::Ok();
}

Status HeadChunkFiles::CutSegmentLocked() {
  SL_RETURN_IF_ERROR(FlushLocked());
  uint32_t seq = segments_.empty() ? 1 : segments_.rbegin()->first + 1;
  const std::string path = options_.dir + "/" + SegmentName(seq);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("creating", path);
  // Mapped at the full segment size up front; only bytes already written
  // are ever read.
  void* m = ::mmap(nullptr, options_.max_segment_bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) {
    ::close(fd);
    ::unlink(path.c_str());
    return Errno("mapping", path);
  }
  if (current_ != 0) {
    Segment& old = *segments_[current_];
    ::close(old.fd);
    old.fd = -1;
  }
  auto seg = std::make_unique<Segment>();
  seg->path = path;
  seg->fd = fd;
  seg->map = static_cast<char*>(m);
  seg->map_len = options_.max_segment_bytes;
  segments_[seq] = std::move(seg);
  current_ = seq;
  buf_offset_ = 0;
  buf_.clear();
  coding::PutFixed32BE(buf_, kMagic);
  buf_.push_back(static_cast<char>(kVersion));
  buf_.append(3, '\0');
  return Status::Ok();
}

Result<uint64_t> HeadChunkFiles::Write(uint64_t series_ref, int64_t min_t, int64_t max_t,
                                       std::string_view data) {
  const size_t need = kChunkFixed + coding::UvarintLength(data.size()) + data.size() + 4;
  std::lock_guard<std::mutex> l(mu_);
  if (current_ == 0 || buf_offset_ + buf_.size() + need > options_.max_segment_bytes) {
    SL_RETURN_IF_ERROR(CutSegmentLocked());
  }
  const uint64_t offset = buf_offset_ + buf_.size();
  const size_t start = buf_.size();
  coding::PutFixed64BE(buf_, series_ref);
  coding::PutFixed64BE(buf_, static_cast<uint64_t>(min_t));
  coding::PutFixed64BE(buf_, static_cast<uint64_t>(max_t));
  buf_.push_back(static_cast<char>(kEncodingXor));
  coding::PutUvarint(buf_, data.size());
  buf_.append(data.data(), data.size());
  coding::PutFixed32BE(buf_, crc32c::Value(buf_.data() + start, buf_.size() - start));
  Segment& seg = *segments_[current_];
  seg.max_t = std::max(seg.max_t, max_t);
  if (buf_.size() >= options_.write_buffer_bytes) {
    if (Status st = FlushLocked(); !st.ok()) {
      // The chunk stays buffered (and readable); the caller may keep its
      // own copy too. The next flush retries.
      return st;
    }
  }
  return (static_cast<uint64_t>(current_) << 32) | offset;
}

Status HeadChunkFiles::Read(uint64_t chunk_ref, std::string* out) const {
  const uint32_t seq = static_cast<uint32_t>(chunk_ref >> 32);
  const uint64_t off = chunk_ref & 0xffffffffull;
  std::lock_guard<std::mutex> l(mu_);
  auto it = segments_.find(seq);
  if (it == segments_.end()) {
    return DataLossError("head chunk " + std::to_string(chunk_ref) + ": segment " +
                         std::to_string(seq) + " is gone");
  }
  const Segment& seg = *it->second;
  const char* p;
  size_t n;
  if (seq == current_ && off >= buf_offset_) {
    if (off - buf_offset_ >= buf_.size()) return DataLossError("head chunk ref past the end");
    p = buf_.data() + (off - buf_offset_);
    n = buf_.size() - (off - buf_offset_);
  } else {
    if (off >= seg.size) return DataLossError("head chunk ref past the end");
    p = seg.map + off;
    n = seg.size - off;
  }
  ParsedChunk c;
  if (!ParseChunk(p, n, &c))
    return DataLossError("head chunk " + std::to_string(chunk_ref) + " torn");
  out->assign(c.data.data(), c.data.size());
  return Status::Ok();
}

Result<size_t> HeadChunkFiles::Truncate(int64_t mint) {
  std::lock_guard<std::mutex> l(mu_);
  if (current_ != 0) {
    Segment& cur = *segments_[current_];
    if (cur.max_t < mint && buf_offset_ + buf_.size() > kHeaderBytes) {
      // Close it so that it can go; the next Write cuts a new one.
      SL_RETURN_IF_ERROR(FlushLocked());
      ::close(cur.fd);
      cur.fd = -1;
      current_ = 0;
      buf_.clear();
      buf_offset_ = 0;
    }
  }
  // Oldest first, stopping at the first segment still needed: the files
  // left always form a run of consecutive sequence numbers, so that Open
  // can tell a lost file from a truncated one.
  size_t removed = 0;
  for (auto it = segments_.begin(); it != segments_.end();) {
    if (it->first == current_ || it->second->max_t >= mint) break;
    ::unlink(it->second->path.c_str());
    it = segments_.erase(it);
    ++removed;
  }
  return removed;
}

Status HeadChunkFiles::Flush() {
  std::lock_guard<std::mutex> l(mu_);
  return FlushLocked();
}

size_t HeadChunkFiles::NumSegments() const {
  std::lock_guard<std::mutex> l(mu_);
  return segments_.size();
}

uint64_t HeadChunkFiles::DiskBytes() const {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t n = buf_.size();
  for (const auto& [seq, seg] : segments_) n += seg->size;
  return n;
}

}  // namespace sightline::tsdb
