// sigv4_sign: prints our SigV4 signature for a request described on the
// command line, as JSON, so that tests/io/sigv4_botocore_check.py can compare
// it with botocore's. Test-only tool.
//
//   sigv4_sign --method GET --host h --path /raw/path [--query name=value]...
//              [--header "Name:value"]... [--body-hex HEX] --region R
//              --service S --access-key A --secret-key K [--session-token T]
//              --date YYYYMMDDTHHMMSSZ [--generic]
// Paths and query values are raw (decoded); header values are taken verbatim
// after the first ':'. --generic signs with the rules of services other
// than S3 (normalized path, no X-Amz-Content-SHA256).
#include <cstdio>
#include <cstring>
#include <string>

#include "io/crypto.h"
#include "io/s3_sigv4.h"

namespace {

std::string JsonEscape(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

bool FromHex(const std::string& hex, std::string* out) {
  if (hex.size() % 2) return false;
  for (size_t i = 0; i < hex.size(); i += 2) {
    char* end = nullptr;
    std::string byte = hex.substr(i, 2);
    long v = std::strtol(byte.c_str(), &end, 16);
    if (*end != '\0') return false;
    out->push_back(static_cast<char>(v));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sightline::io;
  SigV4Request req;
  AwsCredentials creds;
  SigV4Options opts;
  std::string date, body;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--generic") {
      opts.normalize_path = true;
      opts.add_payload_hash_header = false;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "missing value for %s\n", flag.c_str());
      return 2;
    }
    std::string value = argv[++i];
    if (flag == "--method") {
      req.method = value;
    } else if (flag == "--host") {
      req.host = value;
    } else if (flag == "--path") {
      req.path = value;
    } else if (flag == "--query") {
      size_t eq = value.find('=');
      req.query.emplace_back(value.substr(0, eq),
                             eq == std::string::npos ? "" : value.substr(eq + 1));
    } else if (flag == "--header") {
      size_t colon = value.find(':');
      if (colon == std::string::npos) {
        std::fprintf(stderr, "bad header %s\n", value.c_str());
        return 2;
      }
      req.headers.emplace_back(value.substr(0, colon), value.substr(colon + 1));
    } else if (flag == "--body-hex") {
      if (!FromHex(value, &body)) {
        std::fprintf(stderr, "bad hex body\n");
        return 2;
      }
    } else if (flag == "--region") {
      opts.region = value;
    } else if (flag == "--service") {
      opts.service = value;
    } else if (flag == "--access-key") {
      creds.access_key_id = value;
    } else if (flag == "--secret-key") {
      creds.secret_access_key = value;
    } else if (flag == "--session-token") {
      creds.session_token = value;
    } else if (flag == "--date") {
      date = value;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  req.payload_hash = HexEncode(Sha256(body));
  SigV4Signature sig = SignV4(req, creds, opts, date);
  std::string json =
      "{\"authorization\":" + JsonEscape(sig.authorization) +
      ",\"canonical_request\":" + JsonEscape(sig.canonical_request) +
      ",\"string_to_sign\":" + JsonEscape(sig.string_to_sign) +
      ",\"canonical_uri\":" + JsonEscape(CanonicalUri(req.path, opts.normalize_path)) +
      ",\"headers\":{";
  for (size_t i = 0; i < sig.headers.size(); ++i) {
    if (i) json += ",";
    json += JsonEscape(sig.headers[i].first) + ":" + JsonEscape(sig.headers[i].second);
  }
  json += "}}";
  std::printf("%s\n", json.c_str());
  return 0;
}
