import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, formatIssue } from '../../config/errors.js';
import { ActorrtError, ERROR_CODES, type ErrorSpec } from '../../runtime/errors.js';
import { ROOT } from '../helpers.js';

const docs = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');

test('every error code is documented in docs/errors.md with its status', () => {
  for (const [code, spec] of Object.entries(ERROR_CODES) as Array<[string, ErrorSpec]>) {
    const row = docs.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
    assert.ok(row, `${code} is missing from docs/errors.md`);
    const status = row.split('|')[2]?.trim();
    assert.equal(status, spec.status === undefined ? '-' : String(spec.status), `${code}: status column`);
  }
});

test('docs/errors.md documents no code that does not exist', () => {
  const documented = [...docs.matchAll(/^\| `(ACTORRT_E_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  for (const code of documented) assert.ok(code !== undefined && code in ERROR_CODES, `${String(code)} is documented but not defined`);
});

test('errors carry their code, hint and a status defaulting to 500', () => {
  const err = new ActorrtError('ACTORRT_E_USAGE', 'bad', { hint: 'try --help' });
  assert.equal(err.code, 'ACTORRT_E_USAGE');
  assert.equal(err.hint, 'try --help');
  assert.equal(err.status, 500);
  assert.ok(err instanceof Error);
});

test('a config error with one issue takes that issue\'s code; with several, the umbrella code', () => {
  const issue = { code: 'ACTORRT_E_CONFIG_TYPE' as const, message: 'm', position: { file: 'a.yml', line: 3, col: 7 }, path: 'x' };
  assert.equal(new ConfigError([issue]).code, 'ACTORRT_E_CONFIG_TYPE');
  const two = new ConfigError([issue, issue]);
  assert.equal(two.code, 'ACTORRT_E_CONFIG_INVALID');
  assert.match(two.message, /a\.yml:3:7 {2}ACTORRT_E_CONFIG_TYPE {2}m \(and 1 more\)/);
  assert.equal(formatIssue({ ...issue, hint: 'h' }), 'a.yml:3:7  ACTORRT_E_CONFIG_TYPE  m  (h)');
});
