import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { runCheck } from '../check/run.js';
import { requireConfig } from '../config/config.js';
import { SnapshotFleet } from '../fleet/snapshot.js';
import type { Host } from '../fleet/types.js';
import { sha256File } from '../hash.js';
import { hostShortfalls, memoryGbFor } from '../manifest/fit.js';
import { loadManifest } from '../manifest/load.js';
import type { Manifest, Target, WorkSpec } from '../manifest/types.js';
import { formatProblem } from '../problems.js';
import { localWorkunit, runWorkunit } from '../runner/run.js';
import type { SchemaValidator } from '../schema/validate.js';
import type { ManifestPlan } from '../workunit/plan.js';

/** The built-in catalogue: the first batch of experiments this package ships with. */
export const CATALOGUE_ROOT = new URL('../../', import.meta.url).pathname;

/** One experiment proposed to the lab, with what a reviewer needs to decide. */
export interface Candidate {
  name: string;
  manifest: Manifest;
  manifestText: string;
  script: string;
  scriptSha256: string;
  /** Target hosts with the reason each fits. */
  fit: { host: Host; why: string }[];
  plan?: ManifestPlan;
  smoke?: { status: string; elapsedSeconds: number; metrics: Record<string, number>; message: string };
}

export interface Skipped {
  name: string;
  reason: string;
}

export interface CatalogueOptions {
  /** The lab repository proposals are made to. */
  root: string;
  catalogueRoot: string;
  validator: SchemaValidator;
  python: string;
  count: number;
  /** Propose only experiments that fit this host, targeted at it. */
  host?: number;
  /** Seconds for the smoke run of each script; 0 skips it. */
  smokeSeconds: number;
  /**
   * For demonstrations: at most two targets per experiment (same-seed replicas of each other), one
   * workunit each, run for this many seconds, with the least work that makes a result scaled down
   * in proportion.
   */
  scaledRunDuration?: number;
  /** Experiments whose proposal a person closed without merging, and why they are not proposed. */
  declined?: ReadonlyMap<string, string>;
  onProgress?: (line: string) => void;
}

export function manifestsIn(root: string, validator: SchemaValidator): Manifest[] {
  const dir = join(root, 'manifests');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => {
      const manifest = loadManifest(root, `manifests/${f}`, validator).manifest;
      return manifest ? [manifest] : [];
    });
}

/** Why a host fits, in a line of the host-fit table. */
export function why(host: Host, manifest: Manifest): string {
  const gpu = host.gpus.length ? `, ${host.gpus.map((g) => `${g.count}× ${g.model}`).join(', ')}` : '';
  return `${host.cores} cores ≥ ${manifest.resources.min_cpus}, ${host.memoryGb} GB ≥ ${manifest.resources.min_memory_gb} GB, ${host.os}${gpu}`;
}

/** The catalogue experiment's targets kept where the lab has the host and it fits, or new fitting ones. */
function retarget(
  manifest: Manifest,
  hosts: Map<number, Host>,
  covered: Set<number>,
  only?: number,
): Target[] {
  const fits = (id: number) => {
    const host = hosts.get(id);
    return host !== undefined && hostShortfalls(host, manifest.resources).length === 0;
  };
  if (only !== undefined) {
    const original = manifest.targets.find((t) => t.host === only);
    return fits(only) ? [original ?? { host: only }] : [];
  }
  const kept = manifest.targets.filter((t) => fits(t.host));
  if (kept.length > 0) return kept;
  const fresh = [...hosts.keys()].filter((id) => fits(id) && !covered.has(id)).slice(0, 2);
  return fresh.map((host) => ({ host }));
}

/** The manifest text with new targets (and budget and work), keeping everything else as written. */
function withTargets(text: string, targets: Target[], runDuration?: number, work?: WorkSpec): string {
  const doc = parseDocument(text);
  doc.set('targets', doc.createNode(targets));
  if (runDuration !== undefined) doc.set('run_duration', runDuration);
  if (work) doc.setIn(['work', 'min'], work.min);
  return doc.toString({ lineWidth: 100 });
}

/** A work model for a shorter budget: its fewest units scaled down in proportion, at least one. */
function scaledWork(work: WorkSpec | undefined, from: number, to: number | undefined): WorkSpec | undefined {
  if (!work || to === undefined || to >= from) return work;
  return { ...work, min: Math.max(1, Math.floor((work.min * to) / from)) };
}

/** What the lab has: its fleet, its experiments, their scripts' hashes, and the hosts they cover. */
export async function readLab(root: string, validator: SchemaValidator) {
  const config = requireConfig(root, validator);
  const hosts = new Map(
    (await new SnapshotFleet(join(root, config.fleet), config.fleet, validator).readHosts()).map((h) => [
      h.id,
      h,
    ]),
  );
  const existing = manifestsIn(root, validator);
  const existingShas = new Set(
    existing.flatMap((m) => (existsSync(join(root, m.script)) ? [sha256File(join(root, m.script))] : [])),
  );
  const covered = new Set(existing.flatMap((m) => m.targets.map((t) => t.host)));
  return { hosts, existing, existingShas, covered };
}

/** Why a proposal repeats what the lab has: the same name, the same script, or the same hypothesis. */
export function duplicateReason(
  lab: { existing: Manifest[]; existingShas: Set<string> },
  name: string,
  sha: string,
  hypothesis: string,
): string | undefined {
  if (lab.existing.some((m) => m.name === name)) return 'the lab already has an experiment of this name';
  if (lab.existingShas.has(sha)) return 'the lab already runs this script';
  const normal = (text: string) => text.toLowerCase().replace(/\s+/g, ' ').trim();
  if (lab.existing.some((m) => normal(m.hypothesis) === normal(hypothesis)))
    return 'the lab already tests this hypothesis';
  return undefined;
}

/**
 * Proposes experiments from the built-in catalogue that the lab does not have yet (by name, script
 * hash or hypothesis), targeted at hosts of the lab's fleet that fit, each checked as `axiom check`
 * would and smoke-run through the local runner before anyone is asked to review it.
 */
export async function proposeFromCatalogue(
  options: CatalogueOptions,
): Promise<{ candidates: Candidate[]; skipped: Skipped[] }> {
  const { hosts, existing, existingShas, covered } = await readLab(options.root, options.validator);
  const candidates: Candidate[] = [];
  const skipped: Skipped[] = [];
  for (const entry of manifestsIn(options.catalogueRoot, options.validator)) {
    if (candidates.length >= options.count) break;
    const name = entry.name;
    const declined = options.declined?.get(name);
    if (declined) {
      skipped.push({ name, reason: declined });
      continue;
    }
    const scriptPath = join(options.catalogueRoot, entry.script);
    const sha = sha256File(scriptPath);
    const duplicate = duplicateReason({ existing, existingShas }, name, sha, entry.hypothesis);
    if (duplicate) {
      skipped.push({ name, reason: duplicate });
      continue;
    }
    const fitting = retarget(entry, hosts, covered, options.host);
    const targets =
      options.scaledRunDuration !== undefined
        ? fitting.slice(0, 2).map((t) => ({ ...t, replicas: 1 }))
        : fitting;
    if (targets.length === 0) {
      skipped.push({
        name,
        reason:
          options.host !== undefined
            ? `host ${options.host} does not fit it`
            : 'no host of the fleet fits it',
      });
      continue;
    }
    const work = scaledWork(entry.work, entry.run_duration, options.scaledRunDuration);
    const manifestText = withTargets(
      readFileSync(join(options.catalogueRoot, 'manifests', `${name}.yaml`), 'utf8'),
      targets,
      options.scaledRunDuration,
      work !== entry.work ? work : undefined,
    );
    const candidate: Candidate = {
      name,
      manifest: {
        ...entry,
        targets,
        run_duration: options.scaledRunDuration ?? entry.run_duration,
        ...(work ? { work } : {}),
      },
      manifestText,
      script: readFileSync(scriptPath, 'utf8'),
      scriptSha256: sha,
      fit: targets.map((t) => ({
        host: hosts.get(t.host) as Host,
        why: why(hosts.get(t.host) as Host, entry),
      })),
    };
    options.onProgress?.(`propose: checking ${name}`);
    const problem = await validate(candidate, options);
    if (problem) {
      skipped.push({ name, reason: problem });
      continue;
    }
    for (const t of targets) covered.add(t.host);
    candidates.push(candidate);
  }
  return { candidates, skipped };
}

/** `axiom check` on the lab with the candidate added, then a smoke run; the first problem, if any. */
export async function validate(
  candidate: Candidate,
  options: Pick<CatalogueOptions, 'root' | 'validator' | 'python' | 'smokeSeconds'>,
): Promise<string | undefined> {
  const overlay = mkdtempSync(join(tmpdir(), 'axiom-propose-'));
  try {
    for (const item of ['axiom.yaml', 'fleet.yaml', 'manifests', 'experiments'])
      if (existsSync(join(options.root, item)))
        cpSync(join(options.root, item), join(overlay, item), { recursive: true });
    mkdirSync(join(overlay, 'manifests'), { recursive: true });
    mkdirSync(join(overlay, 'experiments'), { recursive: true });
    const manifestFile = join(overlay, 'manifests', `${candidate.name}.yaml`);
    const scriptFile = join(overlay, 'experiments', `${candidate.name}.py`);
    writeFileSync(manifestFile, candidate.manifestText);
    writeFileSync(scriptFile, candidate.script);
    const report = await runCheck({
      root: overlay,
      paths: [manifestFile, scriptFile],
      python: options.python,
      validator: options.validator,
    });
    const errors = report.problems.filter((p) => p.severity === 'error');
    if (errors.length > 0) return `axiom check: ${errors.slice(0, 3).map(formatProblem).join('; ')}`;
    candidate.plan = report.plans.find((p) => p.experiment === candidate.name);
    if (options.smokeSeconds <= 0) return undefined;
    const first = candidate.plan?.workunits[0];
    const outcome = await runWorkunit(
      {
        input: localWorkunit({
          script: scriptFile,
          experiment: candidate.name,
          budgetSeconds: options.smokeSeconds,
          seed: first?.seed ?? 0,
          cpus: 1,
          memoryGb: memoryGbFor(candidate.manifest.resources, 1),
          params: first?.params ?? {},
        }),
        python: options.python,
        slot: join(overlay, 'smoke'),
      },
      options.validator,
    );
    candidate.smoke = {
      status: outcome.status,
      elapsedSeconds: outcome.elapsedSeconds,
      metrics: outcome.envelope?.metrics ?? {},
      message: outcome.message,
    };
    if (outcome.status !== 'ok' || outcome.problems.length > 0)
      return `smoke run: ${outcome.status}: ${outcome.message}${outcome.problems.length ? `; ${outcome.problems.map(formatProblem).join('; ')}` : ''}`;
    return undefined;
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
}
