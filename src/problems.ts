/** One thing wrong with one file, located as precisely as we can. */
export interface Problem {
  file: string;
  line?: number;
  column?: number;
  /** Where inside the document, e.g. `targets[2].host`. */
  path?: string;
  /** Stable identifier of the rule that found it, e.g. `schema` or `policy/network`. */
  rule: string;
  message: string;
  severity: 'error' | 'warning';
}

export function formatLocation(problem: Problem): string {
  let where = problem.file;
  if (problem.line !== undefined) where += `:${problem.line}`;
  if (problem.line !== undefined && problem.column !== undefined) where += `:${problem.column}`;
  return where;
}

/**
 * `manifests/x.yaml:12:5: targets[2].host: must be an integer, found "a"`. Inert wherever it is printed:
 * a message may quote what a volunteer's script or a model wrote (a key name, a value), so control and
 * format characters (terminal escapes, bidirectional overrides) are shown as `\u001b`, never sent raw.
 */
export function formatProblem(problem: Problem): string {
  const path = problem.path ? `${problem.path}: ` : '';
  const severity = problem.severity === 'warning' ? 'warning: ' : '';
  return inert(`${formatLocation(problem)}: ${severity}${path}${problem.message} [${problem.rule}]`);
}

function inert(text: string): string {
  return text.replace(
    /[\p{Cc}\p{Cf}]/gu,
    (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}

export function countErrors(problems: readonly Problem[]): number {
  return problems.filter((p) => p.severity === 'error').length;
}

export function compareProblems(a: Problem, b: Problem): number {
  return a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
}
