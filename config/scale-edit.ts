import { isMap, isScalar, parseDocument } from 'yaml';
import { ActorrtError } from '../runtime/errors.js';
import type { ScaleOverride } from './scale.js';

// Apart from scale.ts so that `actorrt scale` without --write (and the primary) never load yaml's
// document model for it.

/**
 * The topology source with the overrides written in. Only the bytes of each value change (found
 * through the parsed document's node ranges), so comments, order, quoting and layout stay exactly
 * as they were; a key the pool does not have yet is added on a line of its own (or inside its
 * `{ ... }`). Throws if the file has no such pool mapping.
 */
export function editScale(source: string, overrides: readonly ScaleOverride[]): string {
  const doc = parseDocument(source, { keepSourceTokens: true });
  const edits: Array<{ from: number; to: number; text: string }> = [];
  for (const o of overrides) {
    const map = doc.getIn(['pools', o.pool], true);
    if (!isMap(map) || map.range == null) throw new ActorrtError('ACTORRT_E_CONFIG_UNKNOWN_REF', `the topology file has no pool "${o.pool}" to write ${o.key} into`);
    const value = doc.getIn(['pools', o.pool, o.key], true);
    if (isScalar(value) && value.range != null) {
      edits.push({ from: value.range[0], to: value.range[1], text: String(o.value) });
      continue;
    }
    if (map.flow === true) {
      const close = source.lastIndexOf('}', map.range[1]);
      const before = source.slice(map.range[0], close).trimEnd();
      const at = map.range[0] + before.length;
      edits.push({ from: at, to: at, text: before.endsWith('{') ? ` ${o.key}: ${o.value}` : `, ${o.key}: ${o.value}` });
      continue;
    }
    const first = map.items[0]?.key;
    const keyStart = isScalar(first) && first.range != null ? first.range[0] : map.range[0];
    const indent = keyStart - (source.lastIndexOf('\n', keyStart - 1) + 1);
    const end = source.indexOf('\n', map.range[1] - 1);
    const at = end === -1 ? source.length : end;
    edits.push({ from: at, to: at, text: `\n${' '.repeat(indent)}${o.key}: ${o.value}` });
  }
  let out = source;
  for (const e of edits.sort((a, b) => b.from - a.from)) out = out.slice(0, e.from) + e.text + out.slice(e.to);
  return out;
}
