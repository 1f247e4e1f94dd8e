import { writeSync } from 'node:fs';
import { emitKeypressEvents } from 'node:readline';
import { styleText } from 'node:util';
// log-update redraws a frame in place, rewriting only the lines that changed, inside the
// terminal's synchronized-output mode (no flicker at 1 frame/s), and clips to the terminal's
// height; ansi-escapes names the few sequences around it (alternate screen, cursor). Both are
// small (log-update brings 5 packages, all sindresorhus', maintained, ESM, Node >= 20 in the
// versions pinned), where ink would bring React and blessed is unmaintained since 2015.
import ansiEscapes from 'ansi-escapes';
import { createLogUpdate } from 'log-update';
import type { Line } from './render.js';

/** A key as node:readline's emitKeypressEvents names it. */
export interface Key {
  readonly name: string | undefined;
  readonly ctrl: boolean;
}

/** The full-screen view of `actorrt top` on an interactive terminal. */
export interface Screen {
  /** The terminal's size now: `height` is the lines a frame may use. */
  size(): { width: number; height: number };
  draw(lines: readonly Line[]): void;
  /** Give the terminal back as it was (main screen, cursor, cooked input); safe to call twice. */
  close(): void;
}

/**
 * Take the terminal: the alternate screen (the shell's screen comes back untouched on close, as
 * with htop or less), the cursor hidden, keys read raw from `input` when it is a terminal, a
 * redraw on resize. If the process exits without close() (an uncaught error), the terminal is
 * restored on the way out all the same.
 */
export function openScreen(out: typeof process.stdout, input: typeof process.stdin, onKey: (key: Key) => void, onResize: () => void): Screen {
  const styled = out.hasColors?.() === true;
  const style = (l: Line): string => (!styled ? l.text : l.kind === 'header' ? styleText('inverse', l.text) : l.kind === 'title' ? styleText('bold', l.text) : l.text);
  out.write(ansiEscapes.enterAlternativeScreen + ansiEscapes.eraseScreen + ansiEscapes.cursorTo(0, 0) + ansiEscapes.cursorHide);
  // showCursor: the cursor is hidden on `out` here rather than by log-update on stderr, which may not be this terminal.
  let update = createLogUpdate(out, { showCursor: true });
  const keys = input.isTTY;
  const keypress = (_text: string | undefined, key: { name?: string; ctrl?: boolean } | undefined): void => {
    onKey({ name: key?.name, ctrl: key?.ctrl === true });
  };
  if (keys) {
    emitKeypressEvents(input);
    input.setRawMode(true);
    input.on('keypress', keypress);
    input.resume();
  }
  const resize = (): void => {
    // A frame drawn for the old size cannot be patched line by line: start from an empty screen.
    out.write(ansiEscapes.eraseScreen + ansiEscapes.cursorTo(0, 0));
    update = createLogUpdate(out, { showCursor: true });
    onResize();
  };
  out.on('resize', resize);
  let closed = false;
  const restore = ansiEscapes.cursorShow + ansiEscapes.exitAlternativeScreen;
  const onExit = (): void => {
    if (closed) return;
    try {
      if (keys) input.setRawMode(false);
      writeSync(out.fd, restore);
    } catch {
      // The terminal is gone (hung up): nothing left to restore.
    }
  };
  process.once('exit', onExit);
  return {
    size: () => ({ width: out.columns ?? 80, height: Math.max((out.rows ?? 24) - 1, 1) }),
    draw: (lines) => update(lines.map(style).join('\n')),
    close: () => {
      if (closed) return;
      closed = true;
      process.off('exit', onExit);
      out.off('resize', resize);
      if (keys) {
        input.off('keypress', keypress);
        input.setRawMode(false);
        input.pause();
      }
      update.done();
      out.write(restore);
    },
  };
}
