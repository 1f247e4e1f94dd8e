import { availableParallelism } from 'node:os';
import { autoscaleScenario } from './autoscale.js';
import { busAlternativesScenario } from './bus-alternatives.js';
import { cacheScenario } from './cache.js';
import { connectionSpreadScenario } from './connection-spread.js';
import { coldStartScenario } from './cold-start.js';
import { inlineScenario } from './http.js';
import { isolatedScenario, isolationScenario, threadsScenario } from './isolated.js';
import { metricsScenario } from './metrics.js';
import { profileScenario } from './profile.js';
import { benchCodec } from './codec.js';
import { reloadScenario } from './reload.js';
import { scaleOutScenario } from './scale-out.js';
import { proxyScenario, sqliteScenario } from './resources.js';
import { writeReport } from './report.js';
import { slowlorisScenario } from './slowloris.js';
import { benchValidate } from './validate.js';
import { traceScenario } from './trace.js';

/**
 * `npm run bench`: every scenario side by side with its baseline in one run; medians of 3.
 * BENCH_SECONDS / BENCH_ROUNDS shorten or lengthen the runs; BENCH_ONLY=validate|codec|inline|isolated|threads|isolation|sqlite|proxy|reload|cache|slowloris|metrics|trace|profile|scale-out|bus-alternatives|connection-spread|cold-start|autoscale picks one.
 * A full run writes its output into docs/benchmarks.md (between the bench:report markers).
 */
const seconds = Number(process.env['BENCH_SECONDS'] ?? 10);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const only = process.env['BENCH_ONLY'];
const workers = availableParallelism();

/** Every scenario, in the order a full run takes them; BENCH_ONLY names one. */
const SCENARIOS: Readonly<Record<string, () => Promise<void> | void>> = {
  validate: () => {
    const v = benchValidate(500);
    process.stdout.write(`## validate, 500 routes\nloadConfig ${v.inProcessMs.toFixed(1)} ms (median of 7, warm); `
      + `\`actorrt validate\` end to end ${v.cliMs.toFixed(0)} ms (median of 7, incl. node start-up)\n`);
  },
  codec: () => {
    const c = benchCodec();
    process.stdout.write(`\n## channel frame codec (encode + decode of one request and its reply, best of 3)\n`
      + `JSON frames ${c.json.toFixed(2)} us, v8.serialize ${c.v8.toFixed(2)} us\n`);
  },
  inline: () => inlineScenario(workers, rounds, seconds),
  isolated: () => isolatedScenario(workers, rounds, seconds),
  threads: () => threadsScenario(workers, rounds, seconds),
  isolation: () => isolationScenario(workers, rounds, seconds),
  sqlite: () => sqliteScenario(workers, rounds, seconds),
  proxy: () => proxyScenario(workers, rounds, seconds),
  reload: () => reloadScenario(workers, rounds, seconds),
  cache: () => cacheScenario(workers, rounds, seconds),
  slowloris: () => slowlorisScenario(workers, rounds, seconds),
  metrics: () => metricsScenario(workers, rounds, seconds),
  trace: () => traceScenario(workers, rounds, seconds),
  profile: () => profileScenario(workers, rounds, seconds),
  'scale-out': () => scaleOutScenario(rounds, seconds),
  'bus-alternatives': () => busAlternativesScenario(rounds),
  'connection-spread': () => connectionSpreadScenario(workers, rounds, seconds),
  'cold-start': () => coldStartScenario(rounds),
  autoscale: () => autoscaleScenario(),
};

if (only !== undefined && !(only in SCENARIOS)) {
  process.stderr.write(`BENCH_ONLY=${only} is not a scenario; use one of ${Object.keys(SCENARIOS).join(', ')}\n`);
  process.exit(2);
}
// Everything the scenarios print is the report; a full run also writes it into docs/benchmarks.md.
let output = '';
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
  output += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;
const started = new Date();
for (const [name, run] of Object.entries(SCENARIOS)) {
  if (only === undefined || only === name) await run();
}
if (only === undefined && process.env['BENCH_WRITE'] !== '0') {
  writeReport(output, started);
  write('\nwritten to docs/benchmarks.md (BENCH_WRITE=0 to skip)\n');
}
