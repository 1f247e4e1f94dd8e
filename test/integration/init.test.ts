import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, eventually, ROOT, tempDir, within } from '../helpers.js';
import { call } from './instance.js';

test('a scaffold from actorrt init installs from this checkout (no registry) and serves with npx actorrt start', { timeout: 240_000 }, async (t) => {
  const dir = join(tempDir('init'), 'svc');
  const init = spawnSync(process.execPath, [CLI, 'init', dir], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(init.status, 0, init.stderr);
  assert.match(init.stdout, /next:\n {2}cd .*\n {2}npm install\n {2}npx actorrt start\n/);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  assert.equal(pkg.dependencies['actorrt'], `file:${ROOT}`);
  assert.match(readFileSync(join(dir, '.gitignore'), 'utf8'), /node_modules/);
  assert.match(readFileSync(join(dir, 'actorrt.yml'), 'utf8'), /host: 127\.0\.0\.1/);

  // --ignore-scripts: a user's install also runs actorrt's prepare (a build of this checkout), which
  // must not rewrite dist/ under the other tests running now. --prefer-offline: actorrt comes from
  // this checkout; the scaffold's test tools (tsx, typescript, @types/node) from npm's cache when there.
  const install = spawnSync('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
  assert.equal(install.status, 0, install.stderr);

  // The scaffold's own test passes as it is, and its types check (the SDK and the kit typed from the actor).
  // Run as a user runs it: not as a child of this test runner (NODE_TEST_CONTEXT would make it report to us, not print).
  const { NODE_TEST_CONTEXT: _child, ...env } = process.env;
  const npmTest = spawnSync('npm', ['test'], { cwd: dir, encoding: 'utf8', timeout: 120_000, env });
  assert.equal(npmTest.status, 0, `npm test in the scaffold:\n${npmTest.stdout}\n${npmTest.stderr}`);
  assert.match(npmTest.stdout, /# pass 4\n# fail 0/);
  const typecheck = spawnSync('npm', ['run', 'typecheck'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(typecheck.status, 0, `npm run typecheck in the scaffold:\n${typecheck.stdout}\n${typecheck.stderr}`);

  const validate = spawnSync(process.execPath, [CLI, 'validate'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  assert.equal(validate.status, 0, `validate imports the installed actor: ${validate.stderr}`);

  // As the README says: npx actorrt start, with no file named (./actorrt.yml).
  const app = spawn('npx', ['--no-install', 'actorrt', 'start', '--port', '0', '--workers', '1'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  app.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => app.once('exit', resolve));
  t.after(async () => {
    if (app.exitCode === null && app.signalCode === null) app.kill('SIGTERM');
    try {
      await within('npx stopping on SIGTERM', exited, 10_000);
    } catch {
      app.kill('SIGKILL');
      await exited;
    }
    // The instance under npx stops when npx goes; if it did not, stop it by its topology.
    spawnSync(process.execPath, [CLI, 'stop'], { cwd: dir, timeout: 30_000 });
  });
  await eventually('the scaffold is ready', () => /actorrt ready on/.test(out), 30_000);
  const url = /actorrt ready on (http:\/\/\S+)/.exec(out)?.[1] as string;
  const hello = await call(`${url}/hello/you`);
  assert.equal(hello.status, 200);
  assert.deepEqual(hello.json, { hello: 'you', greeted: 1 });
  const status = spawnSync(process.execPath, [CLI, 'status'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  assert.equal(status.status, 0, `status finds the instance from ./actorrt.yml: ${status.stderr}`);
  app.kill('SIGTERM'); // what a process manager does to npx (npx dies of it): the instance stops with it
  await within('npx exiting on SIGTERM', exited, 15_000);
  await eventually('the instance stopped with npx', () => spawnSync(process.execPath, [CLI, 'status'], { cwd: dir, timeout: 30_000 }).status === 1, 15_000);
});
