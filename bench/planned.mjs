// The work the planner chooses for one first-batch experiment on a host of the bench: a 2-core
// Linux host with the given BOINC benchmark (p_fpops per core), at the given budget.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadManifest } from '../dist/manifest/load.js';
import { SchemaValidator } from '../dist/schema/validate.js';
import { planForHost } from '../dist/workunit/plan.js';

/**
 * BOINC 7.20.5's benchmark of the machine the first batch's gflop figures were measured on
 * (`boinccmd --run_benchmarks`): 7.65e9 floating-point operations a second per core.
 */
export const MEASURED_FPOPS = 7.65e9;

const validator = new SchemaValidator();

/** The experiments the repository has a manifest for that are not retired: the first batch. */
export function experimentsIn(root) {
  return readdirSync(join(root, 'manifests'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .filter((name) => !manifestOf(root, name).retired)
    .sort();
}

/** The repository's manifest of one experiment. */
export function manifestOf(root, name) {
  const manifest = loadManifest(root, `manifests/${name}.yaml`, validator).manifest;
  if (!manifest) throw new Error(`manifests/${name}.yaml does not load`);
  return manifest;
}

/** The workunit the planner sends a 2-core host with this benchmark and BLAS (reference, openblas). */
export function plannedWorkunit(
  root,
  name,
  { cores = 2, budget, fpops = MEASURED_FPOPS, blas = 'reference' },
) {
  const host = { id: 1, cores, memoryGb: 16, os: 'linux', gpus: [], fpops, blas };
  return planForHost(`manifests/${name}.yaml`, manifestOf(root, name), host, budget);
}
