import { test } from 'node:test';
import type { ErrorCode } from '../../runtime/errors.js';
import { assertIssue, MINIMAL } from '../helpers.js';

interface Case {
  readonly name: string;
  readonly yaml: string;
  readonly code: ErrorCode;
  readonly line: number;
  readonly col: number;
  readonly hint?: RegExp;
  readonly message?: RegExp;
}

const POOL = `pools:
  api:
    actor: ./actors/api.ts
`;
const ROUTE = `routes:
  - match: { method: GET, path: /users/:id }
    pool: api
`;

/** Schema-level mistakes: each names the code and the exact line:col a user's editor jumps to. */
const cases: Case[] = [
  {
    name: 'rejects a misspelt pool key, pointing at the key, with a did-you-mean hint',
    yaml: `version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    sise: 4\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_UNKNOWN_KEY', line: 5, col: 5, hint: /did you mean "size"/, message: /pools\.api has no key "sise"/,
  },
  {
    name: 'rejects an unknown top-level section with a hint',
    yaml: `version: 1\nrouts: []\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_UNKNOWN_KEY', line: 2, col: 1, hint: /did you mean "routes"/,
  },
  {
    name: 'rejects an unknown key under http.limits',
    yaml: `version: 1\nhttp:\n  limits:\n    bodyByte: 1mb\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_UNKNOWN_KEY', line: 4, col: 5, hint: /bodyBytes/,
  },
  {
    name: 'rejects an unknown key in a route match',
    yaml: `version: 1\n${POOL}routes:\n  - match: { method: GET, path: /x, heder: { a: b } }\n    pool: api\n`,
    code: 'ACTORRT_E_CONFIG_UNKNOWN_KEY', line: 6, col: 37, hint: /header/,
  },
  {
    name: 'rejects a key that belongs to another resource type',
    yaml: `version: 1\nresources:\n  db: { type: sqlite, file: ./a.db, origins: [http://a:1] }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_UNKNOWN_KEY', line: 3, col: 37,
  },
  {
    name: 'rejects an unknown key in supervision with a hint',
    yaml: `version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    supervision: { stratgy: one-for-all }\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_UNKNOWN_KEY', line: 5, col: 20, hint: /strategy/,
  },
  {
    name: 'rejects a pool without an actor module',
    yaml: `version: 1\npools:\n  api:\n    size: 2\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_MISSING_KEY', line: 4, col: 5, message: /missing required key "actor"/,
  },
  {
    name: 'rejects a topology without routes',
    yaml: `version: 1\n${POOL}`,
    code: 'ACTORRT_E_CONFIG_MISSING_KEY', line: 1, col: 1, message: /"routes"/,
  },
  {
    name: 'rejects a route without match',
    yaml: `version: 1\n${POOL}routes:\n  - pool: api\n`,
    code: 'ACTORRT_E_CONFIG_MISSING_KEY', line: 6, col: 5, message: /"match"/,
  },
  {
    name: 'rejects a route match without a path',
    yaml: `version: 1\n${POOL}routes:\n  - match: { method: GET }\n    pool: api\n`,
    code: 'ACTORRT_E_CONFIG_MISSING_KEY', line: 6, col: 12, message: /"path"/,
  },
  {
    name: 'rejects a resource without a type',
    yaml: `version: 1\nresources:\n  db: { file: ./a.db }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_MISSING_KEY', line: 3, col: 7, message: /"type"/,
  },
  {
    name: 'rejects a sqlite resource without a file',
    yaml: `version: 1\nresources:\n  db: { type: sqlite }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_MISSING_KEY', line: 3, col: 7, message: /"file"/,
  },
  {
    name: 'rejects an http resource without origins',
    yaml: `version: 1\nresources:\n  up: { type: http }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_MISSING_KEY', line: 3, col: 7, message: /"origins"/,
  },
  {
    name: 'rejects a redis cache without its resource',
    yaml: `version: 1\ncaches:\n  shared: { store: redis }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_MISSING_KEY', line: 3, col: 11, message: /"resource"/,
  },
  {
    name: 'rejects an unknown resource type with a hint',
    yaml: `version: 1\nresources:\n  db: { type: sqlit, file: ./a.db }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 15, hint: /did you mean "sqlite"/,
  },
  {
    name: 'rejects an unknown cache store with a hint',
    yaml: `version: 1\ncaches:\n  c: { store: memroy }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 15, hint: /did you mean "memory"/,
  },
  {
    name: 'rejects a port above 65535',
    yaml: `version: 1\nhttp:\n  port: 70000\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 9, message: /<= 65535/,
  },
  {
    name: 'rejects a port given as text',
    yaml: `version: 1\nhttp:\n  port: eighty\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_TYPE', line: 3, col: 9, message: /must be an integer/,
  },
  {
    name: 'rejects workers that are neither a number nor auto',
    yaml: `version: 1\nhttp:\n  workers: autoo\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 12, hint: /did you mean "auto"/,
  },
  {
    name: 'rejects zero workers',
    yaml: `version: 1\nhttp:\n  workers: 0\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 12,
  },
  {
    name: 'rejects a pool size of zero',
    yaml: `version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    size: 0\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 11, message: />= 1/,
  },
  {
    name: 'rejects a fractional pool size',
    yaml: `version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    size: 2.5\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_TYPE', line: 5, col: 11,
  },
  {
    name: 'rejects a pool whose size is a list',
    yaml: `version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    size: [1, 2]\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_TYPE', line: 5, col: 11, message: /got a list/,
  },
  {
    name: 'rejects pools given as a list instead of a mapping',
    yaml: `version: 1\npools:\n  - api\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_TYPE', line: 3, col: 3, message: /must be a mapping/,
  },
  {
    name: 'rejects an unknown supervision strategy with a hint',
    yaml: `version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    supervision: { strategy: one-for-none }\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 30, hint: /did you mean "one-for-one"/,
  },
  {
    name: 'rejects a lower-case HTTP method, suggesting the upper-case one',
    yaml: `version: 1\n${POOL}routes:\n  - match: { method: get, path: /x }\n    pool: api\n`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 6, col: 22, hint: /did you mean "GET"/,
  },
  {
    name: 'rejects an unknown method inside a method list, pointing at that item',
    yaml: `version: 1\n${POOL}routes:\n  - match: { method: [GET, FETCH], path: /x }\n    pool: api\n`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 6, col: 28,
  },
  {
    name: 'rejects a mailbox overflow policy that does not exist',
    yaml: `version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    mailbox: { overflow: drop }\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 26,
  },
  {
    name: 'rejects a duration with an unknown unit',
    yaml: `version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    timeout: 2 seconds\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_DURATION', line: 5, col: 14, hint: /250ms, 10s, 5m, 1h/,
  },
  {
    name: 'rejects a negative duration',
    yaml: `version: 1\nhttp:\n  shutdownTimeout: -5\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_DURATION', line: 3, col: 20,
  },
  {
    name: 'rejects a duration given as a mapping',
    yaml: `version: 1\npools:\n  api:\n    actor: ./actors/api.ts\n    supervision: { within: { s: 5 } }\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_DURATION', line: 5, col: 28,
  },
  {
    name: 'rejects a size with an unknown unit',
    yaml: `version: 1\nhttp:\n  limits: { bodyBytes: 1 megabyte }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_SIZE', line: 3, col: 24, hint: /512kb, 1mb/,
  },
  {
    name: 'rejects a fractional byte count',
    yaml: `version: 1\nhttp:\n  limits: { bodyBytes: 10.5 }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_SIZE', line: 3, col: 24,
  },
  {
    name: 'rejects a pool name with spaces, pointing at the name',
    yaml: `version: 1\npools:\n  my pool:\n    actor: ./actors/api.ts\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 3, message: /"my pool" is not a valid name/,
  },
  {
    name: 'rejects a route path that does not start with a slash',
    yaml: `version: 1\n${POOL}routes:\n  - match: { path: users }\n    pool: api\n`,
    code: 'ACTORRT_E_CONFIG_ROUTE_PATH', line: 6, col: 20,
  },
  {
    name: 'rejects an http origin that carries a path',
    yaml: `version: 1\nresources:\n  up: { type: http, origins: [http://10.0.0.5:9000/api] }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 31, message: /origin/,
  },
  {
    name: 'rejects a postgres url of another scheme, without echoing it (it may hold a password)',
    yaml: `version: 1\nresources:\n  pg: { type: postgres, url: "postgres//app:hunter2@db/app" }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 30, message: /^resources\.pg\.url must be a postgres:\/\/ or postgresql:\/\/ URL such as postgres:\/\/user:password@host:5432\/database$/,
  },
  {
    name: 'rejects a redis url of another scheme',
    yaml: `version: 1\nresources:\n  cache: { type: redis, url: "http://127.0.0.1:6379" }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 30, message: /^resources\.cache\.url must be a redis:\/\/ or rediss:\/\/ URL/,
  },
  {
    name: 'rejects an http origin with credentials, without echoing them',
    yaml: `version: 1\nresources:\n  up: { type: http, origins: ["http://app:hunter2@10.0.0.5:9000"] }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 31, message: /^resources\.up\.origins\[0\] must be an origin without credentials \(user:password@ is not sent upstream\); remove them$/,
  },
  {
    name: 'rejects an empty routes list',
    yaml: `version: 1\n${POOL}routes: []\n`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 5, col: 9, message: /at least 1/,
  },
  {
    name: 'rejects a pool listing the same resource twice',
    yaml: `version: 1\nresources:\n  db: { type: sqlite, file: ./a.db }\npools:\n  api:\n    actor: ./actors/api.ts\n    resources: [db, db]\n${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 7, col: 16, message: /same item twice/,
  },
  {
    name: 'rejects a cache entry count of zero',
    yaml: `version: 1\ncaches:\n  c: { store: memory, maxEntries: 0 }\n${POOL}${ROUTE}`,
    code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 35,
  },
  {
    name: 'rejects a missing version',
    yaml: `${MINIMAL.replace('version: 1\n', '')}`,
    code: 'ACTORRT_E_CONFIG_VERSION', line: 1, col: 1, hint: /version: 1/,
  },
  {
    name: 'rejects an unsupported version, pointing at its value',
    yaml: MINIMAL.replace('version: 1', 'version: 2'),
    code: 'ACTORRT_E_CONFIG_VERSION', line: 1, col: 10, message: /version 2 is not supported/,
  },
  {
    name: 'rejects a version given as a string',
    yaml: MINIMAL.replace('version: 1', 'version: "1"'),
    code: 'ACTORRT_E_CONFIG_VERSION', line: 1, col: 10,
  },
];

for (const c of cases) {
  test(c.name, () => {
    assertIssue(c.yaml, {
      code: c.code, line: c.line, col: c.col,
      ...(c.hint === undefined ? {} : { hint: c.hint }),
      ...(c.message === undefined ? {} : { message: c.message }),
    });
  });
}
