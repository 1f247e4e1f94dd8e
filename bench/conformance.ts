/**
 * `npm run conformance`: the public HTTP cache test suite (cache-tests.fyi) against a real actorrt
 * instance. Prints the score and the failing required tests; exit 0 whenever the suite ran (the
 * score is information), 1 when the harness failed, 2 for a usage error, 130 on Ctrl-C.
 */
import { parseArgs } from 'node:util';
import { runConformance, type ConformanceResult } from './conformance-run.js';
import { detail, formatFailures, formatScore } from './conformance-report.js';

const USAGE = `usage: npm run conformance -- [--store memory|redis] [--workers N] [--key <template>] [--json] [--id <test-id>]
  --store     the route cache's store (memory; redis uses redis://127.0.0.1:6379, or $CONFORMANCE_REDIS_URL)
  --workers   front workers of the instance (1)
  --key       the cached route's key template ({method}:{url}, the route default)
  --json      print the full results as JSON instead of the summary
  --id        run one test, with the suite's dump of every request and response
`;

function usage(message: string): never {
  process.stderr.write(`${message}\n${USAGE}`);
  process.exit(2);
}

function options(): { store: 'memory' | 'redis'; workers: number; json: boolean; id?: string; key?: string } {
  let values;
  try {
    ({ values } = parseArgs({
      options: { store: { type: 'string' }, workers: { type: 'string' }, json: { type: 'boolean' }, id: { type: 'string' }, key: { type: 'string' }, help: { type: 'boolean' } },
    }));
  } catch (err) {
    return usage((err as Error).message);
  }
  if (values.help === true) { process.stdout.write(USAGE); process.exit(0); }
  const store = values.store ?? 'memory';
  if (store !== 'memory' && store !== 'redis') return usage(`--store ${store}: use memory or redis`);
  const workers = Number(values.workers ?? '1');
  if (!Number.isSafeInteger(workers) || workers < 1) return usage(`--workers ${String(values.workers)}: a whole number >= 1`);
  return { store, workers, json: values.json === true, ...(values.id === undefined ? {} : { id: values.id }), ...(values.key === undefined ? {} : { key: values.key }) };
}

function summary(result: ConformanceResult): string {
  return `${result.suite.name} ${result.suite.version} against actorrt (${result.store} store, ${result.workers} worker${result.workers === 1 ? '' : 's'}, `
    + `cache key "${result.cacheKey}"): ${result.tests.length} tests, suite ${(result.suiteMs / 1000).toFixed(1)} s, run ${(result.durationMs / 1000).toFixed(1)} s\n`
    + `${formatScore(result.score)}`;
}

async function main(): Promise<void> {
  const opts = options();
  const stop = new AbortController();
  const interrupt = (): void => {
    process.exitCode = 130;
    stop.abort(new Error('interrupted; everything the run started was stopped'));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const redisUrl = process.env['CONFORMANCE_REDIS_URL'];
  const result = await runConformance({
    store: opts.store, workers: opts.workers, signal: stop.signal, ...(opts.key === undefined ? {} : { key: opts.key }),
    ...(redisUrl === undefined ? {} : { redisUrl }),
    ...(opts.id === undefined ? {} : { id: opts.id, onOutput: (text: string) => { process.stdout.write(text); } }),
  });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else if (opts.id !== undefined) {
    const test = result.tests.find((t) => t.id === opts.id);
    process.stdout.write(`==== Results\n${opts.id}: ${test === undefined ? 'not run' : test.outcome === 'pass' || test.outcome === 'yes' ? test.outcome : `${test.outcome} — ${detail(test, result.tests)}`}\n`);
  } else {
    const failures = formatFailures(result.tests);
    process.stdout.write(`${summary(result)}${failures === '' ? '' : `\n${failures}`}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`conformance: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.exitCode !== 130) process.exitCode = 1;
});
