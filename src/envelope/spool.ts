import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic-write.js';
import type { WorkunitInput } from '../workunit/input.js';
import { type SanitisedEnvelope, sanitiseEnvelope } from './envelope.js';
import type { ClientStatus, Isolation, ReadReport, RunEnvironment } from './report.js';

/**
 * One spool entry per result, written by `axiom assimilate` and read by `axiom collect`: what BOINC
 * said of the result, what its workunit asked for (the staged wu.json), and what the volunteer's
 * client reported, reduced to numbers.
 */
export interface SpoolEntry {
  kind: 'result' | 'workunit-error';
  received_at: string;
  wu_name: string;
  wu_id: number;
  result_id?: number;
  /** BOINC's own measurement of the task (result.elapsed_time), never the volunteer's claim. */
  runtime?: number;
  host_id?: number;
  user_id?: number;
  error_mask?: number;
  batch_id?: number;
  /** accepted: a usable envelope; rejected: volunteer data we could not use, with the reason. */
  verdict: 'accepted' | 'rejected' | 'failed-task';
  reason?: string;
  /** What the workunit asked for: its staged wu.json, as validated against its schema. */
  workunit?: WorkunitInput;
  client?: SpoolClient;
  envelope?: SanitisedEnvelope;
}

export interface SpoolClient {
  status: ClientStatus | 'unknown';
  exit_code: number | null;
  elapsed_seconds: number | null;
  script_sha256?: string;
  isolation?: Isolation;
  /** numpy, BLAS, CPU and the rest a run's last digits may depend on, as the client found them. */
  environment?: RunEnvironment;
  message?: string;
  stderr_tail?: string;
}

/** A canonical result as BOINC hands it over, with what our own records add. */
export interface ResultRef {
  wuName: string;
  wuId: number;
  resultId: number;
  /** BOINC's result.elapsed_time. */
  runtime: number;
  hostId?: number;
  userId?: number;
  /** The staged wu.json of the workunit, or why it could not be read. */
  workunit: WorkunitInput | { missing: string };
}

/** The spool entry of a result from its report as read; bad data becomes a rejected entry, never an exception. */
export function resultEntry(ref: ResultRef, read: ReadReport, now: Date): SpoolEntry {
  const base: SpoolEntry = {
    kind: 'result',
    received_at: now.toISOString(),
    wu_name: ref.wuName,
    wu_id: ref.wuId,
    result_id: ref.resultId,
    runtime: ref.runtime,
    ...(ref.hostId !== undefined ? { host_id: ref.hostId } : {}),
    ...(ref.userId !== undefined ? { user_id: ref.userId } : {}),
    ...('missing' in ref.workunit ? {} : { workunit: ref.workunit }),
    verdict: 'rejected',
  };
  if ('missing' in ref.workunit) return { ...base, reason: ref.workunit.missing };
  if ('reason' in read) return { ...base, reason: read.reason };
  const { report } = read;
  const client: SpoolClient = {
    status: report.status,
    exit_code: report.exitCode,
    elapsed_seconds: report.elapsedSeconds,
    ...(report.scriptSha256 ? { script_sha256: report.scriptSha256 } : {}),
    ...(report.isolation ? { isolation: report.isolation } : {}),
    ...(report.environment ? { environment: report.environment } : {}),
    ...(report.message ? { message: report.message } : {}),
    ...(report.stderrTail ? { stderr_tail: report.stderrTail.slice(-2000) } : {}),
  };
  if (report.status !== 'ok')
    return {
      ...base,
      verdict: 'failed-task',
      reason: `the volunteer client reported ${JSON.stringify(report.status)}${report.message ? `: ${report.message}` : ''}`,
      client,
    };
  const envelope = sanitiseEnvelope(report.envelope);
  if (Object.keys(envelope.metrics).length === 0)
    return { ...base, reason: 'the envelope reports no numeric metrics', client, envelope };
  return { ...base, verdict: 'accepted', client, envelope };
}

/** The spool file of an entry: one per result, one per failed workunit. */
export function spoolFileName(entry: Pick<SpoolEntry, 'kind' | 'wu_name' | 'result_id'>): string {
  return entry.kind === 'result'
    ? `${entry.wu_name}__${entry.result_id}.json`
    : `${entry.wu_name}__error.json`;
}

/** Writes a spool entry atomically: temporary file, fsync, rename. Throws when it cannot store it. */
export function writeSpoolEntry(spoolDir: string, entry: SpoolEntry): string {
  mkdirSync(spoolDir, { recursive: true });
  const path = join(spoolDir, spoolFileName(entry));
  writeFileAtomically(path, `${JSON.stringify(entry)}\n`);
  return path;
}
