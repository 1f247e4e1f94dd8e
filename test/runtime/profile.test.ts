import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActorrtError } from '../../runtime/errors.js';
import { BadField } from '../../runtime/protocol/check.js';
import { snapshotRefusal, SNAPSHOT_FACTOR, type MemoryNow } from '../../runtime/profile/memory.js';
import { decodeProfileArgs, profileFileName } from '../../runtime/profile/request.js';
import { describeStall, stuckAt, type Stall } from '../../runtime/profile/stall.js';
import { beatInterval, stallThreshold } from '../../runtime/profile/stall-watch.js';
import { cpuSelfTimes, decodeCpuProfile, decodeHeapProfile, frameLocation, heapSelfSizes, type CallFrame } from '../../runtime/profile/summary.js';

const MiB = 1048576;
const frame = (functionName: string, url = '', lineNumber = -1): CallFrame => ({ functionName, url, lineNumber, columnNumber: lineNumber < 0 ? -1 : 2 });

/**
 * A hand-made profile: (root) -> main -> hash, and (root) -> other -> hash again (the same function
 * reached from two places: one row), plus (idle) and (garbage collector). Samples land 1000 us
 * apart except where noted; the last sample lasts until endTime.
 */
const PROFILE = {
  nodes: [
    { id: 1, callFrame: frame('(root)') },
    { id: 2, callFrame: frame('main', 'file:///app/server.ts', 9) },
    { id: 3, callFrame: frame('hash', 'file:///app/actors/hash.ts', 13) },
    { id: 4, callFrame: frame('other', 'file:///app/server.ts', 20) },
    { id: 5, callFrame: frame('hash', 'file:///app/actors/hash.ts', 13) },
    { id: 6, callFrame: frame('(idle)') },
    { id: 7, callFrame: frame('(garbage collector)') },
    { id: 8, callFrame: frame('', 'node:internal/timers', 580) },
    { id: 9, callFrame: frame('writev') },
  ],
  startTime: 1_000_000,
  //        hash  hash  main  hash(other) idle  idle  gc   anon  writev
  samples: [3, 3, 2, 5, 6, 6, 7, 8, 9],
  // The first sample comes 500 us after the start; then 1000 us apart, the gc sample lasts 3000 us.
  timeDeltas: [500, 1000, 1000, 1000, 1000, 1000, 1000, 3000, 1000],
  endTime: 1_000_000 + 12_500,
};

test('CPU self time: each sample lasts until the next (the last until endTime), summed per function over every call path', () => {
  const s = cpuSelfTimes(decodeCpuProfile(PROFILE), '/app');
  assert.equal(s.samples, 9);
  assert.equal(s.total, PROFILE.endTime - PROFILE.startTime - 500, 'from the first sample to the end');
  const rows = Object.fromEntries(s.rows.map((r) => [`${r.name} ${r.location ?? ''}`, r]));
  assert.equal(rows['hash actors/hash.ts:14']?.self, 3000, 'three samples of hash from two call paths, one row, at its 1-based line');
  assert.equal(rows['(garbage collector) ']?.self, 3000);
  assert.equal(rows['(idle) ']?.self, 2000);
  assert.equal(rows['main server.ts:10']?.self, 1000);
  assert.equal(rows['(anonymous) node:internal/timers:581']?.self, 1000, 'a nameless function is (anonymous); node modules keep their name');
  assert.equal(rows['writev ']?.self, 2000, 'the last sample lasts until endTime');
  assert.match(rows['(idle) ']?.note ?? '', /event loop waiting/);
  assert.match(rows['writev ']?.note ?? '', /native/);
  assert.equal(rows['hash actors/hash.ts:14']?.share, 3000 / s.total);
  assert.deepEqual(s.rows.map((r) => r.self), [...s.rows.map((r) => r.self)].sort((a, b) => b - a), 'most costly first');
  assert.equal(cpuSelfTimes(decodeCpuProfile(PROFILE), '/app', 2).rows.length, 2, 'the top n');
});

test('heap self sizes: bytes allocated per function over the call tree, the same function in two places summed', () => {
  const leaf = (name: string, line: number, selfSize: number) => ({ callFrame: frame(name, 'file:///app/a.ts', line), selfSize, children: [] });
  const profile = decodeHeapProfile({
    head: { callFrame: frame('(root)'), selfSize: 0, children: [
      { callFrame: frame('main', 'file:///app/a.ts', 1), selfSize: 100, children: [leaf('fill', 5, 4000), leaf('copy', 9, 500)] },
      { callFrame: frame('timer', 'file:///app/a.ts', 20), selfSize: 0, children: [leaf('fill', 5, 1000)] },
    ] },
    samples: [{ size: 4000, nodeId: 3, ordinal: 1 }, { size: 1000, nodeId: 6, ordinal: 2 }],
  });
  const s = heapSelfSizes(profile, '/app');
  assert.equal(s.total, 5600);
  assert.equal(s.samples, 2);
  assert.deepEqual(s.rows.map((r) => [r.name, r.location, r.self]), [['fill', 'a.ts:6', 5000], ['copy', 'a.ts:10', 500], ['main', 'a.ts:2', 100]]);
});

test('a profile file of the wrong shape is a BadField naming the path', () => {
  assert.throws(() => decodeCpuProfile({ ...PROFILE, samples: 'no' }), (e: unknown) => e instanceof BadField && /profile\.samples/.test(e.message));
  assert.throws(() => decodeCpuProfile({ ...PROFILE, nodes: [{ id: 1, callFrame: { functionName: 'x', url: '', lineNumber: 1.5, columnNumber: 0 } }] }),
    (e: unknown) => e instanceof BadField && /profile\.nodes\[0\]\.callFrame\.lineNumber/.test(e.message));
  assert.throws(() => decodeHeapProfile({ head: { callFrame: frame('x'), selfSize: 1 }, samples: [] }), (e: unknown) => e instanceof BadField && /profile\.head\.children/.test(e.message));
});

test('file:line: relative to the base inside it, absolute outside, node modules as named', () => {
  assert.equal(frameLocation('file:///srv/app/actors/a.ts', 13, '/srv/app'), 'actors/a.ts:14');
  assert.equal(frameLocation('file:///opt/lib/x.js', 0, '/srv/app'), '/opt/lib/x.js:1');
  assert.equal(frameLocation('/srv/app/b.js', 4, '/srv/app'), 'b.js:5');
  assert.equal(frameLocation('node:internal/timers', 580, '/srv/app'), 'node:internal/timers:581');
  assert.equal(frameLocation('', 3, '/srv/app'), undefined);
});

test('a heap snapshot is refused when any room (below maxRss, below the cgroup limit, free memory) is under 16x the live heap, naming each', () => {
  const base: MemoryNow = { heapUsed: 20 * MiB, rss: 100 * MiB, free: 8192 * MiB };
  assert.equal(snapshotRefusal(base, 'this process'), undefined, 'no limit but the machine, which has room');
  assert.equal(snapshotRefusal({ ...base, maxRss: 100 * MiB + SNAPSHOT_FACTOR * 20 * MiB }, 'this process'), undefined, 'exactly enough below maxRss');
  const short = snapshotRefusal({ ...base, maxRss: 200 * MiB }, 'this process');
  assert.ok(short instanceof ActorrtError);
  assert.equal(short.code, 'ACTORRT_E_PROFILE_MEMORY');
  assert.equal(short.message, 'a heap snapshot of this process needs about 320 MiB (16 times its live heap of 20 MiB, as measured for heaps of small objects) '
    + 'and it has 100 MiB below its maxRss (200 MiB, rss 100 MiB), 8192 MiB free on the machine');
  assert.match(short.hint ?? '', /--heap/);
  const cgroup = snapshotRefusal({ ...base, cgroup: { limit: 512 * MiB, available: 300 * MiB } }, 'this process');
  assert.match(cgroup?.message ?? '', /300 MiB below its cgroup memory limit \(512 MiB\)/);
  const free = snapshotRefusal({ ...base, free: 64 * MiB }, 'this process');
  assert.match(free?.message ?? '', /and it has 64 MiB free on the machine$/);
  assert.match(snapshotRefusal({ ...base, heapUsed: 2048 * MiB }, 'x')?.message ?? '', /needs about 32\.0 GiB/);
});

test('the stall thread takes the frames halfway to the earliest kill, between 250 ms and 5 s, and looks five times per threshold', () => {
  assert.equal(stallThreshold(2000), 500, 'a 2 s watchdog may kill 1 s after the stall began (heartbeats are 1 s apart)');
  assert.equal(stallThreshold(10_000), 4500);
  assert.equal(stallThreshold(60_000), 5000);
  assert.equal(stallThreshold(1000), 250);
  assert.equal(beatInterval(500), 100);
  assert.equal(beatInterval(100), 50);
});

test('where a process was stuck: the innermost frame of the user\'s code, not node\'s nor actorrt\'s nor a dependency\'s', () => {
  const own = new URL('../../runtime/pool/inline-pool.js', import.meta.url).href; // dist/runtime/...: actorrt's code
  const ownSource = new URL('../../../runtime/reply.ts', import.meta.url).href; // as its source map names it
  const stall: Stall = {
    pid: 42, since: 1000, at: 1500,
    frames: [
      { function: 'encodeBody', url: ownSource, line: 28, column: 3 },
      { function: 'pbkdf2Sync', url: 'node:internal/crypto/pbkdf2', line: 60, column: 3 },
      { function: 'slowHash', url: 'file:///srv/app/node_modules/hasher/index.js', line: 7, column: 1 },
      { function: 'hashPassword', url: 'file:///srv/app/actors/hash.ts', line: 14, column: 5 },
      { function: 'receive', url: 'file:///srv/app/actors/hash.ts', line: 30, column: 12 },
      { function: 'dispatch', url: own, line: 246, column: 9 },
    ],
  };
  const at = stuckAt(stall, '/srv/app');
  assert.deepEqual(at && { function: at.function, at: at.at }, { function: 'hashPassword', at: 'actors/hash.ts:14' });
  assert.equal(at?.frames[1], 'pbkdf2Sync (node:internal/crypto/pbkdf2:60)');
  assert.equal(describeStall(stall, '/srv/app'), 'stuck in `hashPassword` at actors/hash.ts:14');
  assert.equal(stuckAt({ ...stall, frames: stall.frames.slice(1, 2) }, '/srv/app')?.function, 'pbkdf2Sync', 'no user frame: the innermost one');
  assert.equal(describeStall({ ...stall, frames: [], error: 'it did not pause' }, '/srv/app'), 'it did not pause');
  assert.match(describeStall(undefined, '/srv/app'), /not known/);
});

test('profile requests: the default file name, and arguments checked at the admin socket', () => {
  assert.equal(profileFileName('front', 4242, 'cpu', new Date('2025-01-02T03:04:05.678Z')), 'actorrt-front-4242-20250102T030405Z.cpuprofile');
  assert.equal(profileFileName('a/b', 1, 'heap-snapshot', new Date(0)), 'actorrt-a_b-1-19700101T000000Z.heapsnapshot');
  assert.deepEqual(decodeProfileArgs({ target: 'api', kind: 'heap', duration: 2000, dir: '/tmp', process: 1 }),
    { target: 'api', kind: 'heap', duration: 2000, out: { dir: '/tmp' }, process: 1 });
  for (const bad of [{ kind: 'cpu', duration: 1, dir: '/t' }, { target: 'a', kind: 'disk', duration: 1, dir: '/t' }, { target: 'a', kind: 'cpu', duration: 0, dir: '/t' },
    { target: 'a', kind: 'cpu', duration: 1, dir: 'relative' }, { target: 'a', kind: 'cpu', duration: 1, dir: '/t', pid: -1 }]) {
    assert.throws(() => decodeProfileArgs(bad), (e: unknown) => e instanceof ActorrtError && e.code === 'ACTORRT_E_USAGE', JSON.stringify(bad));
  }
});
