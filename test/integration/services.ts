import { accessSync, constants } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';

/** The servers these machines run for tests (see the README's "Tests" section). */
export const POSTGRES_URL = process.env['ACTORRT_TEST_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env['ACTORRT_TEST_REDIS'] ?? 'redis://127.0.0.1:6379';

/**
 * Make sure a server a test needs is listening. Under CI=true a missing server fails the test
 * (never a silent skip); elsewhere the test is skipped with the reason printed.
 */
export async function needServer(t: { skip(reason: string): void }, url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  const up = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: hostname, port: Number(port), timeout: 1000 });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
  if (up) return true;
  const reason = `no server at ${url}`;
  if (process.env['CI'] === 'true') throw new Error(`${reason}; .ci/run starts it, and CI never skips these tests`);
  process.stdout.write(`# skipped: ${reason}\n`);
  t.skip(reason);
  return false;
}

export { Relay } from '../../bench/relay.js';

/** Whether `command` is an executable on PATH. */
function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Why tests that run `commands` (promtool, prometheus) must be skipped, or false when they are all
 * installed. Under CI=true a missing one throws (never a silent skip: .ci/run installs them);
 * elsewhere the reason is printed and returned for `{ skip }`.
 */
export function needTools(commands: readonly string[], install: string): string | false {
  const missing = commands.filter((c) => !onPath(c));
  if (missing.length === 0) return false;
  const reason = `${missing.join(', ')} not installed (${install})`;
  if (process.env['CI'] === 'true') throw new Error(`${reason}; .ci/run installs it, and CI never skips these tests`);
  process.stdout.write(`# skipped: ${reason}\n`);
  return reason;
}
