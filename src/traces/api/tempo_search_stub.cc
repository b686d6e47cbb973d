// Used when the TraceQL engine library is not part of the build: the search
// routes exist and say so (501) instead of 404.
#include "net/http.h"
#include "traces/api/tempo_search.h"

namespace sightline::traces::api {

void RegisterTempoSearchApi(net::Router& router, store::TraceStore*,
                            const net::RouteOptions& base, const SearchApiOptions&) {
  auto unavailable = [](net::HttpRequest&, net::HttpResponse& resp) {
    resp.Text(501, "TraceQL is not available in this build\n");
  };
  net::RouteOptions ro = base;
  for (const char* p : {"/api/search", "/api/search/tags", "/api/v2/search/tags",
                        "/api/search/tag/{tag}/values", "/api/v2/search/tag/{tag}/values",
                        "/api/metrics/query_range", "/api/metrics/query"}) {
    ro.name = "";
    router.Handle("GET", p, unavailable, ro);
  }
}

}  // namespace sightline::traces::api
