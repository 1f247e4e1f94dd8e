import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { after, before, describe, test } from 'node:test';
import { eventually, logsWith, writeProject } from '../helpers.js';
import { call, raw, runCli, startInstance, statusOf, until, type Instance } from './instance.js';

const TOPOLOGY = 'test/fixtures/metrics/actorrt.yml';

interface Sample { readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number }

/** The samples of a Prometheus text exposition (label values here never hold `",` or escapes). */
function parse(text: string): Sample[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((line) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m !== null, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[pair[1] as string] = pair[2] as string;
    return { name: m[1] as string, labels, value: Number(m[3]) };
  });
}

/** Samples of `name` whose labels include `match`. */
function pick(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}
const total = (samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): number =>
  pick(samples, name, match).reduce((n, s) => n + s.value, 0);

async function metricsUrl(app: Instance): Promise<string> {
  const status = await statusOf(app);
  assert.ok(status.metrics !== undefined && 'url' in status.metrics, `status names the metrics listener: ${JSON.stringify(status.metrics)}`);
  return status.metrics.url;
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await request(url);
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return parse(await res.body.text());
}

describe('metrics of the whole instance', () => {
  let app: Instance;
  let url: string;
  before(async () => {
    app = await startInstance(TOPOLOGY);
    url = await metricsUrl(app);
  });
  after(async () => { if (app !== undefined) assert.equal(await app.stop(), 0); });

  test('requests are counted by route pattern, method, status and pool, never by raw path; every process is there', { timeout: 30_000 }, async () => {
    for (let i = 0; i < 6; i++) assert.equal((await call(`${app.url}/echo/${i}`)).status, 200);
    assert.equal((await call(`${app.url}/nowhere/at/all`)).status, 404);
    assert.equal((await call(`${app.url}/any/1`, { method: 'PROPFIND' })).status, 200);
    assert.equal((await call(`${app.url}/slow?ms=2000`)).status, 504);
    assert.equal((await call(`${app.url}/cpu?ms=1`)).status, 200);
    assert.match((await raw(app.url, 'NOT HTTP AT ALL\r\n\r\n', 2000)).text, /^HTTP\/1\.1 400 /);
    const s = await scrape(url);
    assert.equal(total(s, 'actorrt_http_client_errors_total', { status: '400' }), 1, 'a connection answered before a request existed');
    assert.equal(total(s, 'actorrt_http_client_errors_total', { status: '431' }), 0, 'known statuses start at 0');
    assert.equal(total(s, 'actorrt_http_requests_total', { route: '/echo/:id', method: 'GET', status: '200', pool: 'echo' }), 6);
    assert.equal(pick(s, 'actorrt_http_requests_total').filter((x) => x.labels['route']?.startsWith('/echo/') === true && x.labels['route'] !== '/echo/:id').length, 0, 'no raw path');
    assert.equal(total(s, 'actorrt_http_requests_total', { route: '', status: '404' }), 1, 'unmatched requests under route=""');
    assert.equal(total(s, 'actorrt_http_requests_total', { route: '/any/:id', method: '_OTHER' }), 1, 'an unknown method is _OTHER');
    assert.equal(total(s, 'actorrt_pool_timeouts_total', { pool: 'slow' }), 1);
    assert.equal(total(s, 'http_server_request_duration_seconds_count', { route: '/echo/:id' }), 6);
    assert.equal(total(s, 'http_server_request_duration_seconds_bucket', { route: '/echo/:id', le: '+Inf' }), 6);
    const slow = pick(s, 'http_server_request_duration_seconds_bucket', { route: '/slow', status: '504' });
    assert.equal(slow.find((x) => x.labels['le'] === '0.1')?.value, 0, 'the 504 took longer than 100 ms');
    assert.equal(slow.find((x) => x.labels['le'] === '0.5')?.value, 1, '... and about the 300 ms timeout');
    // Every process: the primary, 2 front workers, 2 processes of the isolated pool.
    const up = pick(s, 'actorrt_process_up');
    assert.deepEqual(up.map((x) => x.labels['role']).sort(), ['front', 'front', 'pool', 'pool', 'primary']);
    assert.ok(up.every((x) => x.value === 1));
    assert.equal(pick(s, 'actorrt_process_cpu_seconds_total', { role: 'pool', pool: 'cpu' }).length, 2);
    assert.equal(total(s, 'actorrt_pool_actors_running', { pool: 'echo' }), 4, '2 actors in each of 2 front workers');
    assert.equal(total(s, 'actorrt_pool_processes_running', { pool: 'cpu' }), 2);
    assert.equal(total(s, 'actorrt_pool_size', { pool: 'cpu' }), 1);
    assert.equal(total(s, 'actorrt_front_workers'), 2);
  });

  test('counters stay monotonic when processes go: a killed front worker keeps its last scraped counts, a rolled one its final ones', { timeout: 90_000 }, async () => {
    const before = total(await scrape(url), 'actorrt_http_requests_total');
    const workers = (await statusOf(app)).workers.filter((w) => w.up);
    const killed = workers[0]?.pid as number;
    process.kill(killed, 'SIGKILL');
    await until(app, 'the killed worker replaced', (st) => st.workerRestarts >= 1 && st.workers.filter((w) => w.up).length === 2);
    const afterKill = total(await scrape(url), 'actorrt_http_requests_total');
    assert.ok(afterKill >= before, `${afterKill} >= ${before} after a kill -9`);
    // Requests served and never scraped, then every process replaced gracefully: their final counts are kept.
    for (let i = 0; i < 20; i++) assert.equal((await call(`${app.url}/echo/r${i}`)).status, 200);
    const rolled = await runCli(['reload', '--roll', '--pid-file', app.pidFile], 120_000);
    assert.equal(rolled.code, 0, rolled.stderr);
    const afterRoll = await scrape(url);
    assert.ok(total(afterRoll, 'actorrt_http_requests_total') >= afterKill + 20, 'the 20 requests served before the roll are still counted');
    assert.equal(total(afterRoll, 'actorrt_reloads_total', { trigger: 'command', result: 'applied' }), 1);
    assert.equal(pick(afterRoll, 'actorrt_process_up', { pid: String(killed) }).length, 0, 'a process that is gone is not listed');
  });

  test('a process that does not answer is shown as not up with its last values; the rest of the scrape is served', { timeout: 30_000 }, async () => {
    const first = await scrape(url);
    const victim = pick(first, 'actorrt_process_up', { role: 'pool', pool: 'cpu' })[0]?.labels['pid'];
    assert.ok(victim !== undefined);
    process.kill(Number(victim), 'SIGSTOP');
    try {
      const s = await scrape(url);
      assert.equal(pick(s, 'actorrt_process_up', { pid: victim })[0]?.value, 0, 'the paused process is not up');
      assert.ok(pick(s, 'actorrt_process_up').filter((x) => x.labels['pid'] !== victim).every((x) => x.value === 1), 'the others answered');
      assert.equal(pick(s, 'actorrt_process_resident_memory_bytes', { pid: victim }).length, 1, 'its last known values are still shown');
      assert.ok(total(s, 'actorrt_scrape_duration_seconds') >= 0);
    } finally {
      process.kill(Number(victim), 'SIGCONT');
    }
    await eventually('the process answers again', async () => pick(await scrape(url), 'actorrt_process_up', { pid: victim })[0]?.value === 1, 10_000);
  });

  test('http.metricsPath serves the same exposition on the service\'s port, through the primary', { timeout: 30_000 }, async () => {
    const res = await request(`${app.url}/internal/metrics`);
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const s = parse(await res.body.text());
    assert.ok(total(s, 'actorrt_http_requests_total', { route: '/echo/:id' }) >= 6);
    assert.ok(pick(s, 'actorrt_process_up').length >= 5, 'every process (a worker retiring after the roll above may still be listed)');
    const om = await request(`${app.url}/internal/metrics`, { headers: { accept: 'application/openmetrics-text' } });
    assert.ok((await om.body.text()).endsWith('# EOF\n'));
  });

  test('OpenMetrics when the scraper asks for it; only /metrics is served', { timeout: 30_000 }, async () => {
    const res = await request(url, { headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' } });
    assert.match(String(res.headers['content-type']), /^application\/openmetrics-text; version=1\.0\.0/);
    const text = await res.body.text();
    assert.ok(text.endsWith('# EOF\n'));
    assert.match(text, /^# TYPE actorrt_http_requests counter$/m);
    assert.match(text, /^actorrt_http_requests_total\{/m);
    assert.doesNotMatch(text, /_total_total/);
    const other = await request(url.replace('/metrics', '/other'));
    assert.equal(other.statusCode, 404);
    await other.body.dump();
  });
});

describe('the metrics listener', () => {
  test('a taken address does not stop the instance: it serves on, and says so in its log and status', { timeout: 60_000 }, async (t) => {
    const first = await startInstance(TOPOLOGY, [], t);
    const taken = await metricsUrl(first);
    const port = new URL(taken).port;
    const file = writeProject(`version: 1\nhttp: { workers: 1, host: 127.0.0.1 }\nadmin: { metrics: "127.0.0.1:${port}" }\npools:\n  echo:\n    actor: ./echo.mjs\nroutes:\n  - match: { path: /e }\n    pool: echo\n`,
      { 'echo.mjs': 'export default { receive: () => ({ ok: true }) };\n' });
    const second = await startInstance(file, [], t);
    assert.equal((await call(`${second.url}/e`)).status, 200);
    const status = await statusOf(second);
    assert.ok(status.metrics !== undefined && 'error' in status.metrics && status.metrics.error.startsWith('ACTORRT_E_METRICS_LISTEN'), JSON.stringify(status.metrics));
    assert.equal(logsWith(second.stderr(), { code: 'ACTORRT_E_METRICS_LISTEN' }).length, 1);
    const printed = await runCli(['status', '--pid-file', second.pidFile]);
    assert.match(printed.stdout, /^metrics: none \(ACTORRT_E_METRICS_LISTEN/m);
    assert.equal(await second.stop(), 0);
    assert.equal(await first.stop(), 0);
  });

  test('a reload turns the listener on, moves it and turns it off, and counting with it', { timeout: 60_000 }, async (t) => {
    const topology = (metrics: string): string => `version: 1\nhttp: { workers: 1, host: 127.0.0.1 }\nadmin: { metrics: ${metrics} }\npools:\n  echo:\n    actor: ./echo.mjs\nroutes:\n  - match: { path: /e }\n    pool: echo\n`;
    const file = writeProject(topology('false'), { 'echo.mjs': 'export default { receive: () => ({ ok: true }) };\n' });
    const app = await startInstance(file, ['--no-watch'], t);
    assert.equal((await call(`${app.url}/e`)).status, 200, 'not counted: metrics are off');
    writeFileSync(file, topology('"127.0.0.1:0"'));
    const on = await runCli(['reload', file, '--pid-file', app.pidFile]);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /admin\.metrics: off -> 127\.0\.0\.1:0 \(listener opened\)/);
    const url = await metricsUrl(app);
    assert.equal((await call(`${app.url}/e`)).status, 200);
    assert.equal(total(await scrape(url), 'actorrt_http_requests_total', { route: '/e' }), 1, 'counted from the reload on');
    writeFileSync(file, topology('false'));
    assert.equal((await runCli(['reload', file, '--pid-file', app.pidFile])).code, 0);
    assert.equal((await statusOf(app)).metrics, undefined);
    await assert.rejects(request(url), 'the listener is closed');
    assert.equal(await app.stop(), 0);
  });

  test('admin.metrics: false serves no listener', { timeout: 60_000 }, async (t) => {
    const file = writeProject('version: 1\nhttp: { workers: 1, host: 127.0.0.1 }\nadmin: { metrics: false }\npools:\n  echo:\n    actor: ./echo.mjs\nroutes:\n  - match: { path: /e }\n    pool: echo\n',
      { 'echo.mjs': 'export default { receive: () => ({ ok: true }) };\n' });
    const app = await startInstance(file, [], t);
    assert.equal((await statusOf(app)).metrics, undefined);
    assert.equal(logsWith(app.stderr(), { msg: 'metrics listener ready' }).length, 0);
    assert.equal(await app.stop(), 0);
  });
});
