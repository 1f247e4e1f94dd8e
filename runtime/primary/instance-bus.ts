import type { Config } from '../../config/types.js';
import { InvalidationBus, type BusStatus } from '../bus/invalidation-bus.js';
import type { Logger } from '../logger.js';
import type { Invalidation, MetricsSnapshot } from '../protocol/shapes.js';
import type { Child } from './child.js';
import type { ChildSupervisor } from './supervisor.js';

/**
 * This instance's end of the invalidation bus (runtime/bus/), kept in step with the topology:
 * opened when the file declares `bus:`, replaced when its settings or its Redis change, closed
 * when a reload drops it. Peers' invalidations go to every process here; whether the bus is
 * cut off goes to every process too (their memory stores then serve by staleness), and to each
 * process that starts later.
 */
export class InstanceBus {
  private bus: InvalidationBus | undefined;
  /** What the open bus was made from (bus settings and its Redis resource), to tell a change. */
  private made = '';
  private cut = false;
  private changing: Promise<void> = Promise.resolve();

  constructor(private readonly supervisor: ChildSupervisor, private readonly log: Logger) {}

  /** Follow `config` (at start and after every applied reload); one change at a time. */
  apply(config: Config): Promise<void> {
    this.changing = this.changing.then(() => this.follow(config));
    return this.changing;
  }

  /** Tell every other instance; resolves when they confirmed, or at the bus's timeout, or at once without a bus. */
  publish(inv: Invalidation): Promise<void> {
    return this.bus?.publish(inv) ?? Promise.resolve();
  }

  /** A process (re)started: it begins not cut off; tell it otherwise. */
  childReady(child: Child): void {
    if (this.cut) this.supervisor.tell(child, { type: 'bus', cutOff: true });
  }

  status(): BusStatus | undefined {
    return this.bus?.status();
  }

  metrics(): MetricsSnapshot {
    return this.bus?.metrics() ?? {};
  }

  close(): Promise<void> {
    this.changing = this.changing.then(() => this.replace(undefined, ''));
    return this.changing;
  }

  private async follow(config: Config): Promise<void> {
    const { bus } = config;
    const resource = bus === undefined ? undefined : config.resources[bus.redis];
    const made = bus === undefined || resource?.type !== 'redis' ? '' : JSON.stringify([bus, resource]);
    if (made === this.made) return;
    if (bus === undefined || resource?.type !== 'redis') {
      await this.replace(undefined, '');
      return;
    }
    const next = await InvalidationBus.open(bus, resource, {
      apply: (inv) => this.supervisor.relayAll(inv),
      cutOff: (cut) => this.setCut(cut),
    }, this.log);
    await this.replace(next, made);
  }

  private async replace(next: InvalidationBus | undefined, made: string): Promise<void> {
    const previous = this.bus;
    this.bus = next;
    this.made = made;
    // A new bus starts cut off until its first echo (then flushes); no bus at all: nothing to be cut off from.
    this.setCut(next !== undefined);
    await previous?.close();
  }

  private setCut(cut: boolean): void {
    if (cut === this.cut) return;
    this.cut = cut;
    this.supervisor.tellAll({ type: 'bus', cutOff: cut });
  }
}
