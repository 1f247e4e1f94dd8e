/**
 * The autoscale bench's database-bound actor: one call per request to the stub "database" the
 * benchmark serves at $AUTOSCALE_DB_URL (its latency and connection limit are switched at run time).
 * An agent of its own with no connection cap: the stub, not the client, is what limits concurrency.
 */
import { Agent, request } from 'undici';

const URL = process.env.AUTOSCALE_DB_URL;
const agent = new Agent({ connections: null, keepAliveTimeout: 10_000 });

export default {
  receive: async () => {
    if (URL === undefined) throw new Error('AUTOSCALE_DB_URL is not set: the autoscale bench starts this actor with its stub database');
    const res = await request(URL, { dispatcher: agent, headersTimeout: 30_000, bodyTimeout: 30_000 });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`stub database answered ${res.statusCode}`);
    return { row: text };
  },
};
