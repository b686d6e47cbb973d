// The cut's codec pieces on their own: the row group's string dictionary
// (arena + open addressing; short strings compared by two loaded words) and
// TranscodeTrace against DecodeTrace on damaged records (same accept/refuse
// set, same traces when both accept). The byte-identity of TranscodeTrace
// with decode + merge + encode is store_test's CodecTest.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "base/coding.h"
#include "traces/store/codec.h"
#include "traces/test_traces.h"

namespace sightline::traces::store {
namespace {

using traces::testing::MakeTrace;

// Every length 0-40, every position of every length changed, twice the
// same: each distinct string gets one index, in order, and comes back.
TEST(StringDictTest, DistinctStringsOfEveryLengthAndPosition) {
  StringDict d;
  std::vector<std::string> want;
  for (size_t n = 0; n <= 40; ++n) {
    std::string base(n, 'a');
    for (size_t i = 0; i < n; ++i) base[i] = static_cast<char>('a' + (i * 7) % 26);
    std::vector<std::string> variants = {base};
    for (size_t i = 0; i < n; ++i) {
      std::string v = base;
      v[i] = static_cast<char>(v[i] ^ 0x01);
      variants.push_back(v);
      v[i] = '\0';
      variants.push_back(v);
      v[i] = static_cast<char>(0xff);
      variants.push_back(v);
    }
    for (const std::string& v : variants) {
      if (std::find(want.begin(), want.end(), v) == want.end()) want.push_back(v);
    }
  }
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(d.Add(want[i]), i) << "round " << round << " string " << i;
    }
  }
  ASSERT_EQ(d.size(), want.size());
  std::vector<std::string_view> got = d.strings();
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i], want[i]);
    EXPECT_EQ(d.at(i), want[i]);
  }
  // The block's dictionary section: count, then each string length-prefixed.
  std::string section;
  d.AppendTo(&section);
  coding::Reader r(section);
  ASSERT_EQ(r.Uvarint(), want.size());
  for (const std::string& w : want) EXPECT_EQ(r.LengthPrefixed(), w);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.empty());

  d.Clear();
  EXPECT_EQ(d.size(), 0u);
  EXPECT_EQ(d.Add("x"), 0u);
  EXPECT_EQ(d.Add(""), 1u);
  EXPECT_EQ(d.Add("x"), 0u);
}

// Many strings (the table grows several times), random short and long,
// against std::map.
TEST(StringDictTest, ManyRandomStringsAcrossGrowth) {
  std::mt19937_64 rng(11);
  StringDict d;
  std::map<std::string, uint32_t> ref;
  for (int i = 0; i < 60000; ++i) {
    const size_t n = rng() % 4 == 0 ? 17 + rng() % 60 : rng() % 17;
    std::string s(n, '\0');
    // A small alphabet: many repeats and near-misses.
    for (char& c : s) c = static_cast<char>("ab\0\xff"[rng() % 4]);
    auto [it, fresh] = ref.emplace(s, static_cast<uint32_t>(ref.size()));
    ASSERT_EQ(d.Add(s), it->second) << i;
  }
  EXPECT_EQ(d.size(), ref.size());
}

// Damaged records: TranscodeTrace fails exactly where DecodeTrace does, and
// where both succeed the transcoded record decodes (with the dictionary) to
// the trace DecodeTrace read. Single bytes changed at every position, to
// values that make long or overflowing varints, lengths past the end, bad
// tags.
TEST(TranscodeTest, DamagedRecordsLikeDecodeTrace) {
  Trace t = MakeTrace(5, 4);
  KeyValue arr;
  arr.key = "arr";
  arr.value.v = ArrayValue{AttributeValue{std::string("a")}, AttributeValue{int64_t{1} << 40},
                           AttributeValue{2.5}};
  t.spans[0].attributes.push_back(arr);
  t.spans[1].links.push_back({traces::testing::TraceId(3), traces::testing::SpanId(3), "k=v", {}, 2, 1});
  t.spans[2].events.push_back({t.spans[2].start_unix_nano + 5, "ev", {traces::testing::Int("n", -3)}, 0});
  std::string rec;
  EncodeTrace(t, nullptr, &rec);
  const uint8_t kValues[] = {0x00, 0x01, 0x02, 0x07, 0x08, 0x09, 0x7f, 0x80, 0x81, 0xff};
  int both_ok = 0, both_fail = 0;
  for (size_t pos = 0; pos < rec.size(); ++pos) {
    for (uint8_t v : kValues) {
      std::string bad = rec;
      bad[pos] = static_cast<char>(v);
      Trace want;
      const bool decode_ok = DecodeTrace(bad, nullptr, &want).ok();
      StringDict dict;
      std::string out;
      TraceSummary sum;
      std::vector<std::string_view> parts = {bad};
      const bool transcode_ok = TranscodeTrace(parts, &dict, &out, &sum).ok();
      ASSERT_EQ(transcode_ok, decode_ok) << "byte " << pos << " = " << int{v};
      if (!decode_ok) {
        ++both_fail;
        continue;
      }
      ++both_ok;
      std::vector<std::string_view> views = dict.strings();
      Trace got;
      ASSERT_TRUE(DecodeTrace(out, &views, &got).ok()) << "byte " << pos << " = " << int{v};
      // Compared as their inline encodings (every field).
      std::string a, b;
      EncodeTrace(want, nullptr, &a);
      EncodeTrace(got, nullptr, &b);
      EXPECT_EQ(a, b) << "byte " << pos << " = " << int{v};
      EXPECT_EQ(sum.spans, want.spans.size());
    }
  }
  EXPECT_GT(both_ok, 100);
  EXPECT_GT(both_fail, 100);
  // Ten-byte varints: the largest valid one (10th byte 1) is accepted, a
  // 10th byte of 2 or an 11th byte is not, as in coding::Reader.
  for (int last : {1, 2}) {
    std::string r2 = rec.substr(0, 16);
    for (int i = 0; i < 9; ++i) r2.push_back(static_cast<char>(0xff));
    r2.push_back(static_cast<char>(last));  // base
    r2 += rec.substr(16 + 9);               // a 9-byte base in MakeTrace's record
    Trace want;
    const bool decode_ok = DecodeTrace(r2, nullptr, &want).ok();
    StringDict dict;
    std::string out;
    TraceSummary sum;
    std::vector<std::string_view> parts = {r2};
    EXPECT_EQ(TranscodeTrace(parts, &dict, &out, &sum).ok(), decode_ok) << last;
  }
}

}  // namespace
}  // namespace sightline::traces::store
