import { closeSync, ftruncateSync, openSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Board, BOARD_BYTES, BOARD_SLOTS } from '../spread/board.js';

/**
 * The primary's side of the connection board (runtime/spread/board.ts): it creates the board,
XX: the primary and its workers share it only by descriptor (BOARD_FD in the
 * workers), so nothing is left behind and a removed runtime folder does not take it away.
 */
export class ConnectionBoard {
  /** Slot of each front worker, by its spec id (kept across its restarts). */
  private readonly slots = new Map<number, number>();
  /** Connections sent to each slot since its worker started (minus what it adopted: still on their way). */
  private readonly sent: number[] = new Array<number>(BOARD_SLOTS).fill(0);
  private readonly board: Board;

  private constructor(readonly fd: number) {
    this.board = new Board(fd);
  }

  /**
   * A new board in a file of its own under the system's temporary folder, created exclusively
   * (0600) and unlinked at once: independent of the runtime folder, which may be removed under a
   * running instance (its recovery) and which unit tests of the primary never create.
   */
  static create(): ConnectionBoard {
    const path = join(tmpdir(), `actorrt-board-${process.pid}-${randomBytes(6).toString('hex')}`);
    const fd = openSync(path, 'wx+', 0o600);
    try {
      ftruncateSync(fd, BOARD_BYTES);
      unlinkSync(path);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return new ConnectionBoard(fd);
  }

  /** The slot for front worker `id`, among the workers that exist (`live`, spec ids); 0-filled for its start. */
  slotFor(id: number, live: readonly number[]): number {
    for (const known of [...this.slots.keys()]) if (known !== id && !live.includes(known)) this.slots.delete(known);
    let slot = this.slots.get(id);
    if (slot === undefined) {
      const taken = new Set(this.slots.values());
      slot = 0;
      while (taken.has(slot) && slot < BOARD_SLOTS - 1) slot++;
      this.slots.set(id, slot);
    }
    return slot;
  }

  /** Worker `id` (re)starts: nothing is on its way to it and it accepts nothing yet. */
  starting(slot: number): void {
    this.sent[slot] = 0;
    this.board.setOpen(slot, undefined);
    this.board.setAdopted(slot, 0);
  }

  /** Worker `id` exited: its slot no longer accepts (it is reset again when a restart starts). */
  gone(id: number): void {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    this.sent[slot] = 0;
    this.board.setOpen(slot, undefined);
  }

  /** Of `candidates` (front worker spec ids), the one holding fewest connections, counting those on their way; it is counted as sent one. */
  pick(candidates: readonly number[]): number | undefined {
    this.board.read();
    let best: number | undefined;
    let fewest = Infinity;
    for (const id of candidates) {
      const slot = this.slots.get(id);
      if (slot === undefined) continue;
      const { open, adopted } = this.board.slot(slot);
      if (open === undefined) continue;
      const load = open + Math.max(0, (this.sent[slot] ?? 0) - adopted);
      if (load < fewest) { fewest = load; best = id; }
    }
    if (best !== undefined) {
      const slot = this.slots.get(best) as number;
      this.sent[slot] = (this.sent[slot] ?? 0) + 1;
    }
    return best;
  }

  close(): void {
    closeSync(this.fd);
  }
}
