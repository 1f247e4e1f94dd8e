import { readFileSync } from 'node:fs';
import { findSourceMap, SourceMap, type SourceMapPayload } from 'node:module';
import { pathToFileURL } from 'node:url';

/**
 * Positions V8 reports (profiles, paused call frames) are in the code it ran. For TypeScript
 * actors that is tsx's output, which esbuild prints with its own line breaks: measured with tsx 4,
 * a function on line 14 of its .ts file shows at line 1 or 2, column ~200-900. tsx attaches an
 * inline source map to each module it compiles, so positions are mapped back through it here and
 * every report names the line a reader finds in the file. Plain .js / .mjs actors have no map and
 * are reported as they are.
 */

/** A frame as V8 reports it: 0-based line and column (-1 when it has none). */
export interface FramePosition {
  url: string;
  lineNumber: number;
  columnNumber: number;
}

/** Finds the source map of a script by its URL (undefined: it has none). */
export type MapLookup = (url: string) => SourceMap | undefined;

/**
 * Source maps of the modules loaded in this thread: node keeps them once source maps are enabled,
 * which tsx does when it registers (and `--enable-source-maps` does for any module with a map).
 */
export const loadedModules: MapLookup = (url) => {
  if (url === '' || url.startsWith('node:')) return undefined;
  try {
    return findSourceMap(url);
  } catch {
    return undefined; // a URL node does not take as a module key
  }
};

/**
 * The source map a script announced (`sourceMapURL` of the inspector's `Debugger.scriptParsed`),
 * for a thread that cannot see the modules' own cache: a `data:` URL (what tsx writes), or a
 * file next to the script. Undefined when there is none or it cannot be read.
 */
export function announcedMap(scriptUrl: string, sourceMapUrl: string | undefined): SourceMap | undefined {
  if (sourceMapUrl === undefined || sourceMapUrl === '') return undefined;
  try {
    let text: string;
    const data = /^data:application\/json[^,]*?(;base64)?,/.exec(sourceMapUrl);
    if (data !== null) {
      const body = sourceMapUrl.slice(data[0].length);
      text = data[1] === undefined ? decodeURIComponent(body) : Buffer.from(body, 'base64').toString('utf8');
    } else {
      text = readFileSync(new URL(sourceMapUrl, scriptUrl), 'utf8');
    }
    return new SourceMap(JSON.parse(text) as SourceMapPayload);
  } catch {
    return undefined;
  }
}

/** Rewrite `frame` in place to the position it was compiled from, when its script has a source map that covers it. */
export function mapFrame(frame: FramePosition, lookup: MapLookup): void {
  if (frame.lineNumber < 0) return;
  const map = lookup(frame.url);
  if (map === undefined) return;
  const entry = map.findEntry(frame.lineNumber, Math.max(0, frame.columnNumber));
  if (!('originalLine' in entry)) return;
  frame.lineNumber = entry.originalLine;
  frame.columnNumber = entry.originalColumn;
  // tsx names its sources by file URL; tsc's maps name them relative to the compiled file. A
  // CommonJS module (a TypeScript actor, loaded through tsx's require hook) is named by its path.
  if (entry.originalSource !== '') frame.url = new URL(entry.originalSource, frame.url.startsWith('/') ? pathToFileURL(frame.url) : frame.url).href;
}

/** A lookup that asks `lookup` once per URL (a profile repeats a script in thousands of frames). */
export function cached(lookup: MapLookup): MapLookup {
  const seen = new Map<string, SourceMap | undefined>();
  return (url) => {
    if (!seen.has(url)) seen.set(url, lookup(url));
    return seen.get(url);
  };
}
