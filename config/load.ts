import { readFileSync, statSync } from 'node:fs';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { ErrorCode } from '../runtime/errors.js';
import { ConfigError, type ConfigIssue, type SourcePosition } from './errors.js';
import { interpolateEnv } from './env.js';

/** Files past this size are refused before parsing: a topology is never this large. */
export const MAX_FILE_BYTES = 1024 * 1024;
/** Alias expansions allowed when converting to JS; bounds "billion laughs" files. */
export const MAX_ALIAS_COUNT = 100;
/** Mapping/sequence nesting allowed; the schema needs 6, so this only stops hostile input. */
export const MAX_DEPTH = 64;

export type PathSegment = string | number;

/** A parsed topology file: plain data plus a way back from a data path to file:line:col. */
export interface LoadedDocument {
  readonly file: string;
  readonly data: unknown;
  /** Position of the node at `path`; with `key`, of that key inside the mapping at `path`. */
  locate(path: readonly PathSegment[], key?: string): SourcePosition;
}

const YAML_CODES: Partial<Record<string, ErrorCode>> = {
  DUPLICATE_KEY: 'ACTORRT_E_CONFIG_DUPLICATE_KEY',
};

/** Read and parse a topology file; throws ConfigError with positions for every problem found. */
export function loadFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedDocument {
  let source: string;
  try {
    const stat = statSync(file);
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (stat.size > MAX_FILE_BYTES) {
      throw new ConfigError([issueAt(file, 1, 1, 'ACTORRT_E_CONFIG_TOO_LARGE',
        `file is ${stat.size} bytes; the limit is ${MAX_FILE_BYTES} (1 MiB)`,
        'a topology this large is almost certainly not the file you meant')]);
    }
    source = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError([issueAt(file, 1, 1, 'ACTORRT_E_CONFIG_READ', `cannot read the topology file (${reason})`,
      'check the path; `actorrt init` writes a starter actorrt.yml')]);
  }
  return loadSource(source, file, env);
}

/** Parse topology text already in memory (`file` names it in messages). */
export function loadSource(source: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedDocument {
  if (Buffer.byteLength(source) > MAX_FILE_BYTES) {
    throw new ConfigError([issueAt(file, 1, 1, 'ACTORRT_E_CONFIG_TOO_LARGE', `source is larger than ${MAX_FILE_BYTES} bytes`)]);
  }
  const lineCounter = new LineCounter();
  const at = (offset: number): { line: number; col: number } => lineCounter.linePos(offset);

  let doc: Document.Parsed;
  try {
    doc = parseDocument(source, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
  } catch (err) {
    throw new ConfigError([tooDeep(file, err)]);
  }
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => {
      const { line, col } = at(e.pos[0]);
      // yaml catches its own stack overflow on hostile nesting and reports it as a parse error.
      if (/call stack/i.test(e.message)) {
        return issueAt(file, line, col, 'ACTORRT_E_CONFIG_TOO_DEEP', `the document nests deeper than the loader can follow (limit ${MAX_DEPTH} levels)`);
      }
      const code = YAML_CODES[e.code] ?? 'ACTORRT_E_CONFIG_SYNTAX';
      return issueAt(file, line, col, code, firstLine(e.message),
        code === 'ACTORRT_E_CONFIG_DUPLICATE_KEY' ? 'each key may appear once per mapping; merge the two entries' : undefined);
    }));
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    throw new ConfigError([issueAt(file, 1, 1, 'ACTORRT_E_CONFIG_EMPTY', 'the topology file is empty',
      'start from `actorrt init`, or add at least `version: 1` and `routes:`')]);
  }
  if (!isMap(doc.contents)) {
    const pos = at(doc.contents.range?.[0] ?? 0);
    throw new ConfigError([issueAt(file, pos.line, pos.col, 'ACTORRT_E_CONFIG_ROOT',
      `the document root must be a mapping (keys like version, http, pools, routes), not a ${describeNode(doc.contents)}`)]);
  }

  const deep = findTooDeep(doc.contents);
  if (deep !== undefined) {
    const pos = at(deep.range?.[0] ?? 0);
    throw new ConfigError([issueAt(file, pos.line, pos.col, 'ACTORRT_E_CONFIG_TOO_DEEP',
      `the document nests deeper than ${MAX_DEPTH} levels`)]);
  }

  const envIssues = interpolateEnv(doc, env).map((missing) => {
    const pos = at(missing.node.range?.[0] ?? 0);
    return issueAt(file, pos.line, pos.col, 'ACTORRT_E_CONFIG_ENV',
      `environment variable ${missing.name} is not set`,
      `export ${missing.name}, or give a default: \${env:${missing.name}:-value}`);
  });
  if (envIssues.length > 0) throw new ConfigError(envIssues);

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    if (err instanceof ReferenceError && /alias/i.test(err.message)) {
      throw new ConfigError([issueAt(file, 1, 1, 'ACTORRT_E_CONFIG_ALIAS_LIMIT',
        `YAML aliases expand past ${MAX_ALIAS_COUNT} nodes; refusing a file built to exhaust memory`,
        'use fewer aliases, or write the values out')]);
    }
    throw new ConfigError([tooDeep(file, err)]);
  }

  const locate = (path: readonly PathSegment[], key?: string): SourcePosition => {
    const { node, keyNode } = walk(doc, path, key);
    const offset = keyNode?.range?.[0] ?? node?.range?.[0] ?? 0;
    const { line, col } = at(offset);
    return { file, line, col };
  };
  return { file, data, locate };
}

/** Follow a data path through the YAML tree (resolving aliases); stops at the deepest node found. */
function walk(doc: Document.Parsed, path: readonly PathSegment[], key?: string): { node: Node | undefined; keyNode: Node | undefined } {
  let node: Node | undefined = doc.contents ?? undefined;
  const resolve = (n: unknown): Node | undefined => {
    const r = isAlias(n) ? n.resolve(doc) : n;
    return (r ?? undefined) as Node | undefined;
  };
  for (const seg of path) {
    node = resolve(node);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined) return { node, keyNode: undefined };
      node = (pair.value ?? pair.key) as Node;
    } else if (isSeq(node) && typeof seg === 'number') {
      const next: unknown = node.items[seg];
      if (next === undefined) return { node, keyNode: undefined };
      node = next as Node;
    } else {
      return { node, keyNode: undefined };
    }
  }
  if (key !== undefined) {
    const target = resolve(node);
    if (isMap(target)) {
      const pair = target.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
      if (pair !== undefined) return { node: target, keyNode: pair.key as Node };
    }
  }
  return { node, keyNode: undefined };
}

/** Iterative depth check, so hostile nesting is reported rather than overflowing the stack. */
function findTooDeep(root: Node): Node | undefined {
  const stack: Array<[Node, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [Node, number];
    if (depth > MAX_DEPTH) return node;
    if (isMap(node)) {
      for (const p of node.items) if (p.value !== null && typeof p.value === 'object') stack.push([p.value as Node, depth + 1]);
    } else if (isSeq(node)) {
      for (const item of node.items) if (item !== null && typeof item === 'object') stack.push([item as Node, depth + 1]);
    }
  }
  return undefined;
}

function tooDeep(file: string, err: unknown): ConfigIssue {
  if (err instanceof RangeError) {
    return issueAt(file, 1, 1, 'ACTORRT_E_CONFIG_TOO_DEEP', 'the document nests too deeply to load');
  }
  // Not a user mistake we can name: keep the cause visible.
  throw err;
}

function describeNode(node: Node): string {
  if (isSeq(node)) return 'list';
  if (isScalar(node)) return `${typeof node.value} (${JSON.stringify(node.value)})`;
  return 'value';
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '').trim();
}

/** Build a ConfigIssue for a known position. */
export function issueAt(file: string, line: number, col: number, code: ErrorCode, message: string, hint?: string, path = ''): ConfigIssue {
  return hint === undefined
    ? { code, message, position: { file, line, col }, path }
    : { code, message, hint, position: { file, line, col }, path };
}
