import { createClient, type RedisClientType } from '@keyv/redis';
import type { RedisResource } from '../../config/types.js';
import type { Logger } from '../logger.js';
import type { Opened } from './driver.js';

/** Reconnect delays once connected: 100 ms doubling up to 5 s. */
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

/**
 * A node-redis client (the library @keyv/redis is built on, so caches and actors share one).
 * The first connection is tried once per start-up attempt (the caller owns start-up retries);
 * after that the client reconnects forever with backoff. The offline queue is off: while the
 * server is away, commands fail at once (503 to the client) instead of piling up and hanging.
 */
export async function openRedis(name: string, resource: RedisResource, log: Logger): Promise<Opened<RedisClientType>> {
  let connected = false;
  const client: RedisClientType = createClient({
    url: resource.url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: resource.connectTimeout,
      reconnectStrategy: (retries: number) => (connected ? Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** retries) : false),
    },
  });
  let lastLogged = 0;
  client.on('error', (err: Error) => {
    // node-redis emits one error per failed reconnect; one line per 5 s is enough to see it.
    if (!connected || Date.now() - lastLogged < 5000) return;
    lastLogged = Date.now();
    log.warn({ resource: name, err: err.message }, 'redis connection error; reconnecting');
  });
  client.on('ready', () => { if (connected) log.info({ resource: name }, 'redis reconnected'); });
  await client.connect();
  connected = true;
  return {
    client,
    check: async () => {
      await client.ping();
    },
    close: async () => {
      connected = false;
      if (client.isOpen) await client.close();
    },
  };
}
