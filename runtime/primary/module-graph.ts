import { dirname, extname, join, resolve } from 'node:path';

/** A module graph larger than this is cut off (the digest then covers the first files found). */
const MAX_FILES = 2000;

/** Specifiers a module loads: static and re-exports, side-effect imports, literal dynamic imports, require. */
const SPECIFIERS = [
  /\b(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"\n]+)['"]/g,
  /\bimport\s*['"]([^'"\n]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
  /\brequire\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
];

const SCRIPT_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'];
/** TypeScript sources import each other by the name they compile to (`./db.js` for db.ts). */
const COMPILED_TO_SOURCE: Readonly<Record<string, readonly string[]>> = { '.js': ['.ts', '.tsx'], '.jsx': ['.tsx'], '.mjs': ['.mts'], '.cjs': ['.cts'] };

/** How the graph reads files: content, or undefined when there is no such file. */
export type ReadFile = (file: string) => Buffer | undefined;

/**
 * The files an actor module's code comes from: the module itself and every module it reaches
 * through relative specifiers (`./db.js`, `../lib/util`), resolved the way Node and TypeScript
 * loaders do. Packages (`pg`, `node:fs`) are not followed: their code changes with an install,
 * which `actorrt reload --roll` ships. Found by scanning the text, so a specifier built at run
 * time is not seen, and one inside a comment may be (reading one file too many is harmless).
 */
export function localModules(entry: string, readFile: ReadFile): Map<string, Buffer> {
  const reads = new Map<string, Buffer | undefined>();
  const read = (file: string): Buffer | undefined => {
    if (!reads.has(file)) reads.set(file, readFile(file));
    return reads.get(file);
  };
  const found = new Map<string, Buffer>();
  const pending = [resolve(entry)];
  while (pending.length > 0 && found.size < MAX_FILES) {
    const file = pending.pop() as string;
    if (found.has(file)) continue;
    const content = read(file);
    if (content === undefined) continue;
    found.set(file, content);
    if (!SCRIPT_EXTENSIONS.includes(extname(file))) continue; // JSON and other data: no imports
    for (const specifier of specifiersOf(content.toString('utf8'))) {
      const target = resolveLocal(dirname(file), specifier, read);
      if (target !== undefined && !found.has(target)) pending.push(target);
    }
  }
  return found;
}

function specifiersOf(source: string): Set<string> {
  const out = new Set<string>();
  for (const pattern of SPECIFIERS) {
    for (const m of source.matchAll(pattern)) {
      const spec = m[1] as string;
      if (spec.startsWith('./') || spec.startsWith('../')) out.add(spec.split(/[?#]/)[0] as string);
    }
  }
  return out;
}

/** The file a relative specifier names: as written, its TypeScript source, or with an extension or /index added. */
function resolveLocal(dir: string, specifier: string, read: ReadFile): string | undefined {
  const base = join(dir, specifier);
  const ext = extname(base);
  const candidates = [
    base,
    ...(COMPILED_TO_SOURCE[ext] ?? []).map((source) => base.slice(0, -ext.length) + source),
    ...SCRIPT_EXTENSIONS.map((e) => base + e),
    `${base}.json`,
    ...SCRIPT_EXTENSIONS.map((e) => join(base, `index${e}`)),
  ];
  return candidates.find((c) => read(c) !== undefined);
}
