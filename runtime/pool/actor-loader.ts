import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isActor, type Actor } from '../../actors/index.js';
import { ActorrtError } from '../errors.js';

const require = createRequire(import.meta.url);
let tsxRegistered = false;

/** Register tsx's loaders once per process, only when a TypeScript actor is first loaded. */
async function registerTypeScript(): Promise<void> {
  if (tsxRegistered) return;
  tsxRegistered = true;
  const esm = (await import('tsx/esm/api')) as { register: () => unknown };
  esm.register();
  // A .ts file outside a "type": "module" package is loaded as CommonJS; tsx needs that hook too.
  (require('tsx/cjs/api') as { register: () => unknown }).register();
}

/** Import an actor module and check its default export; errors name the file. */
export async function loadActor(file: string): Promise<Actor<unknown, unknown>> {
  const ext = extname(file);
  if (ext === '.ts' || ext === '.mts' || ext === '.cts') await registerTypeScript();
  let mod: unknown;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    throw new ActorrtError('ACTORRT_E_ACTOR_MODULE', `actor module ${file} failed to load: ${(err as Error).message}`,
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
