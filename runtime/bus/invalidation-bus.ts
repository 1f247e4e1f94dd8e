import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { BusConfig, RedisResource } from '../../config/types.js';
import type { Logger } from '../logger.js';
import { Histogram } from '../metrics/request-metrics.js';
import type { Invalidation, MetricsSnapshot } from '../protocol/shapes.js';
import { BadField } from '../protocol/check.js';
import { decodeBusMessage, encodeBusMessage, type BusMessage } from './wire.js';

/**
 * How often an instance beats on the shared channel, and how long without a beat before one is
 * counted gone. Its own beat's echo proves its subscription receives: a closed socket is noticed
 * at once, the beat catches what TCP does not say for minutes (a silent network, a paused Redis).
 * Peers' beats say who is there: a write waits only for instances heard within LOST_AFTER_MS, so
 * a foreign subscriber on the channel (redis-cli, a GUI's psubscribe '*') or a frozen peer never
 * makes every write wait the whole timeout. Cost: instances x instances / BEAT_MS deliveries.
 */
const BEAT_MS = 500;
const LOST_AFTER_MS = 1500;
/** Invalidations kept while cut off, published on reconnect; past this many, one flush-all replaces them. */
const QUEUE_MAX = 1000;
/** Round trips kept for the percentiles status shows. */
const RECENT = 512;
/** Reconnect delays: 100 ms doubling up to 2 s (the bus is worth retrying fast: memory caches are degraded meanwhile). */
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 2000;
/** A timeout or lost-bus log line at most this often (each is counted). */
const LOG_EVERY_MS = 5000;

/** What the bus needs of the instance it serves. */
export interface BusHooks {
  /** A peer invalidated: drop the keys from every process of this instance; resolves once they have (each within its own bound). */
  apply(inv: Invalidation): Promise<void>;
  /** Cut off (true: memory entries older than `staleness` are misses) or back (false, once `apply` of a flush-all resolved). */
  cutOff(cut: boolean): void;
}

/** What `actorrt status` shows of the bus. */
export interface BusStatus {
  readonly channel: string;
  readonly redis: string;
  /** This instance's id on the bus (host:pid:random). */
  readonly instance: string;
  readonly connected: boolean;
  /** Since when (ms since the epoch) it has been connected or cut off. */
  readonly since: number;
  /** Other instances heard on the channel within the last 1.5 s. */
  readonly peers: number;
  /** Publish to the last peer's acknowledgement, ms, over the last RECENT invalidations with peers. */
  readonly roundTrip?: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly sent: number;
  readonly received: number;
  /** Invalidations some peer did not acknowledge within `timeout`. */
  readonly ackTimeouts: number;
  /** Times this instance flushed its memory stores on getting the bus back. */
  readonly flushes: number;
  /** Invalidations waiting for the bus to come back. */
  readonly queued: number;
}

/** The node-redis client, as much of it as the bus uses. */
type Client = ReturnType<typeof import('@keyv/redis').createClient>;

/** An invalidation this instance published, until every peer acknowledged it or the timeout passed. */
interface Pending {
  /** Peers that must acknowledge: PUBLISH's receiver count, less this instance; undefined until PUBLISH answers. */
  expected?: number;
  readonly acks: Set<string>;
  /** performance.now() at publish. */
  readonly sent: number;
  readonly resolve: () => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Invalidation of memory caches across instances, over Redis pub/sub (one per instance, run by the
 * primary: two connections per instance, whatever its process count).
 *
 * A write publishes on `channel`; PUBLISH answers how many subscribers received it, so the
 * sender knows how many acknowledgements to wait for (itself excluded) and waits at most
 * `timeout`. A peer drops the keys from each of its processes, then acknowledges on the sender's
 * own channel. Redis pub/sub is at most once: a subscriber that loses its connection loses what
 * was published meanwhile, so an instance that was cut off flushes its memory stores before it
 * counts itself back (as Hazelcast's near cache does), and while cut off its processes serve no
 * memory entry older than `staleness`. Its own writes meanwhile wait in a bounded queue and go
 * out on reconnect.
 */
export class InvalidationBus {
  readonly instance = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly own: string;
  private readonly sub: Client;
  private readonly pub: Client;
  private connected = false;
  private since = Date.now();
  private lastBeat = 0;
  /** Other instances by id: when each was last heard (beat, invalidation or acknowledgement), performance.now(). */
  private readonly heard = new Map<string, number>();
  /** Bumped by every loss: a flush that began before one must not count the bus as back. */
  private losses = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private queue: Invalidation[] = [];
  private overflowed = false;
  private recovering = false;
  private subscribed = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly recent: number[] = [];
  private readonly roundTrips = new Histogram([]);
  private sent = 0;
  private received = 0;
  private ackTimeouts = 0;
  private flushes = 0;
  private lastLog = 0;

  private constructor(private config: BusConfig, createClient: typeof import('@keyv/redis').createClient, resource: RedisResource,
    private readonly hooks: BusHooks, private readonly log: Logger) {
    this.own = inbox(config.channel, this.instance);
    const options = (role: string): Parameters<typeof createClient>[0] => ({
      url: resource.url,
      name: `actorrt-bus-${role}-${process.pid}`,
      disableOfflineQueue: true,
      socket: { connectTimeout: resource.connectTimeout, reconnectStrategy: (retries: number) => Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** retries) },
    });
    this.sub = createClient(options('sub'));
    this.pub = createClient(options('pub'));
    for (const client of [this.sub, this.pub]) {
      // Errors are reported through the beat (cut off) and the log below; an 'error' without a listener would throw in the primary.
      client.on('error', (err: Error) => this.note('bus connection error; reconnecting', { err: err.message }));
      client.on('reconnecting', () => this.lose('connection lost'));
      client.on('end', () => this.lose('connection closed'));
    }
    this.timer = setInterval(() => this.tick(), BEAT_MS);
    this.timer.unref();
  }

  /** Start connecting (in the background: a Redis that is down delays nothing; the instance starts cut off and catches up when it comes). */
  static async open(config: BusConfig, resource: RedisResource, hooks: BusHooks, log: Logger): Promise<InvalidationBus> {
    // Loaded only when a topology has a bus: node-redis is ~400 files, 60 ms of start-up.
    const { createClient } = await import('@keyv/redis');
    const bus = new InvalidationBus(config, createClient, resource, hooks, log);
    bus.connect();
    return bus;
  }

  /**
   * Tell every peer instance to drop `inv` from its memory stores; resolves once each has
   * acknowledged, or after `timeout` (logged and counted). Never rejects: a write is never
   * failed or held past the bound because of the bus. While cut off it resolves at once and
   * the invalidation is published when the bus is back.
   */
  publish(inv: Invalidation): Promise<void> {
    if (!this.connected) {
      this.enqueue(inv);
      return Promise.resolve();
    }
    const id = this.nextId++;
    const message = encodeBusMessage({ t: 'inv', from: this.instance, id, at: Date.now(), inv });
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.timedOut(id), this.config.timeout);
      timer.unref();
      this.pending.set(id, { acks: new Set(), sent: performance.now(), resolve, timer });
      this.pub.publish(this.config.channel, message).then((receivers: number) => {
        this.sent++;
        const pending = this.pending.get(id);
        if (pending === undefined) return;
        // Our own subscription is one of the receivers while we are connected; of the others, only
        // instances heard lately answer. Acknowledgements may have come before PUBLISH's own
        // answer: they are already in `acks`.
        pending.expected = Math.min(Math.max(0, receivers - 1), this.livePeers());
        this.check(id, pending);
      }, (err: unknown) => {
        this.settle(id);
        this.note('could not publish an invalidation; it goes out when the bus is back', { err: err instanceof Error ? err.message : String(err) });
        this.enqueue(inv);
      });
    });
  }

  /** Whether it hears the bus now (its own beat came back, after the flush). */
  get isConnected(): boolean {
    return this.connected;
  }

  /** Resolves once connected, or after `timeout` ms (a reload waits for the new bus before dropping the old one). */
  async connectedWithin(timeout: number): Promise<void> {
    const deadline = performance.now() + timeout;
    while (!this.connected && !this.closed && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  /** Take new settings that need no new connection (timeout, staleness): the channel and the Redis stay. */
  configure(config: BusConfig): void {
    this.config = config;
  }

  status(): BusStatus {
    const sorted = [...this.recent].sort((a, b) => a - b);
    const at = (q: number): number => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number) * 100) / 100;
    return {
      channel: this.config.channel, redis: this.config.redis, instance: this.instance, connected: this.connected, since: this.since, peers: this.livePeers(),
      ...(sorted.length === 0 ? {} : { roundTrip: { p50: at(0.5), p99: at(0.99), max: at(1) } }),
      sent: this.sent, received: this.received, ackTimeouts: this.ackTimeouts, flushes: this.flushes, queued: this.queue.length,
    };
  }

  /** The bus's series for a scrape (families `actorrt_bus_*` of the catalog). */
  metrics(): MetricsSnapshot {
    return {
      actorrt_bus_round_trip_seconds: [this.roundTrips.series()],
    };
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    clearInterval(this.timer);
    for (const id of [...this.pending.keys()]) this.settle(id);
    // destroy, not QUIT: a Redis that does not answer (a frozen network) would hold the instance's stop.
    for (const c of [this.sub, this.pub]) {
      try {
        c.destroy();
      } catch { /* never connected: nothing to close */ }
    }
    return Promise.resolve();
  }

  private connect(): void {
    const start = (c: Client): void => {
      c.connect().catch((err: unknown) => this.note('bus: could not connect to redis; retrying', { err: err instanceof Error ? err.message : String(err) }));
    };
    start(this.pub);
    start(this.sub);
    // A beat as soon as either connection is back, not at the next tick: after a short drop the
    // flush and the return otherwise wait up to BEAT_MS for the echo (measured: ~350 ms of 370).
    this.sub.on('ready', () => { void this.subscribe().then(() => this.beat()); });
    this.pub.on('ready', () => this.beat());
  }

  /** node-redis subscribes again by itself after a reconnect: this runs once, at the first connection. */
  private async subscribe(): Promise<void> {
    if (this.closed || this.subscribed) return;
    this.subscribed = true;
    try {
      await this.sub.subscribe([this.config.channel, this.own], (text: string, channel: string) => this.receive(text, channel));
    } catch (err) {
      this.subscribed = false;
      this.note('bus: could not subscribe; retrying on the next connection', { err: err instanceof Error ? err.message : String(err) });
    }
  }

  private receive(text: string, channel: string): void {
    let msg: BusMessage;
    try {
      msg = decodeBusMessage(text);
    } catch (err) {
      if (!(err instanceof BadField)) throw err;
      this.note('bus: dropped a message that failed its check (another program or version on the channel?)', { channel, err: err.message });
      return;
    }
    if (msg.from === this.instance) {
      if (msg.t === 'beat') this.alive();
      return;
    }
    this.heard.set(msg.from, performance.now());
    if (msg.t === 'beat') return;
    if (msg.t === 'ack') {
      this.acknowledged(msg.from, msg.id);
      return;
    }
    this.received++;
    const to = inbox(this.config.channel, msg.from);
    void this.hooks.apply(msg.inv).then(() => this.pub.publish(to, encodeBusMessage({ t: 'ack', from: this.instance, id: msg.id })))
      .catch((err: unknown) => this.note('bus: could not acknowledge an invalidation (the sender waits out its timeout)', { err: err instanceof Error ? err.message : String(err) }));
  }

  private acknowledged(from: string, id: number): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return; // timed out already, or not ours
    pending.acks.add(from);
    this.check(id, pending);
  }

  private check(id: number, pending: Pending): void {
    if (pending.expected === undefined || pending.acks.size < pending.expected) return;
    if (pending.expected > 0) this.record((performance.now() - pending.sent) / 1000);
    this.settle(id);
  }

  private timedOut(id: number): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.ackTimeouts++;
    this.note('bus: a peer instance did not acknowledge an invalidation in time; the reply goes out', {
      acknowledged: pending.acks.size, expected: pending.expected ?? 'unknown (PUBLISH did not answer)', timeoutMs: this.config.timeout,
    });
    this.settle(id);
  }

  /** Resolve the write waiting for invalidation `id` and forget it. */
  private settle(id: number): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve();
  }

  private record(seconds: number): void {
    this.recent.push(seconds * 1000);
    if (this.recent.length > RECENT) this.recent.shift();
    this.roundTrips.observe(seconds);
  }

  private tick(): void {
    if (this.closed) return;
    if (this.connected && performance.now() - this.lastBeat > LOST_AFTER_MS) this.lose('no echo from redis');
    this.beat();
    const now = performance.now();
    for (const [peer, at] of this.heard) if (now - at > LOST_AFTER_MS) this.heard.delete(peer);
  }

  /** Other instances heard within LOST_AFTER_MS. */
  private livePeers(): number {
    const now = performance.now();
    let live = 0;
    for (const at of this.heard.values()) if (now - at <= LOST_AFTER_MS) live++;
    return live;
  }

  /** Beat on the shared channel: our own echo proves the subscription receives, peers learn we are here. */
  private beat(): void {
    if (this.closed || !this.pub.isReady) return;
    this.pub.publish(this.config.channel, encodeBusMessage({ t: 'beat', from: this.instance })).catch(() => { /* the missing echo says it */ });
  }

  /** Our own beat came back: the subscription receives. Back from a loss: flush first, then count as connected. */
  private alive(): void {
    this.lastBeat = performance.now();
    if (this.connected || this.recovering) return;
    this.recovering = true;
    const losses = this.losses;
    const cutFor = Date.now() - this.since;
    // Whatever was published while this instance could not hear it is lost: drop every memory entry.
    this.hooks.apply({ keys: [], prefixes: [''] }).catch(() => { /* each process's own bound; a process that did not answer is restarted or gone */ }).finally(() => {
      this.recovering = false;
      // Lost again while flushing: what the flush dropped is not enough; the next echo starts over.
      if (this.closed || losses !== this.losses) return;
      this.flushes++;
      this.connected = true;
      this.since = Date.now();
      this.hooks.cutOff(false);
      this.log.info({ event: 'bus-connected', channel: this.config.channel, instance: this.instance, cutOffMs: this.flushes === 1 ? undefined : cutFor }, this.flushes === 1
        ? 'invalidation bus connected' : 'invalidation bus back: memory caches flushed');
      this.drain();
    });
  }

  private lose(why: string): void {
    this.losses++;
    if (!this.connected || this.closed) return;
    this.connected = false;
    this.since = Date.now();
    this.hooks.cutOff(true);
    this.log.warn({ event: 'bus-lost', channel: this.config.channel, reason: why, stalenessMs: this.config.staleness },
      'invalidation bus lost: memory entries older than the staleness bound are not served until it is back');
  }

  private enqueue(inv: Invalidation): void {
    if (this.overflowed) return;
    if (this.queue.length >= QUEUE_MAX) {
      this.overflowed = true;
      this.queue = [];
      return;
    }
    this.queue.push(inv);
  }

  /** Publish what was written while cut off (peers' entries for those keys may be stale until now). */
  private drain(): void {
    const queued = this.overflowed ? [{ keys: [], prefixes: [''] }] : this.queue;
    this.queue = [];
    this.overflowed = false;
    for (const inv of queued) void this.publish(inv);
  }

  /** Log a line at most every LOG_EVERY_MS (the counters carry every occurrence). */
  private note(message: string, fields: Record<string, unknown>): void {
    if (this.closed || Date.now() - this.lastLog < LOG_EVERY_MS) return;
    this.lastLog = Date.now();
    this.log.warn({ ...fields, channel: this.config.channel }, message);
  }
}

/** The channel an instance hears its acknowledgements on. */
function inbox(channel: string, instance: string): string {
  return `${channel}:to:${instance}`;
}
