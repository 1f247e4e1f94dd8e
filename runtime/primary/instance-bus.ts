import type { Config } from '../../config/types.js';
import { InvalidationBus, type BusStatus } from '../bus/invalidation-bus.js';
import type { Logger } from '../logger.js';
import type { Invalidation, MetricsSnapshot } from '../protocol/shapes.js';
import type { Child } from './child.js';
import type { ChildSupervisor } from './supervisor.js';

/** How often children are told whether the instance hears the bus (runtime/cache/caches.ts BUS_SILENCE_MS is three of these). */
const STATE_EVERY_MS = 500;
/** How long a reload that moves the bus (another channel or Redis) waits for the new one to connect before it drops the old one. */
const SWAP_WAIT_MS = 2000;

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

  private readonly timer: NodeJS.Timeout;

  constructor(private readonly supervisor: ChildSupervisor, private readonly log: Logger) {
    // Said again every STATE_EVERY_MS, not only on a change: a child that stops hearing it (this
    // primary frozen, its event loop stuck) counts itself cut off, since nobody would tell it.
    this.timer = setInterval(() => { if (this.bus !== undefined) this.supervisor.tellAll({ type: 'bus', cutOff: this.cut }); }, STATE_EVERY_MS);
    this.timer.unref();
  }

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
    clearInterval(this.timer);
    this.changing = this.changing.then(() => this.replace(undefined, ''));
    return this.changing;
  }

  private async follow(config: Config): Promise<void> {
    const { bus } = config;
    const resource = bus === undefined ? undefined : config.resources[bus.redis];
    if (bus === undefined || resource?.type !== 'redis') {
      await this.replace(undefined, '');
      return;
    }
    // The channel and its Redis make the connection; timeout and staleness are read per use.
    const made = JSON.stringify([bus.channel, resource]);
    if (made === this.made && this.bus !== undefined) {
      this.bus.configure(bus);
      return;
    }
    const next = await InvalidationBus.open(bus, resource, {
      apply: (inv) => this.supervisor.relayAll(inv),
      // Only the bus in use speaks for the instance: a new one waiting to connect, or an old one closing, does not.
      cutOff: (cut) => { if (this.bus === next) this.setCut(cut); },
    }, this.log);
    // The old bus carries writes until the new one hears Redis (bounded): swapping at once would
    // queue them on a bus still connecting, and peers would read the old value meanwhile.
    if (this.bus !== undefined) await next.connectedWithin(SWAP_WAIT_MS);
    await this.replace(next, made);
  }

  private async replace(next: InvalidationBus | undefined, made: string): Promise<void> {
    const previous = this.bus;
    this.bus = next;
    this.made = made;
    // A new bus is cut off until its first echo (then flushes); no bus at all: nothing to be cut off from.
    this.setCut(next !== undefined && !next.isConnected);
    await previous?.close();
  }

  private setCut(cut: boolean): void {
    if (cut === this.cut) return;
    this.cut = cut;
    this.supervisor.tellAll({ type: 'bus', cutOff: cut });
  }
}
