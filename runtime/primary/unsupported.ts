import type { Config } from '../../config/types.js';
import { ActorrtError } from '../errors.js';

/** Features the schema accepts that this version cannot run yet: refuse them up front (at start and at reload), clearly. */
export function unsupported(config: Config): void {
  const cached = config.routes.filter((r) => r.cache !== undefined || r.invalidate !== undefined).map((r) => `routes[${r.index}]`);
  if (cached.length > 0) {
    throw new ActorrtError('ACTORRT_E_UNSUPPORTED', `${cached.join(', ')} use cache: or invalidate:, which this version validates but cannot run yet`,
      { hint: 'remove the route cache settings for now; running without them would silently skip the caching you asked for' });
  }
}
