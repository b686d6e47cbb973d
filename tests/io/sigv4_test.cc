// SigV4 signer against AWS's published test vectors: the "aws-sig-v4-test-
// suite" (credentials AKIDEXAMPLE, region us-east-1, service "service",
// 2015-08-30T12:36:00Z, host example.amazonaws.com) and the GetObject example
// of the S3 API reference. Canonical request, string to sign and signature
// must match byte for byte. The expected values are AWS's, not ours.
#include <gtest/gtest.h>

#include "io/crypto.h"
#include "io/s3_sigv4.h"

namespace sightline::io {
namespace {

constexpr char kSuiteDate[] = "20150830T123600Z";
constexpr char kSuiteHost[] = "example.amazonaws.com";
const AwsCredentials kSuiteCreds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
constexpr char kEmptyHash[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Vector {
  std::string name;
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string session_token;
  bool s3 = false;             // S3's path rule (the suite's "-unnormalized" cases)
  std::string canonical;       // full canonical request, when published
  std::string sts_hash;        // last line of the published string to sign
  std::string signed_headers;  // published SignedHeaders
  std::string signature;       // published signature
};

std::vector<Vector> SuiteVectors() {
  const std::string vanilla_creq = std::string("GET\n/\n\nhost:example.amazonaws.com\n") +
                                   "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + kEmptyHash;
  const std::string token =
      "AQoDYXdzEPT//////////"
      "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPf"
      "IeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7"
      "WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm"
      "8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
  return {
      {.name = "get-vanilla",
       .method = "GET",
       .path = "/",
       .canonical = vanilla_creq,
       .sts_hash = "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
       .signed_headers = "host;x-amz-date",
       .signature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {.name = "get-vanilla-query-order-key-case",
       .method = "GET",
       .path = "/",
       .query = {{"Param2", "value2"}, {"Param1", "value1"}},
       .canonical =
           std::string("GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n") +
           "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + kEmptyHash,
       .sts_hash = "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
       .signed_headers = "host;x-amz-date",
       .signature = "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {.name = "get-vanilla-query-order-key",
       .method = "GET",
       .path = "/",
       .query = {{"Param1", "value2"}, {"Param1", "Value1"}},
       .canonical =
           std::string("GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\n") +
           "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + kEmptyHash,
       .sts_hash = "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89",
       .signed_headers = "host;x-amz-date",
       .signature = "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"},
      {.name = "get-vanilla-query-order-value",
       .method = "GET",
       .path = "/",
       .query = {{"Param1", "value2"}, {"Param1", "value1"}},
       .signed_headers = "host;x-amz-date",
       .signature = "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
      {.name = "get-vanilla-utf8-query",
       .method = "GET",
       .path = "/",
       .query = {{"\xE1\x88\xB4", "bar"}},
       .canonical = std::string("GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\n") +
                    "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + kEmptyHash,
       .sts_hash = "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
       .signed_headers = "host;x-amz-date",
       .signature = "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {.name = "get-vanilla-query-unreserved",
       .method = "GET",
       .path = "/",
       .query = {{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                  "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}},
       .sts_hash = "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
       .signed_headers = "host;x-amz-date",
       .signature = "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
      {.name = "get-vanilla-query-order-encoded",
       .method = "GET",
       .path = "/",
       .query = {{"Param-3", "Value3"}, {"Param", "Value2"}, {"\xE1\x88\xB4", "Value1"}},
       .canonical = std::string("GET\n/\n%E1%88%B4=Value1&Param=Value2&Param-3=Value3\n") +
                    "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
                    kEmptyHash,
       .sts_hash = "868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71",
       .signed_headers = "host;x-amz-date",
       .signature = "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"},
      {.name = "get-unreserved",
       .method = "GET",
       .path = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       .sts_hash = "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
       .signed_headers = "host;x-amz-date",
       .signature = "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {.name = "get-utf8",
       .method = "GET",
       .path = "/\xE1\x88\xB4",
       .canonical = std::string("GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\n") +
                    "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + kEmptyHash,
       .sts_hash = "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
       .signed_headers = "host;x-amz-date",
       .signature = "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
      {.name = "get-space",
       .method = "GET",
       .path = "/example space/",
       .sts_hash = "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
       .signed_headers = "host;x-amz-date",
       .signature = "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
      {.name = "get-slashes (normalized)",
       .method = "GET",
       .path = "//example//",
       .signed_headers = "host;x-amz-date",
       .signature = "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
      {.name = "get-slashes-unnormalized (S3 rules)",
       .method = "GET",
       .path = "//example//",
       .s3 = true,
       .sts_hash = "528ec3105ee1f34ab014bb0a1a45da0ed2742a4fea3555149e5b4d5d201eb240",
       .signed_headers = "host;x-amz-date",
       .signature = "87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5"},
      {.name = "get-relative-unnormalized (S3 rules)",
       .method = "GET",
       .path = "/example/..",
       .s3 = true,
       .canonical = std::string("GET\n/example/..\n\nhost:example.amazonaws.com\n") +
                    "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + kEmptyHash,
       .sts_hash = "0511f456aa502b456d135fcb9d749374a55228f9dbeedda1eacf659e05b0615b",
       .signed_headers = "host;x-amz-date",
       .signature = "eca7ead57bb5aa5c8e28007acd4ff04e1ff9a0ff3b237ec1554a184887ff9282"},
      {.name = "get-relative-relative",
       .method = "GET",
       .path = "/example1/example2/../..",
       .canonical = vanilla_creq,
       .sts_hash = "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
       .signed_headers = "host;x-amz-date",
       .signature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {.name = "get-slash-pointless-dot",
       .method = "GET",
       .path = "/./example",
       .sts_hash = "214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702",
       .signed_headers = "host;x-amz-date",
       .signature = "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
      {.name = "get-header-key-duplicate",
       .method = "GET",
       .path = "/",
       .headers = {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
       .canonical = std::string("GET\n/\n\nhost:example.amazonaws.com\n") +
                    "my-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\n" +
                    "host;my-header1;x-amz-date\n" + kEmptyHash,
       .sts_hash = "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
       .signed_headers = "host;my-header1;x-amz-date",
       .signature = "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      {.name = "get-header-value-order",
       .method = "GET",
       .path = "/",
       .headers = {{"My-Header1", "value4"},
                   {"My-Header1", "value1"},
                   {"My-Header1", "value3"},
                   {"My-Header1", "value2"}},
       .sts_hash = "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
       .signed_headers = "host;my-header1;x-amz-date",
       .signature = "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
      {.name = "get-header-value-trim",
       .method = "GET",
       .path = "/",
       .headers = {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
       .canonical = std::string("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\n") +
                    "my-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n" +
                    "host;my-header1;my-header2;x-amz-date\n" + kEmptyHash,
       .sts_hash = "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
       .signed_headers = "host;my-header1;my-header2;x-amz-date",
       .signature = "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {.name = "post-vanilla",
       .method = "POST",
       .path = "/",
       .sts_hash = "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
       .signed_headers = "host;x-amz-date",
       .signature = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {.name = "post-vanilla-query",
       .method = "POST",
       .path = "/",
       .query = {{"Param1", "value1"}},
       .sts_hash = "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
       .signed_headers = "host;x-amz-date",
       .signature = "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
      {.name = "post-header-value-case",
       .method = "POST",
       .path = "/",
       .headers = {{"My-Header1", "VALUE1"}},
       .sts_hash = "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
       .signed_headers = "host;my-header1;x-amz-date",
       .signature = "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
      {.name = "post-x-www-form-urlencoded",
       .method = "POST",
       .path = "/",
       .headers = {{"Content-Type", "application/x-www-form-urlencoded"}},
       .body = "Param1=value1",
       .canonical = std::string("POST\n/\n\n") +
                    "content-type:application/x-www-form-urlencoded\n" +
                    "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n" +
                    "content-type;host;x-amz-date\n" +
                    "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
       .signed_headers = "content-type;host;x-amz-date",
       .signature = "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
      {.name = "post-x-www-form-urlencoded (with content-length and payload hash headers)",
       .method = "POST",
       .path = "/",
       .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                   {"Content-Length", "13"},
                   {"x-amz-content-sha256",
                    "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"}},
       .body = "Param1=value1",
       .sts_hash = "b1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb",
       .signed_headers = "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
       .signature = "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"},
      {.name = "get-vanilla-with-session-token",
       .method = "GET",
       .path = "/",
       .session_token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
       .canonical = std::string("GET\n/\n\nhost:example.amazonaws.com\n") +
                    "x-amz-date:20150830T123600Z\n" +
                    "x-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b7" +
                    "3ebf194267\n\nhost;x-amz-date;x-amz-security-token\n" + kEmptyHash,
       .sts_hash = "067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b",
       .signed_headers = "host;x-amz-date;x-amz-security-token",
       .signature = "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"},
      {.name = "post-sts-header-before",
       .method = "POST",
       .path = "/",
       .session_token = token,
       .sts_hash = "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
       .signed_headers = "host;x-amz-date;x-amz-security-token",
       .signature = "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
  };
}

void PrintTo(const Vector& v, std::ostream* os) { *os << v.name; }

class SigV4SuiteTest : public ::testing::TestWithParam<Vector> {};

TEST_P(SigV4SuiteTest, MatchesPublishedVector) {
  const Vector& v = GetParam();
  SigV4Request req;
  req.method = v.method;
  req.host = kSuiteHost;
  req.path = v.path;
  req.query = v.query;
  req.headers = v.headers;
  req.payload_hash = HexEncode(Sha256(v.body));
  AwsCredentials creds = kSuiteCreds;
  creds.session_token = v.session_token;
  // The suite's vectors are for a generic service: normalized path, no
  // X-Amz-Content-SHA256. Its "-unnormalized" cases use S3's path rule.
  SigV4Options opts = SigV4Options::ForService("us-east-1", "service");
  opts.normalize_path = !v.s3;
  SigV4Signature sig = SignV4(req, creds, opts, kSuiteDate);
  if (!v.canonical.empty()) {
    EXPECT_EQ(sig.canonical_request, v.canonical);
  }
  if (!v.sts_hash.empty()) {
    EXPECT_EQ(sig.string_to_sign, std::string("AWS4-HMAC-SHA256\n") + kSuiteDate +
                                      "\n20150830/us-east-1/service/aws4_request\n" + v.sts_hash);
  }
  EXPECT_EQ(sig.signature, v.signature);
  EXPECT_EQ(sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=" +
                v.signed_headers + ", Signature=" + v.signature);
}

INSTANTIATE_TEST_SUITE_P(AwsSuite, SigV4SuiteTest, ::testing::ValuesIn(SuiteVectors()),
                         [](const ::testing::TestParamInfo<Vector>& info) {
                           std::string name;
                           for (char c : info.param.name) {
                             if (std::isalnum(static_cast<unsigned char>(c))) {
                               name += c;
                             } else if (!name.empty() && name.back() != '_') {
                               name += '_';
                             }
                           }
                           while (!name.empty() && name.back() == '_') name.pop_back();
                           return name;
                         });

// S3 API reference, "Signature Calculations for the Authorization Header:
// Transferring Payload in a Single Chunk", example GET Object.
TEST(SigV4S3Test, GetObjectExampleFromS3Reference) {
  SigV4Request req;
  req.method = "GET";
  req.host = "examplebucket.s3.amazonaws.com";
  req.path = "/test.txt";
  req.headers = {{"Range", "bytes=0-9"}};
  req.payload_hash = kEmptyHash;
  AwsCredentials creds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  SigV4Options opts;  // s3, us-east-1
  SigV4Signature sig = SignV4(req, creds, opts, "20130524T000000Z");
  EXPECT_EQ(
      sig.canonical_request,
      std::string("GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n") +
          "x-amz-content-sha256:" + kEmptyHash + "\nx-amz-date:20130524T000000Z\n\n" +
          "host;range;x-amz-content-sha256;x-amz-date\n" + kEmptyHash);
  EXPECT_EQ(sig.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(sig.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  // The headers to send: date, payload hash, authorization.
  std::map<std::string, std::string> added(sig.headers.begin(), sig.headers.end());
  EXPECT_EQ(added["X-Amz-Date"], "20130524T000000Z");
  EXPECT_EQ(added["X-Amz-Content-SHA256"], kEmptyHash);
  EXPECT_EQ(added["Authorization"], sig.authorization);
}

TEST(SigV4Test, UriEncodeFollowsAwsRules) {
  EXPECT_EQ(UriEncode("AZaz09-_.~", false), "AZaz09-_.~");
  EXPECT_EQ(UriEncode("a b+c=d&e/f%", false), "a%20b%2Bc%3Dd%26e%2Ff%25");
  EXPECT_EQ(UriEncode("a b/c", true), "a%20b/c");
  EXPECT_EQ(UriEncode("\xC3\xBC*", false), "%C3%BC%2A");
  EXPECT_EQ(CanonicalUri("", true), "/");
  EXPECT_EQ(CanonicalUri("/b/a//b/../c", /*normalize=*/false), "/b/a//b/../c");
  EXPECT_EQ(CanonicalUri("/b/a//b/../c", /*normalize=*/true), "/b/a/c");
  EXPECT_EQ(CanonicalUri("/a/b/", true), "/a/b/");
  EXPECT_EQ(CanonicalUri("/a/b/..", true), "/a");
  EXPECT_EQ(CanonicalQueryString({{"b", "2"}, {"a", "z z"}, {"a", "y"}, {"uploads", ""}}),
            "a=y&a=z%20z&b=2&uploads=");
}

TEST(SigV4Test, FormatsAmzDate) {
  auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1440938160));
  EXPECT_EQ(FormatAmzDate(t), "20150830T123600Z");
}

TEST(SigV4Test, ReplacesCallerDateAuthorizationAndPayloadHeaders) {
  SigV4Request req;
  req.method = "PUT";
  req.host = "h";
  req.path = "/k";
  req.headers = {{"X-Amz-Date", "19990101T000000Z"},
                 {"Authorization", "stale"},
                 {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}};
  req.payload_hash = kEmptyHash;
  SigV4Signature sig = SignV4(req, kSuiteCreds, SigV4Options{}, kSuiteDate);
  EXPECT_EQ(sig.canonical_request.find("19990101"), std::string::npos);
  EXPECT_EQ(sig.canonical_request.find("UNSIGNED"), std::string::npos);
  EXPECT_EQ(sig.canonical_request.find("stale"), std::string::npos);
  EXPECT_NE(sig.canonical_request.find(std::string("x-amz-content-sha256:") + kEmptyHash),
            std::string::npos);
}

TEST(SigV4Test, SignatureChangesWithEverySignedInput) {
  SigV4Request base;
  base.method = "GET";
  base.host = "bucket.s3.amazonaws.com";
  base.path = "/a/b";
  base.query = {{"x", "1"}};
  base.headers = {{"Range", "bytes=0-1"}};
  base.payload_hash = kEmptyHash;
  std::string ref = SignV4(base, kSuiteCreds, {}, kSuiteDate).signature;
  auto differs = [&](SigV4Request r, AwsCredentials c = kSuiteCreds, SigV4Options o = {},
                     std::string date = kSuiteDate) {
    return SignV4(r, c, o, date).signature != ref;
  };
  SigV4Request r = base;
  r.method = "HEAD";
  EXPECT_TRUE(differs(r));
  r = base;
  r.path = "/a/c";
  EXPECT_TRUE(differs(r));
  r = base;
  r.query = {{"x", "2"}};
  EXPECT_TRUE(differs(r));
  r = base;
  r.headers = {{"Range", "bytes=0-2"}};
  EXPECT_TRUE(differs(r));
  r = base;
  r.host = "other.s3.amazonaws.com";
  EXPECT_TRUE(differs(r));
  AwsCredentials c = kSuiteCreds;
  c.secret_access_key += "x";
  EXPECT_TRUE(differs(base, c));
  SigV4Options o;
  o.region = "eu-west-1";
  EXPECT_TRUE(differs(base, kSuiteCreds, o));
  EXPECT_TRUE(differs(base, kSuiteCreds, {}, "20150830T123601Z"));
  EXPECT_FALSE(differs(base));
}

}  // namespace
}  // namespace sightline::io
