#include <gtest/gtest.h>

#include <string>

#include "net/http.h"

namespace sightline::net {
namespace {

HttpHandler Reply(std::string text) {
  return [text](HttpRequest&, HttpResponse& resp) { resp.Text(200, text); };
}

HttpResponse Call(const Router& router, const std::string& method, const std::string& target,
                  HttpHeaders headers = {}, std::string body = "") {
  auto req = HttpRequest::Make(method, target, std::move(headers), std::move(body));
  EXPECT_TRUE(req.ok()) << req.status().ToString();
  HttpResponse resp;
  router.Serve(*req, resp);
  return resp;
}

TEST(RouterTest, ExactSegmentsBeatParametersWhichBeatRest) {
  Router r;
  r.Handle("GET", "/api/v1/label/{name}/values", Reply("param"));
  r.Handle("GET", "/api/v1/label/__name__/values", Reply("exact"));
  r.Handle("GET", "/api/{rest...}", Reply("rest"));
  EXPECT_EQ(Call(r, "GET", "/api/v1/label/__name__/values").body, "exact");
  EXPECT_EQ(Call(r, "GET", "/api/v1/label/job/values").body, "param");
  EXPECT_EQ(Call(r, "GET", "/api/v1/label/job/other").body, "rest");
  EXPECT_EQ(Call(r, "GET", "/api/v1/query").body, "rest");
}

TEST(RouterTest, PathParametersAreDecoded) {
  Router r;
  std::string seen;
  r.Handle("GET", "/api/v1/label/{name}/values", [&](HttpRequest& req, HttpResponse& resp) {
    seen = std::string(req.PathParam("name"));
  });
  Call(r, "GET", "/api/v1/label/a%2Fb%20c/values");
  EXPECT_EQ(seen, "a/b c");
}

TEST(RouterTest, RestParameterMatchesEmptyAndSeveralSegments) {
  Router r;
  std::string rest = "unset";
  r.Handle("GET", "/debug/pprof/{profile...}",
           [&](HttpRequest& req, HttpResponse&) { rest = std::string(req.PathParam("profile")); });
  Call(r, "GET", "/debug/pprof/");
  EXPECT_EQ(rest, "");
  Call(r, "GET", "/debug/pprof");
  EXPECT_EQ(rest, "");
  Call(r, "GET", "/debug/pprof/heap");
  EXPECT_EQ(rest, "heap");
  Call(r, "GET", "/debug/pprof/a/b%20c");
  EXPECT_EQ(rest, "a/b c");
}

TEST(RouterTest, ParameterNeedsANonEmptySegment) {
  Router r;
  r.Handle("GET", "/api/traces/{id}", Reply("trace"));
  EXPECT_EQ(Call(r, "GET", "/api/traces/abc").status, 200);
  EXPECT_EQ(Call(r, "GET", "/api/traces/").status, 404);
  EXPECT_EQ(Call(r, "GET", "/api/traces").status, 404);
}

TEST(RouterTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  Router r;
  r.Handle("GET,POST", "/api/v1/query", Reply("q"));
  r.Handle("DELETE", "/api/v1/query", Reply("d"));
  HttpResponse nf = Call(r, "GET", "/api/v1/nothing");
  EXPECT_EQ(nf.status, 404);
  HttpResponse na = Call(r, "PUT", "/api/v1/query");
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(na.headers.Get("Allow").value_or(""), "DELETE, GET, HEAD, POST");
  EXPECT_EQ(Call(r, "post", "/api/v1/query").body, "q");  // methods are case-insensitive
}

TEST(RouterTest, HeadFallsBackToGet) {
  Router r;
  r.Handle("GET", "/ready", Reply("ready"));
  EXPECT_EQ(Call(r, "HEAD", "/ready").status, 200);
}

TEST(RouterTest, MethodPicksALessSpecificRouteThatHasIt) {
  Router r;
  r.Handle("POST", "/api/foo", Reply("post-foo"));
  r.Handle("GET", "/api/{x}", Reply("get-x"));
  EXPECT_EQ(Call(r, "GET", "/api/foo").body, "get-x");
  EXPECT_EQ(Call(r, "POST", "/api/foo").body, "post-foo");
  EXPECT_EQ(Call(r, "POST", "/api/bar").status, 405);
}

TEST(RouterTest, RouteNamesAndOptions) {
  Router r;
  std::string route;
  auto h = [&](HttpRequest& req, HttpResponse&) { route = req.route(); };
  r.Handle("POST", "/loki/api/v1/push", h);
  r.Handle("GET", "/api/v1/label/{name}/values", h);
  r.Handle("GET", "/api/v1/query", h, RouteOptions{.name = "api_v1_query_custom"});
  r.Handle("GET", "/", h);
  Call(r, "POST", "/loki/api/v1/push");
  EXPECT_EQ(route, "loki_api_v1_push");
  Call(r, "GET", "/api/v1/label/x/values");
  EXPECT_EQ(route, "api_v1_label_name_values");
  Call(r, "GET", "/api/v1/query");
  EXPECT_EQ(route, "api_v1_query_custom");
  Call(r, "GET", "/");
  EXPECT_EQ(route, "root");
  EXPECT_EQ(r.routes().size(), 4u);
}

TEST(RouterDeathTest, ConflictingRegistrationAborts) {
  EXPECT_DEATH(
      {
        Router r;
        r.Handle("GET", "/a/{x}", Reply("1"));
        r.Handle("POST,GET", "/a/{y}", Reply("2"));
      },
      "conflicts");
  EXPECT_DEATH(
      {
        Router r;
        r.Handle("GET", "/a/{x...}/b", Reply("1"));
      },
      "last segment");
  EXPECT_DEATH(
      {
        Router r;
        r.Handle("GET", "no-slash", Reply("1"));
      },
      "must start");
}

TEST(HttpRequestTest, TargetQueryAndHeaders) {
  HttpHeaders h;
  h.Add("X-Scope-OrgID", "team-a");
  auto req = HttpRequest::Make("GET", "/api/v1/series?match[]=up&match%5B%5D=a+b&start=1&flag", h);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->path(), "/api/v1/series");
  EXPECT_EQ(req->raw_query(), "match[]=up&match%5B%5D=a+b&start=1&flag");
  auto matches = req->Params("match[]");
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(matches[0], "up");
  EXPECT_EQ(matches[1], "a b");
  EXPECT_EQ(req->Param("start").value_or(""), "1");
  EXPECT_EQ(req->Param("flag").value_or("missing"), "");
  EXPECT_FALSE(req->Param("end").has_value());
  EXPECT_EQ(req->Header("x-scope-orgid").value_or(""), "team-a");
  EXPECT_FALSE(req->Header("X-Other").has_value());
}

TEST(HttpRequestTest, BadEscapesAreRejected) {
  EXPECT_FALSE(HttpRequest::Make("GET", "/a?x=%zz").ok());
  EXPECT_FALSE(HttpRequest::Make("GET", "/a%2").ok());
  EXPECT_FALSE(HttpRequest::Make("GET", "no-slash").ok());
  EXPECT_TRUE(HttpRequest::Make("GET", "http://host:80/a?b=c").ok());
}

TEST(HttpRequestTest, FormParamsReadBodyFirstThenQuery) {
  HttpHeaders h;
  h.Add("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8");
  auto req = HttpRequest::Make("POST", "/api/v1/query?query=ignored&match[]=q", h,
                               "query=up%7Bjob%3D%22a%22%7D&match[]=b1&match[]=b2");
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_EQ(req->FormParam("query").value_or(""), "up{job=\"a\"}");
  auto m = req->FormParams("match[]");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0], "b1");
  EXPECT_EQ(m[1], "b2");
  EXPECT_EQ(m[2], "q");
  // Param() is the query string only.
  EXPECT_EQ(req->Param("query").value_or(""), "ignored");
}

TEST(HttpRequestTest, NonFormBodyIsNotParsed) {
  HttpHeaders h;
  h.Add("Content-Type", "application/json");
  auto req = HttpRequest::Make("POST", "/x?a=1", h, "a=2");
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->FormParam("a").value_or(""), "1");
  HttpHeaders bad;
  bad.Add("Content-Type", "application/x-www-form-urlencoded");
  EXPECT_FALSE(HttpRequest::Make("POST", "/x", bad, "a=%").ok());
}

TEST(HttpHeadersTest, CaseInsensitiveSetAddRemove) {
  HttpHeaders h;
  h.Add("Accept", "a");
  h.Add("accept", "b");
  EXPECT_EQ(h.GetAll("ACCEPT").size(), 2u);
  h.Set("ACCEPT", "c");
  ASSERT_EQ(h.GetAll("accept").size(), 1u);
  EXPECT_EQ(*h.Get("Accept"), "c");
  h.Remove("accept");
  EXPECT_FALSE(h.Has("Accept"));
}

TEST(UrlTest, PercentEncodeDecodeRoundTrip) {
  std::string s = "a b/c?d=e&f%g+h\xff";
  auto back = PercentDecode(PercentEncode(s), false);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, s);
  EXPECT_EQ(*PercentDecode("a+b", true), "a b");
  EXPECT_EQ(*PercentDecode("a+b", false), "a+b");
  auto pairs = ParseQueryString("a=1&&b=&c");
  ASSERT_TRUE(pairs.ok());
  ASSERT_EQ(pairs->size(), 3u);
  EXPECT_EQ((*pairs)[1].first, "b");
  EXPECT_EQ((*pairs)[2].second, "");
}

TEST(HttpStatusTest, FromStatusCode) {
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kInternal), 500);
  HttpResponse r;
  r.Error(NotFoundError("no such trace"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "no such trace\n");
}

}  // namespace
}  // namespace sightline::net
