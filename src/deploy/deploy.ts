import { join } from 'node:path';
import type { JobBounds, JobCreator, JobSpec } from '../boinc/jobs.js';
import { type PublishedScript, publishScript } from '../boinc/publish.js';
import type { BoincStore, DeployedWorkunit } from '../boinc/store.js';
import { type CheckReport, runCheck } from '../check/run.js';
import { InvalidInputError } from '../errors.js';
import type { FleetSource } from '../fleet/types.js';
import type { Manifest } from '../manifest/types.js';
import { countErrors } from '../problems.js';
import { type ResearchRecord, readResearchRecord } from '../record/research.js';
import type { SchemaValidator } from '../schema/validate.js';
import type { WorkunitInput } from '../workunit/input.js';
import { WorkunitName } from '../workunit/name.js';
import type { ManifestPlan, PlannedWorkunit } from '../workunit/plan.js';
import { type DeploymentContext, rowsToCreate } from './computations.js';

/** Assumed speed of one volunteer core, for BOINC's runtime estimates (1 GFLOPS). */
const FLOPS_PER_CORE = 1e9;

/** Where and how deploy publishes scripts and creates workunits; absent for a dry run. */
export interface DeployTarget {
  publishDir: string;
  baseUrl: string;
  /** Commit of the manifests being deployed, recorded in every wu.json (none outside git). */
  manifestCommit?: string;
  jobCreator: JobCreator;
}

export interface DeployOptions {
  root: string;
  validator: SchemaValidator;
  python: string;
  store: Pick<
    BoincStore,
    | 'existingWorkunits'
    | 'cancelUnsentWorkunits'
    | 'workunitStates'
    | 'deployedWorkunits'
    | 'uncreatedWorkunits'
    | 'recordWorkunits'
    | 'usedSeeds'
  >;
  /** Without a target nothing is published, created or cancelled: a dry run. */
  target?: DeployTarget;
  fleet?: FleetSource;
}

export type DeployState = 'created' | 'present' | 'failed' | 'planned' | 'cancelled';

export interface DeployItem {
  name: string;
  experiment: string;
  host: number;
  state: DeployState;
  reason?: string;
}

export interface DeployReport {
  items: DeployItem[];
  totals: Record<DeployState, number>;
  dryRun: boolean;
}

/**
 * BOINC resource bounds of one planned workunit: its cores' worth of operations over the budget, and
 * the memory it was planned to hold (rsc_memory_bound: the scheduler sends it only to a host with that
 * much usable memory, sched/sched_check.cpp, and the client runs it only when that much is free,
 * client/cpu_sched.cpp; the volunteer client enforces it).
 */
export function boundsFor(manifest: Manifest, wu: Pick<PlannedWorkunit, 'cpus' | 'memoryGb'>): JobBounds {
  const fpopsEst = manifest.run_duration * wu.cpus * FLOPS_PER_CORE;
  return {
    fpopsEst,
    fpopsBound: 10 * fpopsEst,
    memoryBound: Math.ceil(wu.memoryGb * 2 ** 30),
    diskBound: 1e9,
    delayBound: Math.max(3 * 86_400, 10 * manifest.run_duration),
  };
}

/** The wu.json record of a planned workunit, pointing at its published script. */
export function workunitInputOf(
  manifest: Manifest,
  plan: ManifestPlan,
  wu: PlannedWorkunit,
  scriptUrl: string,
  commit: string | undefined,
): WorkunitInput {
  return {
    mode: 'experiment',
    experiment: manifest.name,
    wu_name: wu.name,
    script_url: scriptUrl,
    script_sha256: plan.scriptSha256,
    run_duration: manifest.run_duration,
    seed: wu.seed,
    params: wu.params,
    cpus: wu.cpus,
    memory_gb: wu.memoryGb,
    ...(wu.plannedSeconds !== undefined ? { planned_seconds: wu.plannedSeconds } : {}),
    ...(commit && /^[0-9a-f]{40}$/.test(commit) ? { manifest_commit: commit } : {}),
  };
}

/**
 * Reconciles BOINC with the manifests on this checkout: checks the repository as `axiom check` does
 * (and stops on any error), then publishes each script under its content address and creates every
 * planned workunit that has no row yet; those that exist are left alone. Running it twice creates
 * nothing the second time, and a rerun after a partial failure creates only what is missing.
 * Retired manifests get no new workunits; their unsent ones are cancelled.
 */
export async function deployManifests(options: DeployOptions): Promise<DeployReport> {
  const check = await runCheck({
    root: options.root,
    paths: [],
    python: options.python,
    validator: options.validator,
    ...(options.fleet ? { fleet: options.fleet } : {}),
  });
  if (countErrors(check.problems) > 0)
    throw new InvalidInputError(
      'axiom check finds errors; nothing was deployed',
      check.problems.filter((p) => p.severity === 'error'),
    );
  const items = [...(await cancelRetired(check, options)), ...(await reconcile(check, options))];
  const totals: Record<DeployState, number> = { created: 0, present: 0, failed: 0, planned: 0, cancelled: 0 };
  for (const item of items) totals[item.state] += 1;
  return { items, totals, dryRun: options.target === undefined };
}

async function cancelRetired(check: CheckReport, options: DeployOptions): Promise<DeployItem[]> {
  const items: DeployItem[] = [];
  for (const { manifest } of check.deployable.filter((item) => item.manifest.retired)) {
    const cancelled = options.target ? await options.store.cancelUnsentWorkunits(manifest.name) : [];
    for (const name of cancelled)
      items.push({
        name,
        experiment: manifest.name,
        host: WorkunitName.parse(name)?.host ?? 0,
        state: 'cancelled',
      });
  }
  return items;
}

async function reconcile(check: CheckReport, options: DeployOptions): Promise<DeployItem[]> {
  const active = check.deployable.filter((item) => !item.manifest.retired);
  const present = await options.store.existingWorkunits(
    active.flatMap(({ plan }) => plan.workunits.map((wu) => wu.name)),
  );
  const items: DeployItem[] = [];
  for (const { manifest, plan } of active)
    for (const wu of plan.workunits)
      items.push({
        name: wu.name,
        experiment: manifest.name,
        host: wu.host,
        state: present.has(wu.name) ? 'present' : 'planned',
      });
  const { target } = options;
  if (!target) return items;
  await recordComputations(check, present, target, options);
  const jobs = await jobsToCreate(active, options);
  const created = jobs.length > 0 ? await target.jobCreator.createJobs(jobs.map((j) => j.job)) : undefined;
  const failed = new Map((created?.failed ?? []).map((f) => [f.name, f.reason]));
  return [
    ...items.filter((item) => item.state === 'present'),
    ...jobs.map(({ job, experiment }): DeployItem => {
      const reason = failed.get(job.wuName);
      return {
        name: job.wuName,
        experiment,
        host: job.host,
        state: reason ? 'failed' : 'created',
        ...(reason ? { reason } : {}),
      };
    }),
  ];
}

/**
 * Records every workunit BOINC does not have yet, before create_work runs: each computation with a
 * seed drawn for it (or the one its untouched siblings have), shadow replicas beside hosts under
 * watch. Returns the names recorded.
 */
async function recordComputations(
  check: CheckReport,
  present: ReadonlySet<string>,
  target: DeployTarget,
  options: DeployOptions,
): Promise<void> {
  let record: ResearchRecord | undefined;
  const context: DeploymentContext = {
    store: options.store,
    validator: options.validator,
    ...(check.hosts ? { hosts: check.hosts } : {}),
    record: () => {
      record ??= readResearchRecord(options.root, options.validator);
      return record;
    },
    now: Math.floor(Date.now() / 1000),
  };
  const recorded: DeployedWorkunit[] = [];
  for (const { manifest, plan } of check.deployable.filter((item) => !item.manifest.retired)) {
    if (plan.workunits.every((wu) => present.has(wu.name))) continue;
    const script = publish(manifest, options.root, target);
    const { rows } = await rowsToCreate(
      manifest,
      plan,
      (wu) => workunitInputOf(manifest, plan, wu, script.url, target.manifestCommit),
      (wu) => boundsFor(manifest, wu),
      context,
    );
    recorded.push(...rows);
  }
  await options.store.recordWorkunits(recorded);
}

/**
 * The jobs deploy creates: every open recorded workunit BOINC has no row for. A planned one only
 * while its manifest still plans it; a replica the project chose (tie-breaker, replacement, shadow)
 * while its experiment is active.
 */
async function jobsToCreate(
  active: CheckReport['deployable'],
  options: DeployOptions,
): Promise<{ job: JobSpec; experiment: string }[]> {
  const planned = new Set(active.flatMap(({ plan }) => plan.workunits.map((wu) => wu.name)));
  const experiments = new Set(active.map(({ manifest }) => manifest.name));
  return (await options.store.uncreatedWorkunits())
    .filter((row) => (row.kind === 'planned' ? planned.has(row.name) : experiments.has(row.experiment)))
    .map((row) => ({
      experiment: row.experiment,
      job: { wuName: row.name, host: row.host, input: Buffer.from(row.input), bounds: row.bounds },
    }));
}

function publish(manifest: Manifest, root: string, target: DeployTarget): PublishedScript {
  return publishScript({
    publishDir: target.publishDir,
    baseUrl: target.baseUrl,
    experiment: manifest.name,
    script: join(root, manifest.script),
  });
}
