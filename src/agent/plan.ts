import { applyCredit } from '../credit/apply.js';
import { deployManifests } from '../deploy/deploy.js';
import type { AgentOptions } from './reconcile.js';
import { collectDue } from './stages.js';
import { readState } from './state.js';

export interface PassPlan {
  commit: string;
  /** What the last pass acted on. */
  actedOn?: string;
  rewritten: boolean;
  deploy: number;
  credit: number;
  collect: boolean;
  lines: string[];
}

/**
 * What the next pass would do, changing nothing but the agent's own clone: main fetched and
 * checked out, deploy planned without a target, credit applied as a dry run, collect's due time.
 */
export async function planPass(options: AgentOptions): Promise<PassPlan> {
  const state = readState(options.statePath);
  await options.main.prepare();
  const commit = await options.main.fetch();
  const rewritten = state.commit !== undefined && !(await options.main.descends(state.commit, commit));
  await options.main.checkout(commit);
  const root = options.main.dir;
  const store = options.openStore();
  try {
    const deploy = await deployManifests({
      root,
      validator: options.validator,
      python: options.python,
      store,
    });
    const credit = await applyCredit({
      root,
      store,
      validator: options.validator,
      commit,
      now: () => Math.floor(options.now().getTime() / 1000),
      dryRun: true,
    });
    const collect = collectDue(options.spoolDir, state.collected, options.collectEvery, options.now());
    return {
      commit,
      ...(state.commit ? { actedOn: state.commit } : {}),
      rewritten,
      deploy: deploy.totals.planned,
      credit: credit.granted.length,
      collect,
      lines: [
        `main is ${commit}${state.commit ? `; the agent last acted on ${state.commit}` : ''}`,
        ...(rewritten ? ['main was rewritten: a pass would refuse it until --accept-rewrite'] : []),
        `deploy would create ${deploy.totals.planned} workunits (${deploy.totals.present} present)`,
        `credit apply would grant ${credit.granted.length} entries`,
        collect ? 'collect is due' : 'collect is not due',
        'dry run: nothing was changed',
      ],
    };
  } finally {
    await store.close();
  }
}
