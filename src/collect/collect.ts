import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SanitisedEnvelope } from '../boinc/assimilate.js';
import type { BoincStore, CreditSubject } from '../boinc/store.js';
import type { ProposalFile } from '../forge/forge.js';
import { seedFor } from '../manifest/plan.js';
import type { Manifest } from '../manifest/types.js';
import type { Problem } from '../problems.js';
import { RESULTS_DIR, type ResearchRecord, readResearchRecord } from '../results/record.js';
import type { SchemaValidator } from '../schema/validate.js';
import {
  agree,
  type CheckContext,
  type CheckOutcome,
  checkResult,
  fingerprint,
  flagResult,
} from './checks.js';
import { type Incoming, readSpool, type WorkunitRef } from './intake.js';
import { capPerHostDay, ineligible, type Judgement, proposeCredit, type ResultJudge } from './judge.js';
import { type Collected, creditFile, resultFiles } from './record.js';

export interface CollectOptions {
  root: string;
  spoolDir: string;
  /** Results already proposed in the open results pull request. */
  proposed: ReadonlySet<number>;
  store?: BoincStore;
  validator: SchemaValidator;
  judge: ResultJudge;
  /** The collection run id, e.g. 2026-11-25T120000Z. */
  run: string;
  /** Credit one host may be proposed per UTC day. */
  hostDayLimit: number;
  progress?: (line: string) => void;
}

export interface CollectOutcome {
  run: string;
  collected: Collected[];
  skipped: number;
  files: ProposalFile[];
  problems: Problem[];
  /** The record as it was before this run. */
  record: ResearchRecord;
}

/** The seed the manifest gives the workunit of `ref` (its host and replica). */
function expectedSeed(manifest: Manifest, ref: WorkunitRef): number | undefined {
  let index = 0;
  for (const target of manifest.targets)
    for (let replica = 0; replica < (target.replicas ?? 1); replica++, index++)
      if (target.host === ref.host && replica === ref.replica) return seedFor(manifest, replica, index);
  return undefined;
}

/** What the record on this checkout already holds: result ids, fingerprints, credit per host and day. */
function existingOf(root: string, record: ResearchRecord) {
  // Every result folder counts as collected, even one whose files cannot be read.
  const ids = new Set<number>();
  const base = join(root, RESULTS_DIR);
  for (const experiment of existsSync(base) ? readdirSync(base, { withFileTypes: true }) : []) {
    if (!experiment.isDirectory() || experiment.name === 'credit') continue;
    for (const dir of readdirSync(join(base, experiment.name)))
      if (/^[0-9]{1,12}$/.test(dir)) ids.add(Number(dir));
  }
  const fingerprints = new Map<string, { id: number; host: number; seed?: number }>();
  const hostDay = new Map<string, number>();
  for (const result of record.experiments.flatMap((e) => e.results)) {
    const review = result.review;
    if (!review) continue; // without a readable review it cannot be compared
    const seed = result.envelope.seed;
    fingerprints.set(fingerprint(result.envelope), {
      id: result.id,
      host: review.host,
      ...(seed !== undefined ? { seed } : {}),
    });
    const key = `${review.host} ${review.received_at.slice(0, 10)}`;
    hostDay.set(key, (hostDay.get(key) ?? 0) + review.proposed_credit);
  }
  return { ids, fingerprints, hostDay };
}

/**
 * Pairs (member, a result it disagrees with) in a group of same-seed replicas. Everyone is first
 * compared with the first replica, so a group that agrees, the usual case, costs one pass; only the
 * few that disagree are compared with the rest.
 */
function disagreements(group: readonly { id: number; envelope: SanitisedEnvelope }[]): [number, number][] {
  const [reference, ...rest] = group;
  if (!reference) return [];
  const outliers = rest.filter((m) => !agree(reference.envelope, m.envelope));
  if (outliers.length === 0) return [];
  return group.flatMap((member): [number, number][] => {
    if (member === reference) return [[member.id, (outliers[0] as { id: number }).id]];
    if (outliers.includes(member)) return [[member.id, reference.id]];
    const other = outliers.find((o) => !agree(o.envelope, member.envelope));
    return other ? [[member.id, other.id]] : [];
  });
}

/** Same payload from different hosts with different seeds: copies, not computations. */
function duplicateCheck(
  incoming: Incoming,
  seen: Map<string, { id: number; host: number; seed?: number }>,
): CheckOutcome {
  const envelope = incoming.entry.envelope;
  const base = { rule: 'duplicate-payload', eligibility: true };
  if (!envelope || Object.keys(envelope.metrics).length === 0) return { ...base, passed: true };
  const key = fingerprint(envelope);
  const first = seen.get(key);
  if (first && first.host !== incoming.workunit.host && first.seed !== envelope.seed)
    return {
      ...base,
      passed: false,
      finding: `reports exactly the numbers of result ${first.id} from host ${first.host}, which ran another seed`,
    };
  if (!first)
    seen.set(key, {
      id: incoming.resultId,
      host: incoming.workunit.host,
      ...(envelope.seed !== undefined ? { seed: envelope.seed } : {}),
    });
  return { ...base, passed: true };
}

/**
 * One collection run: reads the spool, checks every new result by the rules, asks the judge about
 * the eligible ones, decides credit in code, and returns the files of the results pull request.
 */
export async function collect(options: CollectOptions): Promise<CollectOutcome> {
  // The record is read once: it answers what is collected already, gives the manifests, and the plots
  // of this run are drawn with it.
  const record = readResearchRecord(options.root, options.validator);
  const existing = existingOf(options.root, record);
  const known = new Set([...existing.ids, ...options.proposed]);
  const intake = readSpool(options.spoolDir, known);
  const problems: Problem[] = [...intake.problems];
  if (intake.incoming.length >= 500)
    options.progress?.(`collect: ${intake.incoming.length} new results, ${intake.skipped} already collected`);
  const manifestOf = (experiment: string) => record.experiments.find((e) => e.name === experiment)?.manifest;
  const subjects: Map<number, CreditSubject> = options.store
    ? await options.store.creditSubjects(intake.incoming.map((i) => i.resultId))
    : new Map();

  const checked = intake.incoming.map((incoming) => {
    const manifest = manifestOf(incoming.workunit.experiment);
    const seed = manifest ? expectedSeed(manifest, incoming.workunit) : undefined;
    const boinc = subjects.get(incoming.resultId);
    const context: CheckContext = {
      incoming,
      validator: options.validator,
      ...(manifest ? { manifest } : {}),
      ...(seed !== undefined ? { expectedSeed: seed } : {}),
      ...(boinc ? { boinc } : {}),
    };
    const checks = [...checkResult(context), duplicateCheck(incoming, existing.fingerprints)];
    const flags = flagResult(context);
    return {
      incoming,
      manifest,
      boinc,
      checks,
      flags,
      eligible: checks.every((c) => c.passed || !c.eligibility),
    };
  });

  const toJudge = checked.filter((c) => c.eligible && c.manifest && c.incoming.entry.envelope);
  const judgements = await options.judge.judge(
    toJudge.map((c) => ({
      resultId: c.incoming.resultId,
      envelope: c.incoming.entry.envelope as NonNullable<Incoming['entry']['envelope']>,
      manifest: c.manifest as Manifest,
      checks: c.checks,
    })),
  );
  const byResult = new Map<number, Judgement>(
    toJudge.map((c, i) => [c.incoming.resultId, judgements[i] as Judgement]),
  );

  // Replicas that ran the same seed must agree; when they do not, neither is paid until a person looks.
  const bySeed = new Map<string, { id: number; envelope: SanitisedEnvelope }[]>();
  for (const c of checked) {
    const envelope = c.incoming.entry.envelope;
    if (!c.eligible || envelope?.seed === undefined) continue;
    // Same script, seed and parameters: the same computation, which must give the same numbers.
    const params = c.manifest?.targets.find((t) => t.host === c.incoming.workunit.host)?.params ?? {};
    const key = `${c.incoming.workunit.experiment} ${envelope.seed} ${c.incoming.workunit.scriptSha} ${JSON.stringify(params)}`;
    const group = bySeed.get(key) ?? [];
    group.push({ id: c.incoming.resultId, envelope });
    bySeed.set(key, group);
  }
  for (const group of bySeed.values())
    for (const [member, other] of disagreements(group)) {
      const judgement = byResult.get(member);
      if (!judgement) continue;
      judgement.verdict = 'suspicious';
      judgement.flags.push(`disagrees with result ${other}, which ran the same seed`);
    }

  const collected: Collected[] = checked.map((c) => {
    const { incoming } = c;
    const judgement = byResult.get(incoming.resultId) ?? ineligible(c.checks);
    judgement.flags.push(...c.flags);
    const cap = c.manifest?.credit_cap ?? 0;
    return {
      resultId: incoming.resultId,
      workunit: incoming.workunit.name,
      experiment: incoming.workunit.experiment,
      host: c.boinc?.hostId ?? incoming.entry.host_id ?? incoming.workunit.host,
      user: c.boinc?.userId ?? incoming.entry.user_id ?? 0,
      team: c.boinc?.teamId ?? 0,
      receivedAt: incoming.entry.received_at,
      envelope: incoming.entry.envelope ?? { params: {}, metrics: {}, series: {}, summary: '' },
      ...(c.manifest ? { manifest: c.manifest } : {}),
      checks: c.checks,
      eligible: c.eligible,
      judgement,
      credit: proposeCredit(cap, judgement, c.eligible),
      ...(options.judge.provenance?.get(incoming.resultId)
        ? { provenance: options.judge.provenance.get(incoming.resultId) }
        : {}),
    };
  });
  const capped = collected.map((item) => ({
    host: item.host,
    day: item.receivedAt.slice(0, 10),
    credit: item.credit,
    flags: item.judgement.flags,
  }));
  capPerHostDay(capped, existing.hostDay, options.hostDayLimit);
  collected.forEach((item, i) => {
    item.credit = capped[i]?.credit ?? 0;
  });

  const files = collected.flatMap((item) => resultFiles(item, options.run));
  if (collected.length > 0) files.push(creditFile(collected, options.run, options.judge.name));
  return { run: options.run, collected, skipped: intake.skipped, files, problems, record };
}
