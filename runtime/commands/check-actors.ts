import { ActorrtError } from '../errors.js';
import { loadActor } from '../pool/actor-loader.js';

/**
 * Run by `actorrt validate` in a child process of its own (an actor module runs code when it is
 * imported; a crash, an exit or a hang there must not take validate with it): import each module
 * named on the command line and check its default export, printing one JSON line per module as it
 * goes, so that a module that ends the process is the first one without a line.
 */
for (const file of process.argv.slice(2)) {
  try {
    await loadActor(file);
    process.stdout.write(`${JSON.stringify({ file })}\n`);
  } catch (err) {
    const hint = err instanceof ActorrtError ? err.hint : undefined;
    process.stdout.write(`${JSON.stringify({ file, error: (err as Error).message, ...(hint === undefined ? {} : { hint }) })}\n`);
  }
}
process.exit(0); // a module that left a timer or a socket open must not keep this process alive
