import { InvalidInputError } from '../errors.js';
import type { CommitReport, CommitReporter } from '../forge/reports.js';
import { formatProblem } from '../problems.js';
import type { MainBranch } from './main-branch.js';
import {
  assimilatorStage,
  collectDue,
  collectStage,
  creditStage,
  deployStage,
  type StagePorts,
} from './stages.js';
import { type AgentState, readState, type StageOutcome, writeState } from './state.js';

/**
 * One pass of the agent on the BOINC server, the pull model of Argo CD and Flux: read main's
 * commit on the origin, and when there is anything to do, fetch exactly that commit, check it
 * out, and reconcile BOINC with it: deploy, credit apply, and (when due) collect. Each stage is
 * idempotent and marked done only when it finished, so a pass killed at any point is completed by
 * the next; main is read again before each stage, and a pass whose main moved stops for the next
 * pass to take the newer commit. A main that was rewritten (not a descendant of the commit acted
 * on before) is refused until an operator accepts it. Nothing of the checkout is executed: it is
 * data (manifests, scripts to publish, credit files) read by this installed code.
 */
export interface AgentOptions extends StagePorts {
  main: MainBranch;
  reporter: CommitReporter;
  statePath: string;
  /** Milliseconds between collections. */
  collectEvery: number;
  /** Accept a main that does not descend from the commit acted on before (one pass). */
  acceptRewrite?: boolean;
  /** Called at each point a pass could be killed; tests stop the pass there. */
  checkpoint?: (step: string) => void;
}

export interface PassReport {
  commit: string;
  action: 'idle' | 'reconciled' | 'moved' | 'refused';
  stages: StageOutcome[];
  report?: CommitReport;
}

type Stage = {
  name: StageOutcome['stage'];
  due: (state: AgentState, commit: string, options: AgentOptions) => boolean;
  run: (root: string, commit: string, options: AgentOptions) => Promise<StageOutcome>;
  done: (state: AgentState, commit: string, outcome: StageOutcome, now: Date) => void;
};

const STAGES: Stage[] = [
  {
    name: 'deploy',
    due: (s, c) => s.deployed !== c,
    run: deployStage,
    done: (s, c, o) => {
      if (o.ok) s.deployed = c;
    },
  },
  {
    name: 'credit',
    due: (s, c) => s.credited !== c,
    run: creditStage,
    // Refused entries wait for a person: applying the same files again changes nothing.
    done: (s, c) => {
      s.credited = c;
    },
  },
  {
    name: 'assimilate',
    // Checked on every new commit (an upgrade may have moved the installation), and until it is ready.
    due: (s, c, o) => o.assimilator !== undefined && s.assimilatorChecked !== c,
    run: assimilatorStage,
    done: (s, c, o) => {
      if (o.ok) s.assimilatorChecked = c;
    },
  },
];
const DEPLOY = STAGES[0] as Stage;

/** The problems a failed stage lists in the report, at most. */
const MAX_PROBLEMS = 50;

export async function reconcileOnce(options: AgentOptions): Promise<PassReport> {
  const checkpoint = options.checkpoint ?? (() => {});
  const state = readState(options.statePath);
  const now = options.now();
  await options.main.prepare();
  const tip = await options.main.remoteTip();
  const collecting = collectDue(options.spoolDir, state.collected, options.collectEvery, now);
  const pending = STAGES.filter((s) => s.due(state, tip, options));
  if (state.commit === tip && pending.length === 0 && state.reported === tip && !collecting)
    return { commit: tip, action: 'idle', stages: [] };

  const fetched = await options.main.fetch();
  checkpoint('fetched');
  if (state.commit && state.commit !== fetched && !(await options.main.descends(state.commit, fetched))) {
    if (!options.acceptRewrite) return refuseRewrite(options, state.commit, fetched);
    for (const key of ['deployed', 'credited', 'reported'] as const) delete state[key];
  }
  await closeSuperseded(options, state, fetched);
  state.commit = fetched;
  writeState(options.statePath, state);
  const root = options.main.dir;
  await options.main.checkout(fetched);
  checkpoint('checked-out');
  if (state.reported !== fetched)
    await options.reporter.report(fetched, {
      status: 'in_progress',
      title: 'the agent is reconciling this commit',
      summary: '',
    });

  for (const stage of STAGES.filter((s) => s.due(state, fetched, options))) {
    if ((await options.main.remoteTip()) !== fetched) return { commit: fetched, action: 'moved', stages: [] };
    await passStage(stage, state, fetched, options);
  }
  if (collecting) {
    const result = await runStage(
      'collect',
      fetched,
      () => collectStage(root, fetched, options, checkpoint),
      options,
    );
    if (result.ok) state.collected = options.now().toISOString();
    state.stages.collect = result;
    // Collect asks for tie-breaker and replacement replicas by recording them; deploy creates them.
    if (result.ok) delete state.deployed;
    writeState(options.statePath, state);
    if (result.ok) await passStage(DEPLOY, state, fetched, options);
  }
  checkpoint('report:before');
  const report = composeReport(state, fetched);
  await options.reporter.report(fetched, report);
  checkpoint('report:after');
  state.reported = fetched;
  writeState(options.statePath, state);
  return { commit: fetched, action: 'reconciled', stages: Object.values(state.stages), report };
}

/**
 * A commit whose pass was cut short (main moved on, or the pass was killed) keeps its "in progress"
 * report forever unless it is closed: it is, as superseded by the commit the agent now takes.
 */
async function closeSuperseded(options: AgentOptions, state: AgentState, next: string): Promise<void> {
  const previous = state.commit;
  if (!previous || previous === next || state.reported === previous) return;
  await options.reporter.report(previous, {
    status: 'completed',
    conclusion: 'neutral',
    title: `superseded: main moved on to ${next.slice(0, 12)} before this commit was reconciled`,
    summary: `The agent reconciles ${next}, which contains this commit; its report there says what was done.`,
  });
}

/** Runs one stage and records its outcome; it is marked done only when it finished. */
async function passStage(
  stage: Stage,
  state: AgentState,
  commit: string,
  options: AgentOptions,
): Promise<void> {
  const checkpoint = options.checkpoint ?? (() => {});
  checkpoint(`${stage.name}:before`);
  const result = await runStage(
    stage.name,
    commit,
    () => stage.run(options.main.dir, commit, options),
    options,
  );
  checkpoint(`${stage.name}:after`);
  stage.done(state, commit, result, options.now());
  state.stages[stage.name] = result;
  writeState(options.statePath, state);
}

/** A stage that throws is a failed stage: reported, not marked done, tried again by the next pass. */
async function runStage(
  stage: StageOutcome['stage'],
  commit: string,
  work: () => Promise<StageOutcome>,
  options: AgentOptions,
): Promise<StageOutcome> {
  try {
    return await work();
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? String(error);
    options.log(`agent: ${stage} failed: ${message}`);
    const problems =
      error instanceof InvalidInputError
        ? error.problems.slice(0, MAX_PROBLEMS).map((p) => `- ${formatProblem(p)}`)
        : [];
    return {
      stage,
      commit,
      ok: false,
      line: `${stage} failed`,
      detail: [`### ${stage}\n\nfailed: ${message}`, ...(problems.length ? ['', ...problems] : [])].join(
        '\n',
      ),
      at: options.now().toISOString(),
    };
  }
}

async function refuseRewrite(options: AgentOptions, before: string, tip: string): Promise<PassReport> {
  const report: CommitReport = {
    status: 'completed',
    conclusion: 'failure',
    title: `main was rewritten: ${tip.slice(0, 12)} does not descend from ${before.slice(0, 12)}; nothing was done`,
    summary: `The agent acted on ${before} before, and main's history no longer contains it. A force-push to main is refused until an operator on the BOINC server runs \`axiom agent --once --accept-rewrite\` after checking why it happened.`,
  };
  options.log(`agent: ${report.title}`);
  await options.reporter.report(tip, report);
  return { commit: tip, action: 'refused', stages: [], report };
}

/** The report on a commit: every stage's latest outcome for it (collect whenever it last ran). */
export function composeReport(state: AgentState, commit: string): CommitReport {
  const outcomes = Object.values(state.stages).filter(
    (o): o is StageOutcome => o !== undefined && (o.commit === commit || o.stage === 'collect'),
  );
  const failed = outcomes.some((o) => !o.ok);
  return {
    status: 'completed',
    conclusion: failed ? 'failure' : 'success',
    title: outcomes.map((o) => o.line).join(' · ') || 'nothing to do',
    summary: [`The agent reconciled the BOINC server with ${commit}.`, ...outcomes.map((o) => o.detail)].join(
      '\n\n',
    ),
  };
}
