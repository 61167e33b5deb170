import type { RunEnvironment } from '../envelope/report.js';
/** The verdict on one result; where it is stored is record/layout.ts. */
export type Verdict = 'valid' | 'invalid' | 'suspicious';

/** Which result, of which workunit, returned by whom: shared by reviews and credit entries. */
export interface ResultIdentity {
  result: number;
  workunit: string;
  experiment: string;
  host: number;
  user: number;
  team?: number;
}

export interface Review extends ResultIdentity {
  run: string;
  /** The batch of the run the result is recorded in (record/layout.ts); absent in the old layout. */
  batch?: string;
  received_at: string;
  /** BOINC's measured elapsed time, else the client's. */
  runtime_seconds?: number;
  /** From the workunit's wu.json. */
  manifest_commit?: string;
  script_sha256?: string;
  /** The computation the workunit asked for (collect/replicas.ts replicaKey). */
  replica_key?: string;
  /** What the run's numbers may depend on beyond seed and params, as the client found it. */
  environment?: RunEnvironment;
  verdict: Verdict;
  /** What the result says of the hypothesis; absent in reviews written before outcomes. */
  outcome?: 'supported' | 'not supported' | 'inconclusive';
  /** What decided the outcome; absent in reviews written before it was recorded. */
  outcome_reason?: string;
  quality: number;
  proposed_credit: number;
  judged_by: string;
  /** A partial result's share of its planned work, which its credit is scaled by. */
  work_share?: number;
  /** How the volunteer's client isolated the run. */
  isolation?: 'sandbox' | 'limits-only' | 'unknown';
  checks: { rule: string; passed: boolean; finding?: string }[];
  rubric?: Record<string, number>;
  evidence?: string[];
  flags?: string[];
  provenance?: {
    model: string;
    prompt_hash: string;
    data_hash?: string;
    input_tokens: number;
    output_tokens: number;
    cache_read_tokens?: number;
    cache_write_tokens?: number;
    cost_usd: number;
    batched: boolean;
  };
}
