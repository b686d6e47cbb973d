#include "metrics/tsdb/wal_records.h"

#include "base/coding.h"

namespace sightline::tsdb {

namespace {

// Records never hold more entries than this; a larger count is garbage.
constexpr uint64_t kMaxEntries = uint64_t{1} << 28;
constexpr uint64_t kMaxLabels = 1u << 16;

void PutLabels(const Labels& labels, std::string* out) {
  coding::PutUvarint(*out, labels.size());
  for (const Label& l : labels) {
    coding::PutLengthPrefixed(*out, l.name);
    coding::PutLengthPrefixed(*out, l.value);
  }
}

Status GetLabels(coding::Reader& r, Labels* out) {
  uint64_t n = r.Uvarint();
  if (!r.ok() || n > kMaxLabels || n * 2 > r.remaining()) {
    return DataLossError("metrics WAL record: bad label count");
  }
  std::vector<Label> labels;
  labels.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view name = r.LengthPrefixed();
    std::string_view value = r.LengthPrefixed();
    if (!r.ok()) return DataLossError("metrics WAL record: truncated labels");
    if (name.empty() || (!labels.empty() && !(labels.back().name < name))) {
      return DataLossError("metrics WAL record: labels not sorted or empty name");
    }
    labels.push_back(Label{std::string(name), std::string(value)});
  }
  *out = Labels::FromSortedUnchecked(std::move(labels));
  return Status::Ok();
}

Status CheckType(coding::Reader& r, WalRecordType want) {
  if (static_cast<WalRecordType>(r.Byte()) != want || !r.ok()) {
    return DataLossError("metrics WAL record: unexpected record type");
  }
  return Status::Ok();
}

}  // namespace

WalRecordType RecordTypeOf(std::string_view record) {
  if (record.empty()) return WalRecordType::kUnknown;
  auto t = static_cast<WalRecordType>(static_cast<uint8_t>(record[0]));
  switch (t) {
    case WalRecordType::kSeries:
    case WalRecordType::kSamples:
    case WalRecordType::kExemplars:
    case WalRecordType::kMetadata:
      return t;
    default:
      return WalRecordType::kUnknown;
  }
}

void EncodeSeries(const WalSeries& s, std::string* out) {
  out->push_back(static_cast<char>(WalRecordType::kSeries));
  coding::PutUvarint(*out, 1);
  coding::PutUvarint(*out, s.ref);
  PutLabels(s.labels, out);
}

void EncodeSamples(std::span<const WalSample> samples, std::string* out) {
  out->push_back(static_cast<char>(WalRecordType::kSamples));
  coding::PutUvarint(*out, samples.size());
  if (samples.empty()) return;
  const uint64_t base_ref = samples[0].ref;
  const int64_t base_t = samples[0].t;
  coding::PutUvarint(*out, base_ref);
  coding::PutVarint(*out, base_t);
  for (const WalSample& s : samples) {
    coding::PutVarint(*out, static_cast<int64_t>(s.ref - base_ref));
    coding::PutVarint(
        *out, static_cast<int64_t>(static_cast<uint64_t>(s.t) - static_cast<uint64_t>(base_t)));
    coding::PutFixed64LE(*out, s.v_bits);
  }
}

void EncodeExemplars(std::span<const WalExemplar> exemplars, std::string* out) {
  out->push_back(static_cast<char>(WalRecordType::kExemplars));
  coding::PutUvarint(*out, exemplars.size());
  if (exemplars.empty()) return;
  const uint64_t base_ref = exemplars[0].ref;
  const int64_t base_t = exemplars[0].t;
  coding::PutUvarint(*out, base_ref);
  coding::PutVarint(*out, base_t);
  for (const WalExemplar& e : exemplars) {
    coding::PutVarint(*out, static_cast<int64_t>(e.ref - base_ref));
    coding::PutVarint(
        *out, static_cast<int64_t>(static_cast<uint64_t>(e.t) - static_cast<uint64_t>(base_t)));
    coding::PutFixed64LE(*out, e.v_bits);
    PutLabels(e.labels, out);
  }
}

void EncodeMetadata(const WalMetadata& m, std::string* out) {
  out->push_back(static_cast<char>(WalRecordType::kMetadata));
  coding::PutLengthPrefixed(*out, m.family);
  coding::PutLengthPrefixed(*out, m.type);
  coding::PutLengthPrefixed(*out, m.help);
  coding::PutLengthPrefixed(*out, m.unit);
}

Status DecodeSeries(std::string_view record, std::vector<WalSeries>* out) {
  out->clear();
  coding::Reader r(record);
  SL_RETURN_IF_ERROR(CheckType(r, WalRecordType::kSeries));
  uint64_t n = r.Uvarint();
  if (!r.ok() || n > kMaxEntries || n > r.remaining()) {
    return DataLossError("metrics WAL series record: bad count");
  }
  out->resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    (*out)[i].ref = r.Uvarint();
    if (!r.ok()) return DataLossError("metrics WAL series record: truncated");
    SL_RETURN_IF_ERROR(GetLabels(r, &(*out)[i].labels));
  }
  if (!r.empty()) return DataLossError("metrics WAL series record: trailing bytes");
  return Status::Ok();
}

Status DecodeSamples(std::string_view record, std::vector<WalSample>* out) {
  out->clear();
  coding::Reader r(record);
  SL_RETURN_IF_ERROR(CheckType(r, WalRecordType::kSamples));
  uint64_t n = r.Uvarint();
  // Each sample takes at least 10 bytes.
  if (!r.ok() || n > kMaxEntries || n * 10 > r.remaining()) {
    return DataLossError("metrics WAL samples record: bad count");
  }
  if (n == 0) {
    if (!r.empty()) return DataLossError("metrics WAL samples record: trailing bytes");
    return Status::Ok();
  }
  const uint64_t base_ref = r.Uvarint();
  const uint64_t base_t = static_cast<uint64_t>(r.Varint());
  out->resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    WalSample& s = (*out)[i];
    s.ref = base_ref + static_cast<uint64_t>(r.Varint());
    s.t = static_cast<int64_t>(base_t + static_cast<uint64_t>(r.Varint()));
    s.v_bits = r.Fixed64LE();
  }
  if (!r.ok()) return DataLossError("metrics WAL samples record: truncated");
  if (!r.empty()) return DataLossError("metrics WAL samples record: trailing bytes");
  return Status::Ok();
}

Status DecodeExemplars(std::string_view record, std::vector<WalExemplar>* out) {
  out->clear();
  coding::Reader r(record);
  SL_RETURN_IF_ERROR(CheckType(r, WalRecordType::kExemplars));
  uint64_t n = r.Uvarint();
  if (!r.ok() || n > kMaxEntries || n * 11 > r.remaining()) {
    return DataLossError("metrics WAL exemplars record: bad count");
  }
  if (n == 0) {
    if (!r.empty()) return DataLossError("metrics WAL exemplars record: trailing bytes");
    return Status::Ok();
  }
  const uint64_t base_ref = r.Uvarint();
  const uint64_t base_t = static_cast<uint64_t>(r.Varint());
  out->resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    WalExemplar& e = (*out)[i];
    e.ref = base_ref + static_cast<uint64_t>(r.Varint());
    e.t = static_cast<int64_t>(base_t + static_cast<uint64_t>(r.Varint()));
    e.v_bits = r.Fixed64LE();
    if (!r.ok()) return DataLossError("metrics WAL exemplars record: truncated");
    SL_RETURN_IF_ERROR(GetLabels(r, &e.labels));
  }
  if (!r.empty()) return DataLossError("metrics WAL exemplars record: trailing bytes");
  return Status::Ok();
}

Status DecodeMetadata(std::string_view record, WalMetadata* out) {
  coding::Reader r(record);
  SL_RETURN_IF_ERROR(CheckType(r, WalRecordType::kMetadata));
  out->family = std::string(r.LengthPrefixed());
  out->type = std::string(r.LengthPrefixed());
  out->help = std::string(r.LengthPrefixed());
  out->unit = std::string(r.LengthPrefixed());
  if (!r.ok()) return DataLossError("metrics WAL metadata record: truncated");
  if (!r.empty()) return DataLossError("metrics WAL metadata record: trailing bytes");
  return Status::Ok();
}

}  // namespace sightline::tsdb
