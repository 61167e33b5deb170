import type { Host } from '../fleet/types.js';
import { cpusFor } from '../manifest/fit.js';
import type { Manifest, ParamValue, Target } from '../manifest/types.js';
import { WorkunitName } from './name.js';

const SEED_MODULUS = 2 ** 31;

/** The planned record of one workunit: what deploy writes into its wu.json. */
export interface PlannedWorkunit {
  name: string;
  host: number;
  replica: number;
  seed: number;
  cpus: number;
  memoryGb: number;
  params: Record<string, ParamValue>;
}

/** What deploying one manifest would create. */
export interface ManifestPlan {
  experiment: string;
  file: string;
  script: string;
  scriptSha256: string;
  runDuration: number;
  workunits: PlannedWorkunit[];
  hosts: number[];
  cpuHours: number;
  creditCap: number;
}

export function seedFor(manifest: Manifest, replica: number, workunitIndex: number): number {
  const { policy, base } = manifest.seed;
  const offset = policy === 'per_replica' ? replica : policy === 'unique' ? workunitIndex : 0;
  return (base + offset) % SEED_MODULUS;
}

/** Every replica of every target of a manifest, in plan order, with its workunit's name. */
export function replicasOf(
  manifest: Pick<Manifest, 'name' | 'targets'>,
  scriptSha256: string,
): { name: string; target: Target; replica: number }[] {
  return manifest.targets.flatMap((target) =>
    Array.from({ length: target.replicas ?? 1 }, (_, replica) => ({
      name: WorkunitName.format({
        experiment: manifest.name,
        scriptSha: scriptSha256,
        host: target.host,
        replica,
      }),
      target,
      replica,
    })),
  );
}

/** The workunits deploy would create for a manifest whose target hosts all exist. */
export function planManifest(
  file: string,
  manifest: Manifest,
  scriptSha256: string,
  hosts: ReadonlyMap<number, Host>,
): ManifestPlan {
  const workunits = replicasOf(manifest, scriptSha256).map(({ name, target, replica }, index) => {
    const host = hosts.get(target.host);
    if (!host) throw new Error(`host ${target.host} of ${manifest.name} is not in the fleet`);
    return {
      name,
      host: target.host,
      replica,
      seed: seedFor(manifest, replica, index),
      cpus: cpusFor(host, manifest.resources),
      memoryGb: manifest.resources.min_memory_gb,
      params: target.params ?? {},
    };
  });
  const cpuSeconds = workunits.reduce((sum, wu) => sum + wu.cpus * manifest.run_duration, 0);
  return {
    experiment: manifest.name,
    file,
    script: manifest.script,
    scriptSha256,
    runDuration: manifest.run_duration,
    workunits,
    hosts: [...new Set(workunits.map((wu) => wu.host))],
    cpuHours: cpuSeconds / 3600,
    creditCap: workunits.length * manifest.credit_cap,
  };
}
