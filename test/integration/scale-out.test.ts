import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createClient } from '@keyv/redis';
import { Agent, request } from 'undici';
import { eventually, ROOT } from '../helpers.js';
import { call } from './instance.js';
import { errorLogSummary, mixedLoad, nginxMissing, retriedOrFailed, startScaleOut, type LoadOutcome, type ScaleOut } from './nginx.js';
import { needServer, REDIS_URL } from './services.js';

/**
 * Several actorrt instances behind a real nginx running examples/deploy/nginx/nginx.conf (issue 23):
 * what a Redis store shares across instances, and deploys (stop and start, `reload --roll`) one
 * instance at a time under load with no failed request at the client. Fixture:
 * test/fixtures/scale-out (its actor counts runs in Redis, where every process of every instance sees it).
 */

const FIXTURE = join(ROOT, 'test', 'fixtures', 'scale-out');
const skip = nginxMissing();
/** A Redis namespace of this run: the store's keys and the actor's counters. */
const NS = `actorrt-test-scale-out-${process.pid}`;
const STORM = 1000;

function topology(): { topology: string; files: Record<string, string>; env: NodeJS.ProcessEnv } {
  return {
    topology: readFileSync(join(FIXTURE, 'actorrt.yml'), 'utf8'),
    files: { 'actors/items.mjs': readFileSync(join(FIXTURE, 'actors', 'items.mjs'), 'utf8') },
    env: { SCALE_OUT_NS: NS, SCALE_OUT_REDIS: REDIS_URL },
  };
}

/** Remove what this run put in Redis. */
async function forget(): Promise<void> {
  const client = createClient({ url: REDIS_URL });
  try {
    await client.connect();
    for await (const keys of client.scanIterator({ MATCH: `${NS}:*` })) if (keys.length > 0) await client.unlink(keys);
  } finally {
    if (client.isOpen) await client.close();
  }
}

async function redisGet(key: string): Promise<string | null> {
  const client = createClient({ url: REDIS_URL });
  try {
    await client.connect();
    return await client.get(key);
  } finally {
    if (client.isOpen) await client.close();
  }
}

/** Everything that tells why a load saw failures: the failures, nginx's retries and failed answers, its error log. */
function explain(outcome: LoadOutcome, so: ScaleOut): string {
  const retried = retriedOrFailed(so.nginx.accessLog());
  return `${outcome.total} requests; non-2xx by status ${JSON.stringify(outcome.statuses)}; no answer by error ${JSON.stringify(outcome.errors)}\n`
    + `first failures:\n${outcome.failures.join('\n')}\n`
    + `nginx access log, retried or failed (${retried.length}):\n${retried.slice(-40).join('\n')}\n`
    + `nginx error.log:\n${so.nginx.errorLog().split('\n').slice(-60).join('\n')}`;
}

/** What a deploy under load must end with: every request answered 2xx. */
function assertNoFailure(outcome: LoadOutcome, so: ScaleOut): void {
  const failed = Object.values(outcome.statuses).reduce((a, b) => a + b, 0) + Object.values(outcome.errors).reduce((a, b) => a + b, 0);
  assert.equal(failed, 0, explain(outcome, so));
}

/** What the deploy cost at the proxy: requests, how many nginx tried on more than one instance, its error.log by message. */
function report(t: { diagnostic(message: string): void }, outcome: LoadOutcome, so: ScaleOut): void {
  const retried = so.nginx.accessLog().split('\n').filter((line) => / upstream=\S+, /.test(line)).length;
  t.diagnostic(`${outcome.total} requests, ${retried} tried on more than one instance; nginx error.log: ${JSON.stringify(errorLogSummary(so.nginx.errorLog()))}`);
}

/** The load of a deploy: reads (cached and not), idempotent writes, which nginx retries on another instance, and a POST, which it does not. */
const DEPLOY_LOAD = [
  { method: 'GET', path: '/hello/a' },
  { method: 'GET', path: '/items/1' },
  { method: 'PUT', path: '/items/1', body: '{"v":1}', headers: { 'content-type': 'application/json' } },
  { method: 'GET', path: '/hello/b' },
  { method: 'GET', path: '/items/2' },
  { method: 'GET', path: '/items/1' },
  { method: 'PUT', path: '/items/2', body: '{"v":2}', headers: { 'content-type': 'application/json' } },
  { method: 'GET', path: '/hello/c' },
  // Not idempotent: nginx does not retry it on another instance once sent, so a connection an
  // instance closes under it fails the request at the client (http.shutdownDelay prevents that).
  { method: 'POST', path: '/events', body: '{"e":1}', headers: { 'content-type': 'application/json' } },
] as const;

test('a Redis-store cache and its single flight hold across instances: 1000 concurrent cold requests through nginx run the actor once', { skip, timeout: 120_000 }, async (t) => {
  if (!await needServer(t, REDIS_URL)) return;
  t.after(forget);
  const so = await startScaleOut(t, { ...topology(), instances: 3 });
  const key = `cold-${Date.now()}`;
  const agent = new Agent({ connections: STORM });
  t.after(() => agent.close());
  const answers = await Promise.all(Array.from({ length: STORM }, async () => {
    const res = await request(`${so.url}/runs/${key}`, { dispatcher: agent });
    return { status: res.statusCode, body: await res.body.text() };
  }));
  const statuses = new Map<number, number>();
  for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
  assert.deepEqual([...statuses], [[200, STORM]], `statuses: ${JSON.stringify([...statuses])}; nginx error.log:\n${so.nginx.errorLog()}`);
  const bodies = new Set(answers.map((a) => a.body));
  assert.equal(bodies.size, 1, `every answer is the one computed: ${[...bodies].slice(0, 5).join('\n')}`);
  assert.equal((JSON.parse([...bodies][0] as string) as { runs: number }).runs, 1);
  assert.equal(await redisGet(`${NS}:actor:runs:${key}`), '1', 'the actor ran once across every process of every instance');
  // The storm reached every instance (else it proved nothing about sharing across them).
  await eventually('nginx spread the storm over the 3 instances', () => so.instances.every((b) => so.nginx.accessLog().includes(` upstream=${b.address} `)),
    10_000, () => so.nginx.accessLog().split('\n').slice(-5).join('\n'), 100);
});

test('through nginx, actorrt (http.trustProxy: loopback) sees the client nginx saw', { skip, timeout: 60_000 }, async (t) => {
  if (!await needServer(t, REDIS_URL)) return;
  t.after(forget);
  const so = await startScaleOut(t, { ...topology(), instances: 2 });
  const answer = await call(`${so.url}/whoami`, { headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' } });
  assert.equal(answer.status, 200, answer.text);
  // nginx appends its peer to the client's X-Forwarded-For and sets X-Forwarded-Proto to its own scheme.
  assert.deepEqual(answer.json, { ip: '203.0.113.9', protocol: 'http' });
  const direct = await call(`${so.instances[0]?.url ?? ''}/whoami`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
  assert.deepEqual(direct.json, { ip: '203.0.113.9', protocol: 'http' }, 'a loopback peer is trusted directly too: only nginx may reach the port');
  const readyz = await call(`${so.url}/readyz`);
  assert.equal(readyz.status, 200, readyz.text);
});

test('a rolling restart (SIGTERM, then start) of each instance in turn, twice, under load through nginx: no failed request', { skip, timeout: 300_000 }, async (t) => {
  if (!await needServer(t, REDIS_URL)) return;
  t.after(forget);
  const so = await startScaleOut(t, { ...topology(), instances: 3 });
  const load = mixedLoad(so.url, DEPLOY_LOAD, 8, t);
  await eventually('the load is running', () => load.done() >= 100, 30_000);
  for (let round = 1; round <= 2; round++) {
    for (const backend of so.instances) {
      assert.equal(await backend.stop(), 0, `instance ${backend.index} exits 0 on SIGTERM (round ${round})`);
      const since = Date.now();
      await backend.start();
      await so.servedBy(backend, since);
    }
  }
  const outcome = await load.stop();
  report(t, outcome, so);
  assertNoFailure(outcome, so);
});

test('actorrt reload --roll on each instance in turn, under load through nginx: no failed request', { skip, timeout: 300_000 }, async (t) => {
  if (!await needServer(t, REDIS_URL)) return;
  t.after(forget);
  const so = await startScaleOut(t, { ...topology(), instances: 3 });
  const load = mixedLoad(so.url, DEPLOY_LOAD, 8, t);
  await eventually('the load is running', () => load.done() >= 100, 30_000);
  for (const backend of so.instances) {
    const before = load.done();
    const rolled = await backend.cli('reload', '--roll');
    assert.equal(rolled.code, 0, `reload --roll of instance ${backend.index}:\n${rolled.stdout}${rolled.stderr}`);
    await eventually(`requests go on after the roll of instance ${backend.index}`, () => load.done() > before + 50, 30_000);
  }
  const outcome = await load.stop();
  report(t, outcome, so);
  assertNoFailure(outcome, so);
});
