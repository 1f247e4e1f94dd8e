import { visit, type Document, type Scalar } from 'yaml';

const PLACEHOLDER = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE = /^\$\{env:[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

export interface MissingEnv {
  readonly name: string;
  readonly node: Scalar;
}

/**
 * Replace `${env:NAME}` and `${env:NAME:-default}` in every scalar value, in place, so that
 * positions stay attached to the nodes. A value that is one whole placeholder and expands to a
 * number or boolean becomes that type (`port: ${env:PORT:-8080}` is a number). Keys are left alone.
 * Returns the placeholders whose variable is unset and has no default.
 */
export function interpolateEnv(doc: Document, env: NodeJS.ProcessEnv): MissingEnv[] {
  const missing: MissingEnv[] = [];
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${env:')) return;
      const source = node.value;
      const expanded = source.replace(PLACEHOLDER, (_match, name: string, fallback: string | undefined) => {
        const value = env[name];
        if (value !== undefined && value !== '') return value;
        if (fallback !== undefined) return fallback;
        missing.push({ name, node });
        return '';
      });
      node.value = WHOLE.test(source) ? coerce(expanded) : expanded;
    },
  });
  return missing;
}

function coerce(value: string): string | number | boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return value;
}

