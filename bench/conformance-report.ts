/**
 * What a conformance run found, and how it is told: the client child's report (checked here at the
 * process boundary), the score, and the text `npm run conformance` prints.
 */

/** A test's kind (tests/*.mjs `kind`; absent means required). */
export type Kind = 'required' | 'optimal' | 'check';

/** The suite's raw result of one test (client/test.mjs): true, or [error name, message]. */
export type RawResult = true | readonly [string, string | null];

/**
 * The suite's verdict on a test, named after lib/display.mjs `resultTypes` (README "Interpreting the
 * Results"): pass ✅, fail ⛔️ (a required test), optional_fail ⚠️ (an optimal one), yes / no (a
 * check), setup_fail 🔹 (the harness's own exchange failed), harness_fail ⁉️, dependency_fail ⚪️ (a
 * test it depends on did not pass), retry ↻ (the cache sent one request twice), untested.
 */
export type Outcome = 'pass' | 'fail' | 'optional_fail' | 'yes' | 'no' | 'setup_fail' | 'harness_fail' | 'dependency_fail' | 'retry' | 'untested';

/** lib/display.mjs `determineTestResult` returns [icon, colour, symbol]; the symbol names the verdict. */
export const OUTCOME_BY_SYMBOL: Readonly<Record<string, Outcome>> = {
  '✅': 'pass', '⛔️': 'fail', '⚠️': 'optional_fail', Y: 'yes', N: 'no', '🔹': 'setup_fail',
  '⁉️': 'harness_fail', '⚪️': 'dependency_fail', '↻': 'retry', '-': 'untested',
};
const OUTCOMES = new Set<string>(Object.values(OUTCOME_BY_SYMBOL));

export interface TestReport {
  /** The suite (group) id: cc-freshness, vary, update304, headers, invalidation, ... */
  readonly suite: string;
  readonly suiteName: string;
  readonly id: string;
  /** What the test checks, in the suite's words (markdown). */
  readonly name: string;
  readonly kind: Kind;
  readonly dependsOn: readonly string[];
  readonly outcome: Outcome;
  /** null when the test did not run (only with --id: its dependencies). */
  readonly result: RawResult | null;
}

/** What the client child writes to its result file. */
export interface ClientReport {
  readonly tests: readonly TestReport[];
  /** How long the suite's client ran (ms). */
  readonly durationMs: number;
}

/** Pass counts for one kind of test. */
export interface Tally {
  /** Tests of this kind that run against a cache other than a browser's. */
  readonly total: number;
  /** Passed (a check: answered yes), dependencies honoured as cache-tests.fyi shows them. */
  readonly passed: number;
  /** Passed their own checks, whatever their dependencies did (the `true` in the suite's raw results). */
  readonly passedOwnChecks: number;
}

export interface Score {
  readonly required: Tally;
  readonly optimal: Tally;
  readonly check: Tally;
}

/** The score: required / optimal / check tallies over the tests that ran. */
export function score(tests: readonly TestReport[]): Score {
  const tally = (kind: Kind): Tally => {
    const of = tests.filter((t) => t.kind === kind);
    return {
      total: of.length,
      passed: of.filter((t) => t.outcome === 'pass' || t.outcome === 'yes').length,
      passedOwnChecks: of.filter((t) => t.result === true).length,
    };
  };
  return { required: tally('required'), optimal: tally('optimal'), check: tally('check') };
}

/** The required tests that did not pass (in the suite's order). */
export function failingRequired(tests: readonly TestReport[]): TestReport[] {
  return tests.filter((t) => t.kind === 'required' && t.outcome !== 'pass');
}

/** The suite's message for a test (for ⚪️, which dependency did not pass, then the test's own result). */
export function detail(test: TestReport, all: readonly TestReport[]): string {
  const own = test.result === null ? 'not run' : test.result === true ? 'passed its own checks' : `${test.result[1] ?? test.result[0]}`;
  if (test.outcome !== 'dependency_fail') return own;
  const failed = test.dependsOn.filter((id) => !['pass', 'yes'].includes(all.find((t) => t.id === id)?.outcome ?? ''));
  return `depends on ${failed.join(', ')}, which did not pass; ${own}`;
}

/** The failing required tests, grouped by suite: `id — name — the suite's message` lines. */
export function formatFailures(tests: readonly TestReport[]): string {
  const failing = failingRequired(tests);
  if (failing.length === 0) return '';
  let out = `failing required tests (${failing.length}), by suite:\n`;
  let suite = '';
  for (const test of failing) {
    if (test.suite !== suite) {
      suite = test.suite;
      out += `\n${suite} (${test.suiteName}): ${failing.filter((t) => t.suite === suite).length}\n`;
    }
    out += `  ${test.id} — ${test.name} — ${test.outcome === 'fail' ? '' : `[${test.outcome}] `}${detail(test, tests)}\n`;
  }
  return out;
}

/** The summary lines: required N of M, then optimal and check counts. */
export function formatScore(s: Score): string {
  const others = s.required.passedOwnChecks - s.required.passed;
  return `required: ${s.required.passed} of ${s.required.total} passed`
    + `${others > 0 ? ` (${s.required.passedOwnChecks} passed their own checks; ${others} of them depend on a test that did not pass)` : ''}\n`
    + `optimal: ${s.optimal.passed} of ${s.optimal.total} passed (not a conformance problem when they fail)\n`
    + `check: ${s.check.passed} yes, ${s.check.total - s.check.passed} no (behaviour the suite records; neither answer is wrong)\n`;
}

/**
 * The client child's report, checked: it comes from another process (and from the suite's code).
 * @throws Error naming the first field that does not have the shape it must have.
 */
export function parseClientReport(text: string): ClientReport {
  const value: unknown = JSON.parse(text);
  const bad = (where: string): never => { throw new Error(`the conformance client's report: ${where} does not have the expected shape`); };
  if (!isRecord(value) || !Array.isArray(value['tests']) || typeof value['durationMs'] !== 'number') return bad('the report');
  const tests = value['tests'].map((t: unknown, i): TestReport => {
    if (!isRecord(t)) return bad(`tests[${i}]`);
    const str = (key: string): string => (typeof t[key] === 'string' ? t[key] : bad(`tests[${i}].${key}`));
    const kind = str('kind');
    const outcome = str('outcome');
    const dependsOn = t['dependsOn'];
    if (kind !== 'required' && kind !== 'optimal' && kind !== 'check') return bad(`tests[${i}].kind`);
    if (!OUTCOMES.has(outcome)) return bad(`tests[${i}].outcome`);
    if (!Array.isArray(dependsOn) || !dependsOn.every((d): d is string => typeof d === 'string')) return bad(`tests[${i}].dependsOn`);
    const result = rawResult(t['result']);
    if (result === undefined) return bad(`tests[${i}].result`);
    return { suite: str('suite'), suiteName: str('suiteName'), id: str('id'), name: str('name'), kind, dependsOn, outcome: outcome as Outcome, result };
  });
  return { tests, durationMs: value['durationMs'] };
}

/** A raw result, or undefined when it is not one; null stays null (not run). */
function rawResult(v: unknown): RawResult | null | undefined {
  if (v === true || v === null) return v;
  if (Array.isArray(v) && v.length >= 1 && typeof v[0] === 'string') {
    const message: unknown = v[1];
    return [v[0], typeof message === 'string' ? message : null];
  }
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
