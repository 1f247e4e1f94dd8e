import type { Config } from './types.js';

/** One difference between two topologies, at a dotted path such as `pools.api.size`. */
export interface ConfigChange {
  readonly path: string;
  readonly kind: 'added' | 'removed' | 'changed';
  readonly before?: unknown;
  readonly after?: unknown;
  /** How hot reload can apply it (see `applyMode`). */
  readonly apply: ApplyMode;
}

/**
 * - `live`: applied in place (pool sizes, routes, caches).
 * - `roll`: needs the affected processes replaced one by one, new before old.
 * - `restart`: cannot be applied to a running instance (the listening port).
 */
export type ApplyMode = 'live' | 'roll' | 'restart';

/** Structural diff of two loaded topologies; arrays (routes) compare element by element. */
export function diffConfig(before: Config, after: Config): ConfigChange[] {
  const changes: ConfigChange[] = [];
  walk(before, after, [], changes);
  return changes;
}

function walk(a: unknown, b: unknown, path: string[], out: ConfigChange[]): void {
  if (Object.is(a, b)) return;
  const bothObjects = isObject(a) && isObject(b) && Array.isArray(a) === Array.isArray(b);
  if (!bothObjects) {
    const kind = a === undefined ? 'added' : b === undefined ? 'removed' : 'changed';
    out.push(change(path, kind, a, b));
    return;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], [...path, key], out);
}

function change(path: string[], kind: ConfigChange['kind'], before: unknown, after: unknown): ConfigChange {
  const base = { path: path.join('.'), kind, apply: applyMode(path) };
  return {
    ...base,
    ...(before === undefined ? {} : { before }),
    ...(after === undefined ? {} : { after }),
  };
}

/** How a change at `path` can be applied to a running instance. */
export function applyMode(path: readonly string[]): ApplyMode {
  const [section, name, key] = path;
  if (section === 'http') {
    if (name === 'port' || name === 'host') return 'restart';
    return name === 'limits' ? 'roll' : 'live'; // workers grow / shrink; health, shutdownTimeout and shutdownDelay are read per use (a stop reads them as it begins)
  }
  if (section === 'routes' || section === 'caches' || section === 'file' || section === 'version' || section === 'admin' || section === 'bus') return 'live';
  if (section === 'pools') {
    // New code or other resources replace the processes; anything else is applied in place.
    return key === 'actor' || key === 'resources' ? 'roll' : 'live';
  }
  return 'roll';
}

function isObject(v: unknown): v is object {
  return v !== null && typeof v === 'object';
}
