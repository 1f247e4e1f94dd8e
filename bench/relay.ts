import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay in front of a real server (loopback only), so a test or the chaos script can make
 * that server "go away" (cut: every connection drops and new ones are refused), "hang" (freeze:
 * connections stay open and nothing moves, as with a stopped process) and "come back" on the same
 * port, without touching the shared server everyone else uses.
 */
export class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private frozen = false;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  /** A relay for the server of `url` (postgres://, redis://). */
  static for(url: string): Relay {
    const u = new URL(url);
    return new Relay({ host: u.hostname, port: Number(u.port) });
  }

  /** Listen (on the same port as before, after a cut). */
  async open(): Promise<void> {
    if (this.server !== undefined) return;
    const server = createServer((client) => {
      const upstream = connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
        s.on('error', () => { client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream).pipe(client);
      if (this.frozen) for (const s of [client, upstream]) s.pause(); // after pipe(), which resumes its source
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

  /** Stop moving bytes both ways, on open connections and new ones: the server looks hung. */
  freeze(): void {
    this.frozen = true;
    for (const s of this.sockets) s.pause();
  }

  /** Move bytes again after a freeze. */
  thaw(): void {
    this.frozen = false;
    for (const s of this.sockets) s.resume();
  }

  /** The target URL rewritten to go through the relay. */
  url(of: string): string {
    const u = new URL(of);
    u.host = `127.0.0.1:${this.port}`;
    return u.toString();
  }
}
