import { EXPERIMENT_NAME } from '../manifest/name.js';
import type { ParamValue } from '../manifest/types.js';

/** experiment_result.json, as described by schemas/result.schema.json: what a script writes. */
export interface ResultEnvelope {
  experiment: string;
  version: string;
  status: 'ok' | 'partial';
  /** The share of the planned work done; required with status partial. */
  progress?: number;
  seed: number;
  params: Record<string, ParamValue>;
  budget_seconds: number;
  elapsed_seconds: number;
  metrics: Record<string, number>;
  series: Record<string, number[]>;
  summary: string;
}

export const RESULT_FILE = 'experiment_result.json';

/** What a volunteer's result is reduced to: numbers, plus a short summary. Everything else is dropped. */
export interface SanitisedEnvelope {
  experiment?: string;
  version?: string;
  status?: 'ok' | 'partial';
  progress?: number;
  seed?: number;
  budget_seconds?: number;
  elapsed_seconds?: number;
  params: Record<string, number | boolean>;
  metrics: Record<string, number>;
  series: Record<string, number[]>;
  summary: string;
  /** Metrics, series and params that were not finite numbers (NaN, Infinity, text) and were left out. */
  dropped?: string[];
  /** Metrics, series and params past how many are kept, left out unread: one line per kind, said in the review. */
  truncated?: string[];
}

export const EMPTY_ENVELOPE: SanitisedEnvelope = { params: {}, metrics: {}, series: {}, summary: '' };

const MAX_SERIES = 100_000;
const MAX_SUMMARY = 500;
/** How many metrics, series and params of one result are kept; the rest are left out unread. */
export const KEPT_KEYS = { metrics: 500, series: 200, params: 200 } as const;
const KEY = /^[a-z][a-z0-9_]{0,63}$/;

export const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const keyName = (key: string) => (KEY.test(key) ? key : JSON.stringify(key.slice(0, 40)));

/** The first `KEPT_KEYS[kind]` entries of an object; what is past them is counted in `truncated`. */
function kept(value: unknown, kind: keyof typeof KEPT_KEYS, truncated: string[]): [string, unknown][] {
  if (!isRecord(value)) return [];
  const entries = Object.entries(value);
  const limit = KEPT_KEYS[kind];
  if (entries.length > limit) truncated.push(`${kind}: ${entries.length} keys, only the first ${limit} kept`);
  return entries.slice(0, limit);
}

function numbersOnly(value: unknown, dropped: string[], truncated: string[]) {
  const out: Record<string, number> = {};
  for (const [key, v] of kept(value, 'metrics', truncated)) {
    if (KEY.test(key) && isFiniteNumber(v)) out[key] = v;
    else dropped.push(`metrics.${keyName(key)}`);
  }
  return out;
}

function seriesOf(value: unknown, dropped: string[], truncated: string[]): Record<string, number[]> {
  const series: Record<string, number[]> = {};
  for (const [key, values] of kept(value, 'series', truncated)) {
    if (KEY.test(key) && Array.isArray(values) && values.length <= MAX_SERIES && values.every(isFiniteNumber))
      series[key] = values as number[];
    else dropped.push(`series.${keyName(key)}`);
  }
  return series;
}

function paramsOf(value: unknown, truncated: string[]): Record<string, number | boolean> {
  const params: Record<string, number | boolean> = {};
  // Text parameters are dropped on purpose (only numbers reach a judge), so they are not listed.
  for (const [key, v] of kept(value, 'params', truncated))
    if (KEY.test(key) && (isFiniteNumber(v) || typeof v === 'boolean')) params[key] = v;
  return params;
}

/** Keeps only what the judge may read: finite numbers, short plain text in the summary. */
export function sanitiseEnvelope(raw: unknown): SanitisedEnvelope {
  const e = isRecord(raw) ? raw : {};
  const dropped: string[] = [];
  const truncated: string[] = [];
  const summary =
    typeof e.summary === 'string' ? e.summary.replace(/[\p{Cc}\p{Cf}]/gu, ' ').slice(0, MAX_SUMMARY) : '';
  return {
    ...(typeof e.experiment === 'string' && EXPERIMENT_NAME.test(e.experiment)
      ? { experiment: e.experiment }
      : {}),
    ...(typeof e.version === 'string' && /^[0-9A-Za-z.+-]{1,32}$/.test(e.version)
      ? { version: e.version }
      : {}),
    ...(e.status === 'ok' || e.status === 'partial' ? { status: e.status } : {}),
    ...(isFiniteNumber(e.progress) && e.progress >= 0 && e.progress <= 1 ? { progress: e.progress } : {}),
    ...(Number.isInteger(e.seed) && (e.seed as number) >= 0 ? { seed: e.seed as number } : {}),
    ...(isFiniteNumber(e.budget_seconds) ? { budget_seconds: e.budget_seconds } : {}),
    ...(isFiniteNumber(e.elapsed_seconds) ? { elapsed_seconds: e.elapsed_seconds } : {}),
    params: paramsOf(e.params, truncated),
    metrics: numbersOnly(e.metrics, dropped, truncated),
    series: seriesOf(e.series, dropped, truncated),
    summary,
    dropped,
    ...(truncated.length > 0 ? { truncated } : {}),
  };
}
