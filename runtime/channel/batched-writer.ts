import type { Socket } from 'node:net';

/**
 * Coalesces the frames written to a socket within one tick into one writev: under load, dozens
 * of replies leave in a single syscall instead of one each.
 */
export class BatchedWriter {
  private corked = false;

  constructor(private readonly socket: Socket) {}

  write(frame: Buffer): void {
    if (this.socket.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
  }
}
