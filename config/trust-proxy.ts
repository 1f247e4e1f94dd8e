import { whenUsed } from '../runtime/when-used.js';
import { LRUCache } from 'lru-cache';

/**
 * proxy-addr (CommonJS), required the first time a list of addresses is compiled or checked: most
 * topologies have none, and importing it cost the primary and every front worker 7-17 ms of CPU
 * at start-up (measured, docs/benchmarks.md cold-start).
 */
const proxyaddr = whenUsed<typeof import('proxy-addr')>('proxy-addr');

/**
 * `http.trustProxy`, the peers whose X-Forwarded-For / -Proto / -Host are believed:
 * - `false`: nobody (the default);
 * - `true`: every hop, so the left-most X-Forwarded-For entry is the client (anyone who can reach
 *   the port directly can claim any address and protocol);
 * - an integer n: the n nearest hops, whatever their addresses (0 = nobody);
 * - a list of addresses, CIDRs (IPv4 and IPv6; `10.0.0.0/8`, `fd00::/8`, also `10.0.0.0/255.0.0.0`)
 *   and the presets `loopback` (127.0.0.1/8, ::1/128), `linklocal` (169.254.0.0/16, fe80::/10) and
 *   `uniquelocal` (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7).
 * The same forms and meaning as Express's `trust proxy` (proxy-addr does the matching).
 */
export type TrustProxy = boolean | number | readonly string[];

/** Whether the address `addr`, `hop` hops away from actorrt (0 = the connection's peer), is a trusted proxy. */
export type TrustFn = (addr: string, hop: number) => boolean;

/** Addresses whose trust a compiled list remembers (a proxy's few addresses, and recent clients). */
const REMEMBERED = 4096;

/**
 * The trust function of a setting. Entries are compiled by proxy-addr, which matches IPv4-mapped
 * IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack socket reports) against IPv4 entries.
 * A list's answers are remembered per address: proxy-addr parses the address on every call,
 * measured at 2.5-4.6 us for IPv4 and 14 us for an IPv4-mapped address (about as much as the rest
 * of a request costs), and the same few proxies ask on every request; a remembered answer costs
 * ~0.1 us. Throws proxy-addr's TypeError for an entry that is not an address, a CIDR or a preset;
 * the config layer reports that at load time (trustEntryProblem), so a loaded config never throws here.
 */
export function compileTrust(setting: TrustProxy): TrustFn {
  if (setting === true) return () => true;
  if (setting === false) return () => false;
  if (typeof setting === 'number') return (_addr, hop) => hop < setting;
  if (setting.length === 0) return () => false;
  const trust = proxyaddr().compile([...setting]);
  const known = new LRUCache<string, boolean>({ max: REMEMBERED });
  // A list's answer depends on the address alone, never on the hop.
  return (addr) => {
    let answer = known.get(addr);
    if (answer === undefined) {
      answer = trust(addr, 0);
      known.set(addr, answer);
    }
    return answer;
  };
}

/** Why `entry` is not a trustProxy entry (proxy-addr's words), or undefined when it is one. */
export function trustEntryProblem(entry: string): string | undefined {
  try {
    proxyaddr().compile(entry);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
