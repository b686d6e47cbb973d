// Sends the four kinds of traces the seed's gateway policies tell apart with
// the OpenTelemetry JS SDK over OTLP/HTTP protobuf to argv[2] (a Sightline
// gateway's /v1/traces), then prints
//   {"error": [ids], "slow": [ids], "payments": [ids], "ordinary": [ids]}
// argv[3]: how many ordinary traces (default 200); argv[4]: how many of each
// other kind (default 10). Run by gateway_test.cc with NODE_PATH pointing at
// the npm test peers (.tools/node_modules).
'use strict';

const api = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');

function provider(service, url) {
  const exporter = new OTLPTraceExporter({ url });
  let failed = null;
  const wrapped = {
    export(spans, done) {
      exporter.export(spans, (result) => {
        if (result.code !== 0) failed = result.error || new Error('export failed');
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  };
  const p = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new BatchSpanProcessor(wrapped, {
      maxExportBatchSize: 256, scheduledDelayMillis: 50, maxQueueSize: 100000 })],
  });
  return { p, tracer: p.getTracer('sightline-gateway-test', '1.0.0'), failed: () => failed };
}

// A server span with one client child; `opts` makes it an error or slow.
function trace(tracer, name, opts) {
  const now = Date.now();
  const start = opts.slow ? now - 3000 : now - 20;
  const root = tracer.startSpan(name, { kind: api.SpanKind.SERVER, startTime: start });
  const ctx = api.trace.setSpan(api.context.active(), root);
  const child = tracer.startSpan('db query', { kind: api.SpanKind.CLIENT, startTime: start + 1 },
                                 ctx);
  if (opts.error) child.setStatus({ code: api.SpanStatusCode.ERROR, message: 'boom' });
  child.end(start + 5);
  root.end(now);
  return root.spanContext().traceId;
}

async function main() {
  const url = process.argv[2];
  const ordinary = Number(process.argv[3] || 200);
  const each = Number(process.argv[4] || 10);
  const shop = provider('shop', url);
  const payments = provider('payments', url);
  const out = { error: [], slow: [], payments: [], ordinary: [] };
  for (let i = 0; i < each; i++) {
    out.error.push(trace(shop.tracer, 'GET /cart', { error: true }));
    out.slow.push(trace(shop.tracer, 'GET /search', { slow: true }));
    out.payments.push(trace(payments.tracer, 'POST /charge', {}));
  }
  for (let i = 0; i < ordinary; i++) out.ordinary.push(trace(shop.tracer, 'GET /home', {}));
  for (const x of [shop, payments]) {
    await x.p.forceFlush();
    await x.p.shutdown();
    if (x.failed()) {
      console.error('export failed:', x.failed());
      process.exit(1);
    }
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
