import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/validate.js';
import type { Config } from '../config/types.js';
import { ConfigError, type ConfigIssue } from '../config/errors.js';
import { ActorrtError, type ErrorCode } from '../runtime/errors.js';

// `http.shutdownDelay: auto` means 5 s inside a Kubernetes pod: on a CI runner that is one, every
// instance a test stops would first leave load balancers it does not have. Tests that want it set it.
delete process.env['KUBERNETES_SERVICE_HOST'];

/** Repository root (tests run from dist/test/...). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI entry point. */
export const CLI = join(ROOT, 'dist', 'runtime', 'cli.js');

const tempDirs: string[] = [];
process.once('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder under the system temp dir (`actorrt-<prefix>-XXXXXX`), removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `actorrt-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

/** Write a topology (and any extra files, e.g. actor modules) into a fresh temp folder (removed at exit). */
export function writeProject(topology: string, files: Record<string, string> = {}): string {
  const dir = tempDir('test');
  const all = { 'actors/api.ts': 'export default { receive: () => ({}) };\n', ...files };
  for (const [name, text] of Object.entries(all)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const file = join(dir, 'actorrt.yml');
  writeFileSync(file, topology);
  return file;
}

/** Load a topology written with writeProject. */
export function load(topology: string, files?: Record<string, string>, env?: NodeJS.ProcessEnv): Config {
  return loadConfig(writeProject(topology, files), env);
}

/** The issues a topology produces (fails the test when it loads cleanly). */
export function issuesOf(topology: string, files?: Record<string, string>, env?: NodeJS.ProcessEnv): readonly ConfigIssue[] {
  try {
    load(topology, files, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  assert.fail('expected the topology to be rejected, but it loaded');
}

/** Assert that the topology is rejected with `code` at `line:col` (and optionally a hint matching). */
export function assertIssue(topology: string, expected: { code: ErrorCode; line: number; col: number; hint?: RegExp; message?: RegExp },
  files?: Record<string, string>, env?: NodeJS.ProcessEnv): ConfigIssue {
  const issues = issuesOf(topology, files, env);
  const found = issues.find((i) => i.code === expected.code && i.position.line === expected.line && i.position.col === expected.col);
  assert.ok(found, `expected ${expected.code} at ${expected.line}:${expected.col}; got:\n${issues.map((i) => `  ${i.position.line}:${i.position.col} ${i.code} ${i.message}`).join('\n')}`);
  if (expected.hint !== undefined) assert.match(found.hint ?? '', expected.hint);
  if (expected.message !== undefined) assert.match(found.message, expected.message);
  return found;
}

/** A minimal valid topology body to extend in tests (one pool, one route). */
export const MINIMAL = `version: 1
pools:
  api:
    actor: ./actors/api.ts
routes:
  - match: { method: GET, path: /users/:id }
    pool: api
`;

/**
 * Poll `check` every `interval` ms until it holds; fails naming `what` after `timeout` ms, with what
 * `describe` says about the last state when given. A check that itself never settles fails the same way.
 */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeout = 5000,
  describe?: () => string, interval = 10): Promise<void> {
  const deadline = Date.now() + timeout;
  const fail = (): never => assert.fail(`${what}: not true within ${timeout} ms${describe === undefined ? '' : `; last seen: ${describe()}`}`);
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) fail();
    if (await within(what, Promise.resolve(check()), Math.max(left, 1), 'a check did not settle')) return;
    if (Date.now() > deadline) fail();
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** Await `promise`, failing naming `what` (and `why`, "not settled" by default) when it has not settled within `timeout` ms. */
export async function within<T>(what: string, promise: Promise<T>, timeout: number, why = 'not settled'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new assert.AssertionError({ message: `${what}: ${why} within ${timeout} ms` })), timeout);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** One pino JSON log line; lines of other output are not returned. */
export type LogLine = Readonly<Record<string, unknown>>;

/** pino levels, as they appear in the `level` field. */
export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** The JSON log lines of a process's stderr (pino writes one object per line). */
export function logLines(stderr: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const value = JSON.parse(line) as unknown;
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) lines.push(value as LogLine);
    } catch { /* a line cut by the process's exit, or not a log line */ }
  }
  return lines;
}

/**
 * What a field of a log line must be: the same primitive, a RegExp its string matches, a predicate
 * it satisfies, or an object whose listed fields match in turn (for `err: { message }`).
 */
export type FieldMatch = string | number | boolean | null | RegExp | ((value: unknown) => boolean) | { readonly [key: string]: FieldMatch };

function fieldMatches(value: unknown, expected: FieldMatch): boolean {
  if (expected instanceof RegExp) return typeof value === 'string' && expected.test(value);
  if (typeof expected === 'function') return expected(value);
  if (expected !== null && typeof expected === 'object') {
    if (value === null || typeof value !== 'object') return false;
    const record = value as Record<string, unknown>;
    return Object.entries(expected).every(([key, want]) => fieldMatches(record[key], want));
  }
  return value === expected;
}

/** The log lines of `stderr` whose fields match every one of `fields`. */
export function logsWith(stderr: string, fields: { readonly [key: string]: FieldMatch }): LogLine[] {
  return logLines(stderr).filter((line) => fieldMatches(line, fields));
}

/** The code of the ActorrtError `p` rejects with; fails when it resolves or rejects with anything else. */
export async function rejectionCode(p: Promise<unknown>): Promise<ErrorCode> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ActorrtError, String(err));
    return err.code;
  }
  assert.fail('expected a rejection');
}
