#!/usr/bin/python3
"""Cross-checks our SigV4 signer with botocore's, request by request.

Usage: sigv4_botocore_check.py PATH/TO/sigv4_sign

For each request below, signs it with botocore (S3SigV4Auth for S3,
SigV4Auth for other services) at a fixed time, runs our sigv4_sign tool on
the same request, and requires the Authorization header (and the other
headers the signer adds) to match byte for byte. Exits 0 when all match,
1 on any mismatch, 77 (skip) when botocore is not installed.
"""

import datetime
import json
import subprocess
import sys
from urllib.parse import quote

try:
    import botocore.auth
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as e:  # Debian python3-botocore
    print("SKIP: botocore not importable with %s: %s" % (sys.executable, e))
    sys.exit(77)

FIXED = datetime.datetime(2024, 5, 17, 8, 9, 10)


class _FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return FIXED


class _FixedDatetimeModule:
    datetime = _FixedDatetime


# botocore reads the clock through `datetime.datetime.utcnow()` in add_auth.
botocore.auth.datetime = _FixedDatetimeModule

BINARY = bytes(range(256)) * 3

CASES = [
    dict(name="list with query params needing encoding",
         method="GET", host="127.0.0.1:9000", path="/bucket",
         query=[("list-type", "2"), ("prefix", "dir with space/ü+&=?#"), ("delimiter", "/"),
                ("continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="),
                ("max-keys", "10"), ("start-after", "a~b*c(d)!'e"), ("encoding-type", "url")]),
    dict(name="put with binary body and upload headers",
         method="PUT", host="my-bucket.s3.eu-west-1.amazonaws.com", path="/tenant/01H/chunks/000001",
         region="eu-west-1",
         headers=[("Content-Type", "application/octet-stream"),
                  ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
                  ("x-amz-storage-class", "STANDARD_IA"),
                  ("x-amz-server-side-encryption", "AES256")],
         body=BINARY),
    dict(name="headers with extra spaces",
         method="GET", host="bucket.s3.amazonaws.com", path="/k",
         headers=[("X-Custom", "   a    b   c  "), ("x-amz-meta-note", "  hello   world "),
                  ("Range", "bytes=0-99")]),
    dict(name="unicode key",
         method="GET", host="127.0.0.1:9000",
         path="/bucket/ünïcödé/日本語/key with space+plus=eq&amp;%25.txt"),
    dict(name="emoji and reserved characters in key",
         method="HEAD", host="bucket.s3.amazonaws.com", path="/odd/🙂 a+b=c&d~!'()*,;:@$"),
    dict(name="session token",
         method="GET", host="bucket.s3.us-west-2.amazonaws.com", path="/a/b", region="us-west-2",
         token="IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+token/with+slash="),
    dict(name="multipart create (empty query value)",
         method="POST", host="127.0.0.1:9000", path="/bucket/big.bin", query=[("uploads", "")]),
    dict(name="multipart part",
         method="PUT", host="127.0.0.1:9000", path="/bucket/big.bin",
         query=[("partNumber", "3"), ("uploadId", "VXBsb2FkIElEIGZvciBlbHZpbmc=")],
         body=b"part data" * 100),
    dict(name="delete objects with xml body",
         method="POST", host="bucket.s3.amazonaws.com", path="/", query=[("delete", "")],
         headers=[("Content-Type", "application/xml"), ("Content-MD5", "abcdefghijklmnopqrstuv==")],
         body=b"<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object></Delete>"),
    dict(name="repeated query names sort by value",
         method="GET", host="h.example", path="/", query=[("b", "2"), ("a", "z"), ("a", "y")]),
    dict(name="generic service: STS form POST",
         method="POST", host="sts.us-east-1.amazonaws.com", path="/", service="sts", generic=True,
         headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
         body=b"Action=GetCallerIdentity&Version=2011-06-15"),
    dict(name="generic service: path normalization",
         method="GET", host="example.amazonaws.com", path="/./a/b/../c//d e/", service="service",
         generic=True, query=[("Param", "v a l")]),
]


def botocore_sign(c):
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", c.get("token"))
    region = c.get("region", "us-east-1")
    service = c.get("service", "s3")
    if c.get("generic"):
        # SigV4Auth normalizes and percent-encodes the path itself.
        url = "http://%s%s" % (c["host"], c["path"])
        auth = SigV4Auth(creds, service, region)
    else:
        # S3SigV4Auth signs the path exactly as it is in the URL.
        url = "http://%s%s" % (c["host"], quote(c["path"], safe="/~"))
        auth = S3SigV4Auth(creds, service, region)
    headers = dict(c.get("headers", []))
    req = AWSRequest(method=c["method"], url=url, headers=headers, data=c.get("body", b""),
                     params=list(c.get("query", [])))
    auth.add_auth(req)
    return req


def our_sign(tool, c):
    argv = [tool, "--method", c["method"], "--host", c["host"], "--path", c["path"],
            "--region", c.get("region", "us-east-1"), "--service", c.get("service", "s3"),
            "--access-key", "AKIDEXAMPLE", "--secret-key", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "--date", FIXED.strftime("%Y%m%dT%H%M%SZ"), "--body-hex", c.get("body", b"").hex()]
    for k, v in c.get("query", []):
        argv += ["--query", "%s=%s" % (k, v)]
    for k, v in c.get("headers", []):
        argv += ["--header", "%s:%s" % (k, v)]
    if c.get("token"):
        argv += ["--session-token", c["token"]]
    if c.get("generic"):
        argv += ["--generic"]
    out = subprocess.run(argv, check=True, capture_output=True).stdout
    return json.loads(out.decode("utf-8"))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    tool = sys.argv[1]
    failures = 0
    for c in CASES:
        theirs = botocore_sign(c)
        ours = our_sign(tool, c)
        problems = []
        if ours["authorization"] != theirs.headers["Authorization"]:
            problems.append("Authorization\n    ours:     %s\n    botocore: %s"
                            % (ours["authorization"], theirs.headers["Authorization"]))
        for name in ("X-Amz-Date", "X-Amz-Content-SHA256", "X-Amz-Security-Token"):
            if ours["headers"].get(name) != theirs.headers.get(name):
                problems.append("%s: ours %r, botocore %r"
                                % (name, ours["headers"].get(name), theirs.headers.get(name)))
        if problems:
            failures += 1
            print("FAIL %s" % c["name"])
            for p in problems:
                print("  " + p)
            print("  our canonical request:\n    " + ours["canonical_request"].replace("\n", "\n    "))
        else:
            print("ok   %s" % c["name"])
    print("%d of %d requests match botocore %s" % (len(CASES) - failures, len(CASES),
                                                   botocore.__version__ if hasattr(botocore, "__version__") else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    import botocore
    sys.exit(main())
