import { rmSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { workerData } from 'node:worker_threads';
import type { Debugger } from 'node:inspector';
import { BadField, record, str } from '../protocol/check.js';
import { announcedMap, cached, mapFrame, type FramePosition } from './source-positions.js';
import { describeStall, stuckAt, writeStall, type Stall, type StallFrame } from './stall.js';
import { SLOT, beatInterval, type StallThreadData } from './stall-watch.js';

/**
 * A child's stall thread (started by stall-watch.ts). It watches the counter the main thread bumps;
 * once it has not moved for the threshold, it connects to the main thread's inspector (in
 * process: no port is opened), pauses it, reads the call frames, resumes it at once and writes
 * them to the stall file the primary's watchdog reads; it also logs a line of its own. A stall is
 * captured once; when the loop turns again the file is removed. Until a stall no inspector
 * session exists, so the running code is never slowed down by it.
 */

/** How long the main thread has to honour the pause: JavaScript is interrupted at once, native code (a sync crypto call, a system call) only when it returns. */
const PAUSE_WAIT_MS = 1000;
/** Frames kept (innermost first): enough to see the caller of the loop and what called it. */
const FRAMES_KEPT = 8;

const data = checked(workerData);
const shared = new Int32Array(data.shared);
let lastBeat = Atomics.load(shared, SLOT.beat);
let changedAt = Date.now();
/** The current stall was captured: once per stall. */
let captured = false;

/** Lateness of this thread's own wake-up beyond which the process counts as having been stopped. */
const FROZEN_SLACK_MS = 250;

/**
 * The watch loop. Between looks the thread sleeps in Atomics.wait on a slot nobody changes, not on
 * a timer of its event loop: measured over 20 s idle, a 900 ms setTimeout loop cost the process
 * 18 ms of CPU and this 0.6 ms (an idle worker's own loop runs V8 housekeeping tasks; a blocked one
 * does not). The loop is left only for work that needs the event loop (the inspector, the logger),
 * and entered again once that is done.
 */
function watch(): void {
  let lookedAt = Date.now();
  for (;;) {
    const interval = beatInterval(Atomics.load(shared, SLOT.threshold));
    Atomics.wait(shared, SLOT.sleep, 0, interval);
    const now = Date.now();
    const beat = Atomics.load(shared, SLOT.beat);
    // This thread itself slept far past its interval: the whole process was stopped (SIGSTOP, a
    // suspended machine), so the main thread's silence proves nothing; it is timed afresh, as the
    // primary's watchdog excuses silence after its own loop was held up.
    const frozen = now - lookedAt > interval * 2 + FROZEN_SLACK_MS;
    lookedAt = now;
    if (frozen && !captured) {
      lastBeat = beat;
      changedAt = now;
      continue;
    }
    if (beat !== lastBeat || Atomics.load(shared, SLOT.excused) > 0) {
      const over = captured ? now - changedAt : undefined;
      lastBeat = beat;
      changedAt = now;
      captured = false;
      if (over !== undefined) return resume(recovered(over));
    } else if (!captured && now - changedAt >= Atomics.load(shared, SLOT.threshold)) {
      captured = true;
      return resume(capture(changedAt));
    }
  }
}

/** Run `work` on the event loop (kept alive meanwhile: nothing else holds it), then watch again. */
function resume(work: Promise<void>): void {
  const alive = setInterval(() => undefined, 60_000);
  void work.catch(() => undefined).finally(() => {
    clearInterval(alive);
    setImmediate(watch);
  });
}

setImmediate(watch);

async function capture(since: number): Promise<void> {
  const session = new Session();
  session.connectToMainThread();
  const scripts = new Map<string, { url: string; sourceMapURL?: string }>();
  session.on('Debugger.scriptParsed', ({ params }) => {
    // Node's own scripts have no source map and are named in their frames: only user code is kept.
    if (params.url.startsWith('file:') || params.url.startsWith('/')) scripts.set(params.scriptId, { url: params.url, ...(params.sourceMapURL === undefined ? {} : { sourceMapURL: params.sourceMapURL }) });
  });
  let frames: StallFrame[] = [];
  let error: string | undefined;
  try {
    const paused = new Promise<Debugger.PausedEventDataType>((resolve) => session.once('Debugger.paused', ({ params }) => resolve(params)));
    const late = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), PAUSE_WAIT_MS));
    const stopped = await Promise.race([session.post('Debugger.enable').then(() => session.post('Debugger.pause')).then(() => paused), late]);
    if (stopped === undefined) {
      error = `the main thread did not pause within ${PAUSE_WAIT_MS} ms: it is stuck outside JavaScript (native code, a synchronous system call)`;
    } else {
      frames = framesOf(stopped.callFrames, scripts);
      await session.post('Debugger.resume');
    }
  } catch (err) {
    error = `its frames could not be read: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    await session.post('Debugger.disable').catch(() => undefined);
    session.disconnect();
  }
  const stall: Stall = { pid: process.pid, since, at: Date.now(), frames, ...(error === undefined ? {} : { error }) };
  writeStall(data.file, stall);
  // The logger is loaded only now: an idle thread stays as small as it can be.
  const { createLogger } = await import('../logger.js');
  const where = stuckAt(stall, data.base);
  createLogger(data.role).warn({ ...data.fields, event: 'stall', blockedFor: stall.at - since, ...(where === undefined ? {} : { stuckAt: where }), ...(error === undefined ? {} : { error }) },
    `event loop blocked for ${stall.at - since} ms, ${describeStall(stall, data.base)} (the watchdog replaces this process after ${Atomics.load(shared, SLOT.watchdog)} ms)`);
}

/** The paused frames, innermost first, mapped back through the scripts' source maps. */
function framesOf(callFrames: readonly Debugger.CallFrame[], scripts: ReadonlyMap<string, { url: string; sourceMapURL?: string }>): StallFrame[] {
  const byUrl = new Map([...scripts.values()].map((s) => [s.url, s.sourceMapURL]));
  const lookup = cached((url) => announcedMap(url, byUrl.get(url)));
  return callFrames.slice(0, FRAMES_KEPT).map((f) => {
    // CallFrame.url is deprecated in the protocol and empty for some scripts: the script's own URL is the sure one.
    const position: FramePosition = { url: scripts.get(f.location.scriptId)?.url ?? f.url, lineNumber: f.location.lineNumber, columnNumber: f.location.columnNumber ?? 0 };
    mapFrame(position, lookup);
    return { function: f.functionName === '' ? '(anonymous)' : f.functionName, url: position.url, line: position.lineNumber + 1, column: position.columnNumber + 1 };
  });
}

async function recovered(blockedFor: number): Promise<void> {
  rmSync(data.file, { force: true });
  const { createLogger } = await import('../logger.js');
  createLogger(data.role).info({ ...data.fields, event: 'stall-over', blockedFor }, `event loop turning again after ${blockedFor} ms`);
}

function checked(v: unknown): StallThreadData {
  const o = record(v, 'workerData');
  if (!(o['shared'] instanceof SharedArrayBuffer)) throw new BadField('workerData.shared', 'a SharedArrayBuffer', o['shared']);
  const fields = record(o['fields'], 'workerData.fields');
  const role = str(o, 'role', 'workerData');
  return {
    shared: o['shared'], file: str(o, 'file', 'workerData'), base: str(o, 'base', 'workerData'), role: role === 'pool' ? 'pool' : 'worker',
    fields: Object.fromEntries(Object.entries(fields).filter((e): e is [string, string | number] => typeof e[1] === 'string' || typeof e[1] === 'number')),
  };
}
