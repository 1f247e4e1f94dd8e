import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { InstanceStatus } from '../../runtime/primary/status.js';
import { ROOT, tempDir } from '../helpers.js';
import { runCli, startInstance, until, type Instance } from './instance.js';
import { POSTGRES_URL } from './services.js';

// Topology files as users keep them: behind symlinks and ConfigMap volumes, with merge keys,
// x- blocks and ${env:...} secrets; through the real CLI.

const ACTOR = join(ROOT, 'test/fixtures/topology-files/actors/hello.mjs');

/** One inline pool `hello` of `size` actors in one front worker. */
function topology(size: number): string {
  return `version: 1
http:
  port: 0
  host: 127.0.0.1
  workers: 1
  shutdownTimeout: 5s
pools:
  hello:
    actor: ${ACTOR}
    size: ${size}
    drainTimeout: 2s
routes:
  - match: { method: GET, path: /hello }
    pool: hello
`;
}

function sizeOf(s: InstanceStatus, pool = 'hello'): number | undefined {
  return s.pools.find((p) => p.name === pool)?.size;
}

/** Reached once a reload from the file has applied `size`. */
function reloadedTo(size: number) {
  return (s: InstanceStatus): boolean => sizeOf(s) === size && s.lastReload?.trigger === 'file' && s.lastReload.applied;
}

/** Edit in place as `sed -i` does (a new file renamed over the old one), with the real sed. */
function sed(file: string, expression: string): void {
  execFileSync('sed', ['-i', expression, file]);
}

async function started(t: { after(fn: () => unknown): void }, path: string, env: NodeJS.ProcessEnv = {}): Promise<Instance> {
  const app = await startInstance(path, [], t, env);
  await until(app, 'started', (s) => sizeOf(s) === 1 || sizeOf(s) === 3);
  return app;
}

test('a topology path that is a symlink to a file in another folder reloads when that file is edited (sed -i)', { timeout: 120_000 }, async (t) => {
  const dir = tempDir('topology-link');
  mkdirSync(join(dir, 'app'));
  mkdirSync(join(dir, 'config'));
  writeFileSync(join(dir, 'config', 'actorrt.yml'), topology(1));
  symlinkSync('../config/actorrt.yml', join(dir, 'app', 'actorrt.yml'));
  const app = await started(t, join(dir, 'app', 'actorrt.yml'));
  sed(join(dir, 'config', 'actorrt.yml'), 's/size: 1/size: 3/');
  await until(app, 'reloaded to size 3 after sed -i on the target', reloadedTo(3));
  sed(join(dir, 'config', 'actorrt.yml'), 's/size: 3/size: 2/');
  await until(app, 'reloaded to size 2 after a second edit', reloadedTo(2));
  assert.equal(await app.stop(), 0);
});

test('a symlink swapped for one to a file in another folder (ln -sfn) reloads, and the new target is watched from then on', { timeout: 120_000 }, async (t) => {
  const dir = tempDir('topology-relink');
  for (const d of ['app', 'v1', 'v2']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'v1', 'actorrt.yml'), topology(1));
  writeFileSync(join(dir, 'v2', 'actorrt.yml'), topology(2));
  const link = join(dir, 'app', 'actorrt.yml');
  symlinkSync('../v1/actorrt.yml', link);
  const app = await started(t, link);
  execFileSync('ln', ['-sfn', '../v2/actorrt.yml', link]);
  await until(app, 'reloaded to size 2 after ln -sfn', reloadedTo(2));
  sed(join(dir, 'v2', 'actorrt.yml'), 's/size: 2/size: 4/');
  await until(app, 'reloaded to size 4 after editing the new target', reloadedTo(4));
  assert.equal(await app.stop(), 0);
});

test('a ConfigMap volume (actorrt.yml -> ..data/actorrt.yml, ..data swapped atomically) reloads on every swap', { timeout: 120_000 }, async (t) => {
  const dir = tempDir('topology-configmap');
  /** What the kubelet does: a new timestamped folder, a ..data_tmp link to it renamed over ..data, the old folder removed. */
  const publish = (version: string, size: number): void => {
    const old = (() => { try { return realpathSync(join(dir, '..data')); } catch { return undefined; } })();
    mkdirSync(join(dir, `..${version}`));
    writeFileSync(join(dir, `..${version}`, 'actorrt.yml'), topology(size));
    symlinkSync(`..${version}`, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    if (old !== undefined) rmSync(old, { recursive: true, force: true });
  };
  publish('2026_11_30_10_00_00.1', 1);
  symlinkSync('..data/actorrt.yml', join(dir, 'actorrt.yml'));
  const app = await started(t, join(dir, 'actorrt.yml'));
  publish('2026_11_30_10_05_00.2', 3);
  await until(app, 'reloaded to size 3 after the first swap', reloadedTo(3));
  publish('2026_11_30_10_10_00.3', 2);
  await until(app, 'reloaded to size 2 after the second swap (the watch followed ..data)', reloadedTo(2));
  assert.equal(await app.stop(), 0);
});

/** A topology sharing pool settings through a merge key, with a postgres password from the environment. */
function withSecrets(extraHttp = ''): string {
  const pg = new URL(POSTGRES_URL);
  return `version: 1
x-pool-defaults: &pool-defaults
  size: 3
  drainTimeout: 2s
http:
  port: 0
  host: 127.0.0.1
  workers: 1
  shutdownTimeout: 5s${extraHttp}
resources:
  pg:
    type: postgres
    host: ${pg.hostname}
    port: ${pg.port === '' ? 5432 : pg.port}
    user: ${decodeURIComponent(pg.username)}
    password: "\${env:PG_PASSWORD}"
    database: ${pg.pathname.slice(1)}
    max: 1
pools:
  hello:
    <<: *pool-defaults
    actor: ${ACTOR}
    resources: [pg]
routes:
  - match: { method: GET, path: /hello }
    pool: hello
`;
}

test('a quoted ${env:...} password with leading zeros starts; a refused reload never prints a value from the environment (logs, status, reload)', { timeout: 120_000 }, async (t) => {
  const dir = tempDir('topology-secrets');
  const file = join(dir, 'actorrt.yml');
  writeFileSync(file, withSecrets());
  const secret = 'hunter2-token-value';
  const env = { PG_PASSWORD: '0427193', SECRET_TOKEN: secret };
  const app = await started(t, file, env);
  assert.equal(sizeOf(await until(app, 'the merged size', (s) => sizeOf(s) === 3)), 3);

  writeFileSync(file, withSecrets('\n  workers: ${env:SECRET_TOKEN}').replace('  workers: 1\n', ''));
  const s = await until(app, 'the edit refused', (x) => x.lastReload?.trigger === 'file' && !x.lastReload.ok);
  assert.match(JSON.stringify(s.lastReload?.error), /\$\{env:SECRET_TOKEN\}/);
  const reload = await runCli(['reload', '--pid-file', app.pidFile], 20_000, env);
  assert.equal(reload.code, 1);
  assert.match(reload.stderr, /actorrt\.yml:9:12 {2}ACTORRT_E_CONFIG_VALUE {2}http\.workers .*from \$\{env:SECRET_TOKEN\} \(value not shown\)/);
  const text = await runCli(['status', '--pid-file', app.pidFile], 20_000, env);
  const json = await runCli(['status', '--pid-file', app.pidFile, '--json'], 20_000, env);
  assert.match(text.stdout, /SECRET_TOKEN/, 'status shows the refused reload');
  for (const [what, output] of [['logs', app.stderr()], ['status', text.stdout + text.stderr], ['status --json', json.stdout], ['reload', reload.stdout + reload.stderr]] as const) {
    assert.ok(!output.includes(secret), `${what} shows the value of SECRET_TOKEN`);
    assert.ok(!output.includes('0427193'), `${what} shows the password`);
  }
  assert.equal(await app.stop(), 0);
  assert.ok(!app.stderr().includes(secret) && !app.stderr().includes('0427193'), 'nor do the logs of the stop');
});

test('actorrt validate says which placeholder a bad value came from, never the value, in text and --json', { timeout: 60_000 }, async () => {
  const dir = tempDir('topology-validate');
  const file = join(dir, 'actorrt.yml');
  writeFileSync(file, topology(1).replace('port: 0', 'port: ${env:PORT}'));
  const env = { PORT: 'hunter2-port' };
  const text = await runCli(['validate', '--no-import', file], 20_000, env);
  assert.equal(text.code, 1);
  assert.match(text.stderr, /actorrt\.yml:3:9 {2}ACTORRT_E_CONFIG_TYPE {2}http\.port must be an integer, got a string from \$\{env:PORT\} \(value not shown\)/);
  const json = await runCli(['validate', '--no-import', '--json', file], 20_000, env);
  assert.equal(json.code, 1);
  assert.match(json.stdout, /\$\{env:PORT\}/);
  for (const output of [text.stdout, text.stderr, json.stdout, json.stderr]) assert.ok(!output.includes('hunter2-port'));
  writeFileSync(file, withSecrets());
  const ok = await runCli(['validate', '--no-import', file], 20_000, { PG_PASSWORD: '0427193' });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ok: 1 pool/);
});
