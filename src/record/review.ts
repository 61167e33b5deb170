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

/**
 * How the computation a result belongs to was decided (collect/quorum.ts): unanimous (every result
 * agreed, at least the quorum of them), tie-breakers (replicas sent after a disagreement agreed with
 * one side), alone (a computation of one result, quorum 1), person (no rule could decide: a reviewer
 * does). Its standing: agreed with the decision, outvoted by it, or held for a person.
 */
export interface ReplicationReview {
  decided: 'unanimous' | 'tie-breakers' | 'alone' | 'person';
  standing: 'agreed' | 'outvoted' | 'held';
  quorum: number;
  /** Each group of results that agree with one another, with their hosts. */
  classes: { results: number[]; hosts: number[] }[];
}

export interface Review extends ResultIdentity {
  run: string;
  /** The batch of the run the result is recorded in (record/layout.ts); absent in the old layout. */
  batch?: string;
  received_at: string;
  /** BOINC's measured elapsed time, else the client's. */
  runtime_seconds?: number;
  /** Cores the workunit gave the script (its wu.json). */
  cpus?: number;
  /** From the workunit's wu.json. */
  manifest_commit?: string;
  script_sha256?: string;
  /** The computation the workunit asked for (collect/replicas.ts replicaKey). */
  replica_key?: string;
  /** How its computation was decided, when it had replicas. */
  replication?: ReplicationReview;
  /** The credit cap of the manifest the workunit was deployed from: what credit apply holds it to. */
  credit_cap?: number;
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
