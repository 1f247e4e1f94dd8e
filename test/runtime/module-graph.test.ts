import assert from 'node:assert/strict';
import { test } from 'node:test';
import { localModules } from '../../runtime/primary/module-graph.js';

/** A project held in memory: path -> source. */
function project(files: Record<string, string>): (file: string) => Buffer | undefined {
  return (file) => (file in files ? Buffer.from(files[file] as string) : undefined);
}

test('follows relative imports the way Node and TypeScript loaders resolve them, and not packages', () => {
  const read = project({
    '/app/actors/api.ts': [
      "import pg from 'pg';",
      "import { readFileSync } from 'node:fs';",
      "import { query } from '../lib/db.js';          // db.ts, by the name it compiles to",
      "import type { Row } from '../lib/types';        // types.ts, no extension",
      "export { helper } from './helper.mjs';",
      "import './side-effect.js';",
      "const late = () => import('./late.mjs');",
      "const conf = require('../config.json');",
      "import {",
      '  a,',
      '  b,',
      "} from '../lib/multi';                            // multi/index.ts",
    ].join('\n'),
    '/app/lib/db.ts': "import { pool } from './pool.js';\nexport const query = () => pool;",
    '/app/lib/pool.js': "export const pool = 1;",
    '/app/lib/types.ts': 'export interface Row { id: number }',
    '/app/actors/helper.mjs': "import { query } from '../lib/db.js'; export const helper = query;",
    '/app/actors/side-effect.js': '',
    '/app/actors/late.mjs': 'export default 1;',
    '/app/config.json': '{ "import": "./not-followed.js" }',
    '/app/lib/multi/index.ts': 'export const a = 1, b = 2;',
    '/app/unrelated.ts': 'export {};',
  });
  const files = [...localModules('/app/actors/api.ts', read).keys()].sort();
  assert.deepEqual(files, [
    '/app/actors/api.ts', '/app/actors/helper.mjs', '/app/actors/late.mjs', '/app/actors/side-effect.js',
    '/app/config.json', '/app/lib/db.ts', '/app/lib/multi/index.ts', '/app/lib/pool.js', '/app/lib/types.ts',
  ]);
});

test('a cycle ends, a specifier naming no file is skipped, and an unreadable entry gives nothing', () => {
  const read = project({
    '/p/a.mjs': "import './b.mjs'; import './missing.mjs';",
    '/p/b.mjs': "import './a.mjs';",
  });
  assert.deepEqual([...localModules('/p/a.mjs', read).keys()].sort(), ['/p/a.mjs', '/p/b.mjs']);
  assert.equal(localModules('/p/gone.mjs', read).size, 0);
});
