#include "traces/traceql/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "traces/traceql/ast.h"
#include "traces/traceql/combine.h"
#include "traces/traceql/eval.h"
#include "traces/traceql/parser.h"

namespace sightline::traces::traceql {

void QueryDeleter::operator()(const Query* q) const { delete q; }

Result<QueryPtr> Parse(std::string_view text) {
  SL_ASSIGN_OR_RETURN(std::unique_ptr<Query> q, ParseQuery(text));
  return QueryPtr(q.release());
}

bool IsMetricsQuery(const Query& q) { return q.metrics.has_value(); }

std::string ToString(const Query& q) { return QueryToString(q); }

namespace {

// ------------------------------------------------------------------ hints

void ConjunctHints(const FieldExpr& e, ScanHints* h) {
  if (e.kind != FieldExpr::Kind::kBinary) return;
  if (e.op == Op::kAnd) {
    ConjunctHints(*e.lhs, h);
    ConjunctHints(*e.rhs, h);
    return;
  }
  const FieldExpr* field = e.lhs.get();
  const FieldExpr* lit = e.rhs.get();
  if (field->kind == FieldExpr::Kind::kStatic) std::swap(field, lit);
  if (lit->kind != FieldExpr::Kind::kStatic) return;
  if (e.op == Op::kEq && lit->value.type == ValueType::kString) {
    if (field->kind == FieldExpr::Kind::kAttribute && !field->parent &&
        (field->scope == Scope::kSpan || field->scope == Scope::kResource ||
         field->scope == Scope::kNone)) {
      h->equalities.push_back(
          {std::string(ScopeName(field->scope)), field->name, std::string(lit->value.s)});
    } else if (field->kind == FieldExpr::Kind::kIntrinsic && field->intrinsic == Intrinsic::kName) {
      h->span_name = std::string(lit->value.s);
    }
    return;
  }
  if (field->kind == FieldExpr::Kind::kIntrinsic && field->intrinsic == Intrinsic::kDuration &&
      lit->value.is_numeric() && field == e.lhs.get() && (e.op == Op::kGt || e.op == Op::kGte)) {
    double v = lit->value.AsFloat();
    if (v > 0) {
      auto ns = static_cast<uint64_t>(v);
      if (!h->min_span_duration_nano || *h->min_span_duration_nano < ns)
        h->min_span_duration_nano = ns;
    }
  }
}

void MergeHints(const ScanHints& from, ScanHints* into) {
  for (const auto& e : from.equalities) into->equalities.push_back(e);
  if (from.span_name && !into->span_name) into->span_name = from.span_name;
  if (from.min_span_duration_nano &&
      (!into->min_span_duration_nano ||
       *into->min_span_duration_nano < *from.min_span_duration_nano)) {
    into->min_span_duration_nano = from.min_span_duration_nano;
  }
}

// Hints that hold for every trace for which `e` yields a non-empty result.
void ElementHints(const Element& e, ScanHints* h) {
  switch (e.kind) {
    case Element::Kind::kFilter:
      if (e.expr) ConjunctHints(*e.expr, h);
      return;
    case Element::Kind::kPipeline:
      for (const auto& st : e.stages) ElementHints(*st, h);
      return;
    case Element::Kind::kSpansetOp:
      switch (e.op) {
        case SpansetOp::kOr:
          return;  // either side may match alone
        case SpansetOp::kNotChild:
        case SpansetOp::kNotParent:
        case SpansetOp::kNotDescendant:
        case SpansetOp::kNotAncestor:
        case SpansetOp::kNotSibling: {
          ScanHints r;
          ElementHints(*e.rhs, &r);
          MergeHints(r, h);
          return;
        }
        default: {
          ScanHints l, r;
          ElementHints(*e.lhs, &l);
          ElementHints(*e.rhs, &r);
          MergeHints(l, h);
          MergeHints(r, h);
          return;
        }
      }
    case Element::Kind::kScalarFilter:
      if (e.slhs->kind == ScalarExpr::Kind::kPipeline) ElementHints(*e.slhs->pipeline, h);
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------- helpers

std::string HexString(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s(bytes.size() * 2, '0');
  for (size_t k = 0; k < bytes.size(); ++k) {
    auto b = static_cast<unsigned char>(bytes[k]);
    s[2 * k] = kDigits[b >> 4];
    s[2 * k + 1] = kDigits[b & 15];
  }
  return s;
}

// A trace id as Tempo writes it in results: hex without leading zeros.
std::string TempoTraceId(std::string_view bytes) {
  return std::string(TrimHexZeros(HexString(bytes)));
}

size_t ApproxBytes(const std::vector<KeyValue>& kvs) {
  size_t n = 0;
  for (const KeyValue& kv : kvs) {
    n += kv.key.size() + 8;
    if (const auto* s = std::get_if<std::string>(&kv.value.v)) n += s->size();
  }
  return n;
}

uint64_t ApproxTraceBytes(const Trace& t) {
  uint64_t n = t.trace_id.size();
  for (const Resource& r : t.resources) n += ApproxBytes(r.attributes);
  for (const Span& s : t.spans) {
    n +=
        48 + s.span_id.size() + s.parent_span_id.size() + s.name.size() + ApproxBytes(s.attributes);
    for (const Event& e : s.events) n += 16 + e.name.size() + ApproxBytes(e.attributes);
    for (const Link& l : s.links) n += 32 + ApproxBytes(l.attributes);
  }
  return n;
}

Status NotSearchQuery() {
  return InvalidArgumentError(
      "invalid TraceQL query: metrics queries are not supported by search, use "
      "/api/metrics/query_range");
}

}  // namespace

ScanHints DeriveScanHints(const Query& q) {
  ScanHints h;
  ElementHints(*q.pipeline, &h);
  return h;
}

Result<std::string> TagsToTraceQL(std::string_view logfmt) {
  std::vector<std::string> conds;
  size_t i = 0;
  auto skip = [&] {
    while (i < logfmt.size() && (logfmt[i] == ' ' || logfmt[i] == '\t')) ++i;
  };
  auto quote = [](std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    return out + "\"";
  };
  while (true) {
    skip();
    if (i >= logfmt.size()) break;
    size_t ks = i;
    while (i < logfmt.size() && logfmt[i] != '=' && logfmt[i] != ' ') ++i;
    std::string key(logfmt.substr(ks, i - ks));
    if (key.empty()) return InvalidArgumentError("empty key in \"" + std::string(logfmt) + "\"");
    std::string value;
    if (i < logfmt.size() && logfmt[i] == '=') {
      ++i;
      if (i < logfmt.size() && logfmt[i] == '"') {
        ++i;
        bool closed = false;
        while (i < logfmt.size()) {
          char c = logfmt[i++];
          if (c == '\\' && i < logfmt.size()) {
            value.push_back(logfmt[i++]);
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            value.push_back(c);
          }
        }
        if (!closed)
          return InvalidArgumentError("unterminated quote in \"" + std::string(logfmt) + "\"");
      } else {
        size_t vs = i;
        while (i < logfmt.size() && logfmt[i] != ' ') ++i;
        value = std::string(logfmt.substr(vs, i - vs));
      }
    }
    std::string attr =
        "." + (key.find_first_of(" {}()=~!<>&|^,\"") != std::string::npos ? quote(key) : key);
    if (key == "name") {
      conds.push_back("name = " + quote(value));
    } else if (key == "status.code" || key == "status") {
      conds.push_back("status = " + (value == "error" || value == "ok" || value == "unset"
                                         ? value
                                         : quote(value)));
    } else if (key == "error" && value == "true") {
      conds.push_back("status = error");
    } else {
      bool numeric = !value.empty() &&
                     value.find_first_not_of("-0123456789") == std::string::npos &&
                     value.find('-', 1) == std::string::npos && value != "-";
      if (numeric) {
        conds.push_back("(" + attr + " = " + value + " || " + attr + " = " + quote(value) + ")");
      } else {
        conds.push_back(attr + " = " + quote(value));
      }
    }
  }
  if (conds.empty()) return std::string("{}");
  std::string out = "{ ";
  for (size_t k = 0; k < conds.size(); ++k) {
    if (k) out += " && ";
    out += conds[k];
  }
  return out + " }";
}

// ----------------------------------------------------------------- search

namespace {

// Asks a query's `cancelled` callback every 64 traces (it may take a lock or
// look at a gRPC context); remembers the answer once it is yes.
struct CancelPoll {
  const std::function<bool()>* fn;
  uint64_t polled = 0;
  bool cancelled = false;
  bool Cancelled() {
    if (!cancelled && *fn && (++polled & 63) == 0 && (*fn)()) cancelled = true;
    return cancelled;
  }
};

void AddAttribute(std::vector<KeyValue>* out, std::string key, const Static& v) {
  if (v.is_nil()) return;
  // Event/link fields: Tempo keeps one value per span (the first event or
  // link that has it), not a list.
  if (v.type == ValueType::kMulti) return AddAttribute(out, std::move(key), v.multi->front());
  for (const KeyValue& kv : *out) {
    if (kv.key == key) return;
  }
  out->push_back({std::move(key), StaticToAttribute(v)});
}

// Each span's position in the order Tempo stores (and so searches and
// lists) a trace's spans. A trace that came in one request (one resource
// batch here: the store appends each request's resources) keeps the
// sender's order, batch by batch and scope by scope. A trace combined from
// several requests is sorted as Tempo's trace combiner sorts it
// (pkg/model/trace/sort.go): spans of a scope by start time then span id,
// scopes of a batch by their first span, batches by their first scope's.
std::vector<uint32_t> StoredOrderRank(const Trace& t) {
  const size_t n = t.spans.size();
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
  if (t.resources.size() > 1) {
    // Groups (batch, scope) in order of first appearance.
    std::map<std::pair<uint32_t, uint32_t>, std::vector<uint32_t>> groups;
    for (uint32_t i : order) {
      groups[{t.spans[i].resource_index, t.spans[i].scope_index}].push_back(i);
    }
    auto span_less = [&](uint32_t a, uint32_t b) {
      const Span& x = t.spans[a];
      const Span& y = t.spans[b];
      if (x.start_unix_nano != y.start_unix_nano) return x.start_unix_nano < y.start_unix_nano;
      return x.span_id < y.span_id;
    };
    // batch -> its scopes' sorted span lists
    std::map<uint32_t, std::vector<std::vector<uint32_t>>> batches;
    for (auto& [key, spans] : groups) {
      std::sort(spans.begin(), spans.end(), span_less);
      batches[key.first].push_back(std::move(spans));
    }
    std::vector<std::vector<std::vector<uint32_t>>> sorted;
    for (auto& [ri, scopes] : batches) {
      std::stable_sort(scopes.begin(), scopes.end(),
                       [&](const auto& a, const auto& b) { return span_less(a[0], b[0]); });
      sorted.push_back(std::move(scopes));
    }
    std::stable_sort(sorted.begin(), sorted.end(), [&](const auto& a, const auto& b) {
      return span_less(a[0][0], b[0][0]);
    });
    order.clear();
    for (const auto& scopes : sorted) {
      for (const auto& spans : scopes) order.insert(order.end(), spans.begin(), spans.end());
    }
  } else {
    // One request: grouped by scope in order of appearance (OTLP nests
    // spans under their scope), the sender's order within a scope.
    std::map<uint32_t, size_t> first;
    for (uint32_t i : order) first.emplace(t.spans[i].scope_index, first.size());
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return first[t.spans[a].scope_index] < first[t.spans[b].scope_index];
    });
  }
  std::vector<uint32_t> rank(n);
  for (size_t pos = 0; pos < n; ++pos) rank[order[pos]] = static_cast<uint32_t>(pos);
  return rank;
}

TraceSearchResult RenderTrace(TraceEval& ev, const Query& q, std::vector<Spanset>& sets,
                              uint32_t spss) {
  const Trace& t = ev.trace();
  TraceSearchResult r;
  r.trace_id = TempoTraceId(t.trace_id);
  if (ev.root() >= 0) {
    std::string_view svc = ev.RootServiceName();
    r.root_service_name = svc.data() ? std::string(svc) : "";
    r.root_trace_name = t.spans[ev.root()].name;
  } else {
    r.root_service_name = "<root span not yet received>";
  }
  r.start_unix_nano = ev.start_unix_nano();
  r.duration_ms = static_cast<uint32_t>((ev.end_unix_nano() - ev.start_unix_nano()) / 1'000'000);
  {
    std::map<std::string_view, ServiceStats> stats;
    for (const Span& sp : t.spans) {
      std::string_view svc;
      if (sp.resource_index < t.resources.size()) {
        for (const KeyValue& kv : t.resources[sp.resource_index].attributes) {
          if (kv.key == "service.name") {
            if (const auto* str = std::get_if<std::string>(&kv.value.v)) svc = *str;
            break;
          }
        }
      }
      ServiceStats& st = stats[svc];
      ++st.span_count;
      if (sp.status_code == 2) ++st.error_count;
    }
    for (auto& [svc, st] : stats) {
      st.service = std::string(svc);
      r.service_stats.push_back(std::move(st));
    }
  }
  const std::vector<uint32_t> rank = StoredOrderRank(t);
  for (Spanset& ss : sets) {
    SpanSetResult out;
    out.matched = static_cast<uint32_t>(ss.spans.size());
    // The spans Tempo lists first: in the order its blocks store them.
    std::vector<uint32_t> order = ss.spans;
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return rank[a] < rank[b]; });
    if (order.size() > spss) order.resize(spss);
    for (uint32_t s : order) {
      const Span& sp = t.spans[s];
      SpanResult res;
      res.span_id = HexString(sp.span_id);
      res.name = sp.name;
      res.start_unix_nano = sp.start_unix_nano;
      res.duration_nanos =
          sp.end_unix_nano > sp.start_unix_nano ? sp.end_unix_nano - sp.start_unix_nano : 0;
      for (const FieldExpr* f : q.touched) {
        if (f->kind == FieldExpr::Kind::kIntrinsic &&
            (f->intrinsic == Intrinsic::kName || f->intrinsic == Intrinsic::kDuration)) {
          continue;  // already span fields
        }
        AddAttribute(&res.attributes, FieldResultKey(*f), ev.EvalField(*f, s));
      }
      for (const FieldExpr* f : ss.selects) {
        AddAttribute(&res.attributes, FieldResultKey(*f), ev.EvalField(*f, s));
      }
      out.spans.push_back(std::move(res));
    }
    for (const auto& [name, v] : ss.attributes) {
      KeyValue kv{name, StaticToAttribute(v)};
      out.attributes.push_back(std::move(kv));
    }
    r.span_sets.push_back(std::move(out));
  }
  return r;
}

}  // namespace

namespace {

// The one-shard view of a plain TraceSource.
class SingleShardSource final : public ShardedTraceSource {
 public:
  explicit SingleShardSource(TraceSource& source) : source_(source) {
    ShardInfo info;
    info.head = true;  // unknown times: never "older than" anything
    info.max_time_unix_nano = UINT64_MAX;
    shards_.push_back(info);
  }
  const std::vector<ShardInfo>& shards() const override { return shards_; }
  Status ScanShards(size_t first, size_t last, const ScanParams& params,
                    const std::function<bool(const Trace&)>& fn) override {
    if (first > 0 || last == 0 || done_) return Status::Ok();
    done_ = true;
    return source_.Scan(params, fn);
  }

 private:
  TraceSource& source_;
  std::vector<ShardInfo> shards_;
  bool done_ = false;
};

bool NewerFirst(const TraceSearchResult& a, const TraceSearchResult& b) {
  return a.start_unix_nano > b.start_unix_nano;
}

// Jobs over the shards: the head alone, then blocks batched up to `target`.
std::vector<std::pair<size_t, size_t>> PlanJobs(const std::vector<ShardInfo>& shards,
                                                uint64_t target) {
  target = std::max<uint64_t>(target, 1);
  std::vector<std::pair<size_t, size_t>> jobs;
  for (size_t i = 0; i < shards.size();) {
    size_t j = i + 1;
    if (!shards[i].head) {
      uint64_t bytes = shards[i].bytes;
      while (j < shards.size() && !shards[j].head && bytes < target) bytes += shards[j++].bytes;
    }
    jobs.push_back({i, j});
    i = j;
  }
  return jobs;
}

}  // namespace

std::unique_ptr<ShardedTraceSource> SingleShard(TraceSource& source) {
  return std::make_unique<SingleShardSource>(source);
}

Result<SearchResponse> Search(TraceSource& source, const SearchRequest& req) {
  SingleShardSource one(source);
  return SearchJobs(one, req, SearchJobOptions{});
}

Result<SearchResponse> SearchJobs(ShardedTraceSource& source, const SearchRequest& req,
                                  const SearchJobOptions& options, const SearchProgressFn& on_job,
                                  const std::function<bool()>& cancelled) {
  SL_ASSIGN_OR_RETURN(std::unique_ptr<Query> q, ParseQuery(req.query));
  if (q->metrics) return NotSearchQuery();
  if (req.end_unix_nano && req.end_unix_nano < req.start_unix_nano) {
    return InvalidArgumentError("invalid start and end: end is before start");
  }
  const uint32_t limit = req.limit ? req.limit : 20;
  const uint32_t spss = req.spans_per_span_set ? req.spans_per_span_set : 3;
  ScanParams params;
  params.start_unix_nano = req.start_unix_nano;
  params.end_unix_nano = req.end_unix_nano;
  params.hints = DeriveScanHints(*q);

  // Jobs: the head alone, then blocks batched up to the target size.
  const std::vector<ShardInfo>& shards = source.shards();
  const std::vector<std::pair<size_t, size_t>> jobs =
      PlanJobs(shards, options.target_bytes_per_job);
  SearchResponse resp;
  SearchMetrics& m = resp.metrics;
  m.total_jobs = static_cast<uint32_t>(std::max<size_t>(jobs.size(), 1));
  m.completed_jobs = 0;
  for (const ShardInfo& sh : shards) {
    if (sh.head) continue;
    ++m.total_blocks;
    m.total_block_bytes += sh.bytes;
  }
  // Upper bound of the start times of traces only in jobs >= k.
  std::vector<uint64_t> newest_after(jobs.size() + 1, 0);
  for (size_t k = jobs.size(); k-- > 0;) {
    uint64_t mx = newest_after[k + 1];
    for (size_t i = jobs[k].first; i < jobs[k].second; ++i) {
      mx = std::max(mx, shards[i].max_time_unix_nano);
    }
    newest_after[k] = mx;
  }

  std::vector<TraceSearchResult> found;  // newest first with most_recent
  std::vector<bool> sent;                // most_recent: streamed already
  std::vector<TraceSearchResult> fresh;  // without most_recent: not streamed yet
  std::unordered_set<std::string> found_ids;  // every trace id rendered so far
  CancelPoll poll{&cancelled};
  auto visit = [&](const Trace& t) {
    if (poll.Cancelled()) return false;
    ++m.inspected_traces;
    m.inspected_spans += t.spans.size();
    m.inspected_bytes += ApproxTraceBytes(t);
    if (t.spans.empty()) return true;
    TraceEval ev(t, q->needs_structure);
    uint64_t dur = ev.end_unix_nano() - ev.start_unix_nano();
    if (req.min_duration_nano && dur < req.min_duration_nano) return true;
    if (req.max_duration_nano && dur > req.max_duration_nano) return true;
    std::vector<Spanset> sets = ev.EvalRoot(*q->pipeline);
    if (sets.empty()) return true;
    TraceSearchResult r = RenderTrace(ev, *q, sets, spss);
    // A trace split wider apart than the store's split window arrives part
    // by part: one result per trace id, the parts combined as Tempo's
    // frontend combines blocks' results (combine.h). A combined result that
    // was streamed already is streamed again (clients replace by trace id).
    if (!found_ids.insert(r.trace_id).second) {
      auto same = std::find_if(found.begin(), found.end(), [&](const TraceSearchResult& o) {
        return o.trace_id == r.trace_id;
      });
      if (same == found.end()) return true;  // most_recent: dropped as too old
      CombineSearchResult(&*same, r, spss);
      if (!q->most_recent) {
        if (on_job) {
          auto f = std::find_if(fresh.begin(), fresh.end(), [&](const TraceSearchResult& o) {
            return o.trace_id == r.trace_id;
          });
          if (f != fresh.end()) {
            *f = *same;
          } else {
            fresh.push_back(*same);
          }
        }
        return true;
      }
      // The start may have moved earlier: re-place it, to be streamed again.
      const size_t i = static_cast<size_t>(same - found.begin());
      TraceSearchResult c = std::move(*same);
      found.erase(same);
      sent.erase(sent.begin() + static_cast<std::ptrdiff_t>(i));
      auto pos = std::upper_bound(found.begin(), found.end(), c, NewerFirst);
      sent.insert(sent.begin() + (pos - found.begin()), false);
      found.insert(pos, std::move(c));
      return true;
    }
    if (!q->most_recent) {
      if (on_job) fresh.push_back(r);
      found.push_back(std::move(r));
      return found.size() < limit;
    }
    // most_recent: keep the `limit` newest seen so far, sorted.
    auto pos = std::upper_bound(found.begin(), found.end(), r, NewerFirst);
    if (found.size() >= limit && pos == found.end()) return true;
    sent.insert(sent.begin() + (pos - found.begin()), false);
    found.insert(pos, std::move(r));
    if (found.size() > limit) {
      found.pop_back();
      sent.pop_back();
    }
    return true;
  };

  for (size_t k = 0; k < jobs.size(); ++k) {
    SL_RETURN_IF_ERROR(source.ScanShards(jobs[k].first, jobs[k].second, params, visit));
    if (poll.cancelled) return CancelledError("search cancelled");
    const bool full = !q->most_recent && found.size() >= limit;
    // A search that has its answer skips the jobs left (they count as done).
    m.completed_jobs = full ? m.total_jobs : static_cast<uint32_t>(k + 1);
    if (on_job) {
      SearchProgress p;
      if (!q->most_recent) {
        p.traces = std::move(fresh);
        fresh.clear();
      } else {
        // Final once no job left can hold a newer trace.
        const bool last = k + 1 == jobs.size();
        const uint64_t bound = newest_after[k + 1];
        for (size_t i = 0; i < found.size(); ++i) {
          if (sent[i] || (!last && found[i].start_unix_nano <= bound)) continue;
          sent[i] = true;
          p.traces.push_back(found[i]);
        }
      }
      std::stable_sort(p.traces.begin(), p.traces.end(), NewerFirst);
      p.metrics = m;
      if (!on_job(p)) return CancelledError("search cancelled");
    }
    if (full) break;
  }
  m.completed_jobs = m.total_jobs;
  if (jobs.empty() && on_job) {
    SearchProgress p;
    p.metrics = m;
    if (!on_job(p)) return CancelledError("search cancelled");
  }
  std::stable_sort(found.begin(), found.end(), NewerFirst);
  resp.traces = std::move(found);
  return resp;
}

// ---------------------------------------------------------------- metrics

namespace {

// Label value of a by() field for series identity and promLabels.
std::string PromValue(const Static& v) { return StaticToString(v, false); }

bool IsLegacyLabelName(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Length of the valid UTF-8 sequence starting at s[i], 0 when invalid.
size_t Utf8SeqLen(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  const size_t n = c >= 0xF0 && c <= 0xF4   ? 4
                   : c >= 0xE0 && c < 0xF0 ? 3
                   : c >= 0xC2 && c < 0xE0 ? 2
                                           : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  uint32_t cp = n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (b(i + k) & 0x3F);
  const bool bad3 = n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF));
  const bool bad4 = n == 4 && (cp < 0x10000 || cp > 0x10FFFF);
  if (bad3 || bad4) return 0;
  return n;
}

// Go's strconv.Quote: \a \b \f \n \r \t \v, other control bytes and
// invalid UTF-8 as \xNN, DEL as \x7f; valid UTF-8 is kept.
void AppendGoQuoted(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      if (size_t n = Utf8SeqLen(s, i)) {
        out->append(s.substr(i, n));
        i += n;
        continue;
      }
    }
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\a': *out += "\\a"; break;
      case '\b': *out += "\\b"; break;
      case '\f': *out += "\\f"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      case '\v': *out += "\\v"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          *out += "\\x";
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

std::string PromLabels(const std::vector<KeyValue>& labels) {
  std::vector<std::pair<std::string, std::string>> kv;
  for (const KeyValue& l : labels) {
    std::string v;
    // Tempo's Labels.String(): ints as int(N) (to tell them from strings),
    // floats with a ".0" when integral, "" as <empty>, nil as <nil>.
    if (const auto* s = std::get_if<std::string>(&l.value.v)) {
      v = s->empty() ? "<empty>" : *s == "nil" ? "<nil>" : *s;
    } else if (const auto* i = std::get_if<int64_t>(&l.value.v)) {
      v = "int(" + std::to_string(*i) + ")";
    } else if (const auto* d = std::get_if<double>(&l.value.v)) {
      v = StaticToString(Static::Float(*d), false);
      if (v.find_first_of("e.") == std::string::npos && std::isfinite(*d)) v += ".0";
    } else if (const auto* b = std::get_if<bool>(&l.value.v)) {
      v = *b ? "true" : "false";
    } else if (std::holds_alternative<std::monostate>(l.value.v)) {
      v = "<nil>";  // as Tempo prints a nil label
    }
    kv.emplace_back(l.key, v);
  }
  std::sort(kv.begin(), kv.end());
  // Prometheus 3's Labels.String() (newer Tempo): names outside the legacy
  // [a-zA-Z_][a-zA-Z0-9_]* charset are quoted, values always, as Go's
  // strconv.Quote does.
  std::string out = "{";
  for (size_t k = 0; k < kv.size(); ++k) {
    if (k) out += ", ";
    if (IsLegacyLabelName(kv[k].first)) {
      out += kv[k].first;
    } else {
      AppendGoQuoted(&out, kv[k].first);
    }
    out += '=';
    AppendGoQuoted(&out, kv[k].second);
  }
  return out + "}";
}

struct StepAcc {
  double count = 0;
  double sum = 0;
  double min = 0, max = 0;
  bool has = false;
  // quantile_over_time: count per power-of-two bucket (upper bound), as
  // Tempo keeps it (quantiles are read off these buckets, not exact).
  std::map<double, double> qbuckets;
};

struct SeriesAcc {
  std::vector<KeyValue> labels;  // by() labels
  std::vector<StepAcc> steps;
  std::map<double, std::vector<double>> buckets;  // histogram_over_time: bucket -> counts per step
  std::vector<Exemplar> exemplars;
};

// Tempo's Log2Bucketize: the next power of two at or above v (v >= 2).
uint64_t Log2Ceil(uint64_t v) {
  if (v <= 1) return 1;
  int bits = 64 - __builtin_clzll(v - 1);
  return bits >= 64 ? UINT64_MAX : (1ull << bits);
}

// The bucket (upper bound) Tempo files a value under for
// histogram_over_time and quantile_over_time: durations by the power of two
// of their nanoseconds, labelled in seconds (100ms -> 2^27 ns =
// 0.134217728); integers by their power of two. Values below 2 (ns or
// units) and floats have no bucket (Tempo skips them too).
bool TempoBucket(const Static& v, double* bucket) {
  if (v.type == ValueType::kDuration) {
    if (v.i < 2) return false;
    *bucket = static_cast<double>(Log2Ceil(static_cast<uint64_t>(v.i))) / 1e9;
    return true;
  }
  if (v.type == ValueType::kInt) {
    if (v.i < 2) return false;
    *bucket = static_cast<double>(Log2Ceil(static_cast<uint64_t>(v.i)));
    return true;
  }
  return false;
}

// Tempo's Log2Quantile: walk the buckets (ascending) to the one holding the
// ceil(p * total)-th sample, then interpolate exponentially between the
// previous bucket's bound (or half this one's) and this one's.
double Log2Quantile(double p, const std::map<double, double>& buckets) {
  if (std::isnan(p) || p < 0 || p > 1 || buckets.empty()) return 0;
  double total_count = 0;
  for (const auto& [b, c] : buckets) total_count += c;
  if (total_count == 0) return 0;
  double max_samples = std::ceil(p * total_count);
  if (max_samples == 0) max_samples = 1;
  double total = 0;
  auto it = buckets.begin();
  for (auto b = buckets.begin(); b != buckets.end(); ++b) {
    it = b;
    if (total + b->second > max_samples) break;
    total += b->second;
    if (total == max_samples) return b->first;
  }
  double interp = (max_samples - total) / it->second;
  double hi = std::log2(it->first);
  // The bucket before `it` in the map, or a power of two below.
  double lo = it == buckets.begin() ? hi - 1 : std::log2(std::prev(it)->first);
  return std::pow(2.0, lo + (hi - lo) * interp);
}

struct MetricsPlan {
  uint64_t start = 0, end = 0, step = 0;
  size_t nsteps = 0;
  bool instant = false;
};

// Tempo's exemplar bucket set: [start, end) is cut into limit/2 equal
// buckets (at least one) of at most 2 exemplars each, at most `limit` in
// all, so exemplars spread over the range instead of piling up where the
// scan starts.
class ExemplarBuckets {
 public:
  static constexpr uint32_t kPerBucket = 2;
  ExemplarBuckets(uint32_t limit, uint64_t start, uint64_t end) : limit_(limit), start_(start) {
    if (limit_ == 0 || end <= start) {
      limit_ = 0;
      return;
    }
    counts_.assign(std::max<uint32_t>(limit_ / kPerBucket, 1), 0);
    width_ = std::max<uint64_t>((end - start) / counts_.size(), 1);
  }
  // True (and counted) when an exemplar at `ts` fits.
  bool Add(uint64_t ts) {
    if (total_ >= limit_ || ts < start_) return false;
    size_t b = std::min<size_t>((ts - start_) / width_, counts_.size() - 1);
    if (counts_[b] >= kPerBucket) return false;
    ++counts_[b];
    ++total_;
    return true;
  }

 private:
  uint32_t limit_;
  uint64_t start_;
  uint64_t width_ = 1;
  uint32_t total_ = 0;
  std::vector<uint32_t> counts_;
};

// Tempo's exemplar values: the counting functions (and avg_over_time) give
// NaN placeholders, the others the span's measured value.
double ExemplarValue(MetricsFn fn, double value) {
  switch (fn) {
    case MetricsFn::kMinOverTime:
    case MetricsFn::kMaxOverTime:
    case MetricsFn::kSumOverTime:
    case MetricsFn::kQuantileOverTime:
      return value;
    default:
      return std::numeric_limits<double>::quiet_NaN();
  }
}

// Tempo's frontend (attachExemplars): exemplars sorted by time, and the
// NaN placeholders take the value of their series' sample in their step.
void AttachExemplarValues(std::vector<MetricsSeries>* series, const MetricsPlan& plan) {
  auto step_of = [&](int64_t ts_ms) -> int64_t {
    const uint64_t ts = static_cast<uint64_t>(ts_ms) * 1'000'000;
    if (plan.instant || plan.step == 0) return 0;
    if (ts < plan.start) return -1;
    return static_cast<int64_t>((ts - plan.start) / plan.step);
  };
  for (MetricsSeries& s : *series) {
    // By time; ties by trace:id then span:id (a stable order for clients
    // that merge streamed diffs).
    auto id_of = [](const Exemplar& e, size_t i) -> std::string_view {
      if (i >= e.labels.size()) return {};
      const auto* v = std::get_if<std::string>(&e.labels[i].value.v);
      return v ? std::string_view(*v) : std::string_view();
    };
    std::stable_sort(s.exemplars.begin(), s.exemplars.end(),
                     [&](const Exemplar& a, const Exemplar& b) {
                       if (a.timestamp_ms != b.timestamp_ms) return a.timestamp_ms < b.timestamp_ms;
                       if (id_of(a, 0) != id_of(b, 0)) return id_of(a, 0) < id_of(b, 0);
                       return id_of(a, 1) < id_of(b, 1);
                     });
    // An exemplar whose step has no sample (left out, or dropped by a
    // filter or topk) is dropped, as Tempo's ToProto does.
    std::vector<Exemplar> kept;
    for (Exemplar& e : s.exemplars) {
      const int64_t idx = step_of(e.timestamp_ms);
      const Sample* at = nullptr;
      for (const Sample& smp : s.samples) {
        if (step_of(smp.timestamp_ms) == idx) {
          at = &smp;
          break;
        }
      }
      if (at == nullptr || std::isnan(at->value)) continue;
      if (std::isnan(e.value)) e.value = at->value;
      kept.push_back(std::move(e));
    }
    s.exemplars = std::move(kept);
  }
}

// Tempo's query-frontend combiner keeps at most 2 exemplars per step (over
// all series) and kMaxExemplars in all, in the order it meets them.
void CapExemplarsPerStep(std::vector<MetricsSeries>* series, const MetricsPlan& plan) {
  std::vector<uint8_t> per_step(std::max<size_t>(plan.nsteps, 1));
  uint32_t total = 0;
  for (MetricsSeries& s : *series) {
    std::vector<Exemplar> kept;
    for (Exemplar& e : s.exemplars) {
      const uint64_t ts = static_cast<uint64_t>(e.timestamp_ms) * 1'000'000;
      size_t idx = plan.instant || plan.step == 0 || ts < plan.start
                       ? 0
                       : static_cast<size_t>((ts - plan.start) / plan.step);
      if (idx >= per_step.size() || per_step[idx] >= ExemplarBuckets::kPerBucket ||
          total >= kMaxExemplars) {
        continue;
      }
      ++per_step[idx];
      ++total;
      kept.push_back(std::move(e));
    }
    s.exemplars = std::move(kept);
  }
}

// compare(): Tempo's MetricsCompare. Every span the query matches is in
// the selection (the filter is true, and it starts within [start, end) when
// given) or the baseline; for each side, each attribute (span.*,
// resource.*, name, status, kind; not durations) counts its values per
// step. Series: {__meta_type="baseline"|"selection", <attr>=<value>} for
// the top N values of each attribute by total count, and
// {__meta_type="baseline_total"|"selection_total", <attr>=nil} with all
// spans that had the attribute. Every step has a sample (0 when empty).
Result<std::vector<MetricsSeries>> RunCompare(TraceSource& source, const Query& q,
                                              const MetricsPlan& plan, uint32_t max_exemplars,
                                              SearchMetrics* metrics) {
  const MetricsAggregate& m = *q.metrics;
  struct ValueCounts {
    AttributeValue value;
    std::vector<double> counts;
  };
  // [side][attribute][value key]; side 0 baseline, 1 selection.
  std::map<std::string, std::map<std::string, ValueCounts>> values[2];
  std::map<std::string, std::vector<double>> totals[2];
  // Exemplars per side (Tempo's: every attribute of the span as a label,
  // value NaN), attached at the end to that side's `_total` series of each
  // attribute the span has.
  struct CompareExemplar {
    Exemplar ex;
    std::vector<std::string> attrs;
  };
  std::vector<CompareExemplar> exemplars[2];
  ScanParams params;
  params.start_unix_nano = plan.start;
  params.end_unix_nano = plan.end;
  params.hints = DeriveScanHints(q);
  size_t attrs_seen = 0;
  const uint8_t compare_binding =
      m.compare_filter ? TraceEval::FilterBinding(*m.compare_filter) : 0;
  Status limit_err;
  Status st = source.Scan(params, [&](const Trace& t) {
    ++metrics->inspected_traces;
    metrics->inspected_spans += t.spans.size();
    metrics->inspected_bytes += ApproxTraceBytes(t);
    TraceEval ev(t, q.needs_structure);
    std::vector<Spanset> sets = ev.EvalRoot(*q.pipeline);
    if (sets.empty()) return true;
    std::vector<uint32_t> spans;
    for (const Spanset& ss : sets) spans.insert(spans.end(), ss.spans.begin(), ss.spans.end());
    std::sort(spans.begin(), spans.end());
    spans.erase(std::unique(spans.begin(), spans.end()), spans.end());
    for (uint32_t s : spans) {
      const Span& sp = t.spans[s];
      if (sp.start_unix_nano < plan.start || (plan.end && sp.start_unix_nano >= plan.end)) continue;
      size_t idx =
          plan.instant ? 0 : static_cast<size_t>((sp.start_unix_nano - plan.start) / plan.step);
      if (idx >= plan.nsteps) continue;
      bool selected = false;
      const bool in_window =
          m.compare_start == 0 ||
          (sp.start_unix_nano >= static_cast<uint64_t>(m.compare_start) &&
           sp.start_unix_nano < static_cast<uint64_t>(m.compare_end));
      if (in_window) {
        if (!m.compare_filter) {
          selected = true;
        } else {
          selected = ev.EvalFilter(*m.compare_filter, s, compare_binding);
        }
      }
      const int side = selected ? 1 : 0;
      CompareExemplar* ce = nullptr;
      if (exemplars[side].size() < max_exemplars) {
        ce = &exemplars[side].emplace_back();
        ce->ex.labels.push_back({"trace:id", AttributeValue{TempoTraceId(t.trace_id)}});
        ce->ex.labels.push_back({"span:id", AttributeValue{HexString(sp.span_id)}});
        ce->ex.value = std::numeric_limits<double>::quiet_NaN();
        ce->ex.timestamp_ms = static_cast<int64_t>(sp.start_unix_nano / 1'000'000);
      }
      auto add = [&](const std::string& attr, const AttributeValue& v) {
        std::string key;
        if (const auto* str = std::get_if<std::string>(&v.v)) {
          key = "s" + *str;
        } else if (const auto* i = std::get_if<int64_t>(&v.v)) {
          key = "i" + std::to_string(*i);
        } else if (const auto* d = std::get_if<double>(&v.v)) {
          key = "f" + StaticToString(Static::Float(*d), false);
        } else if (const auto* b = std::get_if<bool>(&v.v)) {
          key = *b ? "bt" : "bf";
        } else {
          return;  // arrays, maps, empty values: not grouped
        }
        auto& per_attr = values[side][attr];
        auto it = per_attr.find(key);
        if (it == per_attr.end()) {
          if (++attrs_seen > kMaxMetricsSeries * 10) {
            limit_err = ResourceExhaustedError("compare() found too many attribute values");
            return;
          }
          it = per_attr.emplace(key, ValueCounts{v, std::vector<double>(plan.nsteps)}).first;
        }
        it->second.counts[idx] += 1;
        if (ce) {
          ce->ex.labels.push_back({attr, v});
          ce->attrs.push_back(attr);
        }
        auto& tot = totals[side][attr];
        if (tot.empty()) tot.resize(plan.nsteps);
        tot[idx] += 1;
      };
      for (const KeyValue& kv : sp.attributes) add("span." + kv.key, kv.value);
      if (sp.resource_index < t.resources.size()) {
        for (const KeyValue& kv : t.resources[sp.resource_index].attributes) {
          add("resource." + kv.key, kv.value);
        }
      }
      add("name", AttributeValue{sp.name});
      add("status", AttributeValue{std::string(StatusName(
                        sp.status_code == 2 ? kStatusError
                                            : sp.status_code == 1 ? kStatusOk : kStatusUnset))});
      add("kind", AttributeValue{std::string(KindName(sp.kind))});
      // The other intrinsics Tempo's select-all brings back (span start,
      // span:id, trace:id and durations are never grouped).
      add("statusMessage", AttributeValue{sp.status_message});
      // Tempo reads a root's empty parent id as 16 zeros.
      add("span:parentID", AttributeValue{sp.parent_span_id.empty()
                                              ? std::string(16, '0')
                                              : HexString(sp.parent_span_id)});
      add("rootName",
          AttributeValue{ev.root() < 0 ? std::string() : t.spans[ev.root()].name});
      add("rootServiceName", AttributeValue{std::string(ev.RootServiceName())});
      if (sp.scope_index < t.scopes.size()) {
        const auto& scope = t.scopes[sp.scope_index];
        add("instrumentation:name", AttributeValue{scope.name});
        add("instrumentation:version", AttributeValue{scope.version});
        for (const KeyValue& kv : scope.attributes) add("instrumentation." + kv.key, kv.value);
      }
      if (!limit_err.ok()) return false;
    }
    return true;
  });
  SL_RETURN_IF_ERROR(st);
  SL_RETURN_IF_ERROR(limit_err);

  auto ts_of = [&](size_t idx) {
    return static_cast<int64_t>((plan.start + idx * plan.step) / 1'000'000);
  };
  std::vector<MetricsSeries> out;
  auto emit = [&](std::vector<KeyValue> labels, const std::vector<double>& counts) {
    MetricsSeries ms;
    ms.labels = std::move(labels);
    ms.prom_labels = PromLabels(ms.labels);
    for (size_t k = 0; k < plan.nsteps; ++k) ms.samples.push_back({ts_of(k), counts[k]});
    out.push_back(std::move(ms));
  };
  static const char* kSide[2] = {"baseline", "selection"};
  static const char* kTotal[2] = {"baseline_total", "selection_total"};
  for (int side = 0; side < 2; ++side) {
    for (auto& [attr, vals] : values[side]) {
      std::vector<std::pair<double, const ValueCounts*>> ranked;
      for (const auto& [key, vc] : vals) {
        double sum = 0;
        for (double c : vc.counts) sum += c;
        ranked.push_back({sum, &vc});
      }
      // Highest totals first; ties keep the value order (deterministic).
      std::stable_sort(ranked.begin(), ranked.end(),
                       [](const auto& a, const auto& b) { return a.first > b.first; });
      for (size_t k = 0; k < ranked.size() && k < static_cast<size_t>(m.compare_top_n); ++k) {
        emit({{"__meta_type", AttributeValue{std::string(kSide[side])}},
              {attr, ranked[k].second->value}},
             ranked[k].second->counts);
      }
    }
    for (auto& [attr, counts] : totals[side]) {
      emit({{"__meta_type", AttributeValue{std::string(kTotal[side])}}, {attr, AttributeValue{}}},
           counts);
      for (const CompareExemplar& ce : exemplars[side]) {
        if (std::find(ce.attrs.begin(), ce.attrs.end(), attr) != ce.attrs.end()) {
          out.back().exemplars.push_back(ce.ex);
        }
      }
    }
  }
  return out;
}

// Every shard of a ShardedTraceSource as one TraceSource.
class AllShards final : public TraceSource {
 public:
  explicit AllShards(ShardedTraceSource& s) : s_(s) {}
  Status Scan(const ScanParams& params, const std::function<bool(const Trace&)>& fn) override {
    return s_.ScanShards(0, s_.shards().size(), params, fn);
  }

 private:
  ShardedTraceSource& s_;
};

using MetricsJobFn = std::function<bool(MetricsProgress&)>;

// Runs the metrics query job by job; after each job but the last, `on_job`
// (optional) gets the series computed from the jobs so far.
Result<std::vector<MetricsSeries>> RunMetrics(ShardedTraceSource& source, const Query& q,
                                              const MetricsRequest& req, const MetricsPlan& plan,
                                              SearchMetrics* metrics, uint64_t target_bytes_per_job,
                                              const MetricsJobFn& on_job,
                                              const std::function<bool()>& cancelled,
                                              bool* partial) {
  const MetricsAggregate& m = *q.metrics;
  // max_series reached: the scan stops and the answer is cut (Tempo's
  // combiner quits and truncates the same way).
  bool max_series_reached = false;
  auto cut_to_max_series = [&](std::vector<MetricsSeries>& out) {
    if (req.max_series && out.size() > req.max_series) {
      out.resize(req.max_series);
      max_series_reached = true;
    }
  };
  const auto jobs = PlanJobs(source.shards(), target_bytes_per_job);
  metrics->total_jobs = static_cast<uint32_t>(std::max<size_t>(jobs.size(), 1));
  metrics->completed_jobs = 0;
  for (const ShardInfo& sh : source.shards()) {
    if (sh.head) continue;
    ++metrics->total_blocks;
    metrics->total_block_bytes += sh.bytes;
  }
  if (m.fn == MetricsFn::kCompare) {
    AllShards all(source);
    auto r = RunCompare(all, q, plan, std::min(req.exemplars, kMaxExemplars), metrics);
    metrics->completed_jobs = metrics->total_jobs;
    if (r.ok()) {
      std::stable_sort(r->begin(), r->end(), [](const MetricsSeries& a, const MetricsSeries& b) {
        return a.prom_labels < b.prom_labels;
      });
      cut_to_max_series(*r);
      CapExemplarsPerStep(&*r, plan);
      AttachExemplarValues(&*r, plan);
    }
    *partial = max_series_reached;
    return r;
  }
  std::unordered_map<std::string, SeriesAcc> series;
  ExemplarBuckets ex_buckets(std::min(req.exemplars, kMaxExemplars), plan.start,
                             plan.instant ? plan.end : plan.start + plan.nsteps * plan.step);
  ScanParams params;
  params.start_unix_nano = plan.start;
  params.end_unix_nano = plan.end;
  params.hints = DeriveScanHints(q);
  Status limit_err;
  CancelPoll poll{&cancelled};
  auto visit = [&](const Trace& t) {
    if (poll.Cancelled()) return false;
    ++metrics->inspected_traces;
    metrics->inspected_spans += t.spans.size();
    metrics->inspected_bytes += ApproxTraceBytes(t);
    TraceEval ev(t, q.needs_structure);
    std::vector<Spanset> sets = ev.EvalRoot(*q.pipeline);
    if (sets.empty()) return true;
    std::vector<uint32_t> spans;
    for (const Spanset& ss : sets) spans.insert(spans.end(), ss.spans.begin(), ss.spans.end());
    std::sort(spans.begin(), spans.end());
    spans.erase(std::unique(spans.begin(), spans.end()), spans.end());
    bool trace_has_exemplar = false;
    for (uint32_t s : spans) {
      const Span& sp = t.spans[s];
      if (sp.start_unix_nano < plan.start || (plan.end && sp.start_unix_nano >= plan.end)) continue;
      size_t idx =
          plan.instant ? 0 : static_cast<size_t>((sp.start_unix_nano - plan.start) / plan.step);
      if (idx >= plan.nsteps) continue;
      double value = 1;
      Static attr_value;
      if (m.attr) {
        attr_value = ev.EvalField(*m.attr, s);
        if (!attr_value.is_numeric()) continue;
        value = attr_value.type == ValueType::kDuration ? static_cast<double>(attr_value.i) / 1e9
                                                        : attr_value.AsFloat();
      }
      double bucket = 0;
      const bool bucketed = (m.fn == MetricsFn::kQuantileOverTime ||
                             m.fn == MetricsFn::kHistogramOverTime) &&
                            TempoBucket(attr_value, &bucket);
      if ((m.fn == MetricsFn::kQuantileOverTime || m.fn == MetricsFn::kHistogramOverTime) &&
          !bucketed) {
        continue;
      }
      std::string key;
      std::vector<std::pair<std::string, Static>> labels;
      for (const auto& b : m.by) {
        Static v = ev.EvalField(*b, s);
        if (v.type == ValueType::kArray || v.type == ValueType::kMulti) v = Static::Nil();
        key += std::to_string(static_cast<int>(v.type)) + ":" + PromValue(v) + "\x1f";
        labels.emplace_back(FieldExprToString(*b), v);
      }
      auto it = series.find(key);
      if (it == series.end()) {
        if (req.max_series && series.size() >= req.max_series) {
          max_series_reached = true;
          return false;
        }
        if (!req.max_series && series.size() >= kMaxMetricsSeries) {
          limit_err = ResourceExhaustedError("metrics query exceeds the limit of " +
                                             std::to_string(kMaxMetricsSeries) + " series");
          return false;
        }
        SeriesAcc acc;
        for (auto& [name, v] : labels) {
          if (!v.is_nil()) acc.labels.push_back({name, StaticToAttribute(v)});
        }
        // Tempo skips nil by() values, but keeps the first one as nil when
        // all are (so `by(span.missing)` is {span.missing=<nil>}).
        if (acc.labels.empty() && !labels.empty()) {
          acc.labels.push_back({labels[0].first, AttributeValue{}});
        }
        acc.steps.resize(plan.nsteps);
        it = series.emplace(std::move(key), std::move(acc)).first;
      }
      SeriesAcc& acc = it->second;
      StepAcc& sa = acc.steps[idx];
      if (!sa.has) {
        sa.min = sa.max = value;
        sa.has = true;
      }
      sa.count += 1;
      sa.sum += value;
      sa.min = std::min(sa.min, value);
      sa.max = std::max(sa.max, value);
      if (m.fn == MetricsFn::kQuantileOverTime) sa.qbuckets[bucket] += 1;
      if (m.fn == MetricsFn::kHistogramOverTime) {
        auto& counts = acc.buckets[bucket];
        if (counts.empty()) counts.resize(plan.nsteps);
        counts[idx] += 1;
      }
      if (!trace_has_exemplar && ex_buckets.Add(sp.start_unix_nano)) {
        trace_has_exemplar = true;  // one exemplar per trace, as Tempo samples them
        Exemplar ex;
        ex.labels.push_back({"trace:id", AttributeValue{TempoTraceId(t.trace_id)}});
        ex.labels.push_back({"span:id", AttributeValue{HexString(sp.span_id)}});
        ex.value = ExemplarValue(m.fn, value);
        ex.timestamp_ms = static_cast<int64_t>(sp.start_unix_nano / 1'000'000);
        acc.exemplars.push_back(std::move(ex));
      }
    }
    return true;
  };

  auto finalize = [&]() -> std::vector<MetricsSeries> {
    const double step_seconds = plan.instant ? static_cast<double>(plan.end - plan.start) / 1e9
                                             : static_cast<double>(plan.step) / 1e9;
    auto ts_of = [&](size_t idx) {
      return static_cast<int64_t>((plan.start + idx * plan.step) / 1'000'000);
    };
    std::vector<MetricsSeries> out;
    auto emit = [&](std::vector<KeyValue> labels, auto&& value_at,
                    const std::vector<Exemplar>& ex) {
      MetricsSeries s;
      if (labels.empty())
        labels.push_back({"__name__", AttributeValue{std::string(MetricsFnName(m.fn))}});
      s.labels = std::move(labels);
      s.prom_labels = PromLabels(s.labels);
      for (size_t k = 0; k < plan.nsteps; ++k) {
        double v;
        if (value_at(k, &v)) s.samples.push_back({ts_of(k), v});
      }
      s.exemplars = ex;
      if (!s.samples.empty()) out.push_back(std::move(s));
    };
    for (auto& entry : series) {
      auto& acc = entry.second;  // a plain reference: lambdas below capture it
      switch (m.fn) {
        case MetricsFn::kRate:
        case MetricsFn::kCountOverTime:
        case MetricsFn::kSumOverTime:
        case MetricsFn::kMinOverTime:
        case MetricsFn::kMaxOverTime:
        case MetricsFn::kAvgOverTime:
          emit(
              acc.labels,
              [&](size_t k, double* v) {
                const StepAcc& sa = acc.steps[k];
                if (!sa.has) {
                  // Tempo's counters start at 0 in every step of a series
                  // (and 0 is returned); the *_over_time values start as
                  // NaN, which is left out.
                  *v = 0;
                  return m.fn == MetricsFn::kRate || m.fn == MetricsFn::kCountOverTime;
                }
                switch (m.fn) {
                  case MetricsFn::kRate:
                    *v = step_seconds > 0 ? sa.count / step_seconds : 0;
                    break;
                  case MetricsFn::kCountOverTime:
                    *v = sa.count;
                    break;
                  case MetricsFn::kSumOverTime:
                    *v = sa.sum;
                    break;
                  case MetricsFn::kMinOverTime:
                    *v = sa.min;
                    break;
                  case MetricsFn::kMaxOverTime:
                    *v = sa.max;
                    break;
                  default:
                    *v = sa.sum / sa.count;
                    break;
                }
                return true;
              },
              acc.exemplars);
          break;
        case MetricsFn::kQuantileOverTime:
          for (double qv : m.quantiles) {
            std::vector<KeyValue> labels = acc.labels;
            labels.push_back({"p", AttributeValue{qv}});
            emit(
                labels,
                [&](size_t k, double* v) {
                  const auto& b = acc.steps[k].qbuckets;
                  *v = b.empty() ? 0 : Log2Quantile(qv, b);  // Tempo: 0 when empty
                  return true;
                },
                acc.exemplars);
          }
          break;
        case MetricsFn::kCompare:
          break;  // RunCompare
        case MetricsFn::kHistogramOverTime:
          for (auto& bucket_counts : acc.buckets) {
            const auto& bucket = bucket_counts.first;
            const auto& counts = bucket_counts.second;
            std::vector<KeyValue> labels = acc.labels;
            labels.push_back({"__bucket", AttributeValue{bucket}});
            emit(
                labels,
                [&](size_t k, double* v) {
                  *v = counts[k];  // 0 in steps without spans, as Tempo
                  return true;
                },
                acc.exemplars);
          }
          break;
      }
    }
    // Second stage, in order: topk / bottomk per timestamp, and filters
    // that keep the data points meeting a comparison.
    for (const SecondStage& ss : q.second_stage) {
      if (ss.kind == SecondStage::Kind::kFilter) {
        auto keep = [&](double v) {
          switch (ss.op) {
            case Op::kEq:
              return v == ss.threshold;
            case Op::kNeq:
              return v != ss.threshold;
            case Op::kLt:
              return v < ss.threshold;
            case Op::kLte:
              return v <= ss.threshold;
            case Op::kGt:
              return v > ss.threshold;
            default:
              return v >= ss.threshold;
          }
        };
        std::vector<MetricsSeries> kept;
        for (MetricsSeries& s : out) {
          std::vector<Sample> samples;
          for (const Sample& p : s.samples) {
            if (keep(p.value)) samples.push_back(p);
          }
          if (samples.empty()) continue;
          s.samples = std::move(samples);
          kept.push_back(std::move(s));
        }
        out = std::move(kept);
        continue;
      }
      std::map<int64_t, std::vector<std::pair<double, size_t>>> by_ts;
      for (size_t k = 0; k < out.size(); ++k) {
        for (const Sample& s : out[k].samples) by_ts[s.timestamp_ms].push_back({s.value, k});
      }
      std::vector<std::set<int64_t>> keep(out.size());
      for (auto& [ts, vals] : by_ts) {
        std::stable_sort(vals.begin(), vals.end(), [&](const auto& a, const auto& b) {
          if (std::isnan(a.first)) return false;
          if (std::isnan(b.first)) return true;
          return ss.topk ? a.first > b.first : a.first < b.first;
        });
        for (size_t k = 0; k < vals.size() && k < static_cast<size_t>(ss.k); ++k)
          keep[vals[k].second].insert(ts);
      }
      std::vector<MetricsSeries> kept;
      for (size_t k = 0; k < out.size(); ++k) {
        std::vector<Sample> samples;
        for (const Sample& s : out[k].samples) {
          if (keep[k].count(s.timestamp_ms)) samples.push_back(s);
        }
        if (samples.empty()) continue;
        out[k].samples = std::move(samples);
        kept.push_back(std::move(out[k]));
      }
      out = std::move(kept);
    }
    std::sort(out.begin(), out.end(), [](const MetricsSeries& a, const MetricsSeries& b) {
      return a.prom_labels < b.prom_labels;
    });
    cut_to_max_series(out);
    AttachExemplarValues(&out, plan);
    return out;
  };

  for (size_t k = 0; k < jobs.size(); ++k) {
    SL_RETURN_IF_ERROR(source.ScanShards(jobs[k].first, jobs[k].second, params, visit));
    if (poll.cancelled) return CancelledError("metrics query cancelled");
    SL_RETURN_IF_ERROR(limit_err);
    metrics->completed_jobs = static_cast<uint32_t>(k + 1);
    if (max_series_reached) break;  // the jobs left are skipped (count as done)
    if (on_job && k + 1 < jobs.size()) {
      MetricsProgress p;
      p.series = finalize();
      p.metrics = *metrics;
      p.partial = max_series_reached;
      if (!on_job(p)) return CancelledError("metrics query cancelled");
    }
  }
  metrics->completed_jobs = metrics->total_jobs;
  std::vector<MetricsSeries> out = finalize();
  *partial = max_series_reached;
  return out;
}

// `with(exemplars=true|false)` (Tempo's hint) turns exemplars on (the
// request's count, or kMaxExemplars) or off for this query.
constexpr uint32_t kDefaultExemplars = kMaxExemplars;
MetricsRequest WithExemplarsHint(const Query& q, const MetricsRequest& req) {
  MetricsRequest out = req;
  for (const Hint& h : q.hints) {
    if (h.name != "exemplars" || h.value.type != ValueType::kBool) continue;
    out.exemplars = !h.value.b ? 0 : (req.exemplars ? req.exemplars : kDefaultExemplars);
  }
  return out;
}

Result<std::unique_ptr<Query>> ParseMetricsQuery(const MetricsRequest& req) {
  SL_ASSIGN_OR_RETURN(std::unique_ptr<Query> q, ParseQuery(req.query));
  if (!q->metrics) {
    return InvalidArgumentError(
        "invalid TraceQL query: not a metrics query, add a metrics function such as `| rate()`");
  }
  if (req.end_unix_nano <= req.start_unix_nano) {
    return InvalidArgumentError("invalid start and end: end must be after start");
  }
  return q;
}

// Tempo 2.7's metrics max_duration check (query-frontend sharder): a range
// query is measured after aligning start down and end up to the step, an
// instant one as end - start.
Status CheckMaxDuration(const MetricsRequest& req, bool instant) {
  if (req.max_duration_nano == 0) return Status::Ok();
  uint64_t start = req.start_unix_nano, end = req.end_unix_nano;
  if (!instant) {
    const uint64_t step =
        req.step_nano ? req.step_nano : DefaultQueryRangeStep(start, end);
    start -= start % step;
    if (end % step) end += step - end % step;
  }
  if (end - start <= req.max_duration_nano) return Status::Ok();
  return InvalidArgumentError(
      "range specified by start and end (" + FormatDuration(static_cast<int64_t>(end - start)) +
      ") exceeds " + FormatDuration(static_cast<int64_t>(req.max_duration_nano)) +
      ". received start=" + std::to_string(start) + " end=" + std::to_string(end));
}

Result<MetricsPlan> RangePlan(const MetricsRequest& req) {
  MetricsPlan plan;
  plan.step = req.step_nano;
  if (plan.step == 0) plan.step = DefaultQueryRangeStep(req.start_unix_nano, req.end_unix_nano);
  plan.start = req.start_unix_nano - req.start_unix_nano % plan.step;
  plan.end = req.end_unix_nano;
  uint64_t nsteps = (plan.end - plan.start + plan.step - 1) / plan.step;
  if (nsteps > 100'000) {
    return InvalidArgumentError("invalid step: the range would have " + std::to_string(nsteps) +
                                " steps, the maximum is 100000; increase step");
  }
  plan.nsteps = static_cast<size_t>(nsteps);
  return plan;
}

}  // namespace

uint64_t DefaultQueryRangeStep(uint64_t start_unix_nano, uint64_t end_unix_nano) {
  constexpr uint64_t kSecond = 1'000'000'000ull;
  const uint64_t baseline =
      end_unix_nano > start_unix_nano ? (end_unix_nano - start_unix_nano) / 240 : 0;
  uint64_t step = baseline / (5 * kSecond) * (5 * kSecond);
  if (step < 5 * kSecond) step = baseline / kSecond * kSecond;
  return std::max(step, kSecond);
}

std::string MaxSeriesMessage(uint32_t max_series) {
  return "Response exceeds maximum series limit of " + std::to_string(max_series) +
         ", a partial response is returned. Warning: the accuracy of each individual value is "
         "not guaranteed.";
}

Result<std::pair<uint64_t, uint64_t>> MetricsScanRange(const MetricsRequest& req) {
  SL_RETURN_IF_ERROR(ParseMetricsQuery(req).status());
  SL_RETURN_IF_ERROR(CheckMaxDuration(req, /*instant=*/false));
  SL_ASSIGN_OR_RETURN(MetricsPlan plan, RangePlan(req));
  return std::make_pair(plan.start, plan.end);
}

Result<MetricsResponse> MetricsQueryRange(TraceSource& source, const MetricsRequest& req) {
  SingleShardSource one(source);
  return MetricsQueryRangeJobs(one, req, SearchJobOptions{});
}

Result<MetricsResponse> MetricsQueryRangeJobs(ShardedTraceSource& source, const MetricsRequest& req,
                                              const SearchJobOptions& options,
                                              const std::function<bool(MetricsProgress&)>& on_job,
                                              const std::function<bool()>& cancelled) {
  SL_ASSIGN_OR_RETURN(std::unique_ptr<Query> q, ParseMetricsQuery(req));
  SL_RETURN_IF_ERROR(CheckMaxDuration(req, /*instant=*/false));
  SL_ASSIGN_OR_RETURN(MetricsPlan plan, RangePlan(req));
  MetricsResponse resp;
  SL_ASSIGN_OR_RETURN(resp.series,
                      RunMetrics(source, *q, WithExemplarsHint(*q, req), plan, &resp.metrics,
                                 options.target_bytes_per_job, on_job, cancelled, &resp.partial));
  if (resp.partial) resp.message = MaxSeriesMessage(req.max_series);
  return resp;
}

namespace {

std::vector<InstantSeries> ToInstant(std::vector<MetricsSeries> series) {
  std::vector<InstantSeries> out;
  for (MetricsSeries& s : series) {
    if (s.samples.empty()) continue;
    InstantSeries is;
    is.labels = std::move(s.labels);
    is.prom_labels = std::move(s.prom_labels);
    is.value = s.samples.front().value;  // one step: Tempo takes the first
    out.push_back(std::move(is));
  }
  return out;
}

}  // namespace

Result<std::pair<uint64_t, uint64_t>> MetricsInstantScanRange(const MetricsRequest& req) {
  SL_RETURN_IF_ERROR(ParseMetricsQuery(req).status());
  SL_RETURN_IF_ERROR(CheckMaxDuration(req, /*instant=*/true));
  return std::make_pair(req.start_unix_nano, req.end_unix_nano);
}

Result<InstantResponse> MetricsQueryInstant(TraceSource& source, const MetricsRequest& req) {
  SingleShardSource one(source);
  return MetricsQueryInstantJobs(one, req, SearchJobOptions{});
}

Result<InstantResponse> MetricsQueryInstantJobs(
    ShardedTraceSource& source, const MetricsRequest& req, const SearchJobOptions& options,
    const std::function<bool(InstantProgress&)>& on_job, const std::function<bool()>& cancelled) {
  SL_ASSIGN_OR_RETURN(std::unique_ptr<Query> q, ParseMetricsQuery(req));
  SL_RETURN_IF_ERROR(CheckMaxDuration(req, /*instant=*/true));
  // One step over the whole [start, end); instant queries carry no
  // exemplars (Tempo drops them too).
  MetricsPlan plan;
  plan.start = req.start_unix_nano;
  plan.end = req.end_unix_nano;
  plan.step = req.end_unix_nano - req.start_unix_nano;
  plan.nsteps = 1;
  plan.instant = true;
  MetricsRequest r = req;
  r.exemplars = 0;
  MetricsJobFn range_progress;
  if (on_job) {
    range_progress = [&](MetricsProgress& p) {
      InstantProgress ip;
      ip.series = ToInstant(std::move(p.series));
      ip.metrics = p.metrics;
      ip.partial = p.partial;
      return on_job(ip);
    };
  }
  InstantResponse resp;
  SL_ASSIGN_OR_RETURN(std::vector<MetricsSeries> series,
                      RunMetrics(source, *q, r, plan, &resp.metrics, options.target_bytes_per_job,
                                 range_progress, cancelled, &resp.partial));
  resp.series = ToInstant(std::move(series));
  if (resp.partial) resp.message = MaxSeriesMessage(req.max_series);
  return resp;
}

// ------------------------------------------------------------------- tags

namespace {

const char* const kIntrinsicTags[] = {
    "duration",
    "event:name",
    "event:timeSinceStart",
    "instrumentation:name",
    "instrumentation:version",
    "kind",
    "link:spanID",
    "link:traceID",
    "name",
    "rootName",
    "rootServiceName",
    "span:childCount",
    "span:duration",
    "span:id",
    "span:kind",
    "span:name",
    "span:parentID",
    "span:status",
    "span:statusMessage",
    "status",
    "statusMessage",
    "trace:duration",
    "trace:id",
    "trace:rootName",
    "trace:rootService",
    "traceDuration",
};

// Runs `fn(eval, span)` for every span of every scanned trace that the
// optional filter query selects. A filter that does not parse is ignored, as
// Tempo does for the partial queries editors send while typing.
Status ForEachFilteredSpan(TraceSource& source, std::string_view filter, uint64_t start,
                           uint64_t end, const std::function<bool(TraceEval&, uint32_t)>& fn) {
  std::unique_ptr<Query> q;
  if (!filter.empty()) {
    auto parsed = ParseQuery(filter);
    if (parsed.ok() && !(*parsed)->metrics) q = std::move(parsed).value();
  }
  ScanParams params;
  params.start_unix_nano = start;
  params.end_unix_nano = end;
  if (q) params.hints = DeriveScanHints(*q);
  return source.Scan(params, [&](const Trace& t) {
    TraceEval ev(t, q && q->needs_structure);
    if (!q) {
      for (uint32_t s = 0; s < t.spans.size(); ++s) {
        if (!fn(ev, s)) return false;
      }
      return true;
    }
    std::vector<Spanset> sets = ev.EvalRoot(*q->pipeline);
    std::vector<uint32_t> spans;
    for (const Spanset& ss : sets) spans.insert(spans.end(), ss.spans.begin(), ss.spans.end());
    std::sort(spans.begin(), spans.end());
    spans.erase(std::unique(spans.begin(), spans.end()), spans.end());
    for (uint32_t s : spans) {
      if (!fn(ev, s)) return false;
    }
    return true;
  });
}

std::string TagValueType(const Static& v) {
  switch (v.type) {
    case ValueType::kString:
      return "string";
    case ValueType::kInt:
      return "int";
    case ValueType::kFloat:
      return "float";
    case ValueType::kBool:
      return "bool";
    case ValueType::kDuration:
      return "duration";
    case ValueType::kStatus:
    case ValueType::kKind:
      return "keyword";
    default:
      return "";
  }
}

}  // namespace

Result<std::vector<TagScope>> TagNames(TraceSource& source, const TagNamesRequest& req) {
  static const std::pair<Scope, const char*> kScopes[] = {
      {Scope::kResource, "resource"},
      {Scope::kSpan, "span"},
      {Scope::kEvent, "event"},
      {Scope::kLink, "link"},
      {Scope::kInstrumentation, "instrumentation"}};
  std::string want = req.scope;
  if (want == "all" || want == "none") want.clear();
  bool known = want.empty() || want == "intrinsic";
  for (const auto& [s, name] : kScopes) known |= want == name;
  if (!known) {
    return InvalidArgumentError(
        "invalid scope \"" + req.scope +
        "\": use span, resource, event, link, instrumentation, intrinsic or none");
  }
  auto wanted = [&](const char* name) { return want.empty() || want == name; };
  std::map<std::string, std::set<std::string>> names;
  const size_t limit = req.limit ? req.limit : SIZE_MAX;
  if (want != "intrinsic") {
    auto add = [&](const char* scope, const std::vector<KeyValue>& kvs) {
      if (!wanted(scope)) return;
      auto& set = names[scope];
      for (const KeyValue& kv : kvs) {
        if (set.size() >= limit) return;
        set.insert(kv.key);
      }
    };
    SL_RETURN_IF_ERROR(ForEachFilteredSpan(
        source, req.query, req.start_unix_nano, req.end_unix_nano, [&](TraceEval& ev, uint32_t s) {
          const Trace& t = ev.trace();
          const Span& sp = t.spans[s];
          add("span", sp.attributes);
          if (sp.resource_index < t.resources.size())
            add("resource", t.resources[sp.resource_index].attributes);
          if (sp.scope_index < t.scopes.size())
            add("instrumentation", t.scopes[sp.scope_index].attributes);
          for (const Event& e : sp.events) add("event", e.attributes);
          for (const Link& l : sp.links) add("link", l.attributes);
          return true;
        }));
  }
  std::vector<TagScope> out;
  for (const auto& [s, name] : kScopes) {
    auto it = names.find(name);
    if (it == names.end() || it->second.empty()) continue;
    out.push_back({name, std::vector<std::string>(it->second.begin(), it->second.end())});
  }
  if (wanted("intrinsic")) {
    TagScope in{"intrinsic", {}};
    for (const char* n : kIntrinsicTags) {
      if (in.tags.size() >= limit) break;
      in.tags.push_back(n);
    }
    out.push_back(std::move(in));
  }
  return out;
}

Result<std::vector<TagValue>> TagValues(TraceSource& source, const TagValuesRequest& req) {
  auto attr = ParseTagAttribute(req.tag);
  if (!attr.ok()) {
    return InvalidArgumentError("invalid tag \"" + req.tag + "\": " + attr.status().message());
  }
  const FieldExpr& f = **attr;
  const size_t limit = req.limit ? req.limit : SIZE_MAX;
  std::set<std::pair<std::string, std::string>> seen;  // (value, type)
  auto add = [&](const Static& v) {
    std::string type = TagValueType(v);
    if (type.empty()) return;
    if (seen.size() >= limit) return;
    seen.insert({StaticToString(v, false), std::move(type)});
  };
  std::function<void(const Static&)> add_all = [&](const Static& v) {
    if (v.type == ValueType::kArray) {
      for (const AttributeValue& e : *v.arr) {
        switch (e.v.index()) {
          case 1:
            add(Static::Str(std::get<std::string>(e.v)));
            break;
          case 2:
            add(Static::Bool(std::get<bool>(e.v)));
            break;
          case 3:
            add(Static::Int(std::get<int64_t>(e.v)));
            break;
          case 4:
            add(Static::Float(std::get<double>(e.v)));
            break;
          default:
            break;
        }
      }
    } else if (v.type == ValueType::kMulti) {
      for (const Static& e : *v.multi) add_all(e);
    } else {
      add(v);
    }
  };
  SL_RETURN_IF_ERROR(ForEachFilteredSpan(
      source, req.query, req.start_unix_nano, req.end_unix_nano, [&](TraceEval& ev, uint32_t s) {
        if (f.kind == FieldExpr::Kind::kAttribute && f.scope == Scope::kNone && !f.parent) {
          // Unscoped: values from both spans and resources.
          add_all(ev.Attribute(Scope::kSpan, f.name, s));
          add_all(ev.Attribute(Scope::kResource, f.name, s));
        } else {
          add_all(ev.EvalField(f, s));
        }
        return seen.size() < limit;
      }));
  std::vector<TagValue> out;
  for (const auto& [value, type] : seen) out.push_back({type, value});
  return out;
}

}  // namespace sightline::traces::traceql
