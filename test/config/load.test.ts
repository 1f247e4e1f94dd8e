import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadFile, MAX_FILE_BYTES } from '../../config/load.js';
import { ConfigError } from '../../config/errors.js';
import { assertIssue, issuesOf, MINIMAL, tempDir } from '../helpers.js';

test('reports a YAML syntax error with its position and no stack trace', () => {
  const issue = assertIssue(`version: 1\npools:\n  api: { actor: ./actors/api.ts\nroutes: []\n`, { code: 'ACTORRT_E_CONFIG_SYNTAX', line: 4, col: 1 });
  assert.doesNotMatch(issue.message, /\n|at .*\.js/);
});

test('reports a bad indentation as a syntax error', () => {
  assertIssue(`version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n   size: 2\n`, { code: 'ACTORRT_E_CONFIG_SYNTAX', line: 5, col: 1 });
});

test('rejects a duplicate key, pointing at the second occurrence', () => {
  assertIssue(`version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n  api:\n    actor: ./actors/api.ts\nroutes:\n  - match: { path: /x }\n    pool: api\n`,
    { code: 'ACTORRT_E_CONFIG_DUPLICATE_KEY', line: 5, col: 3, hint: /once per mapping/ });
});

test('rejects an empty file with its own message', () => {
  assertIssue('', { code: 'ACTORRT_E_CONFIG_EMPTY', line: 1, col: 1, hint: /actorrt init/ });
});

test('rejects a file that holds only comments as empty', () => {
  assertIssue('# nothing here\n# yet\n', { code: 'ACTORRT_E_CONFIG_EMPTY', line: 1, col: 1 });
});

test('rejects a root that is a list', () => {
  assertIssue('- version: 1\n', { code: 'ACTORRT_E_CONFIG_ROOT', line: 1, col: 1, message: /not a list/ });
});

test('rejects a root that is a plain string', () => {
  assertIssue('hello world\n', { code: 'ACTORRT_E_CONFIG_ROOT', line: 1, col: 1, message: /string/ });
});

test('refuses a billion-laughs file fast, without expanding it', () => {
  const lines = ['version: 1', 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i <= 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    lines.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  const before = process.memoryUsage().heapUsed;
  assertIssue(`${lines.join('\n')}\n`, { code: 'ACTORRT_E_CONFIG_ALIAS_LIMIT', line: 1, col: 1 });
  // 9^10 strings would be gigabytes; staying within a few dozen MB shows nothing was expanded.
  assert.ok(process.memoryUsage().heapUsed - before < 64 * 1024 * 1024);
});

test('rejects hostile nesting as too deep instead of overflowing the stack', () => {
  const deep = `version: 1\nx: ${'['.repeat(5000)}${']'.repeat(5000)}\n`;
  const issues = (() => {
    try { loadFile(writeTemp(deep)); } catch (err) { if (err instanceof ConfigError) return err.issues; throw err; }
    return [];
  })();
  assert.equal(issues[0]?.code, 'ACTORRT_E_CONFIG_TOO_DEEP');
});

test('refuses a file over 1 MiB before parsing it', () => {
  const big = `version: 1\n# ${'x'.repeat(MAX_FILE_BYTES)}\n`;
  assert.throws(() => loadFile(writeTemp(big)), (err: unknown) => err instanceof ConfigError && err.code === 'ACTORRT_E_CONFIG_TOO_LARGE');
});

test('reports a missing file as a read error naming the cause', () => {
  assert.throws(() => loadFile('/nonexistent/actorrt.yml'),
    (err: unknown) => err instanceof ConfigError && err.code === 'ACTORRT_E_CONFIG_READ' && /ENOENT/.test(err.message));
});

test('reports a directory given as the topology file as a read error', () => {
  assert.throws(() => loadFile(tmpdir()), (err: unknown) => err instanceof ConfigError && err.code === 'ACTORRT_E_CONFIG_READ');
});

test('rejects a second YAML document in the same file', () => {
  assertIssue(`${MINIMAL}---\nversion: 1\n`, { code: 'ACTORRT_E_CONFIG_SYNTAX', line: 8, col: 1 });
});

test('locates an error reached through an alias at the anchored value the user wrote', () => {
  const issues = issuesOf(`version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    supervision: &sup { strategy: one-for-al }\n  web:\n    actor: ./actors/api.ts\n    supervision: *sup\nroutes:\n  - match: { path: /x }\n    pool: api\n`);
  const web = issues.find((i) => i.path === 'pools.web.supervision.strategy');
  assert.ok(web, 'the aliased pool is reported too');
  assert.deepEqual([web.position.line, web.position.col], [5, 35]);
});

function writeTemp(text: string): string {
  const file = join(tempDir('load'), 'actorrt.yml');
  writeFileSync(file, text);
  return file;
}
