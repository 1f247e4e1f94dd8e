import { rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';

/** An admin command: takes the request's arguments, answers with JSON (sync or async). */
export type AdminHandler = (args: Readonly<Record<string, unknown>>) => unknown;

/**
 * The primary's admin socket (in the 0700 runtime folder): one JSON line in
 * (`{"cmd":"reload","args":{"dryRun":true}}`), one JSON line out. A handler that throws answers
 * `{"error": message}`.
 */
export function serveAdmin(path: string, handlers: Readonly<Record<string, AdminHandler>>): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl === -1) return;
      const line = buffered.slice(0, nl);
      buffered = '';
      void answer(line).then((reply) => socket.end(`${JSON.stringify(reply)}\n`));
    });
    socket.on('error', () => undefined);
  });
  const answer = async (line: string): Promise<unknown> => {
    try {
      const { cmd, args } = JSON.parse(line) as { cmd?: unknown; args?: unknown };
      const handler = typeof cmd === 'string' && Object.hasOwn(handlers, cmd) ? handlers[cmd] : undefined;
      if (handler === undefined) return { error: `unknown admin command ${JSON.stringify(cmd)}` };
      return await handler(args !== null && typeof args === 'object' ? args as Record<string, unknown> : {});
    } catch (err) {
      return { error: (err as Error).message };
    }
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

/** Send one admin command to a running primary and return its answer. */
export function adminRequest(path: string, cmd: string, args: Readonly<Record<string, unknown>> = {}, timeout = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let data = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer from ${path} within ${timeout} ms`)); }, timeout);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ cmd, args })}\n`));
    socket.on('data', (chunk: string) => { data += chunk; });
    socket.on('end', () => {
      clearTimeout(timer);
      try { resolve(JSON.parse(data) as unknown); } catch (err) { reject(err as Error); }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}
