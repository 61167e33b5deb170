import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic-write.js';
import { judgeOutcome } from '../envelope/acceptance.js';
import type { SanitisedEnvelope } from '../envelope/envelope.js';
import type { Manifest } from '../manifest/types.js';
import { dataFile, LEGACY, RESULTS_DIR, reviewFile } from '../record/layout.js';
import { type ExperimentRecord, type ResultRecord, readResearchRecord } from '../record/research.js';
import type { Review } from '../record/review.js';
import type { SchemaValidator } from '../schema/validate.js';
import { batchReviewMarkdown, type Collected } from './record.js';

export interface MigrateReport {
  /** Files written, in the batch layout. */
  written: string[];
  /** Files of the folder layout removed. */
  removed: string[];
  /** Results moved, and those left in place because they have no readable review. */
  moved: number;
  leftInPlace: { result: number; experiment: string; reason: string }[];
  dryRun: boolean;
}

/** A recorded result as collect's own item, so the batch files are written by the same code. */
function asCollected(record: ResultRecord, manifest: Manifest | undefined): Collected | undefined {
  const review = record.review;
  if (!review) return undefined;
  return {
    resultId: record.id,
    workunit: review.workunit,
    experiment: record.experiment,
    host: review.host,
    user: review.user,
    team: review.team ?? 0,
    receivedAt: review.received_at,
    envelope: record.envelope,
    ...(manifest ? { manifest } : {}),
    checks: review.checks.map((c) => ({ ...c, eligibility: true })),
    eligible: review.checks.every((c) => c.passed),
    judgement: {
      verdict: review.verdict,
      quality: review.quality,
      evidence: review.evidence ?? [],
      flags: review.flags ?? [],
      judgedBy: review.judged_by,
    },
    ...recordedOutcome(review, record.envelope, manifest),
    credit: review.proposed_credit,
    ...(review.work_share !== undefined ? { workShare: review.work_share } : {}),
    isolation: review.isolation ?? 'unknown',
  };
}

function legacyFiles(root: string, experiment: string, ids: readonly number[]): string[] {
  const base = `${RESULTS_DIR}/${experiment}`;
  const files = ids.flatMap((id) => {
    const dir = join(root, base, String(id));
    return existsSync(dir) ? readdirSync(dir).map((f) => `${base}/${id}/${f}`) : [];
  });
  const overviews = existsSync(join(root, base))
    ? readdirSync(join(root, base))
        .filter((f) => LEGACY.overviewFile.test(f))
        .map((f) => `${base}/${f}`)
    : [];
  return [...files, ...overviews];
}

function migrateExperiment(
  root: string,
  experiment: ExperimentRecord,
  report: MigrateReport,
): { write: [string, string][]; remove: string[] } {
  const legacy = experiment.results.filter((r) => r.batch === undefined);
  const batched = new Set(experiment.results.filter((r) => r.batch !== undefined).map((r) => r.id));
  const byRun = new Map<string, { item: Collected; record: ResultRecord }[]>();
  const moved: number[] = [];
  for (const record of legacy) {
    const item = asCollected(record, experiment.manifest);
    if (!item || !record.review) {
      report.leftInPlace.push({
        result: record.id,
        experiment: experiment.name,
        reason: 'no readable review.json: its verdict is unknown, so it cannot be recorded as judged',
      });
      continue;
    }
    moved.push(record.id);
    byRun.set(record.review.run, [...(byRun.get(record.review.run) ?? []), { item, record }]);
  }
  const write: [string, string][] = [];
  for (const [run, items] of byRun) {
    const data = dataFile(experiment.name, run);
    // A batch the record already has (a migration stopped halfway) keeps its lines; new ones join it.
    const kept = experiment.results.filter((r) => r.batch === run);
    const both = [
      ...kept.flatMap((record) => {
        const item = asCollected(record, experiment.manifest);
        return item ? [{ item, record }] : [];
      }),
      ...items,
    ].sort((a, b) => a.record.id - b.record.id);
    const all = both.map((b) => b.item);
    // Each review as it was written, with the batch it now lives in.
    const line = ({ record }: { record: ResultRecord }) => {
      const { dropped: _dropped, ...envelope } = record.envelope;
      return `${JSON.stringify({ result: record.id, review: { ...record.review, batch: run }, envelope })}\n`;
    };
    write.push([data, both.map(line).join('')]);
    write.push([
      reviewFile(experiment.name, run),
      batchReviewMarkdown({
        experiment: experiment.name,
        ...(experiment.manifest ? { manifest: experiment.manifest } : {}),
        items: all,
        run,
        batch: run,
        judgedBy: all[0]?.judgement.judgedBy ?? 'rules',
        plots: '',
        plotsNote: 'Plots of this batch: `axiom plots` draws them.',
      }),
    ]);
  }
  report.moved += moved.length;
  // Folders of results the batch layout already holds go too (a migration stopped halfway).
  return { write, remove: legacyFiles(root, experiment.name, [...moved, ...batched]) };
}

/**
 * Rewrites the folder-per-result record into the batch layout (record/layout.ts): each run's
 * results of an experiment become `<run>.jsonl` and `<run>.md`; the folders and overviews go. Credit
 * files stay as they are (one per run, named as its batch). Running it again changes nothing.
 */
export function migrateRecord(options: {
  root: string;
  validator: SchemaValidator;
  dryRun: boolean;
}): MigrateReport {
  const record = readResearchRecord(options.root, options.validator);
  const report: MigrateReport = {
    written: [],
    removed: [],
    moved: 0,
    leftInPlace: [],
    dryRun: options.dryRun,
  };
  for (const experiment of record.experiments) {
    const { write, remove } = migrateExperiment(options.root, experiment, report);
    for (const [path, text] of write) {
      report.written.push(path);
      if (!options.dryRun) writeFileAtomically(join(options.root, path), text);
    }
    for (const path of remove) {
      report.removed.push(path);
      if (!options.dryRun) rmSync(join(options.root, path), { force: true });
    }
    if (!options.dryRun)
      for (const dir of new Set(remove.map((p) => p.split('/').slice(0, 3).join('/'))))
        if (
          /\/[0-9]+$/.test(dir) &&
          existsSync(join(options.root, dir)) &&
          readdirSync(join(options.root, dir)).length === 0
        )
          rmSync(join(options.root, dir), { recursive: true, force: true });
  }
  return report;
}

/** The outcome a review recorded, else judged now from its manifest's checks. */
function recordedOutcome(
  review: Review,
  envelope: SanitisedEnvelope,
  manifest: Manifest | undefined,
): Pick<Collected, 'outcome' | 'outcomeReason'> {
  if (review.outcome)
    return {
      outcome: review.outcome,
      ...(review.outcome_reason ? { outcomeReason: review.outcome_reason } : {}),
    };
  const judged = judgeOutcome(
    envelope,
    manifest,
    review.checks.every((c) => c.passed),
  );
  return { outcome: judged.outcome, outcomeReason: judged.reason };
}
