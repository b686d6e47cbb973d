// Pushes CPU/wall profiles to Sightline with the real Pyroscope Node SDK
// (@pyroscope/nodejs) while burning CPU in a function with a known name.
// Usage: node node_sdk_push.js <server url> <app name> <seconds>
'use strict';
const Pyroscope = require('@pyroscope/nodejs');

const [server, appName, seconds] = process.argv.slice(2);

function burnCpuInNamedFunction(ms) {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) {
    for (let i = 0; i < 1000; i++) x += Math.sqrt(i + x);
  }
  return x;
}

async function main() {
  Pyroscope.init({
    serverAddress: server,
    appName,
    tags: { region: 'eu-west-1' },
    flushIntervalMs: 1000,
    wall: { samplingDurationMs: 1000, collectCpuTime: true },
  });
  Pyroscope.start();
  const stopAt = Date.now() + Number(seconds) * 1000;
  while (Date.now() < stopAt) {
    burnCpuInNamedFunction(50);
    await new Promise((r) => setImmediate(r));
  }
  await Pyroscope.stop();
  // Give the last upload time to finish.
  await new Promise((r) => setTimeout(r, 500));
  console.log('done');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
