// A second client for Tempo's streaming querier: Node's @grpc/grpc-js with
// @grpc/proto-loader reading our proto/tempo/tempo.proto. Calls Search,
// MetricsQueryRange, SearchTagsV2 and SearchTagValuesV2 on the target in
// argv[2] ("host:port", plaintext) as tenant argv[3], and a Search with a bad
// query; prints one JSON line with what came back (message counts, the
// merged answers' key facts, the bad query's status code); with argv[4]
// "jobs" only a streamed search of everything and, with argv[5]/argv[6]
// (start/end in ns), a streamed MetricsQueryInstant merged as progress (a
// series' latest value wins). Run by
// streaming_querier_test.cc with NODE_PATH at the npm test peers.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const target = process.argv[2];
const tenant = process.argv[3];
const protoDir = path.join(__dirname, '..', '..', 'proto');
const def = protoLoader.loadSync('tempo/tempo.proto', {
  includeDirs: [protoDir],
  longs: String,
  defaults: true,
});
const tempopb = grpc.loadPackageDefinition(def).tempopb;
const client = new tempopb.StreamingQuerier(target, grpc.credentials.createInsecure());

function call(method, req) {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    md.set('x-scope-orgid', tenant);
    const msgs = [];
    const stream = client[method](req, md, { deadline: Date.now() + 30000 });
    stream.on('data', (m) => msgs.push(m));
    stream.on('error', (e) => resolve({ msgs, code: e.code, message: e.details }));
    stream.on('end', () => resolve({ msgs, code: 0 }));
  });
}

// A streamed search merged as Grafana merges it: each message's traces
// appended (first occurrence kept), metrics from the last message.
async function search(query, limit) {
  const s = await call('Search', { query, limit });
  const last = s.msgs[s.msgs.length - 1] || { traces: [], metrics: {} };
  const ids = [];
  let duplicates = 0;
  for (const m of s.msgs) {
    for (const t of m.traces) {
      const id = t.traceId || t.traceID;
      if (ids.includes(id)) duplicates++;
      else ids.push(id);
    }
  }
  return {
    code: s.code,
    messages: s.msgs.length,
    messagesWithTraces: s.msgs.filter((m) => m.traces.length > 0).length,
    completedJobsSeq: s.msgs.map((m) => m.metrics.completedJobs),
    duplicates,
    traceIds: ids.sort(),
    completedJobs: last.metrics.completedJobs,
    totalJobs: last.metrics.totalJobs,
  };
}

async function main() {
  const out = {};
  if (process.argv[4] === 'jobs') {
    // Only the progressive search (the many-block server).
    out.search = await search('{ }', 1000);
    if (process.argv[5]) {
      const i = await call('MetricsQueryInstant', {
        query: '{ } | count_over_time() by (resource.service.name)',
        start: process.argv[5],
        end: process.argv[6],
      });
      const values = {};
      for (const m of i.msgs) for (const ser of m.series) values[ser.promLabels] = ser.value;
      const ilast = i.msgs[i.msgs.length - 1] || { metrics: {} };
      out.instant = {
        code: i.code,
        messages: i.msgs.length,
        values,
        completedJobs: ilast.metrics.completedJobs,
        totalJobs: ilast.metrics.totalJobs,
      };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
    client.close();
    return;
  }
  out.search = await search('{ resource.service.name = "frontend" }', 20);
  const nowNs = BigInt(Date.now()) * 1000000n;
  const m = await call('MetricsQueryRange', {
    query: '{ } | count_over_time() by (resource.service.name)',
    start: (nowNs - 3600n * 1000000000n).toString(),
    end: (nowNs + 60n * 1000000000n).toString(),
    step: (60n * 1000000000n).toString(),
  });
  const mlast = m.msgs[m.msgs.length - 1] || { series: [] };
  let total = 0;
  for (const ser of mlast.series) for (const p of ser.samples) total += p.value;
  out.metrics = {
    code: m.code,
    messages: m.msgs.length,
    series: mlast.series.map((x) => x.promLabels).sort(),
    total,
  };
  const t = await call('SearchTagsV2', {});
  const tlast = t.msgs[t.msgs.length - 1] || { scopes: [] };
  out.tags = { code: t.code, scopes: tlast.scopes.map((x) => x.name).sort() };
  const v = await call('SearchTagValuesV2', { tagName: 'resource.service.name' });
  const vlast = v.msgs[v.msgs.length - 1] || { tagValues: [] };
  out.values = { code: v.code, values: vlast.tagValues.map((x) => x.value).sort() };
  const bad = await call('Search', { query: '{ span.foo = }' });
  out.bad = { code: bad.code, message: bad.message };
  process.stdout.write(JSON.stringify(out) + '\n');
  client.close();
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
