import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { InstanceStatus } from '../../runtime/primary/status.js';
import { eventually, ROOT } from '../helpers.js';
import { call, runCli, type Answer } from './instance.js';
import { nginxMissing, startScaleOut, type Backend } from './nginx.js';
import { needServer, REDIS_URL, Relay } from './services.js';

/**
 * Issue 23's acceptance for the invalidation bus, behind the example nginx: three instances, each
 * with its own memory cache of one shared data set (files in one folder, as a database would be).
 * Writes go through the balancer; reads go to every instance directly and through the balancer.
 */

const skip = nginxMissing();
const ROUNDS = 100;
/** Rounds during which instance 2's bus connection is cut. */
const CUT_FROM = 40;
const CUT_UNTIL = 70;
/** bus.staleness, in seconds (Age is in whole seconds). */
const STALENESS_S = 1;

function topology(channel: string, redisUrl: string): string {
  return `version: 1
http: { host: 127.0.0.1, workers: 2, trustProxy: [loopback], limits: { keepAliveTimeout: 5s } }
admin: { metrics: 127.0.0.1:0 }
resources:
  redis: { type: redis, url: ${redisUrl} }
caches:
  local: { store: memory, maxEntries: 1000 }
bus: { channel: ${channel}, timeout: 1s, staleness: ${STALENESS_S}s }
pools:
  items: { actor: ./actors/item.mjs, size: 4 }
routes:
  - match: { method: GET, path: /items/:id }
    pool: items
    cache: { use: local, key: "item:{params.id}", ttl: 10m }
  - match: { method: [PUT, DELETE], path: /items/:id }
    pool: items
    invalidate: ["item:{params.id}"]
`;
}

async function statusOf(b: Backend): Promise<InstanceStatus> {
  const { stdout } = await runCli(['status', '--json', '--pid-file', b.current().pidFile]);
  return JSON.parse(stdout) as InstanceStatus;
}

interface Read { readonly where: string; readonly answer: Answer }

test('three instances behind nginx, memory caches and the bus: 100 rounds of PUT through nginx then GETs everywhere, 0 stale reads; a cut bus connection serves nothing older than the staleness and flushes on reconnect',
  { skip, timeout: 240_000 }, async (t) => {
    if (!await needServer(t, REDIS_URL)) return;
    const channel = `actorrt-test-${randomUUID()}`;
    const relay = Relay.for(REDIS_URL);
    await relay.open();
    t.after(() => relay.cut());
    const so = await startScaleOut(t, {
      topology: (i) => topology(channel, i === 2 ? relay.url(REDIS_URL) : REDIS_URL),
      files: {
        'actors/item.mjs': readFileSync(join(ROOT, 'test', 'fixtures', 'cache', 'actors', 'item.mjs'), 'utf8'),
      },
      instances: 3,
    });
    const [, , cutOne] = so.instances as [Backend, Backend, Backend];
    for (const b of so.instances) {
      await eventually(`instance ${b.index} hears the bus and its 2 peers`, async () => {
        const bus = (await statusOf(b)).bus;
        return bus?.connected === true && bus.peers === 2;
      }, 20_000);
    }

    const stale: string[] = [];
    const staleWhileCut: string[] = [];
    let flushesBefore = 0;
    for (let round = 0; round < ROUNDS; round++) {
      if (round === CUT_FROM) {
        flushesBefore = (await statusOf(cutOne)).bus?.flushes ?? 0;
        await relay.cut();
        await eventually('instance 2 knows it is cut off', async () => (await statusOf(cutOne)).bus?.connected === false, 10_000);
      }
      if (round === CUT_UNTIL) {
        await relay.open();
        await eventually('instance 2 is back, after flushing its memory stores', async () => {
          const bus = (await statusOf(cutOne)).bus;
          return bus?.connected === true && bus.flushes > flushesBefore;
        }, 20_000);
        for (const b of so.instances) await eventually(`instance ${b.index} counts 2 peers again`, async () => (await statusOf(b)).bus?.peers === 2, 10_000);
      }
      // Writers: nginx, and each instance directly in turn (so every instance publishes). While
      // instance 2 is cut off, only the others write: a write served by a cut-off instance reaches
      // its peers when it is back (docs/caching.md says so), which is not what this test measures.
      const cut = round >= CUT_FROM && round < CUT_UNTIL;
      const writer = cut ? (so.instances[round % 2] as Backend).url : round % 4 === 3 ? so.url : (so.instances[round % 3] as Backend).url;
      const put = await call(`${writer}/items/k`, { method: 'PUT', body: JSON.stringify({ round }), headers: { 'content-type': 'application/json' } });
      assert.equal(put.status, 200, put.text);
      const reads: Read[] = [];
      // Each instance twice (two front workers, each with its own memory store), and the balancer four times.
      for (const b of so.instances) for (let i = 0; i < 2; i++) reads.push({ where: `instance ${b.index}`, answer: await call(`${b.url}/items/k`) });
      for (let i = 0; i < 4; i++) reads.push({ where: 'nginx', answer: await call(`${so.url}/items/k`) });
      for (const { where, answer } of reads) {
        assert.equal(answer.status, 200, answer.text);
        const value = (answer.json as { value: unknown }).value;
        if (JSON.stringify(value) === JSON.stringify({ round })) continue;
        const line = `round ${round}: ${where} read ${JSON.stringify(value)} (x-cache ${String(answer.headers['x-cache'])}, age ${String(answer.headers['age'])})`;
        if (!cut) stale.push(line);
        else staleWhileCut.push(line);
      }
    }
    assert.deepStrictEqual(stale, [], 'no stale read while every instance hears the bus (after the reconnect too)');
    // While cut off, instance 2 may serve an entry it stored less than `staleness` ago, and never an older one.
    for (const line of staleWhileCut) {
      assert.match(line, /x-cache HIT, age \d+\)$/, line);
      const age = Number(/age (\d+)\)$/.exec(line)?.[1]);
      assert.ok(age <= STALENESS_S, `a stale read older than the staleness bound: ${line}`);
    }
    const buses = await Promise.all(so.instances.map(async (b) => (await statusOf(b)).bus));
    const trips = buses.map((b) => b?.roundTrip);
    t.diagnostic(`stale reads: ${stale.length}; while instance 2 was cut off: ${staleWhileCut.length} (each within the ${STALENESS_S}s staleness)`);
    t.diagnostic(`invalidation round trip per writer instance (p50 / p99 / max ms): ${trips.map((r) => (r === undefined ? '-' : `${r.p50} / ${r.p99} / ${r.max}`)).join(', ')}`);
    assert.ok(trips.every((r) => r !== undefined), 'every instance wrote and measured its round trips');
  });
