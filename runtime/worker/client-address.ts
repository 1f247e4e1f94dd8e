import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import { compileTrust, type TrustProxy } from '../../config/trust-proxy.js';

/** Who sent a request, as far as actorrt can tell (the same answer for actors and upstreams). */
export interface ClientAddress {
  /** The connection's peer, as the socket reports it ('' once the socket is gone). */
  readonly peer: string;
  /** Whether the peer is a trusted proxy, so its X-Forwarded-* headers are believed. */
  readonly peerTrusted: boolean;
  /**
   * The client: the peer, or, behind trusted proxies, the nearest X-Forwarded-For entry that is
   * not itself trusted (the right-most untrusted one; the left-most when every hop is trusted).
   */
  readonly ip: string;
  /** The client's protocol: the peer's X-Forwarded-Proto when it is trusted, else whether the connection is TLS. */
  readonly protocol: 'http' | 'https';
}

/** Resolves the client of a request under one `http.trustProxy` setting, compiled once. */
export interface ClientResolver {
  resolve(req: IncomingMessage): ClientAddress;
}

/**
 * A resolver for `setting` (config/trust-proxy.ts). The rules are Express's `req.ip` and
 * `req.protocol` (proxy-addr walks X-Forwarded-For from the right while each hop is trusted;
 * X-Forwarded-Proto is taken only from a trusted peer, its first value), and what nginx's
 * realip module does with `set_real_ip_from` and `real_ip_recursive on`.
 */
export function clientResolver(setting: TrustProxy): ClientResolver {
  const trust = compileTrust(setting);
  const trustsNobody = setting === false || setting === 0;
  return {
    resolve(req) {
      const peer = req.socket.remoteAddress ?? '';
      const own = 'encrypted' in req.socket ? 'https' : 'http';
      // The common deployment (nobody trusted) skips parsing X-Forwarded-For altogether.
      if (trustsNobody || peer === '' || !trust(peer, 0)) return { peer, peerTrusted: false, ip: peer, protocol: own };
      return { peer, peerTrusted: true, ip: proxyaddr(req, trust), protocol: forwardedProto(req.headers['x-forwarded-proto']) ?? own };
    },
  };
}

/**
 * The first X-Forwarded-Proto value as 'http' / 'https' (`wss` / `ws` from proxies that name the
 * WebSocket scheme), or undefined when absent or something else: a value actorrt cannot read is
 * not believed, and the connection's own protocol stands.
 */
function forwardedProto(value: string | string[] | undefined): 'http' | 'https' | undefined {
  if (value === undefined) return undefined;
  const joined = Array.isArray(value) ? value.join(',') : value;
  const comma = joined.indexOf(',');
  const first = (comma === -1 ? joined : joined.slice(0, comma)).trim().toLowerCase();
  if (first === 'https' || first === 'wss') return 'https';
  if (first === 'http' || first === 'ws') return 'http';
  return undefined;
}
