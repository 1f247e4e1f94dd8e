import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { ConfigError } from '../../config/errors.js';
import { loadConfigSource } from '../../config/validate.js';
import { ROOT, writeProject } from '../helpers.js';

/**
 * Property: whatever text the loader is given, it returns a topology or throws a ConfigError
 * whose every issue carries a code and a 1-based position inside the text; never anything else
 * (a TypeError, a stack overflow, a hang). Bounded in time, not in luck: each property stops
 * after its run count or its time budget, whichever comes first.
 */
const BUDGET = { numRuns: 1500, interruptAfterTimeLimit: 8000, markInterruptAsFailure: false } as const;

const VALID = readFileSync(join(ROOT, 'examples/hello/actorrt.yml'), 'utf8');
// The example's actor files, so the valid base passes its cross-reference checks.
const FILE = join(dirname(writeProject(VALID, {
  'actors/greeter.ts': 'export default { receive: () => ({}) };\n',
  'actors/counter.ts': 'export default { receive: () => ({}) };\n',
})), 'actorrt.yml');

function check(text: string): void {
  try {
    loadConfigSource(text, FILE, {});
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`not a ConfigError for ${JSON.stringify(text.slice(0, 300))}: ${String(err)}`, { cause: err });
    assert.ok(err.issues.length > 0, 'a ConfigError names at least one issue');
    const lines = text.split(/\r\n|\r|\n/).length;
    for (const issue of err.issues) {
      assert.match(issue.code, /^ACTORRT_E_CONFIG_/);
      assert.ok(Number.isInteger(issue.position.line) && issue.position.line >= 1 && issue.position.line <= lines + 1,
        `line ${issue.position.line} of ${lines} for ${issue.code}: ${issue.message}`);
      assert.ok(Number.isInteger(issue.position.col) && issue.position.col >= 1, `col ${issue.position.col}`);
    }
  }
}

test('the valid base loads (so the mutations start from a real topology)', () => {
  assert.doesNotThrow(() => loadConfigSource(VALID, FILE, {}));
});

test('fuzz: arbitrary text is a topology or a positioned config error', () => {
  const yamlish = fc.constantFrom(':', ' ', '  ', '-', '\n', '[', ']', '{', '}', ',', '&a', '*a', '!!str', '#', '"', "'", '|', '>', '?', '%', '@', '${env:X}', '<<', '---', '...', '\t', 'version', '1', 'pools', 'routes', 'http');
  const text = fc.array(fc.oneof(yamlish, fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 4 })), { maxLength: 60 }).map((parts) => parts.join(''));
  fc.assert(fc.property(text, check), BUDGET);
});

test('fuzz: edits of a valid topology\'s text (lines dropped, duplicated, characters inserted) are a topology or a positioned config error', () => {
  const lines = VALID.split('\n');
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('drop' as const), at: fc.nat(lines.length) }),
    fc.record({ kind: fc.constant('dup' as const), at: fc.nat(lines.length) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(lines.length), col: fc.nat(40), text: fc.string({ maxLength: 6 }) }),
    fc.record({ kind: fc.constant('indent' as const), at: fc.nat(lines.length), by: fc.integer({ min: -4, max: 4 }) }),
  );
  fc.assert(fc.property(fc.array(edit, { minLength: 1, maxLength: 6 }), (edits) => {
    const out = [...lines];
    for (const e of edits) {
      const at = e.at % Math.max(out.length, 1);
      const line = out[at] ?? '';
      if (e.kind === 'drop') out.splice(at, 1);
      else if (e.kind === 'dup') out.splice(at, 0, line);
      else if (e.kind === 'insert') out[at] = `${line.slice(0, e.col)}${e.text}${line.slice(e.col)}`;
      else out[at] = e.by >= 0 ? `${' '.repeat(e.by)}${line}` : line.slice(-e.by);
    }
    check(out.join('\n'));
  }), BUDGET);
});

test('fuzz: any value at any path of a valid topology is a topology or a positioned config error', () => {
  const base = parse(VALID) as Record<string, unknown>;
  const paths: string[][] = [];
  const walk = (node: unknown, path: string[]): void => {
    paths.push(path);
    if (node !== null && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
  };
  walk(base, []);
  const value = fc.oneof(
    fc.constantFrom(null, true, false, 0, -1, 1.5, 1e309, -0, '', ' ', '10', '10s', '-5s', '1mb', 'auto', '/', '/x/:id', '*', '${env:NOPE}', [], {}, [1, 2], { a: 1 }),
    fc.string({ maxLength: 12 }),
    fc.integer(),
    fc.double(),
    fc.jsonValue({ maxDepth: 3 }),
  );
  const mutation = fc.record({ path: fc.constantFrom(...paths), op: fc.constantFrom('set', 'delete', 'rename'), value, key: fc.string({ minLength: 1, maxLength: 10 }) });
  fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
    const doc = structuredClone(base) as Record<string, unknown>;
    for (const m of mutations) apply(doc, m.path, m.op, m.value, m.key);
    check(stringify(doc));
  }), BUDGET);
});

/** Set, delete or rename the node at `path` (the root can only be replaced by setting it). */
function apply(doc: Record<string, unknown>, path: readonly string[], op: string, value: unknown, key: string): void {
  if (path.length === 0) return;
  let parent: unknown = doc;
  for (const segment of path.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object') return;
    parent = (parent as Record<string, unknown>)[segment];
  }
  if (parent === null || typeof parent !== 'object') return;
  const target = parent as Record<string, unknown>;
  const last = path[path.length - 1] as string;
  if (!(last in target)) return;
  if (op === 'set') target[last] = value;
  else if (op === 'delete') delete target[last];
  else if (Array.isArray(target) && key === 'length') {
    // Not a document YAML can hold: an array's `length` set to an item throws in the harness itself (RangeError).
    return;
  } else {
    target[key] = target[last];
    delete target[last];
  }
}
