import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers.js';

// The generator is plain JavaScript next to the schema (node config/schema.mjs runs it without a
// build), so it is loaded from the repository, typed by config/reference.d.mts.
type Reference = typeof import('../../config/reference.mjs');
const reference = await import(pathToFileURL(join(ROOT, 'config', 'reference.mjs')).href) as Reference;

type Node = { readonly [keyword: string]: unknown };

const SCHEMA_FILE = join(ROOT, 'config', 'schema.json');
const DOC_FILE = join(ROOT, 'docs', 'topology.md');
const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Node;
const doc = readFileSync(DOC_FILE, 'utf8');
const FIX = 'run `npm run schema` (node config/schema.mjs) and commit docs/topology.md';

/** One key of the topology, found by walking the schema on its own (not through the generator). */
interface Key {
  /** `http.port`, `pools.<name>.size`, `routes[].match.path`, `x-<anything>`. */
  readonly path: string;
  /** JSON pointer of the key's schema in schema.json. */
  readonly pointer: string;
  /** `type: sqlite` inside one variant of a discriminated map entry. */
  readonly variant: string | undefined;
  /** The discriminator of its variant (`type` of a resource): named by the variant's heading, not a row. */
  readonly discriminator: boolean;
  readonly schema: Node;
}

function isNode(value: unknown): value is Node {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function entries(value: unknown): Array<[string, Node]> {
  return isNode(value) ? Object.entries(value).filter((e): e is [string, Node] => isNode(e[1])) : [];
}

function at(root: Node, pointer: string): Node {
  let cur: unknown = root;
  for (const part of pointer.split('/').slice(1)) cur = isNode(cur) || Array.isArray(cur) ? (cur as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  assert.ok(isNode(cur), `schema.json has nothing at ${pointer}`);
  return cur;
}

const escape = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** Every key at every depth: properties, pattern properties, through additionalProperties, items, oneOf / anyOf and $ref. */
function walk(root: Node): Key[] {
  const out: Key[] = [];
  const visit = (node: Node, pointer: string, path: string, variant: string | undefined, refs: ReadonlySet<string>): void => {
    const ref = node['$ref'];
    if (typeof ref === 'string' && ref.startsWith('#') && !refs.has(ref)) visit(at(root, ref.slice(1)), ref.slice(1), path, variant, new Set([...refs, ref]));
    const tag = isNode(node['discriminator']) ? node['discriminator']['propertyName'] : undefined;
    for (const [key, sub] of entries(node['properties'])) {
      const pointerOf = `${pointer}/properties/${escape(key)}`;
      const pathOf = path === '' ? key : `${path}.${key}`;
      out.push({ path: pathOf, pointer: pointerOf, variant, discriminator: variant !== undefined && variant.startsWith(`${key}: `), schema: sub });
      visit(sub, pointerOf, pathOf, variant, refs);
    }
    for (const [pattern, sub] of entries(node['patternProperties'])) {
      out.push({ path: reference.patternPath(pattern), pointer: `${pointer}/patternProperties/${escape(pattern)}`, variant, discriminator: false, schema: sub });
    }
    if (isNode(node['additionalProperties'])) visit(node['additionalProperties'], `${pointer}/additionalProperties`, `${path}.${reference.MAP_KEY}`, variant, refs);
    if (isNode(node['items'])) visit(node['items'], `${pointer}/items`, `${path}${reference.LIST_ITEM}`, variant, refs);
    for (const keyword of ['oneOf', 'anyOf']) {
      const branches = node[keyword];
      if (!Array.isArray(branches)) continue;
      branches.forEach((branch: unknown, i) => {
        if (!isNode(branch)) return;
        const props = isNode(branch['properties']) ? branch['properties'] : {};
        const tagged = typeof tag === 'string' && isNode(props[tag]) ? props[tag]['const'] : undefined;
        visit(branch, `${pointer}/${keyword}/${i}`, path, tagged === undefined ? variant : `${String(tag)}: ${String(tagged)}`, refs);
      });
    }
  };
  visit(root, '', '', undefined, new Set());
  return out;
}

/** Every schema node with `examples` or `default`, anywhere (oneOf branches and definitions included). */
function annotated(root: Node): Array<{ pointer: string; node: Node }> {
  const out: Array<{ pointer: string; node: Node }> = [];
  const visit = (node: Node, pointer: string): void => {
    if ('examples' in node || 'default' in node) out.push({ pointer, node });
    for (const keyword of ['properties', 'patternProperties', 'definitions']) {
      for (const [key, sub] of entries(node[keyword])) visit(sub, `${pointer}/${keyword}/${escape(key)}`);
    }
    for (const keyword of ['additionalProperties', 'items', 'propertyNames']) if (isNode(node[keyword])) visit(node[keyword], `${pointer}/${keyword}`);
    for (const keyword of ['oneOf', 'anyOf', 'allOf']) {
      const list = node[keyword];
      if (Array.isArray(list)) list.forEach((sub: unknown, i) => { if (isNode(sub)) visit(sub, `${pointer}/${keyword}/${i}`); });
    }
  };
  visit(root, '');
  return out;
}

/** The rows of the generated section, with the heading each sits under. */
function rows(section: string): Array<{ heading: string; key: string; cells: string[]; line: string }> {
  const out: Array<{ heading: string; key: string; cells: string[]; line: string }> = [];
  let heading = '';
  for (const line of section.split('\n')) {
    if (line.startsWith('#')) heading = line;
    const m = /^\| `([^`]+)` \|/.exec(line);
    if (m === null) continue;
    const cells = line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
    out.push({ heading, key: m[1] as string, cells, line });
  }
  return out;
}

const keys = walk(schema);
const section = reference.extractReference(doc) ?? '';

test('docs/topology.md holds the reference config/schema.mjs generates from the current schema', () => {
  assert.equal(doc.split(reference.START).length - 1, 1, `docs/topology.md must hold the generated reference exactly once, between ${reference.START} and ${reference.END}: ${FIX}`);
  assert.ok(doc.indexOf(reference.END) > doc.indexOf(reference.START), `docs/topology.md's ${reference.END} must follow its start marker: ${FIX}`);
  const expected = reference.renderReference(schema);
  if (section === expected) return;
  const offset = doc.slice(0, doc.indexOf(reference.START)).split('\n').length;
  const have = section.split('\n');
  const want = expected.split('\n');
  const differ: string[] = [];
  for (let i = 0; i < Math.max(have.length, want.length); i += 1) {
    if (have[i] === want[i]) continue;
    differ.push(`  docs/topology.md:${offset + i}\n    is:        ${have[i] ?? '(missing)'}\n    generated: ${want[i] ?? '(nothing)'}`);
  }
  const shown = differ.slice(0, 15).join('\n');
  assert.fail(`docs/topology.md's generated reference differs from what the schema renders in ${differ.length} line(s):\n${shown}${differ.length > 15 ? `\n  ... and ${differ.length - 15} more` : ''}\nFix: ${FIX}`);
});

test('every key at every depth has a description and a default or examples', () => {
  assert.ok(keys.length > 100, `the walk found only ${keys.length} keys`);
  for (const expected of ['http.limits.bodyBytes', 'pools.<name>.autoscale.up.step', 'routes[].match.path', 'resources.<name>.healthCheck.path', 'http.accessLog.userAgent', 'x-<anything>']) {
    assert.ok(keys.some((k) => k.path === expected), `the walk misses ${expected}`);
  }
  const missing = keys.flatMap((k) => {
    const problems = [
      typeof k.schema['description'] === 'string' && k.schema['description'].trim() !== '' ? '' : 'no description',
      'default' in k.schema || (Array.isArray(k.schema['examples']) && k.schema['examples'].length > 0) ? '' : 'neither a default nor examples',
    ].filter(Boolean);
    return problems.length ? [`${k.path}${k.variant ? ` (${k.variant})` : ''} at ${k.pointer}: ${problems.join(', ')}`] : [];
  });
  assert.deepEqual(missing, [], `keys to complete in config/schema.mjs (description, default or examples: [...]):\n${missing.join('\n')}`);
});

test('every example and every default validates against the schema of its key', () => {
  const require = createRequire(import.meta.url);
  const { Ajv } = require('ajv') as typeof import('ajv');
  // As config/validate.ts compiles the schema, without filling in defaults (the values are checked as written).
  const ajv = new Ajv({ allErrors: true, discriminator: true, strict: true, allowUnionTypes: true });
  ajv.addSchema(schema);
  const id = String(schema['$id']);
  const bad: string[] = [];
  const found = annotated(schema);
  assert.ok(found.filter((a) => 'examples' in a.node).length > 50, 'the schema has examples');
  for (const { pointer, node } of found) {
    const validate = ajv.getSchema(`${id}#${pointer}`);
    assert.ok(validate, `ajv cannot compile the schema at ${pointer}`);
    const values: Array<[string, unknown]> = [];
    if ('default' in node) values.push(['default', node['default']]);
    if ('examples' in node) {
      assert.ok(Array.isArray(node['examples']) && node['examples'].length > 0, `${pointer}: examples must be a non-empty list`);
      node['examples'].forEach((v: unknown, i) => values.push([`examples[${i}]`, v]));
    }
    for (const [what, value] of values) {
      if (!validate(structuredClone(value))) bad.push(`${pointer} ${what} ${JSON.stringify(value)}: ${ajv.errorsText(validate.errors)}`);
    }
  }
  assert.deepEqual(bad, [], `values that their own key's schema rejects:\n${bad.join('\n')}`);
});

test('every key has a row with its type, default, description and an example', () => {
  const table = rows(section);
  assert.ok(table.length > 100, `the generated reference has only ${table.length} rows: ${FIX}`);
  const absent: string[] = [];
  for (const k of keys) {
    if (k.discriminator) {
      // `type: sqlite` of a resource: the heading of the variant's table says it, with its description.
      if (!section.includes(`\`${k.variant ?? ''}\``)) absent.push(`${k.path} (${k.variant}): no heading for the variant`);
      continue;
    }
    const found = table.filter((r) => r.key === k.path && (k.variant === undefined || r.heading.includes(`\`${k.variant}\``)));
    if (found.length === 0) absent.push(`${k.path}${k.variant ? ` (${k.variant})` : ''}: no row`);
  }
  assert.deepEqual(absent, [], `keys missing from the generated reference (${FIX}):\n${absent.join('\n')}`);
  const incomplete = table.filter((r) => r.cells.length !== 5 || r.cells.some((c) => c === '')).map((r) => r.line);
  assert.deepEqual(incomplete, [], 'every row has a key, a type, a default, a description and an example');
});

test('every duration and size key\'s row names its unit', () => {
  const unitOf = (node: Node): 'duration' | 'size' | undefined => {
    const refs = [node['$ref'], ...(Array.isArray(node['oneOf']) ? node['oneOf'].map((b: unknown) => (isNode(b) ? b['$ref'] : undefined)) : [])];
    if (refs.includes('#/definitions/duration')) return 'duration';
    if (refs.includes('#/definitions/size')) return 'size';
    return undefined;
  };
  const table = rows(section);
  const measured = keys.filter((k) => unitOf(k.schema) !== undefined);
  assert.ok(measured.length > 40, `only ${measured.length} duration and size keys found`);
  const unnamed: string[] = [];
  for (const k of measured) {
    const unit = unitOf(k.schema);
    const found = table.filter((r) => r.key === k.path && (k.variant === undefined || r.heading.includes(`\`${k.variant}\``)));
    if (found.length === 0) unnamed.push(`${k.path}: no row`);
    for (const r of found) {
      const type = r.cells[1] ?? '';
      const ok = unit === 'duration' ? /milliseconds/.test(type) && /\b\d+ms\b/.test(type) && /\b\d+s\b/.test(type) : /bytes/.test(type) && /\b\d+(kb|mb)\b/.test(type);
      if (!ok) unnamed.push(`${k.path} (${unit}): ${type}`);
    }
  }
  assert.deepEqual(unnamed, [], `rows that do not say their unit (durations: milliseconds or 250ms / 5s / 1m; sizes: bytes or 512kb / 1mb):\n${unnamed.join('\n')}`);
});

test('the generated section replaces the old one and leaves the hand-written page alone', () => {
  const section1 = `${reference.START}\nold\n${reference.END}\n`;
  const page = `# Title\n\nhand-written\n\n${section1}`;
  const next = reference.spliceReference(page, `${reference.START}\nnew\n${reference.END}\n`);
  assert.equal(next, `# Title\n\nhand-written\n\n${reference.START}\nnew\n${reference.END}\n`);
  assert.equal(reference.spliceReference(next, reference.extractReference(next) ?? ''), next, 'splicing a page\'s own section changes nothing');
  assert.equal(reference.spliceReference('# Title\n', `${reference.START}\nx\n${reference.END}\n`), `# Title\n\n${reference.START}\nx\n${reference.END}\n`);
  const handWritten = doc.slice(0, doc.indexOf(reference.START));
  assert.match(handWritten, /## Environment placeholders and types/);
  assert.match(handWritten, /## Merge keys and x- blocks/);
});
