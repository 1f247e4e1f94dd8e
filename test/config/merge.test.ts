import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertIssue, issuesOf, load } from '../helpers.js';

// YAML merge keys (`<<: *defaults`, `<<: [*a, *b]`) and top-level `x-` blocks to keep them in.

const ROUTES = `routes:\n  - match: { path: /x }\n    pool: invoices\n`;

test('pools share settings through an anchored x- block and <<: merge keys; a key next to the merge wins, before it or after it', () => {
  const config = load(`version: 1
x-pool-defaults: &pool-defaults
  size: 2
  timeout: 5s
  drainTimeout: 1s
pools:
  invoices:
    <<: *pool-defaults
    actor: ./actors/api.ts
    size: 8
  reports:
    timeout: 9s
    <<: *pool-defaults
    actor: ./actors/api.ts
${ROUTES}`);
  assert.deepEqual([config.pools['invoices']?.size, config.pools['invoices']?.timeout, config.pools['invoices']?.drainTimeout], [8, 5000, 1000]);
  assert.deepEqual([config.pools['reports']?.size, config.pools['reports']?.timeout, config.pools['reports']?.drainTimeout], [2, 9000, 1000]);
  assert.equal(Object.hasOwn(config, 'x-pool-defaults'), false, 'x- blocks are not part of the topology');
});

test('a list of merges takes each key from the first block that has it; merges nest', () => {
  const config = load(`version: 1
x-a: &a { size: 3, timeout: 1s }
x-b: &b { size: 5, drainTimeout: 2s, supervision: { maxRestarts: 9 } }
x-c: &c
  <<: *b
  timeout: 7s
pools:
  invoices:
    <<: [*a, *b]
    actor: ./actors/api.ts
  other:
    <<: *c
    actor: ./actors/api.ts
${ROUTES}`);
  const invoices = config.pools['invoices'];
  assert.deepEqual([invoices?.size, invoices?.timeout, invoices?.drainTimeout, invoices?.supervision.maxRestarts], [3, 1000, 2000, 9]);
  const other = config.pools['other'];
  assert.deepEqual([other?.size, other?.timeout, other?.drainTimeout], [5, 7000, 2000]);
});

test('an error in a merged value points at the anchored block, where the value is written; one next to the merge at its own line', () => {
  const topology = (extra: string): string => `version: 1
x-pool-defaults: &pool-defaults
  size: 0
  sise: 2
pools:
  invoices:
    <<: *pool-defaults
    actor: ./actors/api.ts${extra}
${ROUTES}`;
  assertIssue(topology(''), { code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 9, message: /pools\.invoices\.size must be >= 1/ });
  assertIssue(topology(''), { code: 'ACTORRT_E_CONFIG_UNKNOWN_KEY', line: 4, col: 3, message: /pools\.invoices has no key "sise"/, hint: /did you mean "size"/ });
  const issues = issuesOf(topology('\n    size: 4\n    timeout: soon'));
  assert.ok(!issues.some((i) => i.path === 'pools.invoices.size'), 'the override wins, so the merged size 0 is not checked');
  assert.ok(issues.some((i) => i.code === 'ACTORRT_E_CONFIG_DURATION' && i.position.line === 10 && i.position.col === 14));
});

test('merging something that is not a mapping is refused at the merge, not a crash', () => {
  assertIssue(`version: 1\nx-n: &n 5\npools:\n  invoices:\n    <<: *n\n    actor: ./actors/api.ts\n${ROUTES}`,
    { code: 'ACTORRT_E_CONFIG_TYPE', line: 5, col: 9, message: /merge key \(<<\) takes a mapping.*a scalar/, hint: /<<: \*defaults/ });
  assertIssue(`version: 1\nx-a: &a { size: 2 }\npools:\n  invoices:\n    <<: [*a, [1]]\n    actor: ./actors/api.ts\n${ROUTES}`,
    { code: 'ACTORRT_E_CONFIG_TYPE', line: 5, col: 14, message: /a list/ });
  // Quoted, "<<" is an ordinary key, which pools do not have.
  assertIssue(`version: 1\npools:\n  invoices:\n    "<<": { size: 2 }\n    actor: ./actors/api.ts\n${ROUTES}`,
    { code: 'ACTORRT_E_CONFIG_UNKNOWN_KEY', line: 4, col: 5 });
});

test('merge keys stay within the alias-expansion bound: a billion-laughs file built from merges is refused', () => {
  const lines = ['version: 1', 'x-0: &x0 { a: 1, b: 2 }'];
  for (let i = 1; i <= 12; i++) lines.push(`x-${i}: &x${i}`, `  <<: [${Array(9).fill(`*x${i - 1}`).join(', ')}]`, `  k${i}: [${Array(9).fill(`*x${i - 1}`).join(', ')}]`);
  assertIssue(`${lines.join('\n')}\n${ROUTES}`, { code: 'ACTORRT_E_CONFIG_ALIAS_LIMIT', line: 1, col: 1 });
  // While a real file merging one block into many pools loads.
  const pools = Array.from({ length: 60 }, (_, i) => `  p${i}:\n    <<: *d\n    actor: ./actors/api.ts`).join('\n');
  const config = load(`version: 1\nx-d: &d { size: 2 }\npools:\n${pools}\nroutes:\n  - match: { path: /x }\n    pool: p0\n`);
  assert.equal(Object.keys(config.pools).length, 60);
});

test('top-level x- keys hold anything and are ignored; another unknown top-level key is refused with a hint naming x-', () => {
  const config = load(`version: 1\nx-notes: [anything, { goes: here }]\nx-empty:\npools:\n  invoices:\n    actor: ./actors/api.ts\n${ROUTES}`);
  assert.deepEqual(Object.keys(config.pools), ['invoices']);
  assertIssue(`version: 1\ndefaults: { size: 2 }\npools:\n  invoices:\n    actor: ./actors/api.ts\n${ROUTES}`,
    { code: 'ACTORRT_E_CONFIG_UNKNOWN_KEY', line: 2, col: 1, hint: /x-defaults/ });
  // Only at the top level: inside a pool, x- is a key like any other.
  assertIssue(`version: 1\npools:\n  invoices:\n    actor: ./actors/api.ts\n    x-note: hi\n${ROUTES}`, { code: 'ACTORRT_E_CONFIG_UNKNOWN_KEY', line: 5, col: 5 });
});

test('a placeholder in an x- block nothing uses may name an unset variable; once the block is merged, it must be set', () => {
  const block = 'x-prod: &prod\n  password: "${env:ACTORRT_TEST_UNSET_PW}"\n';
  load(`version: 1\n${block}pools:\n  invoices:\n    actor: ./actors/api.ts\n${ROUTES}`, undefined, {});
  assertIssue(`version: 1\n${block}resources:\n  pg:\n    type: postgres\n    host: db\n    <<: *prod\npools:\n  invoices:\n    actor: ./actors/api.ts\n${ROUTES}`,
    { code: 'ACTORRT_E_CONFIG_ENV', line: 3, col: 13, message: /ACTORRT_TEST_UNSET_PW is not set/ }, undefined, {});
});

test('an environment value merged from a block is typed where it lands and located where it is written', () => {
  const topology = `version: 1\nx-http: &http\n  port: \${env:PORT}\nhttp:\n  <<: *http\npools:\n  invoices:\n    actor: ./actors/api.ts\n${ROUTES}`;
  assert.equal(load(topology, undefined, { PORT: '8081' }).http.port, 8081);
  assertIssue(topology, { code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 9, message: /from \$\{env:PORT\}/ }, undefined, { PORT: '99999' });
});
