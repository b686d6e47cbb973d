#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "base/json_writer.h"
#include "blocks/meta.h"
#include "blocks/ulid.h"

namespace sightline::blocks {
namespace {

using ::testing::HasSubstr;

TEST(UlidTest, RoundTripAndOrder) {
  Ulid a = NewUlid(1469918176385);
  std::string s = a.ToString();
  EXPECT_EQ(s.size(), 26u);
  // 1469918176385 ms is "01ARYZ6S41" in the ULID spec's example.
  EXPECT_EQ(s.substr(0, 10), "01ARYZ6S41");
  auto back = Ulid::Parse(s);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, a);
  EXPECT_EQ(back->time_ms(), 1469918176385u);
  // Same millisecond: strictly increasing.
  Ulid b = NewUlid(1469918176385);
  EXPECT_LT(a, b);
  EXPECT_LT(a.ToString(), b.ToString());
}

TEST(UlidTest, ParseRejectsBadInput) {
  EXPECT_FALSE(Ulid::Parse("").ok());
  EXPECT_FALSE(Ulid::Parse("01ARYZ6S41TSV4RRFFQ69G5FA").ok());    // 25 chars
  EXPECT_FALSE(Ulid::Parse("01ARYZ6S41TSV4RRFFQ69G5FAU").ok());   // U is not Crockford
  EXPECT_FALSE(Ulid::Parse("81ARYZ6S41TSV4RRFFQ69G5FAV").ok());   // > 128 bits
  auto lower = Ulid::Parse("01aryz6s41tsv4rrffq69g5fav");
  ASSERT_TRUE(lower.ok());
  EXPECT_EQ(lower->ToString(), "01ARYZ6S41TSV4RRFFQ69G5FAV");
}

TEST(UlidTest, UniqueAcrossThreads) {
  std::vector<std::vector<std::string>> out(4);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) out[t].push_back(NewUlid().ToString());
    });
  }
  for (auto& t : ts) t.join();
  std::set<std::string> all;
  for (auto& v : out) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 4000u);
}

// A meta.json as Prometheus 2.x + Thanos sidecar write it.
constexpr char kPrometheusMeta[] = R"({
	"ulid": "01EM6Q6A1YPX4G9TEB20J22B2R",
	"minTime": 1602237600000,
	"maxTime": 1602244800000,
	"stats": {
		"numSamples": 553673232,
		"numSeries": 1346066,
		"numChunks": 4440437
	},
	"compaction": {
		"level": 1,
		"sources": [
			"01EM6Q6A1YPX4G9TEB20J22B2R"
		]
	},
	"version": 1,
	"thanos": {
		"labels": {"cluster": "eu1", "replica": "0"},
		"downsample": {"resolution": 0},
		"source": "sidecar",
		"segment_files": ["000001"],
		"files": [{"rel_path": "chunks/000001", "size_in_bytes": 536870882}, {"rel_path": "index", "size_in_bytes": 1000}, {"rel_path": "meta.json"}]
	}
})";

TEST(MetaTest, ParsesPrometheusAndThanosMeta) {
  auto m = BlockMeta::Parse(kPrometheusMeta);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->ulid.ToString(), "01EM6Q6A1YPX4G9TEB20J22B2R");
  EXPECT_EQ(m->min_time, 1602237600000);
  EXPECT_EQ(m->max_time, 1602244800000);
  EXPECT_EQ(m->stats.at("numSamples"), 553673232u);
  EXPECT_EQ(m->compaction_level, 1);
  ASSERT_EQ(m->compaction_sources.size(), 1u);
  EXPECT_EQ(m->labels.at("cluster"), "eu1");
  EXPECT_EQ(m->source, "sidecar");
  ASSERT_EQ(m->files.size(), 3u);
  EXPECT_EQ(m->files[0].size_bytes, 536870882u);
}

TEST(MetaTest, RoundTrip) {
  BlockMeta m;
  m.ulid = NewUlid();
  m.min_time = 1000;
  m.max_time = 7201000;
  m.stats = {{"numSamples", 10}, {"numSeries", 2}};
  m.labels = {{"replica", "a\"b"}};
  m.signal = "logs";
  m.tenant = "team-a";
  m.format = "logs-v1";
  m.files = {{"index", 12}, {"chunks/000001", 34}};
  std::string json = m.ToJson();
  EXPECT_THAT(json, HasSubstr("\"minTime\":1000"));
  EXPECT_THAT(json, HasSubstr("\"sources\":[\"" + m.ulid.ToString() + "\"]"));
  auto back = BlockMeta::Parse(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ulid, m.ulid);
  EXPECT_EQ(back->stats, m.stats);
  EXPECT_EQ(back->labels, m.labels);
  EXPECT_EQ(back->signal, "logs");
  EXPECT_EQ(back->tenant, "team-a");
  EXPECT_EQ(back->files.size(), 2u);
}

TEST(MetaTest, RejectsBrokenMeta) {
  EXPECT_FALSE(BlockMeta::Parse("").ok());
  EXPECT_FALSE(BlockMeta::Parse("[]").ok());
  EXPECT_FALSE(BlockMeta::Parse(R"({"minTime":1,"maxTime":2})").ok());
  EXPECT_FALSE(BlockMeta::Parse(R"({"ulid":"nope","minTime":1,"maxTime":2})").ok());
  EXPECT_FALSE(BlockMeta::Parse(R"({"ulid":"01EM6Q6A1YPX4G9TEB20J22B2R","minTime":5,"maxTime":2})").ok());
  EXPECT_FALSE(BlockMeta::Parse(R"({"ulid":"01EM6Q6A1YPX4G9TEB20J22B2R","minTime":1,"maxTime":2)").ok());
}

TEST(JsonWriterTest, EscapingAndStructure) {
  JsonWriter w;
  w.BeginObject()
      .Key("s").String("a\"b\\c\n\x01 \xff ok \xe2\x82\xac")
      .Key("arr").BeginArray().Int(-1).Uint(2).Double(0.5).Double(1.0 / 0.0).Bool(true).Null().EndArray()
      .Key("o").BeginObject().EndObject()
      .EndObject();
  EXPECT_EQ(w.str(),
            "{\"s\":\"a\\\"b\\\\c\\n\\u0001 \xEF\xBF\xBD ok \xe2\x82\xac\","
            "\"arr\":[-1,2,0.5,null,true,null],\"o\":{}}");
}

}  // namespace
}  // namespace sightline::blocks
