import { cpusFor } from '../fleet/fit.js';
import type { Host } from '../fleet/types.js';
import type { Manifest, ParamValue } from './types.js';

/** Hex digits of the script's sha256 used in workunit and published script names. */
export const SCRIPT_SHA_PREFIX = 12;
const SEED_MODULUS = 2 ** 31;

export interface PlannedWorkunit {
  name: string;
  host: number;
  replica: number;
  seed: number;
  cpus: number;
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

/** `axm_<experiment>_<script sha prefix>_h<host>_r<replica>`: a changed script means new workunits. */
export function workunitName(
  experiment: string,
  scriptSha256: string,
  host: number,
  replica: number,
): string {
  return `axm_${experiment}_${scriptSha256.slice(0, SCRIPT_SHA_PREFIX)}_h${host}_r${replica}`;
}

export function seedFor(manifest: Manifest, replica: number, workunitIndex: number): number {
  const { policy, base } = manifest.seed;
  const offset = policy === 'per_replica' ? replica : policy === 'unique' ? workunitIndex : 0;
  return (base + offset) % SEED_MODULUS;
}

/** The workunits deploy would create for a manifest whose target hosts all exist. */
export function planManifest(
  file: string,
  manifest: Manifest,
  scriptSha256: string,
  hosts: ReadonlyMap<number, Host>,
): ManifestPlan {
  const workunits: PlannedWorkunit[] = [];
  for (const target of manifest.targets) {
    const host = hosts.get(target.host);
    if (!host) throw new Error(`host ${target.host} of ${manifest.name} is not in the fleet`);
    for (let replica = 0; replica < (target.replicas ?? 1); replica++) {
      workunits.push({
        name: workunitName(manifest.name, scriptSha256, target.host, replica),
        host: target.host,
        replica,
        seed: seedFor(manifest, replica, workunits.length),
        cpus: cpusFor(host, manifest.resources),
        params: target.params ?? {},
      });
    }
  }
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

export function workunitCount(manifest: Manifest): number {
  return manifest.targets.reduce((sum, target) => sum + (target.replicas ?? 1), 0);
}
