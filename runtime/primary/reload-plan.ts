import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { diffConfig, type ConfigChange } from '../../config/diff.js';
import type { Config, PoolConfig } from '../../config/types.js';
import { resourcesFor } from '../resources/resources.js';
import { hostForUrl } from './listener.js';
import { localModules } from './module-graph.js';

/** A topology as it runs: the config, the digest of each pool's code, the front worker count. */
export interface Deployed {
  readonly config: Config;
  /** Pool name -> digest of its code: the actor module and the local modules it imports (a changed file is new code to roll out). */
  readonly digests: Readonly<Record<string, string>>;
  readonly workers: number;
}

/** What happens to one isolated pool's processes. `from` 0: a new pool; `to` 0: a removed one. */
export interface IsolatedStep {
  readonly pool: string;
  readonly from: number;
  readonly to: number;
  /** Why its processes are replaced one by one (new code, resources); undefined = kept. */
  readonly roll: string | undefined;
  /** The pool was given up by supervision: forget that and start it afresh. */
  readonly revive?: boolean;
}

/** The way from one running topology to the next, decided without touching a process. */
export interface ReloadPlan {
  /** Changes a running instance cannot take; non-empty means the plan is refused whole. */
  readonly refused: readonly string[];
  /** What will happen, one line each, as `actorrt reload` prints it. */
  readonly lines: readonly string[];
  readonly front: { readonly from: number; readonly to: number; readonly roll: string | undefined };
  readonly isolated: readonly IsolatedStep[];
  /** Nothing differs. */
  readonly empty: boolean;
}

/** What a reload is asked for beyond the difference between the two topologies. */
export interface PlanOptions {
  /** Replace every process (front workers and every isolated pool's), new before old, changed or not: ships what the code digest cannot see (a package upgrade). */
  readonly roll?: boolean;
}

/** Why a process is replaced when only `--roll` asks for it. */
const ROLL_REQUESTED = 'roll requested';

/**
 * Digest of every pool's code: its actor module and the local modules it imports (content, not
 * where the folder is or file times: an edited file counts as a change, a `touch` does not).
 * Packages are not included; `--roll` ships those.
 */
export function actorDigests(config: Config, read: (file: string) => Buffer = readFileSync): Record<string, string> {
  const readable = (file: string): Buffer | undefined => {
    try {
      return read(file);
    } catch {
      return undefined; // a missing candidate, a folder
    }
  };
  const byModule = new Map<string, string>(); // pools running the same module share its digest: scanned once
  const out: Record<string, string> = {};
  for (const pool of Object.values(config.pools)) {
    let digest = byModule.get(pool.actor);
    if (digest === undefined) {
      digest = codeDigest(pool.actor, readable);
      byModule.set(pool.actor, digest);
    }
    out[pool.name] = digest;
  }
  return out;
}

/** Digest of one actor module and its local imports, or 'unreadable'. */
function codeDigest(actor: string, read: (file: string) => Buffer | undefined): string {
  const files = localModules(actor, read);
  if (files.size === 0) return 'unreadable';
  const hash = createHash('sha256');
  // Paths relative to the actor module: two copies of the same code in two folders are the same code.
  for (const file of [...files.keys()].sort()) hash.update(relative(dirname(actor), file)).update('\0').update(files.get(file) as Buffer).update('\0');
  return hash.digest('hex');
}

/**
 * Plan a reload. Pure: the same inputs give the same plan.
 * - http.port / http.host: refused (the listening socket is bound once per instance).
 * - Inline pools (size, settings, new and removed pools), routes and health paths: applied in
 *   place by every running process (the reconfigure broadcast), no process replaced.
 * - processes: isolated pools grow (new processes, routed to once ready) or drain victims.
 * - An actor module's path or code (digest), a pool's resources, a resource's settings: the processes
 *   that run that code or hold that resource roll, new before old. Front workers also roll for
 *   http.limits (their server's settings) and when they must open a resource they do not hold.
 * - `roll`: every process running before and after is replaced, whatever changed.
 */
export function planReload(before: Deployed, after: Deployed, options: PlanOptions = {}): ReloadPlan {
  const forced = options.roll === true ? ROLL_REQUESTED : undefined;
  const changes = diffConfig(before.config, after.config);
  const refused = changes.filter((c) => c.apply === 'restart').map((c) =>
    `${c.path}: ${show(c.before)} -> ${show(c.after)} needs a restart (the listening socket is bound once per instance)`);
  const lines: string[] = [];
  const frontRoll: string[] = [];
  const isolated: IsolatedStep[] = [];
  const oldPools = before.config.pools;
  const newPools = after.config.pools;

  if (changes.some((c) => c.path.startsWith('http.limits.'))) frontRoll.push('http.limits changed');
  const changedResources = new Set(changes.filter((c) => c.path.startsWith('resources.')).map((c) => c.path.split('.')[1] as string));
  const frontBefore = resourcesFor(before.config, inline(before.config), true);
  const frontAfter = resourcesFor(after.config, inline(after.config), true);
  const frontTouched = frontAfter.filter((r) => changedResources.has(r) || !frontBefore.includes(r));
  if (frontTouched.length > 0) frontRoll.push(`resources ${frontTouched.join(', ')} changed for the front workers`);

  for (const name of union(Object.keys(oldPools), Object.keys(newPools))) {
    // A name present on one side only must not find Object.prototype's member of that name on the other (a pool named `constructor`).
    const was = own(oldPools, name);
    const now = own(newPools, name);
    const code = was !== undefined && now !== undefined ? codeChange(was, now, own(before.digests, name), own(after.digests, name), changedResources) : undefined;
    if (was?.processes === undefined && now?.processes === undefined) {
      // Inline (or absent) before and after: the broadcast resizes and retunes; new code rolls the front workers.
      if (was === undefined && now !== undefined) lines.push(`pool ${name}: added (${where(now)})`);
      else if (was !== undefined && now === undefined) lines.push(`pool ${name}: removed (its actors drain)`);
      else if (was !== undefined && now !== undefined) {
        if (code !== undefined) frontRoll.push(`pool ${name}: ${code}`);
        if ((was.threads === undefined) !== (now.threads === undefined)) lines.push(`pool ${name}: ${where(was)} -> ${where(now)} (a new pool starts in every front worker, the old one drains)`);
        describeLive(name, was, now, changes, lines);
      }
      continue;
    }
    const from = was?.processes ?? 0;
    const to = now?.processes ?? 0;
    if (was !== undefined && now !== undefined && was.processes === undefined) lines.push(`pool ${name}: moved from the front workers to ${to} processes of its own`);
    else if (was !== undefined && now !== undefined && now.processes === undefined) lines.push(`pool ${name}: moved from ${from} processes of its own into the front workers`);
    else if (was === undefined && now !== undefined) lines.push(`pool ${name}: added (${to} process${to === 1 ? '' : 'es'} x ${now.size} actors)`);
    else if (was !== undefined && now === undefined) lines.push(`pool ${name}: removed (draining ${from} process${from === 1 ? '' : 'es'})`);
    else if (from !== to) lines.push(`pool ${name}: processes ${from} -> ${to}${to < from ? ` (draining ${from - to})` : ''}`);
    const roll = from > 0 && to > 0 ? code ?? forced : undefined;
    if (roll !== undefined) lines.push(`pool ${name}: roll ${Math.min(from, to)} process${Math.min(from, to) === 1 ? '' : 'es'}, new before old (${roll})`);
    if (was?.processes !== undefined && now?.processes !== undefined) describeLive(name, was, now, changes, lines);
    if (from !== to || roll !== undefined) isolated.push({ pool: name, from, to, roll });
  }

  if (forced !== undefined && frontRoll.length === 0) frontRoll.push(forced);
  const roll = frontRoll.length > 0 ? frontRoll.join('; ') : undefined;
  if (before.workers !== after.workers) lines.push(`front workers: ${before.workers} -> ${after.workers}`);
  if (roll !== undefined) lines.push(`front workers: roll ${before.workers}, new before old (${roll})`);
  const routes = changes.filter((c) => c.path.startsWith('routes.') || c.path === 'routes');
  if (routes.length > 0) lines.push(`routes: table swapped (${before.config.routes.length} -> ${after.config.routes.length} routes)`);
  if (changes.some((c) => c.path.startsWith('http.health.'))) lines.push('health paths: swapped');
  if (changes.some((c) => c.path === 'http.trustProxy' || c.path.startsWith('http.trustProxy.'))) {
    lines.push(`http.trustProxy: ${JSON.stringify(before.config.http.trustProxy)} -> ${JSON.stringify(after.config.http.trustProxy)} (swapped with the routing table)`);
  }
  if (changes.some((c) => c.path === 'http.accessLog' || c.path.startsWith('http.accessLog.'))) {
    lines.push(`http.accessLog: ${JSON.stringify(before.config.http.accessLog)} -> ${JSON.stringify(after.config.http.accessLog)} (swapped with the routing table)`);
  }
  if (changes.some((c) => c.path === 'http.shutdownTimeout')) lines.push(`http.shutdownTimeout: ${show(before.config.http.shutdownTimeout)} -> ${show(after.config.http.shutdownTimeout)} ms`);
  if (changes.some((c) => c.path.startsWith('caches.'))) lines.push('caches: updated');
  if (changes.some((c) => c.path.startsWith('admin.metrics'))) {
    const [was, now] = [before.config.admin.metrics, after.config.admin.metrics];
    lines.push(`admin.metrics: ${showAddress(was)} -> ${showAddress(now)} (listener ${now === false ? 'closed' : was === false ? 'opened' : 'rebound'})`);
  }
  if (changes.some((c) => c.path === 'http.metricsPath')) lines.push(`http.metricsPath: ${before.config.http.metricsPath ?? 'none'} -> ${after.config.http.metricsPath ?? 'none'}`);
  const codeOnly = Object.keys(newPools).some((n) => own(before.digests, n) !== undefined && own(before.digests, n) !== own(after.digests, n));
  const empty = changes.filter((c) => c.path !== 'file').length === 0 && before.workers === after.workers && !codeOnly && forced === undefined;
  return { refused, lines, front: { from: before.workers, to: after.workers, roll }, isolated, empty };
}

function showAddress(a: Config['admin']['metrics']): string {
  return a === false ? 'off' : `${hostForUrl(a.host)}:${a.port}`;
}

/** Why a pool present before and after needs its processes replaced, or undefined. */
function codeChange(was: PoolConfig, now: PoolConfig, digestBefore: string | undefined, digestAfter: string | undefined, changedResources: ReadonlySet<string>): string | undefined {
  if (was.actor !== now.actor) return 'actor module changed';
  if (digestBefore !== digestAfter) return 'actor module changed';
  if (was.resources.join('\0') !== now.resources.join('\0')) return 'resources changed';
  const touched = now.resources.filter((r) => changedResources.has(r));
  return touched.length > 0 ? `resource ${touched.join(', ')} changed` : undefined;
}

/** Lines for what running processes apply in place to a pool: size and settings. */
function describeLive(name: string, was: PoolConfig, now: PoolConfig, changes: readonly ConfigChange[], lines: string[]): void {
  if (was.size !== now.size) lines.push(`pool ${name}: size ${was.size} -> ${now.size}`);
  if (was.threads !== undefined && now.threads !== undefined && was.threads !== now.threads) {
    lines.push(`pool ${name}: threads ${was.threads} -> ${now.threads} per worker${now.threads < was.threads ? ` (draining ${was.threads - now.threads})` : ''}`);
  }
  if (was.threads !== undefined && now.threads !== undefined && was.maxHeap !== now.maxHeap) lines.push(`pool ${name}: maxHeap changed (its threads are replaced in every front worker, new before old)`);
  const settings = ['timeout', 'mailbox', 'supervision', 'drainTimeout'].filter((k) => changes.some((c) => c.path.startsWith(`pools.${name}.${k}`)));
  if (settings.length > 0) lines.push(`pool ${name}: ${settings.join(', ')} changed`);
  const autoscale = autoscaleLine(name, was, now, changes);
  if (autoscale !== undefined) lines.push(autoscale);
}

/** What a reload does to a pool's autoscaler: on, off, or which keys changed (the autoscaler starts afresh with them). */
function autoscaleLine(name: string, was: PoolConfig, now: PoolConfig, changes: readonly ConfigChange[]): string | undefined {
  const a = now.autoscale;
  if (was.autoscale === undefined && a !== undefined) {
    return `pool ${name}: autoscale on (${a.min}..${a.max ?? 'default max'}, ${a.signal} target ${a.target}), from the running size`;
  }
  if (was.autoscale !== undefined && a === undefined) return `pool ${name}: autoscale off (the file's size applies)`;
  const prefix = `pools.${name}.autoscale.`;
  const changed = changes.filter((c) => c.path.startsWith(prefix));
  if (changed.length === 0) return undefined;
  // A step is { units } or { ratio }: shown as written.
  const text = (v: unknown): string => (v !== null && typeof v === 'object' ? ('ratio' in v ? `${Number(v.ratio) * 100}%` : 'units' in v ? String(v.units) : JSON.stringify(v)) : show(v));
  const keys = new Map<string, string>();
  for (const c of changed) {
    const key = c.path.slice(prefix.length).replace(/\.(units|ratio)$/, '');
    const at = key.split('.');
    const pick = (cfg: PoolConfig): unknown => at.reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), cfg.autoscale);
    keys.set(key, `${key} ${text(pick(was))} -> ${text(pick(now))}`);
  }
  return `pool ${name}: autoscale ${[...keys.values()].join(', ')}`;
}

/** Where a pool inside the front workers runs, as a plan line says it. */
function where(pool: PoolConfig): string {
  return pool.threads === undefined ? `inline, ${pool.size} actors per worker` : `${pool.threads} thread${pool.threads === 1 ? '' : 's'} x ${pool.size} actors per worker`;
}

function inline(config: Config): PoolConfig[] {
  return Object.values(config.pools).filter((p) => p.processes === undefined);
}

/** `record[key]` if it is the record's own entry: pool names such as `toString` are valid and must not read Object.prototype. */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}

function show(value: unknown): string {
  return value === undefined ? '(none)' : JSON.stringify(value);
}
