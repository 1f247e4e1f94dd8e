import { createHash } from 'node:crypto';

/** /cpu burns 20 ms hashing (a CPU-bound request); anything else answers a small JSON at once. */
export default {
  receive: (_state, req) => {
    if (req.path === '/cpu') {
      const until = performance.now() + 20;
      let digest = Buffer.alloc(32);
      while (performance.now() < until) digest = createHash('sha256').update(digest).digest();
      return { done: digest.length };
    }
    return { hello: req.params.name ?? 'world', actor: 0, greeted: 1 };
  },
};
