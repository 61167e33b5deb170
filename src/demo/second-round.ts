import { RESULTS_BRANCH_PREFIX } from '../collect/results.js';
import type { Outcome } from '../envelope/acceptance.js';
import type { Manifest } from '../manifest/types.js';
import { CATALOGUE_ROOT } from '../propose/catalogue.js';
import { designerFrom, proposeExperiments } from '../propose/propose.js';
import { type Findings, findingsOf, outcomeCounts, short } from '../record/findings.js';
import { readResearchRecord } from '../record/research.js';
import type { SchemaValidator } from '../schema/validate.js';

/** What the second round changed in one line of inquiry: its parent's finding, and the follow-up's. */
export interface RoundChange {
  experiment: string;
  parent: string;
  /** The stated rule that designed it; undefined when Claude did. */
  rule?: string;
  before: string;
  after: string;
  /** What the follow-up's outcome changed in the conclusion, in a sentence. */
  changed: string;
}

export interface SecondRound {
  /** How the follow-ups were designed: the stated rules without a key, Claude with one. */
  designedBy: 'rules' | 'claude';
  seconds: number;
  /** The follow-ups that produced results this run. */
  experiments: string[];
  outcomes: Record<string, number>;
  verdicts: Record<string, number>;
  /** Every follow-up of the lab, with what it changed. */
  changes: RoundChange[];
  /** Follow-ups proposed and waiting for a person, when the demo was not told to approve. */
  waiting: string[];
  /** What the first round's experiments did not get as a follow-up this run, and why. */
  dropped: { name: string; reason: string }[];
  /** Credit after the second round's, when it was applied. */
  credit?: Credit;
}

/** Credit per host and per user after a round's credit is applied. */
export interface Credit {
  creditPerHost: { host: number; credit: number }[];
  creditPerUser: { user: number; credit: number }[];
}

/** The loop's steps the second round runs again, as the demo defines them. */
export interface RoundSteps<R> {
  /** Merges the open pull requests whose branch starts with `prefix` when told to; what waits otherwise. */
  approve(run: R, prefix: string): Promise<string[]>;
  deploy(run: R): Promise<void>;
  volunteers(run: R): Promise<unknown>;
  collect(
    run: R,
  ): Promise<{ experiments: string[]; verdicts: Record<string, number>; outcomes: Record<string, number> }>;
  creditAndSite(run: R): Promise<Credit>;
}

export interface RoundContext {
  lab: string;
  validator: SchemaValidator;
  python: string;
  smokeSeconds: number;
  benchmark: { fpops: number; blas?: 'openblas' | 'reference' | 'other'; cores: number };
  claude: Parameters<typeof designerFrom>[0];
  forge: NonNullable<Parameters<typeof proposeExperiments>[0]['forge']>;
  say: (line: string) => void;
  progress?: (line: string) => void;
}

/** At most this many follow-ups in the demo's second round, so that it stays a few minutes. */
export const DEMO_FOLLOW_UPS = 4;

const headline = (f: Findings) =>
  f.headline
    ? `; ${f.headline.metric} ${f.headline.n > 1 ? `median ${short(f.headline.median)}` : short(f.headline.median)}`
    : '';

/** What a follow-up's outcome changed, by its rule (or, designed by Claude, by its outcomes). */
function changeOf(m: Manifest, parent: Findings, child: Findings): string {
  const count = (f: Findings, o: Outcome) => f.byOutcome[o].length;
  const now = { supported: count(child, 'supported'), 'not supported': count(child, 'not supported') };
  const was = { supported: count(parent, 'supported') };
  const decisive = now.supported + now['not supported'];
  if (child.valid.length === 0) return 'nothing yet: no valid results';
  if (m.follow_up?.rule === 'replicate-elsewhere')
    return now['not supported'] > 0
      ? 'the finding against the hypothesis replicated on other hosts: it stands'
      : now.supported > 0
        ? "the failure did not replicate on other hosts: it belonged to the first round's hosts, not to the hypothesis"
        : 'still no answer on the other hosts: inconclusive';
  if (m.follow_up?.rule === 'rerun-with-work')
    return decisive > 0
      ? `with the work it lacked the hypothesis has its first answer: ${outcomeCounts(child)}`
      : 'still inconclusive with more work';
  if (now.supported === child.valid.length && was.supported > 0)
    return m.follow_up?.rule === 'widen-law'
      ? 'the law held over the wider range'
      : m.follow_up?.rule === 'resolve-transition'
        ? 'the transition held where it was, resolved more finely'
        : 'the finding held';
  return `the finding changed: ${outcomeCounts(parent)} before, ${outcomeCounts(child)} now`;
}

/** Every follow-up of the lab, with its parent's finding and its own. */
export function roundChanges(lab: string, validator: SchemaValidator): RoundChange[] {
  const experiments = readResearchRecord(lab, validator).experiments;
  return experiments.flatMap((e) => {
    const m = e.manifest;
    const parentName = m?.follow_up?.parents[0]?.experiment;
    const parent = experiments.find((x) => x.name === parentName);
    if (!m || !parent) return [];
    const before = findingsOf(parent);
    const after = findingsOf(e);
    return [
      {
        experiment: e.name,
        parent: parent.name,
        ...(m.follow_up?.rule ? { rule: m.follow_up.rule } : {}),
        before: `${outcomeCounts(before)}${headline(before)}`,
        after: `${outcomeCounts(after)}${headline(after)}`,
        changed: changeOf(m, before, after),
      },
    ];
  });
}

/**
 * The demo's second round: follow-ups designed from the first round's outcomes (`axiom propose
 * --follow-up`: the stated rules without a key, Claude with one), approved, and run through the same
 * loop. Running it again proposes nothing new and changes nothing.
 */
export async function runSecondRound<R>(
  run: R,
  ctx: RoundContext,
  steps: RoundSteps<R>,
): Promise<SecondRound> {
  const started = Date.now();
  const designer = designerFrom(ctx.claude);
  // Once the lab has its follow-ups, the second round is what they are: nothing is designed again.
  const dropped = roundChanges(ctx.lab, ctx.validator).length === 0 ? await propose(ctx, designer) : [];
  const round: SecondRound = {
    designedBy: designer.claude ? 'claude' : 'rules',
    seconds: 0,
    experiments: [],
    outcomes: {},
    verdicts: {},
    changes: [],
    waiting: await steps.approve(run, 'axiom/propose/'),
    dropped,
  };
  if (round.waiting.length === 0) {
    await steps.deploy(run);
    await steps.volunteers(run);
    const collected = await steps.collect(run);
    Object.assign(round, collected);
    const results = await steps.approve(run, RESULTS_BRANCH_PREFIX);
    if (results.length === 0) round.credit = await steps.creditAndSite(run);
    else round.waiting = results;
  }
  round.changes = roundChanges(ctx.lab, ctx.validator);
  round.seconds = Math.round((Date.now() - started) / 1000);
  return round;
}

/** `axiom propose --follow-up` on the first round, as many as the demo runs. */
async function propose(
  ctx: RoundContext,
  designer: ReturnType<typeof designerFrom>,
): Promise<SecondRound['dropped']> {
  const proposed = await proposeExperiments({
    root: ctx.lab,
    catalogueRoot: CATALOGUE_ROOT,
    validator: ctx.validator,
    python: ctx.python,
    count: DEMO_FOLLOW_UPS,
    smokeSeconds: ctx.smokeSeconds,
    // One smoke run per core at a time.
    parallel: ctx.benchmark.cores,
    repairs: 3,
    benchmark: ctx.benchmark,
    ...designer,
    followUp: true,
    // Two rounds: a second run of the demo follows up nothing of its own second round.
    followUpRound: 1,
    forge: ctx.forge,
    ...(ctx.progress ? { onProgress: ctx.progress } : {}),
  });
  const n = proposed.proposed.length;
  ctx.say(
    `follow-up: ${n} follow-up${n === 1 ? '' : 's'} of the first round (${designer.claude ? 'designed by Claude' : 'by the stated rules, no model'})`,
  );
  for (const s of proposed.skipped) ctx.say(`follow-up: ${s.name} not followed up: ${s.reason}`);
  return proposed.skipped;
}
