import { readSync, writeSync } from 'node:fs';

/**
 * The connection board: a small file every front worker and the primary share by descriptor
 * (BOARD_FD in the workers), where each worker publishes how many connections it holds. A worker
 * reads it when it accepts (is it past its share?) and the primary when it rehomes a connection
 * (who holds fewest?). Plain pread/pwrite of 4-byte words: a word is written whole, and a reader
 * seeing a count one change old only makes one decision slightly less even.
 *
 * Slot layout, SLOT_BYTES each: int32 LE `open + 1` while the worker accepts (0: no worker, or one
 * that is booting or draining), then int32 LE connections it adopted from the primary (so the
 * primary, which counts what it sent, knows what is still on its way).
 */
export const BOARD_SLOTS = 64;
const SLOT_BYTES = 8;
export const BOARD_BYTES = BOARD_SLOTS * SLOT_BYTES;

/** An accepted connection before node:net wraps it: libuv's TCP handle, as node:child_process sends it. */
export interface ConnectionHandle {
  close(): void;
}

/** What node:child_process handed over with a message, checked at the boundary: a connection handle has close(). */
export function isConnectionHandle(v: unknown): v is ConnectionHandle {
  return typeof v === 'object' && v !== null && typeof (v as { close?: unknown }).close === 'function';
}

/** One worker's entry as read from the board. */
export interface SlotState {
  /** Connections the worker holds, or undefined when no worker accepts in this slot. */
  readonly open: number | undefined;
  readonly adopted: number;
}

/** A reader and writer of the board at descriptor `fd`. */
export class Board {
  private readonly buf = Buffer.alloc(BOARD_BYTES);
  private readonly word = Buffer.alloc(4);

  constructor(private readonly fd: number) {}

  /** Read every slot (one pread). */
  read(): this {
    const n = readSync(this.fd, this.buf, 0, BOARD_BYTES, 0);
    if (n < BOARD_BYTES) this.buf.fill(0, n);
    return this;
  }

  /** From the last read(). */
  slot(i: number): SlotState {
    const v = this.buf.readInt32LE(i * SLOT_BYTES);
    return { open: v > 0 ? v - 1 : undefined, adopted: this.buf.readInt32LE(i * SLOT_BYTES + 4) };
  }

  /** Publish slot `i`'s open count (undefined: not accepting). */
  setOpen(i: number, open: number | undefined): void {
    this.write(i * SLOT_BYTES, open === undefined ? 0 : open + 1);
  }

  setAdopted(i: number, adopted: number): void {
    this.write(i * SLOT_BYTES + 4, adopted);
  }

  private write(at: number, value: number): void {
    this.word.writeInt32LE(value);
    writeSync(this.fd, this.word, 0, 4, at);
  }
}
