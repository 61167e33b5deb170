import { appendFileSync } from 'node:fs';
import { openStore } from '../boinc/open.js';
import type { BoincStore } from '../boinc/store.js';
import { type ApplyReport, applyCredit } from '../credit/apply.js';
import { grantedMarkdown } from '../credit/markdown.js';
import { type CreditBalance, creditStatus } from '../credit/status.js';
import { type Environment, required } from '../env/environment.js';
import { UsageError } from '../errors.js';
import { requireDefaultBranchTip } from '../forge/default-branch.js';
import { headCommit } from '../forge/git.js';
import { openForge } from '../forge/open.js';
import { countErrors, formatProblem } from '../problems.js';
import { SchemaValidator } from '../schema/validate.js';
import { booleanOption, type Context, defineCommand, type ParsedArgs, stringOption } from './command.js';
import { labRoot } from './lab.js';
import { createProgress } from './progress.js';

const creditOptions = {
  root: { type: 'string', value: 'DIR', description: 'repository root (default: the current directory)' },
  'dry-run': { type: 'boolean', description: 'apply: show what would be granted; change nothing' },
  comment: {
    type: 'boolean',
    description: 'apply: comment what was granted on the pull request merged at HEAD (AXIOM_FORGE)',
  },
  json: { type: 'boolean', description: 'report as JSON' },
} as const;
type CreditArgs = ParsedArgs<typeof creditOptions>;

function openDb(env: Environment): BoincStore {
  return openStore(required(env.databaseUrl, 'AXIOM_DB_URL'));
}

function applyText(report: ApplyReport): string {
  const verb = report.dryRun ? 'would grant' : 'granted';
  return [
    ...report.granted.map(
      (g) => `${verb} ${g.amount} to result ${g.result} (host ${g.host}, user ${g.user}) from ${g.source}`,
    ),
    ...report.problems.map((p) => formatProblem(p)),
    `${report.granted.length} ${verb}, ${report.alreadyApplied} already granted, ${countErrors(report.problems)} refused`,
    '',
  ].join('\n');
}

async function apply(args: CreditArgs, { io, env }: Context, root: string): Promise<number> {
  const dryRun = booleanOption(args, 'dry-run');
  if (!dryRun) await requireDefaultBranchTip({ command: 'axiom credit apply', env, repoDir: root });
  const store = openDb(env);
  const progress = createProgress(io);
  let report: ApplyReport;
  try {
    report = await applyCredit({
      root,
      store,
      validator: new SchemaValidator(),
      commit: await headCommit(root),
      now: () => Math.floor(Date.now() / 1000),
      dryRun,
      progress: (done, total) => {
        if (total >= 1000 && (done % 1000 === 0 || done === total))
          progress.update(`credit: ${done}/${total} entries`);
      },
    });
  } finally {
    progress.done();
    await store.close();
  }
  io.stdout.write(booleanOption(args, 'json') ? `${JSON.stringify(report, null, 2)}\n` : applyText(report));
  if (env.actions.stepSummary) appendFileSync(env.actions.stepSummary, grantedMarkdown(report));
  if (booleanOption(args, 'comment') && !dryRun && report.granted.length > 0)
    await commentOnMerge({ io, env }, root, report);
  return countErrors(report.problems) > 0 ? 1 : 0;
}

/** Tells the pull request whose merge brought these files in what was granted. */
async function commentOnMerge({ io, env }: Context, root: string, report: ApplyReport): Promise<void> {
  const forge = await openForge({
    settings: env.forge,
    repoDir: root,
    log: (l) => io.stderr.write(`${l}\n`),
  });
  const info = await forge.mergeInfo(await headCommit(root));
  if (!info.pullRequest) {
    io.stderr.write('the commit on main is not the merge of a pull request; no comment posted\n');
    return;
  }
  await forge.upsertComment(info.pullRequest, 'credit', grantedMarkdown(report));
}

function balanceLines(title: string, balances: CreditBalance[]): string[] {
  if (balances.length === 0) return [];
  return [
    `${title.padEnd(8)} ${'proposed'.padStart(10)} ${'granted'.padStart(10)} ${'in BOINC'.padStart(10)} ${'drift'.padStart(8)}`,
    ...balances.map(
      (b) =>
        `${String(b.id).padEnd(8)} ${String(b.proposed).padStart(10)} ${String(b.granted).padStart(10)} ${String(b.total).padStart(10)} ${String(b.drift).padStart(8)}`,
    ),
    '',
  ];
}

async function status(args: CreditArgs, { io, env }: Context, root: string): Promise<number> {
  const store = openDb(env);
  try {
    const report = await creditStatus({ root, store, validator: new SchemaValidator() });
    const text = [
      ...balanceLines('host', report.hosts),
      ...balanceLines('user', report.users),
      `${report.waiting} entr${report.waiting === 1 ? 'y' : 'ies'} waiting to be applied, ${report.refused} refused`,
      ...report.mismatched.map(
        (m) => `result ${m.result}: the ledger granted ${m.ledger}, result.granted_credit is ${m.granted}`,
      ),
      '',
    ].join('\n');
    io.stdout.write(booleanOption(args, 'json') ? `${JSON.stringify(report, null, 2)}\n` : text);
    return 0;
  } finally {
    await store.close();
  }
}

const SUBCOMMANDS: Record<string, (args: CreditArgs, context: Context, root: string) => Promise<number>> = {
  apply,
  status,
};

export const creditCommand = defineCommand({
  name: 'credit',
  summary: 'grant the credit of merged results pull requests in the BOINC database, exactly once',
  usage: 'apply | status',
  description: [
    'axiom credit apply reads every credit file on this checkout (results/credit/*.yaml; the merged',
    'file is the truth, including amounts a reviewer edited), compares it with the ledger table',
    'axiom_credit_ledger in the BOINC database (AXIOM_DB_URL), and grants each entry not granted yet,',
    'up to 100 in a transaction: the ledger row, result.granted_credit, and host, user and team totals',
    "and recent averages (BOINC's formula, 7-day half-life). Entries are checked first (known result, same",
    "workunit, host and user as BOINC recorded, 0 to the manifest's credit_cap, only valid results",
    'paid); a refused entry is reported at its file and line and the rest are granted. Running it again',
    'grants nothing twice, also when two runs overlap. Exit 1 when any entry was refused. What only the',
    'database can tell (a result BOINC does not know, another host) is refused once: recorded in',
    'axiom_credit_refusals, it is a warning in later runs. A credit file is at most 1 MiB, never a link.',
    '',
    'axiom credit status shows proposed against granted credit per host and user, entries waiting, and',
    'drift between the ledger and the totals in BOINC.',
  ].join('\n'),
  options: creditOptions,
  async run(args, context) {
    const [name, extra] = args.positionals;
    const run = name ? SUBCOMMANDS[name] : undefined;
    if (!run || extra !== undefined)
      throw new UsageError(`expected a subcommand: ${Object.keys(SUBCOMMANDS).join(', ')}`, 'credit');
    return run(args, context, labRoot(context.io.cwd, stringOption(args, 'root'), 'credit'));
  },
});
