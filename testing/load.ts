import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument, stringify } from 'yaml';
import type { CacheConfig, Config, PoolConfig } from '../config/types.js';
import { ConfigError } from '../config/errors.js';
import { cache as normalizeCache } from '../config/normalize.js';
import { loadConfig, loadConfigSource } from '../config/validate.js';
import { ActorrtError } from '../runtime/errors.js';

/**
 * A topology for the kit: a file's path (relative to process.cwd()), a file: URL
 * (`new URL('../actorrt.yml', import.meta.url)`: found wherever the test runs from), or the
 * document as an object (what the YAML would parse to).
 */
export type TopologySource = string | URL | Readonly<Record<string, unknown>>;

/** A resource's settings to use instead of the file's, key by key (`{ file: ':memory:' }`, `{ url: stub.url }`); undefined removes a key. */
export type ResourceSettings = Readonly<Record<string, unknown>>;

export interface LoadOptions {
  /** Folder relative paths of an object topology are read from (default: process.cwd()). */
  readonly dir?: string | undefined;
  /** Values for `${env:NAME}` placeholders (default: process.env). */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** Per resource name, settings that replace the file's (checked like the file: errors name the key). */
  readonly resources?: Readonly<Record<string, ResourceSettings>> | undefined;
  /** `memory`: every Redis cache store becomes a memory store with the same name and ttl (tests without Redis). Default `topology`: as declared. */
  readonly caches?: 'topology' | 'memory' | undefined;
}

/**
 * Read and check a topology as `actorrt start` does, then apply the kit's replacements: resource
 * settings (checked again, so a wrong one is refused like a wrong file) and, when asked, memory
 * stores for Redis caches.
 */
export function loadTopology(source: TopologySource, options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const path = pathOf(source);
  const file = path ?? join(resolve(options.dir ?? '.'), '(startTopology object).yml');
  const text = path === undefined ? stringify(source) : undefined;
  // As written first, read as `actorrt start` reads it: its errors point at the file's own lines.
  const config = text === undefined ? loadConfig(file, env) : loadConfigSource(text, file, env);
  const patched = options.resources === undefined ? config : withResources(config, text ?? readFileSync(file, 'utf8'), file, env, options.resources);
  return options.caches === 'memory' ? withMemoryCaches(patched) : patched;
}

/** The file a source names (undefined: the topology is the object itself). */
export function pathOf(source: unknown): string | undefined {
  if (typeof source === 'string') return resolve(source);
  if (source instanceof URL) {
    if (source.protocol !== 'file:') throw new ActorrtError('ACTORRT_E_TEST_KIT', `a topology or actor URL must be a file: URL, got ${source.href}`, { hint: "new URL('../actorrt.yml', import.meta.url)" });
    return fileURLToPath(source);
  }
  return undefined;
}

function withResources(config: Config, text: string, file: string, env: NodeJS.ProcessEnv, replaced: Readonly<Record<string, ResourceSettings>>): Config {
  const doc = parseDocument(text, { merge: true });
  for (const [name, settings] of Object.entries(replaced)) {
    if (config.resources[name] === undefined) {
      const declared = Object.keys(config.resources);
      throw new ActorrtError('ACTORRT_E_TEST_KIT', `startTopology: options.resources.${name}: the topology declares no resource "${name}"`,
        { hint: declared.length === 0 ? 'it declares no resources' : `declared: ${declared.join(', ')}` });
    }
    for (const [key, value] of Object.entries(settings)) {
      if (value === undefined) doc.deleteIn(['resources', name, key]);
      else doc.setIn(['resources', name, key], doc.createNode(value));
    }
  }
  try {
    return loadConfigSource(doc.toString(), file, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ActorrtError(err.code, `startTopology: options.resources makes the topology invalid: ${err.message}`,
      { cause: err, hint: 'the replacement settings are checked like the file (docs/topology.md lists each resource type\'s keys)' });
  }
}

function withMemoryCaches(config: Config): Config {
  const caches: Record<string, CacheConfig> = {};
  for (const [name, cache] of Object.entries(config.caches)) {
    caches[name] = cache.store === 'memory' ? cache : normalizeCache({ store: 'memory', ttl: cache.ttl, timeout: cache.timeout }, name);
  }
  return { ...config, caches };
}

/**
 * The topology as the kit runs it: every pool inline, in the test's process, as nact actors.
 * A thread or isolated pool gets the actors all its threads or processes would have together
 * (size x threads, size x processes), so a test sees the same concurrency one front worker does.
 */
export function inProcess(config: Config): Config {
  const pools: Record<string, PoolConfig> = {};
  for (const [name, pool] of Object.entries(config.pools)) {
    const { threads, processes, maxHeap: _heap, maxRss: _rss, watchdog: _watchdog, autoscale: _autoscale, ...inline } = pool;
    pools[name] = { ...inline, size: pool.size * (threads ?? processes ?? 1) };
  }
  return { ...config, pools };
}
