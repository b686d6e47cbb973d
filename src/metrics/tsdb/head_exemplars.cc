#include "metrics/tsdb/head_exemplars.h"

namespace sightline::tsdb {

namespace {

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

ExemplarStorage::ExemplarStorage(size_t capacity) : capacity_(capacity) {}

size_t ExemplarStorage::Size() const {
  std::lock_guard<std::mutex> l(mu_);
  return ring_.size();
}

Status ExemplarStorage::Validate(uint64_t series_ref, int64_t t, uint64_t v_bits,
                                 const Labels& labels, bool* duplicate) const {
  std::lock_guard<std::mutex> l(mu_);
  return ValidateLocked(series_ref, t, v_bits, labels, duplicate);
}

Status ExemplarStorage::ValidateLocked(uint64_t series_ref, int64_t t, uint64_t v_bits,
                                       const Labels& labels, bool* duplicate) const {
  *duplicate = false;
  size_t len = 0;
  for (const Label& l : labels) len += Utf8Length(l.name) + Utf8Length(l.value);
  if (len > kExemplarMaxLabelSetLength) {
    return InvalidArgumentError("exemplar label set is too long: " + std::to_string(len) +
                                " UTF-8 characters, the maximum is " +
                                std::to_string(kExemplarMaxLabelSetLength));
  }
  if (capacity_ == 0) return Status::Ok();
  auto it = newest_.find(series_ref);
  if (it == newest_.end()) return Status::Ok();
  const StoredExemplar& last = ring_[it->second].ex;
  if (t < last.t) return InvalidArgumentError("out of order exemplar");
  if (t == last.t && v_bits == last.v_bits && labels == last.labels) *duplicate = true;
  return Status::Ok();
}

Status ExemplarStorage::Add(StoredExemplar e) {
  std::lock_guard<std::mutex> l(mu_);
  bool dup = false;
  SL_RETURN_IF_ERROR(ValidateLocked(e.series_ref, e.t, e.v_bits, e.labels, &dup));
  if (dup || capacity_ == 0) return Status::Ok();
  size_t slot;
  if (ring_.size() < capacity_) {
    slot = ring_.size();
    ring_.emplace_back();
    next_ = ring_.size() % capacity_;
  } else {
    slot = next_;
    Entry& old = ring_[slot];
    // Forget the evicted exemplar's series if it was that series' newest.
    auto it = newest_.find(old.ex.series_ref);
    if (it != newest_.end() && it->second == slot) newest_.erase(it);
    next_ = (next_ + 1) % capacity_;
  }
  newest_[e.series_ref] = slot;
  ring_[slot].ex = std::move(e);
  ring_[slot].used = true;
  return Status::Ok();
}

}  // namespace sightline::tsdb
