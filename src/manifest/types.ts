import type { OsName } from '../fleet/types.js';

export type { OsName };

/** The manifest contract, as described by schemas/manifest.schema.json. */
export interface Manifest {
  name: string;
  title: string;
  hypothesis: string;
  script: string;
  run_duration: number;
  resources: Resources;
  targets: Target[];
  seed: SeedPolicy;
  /** How much work one workunit does, sized by the planner (see schemas/manifest.schema.json). */
  work?: WorkSpec;
  /** How the results of one computation are decided (see schemas/manifest.schema.json). */
  replication?: Replication;
  outputs: Outputs;
  /** Checks that count work: unmet, a result is inconclusive (too little work), never "not supported". */
  preconditions?: Precondition[];
  /** Checks of the hypothesis: what a result supports or not, once its preconditions are met. */
  acceptance?: AcceptanceCheck[];
  /** The literature the hypothesis comes from. */
  references?: string[];
  credit_cap: number;
  provenance: Provenance;
  retired?: boolean;
  /** A shortened copy for a demonstration: the run_duration the experiment has in production. */
  production_run_duration?: number;
  /** Set on a follow-up: the results it builds on, its round, and what its outcome would change. */
  follow_up?: FollowUp;
}

/** The stated rules `axiom propose --follow-up` designs by without a model (schemas/manifest.schema.json). */
export type FollowUpRule = 'rerun-with-work' | 'resolve-transition' | 'widen-law' | 'replicate-elsewhere';

export interface FollowUp {
  round: number;
  parents: FollowUpParent[];
  rule?: FollowUpRule;
  why: string;
  would_change: string;
}

/** An experiment a follow-up grew from, and its results it builds on (stable addresses, record/layout.ts). */
export interface FollowUpParent {
  experiment: string;
  results: string[];
}

export interface Resources {
  min_cpus: number;
  max_cpus?: number;
  min_memory_gb: number;
  /** Resident memory of a run with n cores: base_gb + n * per_cpu_gb, never above max_gb. */
  memory?: MemoryModel;
  gpu: 'none' | 'optional' | 'required';
  os: OsName[];
}

export interface MemoryModel {
  base_gb: number;
  per_cpu_gb: number;
  max_gb: number;
}

export type ParamValue = number | string | boolean | (number | string | boolean)[];

export interface Target {
  host: number;
  replicas?: number;
  params?: Record<string, ParamValue>;
}

export interface Replication {
  quorum?: number;
  max_results?: number;
}

export interface SeedPolicy {
  /** Without one: fixed when the manifest has several targets, per_replica otherwise. */
  policy?: 'per_replica' | 'unique' | 'fixed';
  base: number;
}

/** What the work costs with one BLAS build, in BOINC GFLOP (seconds on a core whose p_fpops is 1e9). */
export interface WorkCost {
  gflop: number;
  base_gflop?: number;
}

/**
 * The planner's model of one workunit's work: units of `param`, each costing `gflop` with the
 * reference BLAS (the conservative default), and `openblas` where numpy runs on OpenBLAS.
 */
export interface WorkSpec extends WorkCost {
  param: string;
  min: number;
  max: number;
  max_cores?: number;
  fill?: number;
  openblas?: WorkCost;
}

/** How closely same-seed replicas must agree on one value. */
export type Tolerance = 'exact' | { relative: number } | { band: number };

export interface MetricSpec {
  type: 'number' | 'integer';
  min?: number;
  max?: number;
  unit?: string;
  description?: string;
  tolerance?: Tolerance;
}

export interface SeriesSpec {
  unit?: string;
  description?: string;
  tolerance?: Tolerance;
  min_length?: number;
  max_length?: number;
}

export interface PlotSpec {
  title: string;
  x: string;
  y: string[];
  x_scale?: 'linear' | 'log';
  y_scale?: 'linear' | 'log';
  mark?: 'line' | 'point';
  x_label?: string;
  y_label?: string;
  /** A series parallel to x whose values split the rows into one line each. */
  group_by?: string;
  /** Fits drawn dashed through each series (see schemas/manifest.schema.json). */
  fit?: FitKind | FitKind[];
  /** Reference lines at a number or at a metric of the result. */
  reference?: ReferenceLine[];
}

export type FitKind = 'power_law' | 'power_law_floor' | 'retention_power' | 'retention_exponential';

export interface ReferenceLine {
  x?: number | string;
  y?: number | string;
  label: string;
}

export interface Outputs {
  metrics: Record<string, MetricSpec>;
  series?: Record<string, SeriesSpec>;
  plots?: PlotSpec[];
}

export type ComparisonOp = '<' | '<=' | '>' | '>=' | '==' | '!=' | 'between';

export interface AcceptanceCheck {
  metric: string;
  op: ComparisonOp;
  value: number | [number, number];
  description?: string;
}

/** A check that counts work; `param` is the workunit param that plans it (default: work.param when it is the metric). */
export interface Precondition extends AcceptanceCheck {
  param?: string;
}

export interface Provenance {
  designed_by: 'model' | 'person' | 'rules';
  model?: string;
  prompt_sha256?: string;
  template_hash?: string;
  data_hash?: string;
  author?: string;
  created?: string;
}
