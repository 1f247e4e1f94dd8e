import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Upgrades } from '../../runtime/worker/upgrade.js';

test('upgraded connections are held until released; cutAll cuts those held, and every one handed over after it', () => {
  const upgrades = new Upgrades();
  const cut: string[] = [];
  const a = (): void => { cut.push('a'); };
  const b = (): void => { cut.push('b'); };
  assert.equal(upgrades.hold(a), true);
  assert.equal(upgrades.hold(b), true);
  upgrades.release(a);
  assert.equal(upgrades.size, 1);
  assert.equal(upgrades.cutAll(), 1);
  assert.deepEqual(cut, ['b']);
  assert.equal(upgrades.size, 0);
  // A handshake that completes after the drain deadline is cut at once, never held.
  assert.equal(upgrades.hold(a), false);
  assert.deepEqual(cut, ['b', 'a']);
  assert.equal(upgrades.size, 0);
});

test('a connection released before the deadline is not cut; releasing twice is harmless', () => {
  const upgrades = new Upgrades();
  let cuts = 0;
  const c = (): void => { cuts++; };
  upgrades.hold(c);
  upgrades.release(c);
  upgrades.release(c);
  assert.equal(upgrades.cutAll(), 0);
  assert.equal(cuts, 0);
});
