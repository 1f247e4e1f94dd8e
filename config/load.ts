import { readFileSync, statSync } from 'node:fs';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Alias, type Document, type Node, type Pair, type YAMLMap } from 'yaml';
import type { ErrorCode } from '../runtime/errors.js';
import { ConfigError, type ConfigIssue, type SourcePosition } from './errors.js';
import { interpolateEnv, type EnvScalar } from './env.js';

/** Files past this size are refused before parsing: a topology is never this large. */
export const MAX_FILE_BYTES = 1024 * 1024;
/**
 * Alias expansions allowed when converting to JS; bounds "billion laughs" files. yaml counts per
 * anchor (the anchored node and each use, times the aliases inside it), merge keys
 * (`<<: *defaults`) included: one flat block may be used in 99 places.
 */
export const MAX_ALIAS_COUNT = 100;
/** Mapping/sequence nesting allowed; the schema needs 6, so this only stops hostile input. */
export const MAX_DEPTH = 64;

export type PathSegment = string | number;

/** A parsed topology file: plain data plus a way back from a data path to file:line:col. */
export interface LoadedDocument {
  readonly file: string;
  readonly data: unknown;
  /**
   * Position of the node at `path`; with `key`, of that key inside the mapping at `path`. Through
   * aliases and merge keys: a value merged from an anchored block is where that block writes it.
   */
  locate(path: readonly PathSegment[], key?: string): SourcePosition;
  /** How the scalar at `path` was written with `${env:...}` placeholders; undefined when it was not. */
  envAt(path: readonly PathSegment[]): EnvScalar | undefined;
  /** Every scalar written with placeholders (their values are kept out of messages). */
  readonly envScalars: readonly EnvScalar[];
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
    // merge: YAML 1.1 merge keys (`<<: *defaults`, `<<: [*a, *b]`), which topologies use to share settings.
    doc = parseDocument(source, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true, merge: true });
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

  const tree = new Tree(doc);
  const mergeProblems = tree.badMergeSources().map(({ written, target }) => {
    const pos = at(written.range?.[0] ?? 0);
    const what = isSeq(target) ? 'a list' : isScalar(target) ? `a scalar (${JSON.stringify(target.value)})` : 'not a mapping';
    return issueAt(file, pos.line, pos.col, 'ACTORRT_E_CONFIG_TYPE',
      `a merge key (<<) takes a mapping, an alias of one or a list of them; this is ${what}`,
      'anchor the shared block (x-defaults: &defaults { ... }) and merge it with <<: *defaults, or <<: [*a, *b]');
  });
  if (mergeProblems.length > 0) throw new ConfigError(mergeProblems);

  const { scalars, missing } = interpolateEnv(doc, env);
  // A block under an `x-` key that nothing aliases is ignored, its placeholders too (a block for
  // another environment may name variables this one does not set).
  const used = missing.length > 0 ? tree.usedNodes() : undefined;
  const envIssues = missing.filter((m) => used?.has(m.node) !== false).map((m) => {
    const pos = at(m.node.range?.[0] ?? 0);
    return issueAt(file, pos.line, pos.col, 'ACTORRT_E_CONFIG_ENV',
      `environment variable ${m.name} is not set`,
      `export ${m.name}, or give a default: \${env:${m.name}:-value}`);
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
    const { node, keyNode } = tree.walk(path, key);
    const offset = keyNode?.range?.[0] ?? node?.range?.[0] ?? 0;
    const { line, col } = at(offset);
    return { file, line, col };
  };
  const envAt = (path: readonly PathSegment[]): EnvScalar | undefined => {
    if (scalars.size === 0) return undefined;
    const { node, whole } = tree.walk(path);
    const scalar = whole === true ? tree.deref(node) : undefined;
    return isScalar(scalar) ? scalars.get(scalar) : undefined;
  };
  return { file, data, locate, envAt, envScalars: [...scalars.values()] };
}

/**
 * The parsed tree, read the way toJS reads it: aliases resolved (once, in one pass: yaml's
 * Alias.resolve walks the whole document on every call) and merge keys followed.
 */
class Tree {
  private targets: Map<Alias, Node> | undefined;

  constructor(private readonly doc: Document.Parsed) {}

  /** The node an alias stands for (the last node anchored with its name before it); other nodes as they are. */
  deref(node: unknown): Node | undefined {
    if (!isAlias(node)) return (node ?? undefined) as Node | undefined;
    if (this.targets === undefined) {
      const anchors = new Map<string, Node>();
      const targets = new Map<Alias, Node>();
      visit(this.doc, {
        Node: (_key, n) => {
          if (isAlias(n)) {
            const target = anchors.get(n.source);
            if (target !== undefined) targets.set(n, target);
          } else if (n.anchor !== undefined) {
            anchors.set(n.anchor, n);
          }
        },
      });
      this.targets = targets;
    }
    return this.targets.get(node);
  }

  /** Follow a data path (resolving aliases and merge keys); stops at the deepest node found. */
  walk(path: readonly PathSegment[], key?: string): { node: Node | undefined; keyNode: Node | undefined; whole?: true } {
    let node: Node | undefined = this.doc.contents ?? undefined;
    for (const seg of path) {
      const here = this.deref(node);
      if (isMap(here)) {
        const pair = this.pairOf(here, String(seg));
        if (pair === undefined) return { node: here, keyNode: undefined };
        node = (pair.value ?? pair.key) as Node;
      } else if (isSeq(here) && typeof seg === 'number') {
        const next: unknown = here.items[seg];
        if (next === undefined) return { node: here, keyNode: undefined };
        node = next as Node;
      } else {
        return { node: here, keyNode: undefined };
      }
    }
    if (key === undefined) return { node, keyNode: undefined, whole: true };
    const target = this.deref(node);
    if (isMap(target)) {
      const pair = this.pairOf(target, key);
      if (pair !== undefined) return { node: target, keyNode: pair.key as Node };
    }
    return { node, keyNode: undefined };
  }

  /**
   * The pair that gives `map` its `key`, as toJS decides (http://yaml.org/type/merge.html): the
   * map's own pair, else the first merge source that has it (sources in order, `<<: [*a, *b]` takes
   * a's before b's), through nested merges.
   */
  private pairOf(map: YAMLMap, key: string, seen = new Set<YAMLMap>()): Pair | undefined {
    if (seen.has(map)) return undefined; // a block that merges itself: toJS refuses it (alias limit)
    seen.add(map);
    for (const pair of map.items) if (isScalar(pair.key) && !isMergeKey(pair.key) && String(pair.key.value) === key) return pair;
    for (const pair of map.items) {
      if (!isMergeKey(pair.key)) continue;
      for (const source of this.mergeSources(pair)) {
        const found = isMap(source) ? this.pairOf(source, key, seen) : undefined;
        if (found !== undefined) return found;
      }
    }
    return undefined;
  }

  /** What a merge pair merges: its value, or the items of its list, aliases resolved. */
  private mergeSources(pair: Pair): Array<Node | undefined> {
    const value = this.deref(pair.value);
    return isSeq(value) ? value.items.map((item) => this.deref(item)) : [value];
  }

  /** Merge sources that are not mappings (toJS would throw on them): as written (the alias, when one) and what that is. */
  badMergeSources(): Array<{ written: Node; target: Node | undefined }> {
    const bad: Array<{ written: Node; target: Node | undefined }> = [];
    visit(this.doc, {
      Pair: (_key, pair) => {
        if (!isMergeKey(pair.key)) return;
        const value = this.deref(pair.value);
        const written: unknown[] = isSeq(value) ? value.items : [pair.value];
        for (const item of written) {
          const target = this.deref(item);
          if (!isMap(target)) bad.push({ written: (item ?? pair.key) as Node, target });
        }
      },
    });
    return bad;
  }

  /** Nodes reachable from the top-level keys the topology reads (all but `x-...`), through aliases and merge keys. */
  usedNodes(): Set<Node> {
    const seen = new Set<Node>();
    const root = this.doc.contents;
    if (!isMap(root)) return seen;
    const stack: unknown[] = root.items.filter((p) => !(isScalar(p.key) && String(p.key.value).startsWith('x-'))).map((p) => p.value);
    while (stack.length > 0) {
      const node = this.deref(stack.pop());
      if (node === undefined || seen.has(node)) continue;
      seen.add(node);
      if (isMap(node)) for (const p of node.items) stack.push(p.value);
      else if (isSeq(node)) stack.push(...node.items);
    }
    return seen;
  }
}

/** A `<<` key that merges (plain, with merge keys on); a quoted "<<" is an ordinary key. */
function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === 'symbol' && key.value.description === '<<';
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
