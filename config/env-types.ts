import type { LoadedDocument, PathSegment } from './load.js';

/** The part of a JSON Schema (draft-07, as config/schema.mjs writes it) that decides a value's type. */
interface SchemaNode {
  readonly $ref?: string;
  readonly type?: string | readonly string[];
  readonly const?: unknown;
  readonly enum?: readonly unknown[];
  readonly oneOf?: readonly SchemaNode[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly patternProperties?: Readonly<Record<string, SchemaNode>>;
  readonly additionalProperties?: SchemaNode | boolean;
  readonly items?: SchemaNode;
  readonly discriminator?: { readonly propertyName: string };
  readonly definitions?: Readonly<Record<string, SchemaNode>>;
}

type Kind = 'string' | 'integer' | 'number' | 'boolean' | 'null';

/**
 * Give every unquoted whole `${env:NAME}` the type the schema asks for where it is used, in place
 * in `data` (a copy of the document's data, before ajv sees it). YAML cannot type the value itself:
 * it reads the placeholder, not what it expands to. So `port: ${env:PORT}` becomes a number because
 * http.port is an integer, `password: ${env:PW}` stays the string "0427193" because a password is
 * a string, `timeout: ${env:T}` is the number 250 for "250" (milliseconds) and the string "5s" for
 * "5s". Where the schema takes several types, the value becomes what it would have been written
 * there literally (YAML 1.2 core: 250 a number, true a boolean), if the schema takes that type.
 * A quoted placeholder stays a string (its EnvScalar says so). A value that fits no type is left
 * as the string, for the schema's own error (which says it came from the environment).
 */
export function typeEnvValues(data: unknown, schema: object, doc: LoadedDocument): void {
  if (doc.envScalars.every((s) => !s.whole || s.quoted)) return;
  const root = schema as SchemaNode;
  const visit = (value: unknown, node: SchemaNode | undefined, path: PathSegment[]): unknown => {
    if (node === undefined) return value;
    const branches = branchesOf(node, root, value);
    if (typeof value === 'string') return typed(value, branches, path, doc);
    if (Array.isArray(value)) {
      const items = branches.find((b) => b.items !== undefined)?.items;
      value.forEach((item, i) => { value[i] = visit(item, items, [...path, i]); });
    } else if (value !== null && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        record[key] = visit(record[key], childOf(branches, key, root), [...path, key]);
      }
    }
    return value;
  };
  visit(data, root, []);
}

function typed(value: string, branches: readonly SchemaNode[], path: readonly PathSegment[], doc: LoadedDocument): unknown {
  const kinds = kindsOf(branches);
  if (kinds.size === 0 || (kinds.size === 1 && kinds.has('string'))) return value;
  const env = doc.envAt(path);
  if (env === undefined || !env.whole || env.quoted) return value;
  const literal = coreScalar(value);
  if (typeof literal === 'number') {
    if (Number.isInteger(literal) && kinds.has('integer')) return literal;
    if (kinds.has('number')) return literal;
  }
  if (typeof literal === 'boolean' && kinds.has('boolean')) return literal;
  if (literal === null && kinds.has('null')) return null;
  return value;
}

/** What `text` is as a plain YAML 1.2 core-schema scalar: a number, a boolean, null, or itself. */
function coreScalar(text: string): unknown {
  if (/^[-+]?[0-9]+$/.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : text;
  }
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(text)) {
    const n = Number(text);
    return Number.isFinite(n) ? n : text;
  }
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  if (/^(null|Null|NULL|~)$/.test(text)) return null;
  return text;
}

/** The schema's alternatives for `value`: a discriminated oneOf gives the branch its tag names, another oneOf every branch. */
function branchesOf(node: SchemaNode, root: SchemaNode, value: unknown): SchemaNode[] {
  const self = deref(node, root);
  if (self.oneOf === undefined) return [self];
  const tag = self.discriminator?.propertyName;
  const branches = self.oneOf.map((b) => deref(b, root));
  if (tag !== undefined && value !== null && typeof value === 'object') {
    const chosen = branches.find((b) => b.properties?.[tag]?.const === (value as Record<string, unknown>)[tag]);
    return chosen === undefined ? [] : [chosen];
  }
  return branches;
}

function childOf(branches: readonly SchemaNode[], key: string, root: SchemaNode): SchemaNode | undefined {
  for (const b of branches) {
    const own = b.properties?.[key];
    if (own !== undefined) return own;
    for (const [pattern, schema] of Object.entries(b.patternProperties ?? {})) if (new RegExp(pattern, 'u').test(key)) return schema;
    if (typeof b.additionalProperties === 'object') return deref(b.additionalProperties, root);
  }
  return undefined;
}

function kindsOf(branches: readonly SchemaNode[]): Set<Kind> {
  const kinds = new Set<Kind>();
  const add = (v: unknown): void => {
    if (v === null) kinds.add('null');
    else if (typeof v === 'number') kinds.add(Number.isInteger(v) ? 'integer' : 'number');
    else if (typeof v === 'string' || typeof v === 'boolean') kinds.add(typeof v as Kind);
  };
  for (const b of branches) {
    const types = b.type === undefined ? [] : typeof b.type === 'string' ? [b.type] : b.type;
    for (const t of types) if (t === 'string' || t === 'integer' || t === 'number' || t === 'boolean' || t === 'null') kinds.add(t);
    if ('const' in b) add(b.const);
    for (const v of b.enum ?? []) add(v);
  }
  return kinds;
}

/** A `$ref` (`#/definitions/name`) followed; its siblings (default, description) do not type anything. */
function deref(node: SchemaNode, root: SchemaNode): SchemaNode {
  if (node.$ref === undefined) return node;
  const name = node.$ref.replace(/^#\/definitions\//, '');
  const target = root.definitions?.[name];
  return target === undefined ? node : deref(target, root);
}
