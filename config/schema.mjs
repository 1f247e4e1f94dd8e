// Generates config/schema.json, config/schema-validator.cjs and the "Reference: every key" section of
// docs/topology.md (run: node config/schema.mjs; `--check` only compares). Kept as code so that shared
// fragments (durations, sizes, names) are written once; the JSON file is what ships and what
// editors read.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { renderReference, spliceReference } from './reference.mjs';

const duration = (def, description, extra = {}) => ({ $ref: '#/definitions/duration', ...(def === undefined ? {} : { default: def }), ...(description ? { description } : {}), ...extra });
const size = (def, description, extra = {}) => ({ $ref: '#/definitions/size', ...(def === undefined ? {} : { default: def }), ...(description ? { description } : {}), ...extra });
const int = (min, def, description, max, extra = {}) => ({ type: 'integer', minimum: min, ...(max === undefined ? {} : { maximum: max }), ...(def === undefined ? {} : { default: def }), ...(description ? { description } : {}), ...extra });
const str = (description, extra = {}) => ({ type: 'string', minLength: 1, description, ...extra });
const obj = (properties, extra = {}) => ({ type: 'object', additionalProperties: false, properties, ...extra });
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

const resourceCommon = {
  startup: obj({
    retries: int(0, 3, 'connection attempts at start-up before the process gives up'),
    delay: duration('500ms', 'pause between start-up attempts'),
  }, { default: {}, description: 'how hard to try when the resource is not reachable at start-up' }),
};

const schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://actorrt.dev/schema/v1.json',
  title: 'actorrt topology (version 1)',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'routes'],
  // Compose-style extension keys: blocks shared through anchors and merge keys, ignored otherwise.
  patternProperties: { '^x-': { description: 'ignored by actorrt: a place for blocks shared with &anchors and <<: *merge keys', examples: [{ size: 4, timeout: '5s' }] } },
  properties: {
    $schema: { type: 'string', description: 'editor hint; ignored by actorrt', examples: ['./node_modules/actorrt/config/schema.json'] },
    version: { const: 1, description: 'topology format version; always 1', examples: [1] },
    http: obj({
      port: int(0, 8080, 'TCP port; 0 picks a free one', 65535),
      host: str('address to listen on', { default: '0.0.0.0' }),
      workers: { oneOf: [{ type: 'integer', minimum: 1, maximum: 256 }, { const: 'auto' }], default: 'auto', description: 'front worker processes; auto = the CPUs this instance may use (CPU affinity, capped by a container\'s CPU quota)' },
      limits: obj({
        bodyBytes: size('1mb', 'largest request body accepted (413 past it)'),
        headersTimeout: duration('10s', 'time allowed to receive the request headers'),
        requestTimeout: duration('30s', 'time allowed to receive the whole request'),
        keepAliveTimeout: duration('5s', 'idle keep-alive connection lifetime'),
        maxConnections: int(1, 10000, 'open connections per front worker'),
      }, { default: {}, description: 'bounds on what one client may send and hold' }),
      shutdownTimeout: duration('10s', 'how long a graceful stop waits for in-flight requests'),
      shutdownDelay: {
        oneOf: [{ $ref: '#/definitions/duration' }, { const: 'auto' }],
        default: 'auto',
        description: 'on a stop (SIGTERM, SIGINT, actorrt stop), how long to keep serving as before, new connections included, with /readyz answering 503, '
          + 'before the drain (http.shutdownTimeout counts from its end; idle keep-alive connections are then left to their timeout, never closed under a request): the time a load balancer takes to stop sending here. '
          + 'Milliseconds, or 250ms / 5s; auto = 5s when KUBERNETES_SERVICE_HOST is set (in a Kubernetes pod), else 0 (stop at once)',
      },
      balanceConnections: { type: 'boolean', default: true, description: 'spread connections over the front workers: a worker that accepts one past its share (open connections / workers, plus a quarter) while another holds 2 fewer hands it, unread, through the primary to the worker holding fewest, so a burst of keep-alive connections (a load balancer\'s pool) does not land on one worker. Costs ~40-100 us of CPU per connection handed off: turn off for clients that open one connection per request (Connection: close measured 0.85x req/s with it on)' },
      watchdog: duration('10s', 'a front worker whose event loop has not answered for this long (an actor blocking it) is killed and replaced; 0 = off'),
      maxRss: size(undefined, 'a front worker whose resident memory grows past this is replaced gracefully, new before old; at least 128mb; absent = never', { examples: ['512mb'] }),
      supervision: obj({
        maxRestarts: int(0, 5, 'front workers that fail to start, in a row, before the instance gives up (exit 1); a worker that served and then died is always restarted'),
        within: duration('30s', 'restarts within this window make the backoff grow; a worker healthy this long resets it'),
        backoff: obj({ min: duration('200ms', 'delay before the second restart in a window (the first is immediate)'), max: duration('10s', 'longest delay between restarts') },
          { default: {}, description: 'delay between restarts of front workers' }),
      }, { default: {}, description: 'how front workers are restarted when they die (the OOM killer, an operator, a crash)' }),
      health: obj({
        live: str('liveness path answered by the front actor', { pattern: '^/', default: '/healthz' }),
        ready: str('readiness path answered by the front actor', { pattern: '^/', default: '/readyz' }),
      }, { default: {}, description: 'health paths answered before routing (for load balancers and orchestrators)' }),
      trustProxy: {
        oneOf: [
          { type: 'boolean' },
          { type: 'integer', minimum: 0 },
          str('an address, a CIDR or a preset (loopback, linklocal, uniquelocal)'),
          { type: 'array', items: str('an address, a CIDR (10.0.0.0/8, fd00::/8) or a preset: loopback, linklocal, uniquelocal') },
        ],
        default: false,
        description: 'peers whose X-Forwarded-For / -Proto / -Host are believed (load balancers, reverse proxies): false = nobody; '
          + 'a list of addresses, CIDRs and presets (loopback, linklocal, uniquelocal); an integer = that many nearest hops; '
          + 'true = every hop (only when nothing can reach actorrt except through the proxy: anyone else could claim any client address)',
      },
      metricsPath: str('also answer GET <path> on http.port with the instance\'s metrics (Prometheus text): reachable by every client of the service, so only behind a proxy that hides it; absent = only on admin.metrics', { pattern: '^/[^\\s?#]*$', examples: ['/metrics'] }),
      accessLog: {
        oneOf: [
          { type: 'boolean' },
          obj({ userAgent: { type: 'boolean', description: 'add the User-Agent header to each line (default false)', examples: [true] } }),
        ],
        default: false,
        description: 'one JSON line per request on stderr (event "access": method, route, path, status, durationMs, bytes, requestId, client, traceId), '
          + 'written once the response is sent or the client left; true, or { userAgent: true } to add the user agent; changes live on reload',
      },
    }, { default: {}, description: 'the HTTP side: port, front workers, limits, health paths' }),
    admin: obj({
      metrics: {
        oneOf: [
          str('host:port of the listener serving GET /metrics (Prometheus text, OpenMetrics when asked): 127.0.0.1:9464, [::1]:9464, 0.0.0.0:9464; port 0 picks a free one',
            { examples: ['127.0.0.1:9464', '[::1]:9464', '0.0.0.0:0'], pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[^\\s:\\[\\]]+):([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$' }),
          { const: false, description: 'no metrics listener (requests are not counted unless http.metricsPath is set)' },
        ],
        default: '127.0.0.1:9464',
        description: 'where the instance\'s metrics are served: a listener apart from the service, on loopback by default so it is never public by accident',
      },
    }, { default: {}, description: 'operator endpoints, apart from the service' }),
    bus: obj({
      redis: { $ref: '#/definitions/name', description: 'the redis resource that carries the bus (PUBLISH / SUBSCRIBE); may be left out when the topology declares one redis resource', examples: ['cache'] },
      channel: str('the pub/sub channel: instances on the same channel are peers and drop each other\'s invalidated keys; give each service its own when several share one Redis', { default: 'actorrt', pattern: '^[^\\s]+$' }),
      timeout: duration('500ms', 'how long a write (a route invalidate:, ctx.caches delete) waits for every peer instance to confirm; a peer that does not is logged and counted, and the reply goes out; at most 2s'),
      staleness: duration('5s', 'while this instance is cut off from the bus, memory entries stored longer ago than this are misses (they may have missed an invalidation); on reconnect every memory store is flushed'),
    }, { description: 'invalidation of memory caches across instances (several actorrt instances behind a load balancer): through Redis pub/sub, acknowledged by every peer before the mutating request is answered; peers find each other through Redis alone; absent = invalidations reach this instance\'s own processes only', examples: [{ redis: 'cache', channel: 'shop' }] }),
    resources: {
      type: 'object',
      default: {},
      description: 'connections opened once per process and shared by its actors (ctx.resources), by name',
      examples: [{ db: { type: 'sqlite', file: './data/app.db' }, users: { type: 'http', origins: ['http://10.0.0.5:9000'] } }],
      propertyNames: { $ref: '#/definitions/name' },
      additionalProperties: {
        type: 'object',
        required: ['type'],
        properties: { type: { type: 'string', description: 'sqlite, postgres, redis or http', examples: ['postgres'] } },
        discriminator: { propertyName: 'type' },
        oneOf: [
          obj({
            type: { const: 'sqlite', description: 'a SQLite database file, opened by every process that uses it', examples: ['sqlite'] },
            file: str('database file, relative to the topology file', { examples: ['./data/app.db', ':memory:'] }),
            readonly: { type: 'boolean', default: false, description: 'open the file read-only' },
            wal: { type: 'boolean', default: true, description: 'journal_mode=WAL' },
            init: str('SQL file run once at start-up (idempotent statements)', { examples: ['./schema.sql'] }),
            ...resourceCommon,
          }, { required: ['type', 'file'] }),
          obj({
            type: { const: 'postgres', description: 'a PostgreSQL connection pool in every process that uses it', examples: ['postgres'] },
            url: str('postgres://user:password@host:port/database', { pattern: '^postgres(ql)?://', examples: ['postgres://app:${env:PG_PASSWORD}@db:5432/app'] }),
            host: str('server host', { examples: ['db.internal'] }),
            port: int(1, undefined, 'server port', 65535, { examples: [5432] }),
            user: str('user name', { examples: ['app'] }),
            password: { type: 'string', description: 'password (use ${env:NAME}; redacted in logs and status)', examples: ['${env:PG_PASSWORD}'] },
            database: str('database name', { examples: ['app'] }),
            max: int(1, 10, 'connections per process'),
            idleTimeout: duration('10s', 'close a connection idle this long'),
            statementTimeout: duration(undefined, 'server-side statement timeout', { examples: ['5s'] }),
            connectTimeout: duration('5s', 'time allowed to connect'),
            ...resourceCommon,
          }, { required: ['type'] }),
          obj({
            type: { const: 'redis', description: 'a Redis client in every process that uses it (redis caches, the bus, ctx.resources)', examples: ['redis'] },
            url: str('redis://host:port/db', { default: 'redis://127.0.0.1:6379', pattern: '^rediss?://' }),
            keyPrefix: { type: 'string', description: 'put before every key actorrt stores through this resource (redis caches); keys actors use with the raw client are theirs', examples: ['shop:'] },
            connectTimeout: duration('5s', 'time allowed to connect'),
            ...resourceCommon,
          }, { required: ['type'] }),
          obj({
            type: { const: 'http', description: 'an upstream HTTP service (proxy routes, ctx.resources): connections to each origin from every process that uses it', examples: ['http'] },
            origins: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', pattern: '^https?://[^/@]+/?$' }, description: 'upstream origins; several are balanced', examples: [['http://10.0.0.5:9000', 'http://10.0.0.6:9000']] },
            connections: int(1, 64, 'connections per origin, per process'),
            pipelining: int(0, 1, 'requests pipelined per connection'),
            keepAliveTimeout: duration('4s', 'how long an idle upstream connection is kept'),
            headersTimeout: duration('30s', 'time the upstream has to send its reply headers (504 past it); a route timeout overrides it'),
            bodyTimeout: duration('30s', 'longest pause while the upstream sends its body'),
            retries: int(0, 2, 'retries of idempotent requests'),
            healthCheck: obj({ path: str('path probed on each origin', { pattern: '^/', examples: ['/healthz'] }), interval: duration('5s', 'time between probes') },
              { required: ['path'], description: 'probe each origin; a failing one is taken out of the balancer until it answers again', examples: [{ path: '/healthz', interval: '10s' }] }),
            ...resourceCommon,
          }, { required: ['type', 'origins'] }),
        ],
      },
    },
    caches: {
      type: 'object',
      default: {},
      description: 'cache stores by name, used by route cache: policies and ctx.caches',
      examples: [{ pages: { store: 'memory', maxEntries: 5000 }, shared: { store: 'redis', resource: 'cache' } }],
      propertyNames: { $ref: '#/definitions/name' },
      additionalProperties: {
        type: 'object',
        required: ['store'],
        properties: { store: { type: 'string', description: 'memory (an LRU in each process) or redis (shared by every process and machine)', examples: ['memory'] } },
        discriminator: { propertyName: 'store' },
        oneOf: [
          obj({
            store: { const: 'memory', description: 'an LRU inside each process: fastest, not shared between processes', examples: ['memory'] },
            maxEntries: int(1, 10000, 'entries kept per process; the least recently used go first'),
            maxBytes: size(undefined, 'bound on the bytes kept per process (keys and values); absent = bounded by maxEntries only', { examples: ['64mb'] }),
            ttl: duration('30s', 'how long an entry stays fresh unless the route sets its own ttl'),
            timeout: duration('50ms', 'deadline of one store operation'),
          }, { required: ['store'] }),
          obj({
            store: { const: 'redis', description: 'shared by every process and machine using the same Redis and namespace', examples: ['redis'] },
            resource: str('the redis resource the store connects with (its url and connectTimeout)', { examples: ['cache'] }),
            namespace: str('prefix of every key in Redis (<namespace>:<key>); defaults to actorrt:<cache name>', { examples: ['shop'] }),
            ttl: duration('5m', 'how long an entry stays fresh unless the route sets its own ttl'),
            timeout: duration('50ms', 'deadline of one Redis operation; past it the request goes on as a miss'),
          }, { required: ['store', 'resource'] }),
        ],
      },
    },
    pools: {
      type: 'object',
      default: {},
      description: 'actor pools by name: which actor module, how many actors, in which processes',
      examples: [{ api: { actor: './actors/api.ts', size: 4, resources: ['db'] } }],
      propertyNames: { $ref: '#/definitions/name' },
      additionalProperties: obj({
        actor: str('actor module (.ts, .js, .mjs), relative to the topology file', { examples: ['./actors/api.ts'] }),
        size: int(1, 1, 'actors per process', 4096),
        processes: int(1, undefined, 'own OS processes for this pool; absent = inside every front worker (one of processes or threads)', 256, { examples: [2] }),
        threads: int(1, undefined, 'worker threads for this pool inside every front worker, each running size actors: CPU work off the front\'s event loop without a socket hop (one of processes or threads)', 256, { examples: [4] }),
        maxHeap: size(undefined, 'thread pools: old-generation heap bound of each thread (worker_threads resourceLimits); a thread past it fails its own requests (503) and is replaced; at least 16mb; absent = Node\'s default', { examples: ['256mb'] }),
        resources: { type: 'array', uniqueItems: true, items: { $ref: '#/definitions/name' }, default: [], description: 'resources this pool\'s actors get on ctx.resources', examples: [['db', 'cache']] },
        mailbox: obj({
          capacity: int(1, 1000, 'messages queued per actor'),
          overflow: { enum: ['reject'], default: 'reject', description: 'reject = 503 with Retry-After' },
        }, { default: {}, description: 'each actor\'s queue of waiting messages' }),
        timeout: duration('10s', 'reply deadline (504 past it); a route may override'),
        drainTimeout: duration('30s', 'how long a shrinking pool lets mailboxes drain'),
        watchdog: duration(undefined, 'isolated and thread pools: a process or thread whose event loop has not answered for this long is killed and replaced; 0 = off; absent = http.watchdog', { examples: ['30s'] }),
        maxRss: size(undefined, 'isolated pools: a process whose resident memory grows past this is replaced gracefully, new before old; at least 128mb; absent = never', { examples: ['1gb'] }),
        autoscale: obj({
          min: int(1, 1, 'smallest size the scaler may choose (actors per front worker for an inline pool, threads per front worker for a thread pool, processes for an isolated pool)', 4096),
          max: int(1, undefined, 'largest size the scaler may choose; absent = 64 for an inline pool, the usable CPUs for a thread or isolated pool', 4096, { examples: [16] }),
          signal: { enum: ['inflight', 'utilization'], description: 'what the scaler holds at target: inflight = requests queued or running per actor (I/O-bound pools; the default for inline pools), utilization = share of time actors handle a message, 0 to 1 (CPU-bound pools; the default for thread and isolated pools)', examples: ['utilization'] },
          target: { type: 'number', exclusiveMinimum: 0, maximum: 1000, description: 'the signal\'s value per actor to hold; absent = 1 for inflight, 0.7 for utilization', examples: [0.8, 4] },
          tolerance: { type: 'number', minimum: 0, maximum: 0.9, default: 0.1, description: 'no change while the signal is within this share of the target (0.1 = 10 %, as Kubernetes\' HPA)' },
          interval: duration('1s', 'how often the load is sampled (at least 100ms)'),
          up: obj({
            window: duration('5s', 'the signal must call for more for this long (every sample of it, taken at the current size) before the pool grows; at least interval'),
            step: { $ref: '#/definitions/step', default: '300%', description: 'most the pool grows by in one change: a number of units or a percentage of the current size (300% = up to 4x)' },
          }, { default: {}, description: 'how fast the pool grows' }),
          down: obj({
            window: duration('60s', 'the signal must call for less for this long (the largest size it called for in the window is kept) before the pool shrinks; at least interval'),
            step: { $ref: '#/definitions/step', default: '100%', description: 'most the pool shrinks by in one change: a number of units or a percentage of the current size' },
          }, { default: {}, description: 'how fast the pool shrinks' }),
        }, { description: 'let the runtime choose the pool\'s size (size for an inline pool, threads or processes) from the load it sees, between min and max; absent = the size stays what the file or actorrt scale says (docs/autoscaling.md)', examples: [{ min: 1, max: 16 }, { max: 8, signal: 'utilization', target: 0.8 }] }),
        supervision: obj({
          strategy: { enum: ['one-for-one', 'one-for-all', 'stop', 'escalate'], default: 'one-for-one', description: 'after a crash: restart that actor, restart every actor of the pool, stop it, or escalate to the process' },
          maxRestarts: int(0, 3, 'restarts allowed within the window before escalating'),
          within: duration('5s', 'restart intensity window'),
          backoff: obj({ min: duration('100ms', 'delay before the first restart'), max: duration('5s', 'longest delay between restarts (it doubles up to this)') },
            { default: {}, description: 'delay between restarts' }),
        }, { default: {}, description: 'what happens when an actor crashes, and how often before giving up' }),
      }, { required: ['actor'] }),
    },
    routes: {
      type: 'array',
      minItems: 1,
      description: 'which requests go where, tried in order; the most specific path wins',
      examples: [[{ match: { method: 'GET', path: '/users/:id' }, pool: 'api' }, { match: { path: '/search/*' }, proxy: 'search', stripPrefix: '/search' }]],
      items: obj({
        match: obj({
          method: { oneOf: [{ $ref: '#/definitions/method' }, { type: 'array', minItems: 1, uniqueItems: true, items: { $ref: '#/definitions/method' } }], description: 'one method or a list; absent = every method (GET also answers HEAD)', examples: ['GET', ['PUT', 'PATCH']] },
          path: str('path pattern: /users/:id, /files/*', { pattern: '^/', examples: ['/users/:id', '/files/*'] }),
          header: { type: 'object', additionalProperties: { type: 'string' }, description: 'header conditions; values may use * globs', examples: [{ 'Content-Type': 'application/json*' }] },
          query: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] }, description: 'query parameter conditions; values may use * globs', examples: [{ v: 2, format: 'csv' }] },
          body: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] }, description: 'top-level JSON body field conditions', examples: [{ type: 'order' }] },
        }, { required: ['path'], description: 'what a request must look like to take this route', examples: [{ method: 'GET', path: '/users/:id' }] }),
        pool: { $ref: '#/definitions/name', description: 'the pool whose actors answer (one of pool or proxy)', examples: ['api'] },
        proxy: { $ref: '#/definitions/name', description: 'the http resource requests are forwarded to (one of pool or proxy)', examples: ['search'] },
        timeout: duration(undefined, 'overrides the pool timeout', { examples: ['2s'] }),
        stripPrefix: str('proxy: remove this prefix before forwarding', { pattern: '^/', examples: ['/search'] }),
        rewrite: str('proxy: forward to this path (may use :params)', { pattern: '^/', examples: ['/v2/users/:id'] }),
        cache: obj({
          use: { $ref: '#/definitions/name', description: 'the cache (under caches:) that stores this route\'s replies; may be left out when the topology declares one cache', examples: ['pages'] },
          key: str('key template: text with {params.x}, {query.x}, {header.x}, {body.x}, {method}, {path}, {url}; e.g. user:{params.id}. Default {method}:{url}, the request method and target (path and query), as RFC 9111 section 2 keys', { default: '{method}:{url}' }),
          freshness: { enum: ['origin', 'route'], default: 'origin', description: 'origin: the reply\'s Cache-Control / Expires / Surrogate-Control decide how long it is fresh, ttl only where the reply says nothing (RFC 9111); route: ttl for every storable reply, the reply\'s freshness ignored (no-store, private and Authorization are still obeyed)' },
          ttl: duration(undefined, 'lifetime of a reply that states none (freshness: origin) or of every reply (freshness: route); defaults to the cache\'s ttl on pool routes and to none (0) on proxy routes', { examples: ['60s'] }),
          staleWhileRevalidate: duration(0, 'past ttl, serve the stale reply at once for this long and refresh it once in the background'),
          staleIfError: duration(0, 'past ttl, serve the stale reply for this long when the actor or upstream fails (5xx, error, timeout)'),
          vary: { type: 'array', uniqueItems: true, items: str('request header name'), default: [], description: 'request headers whose values are part of the key (and listed in the Vary reply header)', examples: [['Accept-Language']] },
          statuses: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'integer', minimum: 200, maximum: 599 }, default: [200], description: 'statuses the route\'s ttl applies to; a reply that states its own lifetime is stored whatever its status (RFC 9111 section 3)' },
          allowNoCache: { type: 'boolean', default: false, description: 'let a request\'s Cache-Control: no-cache skip the lookup (X-Cache: BYPASS); off so that clients cannot push load past the cache' },
        }, { description: 'store GET/HEAD replies of this route and answer repeats from the store, as a shared cache (RFC 9111)', examples: [{ use: 'pages', key: 'user:{params.id}', ttl: '60s' }] }),
        invalidate: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, description: 'keys to remove from every cache after a successful (< 400) reply, written as cache key templates (user:{params.id}); a trailing * removes every key with that prefix, e.g. users:*', examples: [['user:{params.id}', 'users:*']] },
      }, { required: ['match'] }),
    },
  },
  definitions: {
    name: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_-]{0,62}$' },
    method: { enum: METHODS },
    duration: { type: ['number', 'string'], minimum: 0, pattern: '^\\d+(\\.\\d+)?\\s*(ms|s|m|h)$', description: 'milliseconds, or 250ms / 10s / 5m / 1h' },
    size: { type: ['integer', 'string'], minimum: 0, pattern: '^\\d+(\\.\\d+)?\\s*([bB]|[kK][bB]|[mM][bB]|[gG][bB])$', description: 'bytes, or 512kb / 1mb' },
    step: { type: ['integer', 'string'], minimum: 1, pattern: '^\\d+(\\.\\d+)?%$', description: 'a number of units (2), or a percentage of the current size (50%)' },
  },
};

const target = new URL('./schema.json', import.meta.url);
const text = `${JSON.stringify(schema, null, 2)}\n`;
const validatorTarget = new URL('./schema-validator.cjs', import.meta.url);
const validatorText = standaloneValidator(text);
// docs/topology.md's "Reference: every key" section (config/reference.mjs), from the schema as shipped.
const docsTarget = new URL('../docs/topology.md', import.meta.url);
const docsBefore = readFileSync(docsTarget, 'utf8');
const docsText = spliceReference(docsBefore, renderReference(JSON.parse(text)));
if (process.argv.includes('--check')) {
  if (readFileSync(target, 'utf8') !== text) {
    process.stderr.write('config/schema.json is out of date: run `node config/schema.mjs` and commit it\n');
    process.exitCode = 1;
  }
  if (!existsSync(validatorTarget) || readFileSync(validatorTarget, 'utf8') !== validatorText) {
    process.stderr.write('config/schema-validator.cjs is out of date: run `node config/schema.mjs` and commit it\n');
    process.exitCode = 1;
  }
  if (docsBefore !== docsText) {
    process.stderr.write('docs/topology.md\'s generated reference is out of date: run `node config/schema.mjs` and commit it\n');
    process.exitCode = 1;
  }
} else {
  writeFileSync(target, text);
  writeFileSync(validatorTarget, validatorText);
  if (docsBefore !== docsText) writeFileSync(docsTarget, docsText);
}

/**
 * The schema's validator as code (ajv standalone), so that no process compiles it at start-up:
 * measured, ajv.compile of this schema took 150-260 ms of the primary's start (before any worker
 * is forked), loading the compiled module ~8 ms. It names the hash of the schema.json text it was
 * made from; config/validate.ts compiles the schema instead when they differ (an edited schema
 * not regenerated yet). The options are config/validate.ts's AJV_OPTIONS.
 */
function standaloneValidator(schemaText) {
  const require = createRequire(import.meta.url);
  const { Ajv } = require('ajv');
  const standaloneCode = require('ajv/dist/standalone').default;
  const ajv = new Ajv({ allErrors: true, useDefaults: true, discriminator: true, verbose: true, strict: true, allowUnionTypes: true, code: { source: true } });
  const code = standaloneCode(ajv, ajv.compile(JSON.parse(schemaText)));
  const hash = createHash('sha256').update(schemaText).digest('hex');
  return `// Generated by config/schema.mjs from config/schema.json: do not edit.\n${code}\nmodule.exports.schemaHash = ${JSON.stringify(hash)};\n`;
}
