import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, MINIMAL, ROOT, tempDir, writeProject } from '../helpers.js';

/** Run the CLI to completion; a synchronous spawn cannot be cut by a test timeout, so it carries its own. */
function actorrt(args: string[], cwd = ROOT): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.error, undefined, `actorrt ${args.join(' ')}: ${String(r.error)}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('validate prints a summary and exits 0 for a valid topology', () => {
  const r = actorrt(['validate', 'examples/hello/actorrt.yml']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'ok: 2 pools, 5 routes, 0 resources, 0 caches\n');
});

test('validate prints one file:line:col line per error and exits 1', () => {
  const file = writeProject(MINIMAL.replace('actor: ./actors/api.ts', 'actor: ./actors/api.ts\n    sise: 2\n    size: zero'));
  const r = actorrt(['validate', file]);
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines[0], `${file}:5:5  ACTORRT_E_CONFIG_UNKNOWN_KEY  pools.api has no key "sise"  (did you mean "size"?)`);
  assert.match(lines[1] ?? '', new RegExp(`^${file}:6:11  ACTORRT_E_CONFIG_TYPE  pools\\.api\\.size must be an integer`));
  assert.equal(lines[2], `2 errors in ${file}`);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace for a user mistake');
});

test('validate --json prints the errors as a JSON array for tools', () => {
  const file = writeProject(MINIMAL.replace('pool: api', 'pool: apu'));
  const r = actorrt(['validate', file, '--json']);
  assert.equal(r.code, 1);
  const issues = JSON.parse(r.stdout) as Array<{ code: string; position: { line: number; col: number }; hint: string }>;
  assert.equal(issues.length, 1);
  assert.equal(issues[0]?.code, 'ACTORRT_E_CONFIG_UNKNOWN_REF');
  assert.deepEqual(issues[0]?.position, { file, line: 7, col: 11 });
  assert.equal(issues[0]?.hint, 'did you mean "api"?');
  assert.deepEqual(JSON.parse(actorrt(['validate', 'examples/hello/actorrt.yml', '--json']).stdout), []);
});

test('validate reports a missing file with a code, not a stack trace', () => {
  const r = actorrt(['validate', 'nope.yml']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^nope\.yml:1:1 {2}ACTORRT_E_CONFIG_READ {2}cannot read the topology file \(ENOENT\)/);
});

test('usage errors exit 2: unknown command with a suggestion, unknown option, missing argument', () => {
  const cmd = actorrt(['valdate', 'x.yml']);
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /unknown command "valdate"; did you mean "validate"\?/);
  const opt = actorrt(['validate', '--jsno', 'x.yml']);
  assert.equal(opt.code, 2);
  assert.match(opt.stderr, /unknown option --jsno for validate; did you mean "json"\?/);
  const far = actorrt(['monit']);
  assert.equal(far.code, 2);
  assert.doesNotMatch(far.stderr, /did you mean/, 'no suggestion for a word that is not a plausible typo');
  assert.match(actorrt(['strat', 'x.yml']).stderr, /did you mean "start"\?/);
  const args = actorrt(['validate', 'a.yml', 'b.yml']);
  assert.equal(args.code, 2);
  assert.match(args.stderr, /ACTORRT_E_USAGE {2}validate takes at most one topology file \(default: \.\/actorrt\.yml\)/);
  // No file named: ./actorrt.yml, as for every command.
  const none = actorrt(['validate'], tempDir('cli-default'));
  assert.equal(none.code, 1);
  assert.match(none.stderr, /actorrt\.yml.*ACTORRT_E_CONFIG_READ/);
});

test('--help, <command> --help and --version answer and exit 0', () => {
  const help = actorrt(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /validate \[file\] \[--json\]/);
  assert.match(help.stdout, /init \[dir\]/);
  const sub = actorrt(['validate', '--help']);
  assert.equal(sub.code, 0);
  assert.match(sub.stdout, /^Usage: actorrt validate/);
  const helpStart = actorrt(['help', 'start']);
  assert.equal(helpStart.code, 0);
  assert.match(helpStart.stdout, /^Usage: actorrt start/);
  const version = actorrt(['--version']);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(version.stdout.trim(), pkg.version);
});

test('init scaffolds a project that passes validate, with the schema line, and refuses to overwrite', () => {
  const dir = join(tempDir('init'), 'svc');
  const r = actorrt(['init', dir]);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['actorrt.yml', 'actors/hello.ts', 'README.md', 'package.json']) assert.ok(existsSync(join(dir, f)), f);
  assert.match(readFileSync(join(dir, 'actorrt.yml'), 'utf8'), /^# yaml-language-server: \$schema=\.\/node_modules\/actorrt\/config\/schema\.json\n/);
  // Before npm install, 'actorrt' does not resolve from the scaffold's actor: the topology alone is checked.
  assert.equal(actorrt(['validate', join(dir, 'actorrt.yml'), '--no-import']).code, 0);
  assert.match(actorrt(['validate', join(dir, 'actorrt.yml')]).stderr, /ACTORRT_E_ACTOR_MODULE .*hello\.ts failed to load: .*actorrt/);
  const again = actorrt(['init', dir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /ACTORRT_E_INIT_EXISTS/);
  assert.equal(actorrt(['init', dir, '--force']).code, 0);
});

test('--json answers JSON on failure too (stdout), with the message on stderr', () => {
  const dir = tempDir('cli-json');
  const r = actorrt(['status', '--json'], dir);
  assert.equal(r.code, 1);
  const out = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
  assert.equal(out.ok, false);
  assert.equal(out.error.code, 'ACTORRT_E_NOT_RUNNING');
  assert.match(r.stderr, /ACTORRT_E_NOT_RUNNING/);
});

test('validate imports every actor module in a child process: syntax errors, missing exports, throws and exits are errors at the pool', () => {
  const file = writeProject(`version: 1
pools:
  a: { actor: ./actors/bad.mjs }
  b: { actor: ./actors/noexp.mjs }
  c: { actor: ./actors/throws.mjs }
  d: { actor: ./actors/exits.mjs }
routes:
  - match: { path: /a }
    pool: a
  - match: { path: /b }
    pool: b
  - match: { path: /c }
    pool: c
  - match: { path: /d }
    pool: d
`, {
    'actors/bad.mjs': 'export default { receive: ( => 1 };\n',
    'actors/noexp.mjs': 'export const x = 1;\n',
    'actors/throws.mjs': 'throw new Error("boom at import");\n',
    'actors/exits.mjs': 'process.exit(3);\n',
  });
  const r = actorrt(['validate', file]);
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[0] ?? '', new RegExp(`^${file}:3:15  ACTORRT_E_ACTOR_MODULE  pools\\.a\\.actor: .*bad\\.mjs failed to load: Unexpected token`));
  assert.match(lines[1] ?? '', /:4:15 {2}ACTORRT_E_ACTOR_MODULE {2}pools\.b\.actor: .*has no valid default export/);
  assert.match(lines[2] ?? '', /:5:15 {2}ACTORRT_E_ACTOR_MODULE {2}pools\.c\.actor: .*boom at import/);
  assert.match(lines[3] ?? '', /:6:15 {2}ACTORRT_E_ACTOR_MODULE {2}pools\.d\.actor: .*ended the process \(exit code 3\)/);
  assert.equal(lines[4], `4 errors in ${file}`);
  const skipped = actorrt(['validate', file, '--no-import']);
  assert.equal(skipped.code, 0, '--no-import checks the topology only');
});

test('a command named like an Object.prototype member is an unknown command (usage, exit 2), not a crash', () => {
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const r = actorrt([name, 'x.yml']);
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^actorrt: ACTORRT_E_USAGE {2}unknown command "${name}"`), name);
    assert.doesNotMatch(r.stderr, /internal error/, name);
  }
  const help = actorrt(['help', 'constructor']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^actorrt .*\n\nUsage: actorrt <command>/, '`help <not a command>` prints the general usage');
});
