import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { CLI, ROOT, eventually, within } from '../helpers.js';
import { noFailedRequest, runCli, startInstance, statusOf, steadyLoad, type Instance } from './instance.js';
import { needTools } from './services.js';

const TOPOLOGY = 'test/fixtures/runtime/top.yml';
const run = promisify(execFile);

/** A figure as top prints it (`12.3k` included). */
function figure(text: string | undefined): number {
  const n = Number.parseFloat(text ?? '');
  return text?.endsWith('k') === true ? n * 1000 : n;
}

/** The REQ/S of pool `name` in a frame (the table's sixth column). */
function requestRate(frame: string, name: string): number {
  const row = frame.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(row, `a row for pool ${name} in:\n${frame}`);
  return figure(row.trim().split(/\s+/)[5]);
}

describe('actorrt top', () => {
  let app: Instance;
  before(async () => { app = await startInstance(TOPOLOGY); });
  after(async () => { if (app !== undefined) assert.equal(await app.stop(), 0); });

  test('--once prints one plain frame: both pools serving with their req/s, and every process by role, pool and pid', { timeout: 60_000 }, async (t) => {
    const load = steadyLoad(app.url, ['/echo/1', '/cpu?ms=1', '/cached/1'], 4, t);
    const { code, stdout, stderr } = await runCli(['top', '--once', '--pid-file', app.pidFile]);
    assert.equal(code, 0, stderr);
    await noFailedRequest(load);
    assert.ok(requestRate(stdout, 'echo') > 0, stdout);
    assert.ok(requestRate(stdout, 'cpu') > 0, stdout);
    assert.match(stdout, /^echo +inline +up +2 +2\/2 /m);
    assert.match(stdout, /^cpu +isolated +up +1 +2\/2 /m);
    assert.match(stdout, /rates over \d+\.\d s/);
    assert.match(stdout, /^local +\d+\.\d% +\d+\.\d% /m, 'the cache has hit rates');
    const status = await statusOf(app);
    assert.match(stdout, new RegExp(`^primary +0 +${status.pid} `, 'm'));
    for (const w of status.workers) assert.match(stdout, new RegExp(`^front +${w.index} +${w.pid ?? '?'} +\\d+\\.\\d `, 'm'));
    const cpu = status.pools.find((p) => p.name === 'cpu');
    for (const p of cpu?.processes ?? []) assert.match(stdout, new RegExp(`^pool +cpu +${p.index} +${p.pid ?? '?'} +\\d+\\.\\d `, 'm'));
    assert.equal(cpu?.processes?.length, 2);
    assert.doesNotMatch(stdout, /\u001b/, 'plain text: no escape sequences');
  });

  test('without a running instance: ACTORRT_E_NOT_RUNNING; a bad --interval: a usage error', { timeout: 30_000 }, async () => {
    const none = await runCli(['top', '--once', '--pid-file', join(tmpdir(), 'actorrt-top-none', 'actorrt.pid')]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /ACTORRT_E_NOT_RUNNING/);
    const fast = await runCli(['top', '--once', '--interval', '5ms', '--pid-file', app.pidFile]);
    assert.equal(fast.code, 2);
    assert.match(fast.stderr, /ACTORRT_E_USAGE .*--interval 5ms/);
  });

  test('on a real terminal: draws on the alternate screen, m sorts the processes by memory, q quits and gives the terminal back', { timeout: 60_000, skip: needTools(['tmux'], 'apt-get install tmux') }, async (t) => {
    // A server of its own, on a socket in a folder of its own: tmux leaves its socket behind when killed.
    const dir = mkdtempSync(join(tmpdir(), 'actorrt-tmux-'));
    const tmux = async (...args: string[]): Promise<string> => (await run('tmux', ['-S', join(dir, 'tmux.sock'), '-f', '/dev/null', ...args], { cwd: ROOT })).stdout;
    t.after(async () => {
      await tmux('kill-server').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    });
    await tmux('new-session', '-d', '-s', 'top', '-x', '160', '-y', '50', 'bash --norc --noprofile');
    let screen = '';
    const capture = async (): Promise<string> => (screen = await tmux('capture-pane', '-p', '-t', 'top'));
    const shows = (what: string, pattern: RegExp): Promise<void> =>
      eventually(what, async () => pattern.test(await capture()), 20_000, () => screen, 100);
    const flags = async (): Promise<string> => (await tmux('display', '-p', '-t', 'top', '#{alternate_on} #{cursor_flag}')).trim();
    // The shell says how top exited and whether the terminal's modes are those it had before.
    const command = `S=$(stty -g); ${process.execPath} ${CLI} top --pid-file ${app.pidFile}; echo "top-exit=$? tty-$([ "$S" = "$(stty -g)" ] && echo same || echo changed)"`;
    await tmux('send-keys', '-t', 'top', command, 'Enter');

    await shows('top draws the pools', /^echo +inline[\s\S]*^cpu +isolated/m);
    assert.equal(await flags(), '1 0', 'the alternate screen, the cursor hidden');
    await tmux('send-keys', '-t', 'top', 'm');
    await shows('the processes sorted by memory', /processes \(5\) by memory/);
    const rss = screen.split('\n').filter((l) => /^(primary|front|pool) /.test(l)).map((l) => figure(l.split(/\s+/).find((f) => /^\d+\.\dM$/.test(f))));
    assert.equal(rss.length, 5, screen);
    assert.deepEqual(rss, [...rss].sort((a, b) => b - a), `by memory, largest first:\n${screen}`);

    await tmux('send-keys', '-t', 'top', 'q');
    await shows('top exits 0 with the terminal as it was', /^top-exit=0 tty-same$/m);
    assert.equal(await flags(), '0 1', 'the main screen, the cursor shown');
    assert.doesNotMatch(screen, /IN FLIGHT/, 'the frame left with the alternate screen');
  });
});

test('actorrt top streams plain frames when stdout is not a terminal, and exits 1 saying so when the instance stops', { timeout: 60_000 }, async (t) => {
  const app = await startInstance(TOPOLOGY, [], t);
  const top = spawn(process.execPath, [CLI, 'top', '--interval', '200ms', '--pid-file', app.pidFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => top.once('exit', (code) => resolve(code)));
  t.after(() => { if (top.exitCode === null && top.signalCode === null) top.kill('SIGKILL'); return exited; });
  let out = '';
  let err = '';
  top.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  top.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  await eventually('two frames with rates', () => (out.match(/rates over/g) ?? []).length >= 2, 20_000, () => out, 50);
  assert.match(out, /^echo +inline/m);
  assert.doesNotMatch(out, /\u001b/, 'plain text: no escape sequences');
  assert.equal(await app.stop(), 0);
  assert.equal(await within('top exiting', exited, 20_000), 1);
  assert.match(err, /ACTORRT_E_NOT_RUNNING {2}the instance \(pid \d+\) stopped while top was watching it/);
});
