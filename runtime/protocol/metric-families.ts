/**
 * Every metric family actorrt exposes, in one catalog: the children count the `child` families and
 * send them on a scrape (checked against this catalog at the boundary: a family or a label a child
 * makes up is refused), the primary adds the `primary` ones and renders them all with prom-client.
 * Names follow the Prometheus conventions (`_total` counters, base units: `_seconds`, `_bytes`) and,
 * for HTTP, OpenTelemetry's metric name as exported to Prometheus (`http.server.request.duration`
 * -> `http_server_request_duration_seconds`) with its buckets; the labels keep the short names
 * every actorrt family uses (`method`, `route`, `status`, `pool`) rather than OpenTelemetry's
 * attribute names (`http_request_method`, `http_route`, ...), so one query language fits all.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  /** Label names the counting side gives, in the order its series carry their values. */
  readonly labels: readonly string[];
  /** `child`: counted in front workers / pool processes; `primary`: known to the primary itself. */
  readonly source: 'child' | 'primary';
  /** Child families about the process itself: the primary adds `role`, `pool`, `index` and `pid`. */
  readonly perProcess?: boolean;
  /** How values of one series from several processes combine (default: summed). */
  readonly aggregate?: 'sum' | 'min';
}

/** The labels the primary adds to per-process families: `role` is front, pool or primary; `pool` is empty but for pool processes. */
export const PROCESS_LABELS = ['role', 'pool', 'index', 'pid'] as const;

/**
 * Bucket bounds (seconds) of every duration histogram: OpenTelemetry's advice for
 * `http.server.request.duration`, 5 ms to 10 s.
 */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

const child = (name: string, type: MetricType, help: string, labels: readonly string[] = [], more: Partial<MetricFamily> = {}): MetricFamily =>
  ({ name, type, help, labels, source: 'child', ...more });
const processFamily = (name: string, type: MetricType, help: string, labels: readonly string[] = []): MetricFamily =>
  child(name, type, help, labels, { perProcess: true });
const primary = (name: string, type: MetricType, help: string, labels: readonly string[] = []): MetricFamily =>
  ({ name, type, help, labels, source: 'primary' });

export const FAMILIES: readonly MetricFamily[] = [
  // Requests, counted by the front workers when each response is finished.
  child('http_server_request_duration_seconds', 'histogram',
    'Time from a request\'s arrival to the end of its response (OpenTelemetry http.server.request.duration); route is the route pattern, pool or upstream what served it, status 499 when the client left first',
    ['method', 'route', 'status', 'pool']),
  child('actorrt_http_requests_total', 'counter', 'Requests answered, by method, route pattern, status and the pool or upstream that served them', ['method', 'route', 'status', 'pool']),
  child('actorrt_http_open_connections', 'gauge', 'Client connections open on the front workers now'),
  child('actorrt_http_client_errors_total', 'counter', 'Connections answered before a request existed, by status: malformed HTTP (400), the request not received in time (408), headers too large (431)', ['status']),
  // Pools: what the front workers saw of them.
  child('actorrt_pool_rejections_total', 'counter', 'Requests a pool refused because every mailbox was full (503 ACTORRT_E_MAILBOX_FULL)', ['pool']),
  child('actorrt_pool_timeouts_total', 'counter', 'Requests a pool did not answer within the timeout (504 ACTORRT_E_TIMEOUT)', ['pool']),
  // Upstreams of proxy routes.
  child('actorrt_upstream_request_duration_seconds', 'histogram', 'Proxied requests, from their arrival to the last byte of the reply, by upstream (http resource) and the upstream\'s status (0 when no usable reply came)', ['upstream', 'status']),
  child('actorrt_upstream_errors_total', 'counter', 'Proxied requests that got no usable reply from the upstream, by error code', ['upstream', 'code']),
  // Caches, per route and store (RFC 9111 outcomes).
  child('actorrt_cache_lookups_total', 'counter', 'Lookups of cached routes by result: hit, miss, stale (served stale) or bypass (not looked up)', ['store', 'route', 'result']),
  child('actorrt_cache_store_errors_total', 'counter', 'Cache store operations that failed or timed out (each degraded to a miss or a dropped write)', ['store']),
  child('actorrt_cache_entries', 'gauge', 'Entries held by memory stores, over every process', ['store']),
  child('actorrt_cache_size_bytes', 'gauge', 'Bytes held by memory stores, over every process (as counted for maxBytes)', ['store']),
  child('actorrt_cache_store_up', 'gauge', 'Whether the store answers in every process that uses it (1) or not (0)', ['store'], { aggregate: 'min' }),
  // Pool load, as each process counts it.
  child('actorrt_pool_requests_in_flight', 'gauge', 'Requests sent to a pool and not answered yet (queued or running)', ['pool']),
  child('actorrt_pool_mailbox_messages', 'gauge', 'Requests waiting in a pool\'s mailboxes (not running yet)', ['pool']),
  child('actorrt_pool_actors_busy', 'gauge', 'Actors of a pool handling a message now', ['pool']),
  child('actorrt_pool_actors_running', 'gauge', 'Actors of a pool taking messages, over every process', ['pool']),
  // Every process.
  processFamily('actorrt_process_up', 'gauge', 'Whether the process answered this scrape in time (0: its last known values are shown)'),
  processFamily('actorrt_process_cpu_seconds_total', 'counter', 'CPU time (user and system) the process has used'),
  processFamily('actorrt_process_resident_memory_bytes', 'gauge', 'Resident memory of the process'),
  processFamily('actorrt_process_heap_used_bytes', 'gauge', 'V8 heap in use'),
  processFamily('actorrt_process_heap_total_bytes', 'gauge', 'V8 heap allocated'),
  processFamily('actorrt_process_event_loop_lag_p99_seconds', 'gauge', 'Event-loop delay, 99th percentile over the last window of about 5 s'),
  processFamily('actorrt_process_event_loop_lag_max_seconds', 'gauge', 'Event-loop delay, largest over the last window of about 5 s'),
  processFamily('actorrt_process_event_loop_utilization_ratio', 'gauge', 'Share of the last window of about 5 s the event loop was busy (0 to 1)'),
  processFamily('actorrt_process_start_time_seconds', 'gauge', 'When the process started, in seconds since the Unix epoch'),
  // Known to the primary.
  primary('actorrt_info', 'gauge', 'Always 1; the labels carry the actorrt version and the topology file', ['version', 'file']),
  primary('actorrt_pool_size', 'gauge', 'Actors per process a pool is configured with', ['pool']),
  primary('actorrt_pool_processes', 'gauge', 'Processes an isolated pool is configured with (0 for an inline pool, which runs in every front worker)', ['pool']),
  primary('actorrt_pool_processes_running', 'gauge', 'Processes of an isolated pool serving now', ['pool']),
  primary('actorrt_pool_up', 'gauge', 'Whether a pool serves (1) or is starting or given up (0)', ['pool']),
  primary('actorrt_pool_restarts_total', 'counter', 'Restarts of a pool\'s actors (level actor) and of its processes (level process)', ['pool', 'level']),
  primary('actorrt_pool_crashes_total', 'counter', 'Actors of a pool that failed (threw or rejected while handling a message, or failed to start)', ['pool']),
  primary('actorrt_pool_actor_stops_total', 'counter', 'Actors left stopped by their supervision (strategy stop)', ['pool']),
  primary('actorrt_pool_escalations_total', 'counter', 'Failures that exceeded an actor restart intensity and escalated to the process', ['pool']),
  primary('actorrt_pool_give_ups_total', 'counter', 'Times supervision gave a pool up (its routes answer 503 ACTORRT_E_POOL_DOWN until a reload)', ['pool']),
  // Autoscaled pools only (pools.X.autoscale); `unit` is size (actors per front worker), threads (per front worker) or processes.
  primary('actorrt_pool_autoscale_current', 'gauge', 'The size the autoscaler gave the pool, in its unit', ['pool', 'unit']),
  primary('actorrt_pool_autoscale_min', 'gauge', 'The smallest size the autoscaler may choose', ['pool', 'unit']),
  primary('actorrt_pool_autoscale_max', 'gauge', 'The largest size the autoscaler may choose', ['pool', 'unit']),
  primary('actorrt_pool_autoscale_signal', 'gauge', 'The signal per actor over the latest up window (inflight: requests queued or running; utilization: share of time busy, 0 to 1)', ['pool', 'signal']),
  primary('actorrt_pool_autoscale_target', 'gauge', 'The signal per actor the autoscaler holds the pool at', ['pool', 'signal']),
  primary('actorrt_pool_autoscale_pinned', 'gauge', 'Whether actorrt scale pinned the pool\'s size until the next reload (1) or the autoscaler chooses it (0)', ['pool']),
  primary('actorrt_pool_autoscale_changes_total', 'counter', 'Sizes the autoscaler changed, by direction (up, down)', ['pool', 'direction']),
  primary('actorrt_front_workers', 'gauge', 'Front workers serving now'),
  primary('actorrt_front_worker_restarts_total', 'counter', 'Front workers restarted after they died'),
  primary('actorrt_process_replacements_total', 'counter', 'Processes the watchdog replaced: reason unresponsive (event loop blocked) or max_rss (memory past maxRss)', ['role', 'pool', 'reason']),
  primary('actorrt_resource_up', 'gauge', 'Whether a resource is available in every process that opened it (1) or not (0)', ['resource']),
  primary('actorrt_resource_errors_total', 'counter', 'Times a process reported a resource unreachable', ['resource']),
  primary('actorrt_reloads_total', 'counter', 'Reloads, scales and autoscaler changes, by trigger and result (applied, unchanged, refused)', ['trigger', 'result']),
  // The invalidation bus to other instances (only with `bus:`).
  primary('actorrt_bus_up', 'gauge', 'Whether the instance hears the invalidation bus (1) or is cut off from it (0: memory entries older than bus.staleness are misses)'),
  primary('actorrt_bus_peers', 'gauge', 'Other actorrt instances heard on the bus channel within the last 1.5 s'),
  primary('actorrt_bus_invalidations_total', 'counter', 'Invalidations published to peer instances (direction sent) and applied from them (received)', ['direction']),
  primary('actorrt_bus_ack_timeouts_total', 'counter', 'Invalidations some peer instance did not acknowledge within bus.timeout (the write was answered anyway)'),
  primary('actorrt_bus_flushes_total', 'counter', 'Times the instance flushed every memory store on getting the bus back (including its first connection)'),
  primary('actorrt_bus_queued', 'gauge', 'Invalidations written while cut off, waiting to be published'),
  primary('actorrt_bus_round_trip_seconds', 'histogram', 'From publishing an invalidation to the last peer\'s acknowledgement (invalidations with at least one peer)'),
  primary('actorrt_scrape_duration_seconds', 'gauge', 'How long the previous collection from every process took'),
];

export const FAMILY_BY_NAME: ReadonlyMap<string, MetricFamily> = new Map(FAMILIES.map((f) => [f.name, f]));
