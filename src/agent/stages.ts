import { existsSync, rmSync } from 'node:fs';
import type { BoincStore } from '../boinc/store.js';
import type { ResultJudge } from '../collect/judge.js';
import { judgeRun, pendingStatePath, publishRun, runId } from '../collect/results.js';
import { requireConfig } from '../config/config.js';
import { applyCredit } from '../credit/apply.js';
import { grantedMarkdown } from '../credit/markdown.js';
import { type DeployTarget, deployManifests } from '../deploy/deploy.js';
import type { Forge } from '../forge/forge.js';
import { countErrors, formatProblem } from '../problems.js';
import type { SchemaValidator } from '../schema/validate.js';
import { type AssimilatorExpectation, checkAssimilator } from './assimilator.js';
import type { StageOutcome } from './state.js';

/** What the stages reach the world through; each is opened only when a stage needs it. */
export interface StagePorts {
  validator: SchemaValidator;
  python: string;
  openStore: () => BoincStore;
  deployTarget: (root: string, commit: string, store: BoincStore) => Promise<DeployTarget>;
  /** A forge with a token fresh enough for the work that follows. */
  openForge: (root: string) => Promise<Forge>;
  openJudge: () => Promise<ResultJudge>;
  spoolDir?: string;
  /** What BOINC's assimilator should be set up to do; unset: the agent does not collect. */
  assimilator?: AssimilatorExpectation;
  now: () => Date;
  log: (line: string) => void;
}

async function withStore<T>(ports: StagePorts, work: (store: BoincStore) => Promise<T>): Promise<T> {
  const store = ports.openStore();
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

function outcome(
  stage: StageOutcome['stage'],
  commit: string,
  ok: boolean,
  line: string,
  detail: string,
  now: Date,
): StageOutcome {
  return { stage, commit, ok, line, detail, at: now.toISOString() };
}

const DEPLOY_ROWS = 50;

/** deploy: publish and create every workunit main's manifests plan (`deployManifests`). */
export async function deployStage(root: string, commit: string, ports: StagePorts): Promise<StageOutcome> {
  const report = await withStore(ports, async (store) =>
    deployManifests({
      root,
      validator: ports.validator,
      python: ports.python,
      store,
      target: await ports.deployTarget(root, commit, store),
    }),
  );
  const { totals } = report;
  const rows = report.items
    .filter((i) => i.state !== 'present')
    .slice(0, DEPLOY_ROWS)
    .map((i) => `| ${i.state} | \`${i.name}\` | ${i.host} | ${(i.reason ?? '').replaceAll('|', '\\|')} |`);
  const line = `deploy: ${totals.created} created, ${totals.failed} failed${totals.cancelled ? `, ${totals.cancelled} cancelled` : ''}`;
  const detail = [
    `### deploy\n\n${totals.created} created, ${totals.present} already present, ${totals.failed} failed, ${totals.cancelled} cancelled (retired).`,
    ...(rows.length ? ['', '| state | workunit | host | reason |', '|---|---|---:|---|', ...rows] : []),
  ].join('\n');
  return outcome('deploy', commit, totals.failed === 0, line, detail, ports.now());
}

/** credit apply: grant what main's credit files say, once per result; tell the merged pull request. */
export async function creditStage(root: string, commit: string, ports: StagePorts): Promise<StageOutcome> {
  const report = await withStore(ports, (store) =>
    applyCredit({
      root,
      store,
      validator: ports.validator,
      commit,
      now: () => Math.floor(ports.now().getTime() / 1000),
      dryRun: false,
    }),
  );
  if (report.granted.length > 0) {
    const forge = await ports.openForge(root);
    const merge = await forge.mergeInfo(commit);
    if (merge.pullRequest) await forge.upsertComment(merge.pullRequest, 'credit', grantedMarkdown(report));
  }
  const refused = countErrors(report.problems);
  const problems = report.problems.slice(0, 50).map((p) => `- ${formatProblem(p)}`);
  const detail = [`### credit\n`, grantedMarkdown(report).replace(/^## /, '#### '), ...problems].join('\n');
  return outcome(
    'credit',
    commit,
    refused === 0,
    `credit: ${report.granted.length} granted, ${refused} refused`,
    detail,
    ports.now(),
  );
}

/** assimilate: whether BOINC's script_assimilator will hand results to the spool (`checkAssimilator`). */
export async function assimilatorStage(
  _root: string,
  commit: string,
  ports: StagePorts,
): Promise<StageOutcome> {
  const check = await checkAssimilator(ports.assimilator as AssimilatorExpectation);
  const problems = check.lines.filter((l) => l.startsWith('problem: ')).length;
  return outcome(
    'assimilate',
    commit,
    check.ok,
    check.ok ? 'assimilator ready' : `assimilator: ${problems} problem${problems === 1 ? '' : 's'}`,
    ['### assimilate\n', ...check.lines.map((l) => `- ${l}`)].join('\n'),
    ports.now(),
  );
}

/** Whether a collection is due: a judged run waits to be published, or the interval has passed. */
export function collectDue(
  spoolDir: string | undefined,
  last: string | undefined,
  every: number,
  now: Date,
): boolean {
  if (!spoolDir) return false;
  if (existsSync(pendingStatePath(spoolDir))) return true;
  return last === undefined || now.getTime() - Date.parse(last) >= every;
}

/**
 * collect: judge what the spool holds (the judged run waits in the spool), then publish it with a
 * forge opened afresh (the App token is minted after judging, however long that took).
 */
export async function collectStage(
  root: string,
  commit: string,
  ports: StagePorts,
  checkpoint: (step: string) => void,
): Promise<StageOutcome> {
  const spoolDir = ports.spoolDir as string;
  const statePath = pendingStatePath(spoolDir);
  const config = requireConfig(root, ports.validator);
  const { judged, reused } = await withStore(ports, async (store) =>
    judgeRun({
      root,
      spoolDir,
      store,
      validator: ports.validator,
      judge: await ports.openJudge(),
      run: runId(ports.now()),
      hostDayLimit: config.limits.creditPerHostDay,
      forge: await ports.openForge(root),
      statePath,
      progress: ports.log,
    }),
  );
  checkpoint('collect:judged');
  const report = await publishRun(judged, {
    forge: await ports.openForge(root),
    spoolDir,
    dryRun: false,
    plots: { enabled: true },
    progress: ports.log,
  });
  checkpoint('collect:published');
  rmSync(statePath, { force: true });
  const prs = report.batches.flatMap((b) =>
    b.pullRequest ? [`- ${b.pullRequest.url} (${b.pullRequest.action}): ${b.results} results`] : [],
  );
  const line = report.collected.length
    ? `collect: ${report.collected.length} results in ${report.batches.length} pull request${report.batches.length === 1 ? '' : 's'}`
    : 'collect: nothing new';
  const detail = [
    `### collect\n\nrun ${report.run}${reused ? ' (judged before, published now)' : ''}, judged by ${report.judgedBy}: ${report.collected.length} collected, ${report.skipped} already collected, ${report.setAside.length} set aside.`,
    ...prs,
  ].join('\n');
  return outcome('collect', commit, true, line, detail, ports.now());
}
