// Emits log records with the OpenTelemetry JS logs SDK over OTLP/HTTP
// protobuf to argv[2] (…/v1/logs), one inside a span context so that it
// carries trace_id/span_id, then flushes and exits (non-zero on export
// failure). Run by clients_test.cc with NODE_PATH=.tools/node_modules.
'use strict';

const api = require('@opentelemetry/api');
const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-proto');
const { resourceFromAttributes } = require('@opentelemetry/resources');

async function main() {
  const exporter = new OTLPLogExporter({ url: process.argv[2] });
  let exportError = null;
  const wrapped = {
    export(logs, done) {
      exporter.export(logs, (result) => {
        if (result.code !== 0) exportError = result.error || new Error('export failed');
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush ? exporter.forceFlush() : Promise.resolve(),
  };
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'otel-js', 'deployment.environment': 'test',
                                       'host.name': 'box-1' }),
    processors: [new SimpleLogRecordProcessor({ exporter: wrapped })],
  });
  const logger = provider.getLogger('client-test', '1.0.0');
  logger.emit({ severityNumber: 9, severityText: 'INFO', body: 'otel hello',
                attributes: { 'user.id': 'u42' } });
  const spanCtx = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7',
                    traceFlags: 1 };
  const ctx = api.trace.setSpanContext(api.context.active(), spanCtx);
  logger.emit({ severityNumber: 17, severityText: 'ERROR', body: 'otel failure', context: ctx });
  await provider.forceFlush();
  await provider.shutdown();
  if (exportError) {
    console.error('export failed:', exportError);
    process.exit(1);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
