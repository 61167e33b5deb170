import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { runCheck } from '../check/run.js';
import { requireConfig } from '../config/config.js';
import type { Outcome } from '../envelope/acceptance.js';
import { SnapshotFleet } from '../fleet/snapshot.js';
import type { BlasFamily, Host } from '../fleet/types.js';
import { sha256File } from '../hash.js';
import { hostShortfalls, memoryGbFor } from '../manifest/fit.js';
import { loadManifest } from '../manifest/load.js';
import type { FollowUpRule, Manifest, Target } from '../manifest/types.js';
import { formatProblem } from '../problems.js';
import { localWorkunit, runWorkunit } from '../runner/run.js';
import type { SchemaValidator } from '../schema/validate.js';
import { costOn, DEFAULT_FILL, fewestUnits, type ManifestPlan } from '../workunit/plan.js';

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
  /** Set on a follow-up: what it builds on and why, as its pull request tells it. */
  followUp?: FollowUpStory;
}

/** A follow-up as its pull request tells it: the rule (none when a model designed it) and what it builds on. */
export interface FollowUpStory {
  rule?: FollowUpRule;
  round: number;
  phrase: string;
  why: string;
  wouldChange: string;
  parents: {
    experiment: string;
    title: string;
    /** What the parent's round found, in a phrase. */
    found: string;
    results: { address: string; outcome: Outcome; host?: number; reason: string }[];
  }[];
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
   * workunit each, run for this many seconds, or for as long as the work its preconditions need
   * takes on a host of `benchmark`'s speed, whichever is longer (the work is never scaled below them).
   */
  scaledRunDuration?: number;
  /** This machine's speed and BLAS, which a demonstration's budgets are sized for. */
  benchmark?: { fpops: number; blas?: BlasFamily; cores: number };
  /** Experiments whose proposal a person closed without merging, and why they are not proposed. */
  declined?: ReadonlyMap<string, string>;
  /** With follow-ups: follow up only experiments of this round (the demo's second round follows the first). */
  followUpRound?: number;
  /** Candidates checked and smoke-run at once (each smoke run takes one core); default 1. */
  parallel?: number;
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

/** The manifest text with new targets (and a demonstration's budget), keeping everything else as written. */
function withTargets(
  text: string,
  targets: Target[],
  scaled?: { runDuration: number; production: number },
): string {
  const doc = parseDocument(text);
  doc.set('targets', doc.createNode(targets));
  if (scaled) {
    doc.set('run_duration', scaled.runDuration);
    doc.set('production_run_duration', scaled.production);
    doc.setIn(['resources', 'min_cpus'], 1);
  }
  return doc.toString({ lineWidth: 100 });
}

/** Seconds a demonstration's run needs so that the planner's share of it holds the work the preconditions need. */
export const DEMO_BUDGET_STEP = 5;

/**
 * A demonstration's budget for one experiment: `wanted`, raised where the fewest units its
 * preconditions need would not fit in the planner's share of it on the slowest target (one with
 * `cores` cores at `benchmark`'s speed). Never above production's own budget.
 */
export function demonstrationBudget(
  manifest: Manifest,
  wanted: number,
  benchmark: CatalogueOptions['benchmark'],
  cores: number,
): number {
  const work = manifest.work;
  if (!work || !benchmark) return Math.min(wanted, manifest.run_duration);
  const cost = costOn(work, benchmark);
  const gflop = (cost.base_gflop ?? 0) + fewestUnits(manifest, work) * cost.gflop;
  const busy = Math.max(1, Math.min(cores, work.max_cores ?? cores));
  const needed = (gflop * 1e9) / (benchmark.fpops * busy * (work.fill ?? DEFAULT_FILL));
  const raised = Math.ceil(Math.max(wanted, needed) / DEMO_BUDGET_STEP) * DEMO_BUDGET_STEP;
  return Math.min(raised, manifest.run_duration);
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

/**
 * Why a proposal repeats what the lab has: the same name, the same script, or the same hypothesis
 * (not asked of a follow-up, which may test its parent's hypothesis again: `hypothesis` undefined).
 */
export function duplicateReason(
  lab: { existing: Manifest[]; existingShas: Set<string> },
  name: string,
  sha: string,
  hypothesis: string | undefined,
): string | undefined {
  if (lab.existing.some((m) => m.name === name)) return 'the lab already has an experiment of this name';
  if (lab.existingShas.has(sha)) return 'the lab already runs this script';
  const normal = (text: string) => text.toLowerCase().replace(/\s+/g, ' ').trim();
  if (hypothesis !== undefined && lab.existing.some((m) => normal(m.hypothesis) === normal(hypothesis)))
    return 'the lab already tests this hypothesis';
  return undefined;
}

type Lab = Awaited<ReturnType<typeof readLab>>;

/** How a wave of candidates is prepared and named as it is checked. */
export interface Waves<E> {
  /** A candidate for `entry`, or why it is not proposed; `taken` are those accepted or being checked. */
  prepare(entry: E, taken: readonly Candidate[]): Candidate | Skipped;
  /** The progress line for a candidate being checked. */
  checking(candidate: Candidate): string;
  /** Why a candidate that failed its check or smoke run is not proposed. */
  refused(candidate: Candidate, problem: string): Skipped;
  /** Why an entry is not proposed when `count` were before it was reached; unsaid when undefined. */
  notReached?(entry: E): Skipped;
}

/**
 * Candidates prepared in order and checked `parallel` at a time (a smoke run takes one core), as
 * `axiom check` would and smoke-run, then accepted in the order prepared, at most `count`.
 */
export async function checkInWaves<E>(
  entries: Iterable<E>,
  waves: Waves<E>,
  options: CatalogueOptions,
): Promise<{ candidates: Candidate[]; skipped: Skipped[] }> {
  const candidates: Candidate[] = [];
  const skipped: Skipped[] = [];
  let wave: Candidate[] = [];
  const settle = async () => {
    const problems = await Promise.all(
      wave.map((c) => {
        options.onProgress?.(waves.checking(c));
        return validate(c, options);
      }),
    );
    wave.forEach((candidate, i) => {
      const problem = problems[i];
      if (problem) skipped.push(waves.refused(candidate, problem));
      else candidates.push(candidate);
    });
    wave = [];
  };
  for (const entry of entries) {
    // A wave never holds more than the proposals still wanted, so none that pass is dropped.
    if (candidates.length + wave.length >= options.count) await settle();
    if (candidates.length >= options.count) {
      const left = waves.notReached?.(entry);
      if (left) skipped.push(left);
      continue;
    }
    const prepared = waves.prepare(entry, [...candidates, ...wave]);
    if ('reason' in prepared) skipped.push(prepared);
    else wave.push(prepared);
    if (wave.length >= Math.max(1, options.parallel ?? 1)) await settle();
  }
  await settle();
  return { candidates, skipped };
}

/**
 * Proposes experiments from the built-in catalogue that the lab does not have yet (by name, script
 * hash or hypothesis), targeted at hosts of the lab's fleet that fit, each checked as `axiom check`
 * would and smoke-run through the local runner before anyone is asked to review it, `parallel` at a
 * time; accepted in the catalogue's order.
 */
export async function proposeFromCatalogue(
  options: CatalogueOptions,
): Promise<{ candidates: Candidate[]; skipped: Skipped[] }> {
  const lab = await readLab(options.root, options.validator);
  return checkInWaves(
    manifestsIn(options.catalogueRoot, options.validator),
    {
      // The hosts of candidates accepted or still being checked count as covered.
      prepare: (entry, taken) =>
        prepareCandidate(
          entry,
          options,
          lab,
          new Set([...lab.covered, ...taken.flatMap((c) => c.manifest.targets.map((t) => t.host))]),
        ),
      checking: (c) => `propose: checking ${c.name}`,
      refused: (c, problem) => ({ name: c.name, reason: problem }),
    },
    options,
  );
}

/** A catalogue experiment as a proposal to this lab, ready to be checked; or why it is not proposed. */
function prepareCandidate(
  entry: Manifest,
  options: CatalogueOptions,
  lab: Lab,
  covered: Set<number>,
): Candidate | Skipped {
  const name = entry.name;
  const declined = options.declined?.get(name);
  if (declined) return { name, reason: declined };
  const scriptPath = join(options.catalogueRoot, entry.script);
  const sha = sha256File(scriptPath);
  const duplicate = duplicateReason(lab, name, sha, entry.hypothesis);
  if (duplicate) return { name, reason: duplicate };
  if (entry.retired) return { name, reason: 'retired: its manifest says so (kept for the results it has)' };
  const { hosts } = lab;
  // A demonstration runs on one machine: its copy asks for one core, so that the volunteers with
  // half the machine's cores and with all of them both fit, as same-seed replicas.
  const demo = options.scaledRunDuration !== undefined;
  const fitting = retarget(
    demo ? { ...entry, resources: { ...entry.resources, min_cpus: 1 } } : entry,
    hosts,
    covered,
    options.host,
  );
  const targets = demo ? fitting.slice(0, 2).map((t) => ({ ...t, replicas: 1 })) : fitting;
  if (targets.length === 0)
    return {
      name,
      reason:
        options.host !== undefined ? `host ${options.host} does not fit it` : 'no host of the fleet fits it',
    };
  const slowest = Math.min(...targets.map((t) => hosts.get(t.host)?.cores ?? 1));
  const scaled =
    options.scaledRunDuration !== undefined
      ? {
          runDuration: demonstrationBudget(entry, options.scaledRunDuration, options.benchmark, slowest),
          production: entry.run_duration,
        }
      : undefined;
  return {
    name,
    manifest: {
      ...entry,
      targets,
      ...(scaled
        ? {
            run_duration: scaled.runDuration,
            production_run_duration: scaled.production,
            resources: { ...entry.resources, min_cpus: 1 },
          }
        : {}),
    },
    manifestText: withTargets(
      readFileSync(join(options.catalogueRoot, 'manifests', `${name}.yaml`), 'utf8'),
      targets,
      scaled,
    ),
    script: readFileSync(scriptPath, 'utf8'),
    scriptSha256: sha,
    fit: targets.map((t) => ({
      host: hosts.get(t.host) as Host,
      why: why(hosts.get(t.host) as Host, entry),
    })),
  };
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
    // The record, for the citations of a follow-up: read where it is, never copied.
    if (existsSync(join(options.root, 'results')))
      symlinkSync(join(options.root, 'results'), join(overlay, 'results'));
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
