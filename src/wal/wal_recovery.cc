// Wal: replay, repair of torn tails and corruption, checkpoints, removal of
// old segments.
#include <algorithm>

#include "base/compression.h"
#include "telemetry/log.h"
#include "wal/wal.h"
#include "wal/wal_internal.h"

namespace sightline::wal {
namespace {

std::string_view MaybeCompress(Compression c, std::string_view rec, std::string* scratch,
                               uint8_t* flags) {
  *flags = 0;
  if (c == Compression::kNone || rec.empty()) return rec;
  Codec codec = c == Compression::kSnappy ? Codec::kSnappy : Codec::kZstd;
  auto out = Compress(codec, rec);
  if (!out.ok() || out->size() >= rec.size()) return rec;
  *scratch = std::move(*out);
  *flags = codec == Codec::kSnappy ? kSnappyFlag : kZstdFlag;
  return *scratch;
}

// Writes a checkpoint directory: a WAL of its own, without group commit.
class CheckpointWriter {
 public:
  CheckpointWriter(io::Env* env, std::string dir, uint64_t segment_size, Compression compression)
      : env_(env), dir_(std::move(dir)), segment_size_(segment_size), compression_(compression) {}

  Status Add(std::string_view rec) {
    if (!file_) SL_RETURN_IF_ERROR(Open());
    uint8_t flags;
    std::string_view payload = MaybeCompress(compression_, rec, &scratch_, &flags);
    if (off_ > 0 && EncodedEnd(off_, payload.size()) > segment_size_) {
      SL_RETURN_IF_ERROR(CloseSegment());
      ++index_;
      SL_RETURN_IF_ERROR(Open());
    }
    EncodeRecord(payload, flags, &off_, &buf_);
    if (buf_.size() >= (1u << 20)) {
      SL_RETURN_IF_ERROR(file_->Append(buf_));
      buf_.clear();
    }
    return Status::Ok();
  }

  Status Finish() {
    if (!file_) SL_RETURN_IF_ERROR(Open());  // an empty checkpoint still has a segment
    SL_RETURN_IF_ERROR(CloseSegment());
    return env_->SyncDir(dir_);
  }

 private:
  Status Open() {
    SL_ASSIGN_OR_RETURN(file_, env_->NewWritableFile(io::JoinPath(dir_, SegmentName(index_))));
    off_ = 0;
    return Status::Ok();
  }
  Status CloseSegment() {
    uint64_t pad = PagePadding(off_);
    buf_.append(pad, '\0');
    off_ += pad;
    SL_RETURN_IF_ERROR(file_->Append(buf_));
    buf_.clear();
    SL_RETURN_IF_ERROR(file_->Sync());
    SL_RETURN_IF_ERROR(file_->Close());
    file_.reset();
    return Status::Ok();
  }

  io::Env* env_;
  std::string dir_;
  uint64_t segment_size_;
  Compression compression_;
  std::unique_ptr<io::WritableFile> file_;
  uint32_t index_ = 0;
  uint64_t off_ = 0;
  std::string buf_, scratch_;
};

Result<std::vector<uint32_t>> SegmentsIn(io::Env* env, const std::string& dir) {
  SL_ASSIGN_OR_RETURN(auto names, env->GetChildren(dir));
  std::vector<uint32_t> out;
  for (const auto& n : names) {
    if (auto s = ParseSegmentName(n)) out.push_back(*s);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Status ReadSegmentFile(io::Env* env, const std::string& path,
                       const std::function<Status(std::string_view, uint64_t)>& fn) {
  SL_ASSIGN_OR_RETURN(auto file, env->NewRandomAccessFile(path));
  SegmentReader r(file.get());
  std::string_view rec;
  uint64_t off;
  while (true) {
    switch (r.Next(&rec, &off)) {
      case SegmentReader::Outcome::kRecord:
        SL_RETURN_IF_ERROR(fn(rec, off));
        break;
      case SegmentReader::Outcome::kEnd:
        return Status::Ok();
      case SegmentReader::Outcome::kIoError:
        return r.status().Annotate("reading " + path);
      case SegmentReader::Outcome::kTorn:
      case SegmentReader::Outcome::kCorrupt:
        return DataLossError(path + ": " + r.error() + " at offset " +
                             std::to_string(r.error_offset()));
    }
  }
}

Status Wal::Replay(const ReplayFn& fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return FailedPreconditionError("WAL " + options_.dir + " is closed");
    if (appended_) return FailedPreconditionError("WAL Replay must come before the first Append");
    if (replayed_) return FailedPreconditionError("WAL " + options_.dir + " was already replayed");
  }
  return ReplayImpl(fn, /*tail_only=*/false);
}

Status Wal::ReplayImpl(const ReplayFn& fn, bool tail_only) {
  ReplayStats stats;
  std::optional<uint32_t> ckpt;
  {
    std::lock_guard<std::mutex> l(mu_);
    ckpt = checkpoint_;
  }
  if (!tail_only && ckpt) {
    stats.checkpoint = ckpt;
    const std::string cdir = io::JoinPath(options_.dir, CheckpointName(*ckpt));
    SL_ASSIGN_OR_RETURN(auto csegs, SegmentsIn(env_, cdir));
    std::string bad;
    for (size_t i = 0; i < csegs.size() && bad.empty(); ++i) {
      if (csegs[i] != i) {
        bad = "checkpoint segment " + SegmentName(static_cast<uint32_t>(i)) + " is missing";
        break;
      }
      SL_ASSIGN_OR_RETURN(auto file,
                          env_->NewRandomAccessFile(io::JoinPath(cdir, SegmentName(csegs[i]))));
      SegmentReader r(file.get());
      std::string_view rec;
      uint64_t off;
      SegmentReader::Outcome out;
      while ((out = r.Next(&rec, &off)) == SegmentReader::Outcome::kRecord) {
        ++stats.records;
        stats.bytes += rec.size();
        if (fn) SL_RETURN_IF_ERROR(fn(rec, WalPosition{*ckpt, off, true}));
      }
      if (out == SegmentReader::Outcome::kIoError) return r.status().Annotate("reading " + cdir);
      if (out != SegmentReader::Outcome::kEnd) {
        bad = "segment " + SegmentName(csegs[i]) + ": " + r.error() + " at offset " +
              std::to_string(r.error_offset());
      }
    }
    if (!bad.empty()) {
      std::string msg = CheckpointName(*ckpt) + " " + bad;
      metrics_->corruptions.Inc();
      ++stats.corruptions;
      stats.corruption = msg;
      if (!options_.repair) {
        std::lock_guard<std::mutex> l(mu_);
        replay_stats_ = stats;
        return DataLossError("WAL " + options_.dir + ": " + msg);
      }
      log::Error("WAL checkpoint is corrupted; skipping the rest of it",
                 {{"dir", options_.dir}, {"checkpoint", CheckpointName(*ckpt)}, {"reason", bad}});
    }
  }

  std::vector<uint32_t> segs;
  SL_RETURN_IF_ERROR(ListDir(&segs, nullptr, nullptr));
  if (ckpt) segs.erase(segs.begin(), std::upper_bound(segs.begin(), segs.end(), *ckpt));
  if (tail_only && segs.size() > 1) segs.erase(segs.begin(), segs.end() - 1);
  const size_t n = segs.size();
  size_t gap = n;
  for (size_t i = 1; i < n; ++i) {
    if (segs[i] != segs[i - 1] + 1) {
      gap = i;
      break;
    }
  }
  bool repaired = false;
  for (size_t i = 0; i < gap && !repaired; ++i) {
    const uint32_t seg = segs[i];
    SegmentReader::Outcome out;
    uint64_t good = 0;
    std::string what;
    {
      SL_ASSIGN_OR_RETURN(auto file, env_->NewRandomAccessFile(SegmentPath(seg)));
      SegmentReader r(file.get());
      std::string_view rec;
      uint64_t off;
      while ((out = r.Next(&rec, &off)) == SegmentReader::Outcome::kRecord) {
        ++stats.records;
        stats.bytes += rec.size();
        if (fn) SL_RETURN_IF_ERROR(fn(rec, WalPosition{seg, off, false}));
      }
      if (out == SegmentReader::Outcome::kIoError) {
        return r.status().Annotate("reading WAL segment " + SegmentPath(seg));
      }
      good = r.good_offset();
      what = r.error() + " at offset " + std::to_string(r.error_offset());
    }  // the file is closed (unmapped) before any repair truncates it
    ++stats.segments;
    if (out == SegmentReader::Outcome::kEnd) continue;
    std::vector<uint32_t> later(segs.begin() + static_cast<ptrdiff_t>(i) + 1, segs.end());
    SL_RETURN_IF_ERROR(RepairAt(seg, good, /*is_last=*/i + 1 == n, later, what, &stats));
    repaired = true;
  }
  if (!repaired && gap < n) {
    const uint32_t seg = segs[gap - 1];
    SL_ASSIGN_OR_RETURN(uint64_t size, env_->GetFileSize(SegmentPath(seg)));
    std::vector<uint32_t> later(segs.begin() + static_cast<ptrdiff_t>(gap), segs.end());
    SL_RETURN_IF_ERROR(RepairAt(seg, size, /*is_last=*/false, later,
                                "the next segment, " + SegmentName(seg + 1) + ", is missing",
                                &stats));
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    replayed_ = true;
    replay_stats_ = stats;
    segment_ = PredictNextSegmentLocked();
  }
  metrics_->segment_current.Set(CurrentSegment());
  if (!tail_only) {
    log::Info("WAL replayed", {{"dir", options_.dir},
                               {"records", stats.records},
                               {"bytes", stats.bytes},
                               {"segments", stats.segments},
                               {"checkpoint", ckpt ? CheckpointName(*ckpt) : "none"},
                               {"corruptions", stats.corruptions}});
  }
  return Status::Ok();
}

Status Wal::RepairAt(uint32_t segment, uint64_t good_offset, bool is_last,
                     const std::vector<uint32_t>& later, const std::string& what,
                     ReplayStats* stats) {
  const std::string path = SegmentPath(segment);
  SL_ASSIGN_OR_RETURN(uint64_t size, env_->GetFileSize(path));
  const uint64_t dropped = size > good_offset ? size - good_offset : 0;
  const std::string msg = "segment " + SegmentName(segment) + ": " + what;
  metrics_->corruptions.Inc();
  ++stats->corruptions;
  if (stats->corruption.empty()) stats->corruption = msg;
  stats->dropped_bytes += dropped;
  stats->removed_segments += static_cast<uint32_t>(later.size());
  if (!options_.repair) {
    std::lock_guard<std::mutex> l(mu_);
    replay_stats_ = *stats;  // so that callers can see what was found
    return DataLossError("WAL " + options_.dir + " is corrupted: " + msg + " (repair disabled)");
  }
  if (is_last) {
    log::Warn("WAL tail is torn or garbled; truncating it to the last good record",
              {{"dir", options_.dir},
               {"segment", SegmentName(segment)},
               {"offset", good_offset},
               {"bytes_dropped", dropped},
               {"reason", what}});
  } else {
    log::Error(
        "WAL is corrupted before its last segment; discarding everything after the "
        "corruption",
        {{"dir", options_.dir},
         {"segment", SegmentName(segment)},
         {"offset", good_offset},
         {"bytes_dropped", dropped},
         {"segments_discarded", static_cast<uint64_t>(later.size())},
         {"reason", what}});
  }
  if (dropped > 0) {
    SL_RETURN_IF_ERROR(env_->Truncate(path, good_offset));
    // The shorter length must be durable before later segments are written.
    SL_ASSIGN_OR_RETURN(auto file, env_->NewAppendableFile(path));
    SL_RETURN_IF_ERROR(file->Sync());
    SL_RETURN_IF_ERROR(file->Close());
  }
  for (uint32_t s : later) SL_RETURN_IF_ERROR(env_->RemoveFile(SegmentPath(s)));
  if (!later.empty()) SL_RETURN_IF_ERROR(env_->SyncDir(options_.dir));
  {
    std::lock_guard<std::mutex> l(mu_);
    last_segment_ = segment;
  }
  UpdateStorageSize();
  return Status::Ok();
}

Status Wal::Checkpoint(uint32_t upto, const std::function<bool(std::string_view)>& keep) {
  std::lock_guard<std::mutex> cl(checkpoint_mu_);
  std::optional<uint32_t> prev;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return FailedPreconditionError("WAL " + options_.dir + " is closed");
    if (!replayed_) return FailedPreconditionError("replay the WAL before checkpointing it");
    if (upto >= segment_) {
      return FailedPreconditionError("cannot checkpoint up to segment " + SegmentName(upto) +
                                     ": segment " + SegmentName(segment_) +
                                     " is being written (call NextSegment first)");
    }
    prev = checkpoint_;
  }
  if (prev && upto <= *prev) return Status::Ok();

  const std::string tmp = io::JoinPath(options_.dir, CheckpointName(upto) + ".tmp");
  const std::string final_dir = io::JoinPath(options_.dir, CheckpointName(upto));
  uint64_t kept = 0, total = 0;
  auto build = [&]() -> Status {
    SL_RETURN_IF_ERROR(env_->RemoveAll(tmp));
    SL_RETURN_IF_ERROR(env_->CreateDirs(tmp));
    CheckpointWriter cw(env_, tmp, options_.segment_size, options_.compression);
    auto copy = [&](std::string_view rec, uint64_t) -> Status {
      ++total;
      if (!keep(rec)) return Status::Ok();
      ++kept;
      return cw.Add(rec);
    };
    if (prev) {
      const std::string pdir = io::JoinPath(options_.dir, CheckpointName(*prev));
      SL_ASSIGN_OR_RETURN(auto psegs, SegmentsIn(env_, pdir));
      for (uint32_t s : psegs) {
        SL_RETURN_IF_ERROR(ReadSegmentFile(env_, io::JoinPath(pdir, SegmentName(s)), copy));
      }
    }
    std::vector<uint32_t> segs;
    SL_RETURN_IF_ERROR(ListDir(&segs, nullptr, nullptr));
    for (uint32_t s : segs) {
      if ((prev && s <= *prev) || s > upto) continue;
      SL_RETURN_IF_ERROR(ReadSegmentFile(env_, SegmentPath(s), copy));
    }
    SL_RETURN_IF_ERROR(cw.Finish());
    SL_RETURN_IF_ERROR(env_->Rename(tmp, final_dir));
    return env_->SyncDir(options_.dir);
  };
  Status s = build();
  if (!s.ok()) {
    metrics_->checkpoint_creations_failed.Inc();
    (void)env_->RemoveAll(tmp);
    log::Error(
        "WAL checkpoint failed",
        {{"dir", options_.dir}, {"checkpoint", CheckpointName(upto)}, {"err", s.ToString()}});
    return s.Annotate("WAL checkpoint " + CheckpointName(upto));
  }
  metrics_->checkpoint_creations.Inc();
  {
    std::lock_guard<std::mutex> l(mu_);
    checkpoint_ = upto;
    if (last_segment_ && *last_segment_ <= upto) last_segment_.reset();
  }
  // The checkpoint is durable: what it covers can go. A failure here leaves
  // files that the next Open removes.
  std::vector<uint32_t> segs, checkpoints;
  Status del = ListDir(&segs, &checkpoints, nullptr);
  metrics_->truncations.Inc();
  for (uint32_t seg : segs) {
    if (seg > upto || !del.ok()) continue;
    del = env_->RemoveFile(SegmentPath(seg));
  }
  if (!del.ok()) metrics_->truncations_failed.Inc();
  for (uint32_t c : checkpoints) {
    if (c >= upto) continue;
    Status cs = env_->RemoveAll(io::JoinPath(options_.dir, CheckpointName(c)));
    if (cs.ok()) {
      metrics_->checkpoint_deletions.Inc();
    } else {
      metrics_->checkpoint_deletions_failed.Inc();
      if (del.ok()) del = cs;
    }
  }
  if (del.ok()) del = env_->SyncDir(options_.dir);
  if (!del.ok()) {
    log::Warn("removing WAL files covered by a checkpoint failed; the next start retries",
              {{"dir", options_.dir}, {"err", del.ToString()}});
  }
  log::Info("WAL checkpoint created", {{"dir", options_.dir},
                                       {"checkpoint", CheckpointName(upto)},
                                       {"records_kept", kept},
                                       {"records_read", total}});
  UpdateStorageSize();
  return Status::Ok();
}

Status Wal::RemoveSegmentsBefore(uint32_t segment) {
  std::lock_guard<std::mutex> cl(checkpoint_mu_);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return FailedPreconditionError("WAL " + options_.dir + " is closed");
    if (!replayed_) return FailedPreconditionError("replay the WAL before truncating it");
    if (segment > segment_) {
      return FailedPreconditionError("cannot remove segments before " + SegmentName(segment) +
                                     ": segment " + SegmentName(segment_) + " is being written");
    }
  }
  metrics_->truncations.Inc();
  std::vector<uint32_t> segs;
  Status s = ListDir(&segs, nullptr, nullptr);
  for (uint32_t seg : segs) {
    if (seg >= segment || !s.ok()) break;
    s = env_->RemoveFile(SegmentPath(seg));
  }
  if (s.ok()) s = env_->SyncDir(options_.dir);
  if (!s.ok()) {
    metrics_->truncations_failed.Inc();
    return s;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (last_segment_ && *last_segment_ < segment) last_segment_.reset();
  }
  UpdateStorageSize();
  return Status::Ok();
}

}  // namespace sightline::wal
