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
}

export const EMPTY_ENVELOPE: SanitisedEnvelope = { params: {}, metrics: {}, series: {}, summary: '' };

const MAX_SERIES = 100_000;
const MAX_SUMMARY = 500;
const KEY = /^[a-z][a-z0-9_]{0,63}$/;

export const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const keyName = (key: string) => (KEY.test(key) ? key : JSON.stringify(key.slice(0, 40)));

function numbersOnly(value: unknown, limit: number, dropped: string[], prefix: string) {
  const out: Record<string, number> = {};
  if (!isRecord(value)) return out;
  for (const [key, v] of Object.entries(value).slice(0, limit)) {
    if (KEY.test(key) && isFiniteNumber(v)) out[key] = v;
    else dropped.push(`${prefix}.${keyName(key)}`);
  }
  return out;
}

function seriesOf(value: unknown, dropped: string[]): Record<string, number[]> {
  const series: Record<string, number[]> = {};
  if (!isRecord(value)) return series;
  for (const [key, values] of Object.entries(value).slice(0, 200)) {
    if (KEY.test(key) && Array.isArray(values) && values.length <= MAX_SERIES && values.every(isFiniteNumber))
      series[key] = values as number[];
    else dropped.push(`series.${keyName(key)}`);
  }
  return series;
}

function paramsOf(value: unknown): Record<string, number | boolean> {
  const params: Record<string, number | boolean> = {};
  if (!isRecord(value)) return params;
  // Text parameters are dropped on purpose (only numbers reach a judge), so they are not listed.
  for (const [key, v] of Object.entries(value).slice(0, 200))
    if (KEY.test(key) && (isFiniteNumber(v) || typeof v === 'boolean')) params[key] = v;
  return params;
}

/** Keeps only what the judge may read: finite numbers, short plain text in the summary. */
export function sanitiseEnvelope(raw: unknown): SanitisedEnvelope {
  const e = isRecord(raw) ? raw : {};
  const dropped: string[] = [];
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
    params: paramsOf(e.params),
    metrics: numbersOnly(e.metrics, 500, dropped, 'metrics'),
    series: seriesOf(e.series, dropped),
    summary,
    dropped,
  };
}
