import { countErrors } from '../problems.js';
import type { ApplyReport } from './apply.js';

const TABLE_ROWS = 200;

/** The granted entries as a Markdown table, for the job summary and the pull request comment. */
export function grantedMarkdown(report: ApplyReport): string {
  const total = report.granted.reduce((sum, g) => sum + g.amount, 0);
  const rows = report.granted
    .slice(0, TABLE_ROWS)
    .map((g) => `| ${g.result} | \`${g.workunit}\` | ${g.host} | ${g.user} | ${g.amount} |`);
  const more =
    report.granted.length > TABLE_ROWS ? [`\n…and ${report.granted.length - TABLE_ROWS} more.`] : [];
  return [
    `## Credit ${report.dryRun ? 'that would be granted' : 'granted'}`,
    '',
    `${report.granted.length} result${report.granted.length === 1 ? '' : 's'}, ${total} credit in total; ${report.alreadyApplied} already granted before; ${countErrors(report.problems)} refused.`,
    '',
    ...(report.granted.length > 0
      ? [
          '| result | workunit | host | user | credit |',
          '| ---: | --- | ---: | ---: | ---: |',
          ...rows,
          ...more,
        ]
      : []),
    '',
  ].join('\n');
}
