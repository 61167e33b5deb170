import { countErrors, formatProblem, type Problem } from '../problems.js';
import type { ManifestPlan } from '../workunit/plan.js';
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
  lines.push(summaryLine(report));
  return `${lines.join('\n')}\n`;
}

function renderPlan(plan: ManifestPlan): string[] {
  const shown = plan.workunits
    .slice(0, WORKUNITS_SHOWN)
    .map((wu) => `    + ${wu.name}  host ${wu.host}  seed ${wu.seed}  ${plural(wu.cpus, 'cpu')}`);
  const more = plan.workunits.length - shown.length;
  return [
    `  ${plan.experiment}  (${plan.script} @ ${plan.scriptSha256.slice(0, 12)}, ${plan.runDuration} s per workunit)`,
    ...shown,
    ...(more > 0 ? [`    ... and ${more} more`] : []),
    `    ${plural(plan.workunits.length, 'workunit')} on ${plural(plan.hosts.length, 'host')}, ${hours(plan.cpuHours)} CPU-hours, credit cap ${plan.creditCap}`,
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
  if (report.plans.length > 0) {
    lines.push(
      '### Plan',
      '',
      '| experiment | script | workunits | hosts | CPU-hours | credit cap |',
      '|---|---|---:|---|---:|---:|',
    );
    for (const plan of report.plans) {
      lines.push(
        `| ${plan.experiment} | \`${plan.script}\` @ \`${plan.scriptSha256.slice(0, 12)}\` | ${plan.workunits.length} | ${plan.hosts.join(', ')} | ${hours(plan.cpuHours)} | ${plan.creditCap} |`,
      );
    }
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** Text from manifests and scripts is data: keep it from becoming markup, links or mentions. */
function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()<>#!@~]/g, (c) => `\\${c}`);
}
