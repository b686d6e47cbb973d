// JsonWriter: structure, escaping and the two ways of writing doubles.
#include "base/json_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace sightline {
namespace {

TEST(JsonWriterTest, ObjectsArraysAndEscapes) {
  JsonWriter w;
  w.BeginObject().Key("a").Int(-3).Key("b\"").String("x\n\x01y").Key("c").BeginArray();
  w.Uint(18446744073709551615ull).Bool(true).Null().EndArray().EndObject();
  EXPECT_EQ(w.str(), R"({"a":-3,"b\"":"x\n\u0001y","c":[18446744073709551615,true,null]})");
}

TEST(JsonWriterTest, DoublesRoundTripAndNonFiniteAsNullOrProtoStrings) {
  const double inf = std::numeric_limits<double>::infinity();
  JsonWriter w;
  w.BeginArray().Double(0.1).Double(1e21).Double(std::nan("")).Double(inf);
  w.ProtoDouble(2.5).ProtoDouble(std::nan("")).ProtoDouble(inf).ProtoDouble(-inf).EndArray();
  EXPECT_EQ(w.str(), R"([0.1,1e+21,null,null,2.5,"NaN","Infinity","-Infinity"])");
}

}  // namespace
}  // namespace sightline
