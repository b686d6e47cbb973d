#!/usr/bin/python3
"""A scriptable fake of S3 and STS for the S3 client's failure-path tests.

What s3rver cannot do: fail on purpose, show the requests it received, or
issue web identity credentials. This server:

  * answers STS AssumeRoleWithWebIdentity (form POST with that Action) with
    credentials ASIAFAKE<n> / secret<n> / token<n> that expire --sts-ttl
    seconds from now (n counts calls); --sts-script can make calls fail;
  * answers every other request (S3) from --script: a comma-separated list
    of actions consumed one per request, then --default. Actions:
      200 | 404 | 403 | 500 | 503 ...   that status (errors with an S3 XML
                                        body; 503 is SlowDown, 500
                                        InternalError, 404 NoSuchKey, 403
                                        AccessDenied)
      400:<Code>                        400 with that S3 error code
      sleep:<ms>                        wait, then answer 200
      close                             close the connection without answering
    A 200 stores PUT bodies by path and returns them to GET/HEAD, and runs
    multipart uploads (create, parts, complete with ETag check, abort).
  * rejects (400) any S3 request whose x-amz-content-sha256 or Content-MD5
    does not match the body received, so retried uploads prove they resent
    the same bytes;
  * logs each request as one line: METHOD<TAB>TARGET<TAB>name=value...
    (header names lowercased), then writes its port to --port-file.
"""

import argparse
import base64
import datetime
import hashlib
import http.server
import re
import socketserver
import sys
import threading
import time
import urllib.parse

ERROR_CODES = {
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.script = [a for a in args.script.split(",") if a]
        self.default = args.default
        self.sts_script = [a for a in args.sts_script.split(",") if a]
        self.sts_ttl = args.sts_ttl
        self.sts_calls = 0
        self.objects = {}
        self.uploads = 0
        self.parts = {}
        self.log = open(args.log, "a", buffering=1, encoding="utf-8")

    def next_action(self, sts):
        with self.lock:
            queue = self.sts_script if sts else self.script
            if queue:
                return queue.pop(0)
            return "200" if sts else self.default

    def record(self, line):
        with self.lock:
            self.log.write(line + "\n")


def error_xml(code, message):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
            "<Message>%s</Message><RequestId>FAKE123</RequestId></Error>" % (code, message)).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):  # keep stderr quiet
        pass

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-request-id", "FAKE123")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fields = ["%s=%s" % (k.lower(), v) for k, v in self.headers.items()]
        self.state.record("\t".join([self.command, self.path] + fields))

        form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if self.command == "POST" else {}
        if form.get("Action") == ["AssumeRoleWithWebIdentity"]:
            return self.sts(form)
        action = self.state.next_action(sts=False)
        if action == "close":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if action.startswith("sleep:"):
            time.sleep(int(action[6:]) / 1000.0)
            action = "200"
        if action.startswith("400:"):
            return self.reply(400, error_xml(action[4:], "scripted error"),
                              {"Content-Type": "application/xml"})
        status = int(action)
        if status != 200:
            code, message = ERROR_CODES.get(status, ("Error%d" % status, "scripted"))
            return self.reply(status, error_xml(code, message), {"Content-Type": "application/xml"})

        sha = self.headers.get("x-amz-content-sha256")
        if sha is None:
            return self.reply(400, error_xml("InvalidRequest", "Missing x-amz-content-sha256"))
        if sha != "UNSIGNED-PAYLOAD" and sha != hashlib.sha256(body).hexdigest():
            return self.reply(400, error_xml("XAmzContentSHA256Mismatch", "hash mismatch"))
        md5 = self.headers.get("Content-MD5")
        if md5 is not None and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
            return self.reply(400, error_xml("BadDigest", "Content-MD5 mismatch"))

        split = urllib.parse.urlsplit(self.path)
        path = split.path
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        if "uploads" in query and self.command == "POST":
            with self.state.lock:
                self.state.uploads += 1
                upload_id = "upload%d" % self.state.uploads
                self.state.parts[upload_id] = {}
            return self.reply(200, ("<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                                    "<UploadId>%s</UploadId></InitiateMultipartUploadResult>"
                                    % upload_id).encode())
        if "uploadId" in query:
            upload_id = query["uploadId"][0]
            parts = self.state.parts.get(upload_id)
            if parts is None:
                return self.reply(404, error_xml("NoSuchUpload", "no such upload"))
            if self.command == "PUT":
                parts[int(query["partNumber"][0])] = body
                return self.reply(200, b"", {"ETag": '"%s"' % hashlib.md5(body).hexdigest()})
            if self.command == "DELETE":
                del self.state.parts[upload_id]
                return self.reply(204)
            if self.command == "POST":
                numbers = [int(n) for n in re.findall(r"<PartNumber>(\d+)</PartNumber>", body.decode())]
                etags = re.findall(r"<ETag>&quot;([0-9a-f]+)&quot;</ETag>", body.decode())
                if numbers != sorted(parts) or etags != [hashlib.md5(parts[n]).hexdigest() for n in numbers]:
                    return self.reply(400, error_xml("InvalidPart", "parts or ETags do not match"))
                self.state.objects[path] = b"".join(parts[n] for n in numbers)
                del self.state.parts[upload_id]
                return self.reply(200, b"<CompleteMultipartUploadResult><ETag>&quot;x-%d&quot;</ETag>"
                                  b"</CompleteMultipartUploadResult>" % len(numbers))
        if self.command == "PUT":
            self.state.objects[path] = body
            return self.reply(200, b"", {"ETag": '"%s"' % hashlib.md5(body).hexdigest()})
        if self.command in ("GET", "HEAD"):
            data = self.state.objects.get(path, b"fake object body")
            return self.reply(200, data, {
                "ETag": '"%s"' % hashlib.md5(data).hexdigest(),
                "Last-Modified": "Wed, 12 Oct 2009 17:50:00 GMT",
                "Content-Type": "application/octet-stream",
            })
        if self.command == "DELETE":
            self.state.objects.pop(path, None)
            return self.reply(204)
        return self.reply(200, b"<Ok/>")

    def sts(self, form):
        action = self.state.next_action(sts=True)
        if action != "200":
            status, _, code = action.partition(":")
            doc = ("<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>scripted"
                   "</Message></Error><RequestId>STS1</RequestId></ErrorResponse>" % (code or "Error"))
            return self.reply(int(status), doc.encode(), {"Content-Type": "text/xml"})
        with self.state.lock:
            self.state.sts_calls += 1
            n = self.state.sts_calls
        expiration = datetime.datetime.utcnow() + datetime.timedelta(seconds=self.state.sts_ttl)
        doc = """<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:obs:sightline</SubjectFromWebIdentityToken>
    <AssumedRoleUser>
      <Arn>%s/fake</Arn>
      <AssumedRoleId>AROAFAKE:fake</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>token%d</SessionToken>
      <SecretAccessKey>secret%d</SecretAccessKey>
      <Expiration>%s</Expiration>
      <AccessKeyId>ASIAFAKE%d</AccessKeyId>
    </Credentials>
    <Provider>oidc.eks.example</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>STS%d</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>""" % (form.get("RoleArn", [""])[0], n, n,
                                           expiration.strftime("%Y-%m-%dT%H:%M:%SZ"), n, n)
        self.reply(200, doc.encode(), {"Content-Type": "text/xml"})

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--script", default="")
    p.add_argument("--default", default="200")
    p.add_argument("--sts-script", default="")
    p.add_argument("--sts-ttl", type=int, default=3600)
    args = p.parse_args()
    Handler.state = State(args)
    server = Server(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
