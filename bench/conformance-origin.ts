/**
 * Child process of the conformance run: the HTTP cache test suite's own server (server/server.mjs),
 * the origin behind the cache under test. It takes its protocol, port and pid file from
 * npm_config_* variables (set by conformance-run.ts) and prints `Listening on <url>`.
 *
 * argv: <suite folder>. The working folder must be the suite folder: the server answers paths
 * other than /test, /config and /state with files from it.
 */
import { Server } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const suiteDir = process.argv[2];
if (suiteDir === undefined) throw new Error('usage: conformance-origin.js <suite folder>');

// The suite's server calls listen(port), which binds every interface; a test origin stays on
// loopback (the suite's files are left as they are, so the host is added here).
const listen = Server.prototype.listen;
Server.prototype.listen = function listenOnLoopback(this: Server, ...args: unknown[]): Server {
  if (args.length === 1 && (typeof args[0] === 'number' || typeof args[0] === 'string')) args.push('127.0.0.1');
  return (listen as (...a: unknown[]) => Server).apply(this, args);
} as typeof listen;

await import(pathToFileURL(join(suiteDir, 'server', 'server.mjs')).href);
