import {
  isWorkerMessage, type AliveMessage, type EscalateMessage, type InvalidateMessage, type PrimaryMessage, type ReadyMessage, type ReplyMessage, type ResourceMessage, type StartupFailedMessage, type SupervisionMessage,
} from '../protocol.js';

/** A forked process as the primary talks to it (a cluster Worker or a ChildProcess). */
export interface Messenger {
  on(event: 'message', listener: (msg: unknown) => void): unknown;
  send(message: PrimaryMessage): unknown;
}

export interface HandshakeHandlers {
  ready(msg: ReadyMessage): void;
  failed(msg: StartupFailedMessage): void;
  escalated(msg: EscalateMessage): void;
  /** Supervision acted inside the process (any time after start). */
  supervised(msg: SupervisionMessage): void;
  /** A resource of the process changed health (any time after start). */
  resource(msg: ResourceMessage): void;
  /** The answer to a reconfigure or stats message. */
  replied(msg: ReplyMessage): void;
  /** The process invalidated cache keys; the others must drop them too. */
  invalidate(msg: InvalidateMessage): void;
  /** The process's event loop turned (a heartbeat, with its resident memory). */
  alive(msg: AliveMessage): void;
  /** No ready within the deadline; the caller decides what to kill. */
  timedOut(): void;
}

/**
 * Drive a freshly forked process through start-up: when it says `booted` (its listener is in
 * place), send it `start()`; then wait for `ready` or `startup-failed` within `timeout` ms.
 * Later messages (escalations, supervision counts, resource health, replies) keep going to the
 * handlers. Returns a function that cancels the deadline, for when the process exits first.
 */
export function handshake(proc: Messenger, start: () => PrimaryMessage, timeout: number, on: HandshakeHandlers): () => void {
  const timer = setTimeout(() => on.timedOut(), timeout);
  proc.on('message', (msg: unknown) => {
    if (!isWorkerMessage(msg)) return;
    switch (msg.type) {
      case 'alive': on.alive(msg); break;
      case 'booted': proc.send(start()); break;
      case 'ready': clearTimeout(timer); on.ready(msg); break;
      case 'startup-failed': clearTimeout(timer); on.failed(msg); break;
      case 'escalate': on.escalated(msg); break;
      case 'supervision': on.supervised(msg); break;
      case 'resource': on.resource(msg); break;
      case 'reply': on.replied(msg); break;
      case 'invalidate': on.invalidate(msg); break;
    }
  });
  return () => clearTimeout(timer);
}
