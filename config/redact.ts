import { placeholderNames } from './env.js';
import type { ConfigIssue } from './errors.js';
import type { LoadedDocument, PathSegment } from './load.js';

/**
 * What config errors may print of a value. A value that came from the environment may be a
 * secret whatever its key (`${env:...}` is how secrets reach a topology), and a value under a
 * credential key, or a URL with a password in it, is one even when written in the file: neither is
 * ever printed. A message says where (file:line:col, the path) and where the value came from.
 */

/** Keys whose values are credentials wherever they appear (`password`, `apiKey`, `client_secret`, `authToken`). */
const CREDENTIAL_KEY = /pass(word|wd|phrase)?$|secret|token|credential|api[-_]?key|private[-_]?key|access[-_]?key|^auth(orization)?$/i;
/** A URL carrying `user:password@`. */
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@\s]*:[^/?#@\s]*@/i;

/** Whether the value at `path` is a credential by its key or its shape. */
export function isCredential(path: readonly PathSegment[], value: unknown): boolean {
  const key = path.at(-1);
  if (typeof key === 'string' && CREDENTIAL_KEY.test(key)) return true;
  return typeof value === 'string' && URL_WITH_PASSWORD.test(value);
}

/**
 * How a message shows the value at `path`: `render(value)` when it may be printed; otherwise what
 * it is and where it came from: `a string from ${env:PORT} (value not shown)`, or
 * `a string (not shown: a credential)`.
 */
export function shownValue(doc: LoadedDocument, path: readonly PathSegment[], value: unknown, render: (value: unknown) => string): string {
  const env = doc.envAt(path);
  if (env !== undefined) return `${kind(value)} from ${env.whole ? '' : 'a value built with '}${placeholderNames(env)} (value not shown)`;
  if (isCredential(path, value)) return `${kind(value)} (not shown: a credential)`;
  return render(value);
}

function kind(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value === 'string' ? 'a string' : `a ${typeof value}`;
}

/**
 * Values this short are left alone by the catch-all below (unless they are the issue's own value,
 * which shownValue already hides): "1" is in "routes[1]".
 */
const MIN_SCRUBBED = 4;

/**
 * The catch-all behind `shownValue`: every message and hint of `issues` with any text that came
 * from the environment replaced by its placeholder (`${env:PG_PASSWORD}`), and every credential
 * of the document by `***`, whichever check or message printed them (a cross-reference naming a
 * pool, a file path built from a variable).
 */
export function redactIssues(issues: readonly ConfigIssue[], doc: LoadedDocument): ConfigIssue[] {
  const everywhere = secretsOf(doc);
  if (everywhere.length === 0 && doc.envScalars.length === 0) return [...issues];
  return issues.map((issue) => {
    const own = doc.envAt(labelToPath(issue.path))?.uses.map((u) => ({ text: u.value, as: `\${env:${u.name}}` })) ?? [];
    const secrets = [...own.filter((s) => s.text !== ''), ...everywhere].sort((a, b) => b.text.length - a.text.length);
    const scrub = (text: string): string => secrets.reduce((out, s) => out.split(s.text).join(s.as), text);
    const message = scrub(issue.message);
    const hint = issue.hint === undefined ? undefined : scrub(issue.hint);
    if (message === issue.message && hint === issue.hint) return issue;
    return hint === undefined ? { ...issue, message } : { ...issue, message, hint };
  });
}

interface Secret {
  readonly text: string;
  readonly as: string;
}

/** Every environment value long enough to scrub without mangling a message, and every credential in the data. */
function secretsOf(doc: LoadedDocument): Secret[] {
  const out: Secret[] = [];
  for (const scalar of doc.envScalars) {
    for (const use of scalar.uses) if (use.value.length >= MIN_SCRUBBED) out.push({ text: use.value, as: `\${env:${use.name}}` });
  }
  const visit = (value: unknown, path: PathSegment[]): void => {
    if (typeof value === 'string' && isCredential(path, value)) {
      const password = URL_WITH_PASSWORD.test(value) ? passwordOf(value) : undefined;
      for (const text of [value, password]) if (text !== undefined && text.length >= MIN_SCRUBBED) out.push({ text, as: '***' });
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, [...path, i]));
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, [...path, k]);
    }
  };
  visit(doc.data, []);
  return out;
}

function passwordOf(url: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@\s:]*:([^/?#@\s]*)@/i.exec(url);
  return m?.[1] === undefined || m[1] === '' ? undefined : m[1];
}

/** `routes[2].match.path` back to its segments (issue paths are labels). */
export function labelToPath(label: string): PathSegment[] {
  const out: PathSegment[] = [];
  for (const m of label.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1] as string);
  return out;
}
