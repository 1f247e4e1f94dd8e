import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createClient } from '@keyv/redis';
import { pino } from 'pino';
import { InvalidationBus } from '../runtime/bus/invalidation-bus.js';
import { decodeBusMessage, encodeBusMessage, type BusMessage } from '../runtime/bus/wire.js';
import { BadField } from '../runtime/protocol/check.js';
import type { Invalidation } from '../runtime/protocol/shapes.js';
import { median } from './load.js';

/**
 * Issue 23: the mechanisms that could carry cross-instance invalidations over Redis, measured
 * side by side against a real Redis (BUS_BENCH_REDIS, default redis://127.0.0.1:6379).
 *
 * - `pub/sub`: the runtime's own InvalidationBus (runtime/bus/), unchanged: PUBLISH on a shared
 *   channel, PUBLISH's receiver count says how many acks to wait for, acks PUBLISHed on the
 *   sender's own channel, a beat every 500 ms, a flush on reconnect.
 * - `streams, ack PUBLISH` / `streams, ack XADD`: XADD to one stream (MAXLEN ~ 10000); every
 *   instance XREAD BLOCKs from its last id on a connection of its own; acks by PUBLISH on the
 *   sender's channel, or by XADD to the sender's reply stream (read by the same blocking XREAD as
 *   the shared stream, so two connections per instance, as pub/sub). The sender knows its peer
 *   count (a real design would keep a registry); a reconnecting reader replays what it missed.
 * - `version poll`: INCR of one counter; every instance GETs it every 10 ms and acks the highest
 *   version seen by PUBLISH. It names no keys (a peer that sees a change drops everything): the
 *   latency floor of polling designs, not a candidate.
 *
 * Every peer instance is its own child process (fork, not worker_threads: process.cpuUsage is
 * per process, and the sender's event loop must not run the peers' work). A peer's "apply" is a
 * function call (no relay to front workers): the round trips are the bus's own. For N = 1, 2, 3,
 * 5 peers, 2000 invalidations sequentially (each waits for every ack) and from 16 concurrent
 * writers; then the cost of an idle instance, and a kill test: CLIENT KILL of every connection of
 * one of 2 peers while invalidations flow, counting what it missed and how it came back.
 *
 * `node dist/bench/bus-alternatives.js` (or `BENCH_ONLY=bus-alternatives npm run bench`);
 * BENCH_ROUNDS passes (default 3, medians printed), BUS_BENCH_COUNT invalidations per run,
 * BUS_BENCH_PARTS=throughput|kill one part only.
 */
const REDIS_URL = process.env['BUS_BENCH_REDIS'] ?? 'redis://127.0.0.1:6379';
const COUNT = Number(process.env['BUS_BENCH_COUNT'] ?? 2000);
const PEER_COUNTS = [1, 2, 3, 5];
/** BUS_BENCH_PARTS=throughput or kill runs one part. */
const PARTS = (process.env['BUS_BENCH_PARTS'] ?? 'throughput,kill').split(',');
const WRITERS = 16;
const WARMUP = 200;
/** Ack timeout of the throughput runs: long enough that none is expected (a timeout is counted, not hidden). */
const THROUGHPUT_TIMEOUT_MS = 5000;
/** The kill test uses the bus's default timeout. */
const KILL_TIMEOUT_MS = 500;
const KILL_PEERS = 2;
const KILL_EVERY_MS = 5;
const KILL_AT_MS = 1000;
const KILL_RUN_MS = 3000;
/**
 * Killed once (node-redis reconnects at once: the connections are back within ms), and an outage:
 * the peer reaches Redis through a relay that refuses new connections for 1 s after the kill.
 */
const KILL_HOLDS_MS = [0, 1000];
const IDLE_MS = 5000;
const POLL_MS = 10;
const STREAM_MAXLEN = 10000;
const REPLY_MAXLEN = 1000;
/** Reconnect delays as the bus's: 100 ms doubling up to 2 s. */
const reconnectStrategy = (retries: number): number => Math.min(2000, 100 * 2 ** retries);

const MECHANISMS = ['pub/sub', 'streams, ack PUBLISH', 'streams, ack XADD', 'version poll'] as const;
type Mechanism = typeof MECHANISMS[number];

type Client = ReturnType<typeof createClient>;

/** What a peer reports to the parent. */
interface PeerHooks {
  applied(seq: number): void;
  flushed(): void;
  lost(): void;
  back(): void;
}

/** One instance's end of a mechanism: the sender calls `invalidate`; a peer only answers. */
interface Endpoint {
  /** Resolves once every peer acknowledged invalidation `seq`, or at the timeout (counted). */
  invalidate(seq: number): Promise<void>;
  /** Invalidations whose acks did not all come within the timeout. */
  timeouts(): number;
  close(): Promise<void>;
}

const now = (): number => performance.timeOrigin + performance.now();
const keyOf = (seq: number): string => `k:${seq}`;
const seqOf = (key: string): number => Number(key.slice(2));

/** Where this process's endpoints connect: Redis, or (the kill test's victim) the relay in front of it. */
let endpointUrl = REDIS_URL;

function options(role: string): Parameters<typeof createClient>[0] {
  return { url: endpointUrl, name: `busbench-${role}-${process.pid}`, disableOfflineQueue: true, socket: { connectTimeout: 5000, reconnectStrategy } };
}

function until(client: Client, event: 'ready'): Promise<void> {
  return client.isReady ? Promise.resolve() : new Promise((resolve) => client.once(event, () => resolve()));
}

/** A client whose losses and recoveries reach `hooks` (the first 'ready' is not a recovery). */
async function connected(role: string, hooks: PeerHooks | undefined): Promise<Client> {
  const client = createClient(options(role));
  let up = false;
  client.on('error', () => { /* the 'reconnecting' event says it; node-redis reconnects */ });
  client.on('reconnecting', () => hooks?.lost());
  client.on('ready', () => {
    if (up) hooks?.back();
    up = true;
  });
  await client.connect();
  return client;
}

async function openEndpoint(mechanism: Mechanism, ns: string, peers: number, timeoutMs: number, hooks: PeerHooks): Promise<Endpoint> {
  switch (mechanism) {
    case 'pub/sub': return openPubSub(ns, timeoutMs, hooks);
    case 'streams, ack PUBLISH': return StreamsEndpoint.open(ns, 'publish', peers, timeoutMs, hooks);
    case 'streams, ack XADD': return StreamsEndpoint.open(ns, 'xadd', peers, timeoutMs, hooks);
    case 'version poll': return PollEndpoint.open(ns, peers, timeoutMs, hooks);
  }
}

/** The runtime's bus as is; resolves once its first echo came back (it is connected and flushed). */
async function openPubSub(ns: string, timeoutMs: number, hooks: PeerHooks): Promise<Endpoint> {
  let up: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => { up = resolve; });
  const bus = await InvalidationBus.open({ redis: 'bench', channel: ns, timeout: timeoutMs, staleness: 5000 },
    { type: 'redis', url: endpointUrl, connectTimeout: 5000, startup: { retries: 0, delay: 0 } }, {
      apply: (inv: Invalidation) => {
        if (inv.prefixes.includes('')) hooks.flushed();
        for (const key of inv.keys) hooks.applied(seqOf(key));
        return Promise.resolve();
      },
      cutOff: (cut: boolean) => {
        if (cut) {
          hooks.lost();
          return;
        }
        hooks.back();
        up();
      },
    }, pino({ level: 'silent' }));
  await ready;
  return {
    invalidate: (seq) => bus.publish({ keys: [keyOf(seq)], prefixes: [] }),
    timeouts: () => bus.status().ackTimeouts,
    close: () => bus.close(),
  };
}

/** An invalidation this endpoint sent, until its acks are in or the timeout passed. */
interface Pending {
  readonly acks: Set<string>;
  readonly resolve: () => void;
  readonly timer: NodeJS.Timeout;
}

/** Acks counted per invalidation id against a known peer count (shared by the streams and poll endpoints). */
class Acks {
  private readonly pending = new Map<number, Pending>();
  private timedOut = 0;

  constructor(private readonly peers: number, private readonly timeoutMs: number) {}

  get timeouts(): number {
    return this.timedOut;
  }

  wait(id: number): Promise<void> {
    if (this.peers === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timedOut++;
        this.settle(id);
      }, this.timeoutMs);
      this.pending.set(id, { acks: new Set(), resolve, timer });
    });
  }

  ack(from: string, id: number): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    p.acks.add(from);
    if (p.acks.size >= this.peers) this.settle(id);
  }

  /** Every pending id up to `upTo` (versions: an ack of version v covers all before it). */
  ackUpTo(from: string, upTo: number): void {
    for (const id of [...this.pending.keys()]) if (id <= upTo) this.ack(from, id);
  }

  settle(id: number): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve();
  }

  close(): void {
    for (const id of [...this.pending.keys()]) this.settle(id);
  }
}

/** XREAD's reply (RESP2): null, or [stream name, [entry id, [field, value, ...]][]][]; checked, as data from Redis. */
function entries(reply: unknown): { stream: string; id: string; message: string }[] {
  if (reply === null) return [];
  const out: { stream: string; id: string; message: string }[] = [];
  if (!Array.isArray(reply)) throw new Error(`XREAD answered ${typeof reply}, not an array`);
  for (const s of reply as unknown[]) {
    if (!Array.isArray(s) || typeof s[0] !== 'string' || !Array.isArray(s[1])) throw new Error('XREAD: a stream that is not [name, entries]');
    for (const e of s[1] as unknown[]) {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || !Array.isArray(e[1])) throw new Error('XREAD: an entry that is not [id, fields]');
      const fields = e[1] as unknown[];
      const at = fields.indexOf('m');
      const message = fields[at + 1];
      if (at === -1 || typeof message !== 'string') throw new Error('XREAD: an entry without its m field');
      out.push({ stream: s[0], id: e[0], message });
    }
  }
  return out;
}

function decode(text: string): BusMessage | undefined {
  try {
    return decodeBusMessage(text);
  } catch (err) {
    if (err instanceof BadField) return undefined;
    throw err;
  }
}

/**
 * Invalidations as entries of one stream. Every instance reads it from its last id with XREAD
 * BLOCK on a connection of its own (its own entries included, as a pub/sub subscriber hears its
 * own messages); with acks by XADD the same XREAD also reads the instance's reply stream.
 */
class StreamsEndpoint implements Endpoint {
  private readonly id = randomBytes(4).toString('hex');
  private readonly stream: string;
  private readonly replies: string;
  private readonly acks: Acks;
  private nextId = 1;
  private closed = false;

  private constructor(private readonly ns: string, private readonly ackVia: 'publish' | 'xadd', peers: number, timeoutMs: number,
    private readonly hooks: PeerHooks, private readonly reader: Client, private readonly writer: Client,
    private readonly subscriber: Client | undefined, private lastEntry: string, private lastReply: string) {
    this.stream = `${ns}:stream`;
    this.replies = `${ns}:stream:to:${this.id}`;
    this.acks = new Acks(peers, timeoutMs);
  }

  static async open(ns: string, ackVia: 'publish' | 'xadd', peers: number, timeoutMs: number, hooks: PeerHooks): Promise<StreamsEndpoint> {
    const [reader, writer, subscriber] = await Promise.all([
      connected('reader', hooks), connected('writer', undefined), ackVia === 'publish' ? connected('acks', undefined) : Promise.resolve(undefined),
    ]);
    // Read from the newest entry now: anything after it is this instance's to apply.
    const newest = await writer.sendCommand(['XREVRANGE', `${ns}:stream`, '+', '-', 'COUNT', '1']);
    const last = Array.isArray(newest) && Array.isArray(newest[0]) && typeof newest[0][0] === 'string' ? newest[0][0] : '0-0';
    const endpoint = new StreamsEndpoint(ns, ackVia, peers, timeoutMs, hooks, reader, writer, subscriber, last, '0-0');
    if (subscriber !== undefined) {
      await subscriber.subscribe(`${ns}:to:${endpoint.id}`, (text: string) => endpoint.receive(text));
    }
    void endpoint.loop();
    return endpoint;
  }

  invalidate(seq: number): Promise<void> {
    const id = this.nextId++;
    const done = this.acks.wait(id);
    const m = encodeBusMessage({ t: 'inv', from: this.id, id, at: Date.now(), inv: { keys: [keyOf(seq)], prefixes: [] } });
    this.writer.xAdd(this.stream, '*', { m }, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: STREAM_MAXLEN } })
      .catch(() => this.acks.settle(id));
    return done;
  }

  timeouts(): number {
    return this.acks.timeouts;
  }

  close(): Promise<void> {
    this.closed = true;
    this.acks.close();
    for (const c of [this.reader, this.writer, this.subscriber]) {
      try {
        c?.destroy();
      } catch { /* already closed */ }
    }
    return Promise.resolve();
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      const streams = this.ackVia === 'xadd' ? [this.stream, this.replies, this.lastEntry, this.lastReply] : [this.stream, this.lastEntry];
      let reply: unknown;
      try {
        await until(this.reader, 'ready');
        reply = await this.reader.sendCommand(['XREAD', 'COUNT', '512', 'BLOCK', '0', 'STREAMS', ...streams]);
      } catch {
        if (this.closed) return;
        // The connection went: node-redis reconnects, and the next XREAD starts from the last id read.
        if (this.reader.isReady) await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      for (const e of entries(reply)) {
        if (e.stream === this.stream) this.lastEntry = e.id;
        else this.lastReply = e.id;
        this.receive(e.message);
      }
    }
  }

  private receive(text: string): void {
    const msg = decode(text);
    if (msg === undefined || msg.t === 'beat') return;
    if (msg.t === 'ack') {
      this.acks.ack(msg.from, msg.id);
      return;
    }
    if (msg.from === this.id) return;
    for (const key of msg.inv.keys) this.hooks.applied(seqOf(key));
    const ack = encodeBusMessage({ t: 'ack', from: this.id, id: msg.id });
    const sent = this.ackVia === 'publish'
      ? this.writer.publish(`${this.ns}:to:${msg.from}`, ack)
      : this.writer.xAdd(`${this.ns}:stream:to:${msg.from}`, '*', { m: ack }, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: REPLY_MAXLEN } });
    sent.catch(() => { /* the sender waits out its timeout */ });
  }
}

/** A version counter: INCR to invalidate; every instance GETs it every POLL_MS and acks the highest version it saw. */
class PollEndpoint implements Endpoint {
  private readonly id = randomBytes(4).toString('hex');
  private readonly acks: Acks;
  private readonly timer: NodeJS.Timeout;
  /** The highest version each peer acknowledged: its ack may come before INCR's own answer. */
  private readonly highest = new Map<string, number>();
  private seen = 0;
  private polling = false;

  private constructor(private readonly ns: string, peers: number, timeoutMs: number, private readonly hooks: PeerHooks,
    private readonly poller: Client, private readonly writer: Client, private readonly subscriber: Client) {
    this.acks = new Acks(peers, timeoutMs);
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  static async open(ns: string, peers: number, timeoutMs: number, hooks: PeerHooks): Promise<PollEndpoint> {
    const [poller, writer, subscriber] = await Promise.all([connected('poller', hooks), connected('writer', undefined), connected('acks', undefined)]);
    const endpoint = new PollEndpoint(ns, peers, timeoutMs, hooks, poller, writer, subscriber);
    endpoint.seen = Number(await poller.get(`${ns}:version`) ?? 0);
    await subscriber.subscribe(`${ns}:acks`, (text: string) => {
      const msg = decode(text);
      if (msg?.t !== 'ack' || msg.from === endpoint.id) return;
      endpoint.highest.set(msg.from, Math.max(msg.id, endpoint.highest.get(msg.from) ?? 0));
      endpoint.acks.ackUpTo(msg.from, msg.id);
    });
    return endpoint;
  }

  async invalidate(): Promise<void> {
    const version = await this.writer.incr(`${this.ns}:version`);
    const done = this.acks.wait(version);
    for (const [from, v] of this.highest) if (v >= version) this.acks.ack(from, version);
    return done;
  }

  timeouts(): number {
    return this.acks.timeouts;
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    this.acks.close();
    for (const c of [this.poller, this.writer, this.subscriber]) {
      try {
        c.destroy();
      } catch { /* already closed */ }
    }
    return Promise.resolve();
  }

  private poll(): void {
    if (this.polling || !this.poller.isReady) return;
    this.polling = true;
    this.poller.get(`${this.ns}:version`).then((text) => {
      const version = Number(text ?? 0);
      if (version <= this.seen) return;
      this.seen = version;
      // The counter names no keys: a change means dropping everything.
      this.hooks.flushed();
      return this.writer.publish(`${this.ns}:acks`, encodeBusMessage({ t: 'ack', from: this.id, id: version }));
    }).catch(() => { /* polled again in POLL_MS */ }).finally(() => { this.polling = false; });
  }
}

// ---------------------------------------------------------------------------------------------
// Parent <-> peer process messages (JSON over the IPC channel; checked on arrival)

type ToPeer =
  | { readonly type: 'start'; readonly mechanism: Mechanism; readonly ns: string; readonly timeoutMs: number; readonly url: string }
  | { readonly type: 'begin' }
  | { readonly type: 'end' }
  | { readonly type: 'stop' };

interface PeerStats {
  readonly type: 'stats';
  /** CPU (user + system) since `begin`, microseconds. */
  readonly cpuUs: number;
  /** [seq, when (ms since the epoch)] of every invalidation applied since `begin`. */
  readonly applied: readonly (readonly [number, number])[];
  readonly flushes: number;
  readonly lost: readonly number[];
  readonly back: readonly number[];
}

type FromPeer = { readonly type: 'ready'; readonly pid: number } | { readonly type: 'begun' } | PeerStats;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((n) => typeof n === 'number');

function toPeer(raw: unknown): ToPeer {
  if (!isRecord(raw)) throw new Error('peer: a message that is not an object');
  if (raw['type'] === 'begin' || raw['type'] === 'end' || raw['type'] === 'stop') return { type: raw['type'] };
  const mechanism = MECHANISMS.find((m) => m === raw['mechanism']);
  const { ns, timeoutMs, url } = raw;
  if (raw['type'] !== 'start' || mechanism === undefined || typeof ns !== 'string' || typeof timeoutMs !== 'number' || typeof url !== 'string') {
    throw new Error(`peer: unknown message ${JSON.stringify(raw)}`);
  }
  return { type: 'start', mechanism, ns, timeoutMs, url };
}

function fromPeer(raw: unknown): FromPeer {
  if (!isRecord(raw)) throw new Error('a peer sent a message that is not an object');
  if (raw['type'] === 'ready' && typeof raw['pid'] === 'number') return { type: 'ready', pid: raw['pid'] };
  if (raw['type'] === 'begun') return { type: 'begun' };
  const { cpuUs, applied, flushes, lost, back } = raw;
  if (raw['type'] === 'stats' && typeof cpuUs === 'number' && typeof flushes === 'number' && isNumbers(lost) && isNumbers(back)
    && Array.isArray(applied) && applied.every((a) => isNumbers(a) && a.length === 2)) {
    return { type: 'stats', cpuUs, flushes, lost, back, applied: applied as [number, number][] };
  }
  throw new Error(`a peer sent an unknown message: ${JSON.stringify(raw).slice(0, 200)}`);
}

/** A peer instance's process body. */
function peerMain(): void {
  let endpoint: Endpoint | undefined;
  let cpu = process.cpuUsage();
  let applied: [number, number][] = [];
  let flushes = 0;
  let lost: number[] = [];
  let back: number[] = [];
  const hooks: PeerHooks = {
    applied: (seq) => applied.push([seq, now()]),
    flushed: () => flushes++,
    lost: () => lost.push(now()),
    back: () => back.push(now()),
  };
  const send = (msg: FromPeer): void => { process.send?.(msg); };
  // The parent gone (crashed, killed): nothing to stay for.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (raw: unknown) => {
    const msg = toPeer(raw);
    switch (msg.type) {
      case 'start':
        endpointUrl = msg.url;
        openEndpoint(msg.mechanism, msg.ns, 0, msg.timeoutMs, hooks).then((e) => {
          endpoint = e;
          send({ type: 'ready', pid: process.pid });
        }, (err: unknown) => {
          process.stderr.write(`peer ${process.pid}: could not open ${msg.mechanism}: ${String(err)}\n`);
          process.exit(1);
        });
        return;
      case 'begin':
        cpu = process.cpuUsage();
        applied = [];
        flushes = 0;
        lost = [];
        back = [];
        send({ type: 'begun' });
        return;
      case 'end': {
        const used = process.cpuUsage(cpu);
        send({ type: 'stats', cpuUs: used.user + used.system, applied, flushes, lost, back });
        return;
      }
      case 'stop':
        void (endpoint?.close() ?? Promise.resolve()).finally(() => process.exit(0));
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Parent side

class Peer {
  pid = 0;
  private readonly child: ChildProcess;
  private readonly waiting: ((msg: FromPeer) => void)[] = [];
  private exited = false;

  constructor() {
    this.child = fork(fileURLToPath(import.meta.url), ['peer'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (raw: unknown) => this.waiting.shift()?.(fromPeer(raw)));
    this.child.on('exit', () => { this.exited = true; });
  }

  /** Send `msg` and wait for the answer of type `type` (15 s bound: a stuck peer fails the bench by name). */
  async ask<T extends FromPeer['type']>(msg: ToPeer, type: T): Promise<Extract<FromPeer, { type: T }>> {
    const answer = new Promise<FromPeer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`peer ${this.pid}: no '${type}' answer to '${msg.type}' within 15 s`)), 15_000);
      this.waiting.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    this.child.send(msg);
    const m = await answer;
    if (m.type !== type) throw new Error(`peer ${this.pid}: answered '${m.type}' to '${msg.type}'`);
    return m as Extract<FromPeer, { type: T }>;
  }

  async start(mechanism: Mechanism, ns: string, timeoutMs: number, url: string): Promise<void> {
    this.pid = (await this.ask({ type: 'start', mechanism, ns, timeoutMs, url }, 'ready')).pid;
  }

  /** Stop gracefully; kill it (this process's own child) if it has not gone within 2 s. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await gone;
    clearTimeout(timer);
  }
}

const noHooks: PeerHooks = { applied: () => undefined, flushed: () => undefined, lost: () => undefined, back: () => undefined };

/** A sender and its peers on a fresh namespace; everything is stopped when `body` ends. */
async function withInstances<T>(mechanism: Mechanism, n: number, timeoutMs: number,
  body: (sender: Endpoint, peers: Peer[], ns: string) => Promise<T>, firstPeerUrl = REDIS_URL): Promise<T> {
  const ns = `busbench:${process.pid}:${randomBytes(3).toString('hex')}`;
  const peers = Array.from({ length: n }, () => new Peer());
  let sender: Endpoint | undefined;
  try {
    // The stream's first entry exists before the peers read its newest id.
    if (mechanism.startsWith('streams')) await admin.xAdd(`${ns}:stream`, '*', { m: 'start' });
    await Promise.all(peers.map((p, i) => p.start(mechanism, ns, timeoutMs, i === 0 ? firstPeerUrl : REDIS_URL)));
    sender = await openEndpoint(mechanism, ns, n, timeoutMs, noHooks);
    return await body(sender, peers, ns);
  } finally {
    await sender?.close();
    await Promise.all(peers.map((p) => p.stop()));
    await forget(ns);
  }
}

let admin: Client;

async function forget(ns: string): Promise<void> {
  for await (const keys of admin.scanIterator({ MATCH: `${ns}:*`, COUNT: 100 })) {
    if (keys.length > 0) await admin.del(keys);
  }
}

/** Redis's own CPU (user + system, all its threads), microseconds. */
async function redisCpu(): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string): number => Number(/^(\w+):([\d.]+)/m.exec(info.split('\n').find((l) => l.startsWith(`${name}:`)) ?? '')?.[2] ?? NaN);
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1e6;
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

interface Run {
  readonly mechanism: Mechanism;
  readonly peers: number;
  readonly writers: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly perSecond: number;
  /** CPU per invalidation, microseconds: the sender, one peer (mean of the peers), Redis. */
  readonly senderUs: number;
  readonly peerUs: number;
  readonly redisUs: number;
  readonly timeouts: number;
}

/** `count` invalidations from `writers` concurrent writers, each waiting for its acks before its next; round trips in ms. */
async function drive(sender: Endpoint, count: number, writers: number, first: number): Promise<number[]> {
  const times: number[] = [];
  let next = first;
  const end = first + count;
  await Promise.all(Array.from({ length: writers }, async () => {
    while (next < end) {
      const seq = next++;
      const started = performance.now();
      await sender.invalidate(seq);
      times.push(performance.now() - started);
    }
  }));
  return times;
}

async function measure(mechanism: Mechanism, n: number): Promise<{ runs: Run[]; idle?: Idle; streamBytes?: number }> {
  return withInstances(mechanism, n, THROUGHPUT_TIMEOUT_MS, async (sender, peers, ns) => {
    let seq = 1;
    await drive(sender, WARMUP, 1, seq);
    seq += WARMUP;
    const runs: Run[] = [];
    for (const writers of [1, WRITERS]) {
      const timeoutsBefore = sender.timeouts();
      await Promise.all(peers.map((p) => p.ask({ type: 'begin' }, 'begun')));
      const redisBefore = await redisCpu();
      const cpu = process.cpuUsage();
      const started = performance.now();
      const times = await drive(sender, COUNT, writers, seq);
      const elapsed = performance.now() - started;
      const used = process.cpuUsage(cpu);
      const redisUs = await redisCpu() - redisBefore;
      const stats = await Promise.all(peers.map((p) => p.ask({ type: 'end' }, 'stats')));
      seq += COUNT;
      times.sort((a, b) => a - b);
      runs.push({
        mechanism, peers: n, writers,
        p50: percentile(times, 0.5), p99: percentile(times, 0.99), max: times[times.length - 1] ?? NaN,
        perSecond: COUNT / (elapsed / 1000),
        senderUs: (used.user + used.system) / COUNT,
        peerUs: stats.reduce((s, x) => s + x.cpuUs, 0) / stats.length / COUNT,
        redisUs: redisUs / COUNT,
        timeouts: sender.timeouts() - timeoutsBefore,
      });
    }
    let streamBytes: number | undefined;
    if (mechanism.startsWith('streams')) {
      const [bytes, length] = await Promise.all([admin.memoryUsage(`${ns}:stream`, { SAMPLES: 0 }), admin.xLen(`${ns}:stream`)]);
      if (bytes !== null && length > 0) streamBytes = bytes / length;
    }
    if (n !== 1) return { runs, ...(streamBytes === undefined ? {} : { streamBytes }) };
    // An idle instance's own cost (beats, blocked reads, polls): CPU per second, nothing written.
    await Promise.all(peers.map((p) => p.ask({ type: 'begin' }, 'begun')));
    const redisBefore = await redisCpu();
    const cpu = process.cpuUsage();
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const used = process.cpuUsage(cpu);
    const redisUs = await redisCpu() - redisBefore;
    const [stats] = await Promise.all(peers.map((p) => p.ask({ type: 'end' }, 'stats')));
    const perSecond = 1000 / IDLE_MS;
    const idle = { senderMs: (used.user + used.system) / 1000 * perSecond, peerMs: (stats?.cpuUs ?? NaN) / 1000 * perSecond, redisMs: redisUs / 1000 * perSecond };
    return { runs, idle, ...(streamBytes === undefined ? {} : { streamBytes }) };
  });
}

interface Idle {
  /** CPU ms per second of an idle instance (sender side: it also receives), of a peer, and of Redis. */
  readonly senderMs: number;
  readonly peerMs: number;
  readonly redisMs: number;
}

interface Kill {
  readonly mechanism: Mechanism;
  /** How long its connections were kept killed (0: once). */
  readonly holdMs: number;
  readonly connections: number;
  /** Invalidations written during the test, and while the peer was cut off (kill to its recovery). */
  readonly sent: number;
  readonly sentWhileOut: number;
  /** Never applied by the killed peer / by the other peer. */
  readonly missed: number;
  readonly missedByOther: number;
  /** Of those sent while it was out, how many it applied all the same (streams: replayed from its last id). */
  readonly appliedOfOut: number;
  readonly flushes: number;
  /** ms from the kill: the peer noticed, its connection was back, it was serving again (pub/sub: flushed; streams: replayed all it missed). */
  readonly noticedMs: number;
  readonly reconnectedMs: number;
  readonly recoveredMs: number;
  /** Writes that waited out the 500 ms timeout, and the slowest write, ms. */
  readonly timeouts: number;
  readonly maxWriteMs: number;
}

/**
 * Invalidations every KILL_EVERY_MS (not waiting for each other) for KILL_RUN_MS; at KILL_AT_MS
 * every connection of peer 0 is killed (CLIENT KILL ID); peer 1 is the control.
 */
async function killTest(mechanism: Mechanism, holdMs: number): Promise<Kill> {
  const gate = await relay();
  try {
    return await withInstances(mechanism, KILL_PEERS, KILL_TIMEOUT_MS, (sender, peers) => killRun(mechanism, holdMs, gate, sender, peers), gate.url);
  } finally {
    gate.close();
  }
}

async function killRun(mechanism: Mechanism, holdMs: number, gate: Relay, sender: Endpoint, peers: Peer[]): Promise<Kill> {
  await drive(sender, WARMUP, 1, 1);
  const [victim, other] = peers as [Peer, Peer];
  await Promise.all(peers.map((p) => p.ask({ type: 'begin' }, 'begun')));
  const timeoutsBefore = sender.timeouts();
  const sentAt = new Map<number, number>();
  const writes: Promise<void>[] = [];
  let maxWriteMs = 0;
  let seq = WARMUP + 1;
  let killed: Promise<{ at: number; connections: number; reconnected: number }> | undefined;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - started;
      if (elapsed >= KILL_RUN_MS) {
        clearInterval(timer);
        resolve();
        return;
      }
      if (killed === undefined && elapsed >= KILL_AT_MS) {
        gate.refuse(holdMs);
        killed = killAndWatch(victim.pid);
      }
      const s = seq++;
      sentAt.set(s, now());
      const t0 = performance.now();
      writes.push(sender.invalidate(s).then(() => { maxWriteMs = Math.max(maxWriteMs, performance.now() - t0); }));
    }, KILL_EVERY_MS);
  });
  await Promise.all(writes);
  const kill = await (killed as NonNullable<typeof killed>);
  // Let the victim finish coming back (pub/sub waits for its next beat's echo).
  await new Promise((r) => setTimeout(r, 1500));
  const [v, o] = await Promise.all([victim.ask({ type: 'end' }, 'stats'), other.ask({ type: 'end' }, 'stats')]);
  const byVictim = new Map(v.applied.map(([s, at]) => [s, at]));
  const byOther = new Set(o.applied.map(([s]) => s));
  const whileOut = [...sentAt].filter(([, at]) => at >= kill.at && at <= kill.reconnected).map(([s]) => s);
  const back = v.back.find((t) => t >= kill.at) ?? NaN;
  // Serving again: pub/sub once flushed (its 'back'); streams once everything sent while out is applied.
  const recovered = mechanism === 'pub/sub' ? back : Math.max(kill.reconnected, ...whileOut.map((s) => byVictim.get(s) ?? Infinity));
  return {
    mechanism, holdMs, connections: kill.connections,
    sent: sentAt.size,
    sentWhileOut: whileOut.length,
    missed: [...sentAt.keys()].filter((s) => !byVictim.has(s)).length,
    missedByOther: [...sentAt.keys()].filter((s) => !byOther.has(s)).length,
    appliedOfOut: whileOut.filter((s) => byVictim.has(s)).length,
    flushes: v.flushes,
    noticedMs: (v.lost.find((t) => t >= kill.at) ?? NaN) - kill.at,
    reconnectedMs: kill.reconnected - kill.at,
    recoveredMs: recovered - kill.at,
    timeouts: sender.timeouts() - timeoutsBefore,
    maxWriteMs,
  };
}

interface Relay {
  readonly url: string;
  /** Close the connections open now is CLIENT KILL's job; this refuses new ones for `ms`. */
  refuse(ms: number): void;
  close(): void;
}

/** A TCP relay to Redis: what the kill test's victim connects through, so that an outage can outlast node-redis's immediate reconnect. */
async function relay(): Promise<Relay> {
  const target = new URL(REDIS_URL);
  let refusedUntil = 0;
  const open = new Set<Socket>();
  const server = createServer((down) => {
    if (now() < refusedUntil) {
      down.destroy();
      return;
    }
    const up = connect(Number(target.port || 6379), target.hostname);
    for (const s of [down, up]) {
      open.add(s);
      s.on('error', () => { /* the close below ends the pair */ });
      s.on('close', () => {
        open.delete(s);
        down.destroy();
        up.destroy();
      });
    }
    down.pipe(up).pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay: no TCP address');
  return {
    url: `redis://127.0.0.1:${address.port}`,
    refuse: (ms) => { refusedUntil = now() + ms; },
    close: () => {
      server.close();
      for (const s of open) s.destroy();
    },
  };
}

/**
 * CLIENT KILL every connection of the peer process `pid` (named busbench-*-pid or actorrt-bus-*-pid),
 * then watch CLIENT LIST (every 5 ms, 5 s at most) until as many connections of that name are back.
 */
async function killAndWatch(pid: number): Promise<{ at: number; connections: number; reconnected: number }> {
  const name = new RegExp(`^(busbench|actorrt-bus)-\\w+-${pid}$`);
  const tick = (): Promise<unknown> => new Promise((r) => setTimeout(r, 5));
  const mine = (await admin.clientList()).filter((c) => name.test(c.name));
  const at = now();
  await Promise.all(mine.map((c) => admin.sendCommand(['CLIENT', 'KILL', 'ID', String(c.id)])));
  const killed = new Set(mine.map((c) => c.id));
  for (const deadline = now() + 5000; now() < deadline; await tick()) {
    const fresh = (await admin.clientList()).filter((c) => name.test(c.name) && !killed.has(c.id));
    if (fresh.length >= mine.length) return { at, connections: mine.length, reconnected: now() };
  }
  return { at, connections: mine.length, reconnected: NaN };
}

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

function medianRun(runs: readonly Run[]): Run {
  const first = runs[0] as Run;
  const m = (f: (r: Run) => number): number => median(runs.map(f));
  return {
    mechanism: first.mechanism, peers: first.peers, writers: first.writers,
    p50: m((r) => r.p50), p99: m((r) => r.p99), max: m((r) => r.max), perSecond: m((r) => r.perSecond),
    senderUs: m((r) => r.senderUs), peerUs: m((r) => r.peerUs), redisUs: m((r) => r.redisUs), timeouts: runs.reduce((s, r) => s + r.timeouts, 0),
  };
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

/** Every mechanism, `rounds` passes (each a full pass over everything, to spread the machine's noise); medians printed. */
export async function busAlternativesScenario(rounds: number): Promise<void> {
  admin = createClient({ url: REDIS_URL, name: `busbench-admin-${process.pid}` });
  admin.on('error', () => { /* reconnects; a command meanwhile fails the bench */ });
  await admin.connect();
  const runs = new Map<string, Run[]>();
  const idles = new Map<Mechanism, Idle[]>();
  const bytes = new Map<Mechanism, number[]>();
  const kills = new Map<Mechanism, Kill[]>();
  try {
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`round ${round}/${rounds}:`);
      // Mechanisms compared at the same N run back to back: the machine's drift falls between the rows compared least.
      for (const n of PARTS.includes('throughput') ? PEER_COUNTS : []) {
        for (const mechanism of MECHANISMS) {
          process.stderr.write(` ${mechanism} x${n}`);
          const r = await measure(mechanism, n);
          for (const run of r.runs) runs.set(`${mechanism}|${n}|${run.writers}`, [...runs.get(`${mechanism}|${n}|${run.writers}`) ?? [], run]);
          if (r.idle !== undefined) idles.set(mechanism, [...idles.get(mechanism) ?? [], r.idle]);
          if (r.streamBytes !== undefined) bytes.set(mechanism, [...bytes.get(mechanism) ?? [], r.streamBytes]);
        }
      }
      for (const mechanism of MECHANISMS) {
        if (mechanism !== 'version poll' && PARTS.includes('kill')) {
          process.stderr.write(` ${mechanism} kill`);
          for (const hold of KILL_HOLDS_MS) kills.set(mechanism, [...kills.get(mechanism) ?? [], await killTest(mechanism, hold)]);
        }
      }
      process.stderr.write('\n');
    }
  } finally {
    admin.destroy();
  }

  const out = (s: string): boolean => process.stdout.write(s);
  out(`\n## invalidation bus alternatives (issue 23): ${COUNT} invalidations per run, 1 key each, peers in child processes; medians of ${rounds} passes\n\n`);
  out('Round trip = write to its last ack, ms. CPU per invalidation, us: sender; one peer (mean of the peers); Redis (INFO used_cpu_*).\n\n');
  const rows: string[][] = [];
  for (const writers of [1, WRITERS]) {
    for (const mechanism of MECHANISMS) {
      for (const n of PEER_COUNTS) {
        const all = runs.get(`${mechanism}|${n}|${writers}`) ?? [];
        if (all.length === 0) continue;
        const r = medianRun(all);
        rows.push([mechanism, String(n), writers === 1 ? 'sequential' : `${writers} writers`, fmt(r.p50), fmt(r.p99), fmt(r.max, 1), fmt(r.perSecond, 0),
          fmt(r.senderUs, 0), fmt(r.peerUs, 0), fmt(r.redisUs, 0), String(r.timeouts), all.map((x) => fmt(x.p99)).join(' / ')]);
      }
    }
  }
  out(table(['mechanism', 'peers', 'writes', 'p50', 'p99', 'max', 'inv/s', 'sender us', 'peer us', 'redis us', 'timeouts', 'p99 per pass'], rows));
  out(`\nIdle cost (nothing written, ${IDLE_MS / 1000} s, 1 peer), CPU ms per second:\n\n`);
  out(table(['mechanism', 'sender', 'peer', 'redis', 'stream bytes / entry'], MECHANISMS.map((m) => {
    const i = idles.get(m) ?? [];
    const b = bytes.get(m);
    return [m, fmt(median(i.map((x) => x.senderMs))), fmt(median(i.map((x) => x.peerMs))), fmt(median(i.map((x) => x.redisMs))), b === undefined ? '-' : fmt(median(b), 0)];
  })));
  out(`\nKill test: ${KILL_PEERS} peers, an invalidation every ${KILL_EVERY_MS} ms (not waiting for each other) for ${KILL_RUN_MS / 1000} s, `
    + `ack timeout ${KILL_TIMEOUT_MS} ms; at ${KILL_AT_MS / 1000} s CLIENT KILL of every connection of peer 1, which reaches Redis through a relay that then refuses `
    + `new connections for 0 ms (once) or ${KILL_HOLDS_MS[1] ?? 0} ms (outage); `
    + 'ms counted from the kill; back = its connections are in CLIENT LIST again; recovered = pub/sub: flushed and serving, streams: every invalidation sent while out applied; per pass:\n\n');
  const killRows: string[][] = [];
  for (const [mechanism, list] of kills) {
    list.forEach((k, i) => killRows.push([mechanism, k.holdMs === 0 ? 'once' : `${k.holdMs} ms outage`, String(Math.floor(i / KILL_HOLDS_MS.length) + 1), String(k.connections), String(k.sent), String(k.sentWhileOut), String(k.appliedOfOut), String(k.missed),
      String(k.flushes), String(k.missedByOther), fmt(k.noticedMs, 0), fmt(k.reconnectedMs, 0), fmt(k.recoveredMs, 0), String(k.timeouts), fmt(k.maxWriteMs, 0)]));
  }
  out(table(['mechanism', 'killed', 'pass', 'conns', 'sent', 'sent while out', 'of those applied', 'missed in all', 'flushes', 'missed by the other peer',
    'noticed ms', 'back ms', 'recovered ms', 'timeouts', 'slowest write ms'], killRows));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === 'peer') {
    peerMain();
  } else {
    await busAlternativesScenario(Number(process.env['BENCH_ROUNDS'] ?? 3));
  }
}
