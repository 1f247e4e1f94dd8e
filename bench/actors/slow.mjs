/** The miss storm's actor: 50 ms per run, each run appended to $BENCH_RUNS_FILE (counted by the benchmark). */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const RUNS = process.env.BENCH_RUNS_FILE;

export default {
  receive: async (_state, req) => {
    if (RUNS !== undefined) appendFileSync(RUNS, `${process.pid} ${req.params.key}\n`);
    await sleep(50);
    return { key: req.params.key, pid: process.pid };
  },
};
