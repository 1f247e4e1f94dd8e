import type { Socket } from 'node:net';

/**
 * Coalesces the frames written to a socket during one event-loop iteration into one writev:
 * under load, dozens of requests or replies leave in a single syscall instead of one each.
 *
 * The flush runs in setImmediate, after the whole poll phase, not in process.nextTick: node
 * drains the nextTick queue after every I/O callback, so a nextTick flush wrote once per HTTP
 * request (measured: isolated route 0.47x of a bare cluster with nextTick, 0.65x with setImmediate).
 */
export class BatchedWriter {
  private corked = false;

  constructor(private readonly socket: Socket) {}

  write(frame: Buffer): void {
    if (this.socket.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
  }
}
