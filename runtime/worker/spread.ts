import type { Server } from 'node:net';
import { Board, BOARD_SLOTS, type ConnectionHandle } from '../spread/board.js';
/** The listening handle of a net.Server (node internals): node:net calls `onconnection` for every accepted connection. */
interface ListenHandle {
  onconnection: (this: ListenHandle, err: number, handle: ConnectionHandle | undefined) => void;
}

/**
 * Spreads connections over the front workers. Every worker accepts on the same listening socket;
 * when a burst arrives, the first worker to wake drains the whole accept queue in one go (libuv
 * accepts until EAGAIN before node sees any), so 8 connections opened at once landed 8/0/0/0 to
 * 5/1/1/1 on 4 workers in most rounds, and with keep-alive that lasts as long as the connections.
 * Nothing in a worker can stop that drain (UV_TCP_SINGLE_ACCEPT only yields for a microsecond
 * between accepts: 8 of 50 rounds even, as without it). So a worker that takes a connection past
 * its share, while a sibling holds fewer, hands it to the primary, which gives it to the worker
 * holding fewest: the primary handles only those connections, once, and never their requests.
 *
 * Shares come from the board (../spread/board.ts). The handle is passed before node:net wraps
 * it in a socket, so no byte of the request has been read: the adopting worker parses it whole.
 */
/** A worker may hold its share plus 1/SLACK of it before it hands connections off. */
const SLACK = 4;

export class ConnectionSpread {
  private open = 0;
  private adopted = 0;
  private accepting = false;
  private inject: ((handle: ConnectionHandle) => void) | undefined;
  private server: Server | undefined;

  /** `handOff` sends an accepted connection to the primary; `enabled` false only publishes counts (http.balanceConnections: false). */
  constructor(private readonly board: Board, private readonly slot: number, private enabled: boolean,
    private readonly handOff: (handle: ConnectionHandle) => void) {}

  /** Turn hand-offs on or off (a reload of http.balanceConnections); counts are published either way. */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
  }

  /** Take over `server`'s accepts (once it listens) and publish this worker as accepting. */
  attach(server: Server): void {
    const listening = (server as unknown as { _handle: ListenHandle | null })._handle;
    if (listening === null || typeof listening.onconnection !== 'function') return; // not a node we know: accept as before
    this.server = server;
    const accept = listening.onconnection;
    this.inject = (handle) => accept.call(listening, 0, handle);
    listening.onconnection = (err, handle) => {
      if (err === 0 && handle !== undefined && this.pastShare()) {
        this.handOff(handle);
        return;
      }
      accept.call(listening, err, handle);
    };
    server.on('connection', (socket: import('node:net').Socket) => {
      this.open++;
      this.publish();
      socket.once('close', () => { this.open--; this.publish(); });
    });
    this.accepting = true;
    this.publish();
  }

  /**
   * A connection the primary rehomed here: served as if this worker had accepted it, while it
   * still listens (leaving included: it accepts from the kernel too). One that arrives after its
   * listener closed (it was chosen just before this worker began to drain) goes back to the
   * primary, which never chooses a worker that does not accept: another takes it, or none.
   */
  adopt(handle: ConnectionHandle): void {
    this.adopted++;
    this.board.setAdopted(this.slot, this.adopted);
    if (this.inject === undefined || this.server?.listening !== true) {
      if (this.enabled) this.handOff(handle);
      else handle.close();
      return;
    }
    this.inject(handle);
  }

  /** A connection the primary could not take (it is gone): served here while this worker listens, closed otherwise. */
  serveHere(handle: ConnectionHandle): void {
    if (this.inject !== undefined && this.server?.listening === true) this.inject(handle);
    else handle.close();
  }

  /** Leaving or draining: siblings stop counting this worker, it hands nothing off, and the primary stops choosing it. */
  leave(): void {
    this.accepting = false;
    this.publish();
  }

  /**
   * Whether taking one more connection puts this worker above its share (the instance's open
   * connections over the workers accepting, rounded up, plus a quarter of it) while some sibling
   * holds at least two fewer: a hand-off costs a hop, so an even-or-one-off spread is left alone.
   * The quarter: with short connections (one request each) counts churn around the share all the
   * time, and handing off every connection one over it cost 0.73x req/s and 1.9x CPU per request
   * (wrk -c64, Connection: close, 2 workers, medians of 3); a burst of a few keep-alive connections
   * (share under 4) is spread exactly as before.
   */
  private pastShare(): boolean {
    if (!this.enabled || !this.accepting) return false;
    const mine = this.open + 1;
    let total = mine;
    let workers = 1;
    let fewest = Infinity;
    this.board.read();
    for (let i = 0; i < BOARD_SLOTS; i++) {
      if (i === this.slot) continue;
      const { open } = this.board.slot(i);
      if (open === undefined) continue;
      workers++;
      total += open;
      if (open < fewest) fewest = open;
    }
    const share = Math.ceil(total / workers);
    return mine > share + Math.floor(share / SLACK) && mine >= fewest + 2;
  }

  private publish(): void {
    this.board.setOpen(this.slot, this.accepting ? this.open : undefined);
  }
}
