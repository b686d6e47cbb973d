// The XML parser on S3-shaped documents and malformed input, the S3 time and
// percent-decoding helpers, key validation, and list token checks.
#include <gtest/gtest.h>

#include "io/list_page_builder.h"
#include "io/memory_object_store.h"
#include "io/object_store.h"
#include "io/s3_util.h"
#include "io/xml.h"

namespace sightline::io {
namespace {

TEST(XmlTest, ParsesListBucketResult) {
  auto doc = ParseXml(R"(<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <Prefix></Prefix>
  <KeyCount>2</KeyCount>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents>
    <Key>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233;&#x1F642;</Key>
    <LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>
    <Size>434234</Size>
    <StorageClass>STANDARD_IA</StorageClass>
  </Contents>
  <Contents><Key><![CDATA[raw <cdata> & stuff]]></Key><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>photos/</Prefix></CommonPrefixes>
  <s3:Empty/>
</ListBucketResult>
)");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->name, "ListBucketResult");
  ASSERT_EQ(doc->attributes.size(), 1u);
  EXPECT_EQ(doc->attributes[0].second, "http://s3.amazonaws.com/doc/2006-03-01/");
  EXPECT_EQ(doc->ChildText("IsTruncated"), "true");
  EXPECT_EQ(doc->ChildText("NextContinuationToken"),
            "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  auto contents = doc->Children("Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(contents[0]->ChildText("Key"), "a & b <c> \"d\" 'e' \xC3\xA9\xF0\x9F\x99\x82");
  EXPECT_EQ(contents[0]->ChildText("ETag"), "\"fba9dede5f27731c9771645a39863328\"");
  EXPECT_EQ(contents[1]->ChildText("Key"), "raw <cdata> & stuff");
  EXPECT_EQ(doc->Child("CommonPrefixes")->ChildText("Prefix"), "photos/");
  EXPECT_NE(doc->Child("Empty"), nullptr);  // namespace prefix stripped
  EXPECT_EQ(doc->Child("Missing"), nullptr);
  EXPECT_EQ(doc->ChildText("Missing"), "");
}

TEST(XmlTest, KeepsWhitespaceInsideLeafText) {
  auto doc = ParseXml("<Key>  leading and trailing  </Key>");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->text, "  leading and trailing  ");
}

TEST(XmlTest, RejectsMalformedDocuments) {
  for (const char* bad : {
           "",
           "text only",
           "<a>",
           "<a></b>",
           "<a><b></a></b>",
           "<a>&bogus;</a>",
           "<a>&#0;</a>",
           "<a>&#xD800;</a>",
           "<a x=1/>",
           "<a x=\"1/>",
           "<a></a><b></b>",
           "<a></a>trailing",
           "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
           "<a><![CDATA[never closed</a>",
           "<a><!-- never closed</a>",
           "<a b=\"<\"/>",
           "<a\"/>",
       }) {
    EXPECT_FALSE(ParseXml(bad).ok()) << bad;
  }
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  for (int i = 0; i < 100; ++i) deep += "</a>";
  auto r = ParseXml(deep);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nesting"), std::string::npos);
  std::string ok_depth;
  for (int i = 0; i < 60; ++i) ok_depth += "<a>";
  for (int i = 0; i < 60; ++i) ok_depth += "</a>";
  EXPECT_TRUE(ParseXml(ok_depth).ok());
}

TEST(XmlTest, EscapeRoundTrips) {
  std::string nasty = "<Key>a&b\"c'd</Key>";
  auto doc = ParseXml("<K>" + XmlEscape(nasty) + "</K>");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->text, nasty);
}

TEST(S3UtilTest, ParsesIso8601) {
  EXPECT_EQ(*ParseIso8601Ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseIso8601Ms("2009-10-12T17:50:30.000Z"), 1255369830000);
  EXPECT_EQ(*ParseIso8601Ms("2009-10-12T17:50:30.5Z"), 1255369830500);
  EXPECT_EQ(*ParseIso8601Ms("2009-10-12T19:50:30+02:00"), 1255369830000);
  EXPECT_EQ(*ParseIso8601Ms("2024-02-29T00:00:00Z"), 1709164800000);
  for (const char* bad : {"", "2009-10-12", "2009-10-12T17:50:30", "2009-13-12T17:50:30Z",
                          "2009-10-12T17:50:30Zjunk", "2009-10-12T17:50:30.Z"}) {
    EXPECT_FALSE(ParseIso8601Ms(bad).ok()) << bad;
  }
}

TEST(S3UtilTest, ParsesHttpDate) {
  EXPECT_EQ(*ParseHttpDateMs("Wed, 12 Oct 2009 17:50:30 GMT"), 1255369830000);
  EXPECT_EQ(*ParseHttpDateMs("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_FALSE(ParseHttpDateMs("Wed, 12 Foo 2009 17:50:30 GMT").ok());
  EXPECT_FALSE(ParseHttpDateMs("12 Oct 2009").ok());
}

TEST(S3UtilTest, PercentDecode) {
  EXPECT_EQ(*PercentDecode("a%20b+c%2Fd%C3%BC", true), "a b c/d\xC3\xBC");
  EXPECT_EQ(*PercentDecode("a+b", false), "a+b");
  EXPECT_FALSE(PercentDecode("%2", true).ok());
  EXPECT_FALSE(PercentDecode("%zz", true).ok());
  EXPECT_FALSE(PercentDecode("abc%", true).ok());
  EXPECT_EQ(StripQuotes("\"abc\""), "abc");
  EXPECT_EQ(StripQuotes("abc"), "abc");
}

TEST(ObjectKeyTest, Validation) {
  for (const char* good : {"a", "a/b/c", "tenant/01H8XGJWBWBAQ4Z3ZC5N2H6G1T/meta.json",
                           "with space", "ü/日本", "a.b/..c/c..", ".hidden/x"}) {
    EXPECT_TRUE(ValidateObjectKey(good).ok()) << good;
  }
  for (std::string bad :
       {std::string(""), std::string("/a"), std::string("a/"), std::string("a//b"),
        std::string("."), std::string(".."), std::string("a/./b"), std::string("a/../b"),
        std::string("a\\b"), std::string("a\nb"), std::string("a\x7f"), std::string("\xc3"),
        std::string("\xc0\xaf"), std::string("\xed\xa0\x80"), std::string(1025, 'x'),
        std::string(256, 'y') + "/z", std::string("d/.sightline-tmp-1234")}) {
    Status s = ValidateObjectKey(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(ValidateObjectKey(std::string(255, 'y') + "/z").ok());
}

TEST(ListPageBuilderTest, RejectsForeignTokensAndComputesSuccessors) {
  MemoryObjectStore mem;
  ASSERT_TRUE(mem.Put("a", "1").ok());
  ListOptions opts;
  opts.continuation_token = "not-ours";
  EXPECT_EQ(mem.List(opts).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PrefixSuccessor("a/"), "a0");
  EXPECT_EQ(PrefixSuccessor(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixSuccessor(std::string("\xff\xff", 2)), "");
  // max_keys outside [1, 1000] means 1000.
  opts = {};
  opts.max_keys = 0;
  auto page = mem.List(opts);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->objects.size(), 1u);
}

}  // namespace
}  // namespace sightline::io
