// Prometheus remote write 1.0 receiver: POST /api/v1/push and /api/v1/write
// (https://prometheus.io/docs/specs/remote_write_spec/), writing into a
// metrics::Appendable.
//
// Request: a snappy block-compressed prometheus.WriteRequest
// (proto/prometheus/remote.proto). The HTTP server undoes Content-Encoding
// (snappy, gzip, zstd, ...) before the handler runs; a body that still is
// snappy-compressed (no Content-Encoding header, which Prometheus's own
// receiver also tolerates) is decoded here.
//
// Answers (docs/ingest-metrics.md has the table with the messages):
//   204  stored (also for an empty request);
//   400  body not a WriteRequest; or some series/samples rejected for good
//        (invalid or duplicate label names, no metric name, out of order,
//        duplicate timestamp, out of bounds, too far in the future): the rest
//        of the request is committed and the body names the first error and
//        how many samples failed. Senders do not retry a 400;
//   415  a Content-Type other than application/x-protobuf, or a remote
//        write 2.0 message (proto=io.prometheus.write.v2.Request);
//   429  a per-tenant limit (ResourceExhausted from the store), with
//        Retry-After; what was within limits is committed;
//   500/503  the store failed: nothing was stored, the sender retries.
// (413 for oversized bodies comes from the HTTP server.)
//
// Labels: empty values are dropped (Prometheus treats them as absent),
// labels are sorted; a series without __name__, with an invalid or a
// repeated name is rejected (IngestOptions::utf8_names picks the name
// rules). Native histograms are not stored yet: they are counted as
// rejected (reason native_histogram_unsupported) without failing the request.
// Exemplar and metadata errors never fail a request (as in Prometheus).
//
// Thread-safety: Serve() may run concurrently; the Appendable must be
// thread-safe and outlive the handler.
#pragma once

#include <memory>

#include "metrics/ingest/options.h"
#include "metrics/storage/storage.h"
#include "net/http.h"

namespace sightline::metrics::ingest {

class IngestMetrics;

class RemoteWriteHandler {
 public:
  // `db` is not owned.
  RemoteWriteHandler(Appendable* db, IngestOptions options);
  ~RemoteWriteHandler();
  RemoteWriteHandler(const RemoteWriteHandler&) = delete;
  RemoteWriteHandler& operator=(const RemoteWriteHandler&) = delete;

  void Serve(const net::HttpRequest& request, net::HttpResponse& response) const;

 private:
  Appendable* db_;
  IngestOptions options_;
  std::unique_ptr<IngestMetrics> metrics_;
};

// Registers POST /api/v1/push and POST /api/v1/write (route names
// "api_v1_push", "api_v1_write") on `router`. `db` must outlive the router.
void RegisterRemoteWrite(net::Router& router, Appendable* db, const IngestOptions& options);

}  // namespace sightline::metrics::ingest
