import { rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { ActorrtError } from '../errors.js';
import type { Logger } from '../logger.js';

/** An admin command: takes the request's arguments, answers with JSON (sync or async). */
export type AdminHandler = (args: Readonly<Record<string, unknown>>) => unknown;

/**
 * The primary's admin socket (in the 0700 runtime folder): one JSON line in
 * (`{"cmd":"reload","args":{"dryRun":true}}`), one JSON line out. A handler that throws answers
 * `{"error": message, "code", "hint"}` (the code and hint of an ActorrtError).
 */
export function serveAdmin(path: string, handlers: Readonly<Record<string, AdminHandler>>, log: Logger): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((socket) => {
    let buffered = '';
    let answered = false;
    socket.setEncoding('utf8');
    // A client that never finishes its line (or never reads the answer) would hold one of the
    // primary's file descriptors forever; the primary also needs them to fork its children.
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    socket.on('data', (chunk: string) => {
      if (answered) return;
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl === -1) {
        // Only the instance's own user can connect (0700 folder), but a stuck client must not grow the primary's heap.
        if (buffered.length > MAX_REQUEST_BYTES) socket.destroy();
        return;
      }
      answered = true;
      socket.setTimeout(0); // a reload may take minutes to apply: the wait is the handler's, not the client's
      const line = buffered.slice(0, nl);
      buffered = '';
      void answer(line).then((reply) => {
        // The client may have hung up meanwhile: a write then fails on the socket (its 'error' is handled below), never here.
        if (socket.destroyed) return;
        socket.end(`${serialize(reply)}\n`);
        socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy()); // a client that never reads nor closes
      });
    });
    socket.on('error', () => undefined);
  });
  // The CLI opens one connection per command; past this many at once the kernel refuses more, so
  // admin clients can never take the descriptors the primary forks its children with.
  server.maxConnections = MAX_CONNECTIONS;
  // Past listen, a server error (EMFILE on accept) is logged; the primary keeps serving without it failing.
  server.on('error', (err) => log.error({ err, socket: path }, 'admin socket error'));
  const answer = async (line: string): Promise<unknown> => {
    try {
      const { cmd, args } = JSON.parse(line) as { cmd?: unknown; args?: unknown };
      const handler = typeof cmd === 'string' && Object.hasOwn(handlers, cmd) ? handlers[cmd] : undefined;
      if (handler === undefined) return { error: `unknown admin command ${JSON.stringify(cmd)}` };
      return await handler(args !== null && typeof args === 'object' ? args as Record<string, unknown> : {});
    } catch (err) {
      // The code travels with the message: a bad argument (ACTORRT_E_USAGE from parseScale) is the
      // caller's, anything uncoded is ours, and the CLI must not call our bug a usage error.
      if (err instanceof ActorrtError) return { error: err.message, code: err.code, ...(err.hint === undefined ? {} : { hint: err.hint }) };
      log.error({ err, code: 'ACTORRT_E_INTERNAL' }, 'an admin command failed');
      return { error: err instanceof Error ? err.message : String(err), code: 'ACTORRT_E_INTERNAL' };
    }
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Commands that change nothing: a timeout on them has nothing that "may still be applied". */
const READ_ONLY = new Set(['status', 'metrics']);
/** How long a client may take to send its request line, or to take its answer and hang up (the CLI needs milliseconds). */
const IDLE_TIMEOUT_MS = 10_000;
/** Admin connections open at once (the CLI uses one per command). */
const MAX_CONNECTIONS = 64;
/** An admin request longer than this without a newline is refused (the longest real one is a scale with a few overrides). */
const MAX_REQUEST_BYTES = 64 * 1024;

function serialize(reply: unknown): string {
  try {
    return JSON.stringify(reply);
  } catch (err) {
    return JSON.stringify({ error: `actorrt bug: the answer could not be serialized: ${err instanceof Error ? err.message : String(err)}` });
  }
}

/**
 * Send one admin command to a running primary and return its answer. Every failure is coded, so
 * the CLI prints one line, never a stack: ACTORRT_E_NOT_RUNNING when nothing listens on the socket
 * (ENOENT, ECONNREFUSED: the primary has exited or is shutting down), ACTORRT_E_ADMIN_UNAVAILABLE
 * when it is there but does not answer (paused, overloaded, out of file descriptors): no answer
 * within `timeout` ms, or the connection dropped (EPIPE, ECONNRESET, EAGAIN, closed unanswered).
 * `who` names the primary in messages (`the primary (pid 123)`).
 */
export function adminRequest(path: string, cmd: string, args: Readonly<Record<string, unknown>> = {}, timeout = 5000, who = 'the primary'): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let data = '';
    let settled = false;
    const settle = (err: ActorrtError | undefined, answer?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err === undefined) resolve(answer);
      else reject(err);
    };
    const unavailable = (what: string, cause?: unknown, more = ''): ActorrtError => new ActorrtError('ACTORRT_E_ADMIN_UNAVAILABLE',
      `${who} did not answer "${cmd}" on its admin socket ${path}: ${what}`,
      { hint: `it is paused by SIGSTOP, overloaded or out of file descriptors: send it SIGCONT if it was stopped, check its log, then retry${more}`, cause });
    // A command it read before it stalled may still be carried out.
    const timer = setTimeout(() => settle(unavailable(`no answer within ${timeout} ms`, undefined, READ_ONLY.has(cmd) ? '' : `; a ${cmd} it took may still be applied (actorrt status shows the last one)`)), timeout);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ cmd, args })}\n`));
    socket.on('data', (chunk: string) => { data += chunk; });
    socket.on('end', () => {
      if (data.trim() === '') {
        settle(unavailable('it closed the connection without answering'));
        return;
      }
      let answer: unknown;
      try {
        answer = JSON.parse(data);
      } catch (err) {
        settle(unavailable(`its answer was cut short or is not JSON (${JSON.stringify(data.slice(0, 80))})`, err));
        return;
      }
      settle(undefined, answer);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        settle(new ActorrtError('ACTORRT_E_NOT_RUNNING', `nothing listens on the admin socket ${path} (${err.code}): ${who} has exited or is shutting down`,
          { hint: 'start it again if it has exited; if it is shutting down, wait for it to exit', cause: err }));
      } else {
        settle(unavailable(`the connection failed (${err.code ?? err.message})`, err));
      }
    });
    // Closed without 'end' nor 'error' (destroyed under us): still an answer for the caller.
    socket.on('close', () => settle(unavailable('the connection closed without an answer')));
  });
}
