import { connect, createServer, type Server, type Socket } from 'node:net';

/** The servers these machines run for tests (see the README's "Tests" section). */
export const POSTGRES_URL = process.env['ACTORRT_TEST_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env['ACTORRT_TEST_REDIS'] ?? 'redis://127.0.0.1:6379';

/**
 * Make sure a server a test needs is listening. Under CI=true a missing server fails the test
 * (never a silent skip); elsewhere the test is skipped with the reason printed.
 */
export async function needServer(t: { skip(reason: string): void }, url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  const up = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: hostname, port: Number(port), timeout: 1000 });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
  if (up) return true;
  const reason = `no server at ${url}`;
  if (process.env['CI'] === 'true') throw new Error(`${reason}; .ci/run starts it, and CI never skips these tests`);
  process.stdout.write(`# skipped: ${reason}\n`);
  t.skip(reason);
  return false;
}

/**
 * A TCP relay in front of a real server, so a test can make that server "go away" (close the
 * relay: every connection drops and new ones are refused) and "come back" on the same port,
 * without stopping the shared server other tests use.
 */
export class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  /** Listen (on the same port as before, after a cut). */
  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
        s.on('error', () => { client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.port, '127.0.0.1', () => resolve()));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Drop every connection and stop listening: the server looks dead. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The target URL rewritten to go through the relay. */
  url(of: string): string {
    const u = new URL(of);
    u.host = `127.0.0.1:${this.port}`;
    return u.toString();
  }
}
