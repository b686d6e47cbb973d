// Logs a few lines through winston-loki (the Winston transport for Grafana
// Loki) to the Loki push endpoint at argv[2]: protobuf + snappy by default,
// JSON with argv[3] === 'json'. Exits non-zero when the transport reports an
// error. Run by clients_test.cc with NODE_PATH=.tools/node_modules.
'use strict';

const { createLogger, format } = require('winston');
const LokiTransport = require('winston-loki');

const host = process.argv[2];
const json = process.argv[3] === 'json';
let failed = null;
const transport = new LokiTransport({
  host,
  json,
  batching: false,
  labels: { app: 'winston', mode: json ? 'json' : 'proto' },
  format: format.simple(),
  onConnectionError: (err) => { failed = err; },
  timeout: 5000,
});
const logger = createLogger({ transports: [transport] });
for (let i = 0; i < 3; i++) {
  logger.info({ message: `winston line ${i}`, labels: { job: 'client-test' } });
}
logger.error('winston failure trace_id=5b8efff798038103d269b633813fc60c');
setTimeout(() => {
  if (failed) {
    console.error('push failed:', failed);
    process.exit(1);
  }
  process.exit(0);
}, 2500);
