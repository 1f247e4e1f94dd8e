import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { ActorrtError } from '../errors.js';

/** A host as it is written before `:port` in a URL or an address: an IPv6 literal in brackets (RFC 3986 section 3.2.2). */
export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The instance's listening socket, as the primary holds it. */
export interface Listener {
  /** Descriptor that front workers inherit (they call listen() on it). */
  readonly fd: number;
  /** The bound port (the one picked, for port 0). */
  readonly port: number;
  /** Close the primary's copy (idempotent); the socket closes once every worker has closed its own. */
  close(): void;
}

/** A bound TCP handle: libuv's, as node:net creates it before it listens. */
interface ServerHandle {
  readonly fd: number;
  getsockname(out: { port?: number }): number;
  close(): void;
}
type CreateServerHandle = (address: string, port: number, addressType: 4 | 6) => ServerHandle | number;

/**
 * Bind the HTTP port once, for the life of the instance. The primary keeps the socket open but
 * never polls it: front workers inherit the descriptor and accept on it themselves (so the primary
 * stays off the connection path). Because the primary holds it, the port survives every worker
 * (`--port 0` keeps the port it picked) and a connection made while no worker is up waits in the
 * kernel's backlog instead of being refused.
 *
 * node:net's own `_createServerHandle` (what node:cluster uses for exactly this) binds without
 * listening; a net.Server would listen, and the primary would then accept connections itself.
 */
export async function bindListener(host: string, port: number): Promise<Listener> {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') throw new ActorrtError('ACTORRT_E_INTERNAL', 'this Node.js has no net._createServerHandle; actorrt cannot hold the listening socket');
  let address = host;
  let family: 4 | 6;
  try {
    const found = net.isIP(host) === 0 ? await lookup(host) : { address: host, family: net.isIP(host) };
    address = found.address;
    family = found.family === 6 ? 6 : 4;
  } catch (err) {
    throw new ActorrtError('ACTORRT_E_STARTUP', `http.host "${host}" does not resolve: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { hint: 'use an IP address such as 127.0.0.1 or 0.0.0.0' });
  }
  const handle = create(address, port, family);
  if (typeof handle === 'number') {
    const code = getSystemErrorName(handle);
    throw new ActorrtError('ACTORRT_E_STARTUP', `cannot listen on ${host}:${port}: ${code}`,
      { hint: code === 'EADDRINUSE' ? 'another process uses that port: stop it, or start with --port N' : 'check http.host and http.port' });
  }
  const out: { port?: number } = {};
  handle.getsockname(out);
  let open = true;
  // Closed at the start of a stop (so the kernel refuses new connections while workers drain) and again at the end: once.
  return { fd: handle.fd, port: out.port ?? port, close: () => { if (open) { open = false; handle.close(); } } };
}
