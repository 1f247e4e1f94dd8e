import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';
import { ConfigError, type ConfigIssue } from './errors.js';
import { crossReferenceIssues } from './crossref.js';
import { typeEnvValues } from './env-types.js';
import { loadFile, loadSource, type LoadedDocument } from './load.js';
import { deepFreeze, normalize } from './normalize.js';
import { redactIssues, shownValue } from './redact.js';
import { schemaIssues } from './schema-errors.js';
import type { Config } from './types.js';

/** Path of the published JSON Schema (editors read it through the `$schema` comment). */
export const SCHEMA_PATH = new URL('../../config/schema.json', import.meta.url);
/** The topology versions this actorrt reads. */
export const SUPPORTED_VERSIONS = [1] as const;

/** The schema's validator as code, generated from schema.json by config/schema.mjs (ajv standalone, with AJV_OPTIONS). */
const STANDALONE_PATH = new URL('../../config/schema-validator.cjs', import.meta.url);
/** What the validator is compiled with; config/schema.mjs generates schema-validator.cjs with the same. */
const AJV_OPTIONS = { allErrors: true, useDefaults: true, discriminator: true, verbose: true, strict: true, allowUnionTypes: true } as const;

const require = createRequire(import.meta.url);
let compiled: ValidateFunction | undefined;
let schemaText: string | undefined;
let schemaObject: object | undefined;

/** The published schema, read once per process. */
function schema(): object {
  schemaText ??= readFileSync(SCHEMA_PATH, 'utf8');
  schemaObject ??= JSON.parse(schemaText) as object;
  return schemaObject;
}

/**
 * The schema validator, once per process: the generated one (measured: loading it ~8 ms, where
 * ajv.compile took 150-260 ms of the primary's start, before any worker is forked), unless it was
 * generated from another schema.json than the one here (edited, not regenerated yet): then compiled.
 */
function validator(): ValidateFunction {
  if (compiled !== undefined) return compiled;
  const parsed = schema();
  const hash = createHash('sha256').update(schemaText ?? '').digest('hex');
  const standalone = generated();
  if (standalone?.schemaHash === hash) {
    compiled = standalone;
  } else {
    const { Ajv } = require('ajv') as typeof import('ajv');
    compiled = new Ajv(AJV_OPTIONS).compile(parsed);
  }
  return compiled;
}

/** The generated validator, if there is one (a checkout that never ran config/schema.mjs has none). */
function generated(): (ValidateFunction & { schemaHash?: unknown }) | undefined {
  try {
    return require(fileURLToPath(STANDALONE_PATH)) as ValidateFunction & { schemaHash?: unknown };
  } catch {
    return undefined;
  }
}

export type ValidationResult =
  | { readonly ok: true; readonly config: Config }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

/**
 * Validate a parsed document: `${env:...}` values typed by the schema, version, schema, then
 * cross-references. Never throws for user mistakes; no issue prints a value that came from the
 * environment or a credential (redact.ts).
 */
export function validateDocument(doc: LoadedDocument): ValidationResult {
  const result = check(doc);
  return result.ok ? result : { ok: false, issues: redactIssues(result.issues, doc) };
}

function check(doc: LoadedDocument): ValidationResult {
  const data = structuredClone(doc.data) as Record<string, unknown>;
  typeEnvValues(data, schema(), doc);
  const version = data['version'];
  if (version === undefined) {
    return fail(doc, [], 'ACTORRT_E_CONFIG_VERSION', 'the topology has no "version" key', 'add `version: 1` as the first line');
  }
  if (!(SUPPORTED_VERSIONS as readonly unknown[]).includes(version)) {
    const shown = shownValue(doc, ['version'], version, (v) => JSON.stringify(v));
    return fail(doc, ['version'], 'ACTORRT_E_CONFIG_VERSION', shown !== JSON.stringify(version) ? `the version is not supported: ${shown}` : `version ${shown} is not supported`,
      `this actorrt reads version ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  const validate = validator();
  if (!validate(data)) return { ok: false, issues: schemaIssues(validate.errors ?? [], doc) };

  const config = normalize(data, resolve(doc.file));
  const issues = crossReferenceIssues(config, doc);
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, config: deepFreeze(config) };
}

/** Load and validate a topology file; throws ConfigError listing every issue. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  return unwrap(validateDocument(loadFile(file, env)));
}

/** Validate topology text held in memory (`file` names it and anchors relative paths). */
export function loadConfigSource(source: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  return unwrap(validateDocument(loadSource(source, file, env)));
}

function unwrap(result: ValidationResult): Config {
  if (!result.ok) throw new ConfigError(result.issues);
  return result.config;
}

function fail(doc: LoadedDocument, path: string[], code: ConfigIssue['code'], message: string, hint: string): ValidationResult {
  return { ok: false, issues: [{ code, message, hint, position: doc.locate(path), path: path.join('.') }] };
}
