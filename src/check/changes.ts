import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import type { BoincStore } from '../boinc/store.js';
import { ConfigurationError } from '../errors.js';
import { openGit } from '../forge/git.js';
import { EXPERIMENT_NAME_PATTERN } from '../manifest/name.js';
import type { Manifest } from '../manifest/types.js';
import { type ManifestPlan, replicasOf } from '../workunit/plan.js';

/** A workunit of a changed experiment: new, the same as on the base (planned there), or in BOINC already. */
export type WorkunitState = 'new' | 'unchanged' | 'deployed';

export interface ChangedExperiment {
  experiment: string;
  /** added: no manifest on the base; changed: its manifest or script differ; removed: gone here. */
  change: 'added' | 'changed' | 'removed';
  workunits: { name: string; host: number; seed: number; state: WorkunitState }[];
  /** Workunits the base plans that this branch no longer does (those already created keep running). */
  dropped: string[];
}

/** What a pull request changes in the plan, against its base. */
export interface PlanChanges {
  base: string;
  experiments: ChangedExperiment[];
  /** Experiments whose manifest and script are the same as on the base. */
  unchanged: number;
  /** Whether BOINC's database was asked which workunits exist (else `deployed` is never said). */
  checkedDeployed: boolean;
}

const MANIFEST_PATH = new RegExp(`^manifests/(${EXPERIMENT_NAME_PATTERN})\\.yaml$`);
const SCRIPT_PATH = new RegExp(`^experiments/(${EXPERIMENT_NAME_PATTERN})\\.py$`);

async function show(root: string, ref: string, path: string): Promise<string | undefined> {
  try {
    return await openGit(root).raw(['show', `${ref}:${path}`]);
  } catch {
    return undefined;
  }
}

/** The workunit names the base's manifest plans: what deploy made when the base got it. */
async function baseNames(root: string, ref: string, experiment: string): Promise<Set<string> | undefined> {
  const text = await show(root, ref, `manifests/${experiment}.yaml`);
  if (text === undefined) return undefined;
  let manifest: Manifest;
  try {
    manifest = parse(text) as Manifest;
  } catch {
    return new Set();
  }
  const script = await show(root, ref, manifest?.script ?? `experiments/${experiment}.py`);
  if (script === undefined || manifest?.retired || !Array.isArray(manifest?.targets)) return new Set();
  const scriptSha = createHash('sha256').update(script).digest('hex');
  return new Set(replicasOf({ ...manifest, name: experiment }, scriptSha).map((r) => r.name));
}

/**
 * The plan as a pull request changes it: the experiments whose manifest or script differ from
 * `base`, each workunit marked new, unchanged (the base plans it too) or deployed (BOINC has it,
 * when a store is given), and what the base planned that this branch drops.
 */
export async function planChanges(options: {
  root: string;
  base: string;
  plans: readonly ManifestPlan[];
  store?: BoincStore;
}): Promise<PlanChanges> {
  const git = openGit(options.root);
  let diff: string;
  try {
    await git.raw(['rev-parse', '--verify', '--quiet', `${options.base}^{commit}`]);
    diff = await git.raw([
      'diff',
      '--name-only',
      '--no-renames',
      options.base,
      'HEAD',
      '--',
      'manifests',
      'experiments',
    ]);
  } catch {
    throw new ConfigurationError(
      `--base ${options.base}: no such commit in ${options.root}; fetch the base branch first (git fetch origin main)`,
    );
  }
  const touched = new Set<string>();
  for (const path of diff.split('\n').filter(Boolean)) {
    const name = MANIFEST_PATH.exec(path)?.[1] ?? SCRIPT_PATH.exec(path)?.[1];
    if (name) touched.add(name);
  }
  const byName = new Map(options.plans.map((p) => [p.experiment, p]));
  const allNames = [...touched].flatMap((name) => byName.get(name)?.workunits.map((w) => w.name) ?? []);
  const deployed =
    options.store && allNames.length ? await options.store.existingWorkunits(allNames) : new Set<string>();
  const experiments: ChangedExperiment[] = [];
  for (const name of [...touched].sort()) {
    const plan = byName.get(name);
    const base = await baseNames(options.root, options.base, name);
    if (!plan && !base) continue;
    const here = new Set(plan?.workunits.map((w) => w.name) ?? []);
    experiments.push({
      experiment: name,
      change: !plan ? 'removed' : base === undefined ? 'added' : 'changed',
      workunits: (plan?.workunits ?? []).map((w) => ({
        name: w.name,
        host: w.host,
        seed: w.seed,
        state: deployed.has(w.name) ? 'deployed' : base?.has(w.name) ? 'unchanged' : 'new',
      })),
      dropped: [...(base ?? [])].filter((n) => !here.has(n)).sort(),
    });
  }
  return {
    base: options.base,
    experiments,
    unchanged: options.plans.filter((p) => !touched.has(p.experiment)).length,
    checkedDeployed: options.store !== undefined,
  };
}
