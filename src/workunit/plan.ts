import type { Host } from '../fleet/types.js';
import { cpusFor, memoryGbFor } from '../manifest/fit.js';
import type { Manifest, ParamValue, SeedPolicy, Target, WorkSpec } from '../manifest/types.js';
import { canonicalJson } from './computation.js';
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
  /** How long its planned work should take on its host, from the host's benchmark. */
  plannedSeconds?: number;
}

/** The work the planner chose for one group of same-seed workunits. */
export interface WorkChoice {
  param: string;
  units: number;
  seed: number;
  /** The group's hosts, and the slowest of them, which the units were sized for. */
  hosts: number[];
  slowest: number;
  /** Why the units are what they are: sized, kept from the target, or at a bound. */
  reason: string;
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
  /** The work chosen per group of same-seed workunits, when the manifest has a work model. */
  work?: WorkChoice[];
  /** Hosts whose fewest units do not fit in the deadline: by their benchmark, or at the assumed speed. */
  workProblems?: { message: string; benchmarked: boolean }[];
}

/**
 * What a BOINC client reports for a host whose benchmark has not run (client/cs_benchmark.cpp,
 * DEFAULT_FPOPS): work for such a host is sized as if each core did 1e9 operations a second, which
 * real hosts beat.
 */
export const ASSUMED_FPOPS = 1e9;
/** The share of the budget the slowest host should take when the manifest does not say. */
export const DEFAULT_FILL = 0.5;
/** Scripts stop starting work at this share of the budget, to leave time for writing the result. */
export const DEADLINE_SHARE = 0.85;

/** The policy in force: as written, or fixed for several targets (so hosts check each other) and per_replica for one. */
export function seedPolicyOf(
  manifest: Pick<Manifest, 'seed' | 'targets'>,
): NonNullable<SeedPolicy['policy']> {
  return manifest.seed.policy ?? (manifest.targets.length > 1 ? 'fixed' : 'per_replica');
}

export function seedFor(
  manifest: Pick<Manifest, 'seed' | 'targets'>,
  replica: number,
  workunitIndex: number,
): number {
  const policy = seedPolicyOf(manifest);
  const offset = policy === 'per_replica' ? replica : policy === 'unique' ? workunitIndex : 0;
  return (manifest.seed.base + offset) % SEED_MODULUS;
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

/** Cores of `cpus` the work keeps busy. */
export function busyCores(work: WorkSpec, cpus: number): number {
  return Math.max(1, Math.min(cpus, work.max_cores ?? cpus));
}

/** The work of `units`, in 10^9 operations as BOINC's benchmark counts them. */
export function workGflop(work: WorkSpec, units: number): number {
  return (work.base_gflop ?? 0) + units * work.gflop;
}

/** Seconds `units` of work take on a host using `cpus` cores, at `fpops` per core. */
export function workSeconds(work: WorkSpec, units: number, fpops: number, cpus: number): number {
  return (workGflop(work, units) * 1e9) / (fpops * busyCores(work, cpus));
}

/** The most units a host does in `seconds`, unbounded by the work's min and max. */
function unitsWithin(work: WorkSpec, seconds: number, fpops: number, cpus: number): number {
  const operations = (seconds * fpops * busyCores(work, cpus)) / 1e9 - (work.base_gflop ?? 0);
  return Math.floor(operations / work.gflop);
}

interface Draft extends PlannedWorkunit {
  hostInfo: Host;
}

/**
 * Sizes the work of each group of workunits that run the same computation (the same seed and
 * target params): every member gets the same units, so that replicas can be compared, chosen so
 * that the group's slowest host fills `fill` of the budget. A target that sets the work param keeps
 * its own value.
 */
function sizeWork(
  manifest: Manifest,
  work: WorkSpec,
  drafts: Draft[],
): { choices: WorkChoice[]; problems: NonNullable<ManifestPlan['workProblems']> } {
  const groups = new Map<string, Draft[]>();
  for (const d of drafts) {
    const key = canonicalJson([d.seed, d.params]);
    groups.set(key, [...(groups.get(key) ?? []), d]);
  }
  const fill = work.fill ?? DEFAULT_FILL;
  const budget = manifest.run_duration;
  const choices: WorkChoice[] = [];
  const problems: NonNullable<ManifestPlan['workProblems']> = [];
  for (const members of groups.values()) {
    const speed = (d: Draft) => (d.hostInfo.fpops ?? ASSUMED_FPOPS) * busyCores(work, d.cpus);
    const slowest = members.reduce((a, b) => (speed(b) < speed(a) ? b : a));
    const fpops = slowest.hostInfo.fpops ?? ASSUMED_FPOPS;
    const given = slowest.params[work.param];
    let units: number;
    let reason: string;
    if (typeof given === 'number') {
      units = given;
      reason = 'as the target sets it';
    } else {
      const fitting = unitsWithin(work, fill * budget, fpops, slowest.cpus);
      units = Math.min(work.max, Math.max(work.min, fitting));
      const benchmark = slowest.hostInfo.fpops
        ? `${(fpops / 1e9).toPrecision(3)} GFLOPS per core`
        : `no benchmark, ${ASSUMED_FPOPS / 1e9} GFLOPS per core assumed`;
      reason =
        fitting > work.max
          ? `the most the manifest allows (${work.max}); host ${slowest.host} could do ${fitting}`
          : fitting < work.min
            ? `the fewest that make a result (${work.min})`
            : `${Math.round(fill * 100)}% of ${budget} s on host ${slowest.host} (${slowest.cpus} cores, ${benchmark})`;
    }
    const slowestSeconds = workSeconds(work, units, fpops, slowest.cpus);
    if (slowestSeconds > DEADLINE_SHARE * budget)
      problems.push({
        message: `host ${slowest.host} would need about ${Math.round(slowestSeconds)} s for ${units} ${work.param} (${slowest.hostInfo.fpops ? 'by its benchmark' : 'at the assumed speed'}), past ${Math.round(DEADLINE_SHARE * 100)}% of the ${budget} s deadline`,
        benchmarked: slowest.hostInfo.fpops !== undefined,
      });
    for (const d of members) {
      d.params = { ...d.params, [work.param]: units };
      if (d.hostInfo.fpops) d.plannedSeconds = workSeconds(work, units, d.hostInfo.fpops, d.cpus);
    }
    choices.push({
      param: work.param,
      units,
      seed: slowest.seed,
      hosts: [...new Set(members.map((d) => d.host))],
      slowest: slowest.host,
      reason,
    });
  }
  return { choices, problems };
}

/** The workunits deploy would create for a manifest whose target hosts all exist. */
export function planManifest(
  file: string,
  manifest: Manifest,
  scriptSha256: string,
  hosts: ReadonlyMap<number, Host>,
): ManifestPlan {
  const drafts: Draft[] = replicasOf(manifest, scriptSha256).map(({ name, target, replica }, index) => {
    const host = hosts.get(target.host);
    if (!host) throw new Error(`host ${target.host} of ${manifest.name} is not in the fleet`);
    const cpus = cpusFor(host, manifest.resources);
    return {
      name,
      host: target.host,
      replica,
      seed: seedFor(manifest, replica, index),
      cpus,
      memoryGb: memoryGbFor(manifest.resources, cpus),
      params: target.params ?? {},
      hostInfo: host,
    };
  });
  const sized = manifest.work ? sizeWork(manifest, manifest.work, drafts) : undefined;
  const workunits: PlannedWorkunit[] = drafts.map(({ hostInfo: _host, ...wu }) => ({
    ...wu,
    ...(wu.plannedSeconds !== undefined ? { plannedSeconds: Math.round(wu.plannedSeconds * 10) / 10 } : {}),
  }));
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
    ...(sized ? { work: sized.choices } : {}),
    ...(sized && sized.problems.length > 0 ? { workProblems: sized.problems } : {}),
  };
}

/**
 * The workunit a manifest's first target would be given on one host at a budget: what a host of
 * that speed and size runs, for measuring the plan against the time the work takes.
 */
export function planForHost(file: string, manifest: Manifest, host: Host, budget: number): PlannedWorkunit {
  const target = manifest.targets[0];
  const scaled: Manifest = {
    ...manifest,
    run_duration: budget,
    targets: [{ host: host.id, ...(target?.params ? { params: target.params } : {}) }],
  };
  const [wu] = planManifest(file, scaled, 'ab'.repeat(32), new Map([[host.id, host]])).workunits;
  if (!wu) throw new Error(`${file} plans no workunit`);
  return wu;
}
