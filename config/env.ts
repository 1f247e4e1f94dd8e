import { visit, type Document, type Scalar } from 'yaml';

const PLACEHOLDER = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE = /^\$\{env:[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;
const STR_TAG = 'tag:yaml.org,2002:str';

/** One `${env:NAME}` of a scalar and the text it expanded to (its default when NAME is unset). */
export interface EnvUse {
  readonly name: string;
  /** Never to be printed: it may be a password. */
  readonly value: string;
}

/** A scalar written with `${env:...}` placeholders. */
export interface EnvScalar {
  /** The scalar as written in the file (`${env:PG_PASSWORD}`, `postgres://app:${env:PW}@db/app`): safe to print. */
  readonly source: string;
  readonly uses: readonly EnvUse[];
  /** The scalar is one placeholder and nothing else. */
  readonly whole: boolean;
  /**
   * Written quoted ('...' or "..."), as a block scalar (| or >) or tagged !!str: the user said
   * "a string", so it stays one whatever the schema accepts there. An unquoted whole placeholder
   * takes the type the schema asks for at its place (config/env-types.ts).
   */
  readonly quoted: boolean;
}

export interface MissingEnv {
  readonly name: string;
  readonly node: Scalar;
}

export interface Interpolated {
  /** Every scalar that held a placeholder, by node (an alias reaches the same node). */
  readonly scalars: ReadonlyMap<Scalar, EnvScalar>;
  /** The placeholders whose variable is unset (or empty) and that give no default. */
  readonly missing: readonly MissingEnv[];
}

/**
 * Replace `${env:NAME}` and `${env:NAME:-default}` in every scalar value, in place, so that
 * positions stay attached to the nodes. Every value stays a string here: whether an unquoted
 * whole placeholder becomes a number or a boolean depends on what the schema asks for where the
 * value is used (the same anchored node may be used at several places), which the validator
 * decides. Keys are left alone.
 */
export function interpolateEnv(doc: Document, env: NodeJS.ProcessEnv): Interpolated {
  const missing: MissingEnv[] = [];
  const scalars = new Map<Scalar, EnvScalar>();
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${env:')) return;
      const source = node.value;
      const uses: EnvUse[] = [];
      const expanded = source.replace(PLACEHOLDER, (_match, name: string, fallback: string | undefined) => {
        const set = env[name];
        const value = set !== undefined && set !== '' ? set : fallback;
        if (value === undefined) missing.push({ name, node });
        uses.push({ name, value: value ?? '' });
        return value ?? '';
      });
      if (uses.length === 0) return; // `${env:` without a well-formed placeholder: plain text
      node.value = expanded;
      scalars.set(node, { source, uses, whole: WHOLE.test(source), quoted: (node.type !== undefined && node.type !== 'PLAIN') || node.tag === STR_TAG });
    },
  });
  return { scalars, missing };
}

/** `${env:A}`, or `${env:A} and ${env:B}`: how messages name where a value came from, never what it is. */
export function placeholderNames(scalar: EnvScalar): string {
  const names = [...new Set(scalar.uses.map((u) => `\${env:${u.name}}`))];
  return names.length === 1 ? names[0] as string : `${names.slice(0, -1).join(', ')} and ${names.at(-1) as string}`;
}
