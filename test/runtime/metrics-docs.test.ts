import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FAMILIES, PROCESS_LABELS, type MetricFamily } from '../../runtime/protocol/metric-families.js';
import { ROOT } from '../helpers.js';

/** The `## Metrics` section of docs/operations.md (up to the next `## ` heading). */
const section = ((): string => {
  const docs = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
  const start = docs.indexOf('\n## Metrics\n');
  assert.ok(start !== -1, 'docs/operations.md has a "## Metrics" section');
  const end = docs.indexOf('\n## ', start + 1);
  return docs.slice(start, end === -1 ? undefined : end);
})();

/** The family table's rows: name, type and label names as documented. */
const rows = [...section.matchAll(/^\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \| ([a-z]+) \| ([^|]*) \| (.*) \|$/gm)].map((m) => ({
  name: m[1] as string,
  type: m[2] as string,
  labels: (m[3] as string).trim() === '-' ? [] : [...(m[3] as string).matchAll(/`([a-zA-Z_][a-zA-Z0-9_]*)`/g)].map((l) => l[1] as string),
  meaning: (m[4] as string).trim(),
}));
const documented = new Map(rows.map((r) => [r.name, r]));

/** The labels a family's series carry: its own, and the process's for per-process families. */
function labelsOf(family: MetricFamily): string[] {
  return family.perProcess === true ? [...family.labels, ...PROCESS_LABELS] : [...family.labels];
}

test('docs/operations.md documents every metric family of the catalog with its type and labels', () => {
  for (const family of FAMILIES) {
    const row = documented.get(family.name);
    assert.ok(row !== undefined, `${family.name} is missing from the table in docs/operations.md#metrics`);
    assert.equal(row.type, family.type, `${family.name}: type column`);
    assert.deepEqual(row.labels, labelsOf(family), `${family.name}: labels column (in the order the series carry them)`);
    assert.ok(row.meaning.length > 0, `${family.name}: meaning column`);
  }
});

test('docs/operations.md lists no metric family the catalog does not have', () => {
  const names = new Set(FAMILIES.map((f) => f.name));
  for (const name of documented.keys()) assert.ok(names.has(name), `${name} is documented in docs/operations.md but not in runtime/protocol/metric-families.ts`);
  assert.equal(rows.length, documented.size, 'no family has two rows');
});
