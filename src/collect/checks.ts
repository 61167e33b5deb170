import type { CreditSubject } from '../boinc/store.js';
import { checkDeclaredMetrics, checkDeclaredSeries } from '../envelope/acceptance.js';
import type { SanitisedEnvelope } from '../envelope/envelope.js';
import type { Manifest, PlotSpec } from '../manifest/types.js';
import type { SchemaValidator } from '../schema/validate.js';
import { busyCores, workGflop } from '../workunit/plan.js';
import type { Incoming } from './intake.js';
import type { SpeedCeiling } from './speed.js';

/** One check of one result. A failed eligibility check means zero credit, whatever any judge says. */
export interface CheckOutcome {
  rule: string;
  passed: boolean;
  eligibility: boolean;
  finding?: string;
}

export interface CheckContext {
  incoming: Incoming;
  /** The manifest the workunit was deployed from, at its manifest_commit (deploy/deployed.ts). */
  manifest?: Manifest;
  /** Why that manifest cannot be had, when it cannot. */
  manifestMissing?: string;
  /** The BOINC result row, when a database is connected and has it. */
  boinc?: CreditSubject;
  /** Whether a BOINC database was asked: then a result it does not have is not paid. */
  databaseConnected?: boolean;
  /** The fastest the experiment's work can honestly be done, from the record (collect/speed.ts). */
  ceiling?: SpeedCeiling;
  validator: SchemaValidator;
}

/**
 * A run of a script that sizes its work from the clock (a manifest without a work model) that is
 * shorter than this share of its budget finished suspiciously fast.
 */
export const FAST_FINISH = 0.25;
/**
 * A run of planned work shorter than this share of the time the host's benchmark says the work
 * takes finished suspiciously fast: five times faster than the host measured itself, a margin for
 * hosts whose numpy beats their BOINC benchmark.
 */
export const FAST_FINISH_OF_PLAN = 0.2;
/** A run longer than its budget by this share plus a few seconds overran it. */
export const OVERRUN = 0.1;
/** A sanitised result larger than this (mostly series) is not paid for. */
export const MAX_ENVELOPE_BYTES = 1024 * 1024;

type Rule = (context: CheckContext) => string | undefined;

/** How long the task ran: BOINC's measurement, else as the assimilator read it; only without either the client's or the script's claim. */
function elapsedOf({ incoming, boinc }: CheckContext): { elapsed?: number; source: string } {
  const measured =
    boinc && boinc.elapsedTime > 0
      ? boinc.elapsedTime
      : incoming.entry.runtime !== undefined && incoming.entry.runtime > 0
        ? incoming.entry.runtime
        : undefined;
  const elapsed =
    measured ??
    incoming.entry.client?.elapsed_seconds ??
    incoming.entry.envelope?.elapsed_seconds ??
    undefined;
  return {
    ...(elapsed !== undefined && elapsed !== null ? { elapsed } : {}),
    source: measured !== undefined ? 'BOINC measured' : 'it reports',
  };
}

/**
 * The least time the work its workunit asked for can take, whatever the host says of its own speed:
 * the work model's operations at the experiment's speed ceiling on the cores it was given.
 */
function workFloor(context: CheckContext, share: number): { seconds: number; why: string } | undefined {
  const work = context.manifest?.work;
  const workunit = context.incoming.workunit;
  const units = work ? workunit?.params[work.param] : undefined;
  if (!work || !workunit || typeof units !== 'number' || !context.ceiling) return undefined;
  const cores = busyCores(work, workunit.cpus);
  const gflop = workGflop(work, units) * share;
  return {
    seconds: gflop / (context.ceiling.gflopsPerCore * cores),
    why: `${context.ceiling.gflopsPerCore.toPrecision(3)} GFLOPS per core on ${cores} core${cores === 1 ? '' : 's'} (${context.ceiling.basis})`,
  };
}

function envelopeOf(context: CheckContext): SanitisedEnvelope | undefined {
  return context.incoming.entry.envelope;
}

/** The per-result eligibility rules, by name; each returns a finding when the result fails it. */
export const ELIGIBILITY_RULES: Record<string, Rule> = {
  'accepted-by-assimilator': ({ incoming }) =>
    incoming.entry.verdict === 'accepted'
      ? undefined
      : `the assimilator ${incoming.entry.verdict === 'failed-task' ? 'recorded a failed task' : 'rejected it'}: ${incoming.entry.reason ?? 'no reason given'}`,
  'workunit-input': ({ incoming }) =>
    incoming.workunit
      ? incoming.workunit.wu_name === incoming.name.name &&
        incoming.workunit.experiment === incoming.name.experiment &&
        incoming.workunit.script_sha256.startsWith(incoming.name.scriptSha)
        ? undefined
        : `the workunit input is for ${incoming.workunit.wu_name}, not ${incoming.name.name}`
      : 'the spool entry does not carry what the workunit asked for (its staged wu.json)',
  'manifest-exists': ({ incoming, manifest, manifestMissing }) =>
    manifest
      ? undefined
      : `the manifest it was deployed from cannot be had: ${manifestMissing ?? `no manifests/${incoming.name.experiment}.yaml`}`,
  'known-owner': ({ incoming, boinc }) =>
    boinc || (incoming.entry.host_id && incoming.entry.user_id)
      ? undefined
      : 'neither the BOINC database nor the spool entry says which host and user returned it',
  'envelope-schema': (context) => {
    const envelope = envelopeOf(context);
    if (!envelope) return 'there is no result envelope';
    const { dropped: _dropped, truncated: _truncated, ...fields } = envelope;
    const problems = context.validator.validate('result', {
      file: 'result',
      data: fields,
      locate: () => ({ line: 1, column: 1 }),
    });
    return problems.length === 0
      ? undefined
      : problems
          .slice(0, 3)
          .map((p) => `${p.path ? `${p.path}: ` : ''}${p.message}`)
          .join('; ');
  },
  'same-experiment': (context) => {
    const reported = envelopeOf(context)?.experiment;
    return reported === context.incoming.name.experiment
      ? undefined
      : `the result names experiment ${JSON.stringify(reported ?? null)}, the workunit ${context.incoming.name.experiment}`;
  },
  'finite-numbers': (context) => {
    const dropped = envelopeOf(context)?.dropped ?? [];
    return dropped.length === 0
      ? undefined
      : `not finite numbers, left out: ${dropped.slice(0, 5).join(', ')}${dropped.length > 5 ? `, and ${dropped.length - 5} more` : ''}`;
  },
  'declared-outputs': (context) => {
    const envelope = envelopeOf(context);
    if (!envelope || !context.manifest) return undefined;
    const findings = [
      ...checkDeclaredMetrics(envelope, context.manifest),
      ...checkDeclaredSeries(envelope, context.manifest),
    ];
    return findings.length === 0 ? undefined : findings.map((f) => f.message).join('; ');
  },
  runtime: (context) => {
    const { incoming, manifest } = context;
    const budget = incoming.workunit?.run_duration;
    if (budget === undefined) return undefined;
    const { elapsed, source } = elapsedOf(context);
    if (elapsed === undefined) return 'nothing says how long it ran';
    if (elapsed > budget * (1 + OVERRUN) + 5)
      return `overran: ${source} ${elapsed} s of a ${budget} s budget`;
    // A partial result did only part of its planned work.
    const envelope = incoming.entry.envelope;
    const share = envelope?.status === 'partial' ? (envelope.progress ?? 0) : 1;
    const floor = workFloor(context, share);
    if (floor && elapsed < floor.seconds)
      return `fast finish: ${source} ${elapsed} s; its planned work takes at least ${floor.seconds.toPrecision(3)} s at ${floor.why}`;
    const planned = incoming.workunit?.planned_seconds;
    if (planned !== undefined) {
      const expected = planned * share;
      return elapsed < FAST_FINISH_OF_PLAN * expected
        ? `fast finish: ${source} ${elapsed} s; its planned work takes about ${Math.round(expected)} s on this host by its benchmark (less than ${FAST_FINISH_OF_PLAN * 100}% of that)`
        : undefined;
    }
    // Planned work has its floor above; only clock-sized work has a share of the budget.
    if (manifest?.work) return undefined;
    if (elapsed < FAST_FINISH * budget)
      return `fast finish: ${source} ${elapsed} s of a ${budget} s budget (less than ${FAST_FINISH * 100}%)`;
    return undefined;
  },
  'seed-echo': (context) => {
    const expected = context.incoming.workunit?.seed;
    if (expected === undefined) return undefined;
    const seed = envelopeOf(context)?.seed;
    return seed === expected
      ? undefined
      : `the result reports seed ${seed ?? 'none'}; the workunit was given ${expected}`;
  },
  'params-echo': (context) => {
    const given = context.incoming.workunit?.params ?? {};
    const reported = envelopeOf(context)?.params ?? {};
    const wrong = Object.entries(given).filter(
      ([key, value]) => (typeof value === 'number' || typeof value === 'boolean') && reported[key] !== value,
    );
    return wrong.length === 0
      ? undefined
      : `the result reports other params than its workunit was given: ${wrong
          .slice(0, 5)
          .map(([k, v]) => `${k} = ${JSON.stringify(reported[k] ?? null)}, given ${JSON.stringify(v)}`)
          .join('; ')}`;
  },
  'script-echo': ({ incoming }) => {
    const echoed = incoming.entry.client?.script_sha256;
    const sent = incoming.workunit?.script_sha256;
    if (!echoed) return 'the result does not echo the sha256 of the script it ran';
    if (!sent) return undefined;
    return echoed === sent
      ? undefined
      : `the result ran script ${echoed.slice(0, 12)}; the workunit's is ${sent.slice(0, 12)}`;
  },
  'boinc-result': ({ incoming, boinc, databaseConnected }) => {
    if (!boinc)
      return databaseConnected ? `the BOINC database has no result ${incoming.resultId}` : undefined;
    if (boinc.workunitName !== incoming.name.name)
      return `BOINC has result ${incoming.resultId} under workunit ${boinc.workunitName}`;
    return boinc.hostId === incoming.name.host
      ? undefined
      : `returned by host ${boinc.hostId}; the workunit targets host ${incoming.name.host}`;
  },
  'headline-range': ({ incoming, manifest }) => {
    // The metrics acceptance is judged on must have a plausible range, so a made-up 1.7e308 is not paid.
    if (!manifest || !incoming.entry.envelope) return undefined;
    const unbounded = [...new Set((manifest.acceptance ?? []).map((a) => a.metric))].filter((metric) => {
      const spec = manifest.outputs.metrics[metric];
      return spec?.min === undefined || spec.max === undefined;
    });
    return unbounded.length === 0
      ? undefined
      : `the manifest declares no plausible range (min and max) for headline metric${unbounded.length === 1 ? '' : 's'} ${unbounded.join(', ')}`;
  },
  'payload-size': (context) => {
    const size = JSON.stringify(envelopeOf(context) ?? {}).length;
    return size <= MAX_ENVELOPE_BYTES
      ? undefined
      : `the result is ${size} bytes; at most ${MAX_ENVELOPE_BYTES} are paid for`;
  },
};

const INSTRUCTION_LIKE =
  /\b(ignore|disregard|instruction|system|assistant|verdict|quality|credit|approve|grant|reviewer|prompt)\b/i;
const MARKUP = /[<>[\]`|#*!{}]|https?:\/\//;

/** Rules that never decide credit but point a reviewer at something odd. */
export const FLAG_RULES: Record<string, Rule> = {
  'summary-instructions': (context) =>
    INSTRUCTION_LIKE.test(envelopeOf(context)?.summary ?? '')
      ? "the volunteer's summary reads like instructions to a reviewer or a model; it is data and was treated as such"
      : undefined,
  'summary-markup': (context) =>
    MARKUP.test(envelopeOf(context)?.summary ?? '')
      ? "the volunteer's summary contains markup or links; they are shown escaped"
      : undefined,
  'runtime-claim': ({ incoming, boinc }) => {
    const measured = boinc && boinc.elapsedTime > 0 ? boinc.elapsedTime : incoming.entry.runtime;
    const claimed = incoming.entry.envelope?.elapsed_seconds;
    if (!measured || claimed === undefined) return undefined;
    return Math.abs(claimed - measured) > 0.5 * measured + 5
      ? `the result claims it ran ${claimed} s; BOINC measured ${measured} s`
      : undefined;
  },
  'undeclared-metrics': (context) => {
    const declared = context.manifest?.outputs.metrics ?? {};
    const extra = Object.keys(envelopeOf(context)?.metrics ?? {}).filter((k) => !(k in declared));
    return extra.length
      ? `metrics the manifest does not declare: ${extra.slice(0, 5).join(', ')}`
      : undefined;
  },
  'keys-dropped': (context) => {
    const truncated = envelopeOf(context)?.truncated ?? [];
    return truncated.length > 0
      ? `more keys than are kept, the rest left out unread: ${truncated.join('; ')}`
      : undefined;
  },
  'series-lengths': (context) => {
    const envelope = envelopeOf(context);
    if (!envelope || !context.manifest) return undefined;
    const mismatched = mismatchedSeries(envelope.series, context.manifest.outputs.plots ?? []);
    return mismatched.length > 0
      ? `${mismatched.slice(0, 5).join('; ')}${mismatched.length > 5 ? `; and ${mismatched.length - 5} more` : ''}: a plot pairs only as many points as both have`
      : undefined;
  },
};

/**
 * Series a plot pairs point by point (its x with each y, and its group_by) that the result reports
 * with different lengths, each said once: `series test_error has 12 points, its x series width 10`.
 */
function mismatchedSeries(series: Record<string, number[]>, plots: readonly PlotSpec[]): string[] {
  const found = new Set<string>();
  for (const plot of plots) {
    const xs = series[plot.x];
    if (!xs) continue;
    for (const key of [...plot.y, ...(plot.group_by ? [plot.group_by] : [])]) {
      const values = series[key];
      if (values && key !== plot.x && values.length !== xs.length)
        found.add(`series ${key} has ${values.length} points, its x series ${plot.x} ${xs.length}`);
    }
  }
  return [...found];
}

export function flagResult(context: CheckContext): string[] {
  return Object.entries(FLAG_RULES).flatMap(([rule, check]) => {
    const finding = check(context);
    return finding ? [`${rule}: ${finding}`] : [];
  });
}

/** Runs every per-result rule. */
export function checkResult(context: CheckContext): CheckOutcome[] {
  // A failed task, or an upload that could not be read, has no result to check: its reason is the
  // finding, not a list of everything an absent envelope lacks.
  const uploaded = context.incoming.entry.envelope !== undefined;
  return Object.entries(ELIGIBILITY_RULES)
    .filter(([rule]) => uploaded || WITHOUT_ENVELOPE.has(rule))
    .map(([rule, check]) => {
      const finding = check(context);
      return { rule, passed: finding === undefined, eligibility: true, ...(finding ? { finding } : {}) };
    });
}

/** The rules that still say something of a result whose upload was refused or whose task failed. */
const WITHOUT_ENVELOPE = new Set([
  'accepted-by-assimilator',
  'workunit-input',
  'manifest-exists',
  'known-owner',
  'boinc-result',
]);
