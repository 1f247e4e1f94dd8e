import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers.js';
import { runCli } from './instance.js';

/**
 * A pid file naming a live process and `runtimeDir` as its runtime folder. The process is this
 * test's own: a stop that signalled it anyway would end the test run.
 */
function pidFileFor(runtimeDir: string): string {
  const file = join(tempDir('perm'), 'x.pid');
  writeFileSync(file, `${process.pid}\n${runtimeDir}\n`);
  return file;
}

test('start refuses a temp folder every user can write without the sticky bit, and says what to do', { timeout: 60_000 }, async () => {
  const open = join(tempDir('perm'), 'shared');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const { code, stderr } = await runCli(['start', 'test/fixtures/runtime/actorrt.yml', '--port', '0'], 20_000, { TMPDIR: open });
  assert.equal(code, 1);
  assert.match(stderr, /ACTORRT_E_PERMISSION .*writable by every user and has no sticky bit/);
  assert.match(stderr, /TMPDIR/);
});

test('commands refuse to drive an instance whose runtime folder is open to other users', { timeout: 60_000 }, async () => {
  const dir = join(tempDir('perm'), 'rt');
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  for (const command of ['status', 'stop', 'reload']) {
    const { code, stderr } = await runCli([command, '--pid-file', pidFileFor(dir)]);
    assert.equal(code, 1, command);
    assert.match(stderr, /ACTORRT_E_PERMISSION .*open to other users \(mode 777\)/, command);
  }
});

test('commands refuse another user\'s instance before signalling anything', { timeout: 60_000, skip: process.getuid?.() !== 0 && 'needs root to create a folder owned by another user' }, async () => {
  const dir = join(tempDir('perm'), 'rt');
  mkdirSync(dir, { mode: 0o700 });
  chownSync(dir, 65534, 65534);
  const { code, stderr } = await runCli(['stop', '--pid-file', pidFileFor(dir)]);
  assert.equal(code, 1);
  assert.match(stderr, /ACTORRT_E_PERMISSION .*belongs to another user \(uid 65534\)/);
});

test('a pid file whose instance folder is gone is reported stale, and its pid is left alone', { timeout: 60_000 }, async () => {
  const { code, stderr } = await runCli(['stop', '--pid-file', pidFileFor(join(tempDir('perm'), 'gone'))]);
  assert.equal(code, 1);
  assert.match(stderr, /ACTORRT_E_NOT_RUNNING .*is gone; the pid file is stale/);
});
