// Exports a counter, an observable gauge and a histogram with the
// OpenTelemetry JS SDK over OTLP/HTTP protobuf to the URL in argv[2], once,
// then exits. Run by otel_js_test.cc with NODE_PATH pointing at the npm test
// peers (.tools/node_modules).
'use strict';

const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto');
const { resourceFromAttributes } = require('@opentelemetry/resources');

async function main() {
  const url = process.argv[2];
  const exporter = new OTLPMetricExporter({ url });
  let exportError = null;
  const reader = new PeriodicExportingMetricReader({
    exporter: {
      export(metrics, done) {
        exporter.export(metrics, (result) => {
          if (result.code !== 0) exportError = result.error || new Error('export failed');
          done(result);
        });
      },
      forceFlush: () => exporter.forceFlush(),
      shutdown: () => exporter.shutdown(),
      selectAggregationTemporality: (kind) => exporter.selectAggregationTemporality(kind),
      selectAggregation: exporter.selectAggregation ? (kind) => exporter.selectAggregation(kind) : undefined,
    },
    exportIntervalMillis: 3600000,
  });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      'service.name': 'shop-js',
      'service.namespace': 'demo',
      'service.instance.id': 'js-1',
      'host.name': 'h1',
    }),
    readers: [reader],
  });
  const meter = provider.getMeter('sightline-test', '1.0.0');

  const orders = meter.createCounter('orders.placed', { unit: '{order}', description: 'Orders placed' });
  orders.add(3, { region: 'eu' });

  const depth = meter.createObservableGauge('queue.depth', { unit: '{item}' });
  depth.addCallback((r) => r.observe(7, { queue: 'q1' }));

  const latency = meter.createHistogram('http.server.duration', { unit: 'ms' });
  latency.record(12, { route: '/cart' });
  latency.record(250, { route: '/cart' });

  await reader.forceFlush();
  await provider.shutdown();
  if (exportError) {
    console.error('export failed:', exportError);
    process.exit(1);
  }
  console.log('exported');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
