import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, request } from 'undici';
import { FAMILIES } from '../../runtime/protocol/metric-families.js';
import { eventually, ROOT, tempDir, within, writeProject } from '../helpers.js';
import { call, errorOf, startInstance, statusOf, until, type Answer, type Instance } from './instance.js';
import { needTools } from './services.js';

/** What Prometheus 2.x sends on every scrape: OpenMetrics first, the text format as the fallback. */
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const EXAMPLES = join(ROOT, 'examples', 'prometheus');
const skip = needTools(['promtool', 'prometheus'], 'apt-get install prometheus');

/** Run a tool to completion with `input` on its stdin. */
function run(command: string, args: readonly string[], input = '', timeout = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdin.end(input);
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return within(`${command} ${args.join(' ')}`, exited, timeout, 'did not exit').finally(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
}

/** One sample of an exposition (Prometheus text or OpenMetrics): name, labels, value. */
interface Sample { readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number; readonly key: string }

/** The samples and `# TYPE` lines of an exposition (label values here never hold an escaped quote). */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types.set(type[1] as string, type[2] as string);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m !== null, `not a sample line: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)].map((l) => [l[1] as string, l[2] as string]));
    samples.push({ name: m[1] as string, labels, value: Number(m[3]), key: `${m[1] as string}{${m[2] ?? ''}}` });
  }
  return { samples, types };
}

/** The sum of the samples named `name` whose labels include `labels`. */
function sum(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

async function scrape(url: string, accept?: string): Promise<Answer> {
  const answer = await call(url, accept === undefined ? {} : { headers: { accept } });
  assert.equal(answer.status, 200, answer.text);
  return answer;
}

/** A plain node:http upstream for the proxy route. */
async function upstream(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('from the upstream'); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const topology = (origin: string): string => `version: 1
http: { port: 0, host: 127.0.0.1, workers: 2, shutdownTimeout: 5s }
admin: { metrics: 127.0.0.1:0 }       # never the default 9464: test files run side by side
resources:
  origin: { type: http, origins: [${origin}] }
caches:
  local: { store: memory, maxEntries: 100, ttl: 10m }
pools:
  inline: { actor: ./actors/echo.mjs, size: 2 }
  iso: { actor: ./actors/echo.mjs, processes: 2, size: 1 }
  gate: { actor: ./actors/gate.mjs, size: 1, mailbox: { capacity: 1 }, timeout: 60s }
routes:
  - match: { method: GET, path: /inline/:id }
    pool: inline
  - match: { method: GET, path: /cached/:id }
    pool: inline
    cache: { use: local, key: "c:{params.id}" }
  - match: { method: GET, path: /iso/:id }
    pool: iso
  - match: { method: GET, path: /gate }    # ?file=<path>: answered once the test creates it
    pool: gate
  - match: { path: /up/* }
    proxy: origin
    stripPrefix: /up
`;

const ACTORS = {
  'actors/echo.mjs': 'export default { receive: (_state, req) => ({ status: 200, body: { path: req.path } }) };\n',
  'actors/gate.mjs': `import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
export default { receive: async (_state, req) => { while (!existsSync(req.query.file)) await sleep(10); return { released: true }; } };
`,
};

/** Prometheus server started by a test: its base URL, and its log for failure messages. */
interface PrometheusServer { readonly url: string; log(): string }

/**
 * Start Debian's Prometheus on a free port (`:0`, read back from its "Listening on" log line)
 * with `config`, its data under `dir`; stopped (SIGTERM, SIGKILL if it lingers) and `dir`
 * removed when the test ends, pass or fail.
 */
async function startPrometheus(t: { after(fn: () => unknown): void }, dir: string, config: string): Promise<PrometheusServer> {
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const child: ChildProcess = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    '--web.listen-address=127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await within('prometheus stopping', exited, 10_000).catch(async () => { child.kill('SIGKILL'); await exited; });
    rmSync(dir, { recursive: true, force: true });
  });
  let url = '';
  await eventually('prometheus listens', () => {
    const m = /msg="Listening on" address=(\S+)/.exec(log);
    if (m !== null) url = `http://${m[1] as string}`;
    assert.equal(child.exitCode, null, `prometheus exited:\n${log}`);
    return m !== null;
  }, 30_000, () => log, 50);
  await eventually('prometheus is ready', async () => (await request(`${url}/-/ready`).then(async (r) => { await r.body.dump(); return r.statusCode; }, () => 0)) === 200,
    30_000, () => log, 100);
  return { url, log: () => log };
}

/** GET a Prometheus HTTP API path; its `data` (the call fails unless the status is success). */
async function api(base: string, path: string, query: Record<string, string> = {}): Promise<unknown> {
  const res = await request(`${base}${path}`, { query });
  const body = await res.body.json() as { status: string; data: unknown; error?: string };
  assert.equal(body.status, 'success', `${path} ${JSON.stringify(query)}: ${body.error ?? ''}`);
  return body.data;
}

/** The instant vector of `expr`: one value per label set (labels rendered as JSON). */
async function instant(base: string, expr: string): Promise<Map<string, number>> {
  const data = await api(base, '/api/v1/query', { query: expr }) as { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  return new Map(data.result.map((r) => [JSON.stringify(r.metric), Number(r.value[1])]));
}

describe('actorrt metrics read by the real Prometheus tools', { skip }, () => {
  let origin: Awaited<ReturnType<typeof upstream>>;
  let app: Instance;
  let metricsUrl: string;
  let metricsAddress: string;
  /** Requests of each kind sent by `before` (every one checked). */
  let inlineSent = 0;
  let refused = 0;

  before(async () => {
    origin = await upstream();
    app = await startInstance(writeProject(topology(origin.origin), ACTORS));
    const { metrics } = await statusOf(app);
    assert.ok(metrics !== undefined && 'url' in metrics, `the instance serves metrics: ${JSON.stringify(metrics)}`);
    metricsUrl = metrics.url;
    metricsAddress = new URL(metrics.url).host;

    for (let i = 0; i < 10; i++, inlineSent++) assert.equal((await call(`${app.url}/inline/${i}`)).status, 200);
    for (let i = 0; i < 6; i++) assert.equal((await call(`${app.url}/iso/${i}`)).status, 200);
    // Memory stores are per process: the repeat goes over the same connection, to the same worker.
    const one = new Client(app.url);
    try {
      for (const path of ['/cached/1', '/cached/1', '/cached/2']) assert.equal((await call(`${app.url}${path}`, { dispatcher: one })).status, 200);
    } finally {
      await one.close();
    }
    assert.equal((await call(`${app.url}/up/x`)).status, 200);
    assert.equal((await call(`${app.url}/nowhere`)).status, 404);

    // gate: 1 actor with a mailbox of 1 in each of 2 workers. 8 requests held at once cannot all
    // fit: each is refused at once (503) or waits in the pool until the file exists.
    const file = join(tempDir('gate'), 'open');
    const held = Array.from({ length: 8 }, () => call(`${app.url}/gate?file=${encodeURIComponent(file)}`).then((a) => {
      if (a.status === 503) refused++;
      return a;
    }));
    try {
      await until(app, 'all 8 gated requests refused or queued', (s) => refused + (s.pools.find((p) => p.name === 'gate')?.depth ?? 0) === 8);
    } finally {
      writeFileSync(file, '');
    }
    const answers = await Promise.all(held);
    assert.ok(refused > 0, 'some gated requests were refused');
    for (const a of answers.filter((x) => x.status === 503)) assert.equal(errorOf(a).code, 'ACTORRT_E_MAILBOX_FULL');
    assert.equal(answers.filter((a) => a.status === 200).length, 8 - refused);
  });

  after(async () => {
    if (app !== undefined) assert.equal(await app.stop(), 0);
    if (origin !== undefined) await new Promise((resolve) => origin.server.close(resolve));
  });

  test('promtool check metrics finds nothing to say about a scrape (Prometheus text) after real traffic', { timeout: 60_000 }, async () => {
    const answer = await scrape(metricsUrl);
    assert.match(String(answer.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const { samples, types } = parse(answer.text);
    // The scrape holds what the traffic did, so the check below covers series of every kind.
    assert.equal(sum(samples, 'actorrt_http_requests_total', { route: '/inline/:id', status: '200', pool: 'inline' }), inlineSent);
    assert.equal(sum(samples, 'actorrt_http_requests_total', { route: '', status: '404', pool: '' }), 1);
    assert.equal(sum(samples, 'actorrt_http_requests_total', { route: '/gate', status: '503', pool: 'gate' }), refused);
    assert.equal(sum(samples, 'actorrt_pool_rejections_total', { pool: 'gate' }), refused);
    assert.equal(sum(samples, 'actorrt_cache_lookups_total', { store: 'local', route: '/cached/:id', result: 'hit' }), 1);
    assert.equal(sum(samples, 'actorrt_cache_lookups_total', { store: 'local', route: '/cached/:id', result: 'miss' }), 2);
    assert.equal(sum(samples, 'actorrt_upstream_request_duration_seconds_count', { upstream: 'origin', status: '200' }), 1);
    assert.equal(sum(samples, 'http_server_request_duration_seconds_count', { route: '/iso/:id', pool: 'iso' }), 6);
    assert.equal(sum(samples, 'actorrt_process_up', { role: 'pool', pool: 'iso' }), 2);
    for (const family of FAMILIES) assert.equal(types.get(family.name), family.type, `# TYPE of ${family.name}`);

    const checked = await run('promtool', ['check', 'metrics'], answer.text);
    assert.deepEqual(checked, { code: 0, stdout: '', stderr: '' }, 'promtool check metrics: no lint warning, exit 0');
  });

  test('the OpenMetrics form Prometheus asks for holds the same samples, counters as <name>_total under # TYPE <name> counter, and ends with # EOF', { timeout: 60_000 }, async () => {
    const om = await scrape(metricsUrl, PROMETHEUS_ACCEPT);
    assert.match(String(om.headers['content-type']), /^application\/openmetrics-text; version=1\.0\.0/);
    assert.ok(om.text.endsWith('\n# EOF\n'), 'the exposition ends with # EOF');
    assert.equal(om.text.indexOf('# EOF'), om.text.length - '# EOF\n'.length, '# EOF only at the end');
    assert.ok(!om.text.split('\n').slice(0, -1).includes(''), 'OpenMetrics has no blank line');
    const text = parse((await scrape(metricsUrl)).text);
    const { samples, types } = parse(om.text.replace(/# EOF\n$/, ''));
    for (const family of FAMILIES) {
      if (family.type !== 'counter') {
        assert.equal(types.get(family.name), family.type, `# TYPE of ${family.name}`);
        continue;
      }
      const base = family.name.replace(/_total$/, '');
      assert.equal(types.get(base), 'counter', `OpenMetrics names counter ${family.name} ${base}`);
      assert.ok(!types.has(family.name), `no # TYPE ${family.name} in OpenMetrics`);
      assert.ok(samples.every((s) => s.name !== base), `every sample of ${base} is ${base}_total`);
    }
    assert.deepEqual(samples.map((s) => s.key).sort(), text.samples.map((s) => s.key).sort(), 'both forms carry the same series');
  });

  test('a real Prometheus scrapes it (OpenMetrics), sees pools and request rates, and evaluates the example rules without error', { timeout: 120_000 }, async (t) => {
    const prometheus = await startPrometheus(t, tempDir('prometheus'), `global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [${JSON.stringify(join(EXAMPLES, 'rules.yml'))}]
scrape_configs:
  - job_name: actorrt
    scrape_timeout: 1s
    static_configs: [{ targets: [${JSON.stringify(metricsAddress)}] }]
`);
    const describeLog = (): string => prometheus.log().split('\n').slice(-20).join('\n');
    await eventually('prometheus scraped actorrt successfully', async () => {
      const { activeTargets } = await api(prometheus.url, '/api/v1/targets') as { activeTargets: Array<{ health: string; lastError: string }> };
      const [target] = activeTargets;
      assert.equal(target?.lastError ?? '', '', `scrape error: ${target?.lastError ?? ''}`);
      return target?.health === 'up';
    }, 60_000, describeLog, 200);

    // Prometheus negotiated OpenMetrics and parsed it: its metadata knows the counter by its
    // OpenMetrics family name (the text format would have named it actorrt_http_requests_total).
    const metadata = await api(prometheus.url, '/api/v1/metadata') as Record<string, Array<{ type: string; help: string }>>;
    const requests = FAMILIES.find((f) => f.name === 'actorrt_http_requests_total');
    assert.deepEqual(metadata['actorrt_http_requests'], [{ type: 'counter', help: requests?.help, unit: '' }]);
    assert.equal(metadata['actorrt_http_requests_total'], undefined);

    await eventually('actorrt_pool_actors_running: 2 workers x 2 inline actors, 2 processes x 1 isolated actor', async () => {
      const running = await instant(prometheus.url, 'sum by (pool) (actorrt_pool_actors_running)');
      return running.get('{"pool":"inline"}') === 4 && running.get('{"pool":"iso"}') === 2 && running.get('{"pool":"gate"}') === 2;
    }, 60_000, describeLog, 200);

    // Traffic while Prometheus watches: the rate over it, and the recording rule built on it, turn positive.
    const rate = 'sum(rate(actorrt_http_requests_total{route="/inline/:id",status="200"}[30s]))';
    await eventually('a positive request rate of the inline route and pool', async () => {
      assert.equal((await call(`${app.url}/inline/r${inlineSent}`)).status, 200);
      inlineSent++;
      const [byRoute] = (await instant(prometheus.url, rate)).values();
      const byPool = (await instant(prometheus.url, 'pool:actorrt_http_requests:rate1m{pool="inline"}')).values().next().value;
      return byRoute !== undefined && byRoute > 0 && byPool !== undefined && byPool > 0;
    }, 60_000, describeLog, 200);
    // Once the traffic stops, the counter Prometheus stored reaches exactly the requests sent.
    await eventually(`actorrt_http_requests_total of the inline route reaches ${inlineSent}`, async () =>
      (await instant(prometheus.url, 'sum(actorrt_http_requests_total{route="/inline/:id",status="200"})')).get('{}') === inlineSent,
    30_000, describeLog, 200);
    assert.equal((await instant(prometheus.url, 'sum(actorrt_pool_rejections_total{pool="gate"})')).get('{}'), refused);

    // Every example rule evaluates against actorrt's real series without an error.
    await eventually('every rule of examples/prometheus/rules.yml evaluated, none with an error', async () => {
      const { groups } = await api(prometheus.url, '/api/v1/rules') as { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> };
      const rules = groups.flatMap((g) => g.rules);
      for (const r of rules) assert.notEqual(r.health, 'err', `rule ${r.name}: ${r.lastError ?? ''}`);
      return rules.length > 0 && rules.every((r) => r.health === 'ok');
    }, 30_000, describeLog, 200);
  });
});

describe('examples/prometheus', { skip }, () => {
  test('promtool check config accepts the scrape config and the rule file it loads', { timeout: 60_000 }, async () => {
    const { code, stdout, stderr } = await run('promtool', ['check', 'config', join(EXAMPLES, 'prometheus.yml')]);
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout, /SUCCESS: 1 rule files found/);
    assert.doesNotMatch(stdout + stderr, /WARNING|FAILED/);
  });

  test('promtool check rules accepts rules.yml', { timeout: 60_000 }, async () => {
    const { code, stdout, stderr } = await run('promtool', ['check', 'rules', join(EXAMPLES, 'rules.yml')]);
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout, /SUCCESS: \d+ rules found/);
    assert.doesNotMatch(stdout + stderr, /WARNING|FAILED/);
  });

  test('promtool test rules passes rules.test.yml (recording rules, pool down, process not answering, reload refused)', { timeout: 60_000 }, async () => {
    assert.ok(existsSync(join(EXAMPLES, 'rules.test.yml')));
    const { code, stdout, stderr } = await run('promtool', ['test', 'rules', join(EXAMPLES, 'rules.test.yml')]);
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout, /SUCCESS/);
  });
});
