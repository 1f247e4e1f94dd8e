import type { ErrorObject } from 'ajv';
import type { ErrorCode } from '../runtime/errors.js';
import type { ConfigIssue } from './errors.js';
import { placeholderNames } from './env.js';
import { didYouMean } from './hints.js';
import type { LoadedDocument, PathSegment } from './load.js';
import { shownValue } from './redact.js';

/**
 * Turn ajv's errors into ConfigIssues a person can act on: the right code, the position of the
 * offending key or value, and a hint. ajv reports `oneOf` failures as a pile of branch errors;
 * those are folded into one message per value.
 */
export function schemaIssues(errors: readonly ErrorObject[], doc: LoadedDocument): ConfigIssue[] {
  // A failed oneOf (`method: GET | [GET, POST]`) arrives as one error per branch plus a summary.
  // Keep one per value: errors inside the value when a branch fit its shape (`[GET, FOO]`), else
  // the enum error when a branch had one (it carries the allowed values for a hint), else the summary.
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  const enumPaths = new Set(errors.filter((e) => e.keyword === 'enum' && !Array.isArray(e.data) && oneOfPaths.has(e.instancePath)).map((e) => e.instancePath));
  const hasInner = (p: string): boolean => errors.some((e) => e.instancePath.startsWith(`${p}/`));
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const err of errors) {
    if (oneOfPaths.has(err.instancePath)) {
      if (hasInner(err.instancePath)) continue;
      if (err.keyword !== (enumPaths.has(err.instancePath) ? 'enum' : 'oneOf')) continue;
    }
    // Errors inside `propertyNames` repeat the propertyNames error itself, which names the key.
    if (err.propertyName !== undefined && err.keyword !== 'propertyNames') continue;
    const issue = toIssue(err, doc);
    if (issue === undefined) continue;
    const id = `${issue.code}|${issue.path}|${issue.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    issues.push(issue);
  }
  return issues;
}

function toIssue(err: ErrorObject, doc: LoadedDocument): ConfigIssue | undefined {
  const path = pointerToPath(err.instancePath);
  const label = pathLabel(path);
  const unit = unitOf(err.schemaPath);
  const make = (code: ErrorCode, message: string, hint?: string, key?: string): ConfigIssue => {
    const position = doc.locate(path, key);
    const fullPath = key === undefined ? label : pathLabel([...path, key]);
    return hint === undefined ? { code, message, position, path: fullPath } : { code, message, hint, position, path: fullPath };
  };
  const params = err.params as Record<string, unknown>;
  // Values are printed through these only: one from ${env:...} or a credential is described, never shown.
  const shown = (value: unknown, at: readonly PathSegment[] = path): string => shownValue(doc, at, value, (v) => JSON.stringify(v));
  const described = (value: unknown): string => shownValue(doc, path, value, describeValue);
  const quoted = quotedPlaceholderHint(doc, path, err.keyword, unit);

  switch (err.keyword) {
    case 'additionalProperties': {
      const key = String(params['additionalProperty']);
      const allowed = Object.keys((err.parentSchema as { properties?: object } | undefined)?.properties ?? {}).filter((k) => k !== '$schema');
      // The top level also takes x-... keys: blocks shared through anchors and merge keys.
      const blocks = path.length === 0 ? `; a block kept for anchors goes under a key starting with x- (x-${key})` : '';
      const hint = allowed.length === 0
        ? undefined
        : (didYouMean(key, allowed) ?? `allowed keys: ${allowed.join(', ')}${blocks}`);
      return make('ACTORRT_E_CONFIG_UNKNOWN_KEY', `${label || 'the top level'} has no key "${key}"`, hint, key);
    }
    case 'required': {
      const key = String(params['missingProperty']);
      return make('ACTORRT_E_CONFIG_MISSING_KEY', `${label || 'the top level'} is missing required key "${key}"`);
    }
    case 'discriminator': {
      const tag = String(params['tag']);
      if (params['error'] !== 'mapping') return undefined; // a missing tag is reported by `required`
      const options = branchConstants(err.parentSchema, tag);
      const value = valueAt(doc.data, [...path, tag]);
      return {
        ...make('ACTORRT_E_CONFIG_VALUE', `${pathLabel([...path, tag])} must be one of ${options.join(', ')}; got ${shown(value, [...path, tag])}`,
          didYouMean(String(value), options)),
        position: doc.locate([...path, tag]),
        path: pathLabel([...path, tag]),
      };
    }
    case 'oneOf':
      // A duration that may also be a keyword (`shutdownDelay: auto`): a mistyped duration is a duration mistake.
      if (branchesOf(err.parentSchema).some((b) => b['$ref'] === '#/definitions/duration')) {
        return make('ACTORRT_E_CONFIG_DURATION', `${label} must be ${describeOneOf(err.parentSchema)}; got ${shown(err.data)}`,
          quoted ?? enumHint(err.data, err.parentSchema) ?? 'write milliseconds as a number, or a string such as 250ms, 10s, 5m, 1h');
      }
      return make('ACTORRT_E_CONFIG_VALUE', `${label} must be ${describeOneOf(err.parentSchema)}; got ${shown(err.data)}`,
        quoted ?? enumHint(err.data, err.parentSchema) ?? stringHint(err.data, err.parentSchema));
    case 'type':
      if (unit !== undefined) return unitIssue(unit, label, shown(err.data), make, quoted);
      return make('ACTORRT_E_CONFIG_TYPE', `${label} must be ${article(String(params['type']))}, got ${described(err.data)}`, quoted);
    case 'pattern':
      if (unit !== undefined) return unitIssue(unit, label, shown(err.data), make, quoted);
      return make(path.at(-1) === 'path' && path.includes('match') ? 'ACTORRT_E_CONFIG_ROUTE_PATH' : 'ACTORRT_E_CONFIG_VALUE',
        `${label} ${patternMessage(err.schemaPath, err.data, String(params['pattern']), shown, doc.envAt(path) !== undefined)}`);
    case 'propertyNames': {
      const name = String(params['propertyName']);
      return make('ACTORRT_E_CONFIG_VALUE', `"${name}" is not a valid name in ${label}`,
        'names start with a letter and use letters, digits, "-" and "_" (at most 63)', name);
    }
    case 'enum': {
      const allowed = (params['allowedValues'] as unknown[]).map(String);
      return make('ACTORRT_E_CONFIG_VALUE', `${label} must be one of ${allowed.join(', ')}; got ${shown(err.data)}`,
        quoted ?? didYouMean(String(err.data), allowed));
    }
    case 'const':
      return make('ACTORRT_E_CONFIG_VALUE', `${label} must be ${JSON.stringify(params['allowedValue'])}; got ${shown(err.data)}`, quoted);
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      if (unit !== undefined) return unitIssue(unit, label, shown(err.data), make, quoted);
      return make('ACTORRT_E_CONFIG_VALUE', `${label} must be ${String(params['comparison'])} ${String(params['limit'])}; got ${shownValue(doc, path, err.data, String)}`);
    case 'minItems':
      return make('ACTORRT_E_CONFIG_VALUE', `${label} must list at least ${String(params['limit'])} item(s)`);
    case 'minLength':
      return make('ACTORRT_E_CONFIG_VALUE', `${label} must not be empty`);
    case 'uniqueItems':
      return make('ACTORRT_E_CONFIG_VALUE', `${label} lists the same item twice (items ${String(params['j'])} and ${String(params['i'])})`);
    default:
      return make('ACTORRT_E_CONFIG_VALUE', `${label} ${err.message ?? 'is invalid'}`);
  }
}

type Make = (code: ErrorCode, message: string, hint?: string) => ConfigIssue;

/** `shown`: the value as the message may print it. */
function unitIssue(unit: 'duration' | 'size', label: string, shown: string, make: Make, hint?: string): ConfigIssue {
  return unit === 'duration'
    ? make('ACTORRT_E_CONFIG_DURATION', `${label} is not a duration: ${shown}`,
      hint ?? 'write milliseconds as a number, or a string such as 250ms, 10s, 5m, 1h')
    : make('ACTORRT_E_CONFIG_SIZE', `${label} is not a size: ${shown}`,
      hint ?? 'write bytes as a whole number, or a string such as 512kb, 1mb, 2gb');
}

/**
 * The hint for a quoted whole placeholder where the schema wanted a number or a boolean: quotes
 * keep `"${env:PORT}"` a string (they say so in YAML), so the fix is to drop them.
 */
function quotedPlaceholderHint(doc: LoadedDocument, path: readonly PathSegment[], keyword: string, unit: string | undefined): string | undefined {
  if (keyword !== 'type' && keyword !== 'oneOf' && keyword !== 'enum' && keyword !== 'const' && unit === undefined) return undefined;
  const env = doc.envAt(path);
  if (env === undefined || !env.whole || !env.quoted) return undefined;
  const name = placeholderNames(env);
  return `${name} is written quoted (or as a block scalar), which keeps it a string; write it unquoted, in block style (key: ${name}), to take the number or boolean the variable holds`;
}

function unitOf(schemaPath: string): 'duration' | 'size' | undefined {
  if (schemaPath.startsWith('#/definitions/duration/')) return 'duration';
  if (schemaPath.startsWith('#/definitions/size/')) return 'size';
  return undefined;
}

/** Resource URL patterns and what to tell a user whose URL misses them. */
const URL_SHAPES: Readonly<Record<string, string>> = {
  '^postgres(ql)?://': 'must be a postgres:// or postgresql:// URL such as postgres://user:password@host:5432/database',
  '^rediss?://': 'must be a redis:// or rediss:// URL such as redis://host:6379/0',
};

function patternMessage(schemaPath: string, value: unknown, pattern: string, shown: (value: unknown) => string, fromEnv: boolean): string {
  if (schemaPath.startsWith('#/definitions/name/')) {
    return `is not a valid name: ${shown(value)} (names start with a letter and use letters, digits, "-" and "_")`;
  }
  if (schemaPath.includes('/origins/')) {
    // The client would not send credentials written into an origin; and they must not be echoed here.
    if (typeof value === 'string' && /^https?:\/\/[^/]*@/.test(value)) return 'must be an origin without credentials (user:password@ is not sent upstream); remove them';
    return `must be an origin such as http://10.0.0.5:9000 (no path); got ${shown(value)}`;
  }
  // URLs may carry a password (often from ${env:...}): say what is expected, never echo the value.
  const url = URL_SHAPES[pattern];
  if (url !== undefined) return fromEnv ? `${url}; got ${shown(value)}` : url;
  if (schemaPath.startsWith('#/definitions/step/')) return `must be a number of units (2) or a percentage of the current size (50%); got ${shown(value)}`;
  if (pattern === '^/') return `must start with "/"; got ${shown(value)}`;
  return `must match ${pattern}; got ${shown(value)}`;
}

function branchesOf(schema: unknown): Array<Record<string, unknown>> {
  return ((schema as { oneOf?: unknown[] } | undefined)?.oneOf ?? []) as Array<Record<string, unknown>>;
}

function describeOneOf(schema: unknown): string {
  const branches = branchesOf(schema);
  const parts = branches.map((b) => {
    if ('const' in b) return JSON.stringify(b['const']);
    if (b['$ref'] === '#/definitions/duration') return 'a duration (milliseconds, or 250ms / 10s / 5m / 1h)';
    if (b['$ref'] === '#/definitions/method') return 'an HTTP method (GET, POST, ...)';
    if (b['type'] === 'array') return 'a list of them';
    if (b['type'] === 'integer') return `an integer >= ${String(b['minimum'] ?? 0)}`;
    if (b['type'] === 'string' && Array.isArray(b['examples'])) return `a string like ${b['examples'].map(String).join(', ')}`;
    return String(b['type'] ?? 'a value');
  });
  return parts.join(' or ');
}

/** A string that fits no branch: the string branch's own description says what it takes. */
function stringHint(value: unknown, schema: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const branches = ((schema as { oneOf?: unknown[] } | undefined)?.oneOf ?? []) as Array<Record<string, unknown>>;
  const text = branches.find((b) => b['type'] === 'string' && typeof b['description'] === 'string')?.['description'];
  return typeof text === 'string' ? text : undefined;
}

function enumHint(value: unknown, schema: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const branches = ((schema as { oneOf?: unknown[] } | undefined)?.oneOf ?? []) as Array<Record<string, unknown>>;
  const candidates = branches.flatMap((b) => ('const' in b ? [String(b['const'])] : b['$ref'] === '#/definitions/method'
    ? ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] : []));
  return didYouMean(value, candidates);
}

function branchConstants(schema: unknown, tag: string): string[] {
  const branches = ((schema as { oneOf?: unknown[] } | undefined)?.oneOf ?? []) as Array<{ properties?: Record<string, { const?: unknown }> }>;
  return branches.map((b) => String(b.properties?.[tag]?.const));
}

function article(type: string): string {
  const words = type.split(',').map((t) => (t === 'object' ? 'mapping' : t === 'array' ? 'list' : t));
  const joined = words.join(' or ');
  return /^[aeiou]/.test(joined) ? `an ${joined}` : `a ${joined}`;
}

/** Describe a value the way YAML users think of it (mapping / list / string "x"). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null (an empty value)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}

/** JSON pointer (`/pools/api/size`) to path segments (array indices become numbers). */
export function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((raw) => {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^\d+$/.test(seg) ? Number(seg) : seg;
  });
}

/** `pools.api.size`, `routes[2].match.method`: how messages name a place in the file. */
export function pathLabel(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let cur: unknown = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[String(seg)];
  }
  return cur;
}
