import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic-write.js';

/** Result files larger than this are rejected unread. */
export const MAX_RESULT_BYTES = 4 * 1024 * 1024;
const MAX_SERIES = 100_000;
const MAX_SUMMARY = 500;
const NAME = /^[a-z][a-z0-9_]{2,47}$/;

export interface ResultRef {
  wuName: string;
  wuId: number;
  resultId: number;
  runtime: number;
  files: string[];
  hostId?: number;
  userId?: number;
}

/** What a volunteer's result is reduced to: numbers, plus a short summary. Everything else is dropped. */
export interface SanitisedEnvelope {
  experiment?: string;
  version?: string;
  status?: 'ok' | 'partial';
  seed?: number;
  budget_seconds?: number;
  elapsed_seconds?: number;
  params: Record<string, number | boolean>;
  metrics: Record<string, number>;
  series: Record<string, number[]>;
  summary: string;
  /** Metrics, series and params that were not finite numbers (NaN, Infinity, text) and were left out. */
  dropped?: string[];
}

export interface SpoolEntry {
  kind: 'result' | 'workunit-error';
  received_at: string;
  wu_name: string;
  wu_id: number;
  result_id?: number;
  runtime?: number;
  host_id?: number;
  user_id?: number;
  error_mask?: number;
  batch_id?: number;
  /** accepted: a usable envelope; rejected: volunteer data we could not use, with the reason. */
  verdict: 'accepted' | 'rejected' | 'failed-task';
  reason?: string;
  client?: {
    status: string;
    exit_code: number | null;
    elapsed_seconds: number | null;
    script_sha256?: string;
  };
  envelope?: SanitisedEnvelope;
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const KEY = /^[a-z][a-z0-9_]{0,63}$/;

function numbersOnly(
  value: unknown,
  limit: number,
  dropped: string[],
  prefix: string,
): Record<string, number> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const out: Record<string, number> = {};
  for (const [key, v] of Object.entries(value).slice(0, limit)) {
    if (KEY.test(key) && isFiniteNumber(v)) out[key] = v;
    else dropped.push(`${prefix}.${KEY.test(key) ? key : JSON.stringify(key.slice(0, 40))}`);
  }
  return out;
}

/** Keeps only what the judge may read: finite numbers, short plain text in the summary. */
export function sanitiseEnvelope(raw: unknown): SanitisedEnvelope {
  const e = (typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<
    string,
    unknown
  >;
  const dropped: string[] = [];
  const series: Record<string, number[]> = {};
  if (typeof e.series === 'object' && e.series !== null && !Array.isArray(e.series)) {
    for (const [key, values] of Object.entries(e.series).slice(0, 200)) {
      if (
        KEY.test(key) &&
        Array.isArray(values) &&
        values.length <= MAX_SERIES &&
        values.every(isFiniteNumber)
      )
        series[key] = values as number[];
      else dropped.push(`series.${KEY.test(key) ? key : JSON.stringify(key.slice(0, 40))}`);
    }
  }
  const params: Record<string, number | boolean> = {};
  if (typeof e.params === 'object' && e.params !== null && !Array.isArray(e.params)) {
    // Text parameters are dropped on purpose (only numbers reach a judge), so they are not listed.
    for (const [key, v] of Object.entries(e.params).slice(0, 200))
      if (KEY.test(key) && (isFiniteNumber(v) || typeof v === 'boolean')) params[key] = v;
  }
  const summary =
    typeof e.summary === 'string' ? e.summary.replace(/[\p{Cc}\p{Cf}]/gu, ' ').slice(0, MAX_SUMMARY) : '';
  return {
    ...(typeof e.experiment === 'string' && NAME.test(e.experiment) ? { experiment: e.experiment } : {}),
    ...(typeof e.version === 'string' && /^[0-9A-Za-z.+-]{1,32}$/.test(e.version)
      ? { version: e.version }
      : {}),
    ...(e.status === 'ok' || e.status === 'partial' ? { status: e.status } : {}),
    ...(Number.isInteger(e.seed) && (e.seed as number) >= 0 ? { seed: e.seed as number } : {}),
    ...(isFiniteNumber(e.budget_seconds) ? { budget_seconds: e.budget_seconds } : {}),
    ...(isFiniteNumber(e.elapsed_seconds) ? { elapsed_seconds: e.elapsed_seconds } : {}),
    params,
    metrics: numbersOnly(e.metrics, 500, dropped, 'metrics'),
    series,
    summary,
    dropped,
  };
}

/** Reads the volunteer client's result file; bad data becomes a rejected entry, never an exception. */
export function readResult(ref: ResultRef, now: Date): SpoolEntry {
  const base: SpoolEntry = {
    kind: 'result',
    received_at: now.toISOString(),
    wu_name: ref.wuName,
    wu_id: ref.wuId,
    result_id: ref.resultId,
    runtime: ref.runtime,
    ...(ref.hostId !== undefined ? { host_id: ref.hostId } : {}),
    ...(ref.userId !== undefined ? { user_id: ref.userId } : {}),
    verdict: 'rejected',
  };
  const file = ref.files[0];
  if (!file) return { ...base, reason: 'the result has no output file' };
  let bytes: Buffer;
  try {
    if (statSync(file).size > MAX_RESULT_BYTES)
      return { ...base, reason: `the result file is larger than ${MAX_RESULT_BYTES} bytes` };
    bytes = readFileSync(file);
  } catch (error) {
    return {
      ...base,
      reason: `the result file cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ...base, reason: 'the result file is not UTF-8 text' };
  }
  let report: unknown;
  try {
    report = JSON.parse(text);
  } catch {
    return { ...base, reason: 'the result file is not valid JSON' };
  }
  if (typeof report !== 'object' || report === null || Array.isArray(report))
    return { ...base, reason: 'the result file is not a JSON object' };
  const r = report as Record<string, unknown>;
  const client = {
    status: typeof r.status === 'string' ? r.status.slice(0, 40) : 'unknown',
    exit_code: Number.isInteger(r.exit_code) ? (r.exit_code as number) : null,
    elapsed_seconds: isFiniteNumber(r.elapsed_seconds) ? r.elapsed_seconds : null,
    ...(typeof r.script_sha256 === 'string' && /^[0-9a-f]{64}$/.test(r.script_sha256)
      ? { script_sha256: r.script_sha256 }
      : {}),
  };
  if (client.status !== 'ok')
    return {
      ...base,
      verdict: 'failed-task',
      reason: `the volunteer client reported ${JSON.stringify(client.status)}`,
      client,
    };
  const envelope = sanitiseEnvelope(r.envelope);
  if (Object.keys(envelope.metrics).length === 0)
    return { ...base, reason: 'the envelope reports no numeric metrics', client, envelope };
  return { ...base, verdict: 'accepted', client, envelope };
}

/** Writes a spool entry atomically: temporary file, fsync, rename. Throws when it cannot store it. */
export function writeSpoolEntry(spoolDir: string, entry: SpoolEntry): string {
  mkdirSync(spoolDir, { recursive: true });
  const name =
    entry.kind === 'result' ? `${entry.wu_name}__${entry.result_id}.json` : `${entry.wu_name}__error.json`;
  const path = join(spoolDir, name);
  writeFileAtomically(path, `${JSON.stringify(entry)}\n`);
  return path;
}
