/** The autoscale bench's I/O-bound actor: awaits 20 ms per request (a call to something slow), using no CPU meanwhile. */
import { setTimeout as sleep } from 'node:timers/promises';

export default {
  receive: async () => {
    await sleep(20);
    return { ok: true };
  },
};
