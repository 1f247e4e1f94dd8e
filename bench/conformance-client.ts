/**
 * Child process of the conformance run: the HTTP cache test suite's own client (client/runner.mjs),
 * as its cli.mjs runs it, with a node-fetch-like fetch (below) instead of node-fetch. A process of
 * its own because the suite keeps its tests and results in module state: a second run in one
 * process would see the first one's tests again.
 *
 * argv: <suite folder> <base URL of the cache> <result file> [<test id>]
 * Writes `ClientReport` (conformance-report.ts) as JSON to the result file; with a test id, that test
 * alone runs with the suite's dump of requests and responses on stdout, as cli.mjs --id does.
 */
import { writeFileSync } from 'node:fs';
import { Agent, request, STATUS_CODES } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SUITE } from './conformance-suite.js';
import { OUTCOME_BY_SYMBOL, type ClientReport, type Kind, type RawResult, type TestReport } from './conformance-report.js';

/** One test as the suite declares it (tests/*.mjs), the fields read here. */
interface SuiteTest {
  readonly id: string;
  readonly name: string;
  readonly kind?: Kind;
  readonly browser_only?: boolean;
  readonly depends_on?: readonly string[];
  dump?: boolean;
}

interface SuiteGroup {
  readonly id: string;
  readonly name: string;
  readonly tests: SuiteTest[];
}

/** What client/runner.mjs, tests/index.mjs and lib/display.mjs export (0.4.5). */
interface Runner {
  runTests(tests: readonly SuiteGroup[], fetch: SuiteFetch, browserCache: boolean, base: string): Promise<void>;
  getResults(): Record<string, RawResult>;
}
interface Display {
  determineTestResult(suites: readonly SuiteGroup[], id: string, results: Record<string, RawResult>, honorDependencies?: boolean): readonly string[];
}

/** The fetch init the suite builds (client/fetching.mjs `init`, client/utils.mjs `putTestConfig`). */
interface SuiteInit {
  readonly method?: string;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  readonly body?: string;
  readonly redirect?: string;
  // `cache`, `mode`, `credentials`: browser notions, ignored as node-fetch ignores them.
}

/** The parts of a fetch Response the suite reads: status, statusText, headers (get, has, forEach, iteration), text(). */
interface SuiteResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  text(): Promise<string>;
}

type SuiteFetch = (url: string, init?: SuiteInit) => Promise<SuiteResponse>;

/** A request that gets no answer within this fails its test instead of hanging the run (node-fetch has no timeout). */
const REQUEST_TIMEOUT = 60_000;
const USER_AGENT = 'actorrt-conformance (http-cache-tests client)';

/**
 * The suite was written for node-fetch 2. Node's global fetch (undici) is not a drop-in: following
 * the Fetch standard, it adds `Pragma: no-cache` and `Cache-Control: no-cache` to every request with
 * a conditional header and, for the suite's `cache: 'no-store'`, to every request with headers of
 * its own (the suite's "dirty hack for Fetch" covers only requests without), so a cache under test
 * would see requests to bypass it that the tests never sent; it also adds `Accept-Language` and
 * `Sec-Fetch-Mode`. This fetch does what node-fetch does for what the suite uses: the suite's
 * headers in order (duplicates kept) plus `Host`, `Accept` and `User-Agent` when absent, `Content-Length`
 * for bodies (0 for a bodiless POST / PUT), any status (the suite's server answers 999), a
 * `Location` made absolute under `redirect: 'manual'`. No `Accept-Encoding` (node-fetch asks for
 * gzip and inflates it; the suite's server never compresses). A redirect is not followed: no test
 * of 0.4.5 needs it (the 3xx tests ask for `manual`), and one that did would fail with this message.
 */
function makeFetch(agent: Agent): SuiteFetch {
  return (url, init = {}) => new Promise((resolve, reject) => {
    const method = (init.method ?? 'GET').toUpperCase();
    const given = init.headers ?? [];
    const has = (name: string): boolean => given.some(([key]) => key.toLowerCase() === name);
    // Headers given as a list (to keep the suite's order and duplicates) get no Host from node:http.
    const raw = has('host') ? [] : ['Host', new URL(url).host];
    raw.push(...given.flatMap(([key, value]) => [key, value]));
    if (!has('accept')) raw.push('Accept', '*/*');
    if (!has('user-agent')) raw.push('User-Agent', USER_AGENT);
    if (init.body !== undefined) raw.push('Content-Length', String(Buffer.byteLength(init.body)));
    else if (method === 'POST' || method === 'PUT') raw.push('Content-Length', '0');
    const fail = (err: Error): void => {
      const error = new Error(`request to ${url} failed, reason: ${err.message}`);
      error.name = 'FetchError';
      reject(error);
    };
    const req = request(url, { method, headers: raw, agent, timeout: REQUEST_TIMEOUT }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('error', fail);
      res.once('end', () => {
        try {
          const status = res.statusCode ?? 0;
          const headers = new Headers();
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
          const location = headers.get('location');
          if (status >= 300 && status < 400 && location !== null) {
            if (init.redirect !== 'manual') throw new Error(`redirect to ${location} not followed (this client follows none; no test of the pinned suite needs it)`);
            headers.set('location', new URL(location, url).href);
          }
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status, statusText: res.statusMessage ?? STATUS_CODES[status] ?? '', headers, text: () => Promise.resolve(body) });
        } catch (err) {
          fail(err as Error);
        }
      });
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT / 1000} s`)));
    req.once('error', fail);
    req.end(init.body);
  });
}

async function main(): Promise<void> {
  const [suiteDir, baseUrl, resultFile, testId] = process.argv.slice(2);
  if (suiteDir === undefined || baseUrl === undefined || resultFile === undefined) {
    throw new Error('usage: conformance-client.js <suite folder> <base URL> <result file> [<test id>]');
  }
  const load = async (path: string): Promise<unknown> => import(pathToFileURL(join(suiteDir, path)).href);
  const runner = await load('client/runner.mjs') as Runner;
  const display = await load('lib/display.mjs') as Display;
  const suites = (await load('tests/index.mjs') as { default: SuiteGroup[] }).default;
  // cli.mjs adds the Surrogate-Control suite (only for caches other than browsers'): so do we.
  suites.push((await load('tests/surrogate-control.mjs') as { default: SuiteGroup }).default);

  let toRun = suites;
  if (testId !== undefined) {
    const group = suites.find((g) => g.tests.some((t) => t.id === testId));
    const test = group?.tests.find((t) => t.id === testId);
    if (group === undefined || test === undefined) throw new NoSuchTest(`no test "${testId}" in ${SUITE.name} ${SUITE.version}: --json lists the ids`);
    test.dump = true;
    process.stdout.write(`Running ${testId}\n`);
    toRun = [{ ...group, tests: [test] }];
  }

  const agent = new Agent({ keepAlive: true });
  const started = Date.now();
  try {
    await runner.runTests(toRun, makeFetch(agent), false, baseUrl.replace(/\/$/, ''));
  } finally {
    agent.destroy();
  }
  const results = runner.getResults();
  const tests: TestReport[] = [];
  for (const group of toRun) {
    for (const test of group.tests) {
      if (test.browser_only === true) continue; // runner.mjs skips them for a cache other than a browser's
      // The suite's own verdict, dependencies honoured as cache-tests.fyi shows them (cli.mjs --id does not).
      const symbol = display.determineTestResult(suites, test.id, results, testId === undefined)[2] ?? '';
      const outcome = OUTCOME_BY_SYMBOL[symbol];
      if (outcome === undefined) throw new Error(`lib/display.mjs gave ${JSON.stringify(symbol)} for ${test.id}: not a result symbol of ${SUITE.name} ${SUITE.version}`);
      tests.push({
        suite: group.id, suiteName: group.name, id: test.id, name: test.name, kind: test.kind ?? 'required',
        dependsOn: test.depends_on ?? [], outcome, result: results[test.id] ?? null,
      });
    }
  }
  const report: ClientReport = { tests, durationMs: Date.now() - started };
  writeFileSync(resultFile, JSON.stringify(report));
}

/** A test id the suite does not have: the user's mistake, told without a stack. */
class NoSuchTest extends Error {}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof NoSuchTest ? err.message : err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
