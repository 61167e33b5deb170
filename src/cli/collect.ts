import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { openStore } from '../boinc/open.js';
import { type ResultJudge, RulesJudge } from '../collect/judge.js';
import { openJudge } from '../collect/open-judge.js';
import {
  type CollectReport,
  judgeRun,
  pendingStatePath,
  publishRun,
  RESULTS_BRANCH_PREFIX,
  RUN_ID,
  readJudgedRun,
  reportOf,
  runId,
} from '../collect/results.js';
import { requireConfig } from '../config/config.js';
import { type Environment, required } from '../env/environment.js';
import { ConfigurationError, UsageError } from '../errors.js';
import { requireDefaultBranchTip } from '../forge/default-branch.js';
import { openForge } from '../forge/open.js';
import { formatProblem } from '../problems.js';
import { SchemaValidator } from '../schema/validate.js';
import { booleanOption, defineCommand, type Io, stringOption } from './command.js';
import { labRoot } from './lab.js';
import { createProgress } from './progress.js';

/** The judge a run uses: Claude with a key, except in a dry run, which spends nothing unless asked. */
async function judgeFor(
  env: Environment,
  options: { dryRun: boolean; spend: boolean; print: boolean; spool: string; io: Io },
): Promise<ResultJudge> {
  const log = (line: string) => options.io.stderr.write(`${line}\n`);
  if (options.print) return openJudge(env.claude, { print: (line) => options.io.stdout.write(line) });
  if (options.dryRun && env.claude.apiKey && !options.spend) {
    log(
      'axiom collect: a dry run asks Claude nothing: the deterministic rules judge (--spend lets Claude judge)',
    );
    return new RulesJudge();
  }
  return openJudge(env.claude, { spoolDir: options.spool, log });
}

function renderText(report: CollectReport): string {
  return [
    ...report.problems.map((p) => formatProblem(p)),
    ...report.collected.map(
      (c) =>
        `${c.result} ${c.experiment} host ${c.host}: ${c.outcome}; ${c.verdict}, credit ${c.credit}${c.failed.length ? ` (failed: ${c.failed.join(', ')})` : ''}`,
    ),
    ...report.held.map(
      (h) =>
        `held in the spool, unpublished: results ${h.results.join(', ')} of ${h.experiment} (computation ${h.computation.slice(0, 12)}): ${h.reason}`,
    ),
    ...report.requested.map(
      (r) =>
        `${report.dryRun ? 'would ask' : 'asked'} for a ${r.kind} on host ${r.host}: ${r.name} (deploy creates it)`,
    ),
    ...report.setAside.map(
      (e) => `set aside${report.dryRun ? ' (not moved: dry run)' : ''}: ${e.file}: ${e.reason}`,
    ),
    ...report.batches.map(
      (b) =>
        `batch ${b.batch}: ${b.results} results, ${b.size.files} files, ${b.size.images} images, ${b.size.lines} lines, ${b.size.bytes} bytes of diff; ${b.pullRequest ? `${b.pullRequest.ref} (${b.pullRequest.action})` : `would be proposed on ${b.branch}`}`,
    ),
    report.collected.length === 0
      ? `nothing new to collect (${report.skipped} already collected)`
      : `${report.collected.length} results ${report.dryRun ? 'would be proposed' : 'proposed'} in ${report.batches.length} pull request${report.batches.length === 1 ? '' : 's'}`,
    '',
  ].join('\n');
}

export const collectCommand = defineCommand({
  name: 'collect',
  summary: 'check and judge new volunteer results and propose them, with credit, as a results pull request',
  usage: '',
  description: [
    'Reads the spool axiom assimilate fills (AXIOM_SPOOL_DIR, or --spool), skips results already in',
    'results/ or in the open results pull request, and checks each new result by deterministic rules',
    'against what its workunit asked for (the wu.json it carried: seed, params, script hash, budget,',
    'and the manifest at the commit it was deployed from): envelope, declared outputs, finite numbers,',
    'runtime as BOINC measured it, the BOINC result row when AXIOM_DB_URL is set, payload size, copies',
    'from other hosts, same-seed replicas. It judges the eligible ones and decides credit in code: the',
    'credit cap times quality, zero for anything not valid or not eligible, at most the per-host daily',
    'limit, and each workunit paid once. The run is split into batches that GitHub shows whole (at',
    'most 300 files, 25 images, 20,000 lines and 1 MB of diff each), each its own pull request (branch',
    `${RESULTS_BRANCH_PREFIX}-<run>[-<k>], through AXIOM_FORGE) with, per experiment, results/<experiment>/`,
    '<batch>.jsonl (one line per result), <batch>.md (the review, flagged results first) and its plots,',
    "and results/credit/<batch>.yaml. Entries that cannot be read or judged are moved to the spool's",
    'set-aside/ folder with their reason and listed in the pull request. With ANTHROPIC_API_KEY, Claude',
    '(AXIOM_JUDGE_MODEL) grades the eligible results, through the Message Batches API from',
    'AXIOM_JUDGE_BATCH_FROM results on (default 20); without it the rules judge alone. Judging and',
    'publishing can run as two steps (--judge-only, then --publish): the judged run waits in --state,',
    'and a run judged but not yet published is published by the next attempt, never judged again.',
  ].join('\n'),
  options: {
    root: { type: 'string', value: 'DIR', description: 'repository root (default: the current directory)' },
    spool: { type: 'string', value: 'DIR', description: 'the spool directory (default: AXIOM_SPOOL_DIR)' },
    run: {
      type: 'string',
      value: 'ID',
      description: 'collection run id, e.g. 2026-11-25T120000Z (default: now)',
    },
    'no-plots': {
      type: 'boolean',
      description: 'add no plots to the results pull requests (axiom plots adds them later)',
    },
    'judge-only': {
      type: 'boolean',
      description: 'check and judge, and leave the judged run in --state for --publish',
    },
    publish: {
      type: 'boolean',
      description: 'open the pull requests of the run --judge-only left in --state, then clear it',
    },
    state: {
      type: 'string',
      value: 'FILE',
      description: 'where a judged run waits to be published (default: collect-pending.json in the spool)',
    },
    'dry-run': {
      type: 'boolean',
      description:
        'check and judge (by the rules: a dry run asks Claude nothing, unless --spend), then report; write and open nothing',
    },
    spend: { type: 'boolean', description: 'with --dry-run: let Claude judge, which costs money' },
    'print-requests': {
      type: 'boolean',
      description:
        'print the exact request each eligible result would be sent (JSON, one per line), with estimated tokens and cost; ask nothing',
    },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, { io, env }) {
    const root = labRoot(io.cwd, stringOption(args, 'root'), 'collect');
    const spoolOption = stringOption(args, 'spool');
    const spool = spoolOption
      ? resolve(io.cwd, spoolOption)
      : required(env.spoolDir, 'AXIOM_SPOOL_DIR', 'or --spool');
    const run = stringOption(args, 'run') ?? runId(new Date());
    if (!RUN_ID.test(run))
      throw new UsageError(`--run must look like 2026-11-25T120000Z; found "${run}"`, 'collect');
    const printRequests = booleanOption(args, 'print-requests');
    const dryRun = booleanOption(args, 'dry-run') || printRequests;
    if (!dryRun) await requireDefaultBranchTip({ command: 'axiom collect', env, repoDir: root });
    // Under Actions a collection without BOINC's database would skip the checks that need it.
    if (env.actions.running && !env.databaseUrl)
      throw new ConfigurationError(
        "axiom collect under GitHub Actions needs AXIOM_DB_URL (the collect environment's secret): without BOINC's database it cannot check who returned a result or how long BOINC measured it; nothing was done",
      );
    const validator = new SchemaValidator();
    const config = requireConfig(root, validator);
    const forge = await openForge({
      settings: env.forge,
      repoDir: root,
      log: (l) => io.stderr.write(`${l}\n`),
    });
    const judgeOnly = booleanOption(args, 'judge-only');
    const publishOnly = booleanOption(args, 'publish');
    if (judgeOnly && publishOnly)
      throw new UsageError('--judge-only and --publish are the two halves; give one', 'collect');
    const stateOption = stringOption(args, 'state');
    // A dry run neither reads nor leaves a judged run behind.
    const statePath = dryRun
      ? undefined
      : stateOption
        ? resolve(io.cwd, stateOption)
        : pendingStatePath(spool);
    const progress = createProgress(io);
    const publishing = {
      forge,
      spoolDir: spool,
      dryRun,
      plots: { enabled: !booleanOption(args, 'no-plots') },
      progress: (line: string) => progress.update(line),
    };
    let report: CollectReport;
    if (publishOnly) {
      const judged = statePath ? readJudgedRun(statePath) : undefined;
      if (!judged) {
        progress.done();
        io.stdout.write(
          booleanOption(args, 'json')
            ? `${JSON.stringify({ published: false, state: statePath }, null, 2)}\n`
            : `nothing judged waits in ${statePath}; nothing to publish\n`,
        );
        return 0;
      }
      try {
        report = await publishRun(judged, publishing);
      } finally {
        progress.done();
      }
      if (statePath) rmSync(statePath, { force: true });
    } else {
      const store = env.databaseUrl ? openStore(env.databaseUrl) : undefined;
      try {
        const { judged, reused } = await judgeRun({
          root,
          spoolDir: spool,
          ...(store ? { store } : {}),
          validator,
          judge: await judgeFor(env, {
            dryRun,
            spend: booleanOption(args, 'spend'),
            print: printRequests,
            spool,
            io,
          }),
          run,
          hostDayLimit: config.limits.creditPerHostDay,
          dryRun,
          forge,
          ...(statePath ? { statePath } : {}),
          progress: (line) => progress.update(line),
        });
        if (reused)
          io.stderr.write(
            `axiom collect: run ${judged.run}, judged before and not yet published, is published now; nothing is judged twice\n`,
          );
        if (printRequests) {
          progress.done();
          io.stderr.write(
            'axiom collect: --print-requests: nothing was sent to Claude, and nothing is collected\n',
          );
          return 0;
        }
        if (judgeOnly) {
          report = reportOf(judged, [], dryRun);
        } else {
          report = await publishRun(judged, publishing);
          if (statePath) rmSync(statePath, { force: true });
        }
      } finally {
        progress.done();
        await store?.close();
      }
    }
    io.stdout.write(
      booleanOption(args, 'json') ? `${JSON.stringify(report, null, 2)}\n` : renderText(report),
    );
    return 0;
  },
});
