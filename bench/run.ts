import { benchValidate } from './validate.js';

/** `npm run bench`: every scenario, side by side where there is a baseline. */
async function main(): Promise<void> {
  const v = benchValidate(500);
  process.stdout.write(`validate, 500 routes: loadConfig ${v.inProcessMs.toFixed(1)} ms (median of 7, warm); `
    + `\`actorrt validate\` end to end ${v.cliMs.toFixed(0)} ms (median of 7, incl. node start-up)\n`);
}

await main();
