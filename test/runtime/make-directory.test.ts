import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeDirectory } from '../../runtime/make-directory.js';

test('makeDirectory creates every missing level and accepts an existing directory', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'actorrt-mkdir-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  makeDirectory(join(root, 'a', 'b', 'c'));
  assert.ok(statSync(join(root, 'a', 'b', 'c')).isDirectory());
  makeDirectory(join(root, 'a', 'b'));
  makeDirectory(root);
});

/**
 * Run makeDirectory(dir) in a child process, bounded: Node's recursive mkdir spins forever (the
 * event loop blocked, so no test timeout fires) on the paths below; a regression must fail, not hang.
 */
function attempt(dir: string): string {
  const module = new URL('../../runtime/make-directory.js', import.meta.url).href;
  const script = `import(${JSON.stringify(module)}).then(({ makeDirectory }) => {
    try { makeDirectory(${JSON.stringify(dir)}); console.log('created'); } catch (err) { console.log(err.code); }
  });`;
  const child = spawnSync(process.execPath, ['-e', script], { timeout: 10_000, encoding: 'utf8' });
  return child.error === undefined && child.signal === null ? child.stdout.trim() : `hung (${child.signal ?? String(child.error)})`;
}

test('makeDirectory fails at once under a dangling symlink', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'actorrt-mkdir-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  symlinkSync(join(root, 'unmounted-volume'), join(root, 'data'));
  assert.equal(attempt(join(root, 'data', 'db')), 'EEXIST');
  assert.equal(existsSync(join(root, 'unmounted-volume')), false);
});

test('makeDirectory fails at once where the parent cannot hold directories (/proc)', { skip: existsSync('/proc/self') ? false : 'no /proc here' }, () => {
  assert.equal(attempt('/proc/actorrt-nope/db'), 'ENOENT');
});
