import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { adminRequest, serveAdmin } from '../../runtime/primary/admin.js';
import { ActorrtError, type ErrorCode } from '../../runtime/errors.js';
import { CLI, tempDir } from '../helpers.js';

/** A fake primary's admin socket in a fresh 0700 folder: `onConnection` decides how it (does not) answer. Closed in t.after. */
async function fakeAdmin(t: TestContext, onConnection: (socket: Socket) => void): Promise<{ dir: string; path: string }> {
  const dir = tempDir('admin');
  const path = join(dir, 'admin.sock');
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { dir, path };
}

/** The ActorrtError `p` rejects with (fails on anything else). */
async function rejection(p: Promise<unknown>): Promise<ActorrtError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ActorrtError, `expected an ActorrtError, got ${String((err as Error).stack ?? err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

function expectCode(err: ActorrtError, code: ErrorCode, path: string, what = ''): void {
  assert.equal(err.code, code, `${what}: ${err.message}`);
  assert.ok(err.message.includes(path), `the message names the socket: ${err.message}`);
  assert.ok(err.hint !== undefined && err.hint.length > 0, 'a hint says what to do');
}

test('a primary that never answers (paused: SIGSTOP) is ACTORRT_E_ADMIN_UNAVAILABLE naming the socket and the wait', { timeout: 10_000 }, async (t) => {
  const { path } = await fakeAdmin(t, () => undefined);
  const err = await rejection(adminRequest(path, 'status', {}, 200, 'the primary (pid 4242)'));
  expectCode(err, 'ACTORRT_E_ADMIN_UNAVAILABLE', path);
  assert.match(err.message, /^the primary \(pid 4242\) did not answer "status" on its admin socket .*: no answer within 200 ms$/);
  assert.match(err.hint ?? '', /SIGCONT/);
  const reload = await rejection(adminRequest(path, 'reload', {}, 200));
  assert.match(reload.hint ?? '', /a reload it took may still be applied/, 'a timed-out reload may still happen');
});

test('a primary that drops the connection (closed or destroyed at once, cut answer) is ACTORRT_E_ADMIN_UNAVAILABLE', { timeout: 10_000 }, async (t) => {
  const cases: Array<[string, (socket: Socket) => void]> = [
    ['closed at once', (s) => s.end()],
    ['destroyed at once', (s) => s.destroy()],
    ['closed after reading the request', (s) => s.once('data', () => s.end())],
    ['an answer cut short', (s) => s.once('data', () => s.end('{"pid": 12'))],
  ];
  for (const [what, onConnection] of cases) {
    const { path } = await fakeAdmin(t, onConnection);
    expectCode(await rejection(adminRequest(path, 'status', {}, 30_000)), 'ACTORRT_E_ADMIN_UNAVAILABLE', path, what);
  }
});

test('nothing listening on the socket (ENOENT, ECONNREFUSED) is ACTORRT_E_NOT_RUNNING', { timeout: 10_000 }, async () => {
  const dir = tempDir('admin');
  const missing = join(dir, 'admin.sock');
  const err = await rejection(adminRequest(missing, 'status', {}, 30_000));
  expectCode(err, 'ACTORRT_E_NOT_RUNNING', missing);
  assert.match(err.message, /ENOENT/);
  const notSocket = join(dir, 'stale.sock');
  writeFileSync(notSocket, ''); // connect() to a path nothing listens on: ECONNREFUSED
  const refused = await rejection(adminRequest(notSocket, 'status', {}, 30_000));
  expectCode(refused, 'ACTORRT_E_NOT_RUNNING', notSocket);
  assert.match(refused.message, /ECONNREFUSED/);
});

test('a well-formed answer still resolves', { timeout: 10_000 }, async (t) => {
  const { path } = await fakeAdmin(t, (s) => s.once('data', () => s.end('{"ok":true}\n')));
  assert.deepEqual(await adminRequest(path, 'status'), { ok: true });
});

test('the CLI prints `actorrt: CODE  message` and exits 1, no stack, when the primary does not answer or drops the connection', { timeout: 30_000 }, async (t) => {
  // The pid file names a live pid (this test process) and the fake runtime folder holding admin.sock.
  const run = async (onConnection: (socket: Socket) => void): Promise<{ code: number | null; stderr: string; path: string }> => {
    const { dir, path } = await fakeAdmin(t, onConnection);
    const pidFile = join(dir, 'fake.pid');
    writeFileSync(pidFile, `${process.pid}\n${dir}\n`);
    return await new Promise((resolve) => {
      // Asynchronous: the fake server in this process must keep accepting while the CLI runs.
      const child = execFile(process.execPath, [CLI, 'status', '--pid-file', pidFile], { timeout: 25_000 }, (_err, _stdout, stderr) => {
        resolve({ code: child.exitCode, stderr, path });
      });
    });
  };
  // `status` waits 5 s for its answer: both run at once.
  const [silent, dropped] = await Promise.all([run(() => undefined), run((s) => s.destroy())]);
  for (const r of [silent, dropped]) {
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.startsWith(`actorrt: ACTORRT_E_ADMIN_UNAVAILABLE  the primary (pid ${process.pid}) did not answer "status" on its admin socket ${r.path}: `), r.stderr);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, 'no stack trace');
  }
  assert.match(silent.stderr, /no answer within 5000 ms/);
});

test('a command that fails answers with its code (and hint): the caller\'s mistake keeps its code, anything uncoded is ACTORRT_E_INTERNAL', { timeout: 10_000 }, async (t) => {
  const path = join(tempDir('admin'), 'admin.sock');
  const server = await serveAdmin(path, {
    usage: () => { throw new ActorrtError('ACTORRT_E_USAGE', 'pool=size expected'); },
    bug: () => { throw new TypeError('x is undefined'); },
    refused: () => { throw new ActorrtError('ACTORRT_E_PROFILE_BUSY', 'a profile is already running', { hint: 'wait for it' }); },
  }, pino({ level: 'silent' }));
  t.after(() => server.close());
  assert.deepEqual(await adminRequest(path, 'usage'), { error: 'pool=size expected', code: 'ACTORRT_E_USAGE' });
  assert.deepEqual(await adminRequest(path, 'refused'), { error: 'a profile is already running', code: 'ACTORRT_E_PROFILE_BUSY', hint: 'wait for it' }, 'the hint travels with the code');
  assert.deepEqual(await adminRequest(path, 'bug'), { error: 'x is undefined', code: 'ACTORRT_E_INTERNAL' });
});
