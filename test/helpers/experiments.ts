import { loadManifest } from '../../src/manifest/load.js';
import type { Manifest } from '../../src/manifest/types.js';
import { SchemaValidator } from '../../src/schema/validate.js';
import { REPO_ROOT, runCli } from './repo.js';

/** The ten experiments of the first batch, as the repository ships them. */
export const FIRST_BATCH = [
  'double_descent',
  'neural_scaling_laws',
  'grokking',
  'mode_connectivity',
  'lottery_ticket',
  'information_bottleneck',
  'catastrophic_forgetting',
  'reservoir_computing',
  'edge_of_chaos',
  'cellular_automata',
];

const validator = new SchemaValidator();

/** The repository's manifest of a first-batch experiment. */
export function manifestOf(name: string): Manifest {
  const loaded = loadManifest(REPO_ROOT, `manifests/${name}.yaml`, validator);
  if (!loaded.manifest) throw new Error(`manifests/${name}.yaml does not load`);
  return loaded.manifest;
}

/**
 * One run of a first-batch experiment as a volunteer runs it (`axiom run`: the reference client in
 * its sandbox), with the outcome it reports as JSON and the wall-clock seconds it took.
 */
export async function runExperiment(
  name: string,
  options: { params: Record<string, unknown>; cpus: number; budget: number; seed?: number },
) {
  const started = Date.now();
  const result = await runCli(
    [
      'run',
      `manifests/${name}.yaml`,
      '--params',
      JSON.stringify(options.params),
      '--cpus',
      String(options.cpus),
      '--budget',
      String(options.budget),
      ...(options.seed !== undefined ? ['--seed', String(options.seed)] : []),
      '--json',
      '--quiet',
    ],
    { cwd: REPO_ROOT, env: { PATH: process.env.PATH } },
  );
  return {
    outcome: JSON.parse(result.stdout),
    stderr: result.stderr,
    seconds: (Date.now() - started) / 1000,
  };
}
