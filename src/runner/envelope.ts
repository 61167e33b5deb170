import type { ParamValue } from '../manifest/types.js';

/** experiment_result.json, as described by schemas/result.schema.json. */
export interface ResultEnvelope {
  experiment: string;
  version: string;
  status: 'ok' | 'partial';
  seed: number;
  params: Record<string, ParamValue>;
  budget_seconds: number;
  elapsed_seconds: number;
  metrics: Record<string, number>;
  series: Record<string, number[]>;
  summary: string;
}

export const RESULT_FILE = 'experiment_result.json';
