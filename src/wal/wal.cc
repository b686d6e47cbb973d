// Wal: opening, group-committed appends, segment rollover, close.
// Replay, repair and checkpoints are in wal_recovery.cc.
#include "wal/wal.h"

#include <algorithm>

#include "base/compression.h"
#include "telemetry/log.h"
#include "wal/wal_internal.h"

namespace sightline::wal {

Wal::Metrics::Metrics(telemetry::Registry& r, const std::string& p)
    : fsync_duration(r.AddHistogram(p + "fsync_duration_seconds", "Duration of WAL fsync.", {},
                                    telemetry::ExponentialBuckets(0.0001, 2, 16))
                         .Get()),
      page_flushes(r.AddCounter(p + "page_flushes_total", "Total number of page flushes.").Get()),
      completed_pages(
          r.AddCounter(p + "completed_pages_total", "Total number of completed pages.").Get()),
      truncations(
          r.AddCounter(p + "truncations_total", "Total number of WAL truncations attempted.")
              .Get()),
      truncations_failed(r.AddCounter(p + "truncations_failed_total",
                                      "Total number of WAL truncations that failed.")
                             .Get()),
      corruptions(r.AddCounter(p + "corruptions_total",
                               "Total number of WAL corruptions (torn tails included).")
                      .Get()),
      writes_failed(
          r.AddCounter(p + "writes_failed_total", "Total number of WAL writes that failed.").Get()),
      segment_current(r.AddGauge(p + "segment_current",
                                 "Write log segment index that the WAL is currently writing to.")
                          .Get()),
      record_parts_bytes_written(
          r.AddCounter(p + "record_parts_bytes_written_total",
                       "Bytes of record fragments (headers, payload, padding) written.")
              .Get()),
      records_appended(
          r.AddCounter(p + "records_appended_total", "Records acknowledged by Append.").Get()),
      storage_size(r.AddGauge(p + "storage_size_bytes", "Size of the write log directory.").Get()),
      checkpoint_creations(
          r.AddCounter(p + "checkpoint_creations_total", "Total number of checkpoints created.")
              .Get()),
      checkpoint_creations_failed(r.AddCounter(p + "checkpoint_creations_failed_total",
                                               "Total number of checkpoint creations that failed.")
                                      .Get()),
      checkpoint_deletions(
          r.AddCounter(p + "checkpoint_deletions_total", "Total number of checkpoints deleted.")
              .Get()),
      checkpoint_deletions_failed(r.AddCounter(p + "checkpoint_deletions_failed_total",
                                               "Total number of checkpoint deletions that failed.")
                                      .Get()) {}

Wal::Wal(WalOptions options)
    : options_(std::move(options)),
      env_(options_.env ? options_.env : io::Env::Default()),
      metrics_(std::make_unique<Metrics>(
          options_.registry ? *options_.registry : telemetry::Registry::Default(),
          options_.metrics_prefix)) {}

Wal::~Wal() {
  bool closed;
  {
    std::lock_guard<std::mutex> l(mu_);
    closed = closed_;
  }
  if (!closed) {
    Status s = Close();
    if (!s.ok()) log::Error("closing WAL failed", {{"dir", options_.dir}, {"err", s.ToString()}});
  }
}

Result<std::unique_ptr<Wal>> Wal::Open(WalOptions options) {
  if (options.dir.empty()) return InvalidArgumentError("WAL directory is empty");
  if (options.segment_size < kPageSize || options.segment_size % kPageSize != 0) {
    return InvalidArgumentError("WAL segment size " + std::to_string(options.segment_size) +
                                " is not a positive multiple of 32 KiB");
  }
  if (options.sync_policy == SyncPolicy::kBatch && options.sync_interval.count() <= 0) {
    return InvalidArgumentError("WAL sync interval must be positive with the batch sync policy");
  }
  std::unique_ptr<Wal> wal(new Wal(std::move(options)));
  SL_RETURN_IF_ERROR(wal->Init());
  return wal;
}

std::string Wal::SegmentPath(uint32_t index) const {
  return io::JoinPath(options_.dir, SegmentName(index));
}

Status Wal::ListDir(std::vector<uint32_t>* segments, std::vector<uint32_t>* checkpoints,
                    std::vector<std::string>* tmp_dirs) const {
  SL_ASSIGN_OR_RETURN(auto names, env_->GetChildren(options_.dir));
  for (const auto& name : names) {
    if (auto s = ParseSegmentName(name)) {
      if (segments) segments->push_back(*s);
    } else if (auto c = ParseCheckpointName(name)) {
      if (checkpoints) checkpoints->push_back(*c);
    } else if (name.rfind("checkpoint.", 0) == 0 && name.size() > 4 &&
               name.compare(name.size() - 4, 4, ".tmp") == 0) {
      if (tmp_dirs) tmp_dirs->push_back(name);
    }
  }
  if (segments) std::sort(segments->begin(), segments->end());
  if (checkpoints) std::sort(checkpoints->begin(), checkpoints->end());
  return Status::Ok();
}

Status Wal::Init() {
  const std::string& dir = options_.dir;
  SL_RETURN_IF_ERROR(io::CreateDirsDurable(*env_, dir));

  std::vector<uint32_t> segments, checkpoints;
  std::vector<std::string> tmp_dirs;
  SL_RETURN_IF_ERROR(ListDir(&segments, &checkpoints, &tmp_dirs));
  bool removed = false;
  // A checkpoint that was being written when the process died.
  for (const auto& name : tmp_dirs) {
    log::Info("removing incomplete WAL checkpoint", {{"dir", dir}, {"name", name}});
    SL_RETURN_IF_ERROR(env_->RemoveAll(io::JoinPath(dir, name)));
    removed = true;
  }
  if (!checkpoints.empty()) {
    // Finish the cleanup of a checkpoint whose process died after renaming it.
    uint32_t newest = checkpoints.back();
    for (uint32_t c : checkpoints) {
      if (c == newest) continue;
      SL_RETURN_IF_ERROR(env_->RemoveAll(io::JoinPath(dir, CheckpointName(c))));
      removed = true;
    }
    while (!segments.empty() && segments.front() <= newest) {
      SL_RETURN_IF_ERROR(env_->RemoveFile(SegmentPath(segments.front())));
      segments.erase(segments.begin());
      removed = true;
    }
    checkpoint_ = newest;
  }
  if (removed) SL_RETURN_IF_ERROR(env_->SyncDir(dir));
  if (!segments.empty()) last_segment_ = segments.back();
  {
    std::lock_guard<std::mutex> l(mu_);
    segment_ = PredictNextSegmentLocked();
  }
  metrics_->segment_current.Set(segment_);
  UpdateStorageSize();
  return Status::Ok();
}

uint32_t Wal::PredictNextSegmentLocked() {
  if (last_segment_ && (!checkpoint_ || *last_segment_ > *checkpoint_)) {
    auto size = env_->GetFileSize(SegmentPath(*last_segment_));
    if (size.ok() && *size == 0) return *last_segment_;
  }
  uint32_t next = 0;
  if (last_segment_) next = std::max(next, *last_segment_ + 1);
  if (checkpoint_) next = std::max(next, *checkpoint_ + 1);
  return next;
}

void Wal::UpdateStorageSize() {
  std::vector<uint32_t> segments, checkpoints;
  if (!ListDir(&segments, &checkpoints, nullptr).ok()) return;
  uint64_t total = 0;
  for (uint32_t s : segments) {
    auto size = env_->GetFileSize(SegmentPath(s));
    if (size.ok()) total += *size;
  }
  for (uint32_t c : checkpoints) {
    std::string cdir = io::JoinPath(options_.dir, CheckpointName(c));
    auto names = env_->GetChildren(cdir);
    if (!names.ok()) continue;
    for (const auto& n : *names) {
      auto size = env_->GetFileSize(io::JoinPath(cdir, n));
      if (size.ok()) total += *size;
    }
  }
  metrics_->storage_size.Set(static_cast<double>(total));
}

uint32_t Wal::CurrentSegment() const {
  std::lock_guard<std::mutex> l(mu_);
  return segment_;
}

Result<std::vector<uint32_t>> Wal::Segments() const {
  std::vector<uint32_t> segments;
  SL_RETURN_IF_ERROR(ListDir(&segments, nullptr, nullptr));
  return segments;
}

ReplayStats Wal::replay_stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return replay_stats_;
}

// ---------------------------------------------------------------------------
// Writer queue.

Result<WalPosition> Wal::Append(std::span<const std::string_view> records) {
  Writer w;
  w.kind = Writer::kRecords;
  w.records = records;
  for (auto r : records) {
    if (r.size() > kMaxRecordSize) {
      return InvalidArgumentError("WAL record of " + std::to_string(r.size()) +
                                  " bytes exceeds the 1 GiB limit");
    }
    w.bytes += r.size();
  }
  SL_RETURN_IF_ERROR(Submit(&w));
  return w.pos;
}

Result<uint32_t> Wal::NextSegment() {
  Writer w;
  w.kind = Writer::kRoll;
  SL_RETURN_IF_ERROR(Submit(&w));
  return w.pos.segment;
}

Status Wal::Close() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return Status::Ok();
  }
  Writer w;
  w.kind = Writer::kClose;
  Status s = Submit(&w);
  UpdateStorageSize();
  return s;
}

Status Wal::Submit(Writer* w) {
  std::unique_lock<std::mutex> l(mu_);
  if (closed_) return FailedPreconditionError("WAL " + options_.dir + " is closed");
  writers_.push_back(w);
  while (true) {
    if (w->done) return w->status;
    if (w->pending) {
      // kBatch: our records are written; wait for the fsync that covers
      // them. If nobody syncs within the interval, the oldest waiter asks
      // for a sync through the queue, so that the leader does it.
      auto timeout = w->cv.wait_for(l, options_.sync_interval);
      if (timeout == std::cv_status::timeout && !w->done && !pending_sync_.empty() &&
          pending_sync_.front() == w) {
        Writer sync;
        sync.kind = Writer::kSync;
        writers_.push_back(&sync);
        while (!sync.done && &sync != writers_.front()) sync.cv.wait(l);
        if (!sync.done) Lead(&sync, l);
      }
      continue;
    }
    if (w == writers_.front()) {
      Lead(w, l);
      continue;
    }
    w->cv.wait(l);
  }
}

void Wal::Lead(Writer* leader, std::unique_lock<std::mutex>& l) {
  // Group: the leader takes the records of the writers queued behind it.
  std::vector<Writer*> batch = {leader};
  if (leader->kind == Writer::kRecords) {
    size_t bytes = leader->bytes;
    for (size_t i = 1; i < writers_.size(); ++i) {
      Writer* w = writers_[i];
      if (w->kind != Writer::kRecords || bytes + w->bytes > options_.max_batch_bytes) break;
      bytes += w->bytes;
      batch.push_back(w);
    }
  }
  const bool closed = closed_;
  const bool was_replayed = replayed_;
  appended_ = true;
  l.unlock();

  Status s;
  bool sync_failed = false;
  uint64_t records = 0;
  if (closed) {
    s = FailedPreconditionError("WAL " + options_.dir + " is closed");
  } else if (!was_replayed && leader->kind != Writer::kClose &&
             !(s = ReplayImpl(nullptr, /*tail_only=*/true)).ok()) {
    // The tail of the last segment could not be checked or repaired.
  } else {
    switch (leader->kind) {
      case Writer::kRecords:
        s = WriteBatch(batch, &sync_failed);
        for (Writer* w : batch) records += w->records.size();
        break;
      case Writer::kSync:
        // Recover() syncs what it keeps, which covers the waiters' bytes.
        if (need_recovery_) s = Recover();
        if (s.ok() && file_ && seg_synced_ < seg_offset_) s = SyncFile(&sync_failed);
        break;
      case Writer::kRoll:
        s = EnsureSegment();
        if (s.ok()) s = FinishSegment(&sync_failed);
        if (s.ok()) s = OpenSegment(next_index_);
        leader->pos.segment = segment_;
        break;
      case Writer::kClose:
        if (need_recovery_) (void)Recover();  // best effort: drop a failed batch's bytes
        if (file_) {
          s = FinishSegment(&sync_failed);
          if (!s.ok()) file_.reset();
        }
        break;
    }
  }
  if (!s.ok() && leader->kind != Writer::kClose) metrics_->writes_failed.Inc();
  // kBatch waiters cannot be told "durable" while the segment awaits a cut
  // back (or after a failed fsync): fail them rather than keep them waiting
  // for a sync that may never cover their bytes.
  const bool fail_pending = sync_failed || need_recovery_;

  l.lock();
  // Everything before the current segment was synced when it was finished.
  synced_seq_ = std::max(synced_seq_, seg_start_seq_ + seg_synced_);
  if (leader->kind == Writer::kClose && !closed) closed_ = true;
  for (Writer* w : batch) {
    if (!s.ok()) {
      w->status = s;
      w->done = true;
    } else if (options_.sync_policy == SyncPolicy::kBatch && w->kind == Writer::kRecords &&
               w->end_seq > synced_seq_) {
      w->pending = true;
      pending_sync_.push_back(w);
    } else {
      w->done = true;
    }
  }
  if (s.ok() && leader->kind == Writer::kRecords) {
    metrics_->records_appended.Inc(static_cast<double>(records));
  }
  // kBatch waiters: done once synced; all of them fail if an fsync failed or
  // the WAL closed (their bytes are suspect or will never be synced).
  while (!pending_sync_.empty()) {
    Writer* w = pending_sync_.front();
    if (w->end_seq <= synced_seq_) {
      w->done = true;
    } else if (fail_pending || closed_) {
      if (fail_pending) {
        w->status = !s.ok() ? s : UnavailableError("an earlier WAL write failed before the fsync");
      } else {
        w->status = FailedPreconditionError("WAL closed before the fsync");
      }
      w->done = true;
    } else {
      break;
    }
    w->pending = false;
    pending_sync_.pop_front();
    w->cv.notify_one();
  }
  for (size_t i = 0; i < batch.size(); ++i) writers_.pop_front();
  for (Writer* w : batch) {
    if (w != leader) w->cv.notify_one();
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
}

// ---------------------------------------------------------------------------
// Leader work: runs without mu_, touching only leader-owned state.

Status Wal::EnsureSegment() {
  if (need_recovery_) SL_RETURN_IF_ERROR(Recover());
  if (file_) return Status::Ok();
  if (!writer_started_) {
    std::lock_guard<std::mutex> l(mu_);
    next_index_ = segment_;
    writer_started_ = true;
  }
  return OpenSegment(next_index_);
}

Status Wal::OpenSegment(uint32_t index) {
  const std::string path = SegmentPath(index);
  SL_ASSIGN_OR_RETURN(auto file, env_->NewWritableFile(path));
  // The new entry must be durable before anything in it is acknowledged.
  Status s = env_->SyncDir(options_.dir);
  if (!s.ok()) {
    (void)file->Close();
    return s;
  }
  file_ = std::move(file);
  seg_offset_ = 0;
  seg_synced_ = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    segment_ = index;
    last_segment_ = index;
  }
  metrics_->segment_current.Set(index);
  return Status::Ok();
}

Status Wal::FinishSegment(bool* sync_failed) {
  uint64_t pad = PagePadding(seg_offset_);
  if (pad > 0) {
    Status s = file_->Append(std::string(pad, '\0'));
    if (s.ok()) s = file_->Flush();
    if (!s.ok()) {
      need_recovery_ = true;
      recovery_offset_ = seg_offset_;
      return s;
    }
    seg_offset_ += pad;
    metrics_->completed_pages.Inc();
    metrics_->record_parts_bytes_written.Inc(static_cast<double>(pad));
  }
  SL_RETURN_IF_ERROR(SyncFile(sync_failed));
  Status s = file_->Close();
  file_.reset();
  if (!s.ok()) return s;  // the data was synced; only the descriptor failed
  seg_start_seq_ += seg_offset_;
  seg_offset_ = 0;
  seg_synced_ = 0;
  next_index_ = segment_ + 1;
  return Status::Ok();
}

Status Wal::SyncFile(bool* sync_failed) {
  auto start = std::chrono::steady_clock::now();
  Status s = file_->Sync();
  auto end = std::chrono::steady_clock::now();
  metrics_->fsync_duration.Observe(std::chrono::duration<double>(end - start).count());
  if (!s.ok()) {
    // After a failed fsync the kernel may have dropped the dirty pages
    // (fsyncgate): nothing since the last good sync can be trusted.
    *sync_failed = true;
    need_recovery_ = true;
    recovery_offset_ = seg_synced_;
    log::Error("WAL fsync failed",
               {{"dir", options_.dir}, {"segment", SegmentName(segment_)}, {"err", s.ToString()}});
    return s;
  }
  seg_synced_ = seg_offset_;
  last_sync_ = end;
  return Status::Ok();
}

Status Wal::Recover() {
  // Cut the segment back to the last good write and make that durable.
  const std::string path = SegmentPath(segment_);
  if (file_) {
    (void)file_->Close();
    file_.reset();
  }
  SL_RETURN_IF_ERROR(env_->Truncate(path, recovery_offset_));
  SL_ASSIGN_OR_RETURN(auto file, env_->NewAppendableFile(path));
  SL_RETURN_IF_ERROR(file->Sync());
  log::Warn("WAL segment cut back after a failed write",
            {{"dir", options_.dir},
             {"segment", SegmentName(segment_)},
             {"offset", recovery_offset_},
             {"bytes_dropped", seg_offset_ - recovery_offset_}});
  file_ = std::move(file);
  seg_offset_ = recovery_offset_;
  seg_synced_ = recovery_offset_;
  need_recovery_ = false;
  return Status::Ok();
}

Status Wal::WriteBatch(const std::vector<Writer*>& batch, bool* sync_failed) {
  SL_RETURN_IF_ERROR(EnsureSegment());
  // The records are framed as pieces (headers, the records' own bytes,
  // padding) and written with one gathering write: no copy into a batch
  // buffer.
  gather_.Clear();
  compressed_.clear();
  uint64_t off = seg_offset_;  // including what is in gather_
  uint64_t batch_start = seg_offset_;
  uint64_t pages = 0;
  uint64_t bytes_written = 0;
  auto write_buf = [&]() -> Status {
    if (gather_.pieces.empty()) return Status::Ok();
    metrics_->page_flushes.Inc();
    Status s = file_->AppendV(gather_.pieces);
    if (s.ok()) s = file_->Flush();
    if (!s.ok()) {
      need_recovery_ = true;
      recovery_offset_ = batch_start;
      return s;
    }
    bytes_written += gather_.bytes;
    seg_offset_ = off;
    gather_.Clear();
    return Status::Ok();
  };
  for (Writer* w : batch) {
    w->pos = WalPosition{segment_, off, false};
    bool first = true;
    for (std::string_view rec : w->records) {
      std::string_view payload = rec;
      uint8_t flags = 0;
      if (options_.compression != Compression::kNone && !rec.empty()) {
        Codec codec = options_.compression == Compression::kSnappy ? Codec::kSnappy : Codec::kZstd;
        auto c = Compress(codec, rec);
        if (c.ok() && c->size() < rec.size()) {
          // A deque: the pieces point into its strings, which never move.
          payload = compressed_.emplace_back(std::move(*c));
          flags = codec == Codec::kSnappy ? kSnappyFlag : kZstdFlag;
        }
      }
      if (off > 0 && EncodedEnd(off, payload.size()) > options_.segment_size) {
        // Records never span segments: close this one and start the next.
        SL_RETURN_IF_ERROR(write_buf());
        if (Status fs = FinishSegment(sync_failed); !fs.ok()) {
          // Cut back this batch's bytes too, not only the padding.
          if (need_recovery_ && !*sync_failed) {
            recovery_offset_ = std::min(recovery_offset_, batch_start);
          }
          return fs;
        }
        SL_RETURN_IF_ERROR(OpenSegment(next_index_));
        UpdateStorageSize();
        off = 0;
        batch_start = 0;
      }
      uint64_t start = EncodeRecordGather(payload, flags, &off, &gather_, &pages);
      if (first) w->pos = WalPosition{segment_, start, false};
      first = false;
    }
    w->end_seq = seg_start_seq_ + off;
  }
  SL_RETURN_IF_ERROR(write_buf());
  metrics_->completed_pages.Inc(static_cast<double>(pages));
  metrics_->record_parts_bytes_written.Inc(static_cast<double>(bytes_written));
  metrics_->storage_size.Add(static_cast<double>(bytes_written));
  switch (options_.sync_policy) {
    case SyncPolicy::kAlways:
      return SyncFile(sync_failed);
    case SyncPolicy::kBatch:
      if (std::chrono::steady_clock::now() - last_sync_ >= options_.sync_interval) {
        return SyncFile(sync_failed);
      }
      return Status::Ok();
    case SyncPolicy::kNone:
      return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace sightline::wal
