// Sends one trace (a server span with two children, one of them an error)
// with the OpenTelemetry JS SDK to the OTLP endpoint in argv[3], over the
// transport in argv[2] ("http": OTLP/HTTP protobuf; "grpc": OTLP/gRPC), then
// prints {"traceId": "..."} and exits. Run by otel_js_test.cc with NODE_PATH
// pointing at the npm test peers (.tools/node_modules).
'use strict';

const api = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');

async function main() {
  const transport = process.argv[2];
  const url = process.argv[3];
  let exporter;
  if (transport === 'grpc') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
    exporter = new OTLPTraceExporter({ url });
  } else {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
    exporter = new OTLPTraceExporter({ url });
  }
  let exportError = null;
  const processor = new SimpleSpanProcessor({
    export(spans, done) {
      exporter.export(spans, (result) => {
        if (result.code !== 0) exportError = result.error || new Error('export failed');
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'shop-js-' + transport, 'host.name': 'h1' }),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('sightline-test', '1.2.3');
  const root = tracer.startSpan('GET /checkout', {
    kind: api.SpanKind.SERVER,
    attributes: { 'http.method': 'GET', 'http.status_code': 200 },
  });
  const ctx = api.trace.setSpan(api.context.active(), root);
  const child = tracer.startSpan('SELECT orders', { kind: api.SpanKind.CLIENT,
                                                    attributes: { 'db.system': 'postgresql' } }, ctx);
  child.addEvent('rows fetched', { rows: 3 });
  child.end();
  const failing = tracer.startSpan('charge card', { kind: api.SpanKind.CLIENT }, ctx);
  failing.setStatus({ code: api.SpanStatusCode.ERROR, message: 'card declined' });
  failing.end();
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  if (exportError) {
    console.error('export failed:', exportError);
    process.exit(1);
  }
  console.log(JSON.stringify({ traceId: root.spanContext().traceId }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
