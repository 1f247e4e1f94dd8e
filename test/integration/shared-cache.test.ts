import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { request, type Dispatcher } from 'undici';
import { eventually, ROOT, writeProject } from '../helpers.js';
import { startInstance, statusOf, type Instance } from './instance.js';

/**
 * The route cache as a shared cache (RFC 9111), through the real CLI: replies meant for one user
 * (Authorization, private), Vary, single flight with conditional requests, HEAD, the origin's
 * freshness, and invalidation by unsafe methods. Each behaviour is checked on a proxy route (a
 * node:http upstream on port 0 that records every request and answers as the test says) and,
 * where it applies, on an actor route (test/fixtures/shared-cache/actors/scripted.mjs, which
 * answers the same scripts and logs every run). One front worker: its memory store sees every
 * request, so HIT / MISS are exact. Time passes only where the test is about time (max-age=1,
 * Age growing); elsewhere an origin's `Age` equal to its max-age makes a reply stale on arrival.
 */

/** Header fields as undici and node:http hand them over. */
type Fields = Readonly<Record<string, string | string[] | undefined>>;

/** How the origin answers a path (the fixture actor's header comment says the same). */
interface Script {
  readonly status?: number;
  /** `{n}` in a value becomes the number of this request for the path (1, 2, ...). */
  readonly headers?: Readonly<Record<string, string>>;
  /** `{user}` becomes the request's Authorization (or "anonymous"), `{n}` as above, `{header:x}` the request's field x (or "-"). */
  readonly body?: string;
  /** Headers of a 304 answered when the request's If-None-Match names headers.etag or its If-Modified-Since is headers['last-modified']. */
  readonly notModified?: Readonly<Record<string, string>>;
  /** Answer GET / HEAD only once the test releases the path. */
  readonly hold?: boolean;
  /** The answer to methods other than GET / HEAD (default 204). */
  readonly unsafe?: { readonly status: number; readonly headers?: Readonly<Record<string, string>> };
}

/** One request as the origin received it. */
interface Asked {
  readonly method: string;
  readonly headers: Fields;
}

/** What the origin sends for a script (the fixture actor computes the same). */
function scripted(script: Script, name: string, method: string, headers: Fields, n: number): { status: number; headers: Record<string, string>; body: string | undefined } {
  if (method !== 'GET' && method !== 'HEAD') {
    const unsafe = script.unsafe ?? { status: 204 };
    return { status: unsafe.status, headers: { ...unsafe.headers }, body: unsafe.status === 204 ? undefined : `${method} done` };
  }
  const own = numbered(script.headers, n);
  if (script.notModified !== undefined && conditionMatches(headers, own)) return { status: 304, headers: numbered(script.notModified, n), body: undefined };
  const body = (script.body ?? name)
    .replaceAll('{user}', text(headers['authorization']) ?? 'anonymous')
    .replaceAll('{n}', String(n))
    .replace(/\{header:([a-z0-9-]+)\}/g, (_all, field: string) => text(headers[field]) ?? '-');
  return { status: script.status ?? 200, headers: own, body };
}

function numbered(headers: Readonly<Record<string, string>> | undefined, n: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, value] of Object.entries(headers ?? {})) out[field] = value.replaceAll('{n}', String(n));
  return out;
}

function conditionMatches(request: Fields, reply: Readonly<Record<string, string>>): boolean {
  const inm = text(request['if-none-match']);
  if (inm !== undefined) return reply['etag'] !== undefined && inm.split(',').some((tag) => tag.trim() === reply['etag']);
  const since = text(request['if-modified-since']);
  return since !== undefined && since === reply['last-modified'];
}

function text(value: string | readonly string[] | undefined): string | undefined {
  return value === undefined ? undefined : typeof value === 'string' ? value : value.join(', ');
}

/** A test's own answer to one path of the upstream; `n` counts the path's requests (1, 2, ...). */
type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

/** A gate a held answer waits behind until the test opens it. */
class Gate {
  open: () => void = () => undefined;
  readonly opened = new Promise<void>((resolve) => { this.open = resolve; });
}

/**
 * A real node:http upstream on 127.0.0.1, port 0: it records every request (by path, at arrival,
 * before it answers) and answers each path with the script or handler a test gave it, 404 otherwise.
 */
class Upstream {
  private readonly scripts = new Map<string, Script>();
  private readonly handlers = new Map<string, Handler>();
  private readonly gates = new Map<string, Gate>();
  private readonly seen: Array<Asked & { readonly path: string }> = [];

  private constructor(private readonly server: Server, readonly origin: string) {}

  static async start(): Promise<Upstream> {
    const box: { up?: Upstream } = {};
    const server = createServer((req, res) => { void box.up?.answer(req, res); });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    box.up = new Upstream(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return box.up;
  }

  script(path: string, script: Script): void {
    this.scripts.set(path, script);
  }

  handle(path: string, handler: Handler): void {
    this.handlers.set(path, handler);
  }

  /** The requests `path` received, in order. */
  asked(path: string): readonly Asked[] {
    return this.seen.filter((s) => s.path === path);
  }

  release(path: string): void {
    this.gate(path).open();
  }

  async close(): Promise<void> {
    for (const gate of this.gates.values()) gate.open();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume(); // a request body is not looked at
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    this.seen.push({ path, method, headers: req.headers });
    const n = this.asked(path).length;
    const handler = this.handlers.get(path);
    if (handler !== undefined) return handler(req, res, n);
    const script = this.scripts.get(path);
    if (script === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no script for ${path}`);
      return;
    }
    if (script.hold === true && (method === 'GET' || method === 'HEAD')) await this.gate(path).opened;
    const answer = scripted(script, path.slice(path.lastIndexOf('/') + 1), method, req.headers, n);
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  }

  private gate(path: string): Gate {
    let gate = this.gates.get(path);
    if (gate === undefined) {
      gate = new Gate();
      this.gates.set(path, gate);
    }
    return gate;
  }
}

/** Where a test's resource lives: behind a proxy route, or answered by the scripted actor behind a pool route. */
interface Side {
  readonly kind: 'proxy' | 'actor';
  /** The path of resource `name` on the instance. */
  path(name: string): string;
  script(name: string, script: Script): void;
  /** The requests the origin got for `name`, in order. */
  asked(name: string): readonly Asked[];
  /** Let the held answers of `name` go. */
  release(name: string): void;
}

/** Resources `<prefix>/<name>` of a proxy route that forwards the path as it is. */
function proxySide(up: Upstream, prefix: string): Side {
  return {
    kind: 'proxy',
    path: (name) => `${prefix}/${name}`,
    script: (name, script) => up.script(`${prefix}/${name}`, script),
    asked: (name) => up.asked(`${prefix}/${name}`),
    release: (name) => up.release(`${prefix}/${name}`),
  };
}

/** Resources `<prefix>/:name` of a pool route of the scripted actor, in project folder `dir` (its script/ and release/ made). */
function actorSide(dir: string, prefix: string): Side {
  // The fixture's file name for a path.
  const file = (name: string): string => `${prefix}/${name}`.slice(1).replaceAll('/', '.');
  return {
    kind: 'actor',
    path: (name) => `${prefix}/${name}`,
    script: (name, script) => writeFileSync(join(dir, 'script', `${file(name)}.json`), JSON.stringify(script)),
    asked: (name) => actorRuns(dir).filter((r) => r.path === `${prefix}/${name}`),
    release: (name) => writeFileSync(join(dir, 'release', file(name)), ''),
  };
}

/** The scripted actor's runs (its runs.log), checked line by line: it is written by another process. */
function actorRuns(dir: string): Array<Asked & { readonly path: string }> {
  const file = join(dir, 'runs.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((line) => line !== '').map((line) => {
    const run: unknown = JSON.parse(line);
    assert.ok(run !== null && typeof run === 'object', `runs.log: ${line}`);
    const { path, method, headers } = run as Record<string, unknown>;
    assert.ok(typeof path === 'string' && typeof method === 'string' && headers !== null && typeof headers === 'object', `runs.log: ${line}`);
    return { path, method, headers: headers as Fields };
  });
}

/** A project folder with the scripted actor in actors/ and this topology. */
function project(topology: string): { file: string; dir: string } {
  const actor = readFileSync(join(ROOT, 'test/fixtures/shared-cache/actors/scripted.mjs'), 'utf8');
  const file = writeProject(topology, { 'actors/scripted.mjs': actor });
  return { file, dir: dirname(file) };
}

/** An answer of the instance, body read whole. */
interface Got {
  readonly status: number;
  readonly headers: Fields;
  readonly body: Buffer;
  readonly text: string;
}

async function send(app: Instance, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Got> {
  const res = await request(`${app.url}${path}`, { method: (options.method ?? 'GET') as Dispatcher.HttpMethod, headers: options.headers ?? {} });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, text: body.toString() };
}

function field(got: Got, name: string): string | undefined {
  return text(got.headers[name]);
}

/** How the cache says it answered (X-Cache). */
function xcache(got: Got): string | undefined {
  return field(got, 'x-cache');
}

/**
 * Misses (and bypasses) counted over every cached route: a request is counted once it has missed
 * and taken or joined a fill. Tests run one at a time, so a change is the test's own requests.
 */
async function missesOf(app: Instance): Promise<number> {
  const status = await statusOf(app);
  return status.caches.flatMap((c) => c.routes).reduce((n, r) => n + r.misses + r.bypass, 0);
}

/**
 * Single flight: `leader` starts the fill of `name` (held by the origin), then each of
 * `joiners` is sent and counted as a miss (it joined the fill, or started its own), then the
 * origin is released. Answers in the order given, the leader first.
 */
async function flight(app: Instance, side: Side, name: string, leader: Record<string, string>,
  joiners: ReadonlyArray<Record<string, string>>): Promise<Got[]> {
  const before = await missesOf(app);
  const first = send(app, side.path(name), { headers: leader });
  await eventually(`the origin got the leader's request for ${name}`, () => side.asked(name).length === 1, 10_000);
  const rest = joiners.map((headers) => send(app, side.path(name), { headers }));
  await eventually(`every request for ${name} missed and met the fill`, async () => (await missesOf(app)) === before + 1 + joiners.length, 10_000);
  assert.equal(side.asked(name).length, 1, 'a joiner went to the origin while the fill was held: it did not join');
  side.release(name);
  return Promise.all([first, ...rest]);
}

/** GET `path` until `done` holds for an answer (the cache is left to age, no sleeping); the answer that made it true. */
async function getUntil(app: Instance, path: string, what: string, done: (got: Got) => boolean, headers: Record<string, string> = {}): Promise<Got> {
  let last: Got | undefined;
  await eventually(what, async () => {
    last = await send(app, path, { headers });
    return done(last);
  }, 10_000, () => `${last?.status ?? '-'} ${xcache(last as Got) ?? '-'} ${last?.text ?? ''}`, 50);
  return last as Got;
}

const ALICE = { authorization: 'Bearer alice' };
const BOB = { authorization: 'Bearer bob' };

/**
 * One instance for the whole file (each group of tests has its own paths; tests run one at a
 * time): six instances cost half the file's time on a loaded machine. Route groups, by prefix:
 * /auth, /vary, /cond, /head, /fresh, /inv; `/X/p/*` proxy to `origin` (the path forwarded as it
 * is), `/X/a/:name` are answered by the scripted actor.
 */
function topology(origin: string, flaky: string): string {
  return `version: 1
http: { host: 127.0.0.1, workers: 1 }      # one front worker: its memory store sees every request
resources:
  origin: { type: http, origins: [${origin}] }
  flaky: { type: http, origins: [${flaky}], retries: 0 }
caches:
  local: { store: memory }                 # ttl 30s
  brief: { store: memory, ttl: 1s }        # how long an entry that can be revalidated, and a Vary marker, are kept at least
pools:
  scripted: { actor: ./actors/scripted.mjs, size: 8 }
routes:
  # Authorization: a reply that states no lifetime is fresh for 60 s on both, so only the Authorization rule keeps it out.
  - match: { path: /auth/p/* }
    proxy: origin
    cache: { use: local, ttl: 60s }
  - match: { path: /auth/a/:name }
    pool: scripted
    cache: { use: local, ttl: 60s }
  # Vary
  - match: { path: /vary/p/* }
    proxy: origin
    cache: { use: local }
  - match: { path: /vary/pv/* }
    proxy: origin
    cache: { use: local, vary: [accept-language] }
  - match: { path: /vary/a/:name }
    pool: scripted
    cache: { use: local }
  - match: { path: /vary/b/* }
    proxy: origin
    cache: { use: brief }
  - match: { method: POST, path: /vary/purge/:name }
    pool: scripted
    invalidate: ["GET:/vary/p/{params.name}"]
  # Single flight and conditional requests
  - match: { path: /cond/p/* }
    proxy: origin
    cache: { use: local }
  - match: { path: /cond/a/:name }
    pool: scripted
    cache: { use: local }
  # HEAD
  - match: { path: /head/p/* }
    proxy: origin
    cache: { use: local }
  - match: { path: /head/u/* }
    proxy: origin                          # uncached: streamed both ways
  - match: { path: /head/a/:name }
    pool: scripted
    cache: { use: local }
  # Freshness
  - match: { path: /fresh/p/* }
    proxy: origin
    cache: { use: local }                              # proxy: ttl 0, only the origin gives lifetimes
  - match: { path: /fresh/t/* }
    proxy: origin
    cache: { use: local, ttl: 60s }                    # for 200s that state no lifetime
  - match: { path: /fresh/r/* }
    proxy: origin
    cache: { use: local, freshness: route, ttl: 60s }
  - match: { path: /fresh/f/* }
    proxy: flaky
    cache: { use: local, staleIfError: 60s }
  - match: { path: /fresh/a/:name }
    pool: scripted
    cache: { use: local }                              # actor: the store's ttl (30 s) for replies that state none
  - match: { path: /fresh/ar/:name }
    pool: scripted
    cache: { use: local, freshness: route, ttl: 60s }
  # Invalidation by unsafe methods
  - match: { path: /inv/p/* }              # every method; GET and HEAD cached
    proxy: origin
    cache: { use: local }
  - match: { path: /inv/a/:name }
    pool: scripted
    cache: { use: local }
  - match: { method: GET, path: /inv/things/:name }
    proxy: origin
    cache: { use: local }
  - match: { method: POST, path: /inv/things/:name }
    pool: scripted
  - match: { method: GET, path: /inv/stuff/:name }
    pool: scripted
    cache: { use: local }
  - match: { method: POST, path: /inv/stuff/:name }
    proxy: origin                          # uncached: the reply is streamed
  - match: { method: GET, path: /inv/keyed/:name }
    proxy: origin
    cache: { use: local, key: "thing:{params.name}" }
  - match: { method: POST, path: /inv/keyed/:name }
    pool: scripted
`;
}

let up: Upstream;
let flaky: Upstream;
let app: Instance;
/** The project folder (the scripted actor's script/, release/ and runs.log). */
let dir: string;

before(async () => {
  [up, flaky] = await Promise.all([Upstream.start(), Upstream.start()]);
  const made = project(topology(up.origin, flaky.origin));
  dir = made.dir;
  mkdirSync(join(dir, 'script'));
  mkdirSync(join(dir, 'release'));
  app = await startInstance(made.file);
});

after(async () => {
  try {
    await app?.stop();
  } finally {
    await Promise.all([up?.close(), flaky?.close()]);
  }
});

/** The proxy and the actor side of route group `group`. */
function sideOf(group: string, kind: 'proxy' | 'actor'): Side {
  return kind === 'proxy' ? proxySide(up, `/${group}/p`) : actorSide(dir, `/${group}/a`);
}

describe('shared cache: a reply to a request with Authorization is that user\'s unless it says it may be shared (RFC 9111 section 3.5)', () => {
  for (const kind of ['proxy', 'actor'] as const) {
    const side = (): Side => sideOf('auth', kind);

    for (const cc of [undefined, 'max-age=60']) {
      test(`${kind}: a bearer token's reply ${cc === undefined ? 'without Cache-Control' : `with Cache-Control: ${cc}`} goes to nobody else; anonymous and another token ask the origin again`, { timeout: 20_000 }, async () => {
        const name = `account-${cc === undefined ? 'plain' : 'maxage'}`;
        side().script(name, { headers: cc === undefined ? {} : { 'cache-control': cc }, body: 'account of {user}' });
        const alice = await send(app, side().path(name), { headers: ALICE });
        assert.equal(alice.status, 200);
        assert.equal(alice.text, 'account of Bearer alice');
        const bob = await send(app, side().path(name), { headers: BOB });
        assert.equal(bob.text, 'account of Bearer bob', 'bob got another user\'s reply');
        assert.notEqual(xcache(bob), 'HIT');
        const again = await send(app, side().path(name), { headers: ALICE });
        assert.equal(again.text, 'account of Bearer alice');
        assert.notEqual(xcache(again), 'HIT', 'a reply to a request with Authorization was stored');
        // Last: once an anonymous reply is stored it may answer anyone (section 3.5 is about storing).
        const anonymous = await send(app, side().path(name));
        assert.equal(anonymous.text, 'account of anonymous', 'an anonymous request got a user\'s reply');
        assert.notEqual(xcache(anonymous), 'HIT');
        assert.deepEqual(side().asked(name).map((a) => a.headers['authorization'] ?? 'anonymous'),
          ['Bearer alice', 'Bearer bob', 'Bearer alice', 'anonymous'], 'the origin is asked each time, with each request\'s credentials');
        // Without Authorization the same reply is stored: the route would have kept alice's too.
        const anonymousAgain = await send(app, side().path(name));
        assert.equal(xcache(anonymousAgain), 'HIT');
        assert.equal(anonymousAgain.text, 'account of anonymous');
      });
    }

    for (const cc of ['public, max-age=60', 's-maxage=60', 'must-revalidate, max-age=60']) {
      test(`${kind}: a bearer token's reply with Cache-Control: ${cc} may be shared`, { timeout: 20_000 }, async () => {
        const name = `shared-${cc.replace(/[^a-z0-9]+/g, '-')}`;
        side().script(name, { headers: { 'cache-control': cc }, body: 'catalogue as seen by {user}' });
        const alice = await send(app, side().path(name), { headers: ALICE });
        assert.equal(xcache(alice), 'MISS');
        for (const headers of [{}, BOB]) {
          const other = await send(app, side().path(name), { headers });
          assert.equal(xcache(other), 'HIT');
          assert.equal(other.text, 'catalogue as seen by Bearer alice');
        }
        assert.equal(side().asked(name).length, 1);
      });
    }

    test(`${kind}: a reply that says private or no-store, sets a cookie without stating a lifetime, or answers a request that says no-store is not reused, even without Authorization`, { timeout: 20_000 }, async () => {
      const cases: ReadonlyArray<readonly [string, Record<string, string>]> = [
        ['private', { 'cache-control': 'private, max-age=60' }],
        ['private-qualified', { 'cache-control': 'private="x-account", max-age=60' }],
        ['no-store', { 'cache-control': 'no-store, max-age=60' }],
        ['cookie', { 'set-cookie': 'session={n}' }],
        ['request-no-store', { 'cache-control': 'max-age=60' }], // the request says no-store (RFC 9111 section 5.2.1.5)
      ];
      for (const [name, headers] of cases) {
        side().script(name, { headers, body: 'reply {n}' });
        const first = await send(app, side().path(name), { headers: name === 'request-no-store' ? { 'cache-control': 'no-store' } : {} });
        const second = await send(app, side().path(name));
        assert.equal(first.text, 'reply 1', name);
        assert.equal(second.text, 'reply 2', `${name}: the second request got the first one's reply`);
        assert.notEqual(xcache(second), 'HIT', name);
        assert.equal(side().asked(name).length, 2, name);
      }
    });

    for (const cc of [undefined, 'max-age=60']) {
      test(`${kind}: single flight: bob and an anonymous request that join alice's fill (${cc ?? 'no Cache-Control'}) get their own replies`, { timeout: 20_000 }, async () => {
        const name = `flight-${cc === undefined ? 'plain' : 'maxage'}`;
        side().script(name, { hold: true, headers: cc === undefined ? {} : { 'cache-control': cc }, body: 'account of {user}' });
        const [alice, bob, anonymous] = await flight(app, side(), name, ALICE, [BOB, {}]) as [Got, Got, Got];
        assert.equal(alice.text, 'account of Bearer alice');
        assert.equal(bob.text, 'account of Bearer bob', 'bob was handed alice\'s private reply');
        assert.equal(anonymous.text, 'account of anonymous', 'an anonymous request was handed alice\'s private reply');
        for (const got of [alice, bob, anonymous]) assert.notEqual(xcache(got), 'HIT');
        assert.deepEqual(side().asked(name).map((a) => a.headers['authorization'] ?? 'anonymous').sort(), ['Bearer alice', 'Bearer bob', 'anonymous']);
      });
    }

    const personal: ReadonlyArray<readonly [string, Record<string, string>, Record<string, string>]> = [
      ['private', { 'cache-control': 'private, max-age=60' }, {}],
      ['cookie', { 'set-cookie': 'session={n}' }, {}],
      ['request-no-store', { 'cache-control': 'max-age=60' }, { 'cache-control': 'no-store' }],
    ];
    for (const [what, headers, leader] of personal) {
      test(`${kind}: single flight: a reply that is the leader's own (${what}) is not handed to the request that joined its fill`, { timeout: 20_000 }, async () => {
        const name = `flight-${what}`;
        side().script(name, { hold: true, headers, body: 'reply {n}' });
        const [first, second] = await flight(app, side(), name, leader, [{}]) as [Got, Got];
        assert.equal(first.text, 'reply 1');
        assert.equal(second.text, 'reply 2', 'the joiner was handed a reply made for the leader alone');
      });
    }

    test(`${kind}: single flight: a public reply to alice is handed to bob, who joined her fill`, { timeout: 20_000 }, async () => {
      side().script('flight-public', { hold: true, headers: { 'cache-control': 'public, max-age=60' }, body: 'catalogue as seen by {user}' });
      const [alice, bob] = await flight(app, side(), 'flight-public', ALICE, [BOB]) as [Got, Got];
      assert.equal(alice.text, 'catalogue as seen by Bearer alice');
      assert.equal(bob.text, 'catalogue as seen by Bearer alice');
      assert.equal(side().asked('flight-public').length, 1);
    });
  }
});

describe('shared cache: Vary (RFC 9111 section 4.1)', () => {
  const PLAIN = Buffer.from('a plain representation, repeated. '.repeat(40));
  const GZIP = gzipSync(PLAIN);

  /** An upstream that answers gzip (and says it varies on Accept-Encoding) only to a request that accepts it. */
  const negotiating = (cacheControl: string): Handler => (req, res) => {
    const gzip = /\bgzip\b/.test(text(req.headers['accept-encoding']) ?? '');
    res.writeHead(200, {
      'content-type': 'text/plain', 'cache-control': cacheControl, vary: 'Accept-Encoding', ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    res.end(gzip ? GZIP : PLAIN);
  };

  const gzip = { 'accept-encoding': 'gzip' };

  test('proxy: the gzip variant is not given to a client that did not ask for it; each variant is then a HIT', { timeout: 20_000 }, async () => {
    up.handle('/vary/p/negotiated', negotiating('max-age=60'));
    const zipped = await send(app, '/vary/p/negotiated', { headers: gzip });
    assert.equal(xcache(zipped), 'MISS');
    assert.equal(field(zipped, 'content-encoding'), 'gzip');
    assert.ok(zipped.body.equals(GZIP));
    const plain = await send(app, '/vary/p/negotiated');
    assert.equal(field(plain, 'content-encoding'), undefined, 'a client that sent no Accept-Encoding got the stored gzip variant');
    assert.ok(plain.body.equals(PLAIN));
    assert.equal(xcache(plain), 'MISS');
    assert.equal(up.asked('/vary/p/negotiated').length, 2);
    for (let i = 0; i < 2; i++) {
      const z = await send(app, '/vary/p/negotiated', { headers: gzip });
      assert.equal(xcache(z), 'HIT');
      assert.ok(z.body.equals(GZIP));
      assert.equal(field(z, 'content-encoding'), 'gzip');
      assert.match(field(z, 'vary') ?? '', /accept-encoding/i);
      const p = await send(app, '/vary/p/negotiated');
      assert.equal(xcache(p), 'HIT');
      assert.ok(p.body.equals(PLAIN));
      assert.equal(field(p, 'content-encoding'), undefined);
    }
    assert.equal(up.asked('/vary/p/negotiated').length, 2);
    // HEAD selects its variant too: the length it reports is that of the bytes a GET would get.
    const headPlain = await send(app, '/vary/p/negotiated', { method: 'HEAD' });
    assert.equal(field(headPlain, 'content-length'), String(PLAIN.length));
    assert.equal(field(headPlain, 'content-encoding'), undefined);
    const headZipped = await send(app, '/vary/p/negotiated', { method: 'HEAD', headers: gzip });
    assert.equal(field(headZipped, 'content-length'), String(GZIP.length));
    assert.equal(up.asked('/vary/p/negotiated').length, 2);
  });

  test('proxy: another Accept-Encoding value is another variant; the same list written with other spaces is the same one', { timeout: 20_000 }, async () => {
    up.handle('/vary/p/negotiated-lists', negotiating('max-age=60'));
    const listed = await send(app, '/vary/p/negotiated-lists', { headers: { 'accept-encoding': 'gzip, deflate' } });
    assert.equal(xcache(listed), 'MISS');
    const respaced = await send(app, '/vary/p/negotiated-lists', { headers: { 'accept-encoding': 'gzip,deflate' } });
    assert.equal(xcache(respaced), 'HIT');
    assert.ok(respaced.body.equals(GZIP));
    const brotli = await send(app, '/vary/p/negotiated-lists', { headers: { 'accept-encoding': 'br' } });
    assert.equal(xcache(brotli), 'MISS');
    assert.ok(brotli.body.equals(PLAIN), 'a client that accepts only br got gzip');
    assert.equal(up.asked('/vary/p/negotiated-lists').length, 2);
  });

  for (const kind of ['proxy', 'actor'] as const) {
    const side = (): Side => sideOf('vary', kind);

    test(`${kind}: Vary: Accept-Language keeps one variant per language (a request without the field is its own)`, { timeout: 20_000 }, async () => {
      side().script('greeting', { headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, body: 'hello in {header:accept-language}' });
      const order = ['fr', 'en', 'fr', 'en', undefined, undefined] as const;
      const answers: Got[] = [];
      for (const lang of order) answers.push(await send(app, side().path('greeting'), { headers: lang === undefined ? {} : { 'accept-language': lang } }));
      assert.deepEqual(answers.map((a) => a.text), ['hello in fr', 'hello in en', 'hello in fr', 'hello in en', 'hello in -', 'hello in -']);
      assert.deepEqual(answers.map(xcache), ['MISS', 'MISS', 'HIT', 'HIT', 'MISS', 'HIT']);
      assert.equal(side().asked('greeting').length, 3);
    });

    test(`${kind}: a reply with Vary: * is never reused`, { timeout: 20_000 }, async () => {
      side().script('vary-star', { headers: { 'cache-control': 'max-age=60', vary: '*' }, body: 'reply {n}' });
      for (let n = 1; n <= 3; n++) {
        const got = await send(app, side().path('vary-star'));
        assert.equal(got.text, `reply ${n}`);
        assert.equal(xcache(got), 'MISS');
      }
    });

    test(`${kind}: a PUT on the URL removes every variant`, { timeout: 20_000 }, async () => {
      side().script('vary-put', { headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, body: '{header:accept-language} {n}' });
      for (const lang of ['fr', 'en']) await send(app, side().path('vary-put'), { headers: { 'accept-language': lang } });
      for (const lang of ['fr', 'en']) assert.equal(xcache(await send(app, side().path('vary-put'), { headers: { 'accept-language': lang } })), 'HIT');
      const put = await send(app, side().path('vary-put'), { method: 'PUT' });
      assert.equal(put.status, 204);
      const fr = await send(app, side().path('vary-put'), { headers: { 'accept-language': 'fr' } });
      const en = await send(app, side().path('vary-put'), { headers: { 'accept-language': 'en' } });
      assert.equal(xcache(fr), 'MISS');
      assert.equal(xcache(en), 'MISS');
      assert.deepEqual([fr.text, en.text], ['fr 4', 'en 5']);
    });

    test(`${kind}: single flight: a request with another Accept-Language that joins a fill gets its own variant`, { timeout: 20_000 }, async () => {
      side().script('vary-flight', { hold: true, headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, body: 'hello in {header:accept-language}' });
      const [fr, en, fr2] = await flight(app, side(), 'vary-flight', { 'accept-language': 'fr' },
        [{ 'accept-language': 'en' }, { 'accept-language': 'fr' }]) as [Got, Got, Got];
      assert.equal(fr.text, 'hello in fr');
      assert.equal(en.text, 'hello in en', 'a request for English that joined a French fill was given the French variant');
      assert.equal(fr2.text, 'hello in fr');
    });
  }

  test('proxy: single flight: a client without Accept-Encoding that joins a gzip fill gets the plain bytes', { timeout: 20_000 }, async () => {
    const gate = new Gate();
    let asked = 0;
    up.handle('/vary/p/negotiated-flight', (req, res, n) => {
      asked = n;
      const respond = negotiating('max-age=60');
      if (n === 1) void gate.opened.then(() => respond(req, res, n));
      else respond(req, res, n);
    });
    const before = await missesOf(app);
    const zipped = send(app, '/vary/p/negotiated-flight', { headers: gzip });
    await eventually('the upstream got the gzip request', () => asked === 1, 10_000);
    const plain = send(app, '/vary/p/negotiated-flight');
    await eventually('the plain request joined the fill', async () => (await missesOf(app)) === before + 2, 10_000);
    gate.open();
    const [z, p] = await Promise.all([zipped, plain]);
    assert.ok(z.body.equals(GZIP));
    assert.equal(field(p, 'content-encoding'), undefined, 'the joiner that sent no Accept-Encoding was given gzip');
    assert.ok(p.body.equals(PLAIN));
  });

  test('proxy: the route\'s own vary: still adds to the key, and the response\'s Vary names both fields', { timeout: 20_000 }, async () => {
    up.handle('/vary/pv/negotiated', (req, res) => {
      const gzipped = /\bgzip\b/.test(text(req.headers['accept-encoding']) ?? '');
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60', vary: 'Accept-Encoding', ...(gzipped ? { 'content-encoding': 'gzip' } : {}) });
      const body = `in ${text(req.headers['accept-language']) ?? '-'}`;
      res.end(gzipped ? gzipSync(body) : body);
    });
    const requests: ReadonlyArray<Record<string, string>> = [
      { 'accept-language': 'fr', 'accept-encoding': 'gzip' },
      { 'accept-language': 'de', 'accept-encoding': 'gzip' },
      { 'accept-language': 'fr' },
    ];
    for (const headers of requests) assert.equal(xcache(await send(app, '/vary/pv/negotiated', { headers })), 'MISS');
    for (const headers of requests) {
      const got = await send(app, '/vary/pv/negotiated', { headers });
      assert.equal(xcache(got), 'HIT');
      const body = field(got, 'content-encoding') === 'gzip' ? gunzipSync(got.body).toString() : got.text;
      assert.equal(body, `in ${headers['accept-language']}`);
      assert.equal(field(got, 'content-encoding'), headers['accept-encoding']);
      const vary = (field(got, 'vary') ?? '').toLowerCase();
      assert.match(vary, /accept-language/, 'the route\'s vary field is listed');
      assert.match(vary, /accept-encoding/, 'the origin\'s Vary was dropped from the response: a cache after this one would hand gzip to any client (RFC 9110 section 12.5.5)');
    }
    assert.equal(up.asked('/vary/pv/negotiated').length, 3);
  });

  test('proxy: when the origin changes what it varies on, the new field selects the variants', { timeout: 20_000 }, async () => {
    let phase = 1;
    up.handle('/vary/p/vary-change', (req, res) => {
      if (phase === 1) {
        res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=1', vary: 'Accept-Encoding' });
        res.end('one for every language');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60', vary: 'Accept-Language' });
      res.end(`in ${text(req.headers['accept-language']) ?? '-'}`);
    });
    const fr = { 'accept-language': 'fr' };
    const en = { 'accept-language': 'en' };
    assert.equal((await send(app, '/vary/p/vary-change', { headers: fr })).text, 'one for every language');
    phase = 2;
    await getUntil(app, '/vary/p/vary-change', 'the entry went stale and the origin was asked again', (got) => got.text === 'in fr', fr);
    const frGzip = await send(app, '/vary/p/vary-change', { headers: { ...fr, ...gzip } });
    assert.equal(xcache(frGzip), 'HIT', 'Accept-Encoding no longer selects');
    assert.equal(frGzip.text, 'in fr');
    const english = await send(app, '/vary/p/vary-change', { headers: en });
    assert.equal(xcache(english), 'MISS');
    assert.equal(english.text, 'in en');
    for (const [headers, body] of [[en, 'in en'], [fr, 'in fr']] as const) {
      const got = await send(app, '/vary/p/vary-change', { headers });
      assert.equal(xcache(got), 'HIT');
      assert.equal(got.text, body);
    }
  });

  test('proxy: a variant stays reachable while it is fresh, when a sibling variant that lives shorter is stored after it', { timeout: 20_000 }, async () => {
    // The store keeps entries (and markers) for 1 s at least; the French variant is fresh for 60 s.
    up.handle('/vary/b/siblings', (req, res) => {
      const lang = text(req.headers['accept-language']) ?? '-';
      // The English variant comes with Age: 59 (an upstream cache held it): fresh for about a second.
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60', vary: 'Accept-Language', ...(lang === 'en' ? { age: '59' } : {}) });
      res.end(`in ${lang}`);
    });
    const fr = { 'accept-language': 'fr' };
    await send(app, '/vary/b/siblings', { headers: fr });
    await send(app, '/vary/b/siblings', { headers: { 'accept-language': 'en' } });
    assert.equal(xcache(await send(app, '/vary/b/siblings', { headers: fr })), 'HIT');
    // A clock without sleeping: an entry fresh for 2 s stored after the English one; once it is stale,
    // anything stored before it for at most 1 s is gone (the English variant, and what kept the variants for 1 s).
    up.script('/vary/b/clock', { headers: { 'cache-control': 'max-age=2' } });
    await send(app, '/vary/b/clock');
    await getUntil(app, '/vary/b/clock', 'the 2 s clock entry went stale', (got) => xcache(got) !== 'HIT');
    const french = await send(app, '/vary/b/siblings', { headers: fr });
    assert.equal(french.text, 'in fr');
    assert.equal(xcache(french), 'HIT', 'a variant fresh for another ~57 s was lost: storing the short-lived English variant shortened how long the key\'s variants are found');
  });

  test('proxy: a route\'s invalidate: removes every variant of the key', { timeout: 20_000 }, async () => {
    up.handle('/vary/p/purged', negotiating('max-age=60'));
    await send(app, '/vary/p/purged', { headers: gzip });
    await send(app, '/vary/p/purged');
    assert.equal(xcache(await send(app, '/vary/p/purged', { headers: gzip })), 'HIT');
    assert.equal(xcache(await send(app, '/vary/p/purged')), 'HIT');
    const purge = await send(app, '/vary/purge/purged', { method: 'POST' });
    assert.equal(purge.status, 204);
    const z = await send(app, '/vary/p/purged', { headers: gzip });
    const p = await send(app, '/vary/p/purged');
    assert.equal(xcache(z), 'MISS');
    assert.equal(xcache(p), 'MISS');
    assert.ok(z.body.equals(GZIP));
    assert.ok(p.body.equals(PLAIN));
    assert.equal(up.asked('/vary/p/purged').length, 4);
  });
});

describe('shared cache: single flight and conditional requests (RFC 9111 section 4.3)', () => {
  const LAST_MODIFIED = 'Mon, 02 Jan 2023 10:00:00 GMT';
  const tagged = (hold: boolean): Script => ({ hold, headers: { etag: '"v1"', 'last-modified': LAST_MODIFIED, 'cache-control': 'max-age=60' }, body: 'tagged {n}' });

  /** The fill asked the origin once, unconditionally (a client's conditionals are its own). */
  const askedOnceUnconditionally = (side: Side, name: string): void => {
    const asked = side.asked(name);
    assert.equal(asked.length, 1);
    for (const field of ['if-none-match', 'if-modified-since']) assert.equal(asked[0]?.headers[field], undefined, `the fill sent the client's ${field}`);
  };

  for (const kind of ['proxy', 'actor'] as const) {
    const side = (): Side => sideOf('cond', kind);

    const leaders: ReadonlyArray<readonly [string, Record<string, string>, number]> = [
      ['a matching If-None-Match', { 'if-none-match': '"v1"' }, 304],
      ['a weak matching If-None-Match', { 'if-none-match': 'W/"v1"' }, 304],
      ['another tag in If-None-Match', { 'if-none-match': '"v0"' }, 200],
      ['If-Modified-Since at Last-Modified', { 'if-modified-since': LAST_MODIFIED }, 304],
      ['If-Modified-Since before Last-Modified', { 'if-modified-since': 'Sun, 01 Jan 2023 10:00:00 GMT' }, 200],
    ];
    leaders.forEach(([what, headers, status], i) => {
      test(`${kind}: a request with ${what} leads a fill and a plain GET joins: the GET gets 200 with the body, the leader ${status}`, { timeout: 20_000 }, async () => {
        const name = `cond-lead-${i}`;
        side().script(name, tagged(true));
        const [leader, plain] = await flight(app, side(), name, headers, [{}]) as [Got, Got];
        assert.equal(plain.status, 200);
        assert.equal(plain.text, 'tagged 1');
        assert.equal(leader.status, status);
        if (status === 304) {
          assert.equal(leader.body.length, 0);
          assert.equal(field(leader, 'etag'), '"v1"');
        } else {
          assert.equal(leader.text, 'tagged 1');
        }
        askedOnceUnconditionally(side(), name);
      });
    });

    test(`${kind}: a plain GET leads a fill and a conditional GET with the reply's tag joins: 304 for it, 200 for the GET`, { timeout: 20_000 }, async () => {
      side().script('cond-join', tagged(true));
      const [plain, conditional, other] = await flight(app, side(), 'cond-join', {}, [{ 'if-none-match': '"v1"' }, { 'if-none-match': '"v0"' }]) as [Got, Got, Got];
      assert.equal(plain.status, 200);
      assert.equal(conditional.status, 304);
      assert.equal(conditional.body.length, 0);
      assert.equal(other.status, 200);
      assert.equal(other.text, 'tagged 1');
      askedOnceUnconditionally(side(), 'cond-join');
    });

    test(`${kind}: a client's conditional on a stale entry revalidates it with the stored validator, not the client's, and is answered for its own tag`, { timeout: 20_000 }, async () => {
      // Age: 60 of max-age=60: stale from the start, kept because it can be validated.
      side().script('cond-stale', { headers: { etag: '"v1"', 'cache-control': 'max-age=60', age: '60' }, notModified: { etag: '"v1"', 'cache-control': 'max-age=60' }, body: 'tagged {n}' });
      await send(app, side().path('cond-stale'));
      const other = await send(app, side().path('cond-stale'), { headers: { 'if-none-match': '"v0"' } });
      assert.equal(other.status, 200);
      assert.equal(other.text, 'tagged 1');
      assert.equal(xcache(other), 'REVALIDATED');
      assert.deepEqual(side().asked('cond-stale').map((a) => a.headers['if-none-match']), [undefined, '"v1"']);
      const same = await send(app, side().path('cond-stale'), { headers: { 'if-none-match': '"v1"' } });
      assert.equal(same.status, 304);
      assert.equal(xcache(same), 'HIT');
      assert.equal(side().asked('cond-stale').length, 2);
    });

    test(`${kind}: a client's conditional against a fresh stored reply is answered by the cache: 304 with the ETag and no body when it matches, 200 otherwise`, { timeout: 20_000 }, async () => {
      side().script('cond-stored', tagged(false));
      assert.equal((await send(app, side().path('cond-stored'))).status, 200);
      const cases: ReadonlyArray<readonly [Record<string, string>, number, string?]> = [
        [{ 'if-none-match': '"v1"' }, 304],
        [{ 'if-none-match': 'W/"v1"' }, 304],
        [{ 'if-none-match': '"a", "v1"' }, 304],
        [{ 'if-none-match': '*' }, 304],
        [{ 'if-none-match': '"v0"' }, 200],
        [{ 'if-modified-since': LAST_MODIFIED }, 304],
        [{ 'if-modified-since': 'Tue, 03 Jan 2023 10:00:00 GMT' }, 304],
        [{ 'if-modified-since': 'Sun, 01 Jan 2023 10:00:00 GMT' }, 200],
        [{ 'if-none-match': '"v0"', 'if-modified-since': LAST_MODIFIED }, 200], // If-None-Match decides (RFC 9110 section 13.2.2)
        [{ 'if-none-match': '"v1"' }, 304, 'HEAD'],
      ];
      for (const [headers, status, method] of cases) {
        const got = await send(app, side().path('cond-stored'), { headers, ...(method === undefined ? {} : { method }) });
        const what = `${method ?? 'GET'} ${JSON.stringify(headers)}`;
        assert.equal(got.status, status, what);
        assert.equal(xcache(got), 'HIT', what);
        if (status === 304) {
          assert.equal(got.body.length, 0, what);
          assert.equal(field(got, 'etag'), '"v1"', what);
        } else {
          assert.equal(got.text, 'tagged 1', what);
        }
      }
      askedOnceUnconditionally(side(), 'cond-stored');
    });
  }
});

describe('shared cache: HEAD on cached routes', () => {
  const BIG = 'x'.repeat(5000);
  const actors = (): Side => sideOf('head', 'actor');

  test('proxy: HEAD of a 5000-byte resource not stored yet reports Content-Length: 5000 without a body (the upstream sees a GET); HEAD and GET then HIT', { timeout: 20_000 }, async () => {
    up.script('/head/p/big', { headers: { 'content-type': 'text/plain', 'cache-control': 'max-age=60' }, body: BIG });
    const head = await send(app, '/head/p/big', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(field(head, 'content-length'), '5000');
    assert.equal(head.body.length, 0);
    assert.equal(xcache(head), 'MISS');
    assert.deepEqual(up.asked('/head/p/big').map((a) => a.method), ['GET']);
    const again = await send(app, '/head/p/big', { method: 'HEAD' });
    assert.equal(xcache(again), 'HIT');
    assert.equal(field(again, 'content-length'), '5000');
    assert.equal(again.body.length, 0);
    const get = await send(app, '/head/p/big');
    assert.equal(xcache(get), 'HIT');
    assert.equal(get.text, BIG);
    assert.equal(field(get, 'content-length'), '5000');
    assert.equal(up.asked('/head/p/big').length, 1);
  });

  test('proxy: single flight: a HEAD leads the fill and a GET joins it: the HEAD gets the length, the GET the body, the upstream one GET', { timeout: 20_000 }, async () => {
    up.script('/head/p/big-flight', { hold: true, headers: { 'content-type': 'text/plain', 'cache-control': 'max-age=60' }, body: BIG });
    const before = await missesOf(app);
    const head = send(app, '/head/p/big-flight', { method: 'HEAD' });
    await eventually('the upstream got the fill', () => up.asked('/head/p/big-flight').length === 1, 10_000);
    const get = send(app, '/head/p/big-flight');
    await eventually('the GET joined the fill', async () => (await missesOf(app)) === before + 2, 10_000);
    up.release('/head/p/big-flight');
    const [h, g] = await Promise.all([head, get]);
    assert.equal(field(h, 'content-length'), '5000');
    assert.equal(h.body.length, 0);
    assert.equal(g.text, BIG);
    assert.deepEqual(up.asked('/head/p/big-flight').map((a) => a.method), ['GET']);
  });

  test('proxy: HEAD on a cached route whose reply is not stored still reports the GET\'s length, each time from a GET upstream', { timeout: 20_000 }, async () => {
    up.script('/head/p/big-unstored', { headers: { 'content-type': 'text/plain', 'cache-control': 'no-store' }, body: BIG });
    for (let i = 0; i < 2; i++) {
      const head = await send(app, '/head/p/big-unstored', { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(field(head, 'content-length'), '5000');
      assert.equal(head.body.length, 0);
      assert.notEqual(xcache(head), 'HIT');
    }
    assert.deepEqual(up.asked('/head/p/big-unstored').map((a) => a.method), ['GET', 'GET']);
  });

  test('proxy: HEAD on an uncached proxy route keeps the upstream\'s Content-Length', { timeout: 20_000 }, async () => {
    up.handle('/head/u/big', (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5000' });
      res.end(req.method === 'HEAD' ? undefined : BIG);
    });
    const head = await send(app, '/head/u/big', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(field(head, 'content-length'), '5000');
    assert.equal(head.body.length, 0);
    assert.equal(xcache(head), undefined);
    assert.deepEqual(up.asked('/head/u/big').map((a) => a.method), ['HEAD']);
  });

  test('actor: HEAD of a resource not stored yet is filled with a GET and reports its length; HEAD and GET then HIT', { timeout: 20_000 }, async () => {
    actors().script('big', { headers: { 'cache-control': 'max-age=60' }, body: BIG });
    const head = await send(app, '/head/a/big', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(field(head, 'content-length'), '5000');
    assert.equal(head.body.length, 0);
    assert.deepEqual(actors().asked('big').map((a) => a.method), ['GET']);
    assert.equal(xcache(await send(app, '/head/a/big', { method: 'HEAD' })), 'HIT');
    const get = await send(app, '/head/a/big');
    assert.equal(xcache(get), 'HIT');
    assert.equal(get.text, BIG);
    assert.equal(actors().asked('big').length, 1);
  });
});

describe('shared cache: the origin\'s freshness (RFC 9111 section 4.2)', () => {
  /** The routes with `freshness: route`. */
  const routeSide = (kind: 'proxy' | 'actor'): Side => (kind === 'proxy' ? proxySide(up, '/fresh/r') : actorSide(dir, '/fresh/ar'));

  /** GET twice: whether the second came from the store, and how often the origin was asked. */
  const twice = async (side: Side, name: string, script: Script): Promise<{ second: Got; asked: number }> => {
    side.script(name, script);
    const first = await send(app, side.path(name));
    assert.equal(first.status, script.status ?? 200, first.text);
    const second = await send(app, side.path(name));
    return { second, asked: side.asked(name).length };
  };
  const httpDate = (offsetSeconds: number): string => new Date(Date.now() + offsetSeconds * 1000).toUTCString();

  for (const kind of ['proxy', 'actor'] as const) {
    const side = (): Side => sideOf('fresh', kind);

    test(`${kind}: max-age=1: HITs while fresh (never older than the lifetime), then the origin is asked again`, { timeout: 20_000 }, async () => {
      side().script('max-age', { headers: { 'cache-control': 'max-age=1' }, body: 'version {n}' });
      const first = await send(app, side().path('max-age'));
      assert.equal(first.text, 'version 1');
      const hits: Got[] = [];
      const renewed = await getUntil(app, side().path('max-age'), 'the origin is asked again once max-age has passed', (got) => {
        if (xcache(got) === 'HIT') hits.push(got);
        return got.text !== 'version 1';
      });
      assert.equal(renewed.text, 'version 2');
      assert.equal(xcache(renewed), 'MISS');
      for (const hit of hits) assert.equal(field(hit, 'age'), '0', 'a HIT older than max-age=1');
      assert.equal(side().asked('max-age').length, 2);
    });

    test(`${kind}: s-maxage wins over max-age for a shared cache`, { timeout: 20_000 }, async () => {
      const longer = await twice(side(), 'smaxage-longer', { headers: { 'cache-control': 'max-age=0, s-maxage=60' } });
      assert.equal(xcache(longer.second), 'HIT');
      assert.equal(longer.asked, 1);
      const shorter = await twice(side(), 'smaxage-shorter', { headers: { 'cache-control': 'max-age=60, s-maxage=0' } });
      assert.notEqual(xcache(shorter.second), 'HIT');
      assert.equal(shorter.asked, 2);
    });

    test(`${kind}: Expires counts from Date, and the age counts against it`, { timeout: 20_000 }, async () => {
      // 3660 s of lifetime, of which 3600 s are gone already: fresh, with Age >= 3600.
      const fresh = await twice(side(), 'expires-fresh', { headers: { date: httpDate(-3600), expires: httpDate(60) } });
      assert.equal(xcache(fresh.second), 'HIT');
      assert.ok(Number(field(fresh.second, 'age')) >= 3600, `Age ${field(fresh.second, 'age') ?? '-'}`);
      assert.equal(fresh.asked, 1);
      // 60 s of lifetime, 120 s old: stale.
      const stale = await twice(side(), 'expires-stale', { headers: { date: httpDate(-120), expires: httpDate(-60) } });
      assert.notEqual(xcache(stale.second), 'HIT');
      assert.equal(stale.asked, 2);
      // max-age wins over Expires (RFC 9111 section 5.3).
      const maxAge = await twice(side(), 'expires-max-age', { headers: { 'cache-control': 'max-age=60', expires: httpDate(-60) } });
      assert.equal(xcache(maxAge.second), 'HIT');
      // An invalid Expires means already expired (RFC 9111 section 5.3).
      const invalid = await twice(side(), 'expires-invalid', { headers: { expires: '0' } });
      assert.notEqual(xcache(invalid.second), 'HIT');
      assert.equal(invalid.asked, 2);
    });

    test(`${kind}: an Age from the origin shortens freshness and is where the cache's Age starts`, { timeout: 20_000 }, async () => {
      const used = await twice(side(), 'age-60', { headers: { 'cache-control': 'max-age=60', age: '60' } });
      assert.notEqual(xcache(used.second), 'HIT', 'a reply as old as its max-age was served as fresh');
      assert.equal(used.asked, 2);
      const half = await twice(side(), 'age-30', { headers: { 'cache-control': 'max-age=60', age: '30' } });
      assert.equal(xcache(half.second), 'HIT');
      assert.ok(Number(field(half.second, 'age')) >= 30, `Age ${field(half.second, 'age') ?? '-'}`);
      side().script('age-59', { headers: { 'cache-control': 'max-age=60', age: '59' }, body: 'version {n}' });
      await send(app, side().path('age-59'));
      const renewed = await getUntil(app, side().path('age-59'), 'with Age: 59 of max-age=60 the reply goes stale within about a second', (got) => {
        if (xcache(got) === 'HIT') assert.ok(Number(field(got, 'age')) >= 59, `Age ${field(got, 'age') ?? '-'}`);
        return got.text === 'version 2';
      });
      assert.equal(xcache(renewed), 'MISS');
    });

    test(`${kind}: no-cache: every use is validated; the 304's fields replace the stored ones, the body, Content-Length and ETag stay`, { timeout: 20_000 }, async () => {
      const body = 'the stored body';
      side().script('no-cache', {
        headers: { etag: '"nc"', 'cache-control': 'no-cache, max-age=60', 'x-version': '{n}' },
        notModified: { etag: '"nc"', 'cache-control': 'no-cache, max-age=60', 'x-version': '{n}', 'x-checked': 'check {n}', 'content-length': '0' },
        body,
      });
      const first = await send(app, side().path('no-cache'));
      assert.equal(xcache(first), 'MISS');
      assert.equal(field(first, 'x-version'), '1');
      for (const n of [2, 3]) {
        const got = await send(app, side().path('no-cache'));
        assert.equal(got.status, 200);
        assert.equal(xcache(got), 'REVALIDATED');
        assert.equal(got.text, body);
        assert.equal(field(got, 'x-version'), String(n), 'a field of the 304 did not replace the stored one');
        assert.equal(field(got, 'x-checked'), `check ${n}`, 'a field only the 304 carries was not added');
        assert.equal(field(got, 'content-length'), String(Buffer.byteLength(body)));
        assert.equal(field(got, 'etag'), '"nc"');
      }
      const asked = side().asked('no-cache');
      assert.deepEqual(asked.map((a) => a.headers['if-none-match']), [undefined, '"nc"', '"nc"']);
    });

    test(`${kind}: a stale reply with Last-Modified and no ETag is revalidated with If-Modified-Since`, { timeout: 20_000 }, async () => {
      const modified = 'Mon, 02 Jan 2023 10:00:00 GMT';
      // Age: 60 of max-age=60: stale from the start, kept because it can be validated.
      side().script('last-modified', { headers: { 'last-modified': modified, 'cache-control': 'max-age=60', age: '60' }, notModified: { 'cache-control': 'max-age=60' }, body: 'dated' });
      await send(app, side().path('last-modified'));
      const got = await send(app, side().path('last-modified'));
      assert.equal(got.status, 200);
      assert.equal(xcache(got), 'REVALIDATED');
      assert.equal(got.text, 'dated');
      assert.equal(side().asked('last-modified')[1]?.headers['if-modified-since'], modified);
      const hit = await send(app, side().path('last-modified'));
      assert.equal(xcache(hit), 'HIT', 'the 304\'s max-age=60 (without Age) made it fresh again');
      assert.equal(side().asked('last-modified').length, 2);
    });

    test(`${kind}: a hit keeps the stored Date, and its Age grows`, { timeout: 20_000 }, async () => {
      const date = httpDate(-10);
      side().script('dated', { headers: { date, 'cache-control': 'max-age=60' } });
      const first = await send(app, side().path('dated'));
      assert.equal(field(first, 'date'), date);
      const hit = await send(app, side().path('dated'));
      assert.equal(xcache(hit), 'HIT');
      assert.equal(field(hit, 'date'), date, 'the stored Date was rewritten');
      const age = Number(field(hit, 'age'));
      assert.ok(age >= 10, `Age ${age}`);
      const older = await getUntil(app, side().path('dated'), 'a later HIT reports a larger Age', (got) => Number(field(got, 'age')) > age);
      assert.equal(xcache(older), 'HIT');
      assert.equal(field(older, 'date'), date);
      assert.equal(side().asked('dated').length, 1);
    });
  }

  test('proxy: a reply that states no lifetime is not reused unless the route sets ttl (for the listed statuses only)', { timeout: 20_000 }, async () => {
    const proxy = sideOf('fresh', 'proxy');
    const plain = await twice(proxy, 'no-lifetime', {});
    assert.notEqual(xcache(plain.second), 'HIT');
    assert.equal(plain.asked, 2);
    const ttl = proxySide(up, '/fresh/t');
    const kept = await twice(ttl, 'no-lifetime', {});
    assert.equal(xcache(kept.second), 'HIT');
    assert.equal(kept.asked, 1);
    const missing = await twice(ttl, 'missing', { status: 404 });
    assert.notEqual(xcache(missing.second), 'HIT', 'a 404 got the route\'s ttl, which is for statuses [200]');
    assert.equal(missing.asked, 2);
    const stated = await twice(ttl, 'missing-stated', { status: 404, headers: { 'cache-control': 'max-age=60' } });
    assert.equal(xcache(stated.second), 'HIT', 'a 404 that states its lifetime is stored whatever statuses says');
    assert.equal(stated.second.status, 404);
  });

  test('proxy: a reply that states no lifetime but has a validator is stored to be revalidated', { timeout: 20_000 }, async () => {
    const proxy = sideOf('fresh', 'proxy');
    const { second, asked } = await twice(proxy, 'validator-only', { headers: { etag: '"e1"' }, notModified: { etag: '"e1"' }, body: 'validated' });
    assert.equal(second.status, 200);
    assert.equal(xcache(second), 'REVALIDATED');
    assert.equal(second.text, 'validated');
    assert.equal(asked, 2);
    assert.equal(proxy.asked('validator-only')[1]?.headers['if-none-match'], '"e1"');
  });

  test('actor: a reply that states no lifetime is fresh for the store\'s ttl', { timeout: 20_000 }, async () => {
    const { second, asked } = await twice(sideOf('fresh', 'actor'), 'no-lifetime', {});
    assert.equal(xcache(second), 'HIT');
    assert.equal(asked, 1);
  });

  for (const kind of ['proxy', 'actor'] as const) {
    test(`${kind}: freshness: route gives ttl to replies that say max-age=0 or no-cache, and still obeys no-store, private and Authorization`, { timeout: 20_000 }, async () => {
      const route = routeSide(kind);
      for (const cc of ['max-age=0', 'no-cache']) {
        const { second, asked } = await twice(route, `route-${cc.replace(/[^a-z0-9]/g, '')}`, { headers: { 'cache-control': cc } });
        assert.equal(xcache(second), 'HIT', cc);
        assert.equal(asked, 1, cc);
      }
      for (const cc of ['no-store', 'private']) {
        const { second, asked } = await twice(route, `route-${cc}`, { headers: { 'cache-control': cc } });
        assert.notEqual(xcache(second), 'HIT', cc);
        assert.equal(asked, 2, cc);
      }
      route.script('route-auth', { body: 'account of {user}' });
      await send(app, route.path('route-auth'), { headers: ALICE });
      const anonymous = await send(app, route.path('route-auth'));
      assert.equal(anonymous.text, 'account of anonymous');
    });
  }

  /** A flaky upstream answer: the first request is answered as `first` says, every later one fails as `failure` says. */
  const failingAfterFirst = (first: Record<string, string>, failure: 'connection' | 500): Handler => (req, res, n) => {
    if (n === 1) {
      res.writeHead(200, { 'content-type': 'text/plain', etag: '"s1"', ...first });
      res.end('the stored body');
    } else if (failure === 'connection') {
      req.socket.destroy();
    } else {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('the origin failed');
    }
  };

  // Age: 60 of max-age=60: stale from the start (stored because it has an ETag), inside the route's staleIfError window.
  for (const cc of ['max-age=60, must-revalidate', 'max-age=60, proxy-revalidate', 's-maxage=60']) {
    test(`proxy: ${cc}: when the upstream fails, the stale reply is not served despite the route's staleIfError (502, then the upstream's 500)`, { timeout: 20_000 }, async () => {
      const name = cc.replace(/[^a-z0-9]+/g, '-');
      flaky.handle(`/fresh/f/${name}`, failingAfterFirst({ 'cache-control': cc, age: '60' }, 'connection'));
      assert.equal((await send(app, `/fresh/f/${name}`)).text, 'the stored body');
      const unreachable = await send(app, `/fresh/f/${name}`);
      assert.equal(unreachable.status, 502, `${xcache(unreachable) ?? '-'} ${unreachable.text}`);
      assert.match(unreachable.text, /ACTORRT_E_UPSTREAM_UNAVAILABLE/);
      flaky.handle(`/fresh/f/${name}-500`, failingAfterFirst({ 'cache-control': cc, age: '60' }, 500));
      await send(app, `/fresh/f/${name}-500`);
      const failed = await send(app, `/fresh/f/${name}-500`);
      assert.equal(failed.status, 500);
      assert.equal(failed.text, 'the origin failed');
    });
  }

  test('proxy: without must-revalidate, the route\'s staleIfError serves the stale reply when the upstream fails', { timeout: 20_000 }, async () => {
    for (const failure of ['connection', 500] as const) {
      flaky.handle(`/fresh/f/tolerant-${failure}`, failingAfterFirst({ 'cache-control': 'max-age=60', age: '60' }, failure));
      await send(app, `/fresh/f/tolerant-${failure}`);
      const stale = await send(app, `/fresh/f/tolerant-${failure}`);
      assert.equal(stale.status, 200, String(failure));
      assert.equal(xcache(stale), 'STALE', String(failure));
      assert.equal(stale.text, 'the stored body', String(failure));
      assert.equal(flaky.asked(`/fresh/f/tolerant-${failure}`).length, 2, String(failure));
    }
  });
});

describe('shared cache: unsafe methods invalidate (RFC 9111 section 4.4)', () => {
  const STORED: Script = { headers: { 'cache-control': 'max-age=60' }, body: 'version {n}' };

  /** Store `path` (a MISS, then a HIT). */
  const stored = async (path: string): Promise<void> => {
    assert.equal(xcache(await send(app, path)), 'MISS', path);
    assert.equal(xcache(await send(app, path)), 'HIT', path);
  };

  for (const kind of ['proxy', 'actor'] as const) {
    const side = (): Side => sideOf('inv', kind);

    // PROPFIND: a method actorrt knows nothing of is unsafe (RFC 9110 section 9.2.1 lists the safe ones).
    for (const [method, status] of [['POST', 201], ['PUT', 200], ['DELETE', 204], ['PATCH', 200], ['PROPFIND', 207]] as const) {
      test(`${kind}: a ${method} answered ${status} makes the next GET of the URL go to the origin`, { timeout: 20_000 }, async () => {
        const name = `inv-${method.toLowerCase()}`;
        side().script(name, { ...STORED, unsafe: { status } });
        await stored(side().path(name));
        const unsafe = await send(app, side().path(name), { method });
        assert.equal(unsafe.status, status);
        const next = await send(app, side().path(name));
        assert.equal(xcache(next), 'MISS');
        assert.deepEqual(side().asked(name).map((a) => a.method), ['GET', method, 'GET']);
      });
    }

    test(`${kind}: a PUT while a GET's fill is under way: that fill's reply is not stored, and a GET after the PUT does not join it`, { timeout: 20_000 }, async () => {
      side().script('inv-during-fill', { ...STORED, hold: true });
      const early = send(app, side().path('inv-during-fill'));
      await eventually('the origin got the first GET', () => side().asked('inv-during-fill').length === 1, 10_000);
      assert.equal((await send(app, side().path('inv-during-fill'), { method: 'PUT' })).status, 204);
      const late = send(app, side().path('inv-during-fill'));
      await eventually('the GET after the PUT went to the origin itself', () => side().asked('inv-during-fill').length === 3, 10_000);
      side().release('inv-during-fill');
      assert.equal((await early).text, 'version 1');
      assert.equal((await late).text, 'version 3', 'the GET after the PUT was handed what was read before it');
      const next = await send(app, side().path('inv-during-fill'));
      assert.equal(next.text, 'version 3', 'the reply read before the PUT was stored');
      assert.equal(xcache(next), 'HIT');
    });

    test(`${kind}: a safe method (OPTIONS) answered 2xx invalidates nothing`, { timeout: 20_000 }, async () => {
      side().script('inv-options', { ...STORED, unsafe: { status: 204 } });
      await stored(side().path('inv-options'));
      assert.equal((await send(app, side().path('inv-options'), { method: 'OPTIONS' })).status, 204);
      assert.equal(xcache(await send(app, side().path('inv-options'))), 'HIT');
    });

    test(`${kind}: a POST invalidates its own URL only (the query string is part of it)`, { timeout: 20_000 }, async () => {
      side().script('inv-query', STORED);
      await stored(`${side().path('inv-query')}?page=1`);
      await stored(`${side().path('inv-query')}?page=2`);
      await stored(side().path('inv-query'));
      assert.equal((await send(app, `${side().path('inv-query')}?page=1`, { method: 'POST' })).status, 204);
      assert.equal(xcache(await send(app, `${side().path('inv-query')}?page=1`)), 'MISS');
      assert.equal(xcache(await send(app, `${side().path('inv-query')}?page=2`)), 'HIT');
      assert.equal(xcache(await send(app, side().path('inv-query'))), 'HIT');
    });

    test(`${kind}: the URLs in the reply's Location and Content-Location are invalidated when they are on the same host`, { timeout: 20_000 }, async () => {
      const host = new URL(app.url).host;
      const targets = ['loc-rel', 'loc-abs', 'loc-near', 'cloc-rel', 'cloc-abs', 'loc-foreign', 'loc-query?page=2'];
      for (const t of targets) {
        side().script(t.split('?')[0] as string, STORED);
        await stored(side().path(t));
      }
      // Stored too, and not named by any Location: the query string is part of the URL.
      await stored(side().path('loc-query?page=1'));
      const path = side().path;
      const unsafe: ReadonlyArray<Record<string, string>> = [
        { location: path('loc-rel'), 'content-location': path('cloc-rel') },
        { location: `http://${host}${path('loc-abs')}`, 'content-location': `http://${host}${path('cloc-abs')}` },
        { location: 'loc-near' }, // relative to the request's URL: a sibling
        { location: `http://elsewhere.example${path('loc-foreign')}`, 'content-location': path('loc-query?page=2') },
      ];
      unsafe.forEach((headers, i) => side().script(`collection-${i}`, { unsafe: { status: i === 2 ? 303 : 201, headers } }));
      for (let i = 0; i < unsafe.length; i++) assert.ok((await send(app, path(`collection-${i}`), { method: 'POST' })).status < 400);
      for (const t of targets) {
        const got = await send(app, path(t));
        assert.equal(xcache(got), t === 'loc-foreign' ? 'HIT' : 'MISS', `${t}: ${got.text}`);
      }
      assert.equal(xcache(await send(app, path('loc-query?page=1'))), 'HIT');
    });

    test(`${kind}: an unsafe request answered 4xx or 5xx invalidates nothing`, { timeout: 20_000 }, async () => {
      for (const status of [400, 404, 409, 500, 503]) {
        const name = `inv-failed-${status}`;
        side().script(name, { ...STORED, unsafe: { status, headers: { location: side().path(name) } } });
        await stored(side().path(name));
        assert.equal((await send(app, side().path(name), { method: 'POST' })).status, status);
        const next = await send(app, side().path(name));
        assert.equal(xcache(next), 'HIT', String(status));
        assert.equal(next.text, 'version 1');
      }
    });
  }

  test('a POST to a pool route whose path a cached proxy GET route also matches invalidates that GET', { timeout: 20_000 }, async () => {
    up.script('/inv/things/lamp', STORED);
    await stored('/inv/things/lamp');
    assert.equal((await send(app, '/inv/things/lamp', { method: 'POST' })).status, 204);
    assert.equal(xcache(await send(app, '/inv/things/lamp')), 'MISS');
    assert.deepEqual(actorRuns(dir).filter((r) => r.path === '/inv/things/lamp').map((r) => r.method), ['POST']);
  });

  test('a POST to an uncached (streamed) proxy route whose path a cached actor GET route also matches invalidates that GET', { timeout: 20_000 }, async () => {
    const actor = actorSide(dir, '/inv/stuff');
    actor.script('chair', STORED);
    up.script('/inv/stuff/chair', { unsafe: { status: 201 } });
    await stored('/inv/stuff/chair');
    assert.equal((await send(app, '/inv/stuff/chair', { method: 'POST' })).status, 201);
    assert.equal(xcache(await send(app, '/inv/stuff/chair')), 'MISS');
    assert.deepEqual(up.asked('/inv/stuff/chair').map((a) => a.method), ['POST']);
  });

  test('a POST invalidates a cached route whose key is its own template (rendered for the POST\'s URL)', { timeout: 20_000 }, async () => {
    up.script('/inv/keyed/desk', STORED);
    await stored('/inv/keyed/desk');
    assert.equal((await send(app, '/inv/keyed/desk', { method: 'POST' })).status, 204);
    assert.equal(xcache(await send(app, '/inv/keyed/desk')), 'MISS');
  });
});
