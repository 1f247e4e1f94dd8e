import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/validate.js';
import type { Config } from '../config/types.js';
import { ConfigError, type ConfigIssue } from '../config/errors.js';
import type { ErrorCode } from '../runtime/errors.js';

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

/** Poll `check` every 10 ms until it holds; fails naming `what` after `timeout` ms. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not true within ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
