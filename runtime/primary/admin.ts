import { rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';

/**
 * The primary's admin socket (in the 0700 runtime folder): one JSON line in, one JSON line out.
 * Today it answers `{"cmd":"status"}`; reload and scale will use the same channel.
 */
export function serveAdmin(path: string, handlers: Readonly<Record<string, () => unknown>>): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl === -1) return;
      let reply: unknown;
      try {
        const { cmd } = JSON.parse(buffered.slice(0, nl)) as { cmd?: string };
        const handler = cmd === undefined ? undefined : handlers[cmd];
        reply = handler === undefined ? { error: `unknown admin command ${JSON.stringify(cmd)}` } : handler();
      } catch (err) {
        reply = { error: (err as Error).message };
      }
      socket.end(`${JSON.stringify(reply)}\n`);
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

/** Send one admin command to a running primary and return its answer. */
export function adminRequest(path: string, cmd: string, timeout = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let data = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer from ${path} within ${timeout} ms`)); }, timeout);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ cmd })}\n`));
    socket.on('data', (chunk: string) => { data += chunk; });
    socket.on('end', () => {
      clearTimeout(timer);
      try { resolve(JSON.parse(data) as unknown); } catch (err) { reject(err as Error); }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}
