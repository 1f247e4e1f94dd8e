import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIssue } from '../../config/errors.js';
import { assertIssue, issuesOf, load, MINIMAL } from '../helpers.js';

// `${env:NAME}` typed by where it stands: quoted stays a string, unquoted takes the schema's type.

const ROUTES = MINIMAL.slice('version: 1\n'.length);

/** A postgres resource whose password line is `line` (indented under the resource). */
function withPassword(line: string): string {
  return `version: 1\nresources:\n  pg:\n    type: postgres\n    host: db\n    ${line}\n${ROUTES}`;
}

function passwordOf(topology: string, env: NodeJS.ProcessEnv): unknown {
  const pg = load(topology, undefined, env).resources['pg'];
  assert.ok(pg?.type === 'postgres');
  return pg.password;
}

test('a quoted placeholder stays the string the variable holds, leading zeros kept: double, single, block and !!str', () => {
  const env = { PG_PASSWORD: '0427193' };
  assert.equal(passwordOf(withPassword('password: "${env:PG_PASSWORD}"'), env), '0427193');
  assert.equal(passwordOf(withPassword("password: '${env:PG_PASSWORD}'"), env), '0427193');
  assert.equal(passwordOf(withPassword('password: |-\n      ${env:PG_PASSWORD}'), env), '0427193');
  assert.equal(passwordOf(withPassword('password: >-\n      ${env:PG_PASSWORD}'), env), '0427193');
  assert.equal(passwordOf(withPassword('password: !!str ${env:PG_PASSWORD}'), env), '0427193');
  assert.equal(passwordOf(withPassword('password: "${env:PG_PASSWORD}"'), { PG_PASSWORD: 'true' }), 'true');
});

test('an unquoted placeholder takes the type the schema asks for there: a string where it wants a string, a number or boolean where it wants one', () => {
  assert.equal(passwordOf(withPassword('password: ${env:PW}'), { PW: '0427193' }), '0427193');
  assert.equal(passwordOf(withPassword('password: ${env:PW}'), { PW: 'false' }), 'false');
  const config = load(`version: 1
http:
  port: \${env:PORT}
  workers: \${env:WORKERS}
  limits:
    bodyBytes: \${env:BODY}
resources:
  db: { type: sqlite, file: ./app.db }
  ro:
    type: sqlite
    file: ./ro.db
    readonly: \${env:RO}
pools:
  api:
    actor: ./actors/api.ts
    size: \${env:SIZE}
    timeout: \${env:TIMEOUT}
    drainTimeout: \${env:DRAIN}
routes:
  - match:
      path: /x
      query:
        v: \${env:V}
    pool: api
`, undefined, { PORT: '8081', WORKERS: '3', BODY: '2048', RO: 'true', SIZE: '04', TIMEOUT: '250', DRAIN: '5s', V: '007' });
  assert.equal(config.http.port, 8081);
  assert.equal(config.http.workers, 3);
  assert.equal(config.http.limits.bodyBytes, 2048);
  assert.equal(config.resources['ro']?.type === 'sqlite' && config.resources['ro'].readonly, true);
  assert.equal(config.pools['api']?.size, 4);
  assert.equal(config.pools['api']?.timeout, 250, 'a plain number is milliseconds');
  assert.equal(config.pools['api']?.drainTimeout, 5000, 'a duration string stays a string and is parsed as one');
  assert.equal(config.routes[0]?.match.query?.['v'], '7', 'a number where the schema takes one (query conditions are compared as text)');
  assert.equal(load(`version: 1\nhttp:\n  workers: \${env:W}\n${ROUTES}`, undefined, { W: 'auto' }).http.workers, 'auto');
});

test('one anchored placeholder used in two places takes each place\'s type', () => {
  const config = load(`version: 1
x-shared: &n \${env:N}
http:
  port: *n
resources:
  pg: { type: postgres, host: db, password: *n }
${ROUTES}`, undefined, { N: '08080' });
  assert.equal(config.http.port, 8080);
  assert.equal(config.resources['pg']?.type === 'postgres' && config.resources['pg'].password, '08080');
});

test('a placeholder inside other text is never typed: it is text', () => {
  const config = load(`version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    timeout: \${env:T}ms\nroutes:\n  - match: { path: /x }\n    pool: api\n`, undefined, { T: '250' });
  assert.equal(config.pools['api']?.timeout, 250);
  assertIssue(`version: 1\nhttp:\n  port: \${env:A}\${env:B}\n${ROUTES}`,
    { code: 'ACTORRT_E_CONFIG_TYPE', line: 3, col: 9, message: /a string from a value built with \$\{env:A\} and \$\{env:B\} \(value not shown\)/ }, undefined, { A: '80', B: '80' });
});

test('a quoted placeholder where a number goes is refused with the fix (unquote it), never showing the value', () => {
  const issue = assertIssue(`version: 1\nhttp:\n  port: "\${env:PORT}"\n${ROUTES}`,
    { code: 'ACTORRT_E_CONFIG_TYPE', line: 3, col: 9, message: /http\.port must be an integer, got a string from \$\{env:PORT\} \(value not shown\)/, hint: /quoted.*unquoted/ },
    undefined, { PORT: '8081' });
  assert.doesNotMatch(formatIssue(issue), /8081/);
  const duration = assertIssue(`version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    timeout: '\${env:T}'\n${ROUTES.slice(ROUTES.indexOf('routes:'))}`,
    { code: 'ACTORRT_E_CONFIG_DURATION', line: 5, col: 14, hint: /quoted/ }, undefined, { T: '250' });
  assert.doesNotMatch(formatIssue(duration), /250/);
});

test('a value from the environment is never printed in an error: it says where, and which variable', () => {
  const cases: Array<{ topology: string; env: Record<string, string>; secret: string; code: Parameters<typeof assertIssue>[1]['code']; line: number; col: number }> = [
    { topology: `version: 1\nhttp:\n  port: \${env:PORT}\n${ROUTES}`, env: { PORT: 'hunter2-port' }, secret: 'hunter2-port', code: 'ACTORRT_E_CONFIG_TYPE', line: 3, col: 9 },
    { topology: `version: 1\nhttp:\n  port: \${env:PORT}\n${ROUTES}`, env: { PORT: '4271930' }, secret: '4271930', code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 9 },
    { topology: `version: 1\nhttp:\n  health: { live: "\${env:LIVE}" }\n${ROUTES}`, env: { LIVE: 'no-slash-s3cret' }, secret: 'no-slash-s3cret', code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 19 },
    { topology: withPassword('password: ${env:PW}').replace('host: db', 'host: db\n    max: ${env:PW}'), env: { PW: 'zero-s3cret' }, secret: 'zero-s3cret', code: 'ACTORRT_E_CONFIG_TYPE', line: 6, col: 10 },
    { topology: `version: 1\nresources:\n  pg: { type: postgres, url: "\${env:DATABASE_URL}" }\n${ROUTES}`, env: { DATABASE_URL: 'mysql://app:s3cret@db/app' }, secret: 's3cret', code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 30 },
    { topology: `version: 1\nresources:\n  db: { type: "\${env:KIND}", file: ./x.db }\n${ROUTES}`, env: { KIND: 'sqlite-s3cret' }, secret: 'sqlite-s3cret', code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 15 },
    { topology: `version: \${env:V}\n${ROUTES}`, env: { V: '9999' }, secret: '9999', code: 'ACTORRT_E_CONFIG_VERSION', line: 1, col: 10 },
    { topology: `version: 1\npools:\n  api:\n    actor: \${env:ACTOR}\nroutes:\n  - match: { path: /x }\n    pool: api\n`, env: { ACTOR: './actors/s3cret.ts' }, secret: 's3cret', code: 'ACTORRT_E_CONFIG_ACTOR_MODULE', line: 4, col: 12 },
    { topology: `${MINIMAL.replace('pool: api', 'pool: ${env:POOL}')}`, env: { POOL: 'ab' }, secret: '"ab"', code: 'ACTORRT_E_CONFIG_UNKNOWN_REF', line: 7, col: 11 },
  ];
  for (const c of cases) {
    const issue = assertIssue(c.topology, { code: c.code, line: c.line, col: c.col }, undefined, c.env);
    const name = Object.keys(c.env)[0] as string;
    const text = formatIssue(issue);
    assert.ok(!text.includes(c.secret), `${c.code} shows the value: ${text}`);
    assert.ok(text.includes(`\${env:${name}}`), `${c.code} names \${env:${name}}: ${text}`);
  }
});

test('a credential written in the file is never printed either: password, token-like keys, URLs with a password', () => {
  const number = assertIssue(withPassword('password: 12345678'), { code: 'ACTORRT_E_CONFIG_TYPE', line: 6, col: 15, message: /password must be a string, got a number \(not shown: a credential\)/ });
  assert.doesNotMatch(formatIssue(number), /12345678/);
  const url = assertIssue(`version: 1\nresources:\n  r: { type: redis, url: "http://app:hunter22@cache:6379" }\n${ROUTES}`, { code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 26 });
  assert.doesNotMatch(formatIssue(url), /hunter22/);
  const origin = assertIssue(`version: 1\nresources:\n  up: { type: http, origins: ["http://u:hunter22@10.0.0.5:9000/path"] }\n${ROUTES}`, { code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 31 });
  assert.doesNotMatch(formatIssue(origin), /hunter22/);
  // A credential elsewhere in the file never shows up in another message (the catch-all).
  for (const issue of issuesOf(`version: 1\nresources:\n  pg: { type: postgres, url: "postgres://app:hunter22@db/app", max: 0 }\n${ROUTES}`)) {
    assert.doesNotMatch(formatIssue(issue), /hunter22/);
  }
});
