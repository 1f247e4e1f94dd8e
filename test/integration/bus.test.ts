import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient } from '@keyv/redis';
import type { InstanceStatus } from '../../runtime/primary/status.js';
import { eventually, ROOT, tempDir } from '../helpers.js';
import { call, runCli, startInstance, statusOf, type Instance } from './instance.js';
import { Relay } from './services.js';

// Real Redis on 127.0.0.1:6379 (.ci/run starts it); never skipped.
const REDIS = 'redis://127.0.0.1:6379';

/**
 * Instances of one service sharing its data (files in one folder, as a database would be) and
 * keeping a memory cache each: the bus must keep every instance's cache coherent.
 */
function topology(channel: string, redisUrl: string, staleness = '5s'): string {
  return `version: 1
http: { port: 0, host: 127.0.0.1, workers: 2 }
admin: { metrics: 127.0.0.1:0 }
resources:
  redis: { type: redis, url: ${redisUrl} }
caches:
  local: { store: memory, maxEntries: 1000 }
bus: { channel: ${channel}, timeout: 2s, staleness: ${staleness} }
pools:
  items: { actor: ./actors/item.mjs, size: 4 }
  memo: { actor: ./actors/memo.mjs, size: 2 }
routes:
  - match: { method: GET, path: /items/:id }
    pool: items
    cache: { use: local, key: "item:{params.id}", ttl: 10m }
  - match: { method: [PUT, DELETE], path: /items/:id }
    pool: items
    invalidate: ["item:{params.id}"]
  - match: { method: [GET, DELETE], path: /memo/:store/:id }
    pool: memo
`;
}

/** A folder with the cache fixture's actors and one topology file per instance (each may reach Redis its own way). */
function project(channel: string, urls: readonly string[], staleness?: string): { dir: string; files: string[] } {
  const dir = tempDir('bus');
  cpSync(join(ROOT, 'test', 'fixtures', 'cache', 'actors'), join(dir, 'actors'), { recursive: true });
  const files = urls.map((url, i) => {
    const file = join(dir, `instance-${i}.yml`);
    writeFileSync(file, topology(channel, url, staleness));
    return file;
  });
  return { dir, files };
}

interface ItemBody { readonly value: unknown }

async function valueAt(app: Instance, id: string): Promise<unknown> {
  const r = await call(`${app.url}/items/${id}`);
  assert.equal(r.status, 200, r.text);
  return (r.json as ItemBody).value;
}

async function put(app: Instance, id: string, value: unknown): Promise<void> {
  const r = await call(`${app.url}/items/${id}`, { method: 'PUT', body: JSON.stringify(value), headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200, r.text);
}

const connected = (s: InstanceStatus, peers: number): boolean => s.bus?.connected === true && s.bus.peers === peers;

describe('the invalidation bus: memory caches coherent across instances', { timeout: 180_000 }, () => {
  const channel = `actorrt-test-${randomUUID()}`;
  let apps: Instance[] = [];

  before(async () => {
    const { files } = project(channel, [REDIS, REDIS, REDIS]);
    apps = await Promise.all(files.map((f) => startInstance(f)));
    for (const app of apps) await eventually('every instance hears the bus and counts its 2 peers', async () => connected(await statusOf(app), 2), 20_000);
  });
  after(async () => { await Promise.all(apps.map((a) => a.stop())); });

  test('a PUT through one instance is seen by a GET on every other one at once: 0 stale reads in 100 rounds', async () => {
    const stale: string[] = [];
    for (let round = 0; round < 100; round++) {
      const writer = apps[round % 3] as Instance;
      // Every instance has the key cached (the old value) before the write.
      for (const app of apps) await valueAt(app, 'k');
      await put(writer, 'k', { round });
      for (const [i, app] of apps.entries()) {
        const seen = await valueAt(app, 'k');
        if (JSON.stringify(seen) !== JSON.stringify({ round })) stale.push(`round ${round}: instance ${i} read ${JSON.stringify(seen)}`);
      }
    }
    assert.deepStrictEqual(stale, []);
    const bus = (await statusOf(apps[0] as Instance)).bus;
    assert.ok(bus !== undefined && bus.roundTrip !== undefined && bus.sent >= 33 && bus.received >= 66, JSON.stringify(bus));
    assert.equal(bus.ackTimeouts, 0);
    process.stdout.write(`# invalidation round trip across 3 instances: p50 ${bus.roundTrip.p50} ms, p99 ${bus.roundTrip.p99} ms\n`);
  });

  test('ctx.caches.<memory store>.delete reaches every instance too', async () => {
    const [a, b] = apps as [Instance, Instance];
    assert.equal((await call(`${b.url}/memo/local/m1`)).status, 200);
    await eventually('instance b serves the memo from its memory store', async () => ((await call(`${b.url}/memo/local/m1`)).json as { cached: boolean }).cached);
    assert.equal((await call(`${a.url}/memo/local/m1`, { method: 'DELETE' })).status, 200);
    // Each of b's two workers may have its own copy: the first GET after the delete must compute again in whichever serves it.
    const after = await call(`${b.url}/memo/local/m1`);
    assert.equal((after.json as { cached: boolean }).cached, false, after.text);
  });

  test('status and /metrics show the bus, its peers and its round trip', async () => {
    const app = apps[1] as Instance;
    const { stdout } = await runCli(['status', '--pid-file', app.pidFile]);
    assert.match(stdout, new RegExp(`bus: connected on ${channel} via redis, 2 peers, round trip p50 [0-9.]+ ms p99 [0-9.]+ ms`));
    const s = await statusOf(app);
    assert.ok(s.metrics !== undefined && 'url' in s.metrics);
    const text = (await call(s.metrics.url)).text;
    assert.match(text, /^actorrt_bus_up 1$/m);
    assert.match(text, /^actorrt_bus_peers 2$/m);
    assert.match(text, /^actorrt_bus_invalidations_total\{direction="received"\} [1-9]/m);
    assert.match(text, /^actorrt_bus_round_trip_seconds_count [1-9]/m);
    assert.match(text, /^actorrt_bus_ack_timeouts_total 0$/m);
  });
});

describe('an instance cut off from the bus', { timeout: 120_000 }, () => {
  const channel = `actorrt-test-${randomUUID()}`;
  const relay = Relay.for(REDIS);
  let apps: Instance[] = [];

  before(async () => {
    await relay.open();
    // Instance 1 reaches Redis through a relay the test can cut; staleness 1s keeps the wait short.
    const { files } = project(channel, [REDIS, relay.url(REDIS)], '1s');
    apps = await Promise.all(files.map((f) => startInstance(f)));
    for (const app of apps) await eventually('both instances hear the bus', async () => connected(await statusOf(app), 1), 20_000);
  });
  after(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await relay.cut();
  });

  for (const how of ['cut', 'freeze'] as const) {
    test(`${how === 'cut' ? 'a closed connection' : 'a silent network (no TCP error)'}: no memory entry older than the staleness is served; flushed on reconnect`, async () => {
      const [a, b] = apps as [Instance, Instance];
      const id = `cut-${how}`;
      await put(a, id, 'before');
      for (let i = 0; i < 4; i++) assert.equal(await valueAt(b, id), 'before'); // cached in b's workers
      const flushes = (await statusOf(b)).bus?.flushes ?? 0;
      if (how === 'cut') await relay.cut();
      else relay.freeze();
      await eventually('b knows it is cut off', async () => (await statusOf(b)).bus?.connected === false, 10_000);
      // Redis drops a closed subscriber at once; a frozen one still counts as a receiver, and a's
      // write waits for its acknowledgement until bus.timeout (counted), then is answered.
      if (how === 'cut') await eventually('a counts no peer', async () => connected(await statusOf(a), 0), 10_000);
      await put(a, id, 'after'); // b cannot hear this invalidation
      // Whatever b serves now, it never serves an entry stored more than 1 s ago: once that long has
      // passed since the write, every read is the new value.
      await eventually('b serves the new value within the staleness bound', async () => (await valueAt(b, id)) === 'after', 10_000);
      const reads = await Promise.all(Array.from({ length: 8 }, () => valueAt(b, id)));
      assert.deepStrictEqual(reads, Array(8).fill('after'));
      if (how === 'cut') await relay.open();
      else relay.thaw();
      await eventually('b is back, after a flush', async () => {
        const bus = (await statusOf(b)).bus;
        return bus?.connected === true && bus.flushes > flushes;
      }, 20_000);
      await eventually('a counts its peer again', async () => connected(await statusOf(a), 1), 10_000);
      await put(a, id, 'again');
      assert.equal(await valueAt(b, id), 'again');
      assert.ok(/invalidation bus lost/.test(b.stderr()) && /memory caches flushed/.test(b.stderr()), 'the loss and the flush are logged');
    });
  }

  test('a peer whose primary is frozen: the first write waits bus.timeout (counted), later ones do not wait for it; its workers, no longer hearing their primary, serve nothing older than the staleness', async () => {
    const [a, b] = apps as [Instance, Instance];
    await eventually('both connected', async () => connected(await statusOf(a), 1), 20_000);
    await put(a, 'frozen', 'before');
    for (let i = 0; i < 4; i++) assert.equal(await valueAt(b, 'frozen'), 'before'); // cached in b's workers
    const pid = (await statusOf(b)).pid;
    process.kill(pid, 'SIGSTOP');
    try {
      // No timing threshold: the write is answered, and the missing acknowledgement is counted.
      await put(a, 'frozen', 'after');
      await eventually('a counted the missing acknowledgement', async () => ((await statusOf(a)).bus?.ackTimeouts ?? 0) >= 1, 10_000);
      await eventually('a no longer counts the frozen peer', async () => (await statusOf(a)).bus?.peers === 0, 10_000);
      const timeouts = (await statusOf(a)).bus?.ackTimeouts ?? 0;
      for (let i = 0; i < 3; i++) await put(a, 'frozen', 'after');
      assert.equal((await statusOf(a)).bus?.ackTimeouts, timeouts, 'writes no longer wait for a peer that is not heard');
      // b's front workers still serve (they share the port); they hear their primary no more.
      await eventually('b serves the new value within the staleness bound', async () => (await valueAt(b, 'frozen')) === 'after', 10_000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.match(a.stderr(), /did not acknowledge an invalidation in time/);
    await eventually('both hear each other again', async () => connected(await statusOf(a), 1) && connected(await statusOf(b), 1), 20_000);
  });

  test('a subscriber that is not an actorrt instance (redis-cli, a GUI) is never waited for', async () => {
    const [a] = apps as [Instance, Instance];
    const foreign = createClient({ url: REDIS });
    await foreign.connect();
    try {
      await foreign.subscribe(channel, () => {});
      await foreign.pSubscribe('*', () => {});
      const timeouts = (await statusOf(a)).bus?.ackTimeouts ?? 0;
      for (let i = 0; i < 5; i++) await put(a, 'foreign', i);
      assert.equal((await statusOf(a)).bus?.ackTimeouts, timeouts);
      assert.equal((await statusOf(a)).bus?.peers, 1, 'peers are the instances heard, not every subscriber');
    } finally {
      foreign.destroy();
    }
  });
});

describe('bus configuration', { timeout: 60_000 }, () => {
  test('the bus needs a redis resource: none, or several without a name, is refused at file:line:col', async () => {
    const dir = tempDir('bus-config');
    const none = join(dir, 'none.yml');
    writeFileSync(none, 'version: 1\nbus: { channel: x }\npools:\n  p: { actor: ./a.mjs }\nroutes:\n  - match: { path: /x }\n    pool: p\n');
    writeFileSync(join(dir, 'a.mjs'), 'export default { receive() { return { body: 1 }; } };\n');
    const r = await runCli(['validate', none]);
    assert.equal(r.code, 1);
    assert.match(r.stderr + r.stdout, /none\.yml:2:\d+.*ACTORRT_E_CONFIG_MISSING_KEY.*bus needs a redis resource/s);
    const two = join(dir, 'two.yml');
    writeFileSync(two, `version: 1\nresources:\n  r1: { type: redis, url: ${REDIS} }\n  r2: { type: redis, url: ${REDIS} }\nbus: {}\npools:\n  p: { actor: ./a.mjs }\nroutes:\n  - match: { path: /x }\n    pool: p\n`);
    const r2 = await runCli(['validate', two]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr + r2.stdout, /two\.yml:5:\d+.*declares 2 redis resources \(r1, r2\); name the one/s);
    const typo = join(dir, 'typo.yml');
    writeFileSync(typo, `version: 1\nresources:\n  r1: { type: redis, url: ${REDIS} }\nbus: { redis: r2 }\npools:\n  p: { actor: ./a.mjs }\nroutes:\n  - match: { path: /x }\n    pool: p\n`);
    const r3 = await runCli(['validate', typo]);
    assert.equal(r3.code, 1);
    assert.match(r3.stderr + r3.stdout, /typo\.yml:4:\d+.*names resource "r2", which is not declared/s);
    const slow = join(dir, 'slow.yml');
    writeFileSync(slow, `version: 1\nresources:\n  r1: { type: redis, url: ${REDIS} }\nbus:\n  timeout: 5s\npools:\n  p: { actor: ./a.mjs }\nroutes:\n  - match: { path: /x }\n    pool: p\n`);
    const r4 = await runCli(['validate', slow]);
    assert.equal(r4.code, 1);
    assert.match(r4.stderr + r4.stdout, /slow\.yml:5:\d+.*bus\.timeout is above 2s/s);
  });

  test('a redis the bus cannot reach delays nothing: the instance starts cut off and serves', async (t) => {
    const channel = `actorrt-test-${randomUUID()}`;
    const { files } = project(channel, ['redis://127.0.0.1:9']);
    const app = await startInstance(files[0] as string, [], t);
    assert.equal((await call(`${app.url}/items/x`)).status, 200);
    const s = await statusOf(app);
    assert.equal(s.bus?.connected, false);
    assert.equal(await app.stop(), 0);
  });

  test('a reload adds, changes and removes the bus live', async (t) => {
    const channel = `actorrt-test-${randomUUID()}`;
    const { files } = project(channel, [REDIS]);
    const file = files[0] as string;
    const app = await startInstance(file, ['--no-watch'], t);
    await eventually('connected', async () => (await statusOf(app)).bus?.connected === true, 20_000);
    const text = topology(channel, REDIS);
    writeFileSync(file, text.replace(`channel: ${channel}`, `channel: ${channel}-2`));
    assert.equal((await runCli(['reload', '--pid-file', app.pidFile])).code, 0);
    await eventually('on the new channel', async () => {
      const bus = (await statusOf(app)).bus;
      return bus?.channel === `${channel}-2` && bus.connected;
    }, 20_000);
    writeFileSync(file, text.replace(/^bus: .*\n/m, ''));
    assert.equal((await runCli(['reload', '--pid-file', app.pidFile])).code, 0);
    await eventually('no bus any more', async () => (await statusOf(app)).bus === undefined, 10_000);
    assert.equal(await app.stop(), 0);
  });
});
