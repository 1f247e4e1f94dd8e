/** The autoscale bench's CPU-bound actor: 5 ms of hashing per request (a thread's whole core while it runs). */
import { createHash } from 'node:crypto';

export default {
  receive: () => {
    const until = performance.now() + 5;
    let digest = Buffer.alloc(32);
    while (performance.now() < until) digest = createHash('sha256').update(digest).digest();
    return { done: digest.length };
  },
};
