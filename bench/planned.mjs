// The work the planner chooses for one first-batch experiment on a host of the bench: a fleet of
// one 2-core Linux host with the given BOINC benchmark (p_fpops per core), at the given budget.
import { loadManifest } from '../dist/manifest/load.js';
import { SchemaValidator } from '../dist/schema/validate.js';
import { planManifest } from '../dist/workunit/plan.js';

/**
 * BOINC 7.20.5's benchmark of the machine the first batch's gflop figures were measured on
 * (`boinccmd --run_benchmarks`): 7.65e9 floating-point operations a second per core.
 */
export const MEASURED_FPOPS = 7.65e9;

const validator = new SchemaValidator();

export function plannedWorkunit(root, name, { cores = 2, budget, fpops = MEASURED_FPOPS }) {
  const manifest = loadManifest(root, `manifests/${name}.yaml`, validator).manifest;
  if (!manifest) throw new Error(`manifests/${name}.yaml does not load`);
  const target = { host: 1, ...(manifest.targets[0]?.params ? { params: manifest.targets[0].params } : {}) };
  const host = { id: 1, cores, memoryGb: 16, os: 'linux', gpus: [], fpops };
  const scaled = { ...manifest, run_duration: budget, targets: [target] };
  const plan = planManifest(`manifests/${name}.yaml`, scaled, 'ab'.repeat(32), new Map([[1, host]]));
  return plan.workunits[0];
}
