// Renders the "Reference: every key" section of docs/topology.md from the topology's JSON Schema
// (config/schema.json). config/schema.mjs writes it (and `--check` compares it);
// test/config/reference.test.ts checks docs/topology.md against it. Plain JavaScript so that
// `node config/schema.mjs` runs without a build; its types are in reference.d.mts.
import { stringify } from 'yaml';

export const START = '<!-- reference:start (generated from config/schema.json by node config/schema.mjs; do not edit) -->';
export const END = '<!-- reference:end -->';

/** How each duration and size key says its unit (the test looks for these words in its row). */
export const DURATION_UNITS = 'milliseconds or a string like `250ms`, `5s`, `1m`';
export const SIZE_UNITS = 'bytes or a string like `512kb`, `1mb`';

/** How a map key and a list entry appear in a path: `pools.<name>.size`, `routes[].match.path`. */
export const MAP_KEY = '<name>';
export const LIST_ITEM = '[]';

/** `x-<anything>` for the pattern `^x-`. */
export function patternPath(pattern) {
  return `${pattern.replace(/^\^/, '')}<anything>`;
}

/**
 * Every key of the schema as the reference lists it, in schema order: `{ path, variant, schema,
 * required, key }`. `variant` is `type: sqlite` for a key of one variant of a discriminated map
 * entry (resources by type, caches by store); `key` is the name written in YAML (undefined for a
 * pattern key). Discriminator keys of a variant are not listed (the variant's heading names them).
 */
export function referenceKeys(schema) {
  return sections(schema).flatMap((s) => [...s.rows, ...s.variants.flatMap((v) => v.rows)]);
}

/** The generated section, markers included, ending with a newline. */
export function renderReference(schema) {
  const defs = schema.definitions ?? {};
  const out = [START, '', '## Reference: every key', ''];
  out.push(
    'Generated from [`config/schema.json`](../config/schema.json) by `npm run schema` (edit `config/schema.mjs`, not this section).',
    'Any value may be written as an `${env:NAME}` placeholder, typed by where it is used: see',
    '[Environment placeholders and types](#environment-placeholders-and-types). Top-level keys starting with `x-` hold',
    'shared blocks: see [Merge keys and x- blocks](#merge-keys-and-x--blocks).',
    '',
    `- \`${MAP_KEY}\` in a path is a name you choose; \`${LIST_ITEM}\` is each entry of a list (\`routes[].match.path\`: the \`path\` under \`match\` of every route).`,
  );
  if (defs.name?.pattern) out.push(`- **name**: a name you choose or one declared elsewhere in the file, matching \`${defs.name.pattern}\` (a letter, then letters, digits, \`-\`, \`_\`).`);
  if (defs.duration?.pattern) out.push(`- **duration**: ${DURATION_UNITS} (pattern \`${defs.duration.pattern}\`, units ms, s, m, h).`);
  if (defs.size?.pattern) out.push(`- **size**: ${SIZE_UNITS} (pattern \`${defs.size.pattern}\`, b, kb, mb, gb in any case; 1kb = 1024 bytes).`);
  out.push('- **Default** is what a key left out means; "required" keys must be written.', '');
  for (const section of sections(schema)) {
    out.push(`### ${section.title}`, '');
    if (section.intro) out.push(text(section.intro), '');
    if (section.rows.length > 0) out.push(...table(schema, section.rows), '');
    for (const variant of section.variants) {
      out.push(`#### ${variant.title}`, '');
      if (variant.intro) out.push(`${capital(text(variant.intro))}.`, '');
      out.push(...table(schema, variant.rows), '');
    }
  }
  out.push(END);
  return `${out.join('\n')}\n`;
}

/** `doc` with its generated section replaced by `section` (appended after a blank line when it has none). */
export function spliceReference(doc, section) {
  const range = referenceRange(doc);
  if (range === undefined) return `${doc.replace(/\n*$/, '')}\n\n${section}`;
  return doc.slice(0, range.start) + section + doc.slice(range.end).replace(/^\n/, '');
}

/** The generated section of a document (markers included, with the newline after the end marker), or undefined. */
export function extractReference(doc) {
  const range = referenceRange(doc);
  return range === undefined ? undefined : `${doc.slice(range.start, range.end).replace(/\n$/, '')}\n`;
}

function referenceRange(doc) {
  const start = doc.indexOf(START);
  const endAt = doc.indexOf(END, start === -1 ? 0 : start);
  if (start === -1 || endAt === -1) return undefined;
  const end = endAt + END.length;
  return { start, end: doc[end] === '\n' ? end + 1 : end };
}

// ---------------------------------------------------------------------------------------------
// Walking the schema

function sections(schema) {
  const top = { title: 'Top level', intro: '', rows: [], variants: [] };
  const out = [top];
  const required = schema.required ?? [];
  for (const [key, sub] of Object.entries(schema.properties ?? {})) {
    const row = { path: key, variant: undefined, schema: sub, required: required.includes(key), key };
    if (!hasChildren(schema, sub)) {
      top.rows.push(row);
      continue;
    }
    const section = { title: key, intro: '', rows: [row], variants: [] };
    descend(schema, sub, key, section, undefined);
    out.push(section);
  }
  for (const [pattern, sub] of Object.entries(schema.patternProperties ?? {})) {
    top.rows.push({ path: patternPath(pattern), variant: undefined, schema: sub, required: false, key: undefined });
  }
  return out;
}

function hasChildren(root, node) {
  const r = resolve(root, node);
  if (r.properties || (r.additionalProperties && typeof r.additionalProperties === 'object' && isObjectSchema(root, r.additionalProperties))) return true;
  if (r.items && isObjectSchema(root, r.items)) return true;
  return branches(r).some((b) => hasChildren(root, b));
}

function isObjectSchema(root, node) {
  const r = resolve(root, node);
  return r.properties !== undefined || r.oneOf?.some((b) => resolve(root, b).properties !== undefined) === true;
}

/** Rows for the keys under `node` (at `path`) into `into.rows`, variants into `section.variants`. */
function descend(root, node, path, section, variant, into = section, skip = undefined) {
  const r = resolve(root, node);
  const required = r.required ?? [];
  const tag = r.discriminator?.propertyName;
  for (const [key, sub] of Object.entries(r.properties ?? {})) {
    if (key === skip) continue;
    const childPath = `${path}.${key}`;
    into.rows.push({ path: childPath, variant, schema: key === tag ? discriminatorSchema(root, r, key, sub) : sub, required: required.includes(key), key });
    if (hasChildren(root, sub)) descend(root, sub, childPath, section, variant, into);
  }
  const ap = r.additionalProperties;
  if (ap && typeof ap === 'object' && isObjectSchema(root, ap)) descend(root, ap, `${path}.${MAP_KEY}`, section, variant, into);
  if (r.items && isObjectSchema(root, r.items)) descend(root, r.items, `${path}${LIST_ITEM}`, section, variant, into);
  for (const branch of branches(r)) {
    const b = resolve(root, branch);
    const value = tag === undefined ? undefined : b.properties?.[tag]?.const;
    if (value === undefined) {
      descend(root, branch, path, section, variant, into);
      continue;
    }
    const name = `${tag}: ${value}`;
    const sub = { title: `\`${path}\` with \`${name}\``, intro: b.properties[tag].description ?? '', rows: [] };
    section.variants.push(sub);
    descend(root, branch, path, section, name, sub, tag);
  }
}

/** The discriminator key of a map entry, typed by its variants: `{ enum: [sqlite, postgres, ...] }`. */
function discriminatorSchema(root, parent, key, sub) {
  const values = branches(parent).map((b) => resolve(root, b).properties?.[key]?.const).filter((v) => v !== undefined);
  return values.length > 0 ? { ...sub, enum: values } : sub;
}

function branches(node) {
  return [...(node.oneOf ?? []), ...(node.anyOf ?? [])];
}

/** A `$ref` to `#/...` followed; the referring schema's own keywords win. */
function resolve(root, node) {
  if (node === null || typeof node !== 'object' || typeof node.$ref !== 'string') return node ?? {};
  const { $ref, ...rest } = node;
  let target = root;
  for (const part of $ref.replace(/^#\/?/, '').split('/').filter(Boolean)) target = target?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return { ...resolve(root, target), ...rest };
}

function refName(node) {
  return typeof node?.$ref === 'string' && node.$ref.startsWith('#/definitions/') ? node.$ref.slice('#/definitions/'.length) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Rendering

function table(root, rows) {
  const out = ['| Key | Type | Default | Description | Example |', '| --- | --- | --- | --- | --- |'];
  for (const row of rows) {
    const s = row.schema;
    out.push(`| \`${row.path}\` | ${cell(typeText(root, s))} | ${cell(defaultText(s, row.required))} | ${cell(text(s.description ?? ''))} | ${cell(exampleText(root, s, row.key))} |`);
  }
  return out;
}

/** The key's type as people read it, with its bounds and (durations, sizes) its unit. */
export function typeText(root, node, plural = false) {
  const def = refName(node);
  const r = resolve(root, node);
  const s = (one, many) => (plural ? many : one);
  if (def === 'duration') return `${s('duration', 'durations')}: ${DURATION_UNITS}`;
  if (def === 'size') return `${s('size', 'sizes')}: ${SIZE_UNITS}`;
  if (def === 'name') return s('name', 'names');
  if (def === 'method') return plural ? 'HTTP methods' : `HTTP method (${r.enum.map(code).join(' / ')})`;
  if (def === 'step') return `${s('step', 'steps')}: a number of units (\`2\`, at least ${r.minimum ?? 1}) or a percentage of the current size (\`50%\`)`;
  if ('const' in r) return code(r.const);
  if (Array.isArray(r.enum)) return r.enum.length === 1 ? code(r.enum[0]) : `one of ${r.enum.map(code).join(' / ')}`;
  const alternatives = branches(r);
  if (alternatives.length > 0 && r.discriminator === undefined) {
    const each = alternatives.map((b) => typeText(root, b, plural));
    return each.length === 2 ? each.join(', or ') : `one of: ${each.join('; ')}`;
  }
  const types = Array.isArray(r.type) ? r.type : [r.type];
  if (types.length > 1) return `${types.slice(0, -1).join(', ')} or ${types.at(-1)}`;
  switch (r.type) {
    case 'array': {
      const bounds = [r.minItems === 1 ? 'at least one' : r.minItems ? `at least ${r.minItems}` : '', r.uniqueItems ? 'no repeats' : ''].filter(Boolean);
      return `list of ${typeText(root, r.items ?? {}, true)}${bounds.length ? ` (${bounds.join(', ')})` : ''}`;
    }
    case 'object': {
      const ap = r.additionalProperties;
      if (ap && typeof ap === 'object') {
        const entries = isObjectSchema(root, ap)
          ? (resolve(root, ap).discriminator ? `mappings, by \`${resolve(root, ap).discriminator.propertyName}\` (keys below)` : 'mappings (keys below)')
          : typeText(root, ap, true);
        return `mapping of \`${MAP_KEY}\` to ${entries}`;
      }
      return s('mapping (keys below)', 'mappings');
    }
    case 'integer':
    case 'number': return `${s(r.type, `${r.type}s`)}${numberBounds(r)}`;
    case 'string': return `${r.minLength === 1 ? 'non-empty ' : ''}${s('string', 'strings')}${r.pattern ? ` matching \`${r.pattern}\`` : ''}`;
    case 'boolean': return s('boolean', 'booleans');
    default: return 'any value';
  }
}

function numberBounds(r) {
  const low = r.exclusiveMinimum !== undefined ? `more than ${r.exclusiveMinimum}` : r.minimum !== undefined ? `at least ${r.minimum}` : '';
  const high = r.exclusiveMaximum !== undefined ? `less than ${r.exclusiveMaximum}` : r.maximum !== undefined ? `at most ${r.maximum}` : '';
  if (r.minimum !== undefined && r.maximum !== undefined) return `, ${r.minimum} to ${r.maximum}`;
  const parts = [low, high].filter(Boolean);
  return parts.length ? `, ${parts.join(', ')}` : '';
}

/** The default, "required", or "none" with what absence means when the description says. */
function defaultText(node, required) {
  if ('default' in node) return code(node.default);
  if (required) return 'required';
  const d = node.description ?? '';
  const absent = /\babsent = ([^;]+)/.exec(d) ?? /\b(defaults to [^;]+)/.exec(d) ?? /\b(may be left out when [^;]+)/.exec(d) ?? /\(default ([^)]+)\)/.exec(d);
  return absent ? `none: ${text(absent[1])}` : 'none';
}

function exampleText(root, node, key) {
  const r = resolve(root, node);
  let values = Array.isArray(node.examples) ? node.examples : undefined;
  if (values === undefined && 'default' in node && !isEmpty(node.default)) values = [node.default];
  if (values === undefined && r.properties) {
    const sample = {};
    for (const [k, sub] of Object.entries(r.properties)) {
      const value = Array.isArray(sub.examples) ? sub.examples[0] : sub.default;
      if (value === undefined || isEmpty(value)) continue;
      sample[k] = value;
      if (Object.keys(sample).length === 3) break;
    }
    if (Object.keys(sample).length > 0) values = [sample];
  }
  if (values === undefined) return '';
  return values.map((v) => code(key === undefined ? yaml(v) : `${key}: ${yaml(v)}`, true)).join('<br>');
}

function isEmpty(value) {
  return value !== null && typeof value === 'object' && Object.keys(value).length === 0;
}

function yaml(value) {
  return stringify(value, { collectionStyle: 'flow', lineWidth: 0 }).trim();
}

/** A value (or a prepared YAML snippet when `raw`) as inline code. */
function code(value, raw = false) {
  const t = raw ? value : typeof value === 'string' ? value : yaml(value);
  return t.includes('`') ? `\`\` ${t} \`\`` : `\`${t}\``;
}

/** Prose from the schema, safe in Markdown: <placeholders> kept visible, * not emphasis. */
function text(s) {
  return s.replace(/\\/g, '\\\\').replace(/</g, '&lt;').replace(/\*/g, '\\*');
}

/** One table cell: pipes escaped (inside code spans too, as GitHub tables need), no line breaks. */
function cell(s) {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function capital(s) {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
