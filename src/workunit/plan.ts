import type { Host } from '../fleet/types.js';
import { describeCheck, OPERATORS, preconditionsOf } from '../manifest/checks.js';
import { cpusFor, memoryGbFor } from '../manifest/fit.js';
import type { Manifest, ParamValue, SeedPolicy, Target, WorkCost, WorkSpec } from '../manifest/types.js';
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
  /** Workunits whose planned params cannot meet a precondition: their results could only be inconclusive. */
  preconditionProblems?: string[];
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

/**
 * What the work costs on a host: with OpenBLAS where its last result said numpy runs on it and the
 * manifest has that calibration, else with the reference BLAS (the slower, so never an overrun).
 */
export function costOn(work: WorkSpec, host: Pick<Host, 'blas'>): WorkCost {
  return host.blas === 'openblas' && work.openblas ? work.openblas : work;
}

/** The work of `units`, in 10^9 operations as BOINC's benchmark counts them, at a cost. */
export function workGflop(cost: WorkCost, units: number): number {
  return (cost.base_gflop ?? 0) + units * cost.gflop;
}

/** Seconds `units` of work take on a host using `cpus` cores, at `fpops` per core. */
export function workSeconds(
  cost: WorkCost,
  work: WorkSpec,
  units: number,
  fpops: number,
  cpus: number,
): number {
  return (workGflop(cost, units) * 1e9) / (fpops * busyCores(work, cpus));
}

/** The most units a host does in `seconds`, unbounded by the work's min and max. */
function unitsWithin(cost: WorkCost, work: WorkSpec, seconds: number, fpops: number, cpus: number): number {
  const operations = (seconds * fpops * busyCores(work, cpus)) / 1e9 - (cost.base_gflop ?? 0);
  return Math.floor(operations / cost.gflop);
}

/**
 * The fewest units of the work param that meet the manifest's preconditions on it (`seeds >= 3`
 * needs 3), never below work.min: the planner never plans a result that could only be inconclusive.
 */
export function fewestUnits(manifest: Manifest, work: WorkSpec): number {
  const needs = preconditionsOf(manifest)
    .filter((c) => (c.param ?? c.metric) === work.param && typeof c.value === 'number')
    .map((c) => (c.op === '>=' ? (c.value as number) : c.op === '>' ? Math.floor(c.value as number) + 1 : 0));
  return Math.max(work.min, ...needs);
}

/** Precondition problems of planned workunits: a param that cannot meet what a precondition needs. */
function preconditionProblems(manifest: Manifest, workunits: readonly PlannedWorkunit[]): string[] {
  return preconditionsOf(manifest).flatMap((check) => {
    const param = check.param ?? (check.metric === manifest.work?.param ? check.metric : undefined);
    if (!param) return [];
    return workunits.flatMap((wu) => {
      const value = wu.params[param];
      if (typeof value !== 'number')
        return [`${wu.name} has no number for ${param}, which precondition ${describeCheck(check)} needs`];
      return OPERATORS[check.op](value, check.value)
        ? []
        : [
            `host ${wu.host} gets ${param} = ${value}, which cannot meet the precondition ${describeCheck(check)}: its results could only be inconclusive`,
          ];
    });
  });
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
  const fewest = fewestUnits(manifest, work);
  for (const members of groups.values()) {
    // Units a second: the host's benchmark and cores against what a unit costs with its BLAS.
    const speed = (d: Draft) =>
      ((d.hostInfo.fpops ?? ASSUMED_FPOPS) * busyCores(work, d.cpus)) / costOn(work, d.hostInfo).gflop;
    const slowest = members.reduce((a, b) => (speed(b) < speed(a) ? b : a));
    const fpops = slowest.hostInfo.fpops ?? ASSUMED_FPOPS;
    const cost = costOn(work, slowest.hostInfo);
    const given = slowest.params[work.param];
    let units: number;
    let reason: string;
    if (typeof given === 'number') {
      units = given;
      reason = 'as the target sets it';
    } else {
      const fitting = unitsWithin(cost, work, fill * budget, fpops, slowest.cpus);
      units = Math.min(work.max, Math.max(fewest, fitting));
      const benchmark = slowest.hostInfo.fpops
        ? `${(fpops / 1e9).toPrecision(3)} GFLOPS per core`
        : `no benchmark, ${ASSUMED_FPOPS / 1e9} GFLOPS per core assumed`;
      const blas = cost === work.openblas ? ', OpenBLAS' : '';
      reason =
        fitting > work.max
          ? `the most the manifest allows (${work.max}); host ${slowest.host} could do ${fitting}`
          : fitting < fewest
            ? `the fewest that make a result (${fewest}${fewest > work.min ? ', what the preconditions need' : ''})`
            : `${Math.round(fill * 100)}% of ${budget} s on host ${slowest.host} (${slowest.cpus} cores, ${benchmark}${blas})`;
    }
    const slowestSeconds = workSeconds(cost, work, units, fpops, slowest.cpus);
    if (slowestSeconds > DEADLINE_SHARE * budget)
      problems.push({
        message: `host ${slowest.host} would need about ${Math.round(slowestSeconds)} s for ${units} ${work.param} (${slowest.hostInfo.fpops ? 'by its benchmark' : 'at the assumed speed'}), past ${Math.round(DEADLINE_SHARE * 100)}% of the ${budget} s deadline`,
        benchmarked: slowest.hostInfo.fpops !== undefined,
      });
    for (const d of members) {
      d.params = { ...d.params, [work.param]: units };
      if (d.hostInfo.fpops)
        d.plannedSeconds = workSeconds(costOn(work, d.hostInfo), work, units, d.hostInfo.fpops, d.cpus);
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
  const unmet = preconditionProblems(manifest, workunits);
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
    ...(unmet.length > 0 ? { preconditionProblems: unmet } : {}),
  };
}

/**
 * The workunit a manifest's target (its first, unless `target` names one) would be given on one host
 * at a budget, and why its work is what it is: what a host of that speed, size and BLAS runs, as
 * deploy would plan it (`axiom run`, the demo's smoke runs, tests and benchmarks).
 */
export function planOnHost(
  file: string,
  manifest: Manifest,
  host: Host,
  budget: number,
  target: Target | undefined = manifest.targets[0],
): { workunit: PlannedWorkunit; work?: WorkChoice } {
  const scaled: Manifest = {
    ...manifest,
    run_duration: budget,
    targets: [{ host: host.id, ...(target?.params ? { params: target.params } : {}) }],
  };
  const plan = planManifest(file, scaled, 'ab'.repeat(32), new Map([[host.id, host]]));
  const [workunit] = plan.workunits;
  if (!workunit) throw new Error(`${file} plans no workunit`);
  return { workunit, ...(plan.work?.[0] ? { work: plan.work[0] } : {}) };
}

/** The workunit a manifest's first target would be given on one host at a budget. */
export function planForHost(file: string, manifest: Manifest, host: Host, budget: number): PlannedWorkunit {
  return planOnHost(file, manifest, host, budget).workunit;
}
