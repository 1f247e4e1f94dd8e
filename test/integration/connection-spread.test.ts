import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { test } from 'node:test';
import { askPid } from '../../bench/connection-spread.js';
import { eventually, writeProject } from '../helpers.js';
import { startInstance } from './instance.js';

/**
 * Issue 24: connections opened at once spread over the front workers (runtime/worker/spread.ts).
 * Without the hand-off, 8 connections to 4 workers land with one worker holding 4 or more in
 * about 4 rounds of 5 (the first worker to wake drains the accept queue).
 */

const ROUNDS = 20;
const CONNECTIONS = 8;

/** Socket descriptors `pid` holds (Linux /proc), 0 when it has no /proc entry. */
function sockets(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try { return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:'); } catch { return false; }
    }).length;
  } catch {
    return 0;
  }
}

test('8 keep-alive connections opened at once spread over 4 workers, none lost on the way', async (t) => {
  const topology = writeProject(`version: 1
http: { port: 0, host: 127.0.0.1, workers: 4 }
admin: { metrics: 127.0.0.1:0 }
pools:
  pid: { actor: ./actors/pid.mjs, size: 1 }
routes:
  - match: { method: GET, path: /pid }
    pool: pid
`, { 'actors/pid.mjs': 'export default { receive: () => ({ pid: process.pid }) };\n' });
  const app = await startInstance(topology, [], t);
  const port = Number(new URL(app.url).port);
  const primary = app.child.pid as number;
  const before = sockets(primary);
  const maxima: number[] = [];
  const workers = new Set<number>();
  for (let round = 0; round < ROUNDS; round++) {
    // Every connection is answered (a handed-off one by the worker that adopted it), whole.
    const answers = await Promise.all(Array.from({ length: CONNECTIONS }, () => askPid(port)));
    const held = new Map<number, number>();
    for (const { pid } of answers) {
      held.set(pid, (held.get(pid) ?? 0) + 1);
      workers.add(pid);
    }
    maxima.push(Math.max(...held.values()));
    await Promise.all(answers.map(({ socket }) => new Promise<void>((done) => { socket.once('close', () => done()); socket.end(); })));
  }
  // Two rounds of slack: a round's decisions read counts that closes from the previous round may not
  // have reached yet on a busy machine (measured on 2 cores: 50 of 50 rounds at most 3, twice).
  const even = maxima.filter((m) => m <= 3).length;
  assert.ok(even >= ROUNDS - 2, `a worker held more than 3 of ${CONNECTIONS} connections in ${ROUNDS - even} of ${ROUNDS} rounds (maxima ${maxima.join(' ')})`);
  assert.equal(workers.size, 4, 'every worker served connections');
  // The primary passes connections on and keeps none: node never closes a raw handle it sent, so a
  // copy left in the primary (or the sending worker) leaked a descriptor per hand-off and kept the
  // connection open after the worker serving it had closed it.
  if (before > 0) await eventually('the primary holds no connection it handed on', () => sockets(primary) === before, 10_000, () => `${sockets(primary)} sockets, ${before} before`);
  assert.equal(await app.stop(), 0);
});
