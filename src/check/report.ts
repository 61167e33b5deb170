import { InvalidInputError } from '../errors.js';
import { EXPERIMENT_NAME, EXPERIMENT_NAME_PATTERN } from '../manifest/name.js';
import { countErrors, formatProblem, type Problem } from '../problems.js';
import { WORKUNIT_NAME_PATTERN } from '../workunit/name.js';
import type { ManifestPlan } from '../workunit/plan.js';
import type { ChangedExperiment, PlanChanges, WorkunitState } from './changes.js';
import type { CheckReport } from './run.js';

/** Workunits listed per manifest in the text report; --json has them all. */
const WORKUNITS_SHOWN = 12;

export interface PlanTotals {
  workunits: number;
  hosts: number;
  cpuHours: number;
  creditCap: number;
}

export function planTotals(plans: readonly ManifestPlan[]): PlanTotals {
  return {
    workunits: plans.reduce((sum, p) => sum + p.workunits.length, 0),
    hosts: new Set(plans.flatMap((p) => p.hosts)).size,
    cpuHours: plans.reduce((sum, p) => sum + p.cpuHours, 0),
    creditCap: plans.reduce((sum, p) => sum + p.creditCap, 0),
  };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const hours = (h: number) => h.toFixed(1);

export function summaryLine(report: CheckReport): string {
  const errors = countErrors(report.problems);
  const warnings = report.problems.length - errors;
  const totals = planTotals(report.plans);
  const verdict = errors === 0 ? 'OK' : `${plural(errors, 'error')}`;
  const warningText = warnings > 0 ? `, ${plural(warnings, 'warning')}` : '';
  return `${verdict}${warningText}: checked ${plural(report.manifests, 'manifest')} and ${plural(report.scripts, 'script')}. Plan: ${plural(totals.workunits, 'workunit')} on ${plural(totals.hosts, 'host')}, ${hours(totals.cpuHours)} CPU-hours, credit cap ${totals.creditCap} in total.`;
}

export function renderText(report: CheckReport): string {
  const lines: string[] = [];
  if (report.problems.length > 0) {
    lines.push('Problems', ...report.problems.map((p) => `  ${formatProblem(p)}`), '');
  }
  if (report.plans.length > 0) {
    lines.push('Plan');
    for (const plan of report.plans) lines.push(...renderPlan(plan));
    lines.push('');
  }
  if (report.changes) lines.push(...renderChangesText(report.changes), '');
  lines.push(summaryLine(report));
  return `${lines.join('\n')}\n`;
}

const STATE_MARK: Record<WorkunitState, string> = { new: '+', unchanged: '=', deployed: '✓' };
const STATE_WORDS: Record<WorkunitState, string> = {
  new: 'new',
  unchanged: 'unchanged (main plans it already)',
  deployed: 'already deployed',
};

function changeCounts(e: ChangedExperiment): string {
  const count = (state: WorkunitState) => e.workunits.filter((w) => w.state === state).length;
  return [
    `${count('new')} new`,
    `${count('unchanged')} unchanged`,
    `${count('deployed')} already deployed`,
    ...(e.dropped.length ? [`${e.dropped.length} no longer planned`] : []),
  ].join(', ');
}

function renderChangesText(changes: PlanChanges): string[] {
  return [
    `Changes against ${changes.base}`,
    ...(changes.experiments.length === 0 ? ['  no experiment changes'] : []),
    ...changes.experiments.flatMap((e) => [
      `  ${e.experiment} (${e.change}): ${changeCounts(e)}`,
      ...e.workunits
        .slice(0, WORKUNITS_SHOWN)
        .map(
          (w) =>
            `    ${STATE_MARK[w.state]} ${w.name}  host ${w.host}  seed group ${w.seed}  ${STATE_WORDS[w.state]}`,
        ),
      ...(e.workunits.length > WORKUNITS_SHOWN
        ? [`    ... and ${e.workunits.length - WORKUNITS_SHOWN} more`]
        : []),
    ]),
    `  ${plural(changes.unchanged, 'other experiment')} unchanged`,
  ];
}

function renderPlan(plan: ManifestPlan): string[] {
  const param = plan.work?.[0]?.param;
  const shown = plan.workunits.slice(0, WORKUNITS_SHOWN).map((wu) => {
    const units = param !== undefined ? `  ${param} ${String(wu.params[param])}` : '';
    const time = wu.plannedSeconds !== undefined ? `  ~${Math.round(wu.plannedSeconds)} s` : '';
    return `    + ${wu.name}  host ${wu.host}  seed group ${wu.seed}  ${plural(wu.cpus, 'cpu')}  ${wu.memoryGb} GB${units}${time}`;
  });
  const more = plan.workunits.length - shown.length;
  const work = (plan.work ?? []).map(
    (w) =>
      `    work: ${w.param} = ${w.units} for seed group ${w.seed} on ${plural(w.hosts.length, 'host')}: ${w.reason}`,
  );
  return [
    `  ${plan.experiment}  (${plan.script} @ ${plan.scriptSha256.slice(0, 12)}, ${plan.runDuration} s per workunit)`,
    ...shown,
    ...(more > 0 ? [`    ... and ${more} more`] : []),
    ...work.slice(0, WORKUNITS_SHOWN),
    `    ${plural(plan.workunits.length, 'workunit')} on ${plural(plan.hosts.length, 'host')}, ${hours(plan.cpuHours)} CPU-hours, credit cap ${plan.creditCap}; deploy draws a fresh seed for each seed group`,
  ];
}

export function renderJson(report: CheckReport): string {
  const errors = countErrors(report.problems);
  return `${JSON.stringify(
    {
      ok: errors === 0,
      summary: {
        manifests: report.manifests,
        scripts: report.scripts,
        errors,
        warnings: report.problems.length - errors,
        fleet: report.fleet ?? null,
        ...planTotals(report.plans),
      },
      problems: report.problems,
      plans: report.plans,
      ...(report.changes ? { changes: report.changes } : {}),
    },
    null,
    2,
  )}\n`;
}

/** GitHub Actions workflow commands: one annotation per problem. */
export function renderAnnotations(problems: readonly Problem[]): string {
  return problems
    .map((p) => {
      const properties = [`file=${escapeProperty(p.file)}`];
      if (p.line !== undefined) properties.push(`line=${p.line}`);
      if (p.column !== undefined) properties.push(`col=${p.column}`);
      properties.push(`title=${escapeProperty(p.rule)}`);
      const text = p.path ? `${p.path}: ${p.message}` : p.message;
      return `::${p.severity === 'error' ? 'error' : 'warning'} ${properties.join(',')}::${escapeData(text)}\n`;
    })
    .join('');
}

function escapeData(text: string): string {
  return text.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
}

function escapeProperty(text: string): string {
  return escapeData(text).replaceAll(':', '%3A').replaceAll(',', '%2C');
}

/** Markdown for the job summary and the pull request's plan comment. */
export function renderMarkdown(report: CheckReport): string {
  const lines = ['## axiom check', '', `**${escapeMarkdown(summaryLine(report))}**`, ''];
  if (report.problems.length > 0) {
    lines.push('### Problems', '', '| where | rule | problem |', '|---|---|---|');
    for (const p of report.problems) {
      const where = `${p.file}${p.line !== undefined ? `:${p.line}` : ''}`;
      const text = p.path ? `${p.path}: ${p.message}` : p.message;
      lines.push(
        `| \`${escapeCell(where)}\` | ${escapeCell(p.rule)} | ${escapeCell(escapeMarkdown(text))} |`,
      );
    }
    lines.push('');
  }
  const changes = report.changes;
  if (changes) lines.push(...renderChangesMarkdown(changes));
  const changed = changes ? new Set(changes.experiments.map((e) => e.experiment)) : undefined;
  const plans = changed ? report.plans.filter((p) => changed.has(p.experiment)) : report.plans;
  if (plans.length > 0) {
    lines.push(
      changes ? '### Plan of the changed experiments' : '### Plan',
      '',
      '| experiment | script | workunits | hosts | CPU-hours | credit cap |',
      '|---|---|---:|---|---:|---:|',
    );
    for (const plan of plans) {
      lines.push(
        `| ${plan.experiment} | \`${plan.script}\` @ \`${plan.scriptSha256.slice(0, 12)}\` | ${plan.workunits.length} | ${plan.hosts.join(', ')} | ${hours(plan.cpuHours)} | ${plan.creditCap} |`,
      );
    }
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

/** Workunits listed per experiment in the comment; the job's JSON report has them all. */
const WORKUNITS_IN_COMMENT = 30;

function renderChangesMarkdown(changes: PlanChanges): string[] {
  const lines = [
    `### What this pull request changes (against \`${escapeCell(changes.base)}\`)`,
    '',
    changes.experiments.length === 0
      ? 'No experiment changes: deploy will create nothing new.'
      : `Deploy creates the **new** workunits when this is merged; **unchanged** ones main plans already (deploy made them when main got them)${changes.checkedDeployed ? '; **already deployed** ones exist in BOINC' : ''}.`,
    '',
  ];
  for (const e of changes.experiments) {
    lines.push(`**${e.experiment}** (${e.change}): ${changeCounts(e)}`, '');
    if (e.workunits.length) {
      lines.push('| workunit | host | seed group | state |', '|---|---:|---:|---|');
      for (const w of e.workunits.slice(0, WORKUNITS_IN_COMMENT))
        lines.push(`| \`${w.name}\` | ${w.host} | ${w.seed} | ${STATE_WORDS[w.state]} |`);
      if (e.workunits.length > WORKUNITS_IN_COMMENT)
        lines.push(`| … ${e.workunits.length - WORKUNITS_IN_COMMENT} more | | | |`);
      lines.push('');
    }
    if (e.dropped.length)
      lines.push(
        `No longer planned (created ones keep running): ${e.dropped
          .slice(0, 10)
          .map((n) => `\`${n}\``)
          .join(', ')}${e.dropped.length > 10 ? ` and ${e.dropped.length - 10} more` : ''}.`,
        '',
      );
  }
  lines.push(`${plural(changes.unchanged, 'other experiment')} unchanged.`, '');
  return lines;
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** Text from manifests and scripts is data: keep it from becoming markup, links or mentions. */
function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()<>#!@~]/g, (c) => `\\${c}`);
}
const SCRIPT_PATH = new RegExp(`^experiments/${EXPERIMENT_NAME_PATTERN}\\.py$`);

/**
 * A check report as `axiom check --report` wrote it, read back by the job that posts the plan
 * comment. That job runs the base branch's code but the report came from the pull request's, so it
 * is data: every field is checked for its type and shape, and only what the comment shows is kept.
 */
export function parseCheckReport(text: string, file: string): CheckReport {
  const fail = (where: string, expected: string): never => {
    throw new InvalidInputError(`${file} is not a check report`, [
      { file, path: where, rule: 'check-report', message: `expected ${expected}`, severity: 'error' },
    ]);
  };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return fail('', `JSON (${(error as Error).message.slice(0, 80)})`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const count = (v: unknown, where: string) =>
    Number.isInteger(v) && (v as number) >= 0 ? (v as number) : fail(where, 'a whole number');
  const plain = (v: unknown, where: string, max: number) =>
    typeof v === 'string' && v.length <= max
      ? v.replace(/[`\r\n]/g, ' ')
      : fail(where, `text of at most ${max} characters`);
  if (
    !isObject(data) ||
    !isObject(data.summary) ||
    !Array.isArray(data.problems) ||
    !Array.isArray(data.plans)
  )
    return fail('', 'an object with summary, problems and plans');
  const summary = data.summary;
  const problems: Problem[] = data.problems.slice(0, 500).map((p, i) => {
    if (!isObject(p)) return fail(`problems[${i}]`, 'an object');
    return {
      file: plain(p.file, `problems[${i}].file`, 300),
      ...(p.line !== undefined ? { line: count(p.line, `problems[${i}].line`) } : {}),
      ...(p.column !== undefined ? { column: count(p.column, `problems[${i}].column`) } : {}),
      ...(p.path !== undefined ? { path: plain(p.path, `problems[${i}].path`, 300) } : {}),
      rule: plain(p.rule, `problems[${i}].rule`, 80),
      message: plain(p.message, `problems[${i}].message`, 2000),
      severity: p.severity === 'warning' ? 'warning' : 'error',
    };
  });
  const plans: ManifestPlan[] = data.plans.slice(0, 1000).map((p, i) => {
    const where = `plans[${i}]`;
    if (!isObject(p)) return fail(where, 'an object');
    const experiment =
      typeof p.experiment === 'string' && EXPERIMENT_NAME.test(p.experiment)
        ? p.experiment
        : fail(`${where}.experiment`, 'an experiment name');
    const script =
      typeof p.script === 'string' && SCRIPT_PATH.test(p.script)
        ? p.script
        : fail(`${where}.script`, 'experiments/<name>.py');
    const sha =
      typeof p.scriptSha256 === 'string' && /^[0-9a-f]{64}$/.test(p.scriptSha256)
        ? p.scriptSha256
        : fail(`${where}.scriptSha256`, 'a sha256');
    const hosts = Array.isArray(p.hosts)
      ? p.hosts.slice(0, 1000).map((h, k) => count(h, `${where}.hosts[${k}]`))
      : fail(`${where}.hosts`, 'a list of host ids');
    const workunits = Array.isArray(p.workunits) ? p.workunits.length : fail(`${where}.workunits`, 'a list');
    const number = (v: unknown, w: string) =>
      typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fail(w, 'a number');
    return {
      experiment,
      file: `manifests/${experiment}.yaml`,
      script,
      scriptSha256: sha,
      runDuration: number(p.runDuration, `${where}.runDuration`),
      // Only how many: the comment shows counts, not the workunits themselves.
      workunits: Array.from(
        { length: Math.min(workunits, 100_000) },
        () => ({}) as ManifestPlan['workunits'][number],
      ),
      hosts,
      cpuHours: number(p.cpuHours, `${where}.cpuHours`),
      creditCap: number(p.creditCap, `${where}.creditCap`),
    };
  });
  const changes =
    data.changes === undefined ? undefined : parseChanges(data.changes, fail, count, plain, isObject);
  const fleet = isObject(summary.fleet)
    ? {
        label: plain(summary.fleet.label, 'summary.fleet.label', 200),
        hosts: count(summary.fleet.hosts, 'summary.fleet.hosts'),
      }
    : undefined;
  return {
    manifests: count(summary.manifests, 'summary.manifests'),
    scripts: count(summary.scripts, 'summary.scripts'),
    ...(fleet ? { fleet } : {}),
    problems,
    plans,
    deployable: [],
    ...(changes ? { changes } : {}),
  };
}

const WORKUNIT_NAME = new RegExp(WORKUNIT_NAME_PATTERN);
const STATES: readonly WorkunitState[] = ['new', 'unchanged', 'deployed'];
const CHANGES: readonly ChangedExperiment['change'][] = ['added', 'changed', 'removed'];

/** The report's plan changes, checked field by field like the rest of it. */
function parseChanges(
  value: unknown,
  fail: (where: string, expected: string) => never,
  count: (v: unknown, where: string) => number,
  plain: (v: unknown, where: string, max: number) => string,
  isObject: (v: unknown) => v is Record<string, unknown>,
): PlanChanges {
  if (!isObject(value) || !Array.isArray(value.experiments))
    return fail('changes', 'an object with experiments');
  const name = (v: unknown, where: string) =>
    typeof v === 'string' && WORKUNIT_NAME.test(v) ? v : fail(where, 'a workunit name');
  const experiments = value.experiments.slice(0, 1000).map((e, i): ChangedExperiment => {
    const where = `changes.experiments[${i}]`;
    if (!isObject(e) || !Array.isArray(e.workunits) || !Array.isArray(e.dropped))
      return fail(where, 'an object with workunits and dropped');
    return {
      experiment:
        typeof e.experiment === 'string' && EXPERIMENT_NAME.test(e.experiment)
          ? e.experiment
          : fail(`${where}.experiment`, 'an experiment name'),
      change: CHANGES.includes(e.change as ChangedExperiment['change'])
        ? (e.change as ChangedExperiment['change'])
        : fail(`${where}.change`, CHANGES.join(', ')),
      workunits: e.workunits.slice(0, 10_000).map((w, k) => {
        const at = `${where}.workunits[${k}]`;
        if (!isObject(w)) return fail(at, 'an object');
        return {
          name: name(w.name, `${at}.name`),
          host: count(w.host, `${at}.host`),
          seed: count(w.seed, `${at}.seed`),
          state: STATES.includes(w.state as WorkunitState)
            ? (w.state as WorkunitState)
            : fail(`${at}.state`, STATES.join(', ')),
        };
      }),
      dropped: e.dropped.slice(0, 10_000).map((d, k) => name(d, `${where}.dropped[${k}]`)),
    };
  });
  return {
    base: plain(value.base, 'changes.base', 200),
    experiments,
    unchanged: count(value.unchanged, 'changes.unchanged'),
    checkedDeployed: value.checkedDeployed === true,
  };
}
