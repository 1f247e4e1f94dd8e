import { ActorrtError, type ErrorCode } from '../runtime/errors.js';

/** Errors of the config layer: a topology that cannot be used, with a position for every issue. */

/** A position in a source file, 1-based as editors show it. */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** One problem found in a topology file. */
export interface ConfigIssue {
  readonly code: ErrorCode;
  readonly message: string;
  readonly hint?: string;
  readonly position: SourcePosition;
  /** Dotted path of the offending node, e.g. `pools.api.size`; empty for the root. */
  readonly path: string;
}

/** A topology that cannot be used: carries every issue found, each with its position. */
export class ConfigError extends ActorrtError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const first = issues[0];
    const summary = first === undefined
      ? 'invalid topology'
      : `${formatIssue(first)}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`;
    super(issues.length === 1 && first !== undefined ? first.code : 'ACTORRT_E_CONFIG_INVALID', summary);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** `file:line:col  CODE  message  (hint)`: the one-line form editors and terminals link. */
export function formatIssue(issue: ConfigIssue): string {
  const { file, line, col } = issue.position;
  const hint = issue.hint === undefined ? '' : `  (${issue.hint})`;
  return `${file}:${line}:${col}  ${issue.code}  ${issue.message}${hint}`;
}
