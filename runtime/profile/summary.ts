import { isAbsolute, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadField, list, record, str, type Fields } from '../protocol/check.js';

/**
 * What `actorrt profile` prints of the file a process wrote: the functions that cost the most,
 * by self time (CPU profile) or by bytes allocated (sampling heap profile), each with its
 * `file:line`. Pure: the CLI reads the file and checks its shape once here (the file is another
 * process's output), then the rows are computed from the checked data.
 */

/** Where a function is, as V8 reports it: 0-based line and column (-1 for native entries). */
export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

/** A `.cpuprofile` (Chrome DevTools' format: `Profiler.stop`'s `profile`), the parts the summary reads. */
export interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: CallFrame }[];
  /** Start and end of the profile, in microseconds. */
  readonly startTime: number;
  readonly endTime: number;
  /** The node each sample landed in. */
  readonly samples: readonly number[];
  /** Microseconds from the previous sample (from startTime for the first). */
  readonly timeDeltas: readonly number[];
}

/** A `.heapprofile` (`HeapProfiler.stopSampling`'s `profile`): a call tree whose nodes carry the bytes allocated in them. */
export interface HeapNode {
  readonly callFrame: CallFrame;
  /** Bytes allocated by this function itself (sampled). */
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}
export interface HeapProfile {
  readonly head: HeapNode;
  /** Allocation samples taken. */
  readonly samples: number;
}

/** One function's cost over the whole profile (every call path summed). */
export interface Cost {
  /** The function's name; `(anonymous)` when it has none; V8's own entries keep theirs: `(program)`, `(idle)`, `(garbage collector)`. */
  readonly name: string;
  /** `file:line` (relative to `base` when inside it; `node:` modules as named); absent for V8's own entries. */
  readonly location?: string;
  /** What an entry without a script stands for (`(idle)`: the event loop waiting, nothing to run; a builtin: native code). */
  readonly note?: string;
  /** Microseconds of self time, or bytes allocated. */
  readonly self: number;
  /** `self` over the profile's total (0 to 1). */
  readonly share: number;
}

export interface Summary {
  /** Most costly first. */
  readonly rows: readonly Cost[];
  /** Microseconds sampled, or bytes allocated, in total. */
  readonly total: number;
  /** Samples taken (CPU profile), or allocation samples (heap profile). */
  readonly samples: number;
}

/** actorrt's own code, compiled (dist/) or as its source maps name it (runtime/, actors/, config/). */
const OWN_CODE = ['dist', 'runtime', 'actors', 'config'].map((folder) => join(fileURLToPath(new URL('../../../', import.meta.url)), folder) + sep);

/** The file a script URL names (a file URL or an absolute path); undefined for node's own (`node:...`) and native entries. */
function pathOf(url: string): string | undefined {
  if (url.startsWith('file:')) return fileURLToPath(url);
  return isAbsolute(url) ? url : undefined;
}

/** Whether a script is not the user's: node's, actorrt's or a dependency's (node_modules). */
export function isLibraryCode(url: string): boolean {
  const path = pathOf(url);
  return path === undefined || path.includes(`${sep}node_modules${sep}`) || OWN_CODE.some((folder) => path.startsWith(folder));
}

/** V8's entries that are not JavaScript functions, and what each means to a reader. */
const V8_ENTRIES: Readonly<Record<string, string>> = {
  '(program)': 'V8 and Node native code outside any JavaScript function (compiling, the event loop machinery)',
  '(idle)': 'the event loop waiting for I/O, with nothing to run',
  '(garbage collector)': 'garbage collection',
  '(root)': 'the root of the call tree',
};

/**
 * Self time per function of a CPU profile. Each sample lasts until the next one (the last until
 * endTime), as Chrome DevTools and speedscope count it; samples are summed over every node of
 * the same function (name, file, line, column), so a function called from many places is one row.
 */
export function cpuSelfTimes(profile: CpuProfile, base: string, top = 15): Summary {
  const frames = new Map<number, CallFrame>(profile.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<number, number>();
  let at = profile.startTime;
  const stamps = profile.timeDeltas.map((d) => (at += d));
  let total = 0;
  profile.samples.forEach((node, i) => {
    const start = stamps[i] ?? profile.endTime;
    const duration = Math.max(0, (stamps[i + 1] ?? profile.endTime) - start);
    self.set(node, (self.get(node) ?? 0) + duration);
    total += duration;
  });
  return summarize([...self].flatMap(([id, us]) => {
    const frame = frames.get(id);
    return frame === undefined ? [] : [[frame, us] as const];
  }), total, profile.samples.length, base, top);
}

/** Bytes allocated per function of a sampling heap profile (self size, summed over every call path). */
export function heapSelfSizes(profile: HeapProfile, base: string, top = 15): Summary {
  const costs: Array<readonly [CallFrame, number]> = [];
  let total = 0;
  // A deep recursion in the profiled code makes a deep tree: walk it with a stack, not recursively.
  const stack: HeapNode[] = [profile.head];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node.selfSize > 0) costs.push([node.callFrame, node.selfSize]);
    total += node.selfSize;
    stack.push(...node.children);
  }
  return summarize(costs, total, profile.samples, base, top);
}

function summarize(costs: ReadonlyArray<readonly [CallFrame, number]>, total: number, samples: number, base: string, top: number): Summary {
  const byFunction = new Map<string, { frame: CallFrame; self: number }>();
  for (const [frame, self] of costs) {
    const key = `${frame.functionName}\0${frame.url}\0${frame.lineNumber}\0${frame.columnNumber}`;
    const entry = byFunction.get(key);
    if (entry === undefined) byFunction.set(key, { frame, self });
    else entry.self += self;
  }
  const rows = [...byFunction.values()].sort((a, b) => b.self - a.self).slice(0, top).map(({ frame, self }): Cost => {
    const note = frame.url === '' ? V8_ENTRIES[frame.functionName] ?? 'native code (a V8 builtin or a Node binding)' : undefined;
    const location = frameLocation(frame.url, frame.lineNumber, base);
    return {
      name: frame.functionName === '' ? '(anonymous)' : frame.functionName, self, share: total > 0 ? self / total : 0,
      ...(note === undefined ? {} : { note }), ...(location === undefined ? {} : { location }),
    };
  });
  return { rows, total, samples };
}

/**
 * `file:line` of a script position (0-based `line`, as V8 gives it): a file URL (or path) as a path
 * relative to `base` when it lies inside it, absolute otherwise; anything else (`node:internal/...`) as named.
 */
export function frameLocation(url: string, line: number, base: string): string | undefined {
  if (url === '') return undefined;
  let file = url;
  const path = pathOf(url);
  if (path !== undefined) {
    const rel = relative(base, path);
    file = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
  }
  return line >= 0 ? `${file}:${line + 1}` : file;
}

/** A `.cpuprofile` read from a file, checked. Throws BadField naming what is wrong. */
export function decodeCpuProfile(v: unknown): CpuProfile {
  const o = record(v, 'profile');
  return {
    nodes: list(o, 'nodes', 'profile', (n, at) => {
      const node = record(n, at);
      return { id: int(node, 'id', at), callFrame: decodeCallFrame(node['callFrame'], `${at}.callFrame`) };
    }),
    startTime: int(o, 'startTime', 'profile'),
    endTime: int(o, 'endTime', 'profile'),
    samples: list(o, 'samples', 'profile', (s, at) => intValue(s, at)),
    timeDeltas: list(o, 'timeDeltas', 'profile', (d, at) => intValue(d, at)),
  };
}

/** A `.heapprofile` read from a file, checked. Throws BadField. */
export function decodeHeapProfile(v: unknown): HeapProfile {
  const o = record(v, 'profile');
  return { head: decodeHeapNode(o['head'], 'profile.head'), samples: list(o, 'samples', 'profile', record).length };
}

function decodeHeapNode(v: unknown, at: string): HeapNode {
  const o = record(v, at);
  return { callFrame: decodeCallFrame(o['callFrame'], `${at}.callFrame`), selfSize: int(o, 'selfSize', at), children: list(o, 'children', at, decodeHeapNode) };
}

function decodeCallFrame(v: unknown, at: string): CallFrame {
  const o = record(v, at);
  return { functionName: str(o, 'functionName', at), url: str(o, 'url', at), lineNumber: int(o, 'lineNumber', at), columnNumber: int(o, 'columnNumber', at) };
}

/** An integer, negative ones included (V8 writes -1 for "no line", and a time delta may be negative after a clock step). */
function int(o: Fields, key: string, at: string): number {
  return intValue(o[key], `${at}.${key}`);
}

function intValue(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new BadField(at, 'an integer', v);
  return v;
}
