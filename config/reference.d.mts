// Types of config/reference.mjs (plain JavaScript so that `node config/schema.mjs` needs no build).

/** A JSON Schema node as the reference reads it (draft-07, as config/schema.mjs writes it). */
export interface SchemaNode {
  readonly [keyword: string]: unknown;
}

/** One key of the topology as the reference lists it. */
export interface ReferenceKey {
  /** `http.port`, `pools.<name>.size`, `routes[].match.path`, `x-<anything>`. */
  readonly path: string;
  /** `type: sqlite` for a key of one variant of a map entry (resources by type, caches by store). */
  readonly variant: string | undefined;
  /** The key's schema as written (a `$ref` not followed). */
  readonly schema: SchemaNode;
  readonly required: boolean;
  /** The key as written in YAML; undefined for a pattern key. */
  readonly key: string | undefined;
}

export const START: string;
export const END: string;
export const DURATION_UNITS: string;
export const SIZE_UNITS: string;
export const MAP_KEY: string;
export const LIST_ITEM: string;
export function patternPath(pattern: string): string;
export function referenceKeys(schema: SchemaNode): ReferenceKey[];
export function renderReference(schema: SchemaNode): string;
export function spliceReference(doc: string, section: string): string;
export function extractReference(doc: string): string | undefined;
export function typeText(root: SchemaNode, node: SchemaNode, plural?: boolean): string;
