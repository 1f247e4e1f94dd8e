import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Deadlines } from '../../runtime/request-deadlines.js';
import { eventually } from '../helpers.js';

test('deadlines expire in order per timeout; cancelled ones never fire; different timeouts keep their own lists', { timeout: 30_000 }, async () => {
  const d = new Deadlines();
  const fired: string[] = [];
  const a = d.add(30, () => fired.push('a30'));
  d.add(30, () => fired.push('b30'));
  const c = d.add(30, () => fired.push('c30'));
  d.add(10, () => fired.push('d10'));
  d.cancel(a);
  d.cancel(c);
  d.cancel(c); // twice: harmless
  await eventually('every live deadline fired', () => fired.length === 2, 2000);
  assert.deepEqual(fired, ['d10', 'b30']);
});

test('a deadline added after the head expired is still honoured (the timer re-arms for the new head)', { timeout: 30_000 }, async () => {
  const d = new Deadlines();
  const fired: number[] = [];
  d.add(5, () => fired.push(1));
  await eventually('first fired', () => fired.length === 1, 2000);
  d.add(5, () => fired.push(2));
  d.add(5, () => fired.push(3));
  await eventually('the later ones fired', () => fired.length === 3, 2000);
  assert.deepEqual(fired, [1, 2, 3]);
});

test('cancelling every pending deadline leaves no timer that keeps the process alive', () => {
  const module = new URL('../../runtime/request-deadlines.js', import.meta.url).href;
  const script = `const { Deadlines } = await import(${JSON.stringify(module)});
const d = new Deadlines();
const handles = Array.from({ length: 5 }, () => d.add(120000, () => process.exit(3)));
for (const h of handles) d.cancel(h);`;
  // A leaked 120 s timer would keep this child alive until the 60 s kill below.
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
  assert.equal(child.status, 0, `the process exited by itself (signal ${String(child.signal)})`);
});
