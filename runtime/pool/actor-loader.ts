import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isActor, type Actor } from '../../actors/index.js';
import { ActorrtError } from '../errors.js';

const require = createRequire(import.meta.url);
let tsxCjs = false;
let tsxEsm = false;
/** Why tsx's ESM hooks could not register, if they could not: named when a TypeScript module then fails to load. */
let esmRefused: Error | undefined;

/**
 * tsx's CommonJS hook: it compiles in this thread, on require. Registered once per process, only
 * when a TypeScript actor is first loaded.
 */
function registerCommonJs(): void {
  if (tsxCjs) return;
  tsxCjs = true;
  (require('tsx/cjs/api') as { register: () => unknown }).register();
}

/**
 * tsx's ESM hooks (module.register): node 20 runs them in a loader thread of their own, which the
 * main thread waits for at registration and then asks, synchronously, about every module it
 * resolves from then on. Only for the modules that need ESM (top-level await, .mts).
 */
async function registerEsm(): Promise<void> {
  if (tsxEsm) return;
  tsxEsm = true;
  const esm = (await import('tsx/esm/api')) as { register: () => unknown };
  try {
    esm.register();
  } catch (err) {
    // A test runner that compiles TypeScript itself and refuses loader hooks (jest: "module.register()
    // is not supported in Jest"): import() then goes through the runner's own transform (actorrt/testing).
    esmRefused = err instanceof Error ? err : new Error(String(err));
    return;
  }
  registerCommonJs(); // a .ts file outside a "type": "module" package is loaded as CommonJS; tsx needs that hook too
}

/**
 * A TypeScript actor, through tsx's in-thread CommonJS hook (node 20.19+ requires the ES modules
 * it imports), or through tsx's ESM loader thread when it needs ESM: top-level await in it or in
 * what it imports (compiling it as CommonJS fails before any of its code runs), or a .mts file.
 * Measured (docs/benchmarks.md, cold-start): the loader thread cost a front worker ~75 ms of CPU
 * on an idle machine (325 ms of its main thread blocked in waitForWorker with 2 workers starting
 * on 2 cores) and every later import a synchronous round trip to that thread; the hook, ~20 ms.
 */
async function importTypeScript(file: string): Promise<unknown> {
  if (extname(file) !== '.mts') {
    registerCommonJs();
    try {
      const exports = require(file) as unknown;
      // As import() shows a CommonJS module: its default export is module.exports, unless it was compiled from ESM.
      return exports !== null && typeof exports === 'object' && '__esModule' in exports ? exports : { default: exports };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ERR_REQUIRE_ASYNC_MODULE' && code !== 'ERR_REQUIRE_ESM') throw err;
    }
  }
  await registerEsm();
  return import(pathToFileURL(file).href);
}

/** Import an actor module and check its default export; errors name the file. */
export async function loadActor(file: string): Promise<Actor<unknown, unknown>> {
  const ext = extname(file);
  let mod: unknown;
  try {
    mod = ext === '.ts' || ext === '.mts' || ext === '.cts' ? await importTypeScript(file) : await import(pathToFileURL(file).href);
  } catch (err) {
    const hooks = esmRefused === undefined ? '' : ` (tsx's loader hooks could not register here: ${esmRefused.message})`;
    throw new ActorrtError('ACTORRT_E_ACTOR_MODULE', `actor module ${file} failed to load: ${(err as Error).message}${hooks}`,
      { cause: err, hint: 'run the module on its own (npx tsx <file>) to see the full error' });
  }
  let candidate = (mod as { default?: unknown }).default;
  // CommonJS-compiled modules (tsx's CJS path) nest the ESM default one level down.
  if (!isActor(candidate) && candidate !== null && typeof candidate === 'object' && 'default' in candidate) {
    candidate = (candidate as { default: unknown }).default;
  }
  if (!isActor(candidate)) {
    throw new ActorrtError('ACTORRT_E_ACTOR_MODULE', `actor module ${file} has no valid default export`,
      { hint: "export default defineActor({ receive: (state, req, ctx) => ... }) from 'actorrt'" });
  }
  return candidate;
}
