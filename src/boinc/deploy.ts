import { join } from 'node:path';
import type { ManifestPlan, PlannedWorkunit } from '../manifest/plan.js';
import type { Manifest } from '../manifest/types.js';
import type { JobBounds, JobCreator, JobSpec } from './jobs.js';
import { type PublishedScript, publishScript } from './publish.js';
import { renderWorkunitInput, type WorkunitInput } from './wu.js';

/** Assumed speed of one volunteer core, for BOINC's runtime estimates (1 GFLOPS). */
const FLOPS_PER_CORE = 1e9;

export interface DeployContext {
  root: string;
  publishDir: string;
  baseUrl: string;
  /** Commit of the manifests being deployed, recorded in every wu.json. */
  manifestCommit: string;
  existingWorkunits(names: readonly string[]): Promise<Set<string>>;
  cancelUnsentWorkunits(experiment: string): Promise<string[]>;
  jobCreator: JobCreator;
}

export interface DeployItem {
  name: string;
  experiment: string;
  host: number;
  state: 'created' | 'present' | 'failed' | 'planned' | 'cancelled';
  reason?: string;
}

/** BOINC resource bounds of a manifest's workunits on a host given `cpus` cores. */
export function boundsFor(manifest: Manifest, cpus: number): JobBounds {
  const fpopsEst = manifest.run_duration * cpus * FLOPS_PER_CORE;
  return {
    fpopsEst,
    fpopsBound: 10 * fpopsEst,
    memoryBound: Math.ceil(manifest.resources.min_memory_gb * 2 ** 30),
    diskBound: 1e9,
    delayBound: Math.max(3 * 86_400, 10 * manifest.run_duration),
  };
}

/** wu.json of a planned workunit, pointing at its published script. */
export function workunitInput(
  manifest: Manifest,
  plan: ManifestPlan,
  wu: PlannedWorkunit,
  script: PublishedScript,
  commit: string,
): Buffer {
  const input: WorkunitInput = {
    mode: 'experiment',
    experiment: manifest.name,
    wu_name: wu.name,
    script_url: script.url,
    script_sha256: plan.scriptSha256,
    run_duration: manifest.run_duration,
    seed: wu.seed,
    params: wu.params,
    cpus: wu.cpus,
    manifest_commit: commit,
  };
  return Buffer.from(renderWorkunitInput(input));
}

/**
 * Reconciles BOINC with the plans: every planned workunit that has no row yet is published and
 * created (all in one batch); those that exist are left alone. Running it twice creates nothing
 * the second time, and a rerun after a partial failure creates only what is missing. Retired
 * manifests get no new workunits; their unsent ones are cancelled.
 */
export async function deploy(
  items: readonly { manifest: Manifest; plan: ManifestPlan }[],
  context: DeployContext,
  options: { dryRun: boolean },
): Promise<DeployItem[]> {
  const report: DeployItem[] = [];
  for (const { manifest } of items.filter((item) => item.manifest.retired)) {
    const cancelled = options.dryRun ? [] : await context.cancelUnsentWorkunits(manifest.name);
    for (const name of cancelled)
      report.push({ name, experiment: manifest.name, host: hostOf(name), state: 'cancelled' });
  }
  const active = items.filter((item) => !item.manifest.retired);
  const names = active.flatMap(({ plan }) => plan.workunits.map((wu) => wu.name));
  const present = await context.existingWorkunits(names);
  const jobs: JobSpec[] = [];
  for (const { manifest, plan } of active) {
    const missing = plan.workunits.filter((wu) => !present.has(wu.name));
    for (const wu of plan.workunits.filter((w) => present.has(w.name))) {
      report.push({ name: wu.name, experiment: manifest.name, host: wu.host, state: 'present' });
    }
    if (missing.length === 0) continue;
    if (options.dryRun) {
      for (const wu of missing)
        report.push({ name: wu.name, experiment: manifest.name, host: wu.host, state: 'planned' });
      continue;
    }
    const script = publishScript({
      publishDir: context.publishDir,
      baseUrl: context.baseUrl,
      experiment: manifest.name,
      script: join(context.root, manifest.script),
    });
    for (const wu of missing) {
      jobs.push({
        wuName: wu.name,
        host: wu.host,
        input: workunitInput(manifest, plan, wu, script, context.manifestCommit),
        bounds: boundsFor(manifest, wu.cpus),
      });
    }
  }
  if (jobs.length > 0) {
    const outcome = await context.jobCreator.createJobs(jobs);
    const failed = new Map(outcome.failed.map((f) => [f.name, f.reason]));
    const experimentOf = new Map(
      items.flatMap(({ manifest, plan }) => plan.workunits.map((wu) => [wu.name, manifest.name] as const)),
    );
    for (const job of jobs) {
      const reason = failed.get(job.wuName);
      report.push({
        name: job.wuName,
        experiment: experimentOf.get(job.wuName) ?? '',
        host: job.host,
        state: reason ? 'failed' : 'created',
        ...(reason ? { reason } : {}),
      });
    }
  }
  return report;
}

function hostOf(workunitName: string): number {
  return Number(/_h(\d+)_r\d+$/.exec(workunitName)?.[1] ?? 0);
}
