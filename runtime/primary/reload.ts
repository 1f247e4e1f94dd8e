import { applyScale, type ScaleOverride } from '../../config/scale.js';
import type { Config } from '../../config/types.js';
import { autoscaledSizes, autoscaledUnit, policyOf } from '../autoscale/policy.js';
import { usableCpus } from './cpu-count.js';
import { loadConfig } from '../../config/validate.js';
import { ConfigError, formatIssue } from '../../config/errors.js';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';
import { INSTALLED_VERSION_MODULE, protocolMismatch } from './installed-protocol.js';
import { drainTimeout, FRONT, type Processes } from './processes.js';
import { actorDigests, planReload, type Deployed, type PlanOptions, type ReloadPlan } from './reload-plan.js';
import type { ReloadOutcome } from './status.js';
import type { Child } from './child.js';

type Trigger = ReloadOutcome['trigger'];

/**
 * Reloads of a running instance, one at a time: a reload that arrives during another waits its
 * turn. Each one validates the new topology completely, plans the change (refusing what needs a
 * restart), then carries the plan out; an invalid or refused topology changes nothing and the
 * running one keeps serving.
 */
export class Reloader {
  private queue: Promise<unknown> = Promise.resolve();
  /** The last reload or scale, for status. */
  last: ReloadOutcome | undefined;
  /** Called with the topology in force after each reload that applied something (the primary rebinds its metrics listener). */
  onApplied: ((config: Config) => void) | undefined;
  /** Reloads and scales finished, by `<trigger> <result>` (applied, unchanged, refused), for metrics. */
  readonly tally = new Map<string, number>();
  /**
   * Autoscaled pools an `actorrt scale` pinned, with the size it set: the autoscaler leaves them
   * alone until the next reload, which clears every pin.
   */
  readonly pinned = new Map<string, number>();

  constructor(private readonly processes: Processes, private readonly file: string, private readonly workersOf: (config: Config) => number,
    private readonly log: Logger) {}

  /** Re-read the topology file and apply it; `roll` also replaces every process, new before old. */
  reload(trigger: Exclude<Trigger, 'scale'>, dryRun = false, roll = false): Promise<ReloadOutcome> {
    return this.serialize(async () => {
      let config: Config;
      try {
        config = loadConfig(this.file);
      } catch (err) {
        return this.finish(trigger, dryRun, [], failure(err));
      }
      const kept = autoscaledSizes(config, this.processes.config, usableCpus());
      const resumed = [...this.pinned].filter(([pool]) => autoscaledUnit(kept.pools[pool]) !== undefined)
        .map(([pool, value]) => {
          const unit = autoscaledUnit(kept.pools[pool]) ?? 'size';
          const now = kept.pools[pool]?.[unit];
          return `pool ${pool}: autoscaling resumed from ${unit} ${now ?? value} (actorrt scale had pinned it at ${value}${now !== value ? ', clamped into the bounds' : ''})`;
        });
      const outcome = await this.go(trigger, dryRun, { config: kept, digests: actorDigests(kept), workers: this.workersOf(kept) }, { roll }, resumed);
      // The file is in force again (or was refused, and the pins stay with the running topology).
      if (outcome.ok && !dryRun) this.pinned.clear();
      return outcome;
    });
  }

  /** Change pool sizes / process counts of the running topology (the file is not read; the next reload returns to it). */
  scale(overrides: readonly ScaleOverride[], dryRun = false): Promise<ReloadOutcome> {
    return this.serialize(async () => {
      const current = this.processes.deployed();
      let config: Config;
      try {
        config = applyScale(current.config, overrides);
      } catch (err) {
        return this.finish('scale', dryRun, [], failure(err));
      }
      const pins = overrides.filter((o) => autoscaledUnit(current.config.pools[o.pool]) === o.key);
      const notes = pins.map((o) => {
        const pool = current.config.pools[o.pool];
        const policy = pool === undefined ? undefined : policyOf(pool, usableCpus());
        const outside = policy !== undefined && (o.value < policy.min || o.value > policy.max) ? ` (outside its bounds ${policy.min}..${policy.max}: the reload clamps it into them)` : '';
        return `pool ${o.pool}: autoscaling paused at ${o.key} ${o.value} until the next reload${outside}`;
      });
      const outcome = await this.go('scale', dryRun, { ...current, config }, {}, notes);
      if (outcome.ok && !dryRun) for (const o of pins) this.pinned.set(o.pool, o.value);
      return outcome;
    });
  }

  /**
   * The autoscaler's change of one pool's size (runtime/autoscale/): applied in turn with reloads,
   * never interleaved with one, and only if the pool still has the size the decision was made at
   * and no `actorrt scale` pinned it meanwhile (`superseded`: nothing changed). Logged by the
   * autoscaler, one line per change; status keeps showing the last reload.
   */
  autoscale(pool: string, from: number, to: number): Promise<'applied' | 'superseded' | NonNullable<ReloadOutcome['error']>> {
    return this.serialize(async () => {
      const current = this.processes.deployed();
      const config = current.config.pools[pool];
      const unit = autoscaledUnit(config);
      if (config === undefined || unit === undefined || this.pinned.has(pool) || config[unit] !== from) return 'superseded';
      let next: Config;
      try {
        next = applyScale(current.config, [{ pool, key: unit, value: to }]);
      } catch (err) {
        return failure(err);
      }
      const outcome = await this.go('autoscale', false, { ...current, config: next });
      return outcome.error ?? 'applied';
    });
  }

  /**
   * Replace one serving process by a fresh one of its group, new before old (a process past its
   * maxRss). Runs in turn with reloads, so it never interleaves with one; a process a reload
   * already took out is left alone.
   */
  recycle(child: Child, why: string, fields: Readonly<Record<string, unknown>> = {}): Promise<void> {
    return this.serialize(async () => {
      if (child.state !== 'up') return;
      const drain = drainTimeout(this.processes.config, child.spec.group);
      this.log.warn({ ...child.spec.fields, ...fields, childPid: child.pid, why, event: 'recycle' }, `${child.spec.name}: ${why}; replacing it (new before old)`);
      await replace(this.processes, child, drain);
    });
  }

  private serialize<T>(run: () => Promise<T>): Promise<T> {
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async go(trigger: Trigger, dryRun: boolean, next: Deployed, options: PlanOptions = {}, notes: readonly string[] = []): Promise<ReloadOutcome> {
    const found = planReload(this.processes.deployed(), next, options);
    const planned = notes.length === 0 ? found : { ...found, lines: [...found.lines, ...notes] };
    if (planned.refused.length > 0) {
      return this.finish(trigger, dryRun, planned.lines, { code: 'ACTORRT_E_RELOAD_REFUSED', message: planned.refused.join('; ') });
    }
    // Bringing back a pool supervision gave up is an operator's call (a reload), never a side effect of the autoscaler's change of another pool.
    const plan = trigger === 'autoscale' ? planned : withRevivals(planned, next.config, (pool) => this.processes.isDown(pool));
    if (plan.empty) return this.finish(trigger, dryRun, plan.lines, undefined);
    // New processes are forked from the install on disk, which an upgrade may have changed under
    // this primary: say so before anything is replaced, rather than have each new child refused.
    const mismatch = await protocolMismatch(INSTALLED_VERSION_MODULE);
    if (mismatch !== undefined) return this.finish(trigger, dryRun, plan.lines, { code: 'ACTORRT_E_PROTOCOL_VERSION', message: mismatch });
    if (dryRun) return this.finish(trigger, dryRun, plan.lines, undefined);
    if (trigger !== 'autoscale') this.log.info({ trigger, plan: plan.lines }, 'reload: applying');
    try {
      await applyPlan(this.processes, plan, next, this.log);
    } catch (err) {
      return this.finish(trigger, dryRun, plan.lines, { code: 'ACTORRT_E_RELOAD_FAILED', message: `${(err as Error).message}; the previous topology keeps serving` });
    }
    return this.finish(trigger, dryRun, plan.lines, undefined);
  }

  private finish(trigger: Trigger, dryRun: boolean, plan: readonly string[], error: ReloadOutcome['error']): ReloadOutcome {
    const outcome: ReloadOutcome = {
      trigger, at: new Date().toISOString(), ok: error === undefined, applied: error === undefined && !dryRun && plan.length > 0, dryRun, plan,
      ...(error === undefined ? {} : { error }),
    };
    if (dryRun) return outcome;
    const result = error !== undefined ? 'refused' : outcome.applied ? 'applied' : 'unchanged';
    this.tally.set(`${trigger} ${result}`, (this.tally.get(`${trigger} ${result}`) ?? 0) + 1);
    // Nothing to change (an editor touching the file, a reload after the watcher already applied
    // the save): status keeps showing the last reload that changed something or was refused. An
    // autoscaler's change is logged and shown by the autoscaler.
    if (trigger === 'autoscale' || (outcome.ok && plan.length === 0)) {
      this.onApplied?.(this.processes.config); // nothing changed, but a listener that could not bind is tried again
      return outcome;
    }
    this.last = outcome;
    if (error === undefined) {
      this.log.info({ trigger, plan }, 'reload: applied');
      this.onApplied?.(this.processes.config);
    }
    else this.log.error({ trigger, code: error.code, err: error.message, issues: error.issues }, 'reload refused; the running topology keeps serving');
    return outcome;
  }
}

/**
 * A reload also brings back isolated pools that supervision gave up on (the operator fixed what
 * made them fail): their processes start again with a fresh restart window.
 */
function withRevivals(plan: ReloadPlan, config: Config, isDown: (pool: string) => boolean): ReloadPlan {
  const down = Object.values(config.pools).filter((p) => p.processes !== undefined && isDown(p.name));
  if (down.length === 0) return plan;
  const stepped = new Set(plan.isolated.map((s) => s.pool));
  return {
    ...plan,
    empty: false,
    lines: [...plan.lines, ...down.map((p) => `pool ${p.name}: started again after it was given up (${p.processes ?? 0} processes)`)],
    isolated: [
      ...plan.isolated.map((s) => (isDown(s.pool) ? { ...s, from: 0, revive: true } : s)),
      ...down.filter((p) => !stepped.has(p.name)).map((p) => ({ pool: p.name, from: 0, to: p.processes ?? 0, roll: undefined, revive: true })),
    ],
  };
}

function failure(err: unknown): NonNullable<ReloadOutcome['error']> {
  if (err instanceof ConfigError) return { code: err.code, message: err.message, issues: err.issues.map(formatIssue) };
  if (err instanceof ActorrtError) return { code: err.code, message: `${err.message}${err.hint === undefined ? '' : ` (${err.hint})`}` };
  return { code: 'ACTORRT_E_INTERNAL', message: (err as Error).message };
}

/**
 * Carry a plan out: new processes first (each routed to only once ready), replacements one at a
 * time new before old, then every running process applies the topology (sizes, settings, routes,
 * endpoints), then the processes left over drain and exit. If a new process cannot start, the
 * ones started for this reload are stopped and everyone is told the previous topology again.
 */
export async function applyPlan(p: Processes, plan: ReloadPlan, next: Deployed, log: Logger): Promise<void> {
  const previous = p.deployed();
  const fresh: Child[] = [];
  /** Started to replace a process already retired: kept even if the reload fails later. */
  const replacing = new Set<Child>();
  const victims: Array<{ child: Child; drain: number }> = [];
  const start = async (spawned: { child: Child; ready: Promise<void> }): Promise<Child> => {
    fresh.push(spawned.child);
    await spawned.ready;
    return spawned.child;
  };
  const roll = (old: Child, drain: number): Promise<void> => replace(p, old, drain, { started: (c) => fresh.push(c), tookOver: (c) => replacing.add(c) });
  p.setDeployed(next);
  try {
    for (const step of plan.isolated) {
      if (step.revive === true) p.revive(step.pool);
      const drain = drainTimeout(step.pool in next.config.pools ? next.config : previous.config, step.pool);
      const running = p.serving(step.pool);
      if (step.roll !== undefined) {
        for (const old of running.slice(0, step.to)) await roll(old, drain);
      }
      // One at a time: booting processes compete with serving ones for the cores, and two booting
      // at once on a small machine can take every core together (measured in bench/reload.ts).
      for (let n = running.length; n < step.to; n++) await start(p.startPoolProcess(step.pool));
      for (const child of leaving(running, running.length - step.to)) victims.push({ child, drain });
    }
    const drain = next.config.http.shutdownTimeout;
    const fronts = p.serving(FRONT);
    if (plan.front.roll !== undefined) {
      for (const old of fronts.slice(0, plan.front.to)) await roll(old, drain);
    }
    for (let n = fronts.length; n < plan.front.to; n++) await start(p.startFront());
    for (const child of leaving(fronts, fronts.length - plan.front.to)) victims.push({ child, drain });
    for (const v of victims) p.unlist(v.child);
    await p.broadcast();
  } catch (err) {
    log.error({ err: (err as Error).message }, 'reload failed; going back to the previous topology');
    p.setDeployed(previous);
    for (const v of victims) p.relist(v.child);
    await Promise.all(fresh.filter((c) => !replacing.has(c)).map((c) => p.retire(c, 'stop', 5000)));
    await p.broadcast().catch((again: unknown) => log.error({ err: (again as Error).message }, 'could not restore the previous topology everywhere'));
    throw err;
  }
  for (const v of victims) void p.retire(v.child, 'retire', v.drain);
}

/**
 * Replace `old` by a new process of its group: the new one ready, every peer told to route to it
 * instead (`old` unlisted), then `old` drains for up to `drain` ms and exits.
 */
async function replace(p: Processes, old: Child, drain: number, track: { started?(c: Child): void; tookOver?(c: Child): void } = {}): Promise<void> {
  const spawned = p.startLike(old);
  track.started?.(spawned.child);
  await spawned.ready;
  p.unlist(old);
  track.tookOver?.(spawned.child); // `old` is out of routing: the new child is what stands for it now
  try {
    await p.broadcast();
  } finally {
    // Even when the broadcast failed (a reload's rollback broadcasts again, with `old` still
    // unlisted): `old` drains until its peers hang up, or its drain runs out; never left running.
    void p.retire(old, 'retire', drain);
  }
}

/** Which `n` processes leave when a group shrinks: ones not serving yet first, then the newest. */
function leaving(children: readonly Child[], n: number): Child[] {
  if (n <= 0) return [];
  return [...children].sort((a, b) => Number(a.state === 'up') - Number(b.state === 'up') || b.spec.id - a.spec.id).slice(0, n);
}
