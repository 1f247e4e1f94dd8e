import { performance } from 'node:perf_hooks';
import { ActorrtError, reviveError } from '../errors.js';
import { isInstanceStatus, type InstanceStatus } from '../primary/status.js';
import { BadField, list, mapOf, item, oneOf, optStr, record, str, type Fields } from '../protocol/check.js';
import type { MetricType } from '../protocol/metric-families.js';

/** One value of a family as prom-client's getMetricsAsJSON() gives it; histograms name their part in `metricName` (`<name>_bucket` with `le`, `_sum`, `_count`). */
export interface MetricSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly metricName?: string;
}

/** One metric family of the instance, as the primary rendered it. */
export interface FamilySample {
  readonly name: string;
  readonly type: MetricType;
  readonly values: readonly MetricSample[];
}

/** What the admin socket's `metrics` command answered, checked, and when it arrived. */
export interface Sample {
  /** When the answer arrived, in milliseconds on the monotonic clock (performance.now()): rates divide by the difference of two. */
  readonly at: number;
  readonly status: InstanceStatus;
  readonly families: ReadonlyMap<string, FamilySample>;
}

const TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram'];

/**
 * Check the `metrics` answer (`{ status, families }`) once, here, before anything reads it. An
 * answer `{ error, code }` (the command failed in the primary) is revived as its coded error;
 * any other shape is ACTORRT_E_INTERNAL naming the field, as from a primary of another version.
 */
export function toSample(answer: unknown, at: number): Sample {
  try {
    const a = record(answer, 'answer');
    if (typeof a['error'] === 'string') throw reviveError(optStr(a, 'code', 'answer') ?? 'ACTORRT_E_INTERNAL', `the instance could not collect its metrics: ${a['error']}`);
    const status = a['status'];
    if (!isInstanceStatus(status)) throw new BadField('answer.status', 'an instance status', status);
    const families = new Map<string, FamilySample>();
    for (const f of list(a, 'families', 'answer', family)) families.set(f.name, f);
    return { at, status, families };
  } catch (err) {
    if (!(err instanceof BadField)) throw err;
    throw new ActorrtError('ACTORRT_E_INTERNAL', `the instance answered metrics with something this actorrt does not understand (${err.message})`,
      { hint: 'run the actorrt that started the instance (npx actorrt top from its project)' });
  }
}

function family(v: unknown, path: string): FamilySample {
  const f = record(v, path);
  return { name: str(f, 'name', path), type: oneOf(f, 'type', TYPES, path), values: list(f, 'values', path, metricValue) };
}

function metricValue(v: unknown, path: string): MetricSample {
  const m: Fields = record(v, path);
  const value = m['value'];
  if (typeof value !== 'number') throw new BadField(`${path}.value`, 'a number', value);
  const labels = mapOf(m, 'labels', path, labelValue);
  const metricName = optStr(m, 'metricName', path);
  return metricName === undefined ? { labels, value } : { labels, value, metricName };
}

/** prom-client keeps label values as they were given: ours are strings, but a number is fine to read. */
function labelValue(v: unknown, path: string): string {
  return typeof v === 'number' ? String(v) : item.str(v, path);
}

/** Ask the instance for one sample (`ask` is the admin request, e.g. RunningInstance.ask). */
export async function takeSample(ask: (cmd: string) => Promise<unknown>): Promise<Sample> {
  const answer = await ask('metrics');
  return toSample(answer, performance.now());
}
