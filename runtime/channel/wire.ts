import type { ActorRequest } from '../../actors/index.js';

/** Front/pool process -> pool process: run this request on `pool`. */
export interface RequestFrame {
  readonly t: 'req';
  readonly id: number;
  readonly pool: string;
  readonly timeout: number;
  /** The request; its body travels as the binary tail when it is a Buffer (`bin`). */
  readonly req: Omit<ActorRequest, 'body'> & { readonly body?: unknown };
  readonly bin?: 1;
}

/** Pool process -> caller: the outcome of request `id`. */
export type ReplyFrame =
  | { readonly t: 'res'; readonly id: number; readonly ok: true; readonly value: unknown; readonly bin?: 'value' | 'body' }
  | { readonly t: 'res'; readonly id: number; readonly ok: false; readonly code: string; readonly message: string };

/** Split a value into its JSON part and a Buffer to send as the tail, and say where it goes back. */
export function splitBinary(value: unknown): { json: unknown; binary: Buffer | undefined; bin: 'value' | 'body' | undefined } {
  if (Buffer.isBuffer(value)) return { json: null, binary: value, bin: 'value' };
  if (value !== null && typeof value === 'object' && Buffer.isBuffer((value as { body?: unknown }).body)) {
    return { json: { ...value, body: null }, binary: (value as { body: Buffer }).body, bin: 'body' };
  }
  return { json: value, binary: undefined, bin: undefined };
}

/** Put a binary tail back where splitBinary took it from. */
export function joinBinary(json: unknown, binary: Buffer | undefined, bin: 'value' | 'body' | undefined): unknown {
  if (bin === 'value') return binary ?? Buffer.alloc(0);
  if (bin === 'body') return { ...(json as object), body: binary ?? Buffer.alloc(0) };
  return json;
}
