import { join } from 'node:path';
import type { JobBounds, JobCreator, JobSpec } from '../boinc/jobs.js';
import { type PublishedScript, publishScript } from '../boinc/publish.js';
import type { BoincStore } from '../boinc/store.js';
import { type CheckReport, runCheck } from '../check/run.js';
import { InvalidInputError } from '../errors.js';
import type { FleetSource } from '../fleet/types.js';
import type { Manifest } from '../manifest/types.js';
import { countErrors } from '../problems.js';
import type { SchemaValidator } from '../schema/validate.js';
import { renderWorkunitInput, type WorkunitInput } from '../workunit/input.js';
import { WorkunitName } from '../workunit/name.js';
import type { ManifestPlan, PlannedWorkunit } from '../workunit/plan.js';

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
  store: Pick<BoincStore, 'existingWorkunits' | 'cancelUnsentWorkunits'>;
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
  const jobs: { job: JobSpec; experiment: string }[] = [];
  for (const { manifest, plan } of active) {
    const item = (wu: PlannedWorkunit, state: DeployState): DeployItem => ({
      name: wu.name,
      experiment: manifest.name,
      host: wu.host,
      state,
    });
    const missing = plan.workunits.filter((wu) => !present.has(wu.name));
    items.push(...plan.workunits.filter((wu) => present.has(wu.name)).map((wu) => item(wu, 'present')));
    if (missing.length === 0) continue;
    if (!options.target) {
      items.push(...missing.map((wu) => item(wu, 'planned')));
      continue;
    }
    const script = publish(manifest, options.root, options.target);
    for (const wu of missing) {
      const input = workunitInputOf(manifest, plan, wu, script.url, options.target.manifestCommit);
      jobs.push({
        experiment: manifest.name,
        job: {
          wuName: wu.name,
          host: wu.host,
          input: renderWorkunitInput(input, options.validator),
          bounds: boundsFor(manifest, wu),
        },
      });
    }
  }
  if (jobs.length === 0 || !options.target) return items;
  const outcome = await options.target.jobCreator.createJobs(jobs.map((j) => j.job));
  const failed = new Map(outcome.failed.map((f) => [f.name, f.reason]));
  for (const { job, experiment } of jobs) {
    const reason = failed.get(job.wuName);
    items.push({
      name: job.wuName,
      experiment,
      host: job.host,
      state: reason ? 'failed' : 'created',
      ...(reason ? { reason } : {}),
    });
  }
  return items;
}

function publish(manifest: Manifest, root: string, target: DeployTarget): PublishedScript {
  return publishScript({
    publishDir: target.publishDir,
    baseUrl: target.baseUrl,
    experiment: manifest.name,
    script: join(root, manifest.script),
  });
}
