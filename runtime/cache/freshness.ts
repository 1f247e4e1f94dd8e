import { ageSeconds, deltaSeconds, httpDate, parseDirectives, surrogateDirectives, type Directives, type FieldValue } from './cache-control.js';

/**
 * How fresh a stored reply is and for how long it may be served stale: RFC 9111 section 4.2
 * (freshness lifetime, age) and section 4.2.4 / RFC 5861 (serving stale). Pure: every clock
 * reading is an argument.
 */

/** A route's own freshness settings (all in ms), combined with what the reply says. */
export interface FreshnessRules {
  /**
   * Lifetime of a reply that states none (no s-maxage / max-age / Expires / Surrogate-Control
   * max-age), for the statuses in `statuses` only: the route's `ttl`. 0 = such replies are not
   * fresh (they are stored only to be revalidated, when they carry a validator).
   */
  readonly ttl: number;
  /** With `freshness: route`: `ttl` is the lifetime of every storable reply, whatever it says about freshness. */
  readonly override: boolean;
  /** Statuses `ttl` applies to. */
  readonly statuses: readonly number[];
  /** Stale windows of a reply that states none (RFC 5861 directives in the reply come first). */
  readonly staleWhileRevalidate: number;
  readonly staleIfError: number;
}

/** What a stored reply carries about its freshness. */
export interface FreshnessState {
  /** Epoch ms at which the reply stops being fresh (response_time + lifetime - corrected_initial_age). */
  readonly freshUntil: number;
  /** corrected_initial_age in ms (section 4.2.3); Number.MAX_SAFE_INTEGER when the Age field could not be trusted. */
  readonly initialAge: number;
  /** Past freshUntil, how long (ms) it may be served at once while it is refreshed; 0 = never. */
  readonly staleWhileRevalidate: number;
  /** Past freshUntil, how long (ms) it may be served when the refresh fails; 0 = never. */
  readonly staleIfError: number;
  /** Every use must be validated with the origin first (the no-cache response directive, section 5.2.2.4). */
  readonly noCache: boolean;
}

/** The freshness of a reply and whether it came from the reply itself. */
export interface Lifetime extends FreshnessState {
  /** The reply stated its lifetime (s-maxage, max-age, Expires, Surrogate-Control), so `ttl` was not used. */
  readonly explicit: boolean;
  /** Whether `ttl` applied (the status is listed): false means an unstated lifetime is 0. */
  readonly fallback: boolean;
}

/** A value this large stands for "older than anything": stale from the start, and it survives JSON (Infinity does not). */
export const UNTRUSTED_AGE = Number.MAX_SAFE_INTEGER;

/**
 * The freshness of a reply received at `responseTime` for a request sent at `requestTime` (ms).
 * Lifetime, in order (section 4.2.1, shared cache): Surrogate-Control max-age, s-maxage,
 * max-age, Expires minus Date; an invalid value of the first one present is a lifetime of 0.
 * Otherwise the route's `ttl` for listed statuses. Age: section 4.2.3's corrected initial age.
 */
export function lifetimeOf(status: number, headers: Readonly<Record<string, FieldValue>>, rules: FreshnessRules,
  requestTime: number, responseTime: number): Lifetime {
  const sc = surrogateDirectives(headers['surrogate-control']);
  // Surrogate-Control addressed to this cache takes precedence over Cache-Control (Edge Architecture 1.0, section 2.2).
  const cc = sc.size > 0 ? sc : parseDirectives(headers['cache-control']);
  const date = httpDate(headers['date']) ?? responseTime;
  const ageValue = ageSeconds(headers['age']);
  const apparentAge = Math.max(0, responseTime - date);
  const correctedAge = ageValue === Infinity ? UNTRUSTED_AGE : ageValue * 1000 + (responseTime - requestTime);
  const initialAge = Math.min(UNTRUSTED_AGE, Math.max(apparentAge, correctedAge));

  const listed = rules.statuses.includes(status);
  let lifetime: number | undefined;
  let explicit = false;
  if (rules.override) {
    lifetime = listed ? rules.ttl : 0;
  } else {
    const stated = statedLifetime(cc, sc, headers['expires'], date);
    explicit = stated !== undefined;
    lifetime = stated ?? (listed ? rules.ttl : 0);
  }
  // Stale serving is prohibited by these (section 4.2.4); a route that overrides the origin decides alone.
  const mayServeStale = rules.override || !(cc.has('must-revalidate') || cc.has('proxy-revalidate') || cc.has('no-cache') || cc.has('s-maxage'));
  const windowOf = (name: string, route: number): number => {
    if (!mayServeStale) return 0;
    const stated = rules.override ? undefined : deltaSeconds(cc.get(name));
    return stated === undefined ? route : stated * 1000;
  };
  return {
    freshUntil: responseTime + lifetime - initialAge,
    initialAge,
    staleWhileRevalidate: windowOf('stale-while-revalidate', rules.staleWhileRevalidate),
    staleIfError: windowOf('stale-if-error', rules.staleIfError),
    noCache: !rules.override && cc.has('no-cache'),
    explicit,
    fallback: listed,
  };
}

/** The lifetime (ms) the reply states, or undefined when it states none. */
function statedLifetime(cc: Directives, sc: Directives, expires: FieldValue, date: number): number | undefined {
  for (const directive of [sc.get('max-age'), cc.get('s-maxage'), cc.get('max-age')]) {
    if (directive === undefined) continue;
    return (deltaSeconds(directive) ?? 0) * 1000;
  }
  if (expires === undefined) return undefined;
  // An invalid Expires ("0") means already expired (section 5.3).
  const at = httpDate(expires);
  return at === undefined ? 0 : Math.max(0, at - date);
}

/** Where an entry stands: fresh; revalidate (serve stale, refresh in the background); stale-if-error (only if a refresh fails); expired. */
export type EntryState = 'fresh' | 'revalidate' | 'stale-if-error' | 'expired';

/** The state of an entry at `now` (ms). An entry that must be validated on every use is never fresh. */
export function entryState(entry: FreshnessState, now: number): EntryState {
  if (now < entry.freshUntil) return entry.noCache ? 'expired' : 'fresh';
  const late = now - entry.freshUntil;
  if (late < entry.staleWhileRevalidate) return 'revalidate';
  if (late < entry.staleIfError) return 'stale-if-error';
  return 'expired';
}

/** The Age to send (section 5.1): whole seconds, the corrected initial age plus the time the entry has been stored. */
export function currentAge(entry: Pick<FreshnessState, 'initialAge'> & { readonly storedAt: number }, now: number): number {
  return Math.max(0, Math.floor((entry.initialAge + Math.max(0, now - entry.storedAt)) / 1000));
}

/** Request directives a route honours when it allows clients to ask (`allowNoCache`): RFC 9111 section 5.2.1. */
export interface RequestDirectives {
  /** no-cache, Pragma: no-cache, max-age=0: validate before using a stored reply. */
  readonly revalidate: boolean;
  /** max-age=N (ms): use only a reply at most this old. */
  readonly maxAge?: number;
  /** min-fresh=N (ms): use only a reply fresh for at least this much longer. */
  readonly minFresh?: number;
  /** only-if-cached: answer 504 rather than contact the origin. */
  readonly onlyIfCached: boolean;
}

const NO_DIRECTIVES: RequestDirectives = { revalidate: false, onlyIfCached: false };

/** The request's cache directives (section 5.2.1; Pragma: no-cache when Cache-Control is absent, section 5.4). */
export function requestDirectives(headers: Readonly<Record<string, FieldValue>>): RequestDirectives {
  const value = headers['cache-control'];
  if (value === undefined) {
    const pragma = headers['pragma'];
    return pragma !== undefined && /(?:^|[\s,])no-cache(?:$|[\s,])/i.test(typeof pragma === 'string' ? pragma : pragma.join(',')) ? { revalidate: true, onlyIfCached: false } : NO_DIRECTIVES;
  }
  const cc = parseDirectives(value);
  const maxAge = cc.has('max-age') ? (deltaSeconds(cc.get('max-age')) ?? 0) * 1000 : undefined;
  const minFresh = cc.has('min-fresh') ? (deltaSeconds(cc.get('min-fresh')) ?? 0) * 1000 : undefined;
  return {
    revalidate: cc.has('no-cache') || maxAge === 0,
    ...(maxAge === undefined ? {} : { maxAge }),
    ...(minFresh === undefined ? {} : { minFresh }),
    onlyIfCached: cc.has('only-if-cached'),
  };
}

/** Whether the request's own limits (max-age, min-fresh) accept an entry that is fresh by its own. */
export function requestAccepts(directives: RequestDirectives, entry: FreshnessState & { readonly storedAt: number }, now: number): boolean {
  if (directives.revalidate) return false;
  if (directives.maxAge !== undefined && entry.initialAge + (now - entry.storedAt) > directives.maxAge) return false;
  if (directives.minFresh !== undefined && entry.freshUntil - now < directives.minFresh) return false;
  return true;
}
