import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InstanceStatus } from '../../runtime/primary/status.js';
import { eventually, logsWith } from '../helpers.js';
import { call, callFresh, startInstance, statusOf, until, type Instance } from './instance.js';

/**
 * A process whose event loop is stuck in an actor (a busy loop in a named function of a .ts
 * module, inline and isolated, watchdog 2 s): the watchdog's log line about its replacement says
 * where it was stuck, by function and line of the actor's source; the replacement serves.
 */
const TOPOLOGY = 'test/fixtures/stall/actorrt.yml';
/** Where spinForever loops in test/fixtures/stall/actors/stuck.ts. */
const STUCK_AT = { function: 'spinForever', at: 'actors/stuck.ts:8' };

function serving(s: InstanceStatus, group: string): number[] {
  const list = group === 'front' ? s.workers : s.pools.find((p) => p.name === group)?.processes ?? [];
  return list.filter((x) => x.state === 'up').flatMap((x) => (x.pid === undefined ? [] : [x.pid]));
}

describe('where a stuck process was stuck', () => {
  let app: Instance;
  before(async () => { app = await startInstance(TOPOLOGY); });
  after(async () => { if (app !== undefined) assert.equal(await app.stop(), 0); });

  for (const [where, group] of [['iso', 'iso'], ['inline', 'front']] as const) {
    test(`${where}: the watchdog's replacement line names the function and the actor's file:line; the new process serves`, { timeout: 60_000 }, async () => {
      const before = serving(await statusOf(app), group);
      // The stuck request fails with its process (504 at the pool's timeout, or a reset connection); that is not what is tested here.
      const stuck = call(`${app.url}/${where}/spin`).catch(() => undefined);
      const after = await until(app, `a ${group} process replaced`, (s) => {
        const now = serving(s, group);
        return now.length === before.length && before.some((pid) => !now.includes(pid));
      });
      await stuck;
      const gone = before.find((pid) => !serving(after, group).includes(pid)) as number;
      const lines = logsWith(app.stderr(), { event: 'unresponsive', childPid: gone, stuckAt: STUCK_AT, msg: /stuck in `spinForever` at actors\/stuck\.ts:8/ });
      assert.equal(lines.length, 1, `the watchdog's line names where it was stuck:\n${logsWith(app.stderr(), { event: 'unresponsive' }).map((l) => JSON.stringify(l)).join('\n')}`);
      const frames = (lines[0]?.['stuckAt'] as { frames: string[] }).frames;
      assert.match(frames[1] ?? '', /^receive \(actors\/stuck\.ts:14\)$/, 'and the frames above it');
      assert.equal(logsWith(app.stderr(), { event: 'stall', pid: gone, stuckAt: STUCK_AT }).length, 1, 'the stuck process logged it too, from its stall thread');
      await eventually(`${where}: answered again`, async () => {
        const answer = await callFresh(app.url, `/${where}/pid`);
        return answer.status === 200 && (answer.json as { pid: number }).pid !== gone;
      }, 15_000);
    });
  }
});
