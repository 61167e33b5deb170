import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { type RepoConfig, requireConfig } from '../config/config.js';
import { describeCheck } from '../envelope/acceptance.js';
import type { Host } from '../fleet/types.js';
import { hostShortfalls } from '../manifest/fit.js';
import { parseManifest } from '../manifest/load.js';
import type { FollowUpRule, Manifest, Target } from '../manifest/types.js';
import { formatProblem } from '../problems.js';
import { type Findings, findingsOf, outcomeCounts, outcomeOfResult, short } from '../record/findings.js';
import { addressOf } from '../record/layout.js';
import { lineageOf } from '../record/lineage.js';
import { type ExperimentRecord, type ResultRecord, readResearchRecord } from '../record/research.js';
import { ASSUMED_FPOPS, costOn, DEFAULT_FILL, fewestUnits, workSeconds } from '../workunit/plan.js';
import {
  type Candidate,
  type CatalogueOptions,
  checkInWaves,
  type FollowUpStory,
  readLab,
  type Skipped,
  why,
} from './catalogue.js';
import { REFINEMENTS, type Refinement } from './refinements.js';

/** The stated rules `axiom propose --follow-up` designs by without a model; pull requests quote them. */
export const FOLLOW_UP_RULES: Readonly<Record<FollowUpRule, string>> = {
  'replicate-elsewhere':
    'a result that did not support its hypothesis is replicated on hosts of the fleet that have not run the experiment (as many as it had, at least two, the first that fit by id), with the same params, before anyone believes it',
  'rerun-with-work':
    "an inconclusive result is run again with the work it lacked: each target asks for the units its last run was planned (at least what the preconditions need), and the budget grows by what the last run lacked (1 / the share of its work it did, or what an unmet precondition needed over what it got, else twice; at most four times), with 25% to spare, within the lab's limits",
  'resolve-transition':
    "a supported transition is resolved more finely where it happens: the sweep gets points near the measured transition (gains 0.025 apart near edge_of_chaos's critical gain; widths 1% of n apart near double_descent's interpolation threshold), the work per unit costed for them",
  'widen-law':
    'a supported law is tested over a wider range (neural_scaling_laws: students 1.5 and 2 times as wide as the widest), the work per unit costed for them',
};

/** Which rule a round calls for: stated once, for the pull request and the docs. */
export const RULE_CHOICE =
  "A round's valid results decide: one that did not support its hypothesis is replicated first; otherwise, when supported results are at least as many as inconclusive ones, a transition is resolved more finely and a law widened (an experiment that is neither has no rule); otherwise it is run again with the work it lacked.";

/** What one rule changes in the parent's manifest, or why it cannot. */
interface Design {
  rule: FollowUpRule;
  cites: ResultRecord[];
  targets: Target[];
  runDuration?: number;
  /** Edits to the manifest beside targets and budget: [path, value]. */
  edits: [string[], unknown][];
  phrase: string;
  why: string;
  wouldChange: string;
}

interface RuleContext {
  experiment: ExperimentRecord & { manifest: Manifest };
  findings: Findings;
  hosts: ReadonlyMap<number, Host>;
  limits: RepoConfig['limits'];
  benchmark: CatalogueOptions['benchmark'];
  refinement?: Refinement;
  script: string;
}

/** At most this many results are cited per parent (the schema's bound). */
const MAX_CITED = 20;

const hostsOf = (results: readonly ResultRecord[]) => [
  ...new Set(results.flatMap((r) => (r.review ? [r.review.host] : []))),
];

function mostCommon(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
}

/** The rule a round calls for (RULE_CHOICE), or why there is none. */
export function ruleFor(findings: Findings, refinement?: Refinement): FollowUpRule | { skip: string } {
  const { supported, inconclusive } = findings.byOutcome;
  if (findings.valid.length === 0) return { skip: 'no valid results to build on yet' };
  if (findings.byOutcome['not supported'].length > 0) return 'replicate-elsewhere';
  if (supported.length > 0 && supported.length >= inconclusive.length) {
    if (!refinement)
      return {
        skip: 'supported, and neither a transition nor a law the rules know how to refine: a person or Claude (--follow-up with ANTHROPIC_API_KEY) designs its next round',
      };
    return refinement.kind === 'transition' ? 'resolve-transition' : 'widen-law';
  }
  return 'rerun-with-work';
}

/** The least budget, a multiple of 5 s, in whose planner's share each target does `units` (or the fewest the preconditions need). */
function budgetToFit(m: Manifest, ctx: RuleContext, targets: readonly Target[]): number {
  const work = m.work;
  if (!work) return m.run_duration;
  const need = targets.map((t) => {
    const host = ctx.hosts.get(t.host);
    if (!host) return 0;
    const speed = ctx.benchmark ?? { fpops: host.fpops ?? ASSUMED_FPOPS, blas: host.blas };
    const units =
      typeof t.params?.[work.param] === 'number' ? (t.params[work.param] as number) : fewestUnits(m, work);
    const cores = Math.min(host.cores, m.resources.max_cpus ?? host.cores);
    return (
      workSeconds(costOn(work, { blas: speed.blas }), work, units, speed.fpops, cores) /
      (work.fill ?? DEFAULT_FILL)
    );
  });
  return Math.max(m.run_duration, Math.ceil(Math.max(0, ...need) / 5) * 5);
}

const replicateElsewhere = (ctx: RuleContext): Design | { skip: string } => {
  const m = ctx.experiment.manifest;
  const refuted = ctx.findings.byOutcome['not supported'];
  const ran = new Set([...hostsOf(ctx.experiment.results), ...m.targets.map((t) => t.host)]);
  const wanted = Math.max(2, m.targets.length);
  const others = [...ctx.hosts.values()]
    .filter((h) => !ran.has(h.id) && hostShortfalls(h, m.resources).length === 0)
    .sort((a, b) => a.id - b.id)
    .slice(0, wanted);
  if (others.length === 0)
    return { skip: 'not supported, and no host of the fleet that has not run it fits it' };
  const targets = others.map((h, i) => {
    const like = m.targets[i % m.targets.length] as Target;
    return { ...like, host: h.id };
  });
  const reason = mostCommon(refuted.map((r) => outcomeOfResult(ctx.experiment, r).reason));
  const before = hostsOf(refuted).join(', ');
  const after = targets.map((t) => t.host).join(', ');
  return {
    rule: 'replicate-elsewhere',
    cites: refuted,
    targets,
    edits: [],
    phrase: `replicated on hosts ${after}`,
    why: `The last round did not support the hypothesis on host${refuted.length === 1 ? '' : 's'} ${before} (${reason}). A finding against a hypothesis is replicated on other hosts before anyone believes it: hosts ${after} have not run this experiment.`,
    wouldChange: `If the hypothesis is not supported on hosts ${after} either, the finding against it stands as the lab's; if it is supported there, the last round's result belongs to hosts ${before} (their hardware, BLAS or a fault) and is not a finding about the hypothesis.`,
  };
};

/** The most a follow-up's budget grows in one round, before the 25% to spare. */
const MOST_GROWTH = 4;

/**
 * How many times the budget a result lacked: 1 / the share of its work it did (a partial run), else
 * needed over got for an unmet precondition, else twice (a run that did not finish, or a metric it did
 * not compute); at most MOST_GROWTH.
 */
function lacked(ctx: RuleContext, result: ResultRecord): number {
  const m = ctx.experiment.manifest;
  if (result.envelope.status === 'partial')
    return Math.min(MOST_GROWTH, 1 / Math.max(0.01, result.envelope.progress ?? 0.5));
  const unmet = (m.preconditions ?? []).flatMap((c) => {
    const got = result.envelope.metrics[c.metric];
    return typeof c.value === 'number' && got !== undefined && got < c.value
      ? [c.value / Math.max(got, c.value / MOST_GROWTH)]
      : [];
  });
  return Math.min(MOST_GROWTH, unmet.length ? Math.max(...unmet) : 2);
}

const rerunWithWork = (ctx: RuleContext): Design | { skip: string } => {
  const m = ctx.experiment.manifest;
  const lacking = ctx.findings.byOutcome.inconclusive;
  const work = m.work;
  const planned = work
    ? Math.max(
        fewestUnits(m, work),
        ...lacking.map((r) => Number(r.envelope.params[work.param] ?? 0)).filter(Number.isFinite),
      )
    : undefined;
  const targets = m.targets.map((t) =>
    work && planned !== undefined ? { ...t, params: { ...(t.params ?? {}), [work.param]: planned } } : t,
  );
  const factor = 1.25 * Math.max(...lacking.map((r) => lacked(ctx, r)));
  const grown = Math.ceil((m.run_duration * factor) / 5) * 5;
  const runDuration = Math.min(ctx.limits.runDuration.max, Math.max(grown, budgetToFit(m, ctx, targets)));
  const reason = mostCommon(lacking.map((r) => outcomeOfResult(ctx.experiment, r).reason));
  const units = work && planned !== undefined ? `${planned} ${work.param} on each target and ` : '';
  return {
    rule: 'rerun-with-work',
    cites: lacking,
    targets,
    runDuration,
    edits: [],
    phrase: 'run again with the work it lacked',
    why: `The last round said nothing about the hypothesis: ${reason}. It runs again with ${units}${runDuration} s instead of ${m.run_duration} s.`,
    wouldChange: `The last round drew no conclusion; this round's outcome is the first answer to the hypothesis: supported or not supported, with the work its preconditions (${(m.preconditions ?? []).map(describeCheck).join('; ') || 'none declared'}) ask for.`,
  };
};

const refine = (ctx: RuleContext): Design | { skip: string } => {
  const m = ctx.experiment.manifest;
  const r = ctx.refinement as Refinement;
  if (!ctx.script.includes(`"${r.param}"`))
    return { skip: `its script does not take the param ${r.param}, which the rule adds points in` };
  const supported = ctx.findings.byOutcome.supported;
  const params = m.targets[0]?.params ?? {};
  const plan = r.plan(supported, params);
  const before = supported[0]?.envelope.series[r.sweep] ?? [];
  const earlier = Array.isArray(params[r.param]) ? (params[r.param] as number[]) : [];
  const extra = [...new Set([...earlier, ...plan.points])].sort((a, b) => a - b);
  const after = [...new Set([...before, ...extra])];
  if (after.length === before.length)
    return { skip: `its sweep already has every point the rule would add (${r.param})` };
  const ratio = plan.costRatio(before, after);
  const targets = m.targets.map((t) => ({ ...t, params: { ...(t.params ?? {}), [r.param]: extra } }));
  const scaled = (v: number) => Number((v * ratio).toPrecision(3));
  const edits: [string[], unknown][] = m.work
    ? [
        [['work', 'gflop'], scaled(m.work.gflop)],
        ...(m.work.openblas
          ? [[['work', 'openblas', 'gflop'], scaled(m.work.openblas.gflop)] as [string[], unknown]]
          : []),
      ]
    : [];
  if (plan.memoryGrows && m.resources.memory)
    edits.push([['resources', 'memory', 'per_cpu_gb'], scaled(m.resources.memory.per_cpu_gb)]);
  const costed: Manifest = m.work
    ? {
        ...m,
        work: {
          ...m.work,
          gflop: scaled(m.work.gflop),
          ...(m.work.openblas
            ? { openblas: { ...m.work.openblas, gflop: scaled(m.work.openblas.gflop) } }
            : {}),
        },
      }
    : m;
  return {
    rule: r.kind === 'transition' ? 'resolve-transition' : 'widen-law',
    cites: supported,
    targets,
    runDuration: Math.min(ctx.limits.runDuration.max, budgetToFit(costed, ctx, targets)),
    edits,
    phrase: plan.phrase,
    why: `${plan.why} One unit of work costs about ${short(ratio)} times what it did.`,
    wouldChange: plan.wouldChange,
  };
};

const DESIGNS: Readonly<Record<FollowUpRule, (ctx: RuleContext) => Design | { skip: string }>> = {
  'replicate-elsewhere': replicateElsewhere,
  'rerun-with-work': rerunWithWork,
  'resolve-transition': refine,
  'widen-law': refine,
};

/** `<first experiment of the line>_r<round>`, within the 48 characters a name may have. */
export function followUpName(root: string, round: number): string {
  const suffix = `_r${round}`;
  return `${root.slice(0, 48 - suffix.length).replace(/_+$/, '')}${suffix}`;
}

/** The script of a follow-up: its parent's, reporting the follow-up's name in its result envelope. */
function renamedScript(script: string, from: string, to: string): string | undefined {
  const literal = `"experiment": "${from}"`;
  return script.includes(literal) ? script.replaceAll(literal, `"experiment": "${to}"`) : undefined;
}

/** The story of a follow-up's parent, for its pull request: what the round found and what is cited. */
export function parentStory(
  experiment: ExperimentRecord,
  findings: Findings,
  cites: readonly ResultRecord[],
): FollowUpStory['parents'][number] {
  const h = findings.headline;
  return {
    experiment: experiment.name,
    title: experiment.manifest?.title ?? experiment.name,
    found: `${outcomeCounts(findings)} of ${findings.valid.length} valid result${findings.valid.length === 1 ? '' : 's'}${h ? `; ${h.metric} ${h.n > 1 ? `median ${short(h.median)}, from ${short(h.min)} to ${short(h.max)} over ${h.hosts} host${h.hosts === 1 ? '' : 's'}` : `= ${short(h.median)}`}` : ''}`,
    results: cites.slice(0, MAX_CITED).map((r) => {
      const o = outcomeOfResult(experiment, r);
      return {
        address: addressOf({ experiment: experiment.name, id: r.id, ...(r.batch ? { batch: r.batch } : {}) }),
        outcome: o.outcome,
        ...(r.review ? { host: r.review.host } : {}),
        reason: o.reason,
      };
    }),
  };
}

/** The follow-up's manifest text: the parent's, with the rule's changes, its lineage and its provenance. */
function followUpManifest(
  parentText: string,
  name: string,
  design: Design,
  story: FollowUpStory,
  title: string,
): string {
  const doc = parseDocument(parentText);
  doc.set('name', name);
  doc.set('title', title);
  doc.set('script', `experiments/${name}.py`);
  doc.set('targets', doc.createNode(design.targets));
  if (design.runDuration !== undefined) doc.set('run_duration', design.runDuration);
  for (const [path, value] of design.edits) doc.setIn(path, value);
  doc.delete('retired');
  doc.set(
    'follow_up',
    doc.createNode({
      round: story.round,
      parents: story.parents.map((p) => ({
        experiment: p.experiment,
        results: p.results.map((r) => r.address),
      })),
      rule: design.rule,
      why: design.why.slice(0, 1000),
      would_change: design.wouldChange.slice(0, 1000),
    }),
  );
  doc.set(
    'provenance',
    doc.createNode({ designed_by: 'rules', created: new Date().toISOString().slice(0, 10) }),
  );
  return doc.toString({ lineWidth: 100 });
}

/** The experiments whose last round is in and not yet followed up: manifests on main, not retired, with reviewed results. */
export function openRound(
  experiments: readonly ExperimentRecord[],
): (ExperimentRecord & { manifest: Manifest })[] {
  const lineage = lineageOf(experiments);
  return experiments.filter(
    (e): e is ExperimentRecord & { manifest: Manifest } =>
      e.manifest !== undefined &&
      !e.manifest.retired &&
      e.results.some((r) => r.review) &&
      (lineage.children.get(e.name) ?? []).length === 0,
  );
}

const PRIORITY: readonly FollowUpRule[] = [
  'replicate-elsewhere',
  'rerun-with-work',
  'resolve-transition',
  'widen-law',
];

/**
 * Follow-ups by the stated rules, without a model: for each experiment of the last round (its
 * results in, nothing built on it yet) the rule its outcomes call for, applied to its manifest and a
 * copy of its script, checked as `axiom check` would and smoke-run before anyone is asked to review it.
 */
export async function proposeFollowUps(
  options: CatalogueOptions,
): Promise<{ candidates: Candidate[]; skipped: Skipped[] }> {
  const { hosts, existing } = await readLab(options.root, options.validator);
  const limits = requireConfig(options.root, options.validator).limits;
  const record = readResearchRecord(options.root, options.validator);
  const lineage = lineageOf(record.experiments);
  const skipped: Skipped[] = [];
  const open = openRound(record.experiments).filter(
    (e) => options.followUpRound === undefined || lineage.roundOf(e.name) === options.followUpRound,
  );
  const planned = open.flatMap((experiment) => {
    const refinement = REFINEMENTS[lineage.rootOf(experiment.name)];
    const findings = findingsOf(experiment);
    const rule = ruleFor(findings, refinement);
    if (typeof rule !== 'string') {
      skipped.push({ name: experiment.name, reason: rule.skip });
      return [];
    }
    return [{ experiment, findings, rule, ...(refinement ? { refinement } : {}) }];
  });
  planned.sort(
    (a, b) =>
      PRIORITY.indexOf(a.rule) - PRIORITY.indexOf(b.rule) ||
      a.experiment.name.localeCompare(b.experiment.name),
  );
  const nameOf = (experiment: ExperimentRecord) =>
    followUpName(lineage.rootOf(experiment.name), lineage.roundOf(experiment.name) + 1);
  const skip = (experiment: ExperimentRecord, reason: string): Skipped => ({
    name: nameOf(experiment),
    reason: `follow-up of ${experiment.name}: ${reason}`,
  });
  const parentOf = (c: Candidate) => c.followUp?.parents[0]?.experiment ?? c.name;
  const checked = await checkInWaves(
    planned,
    {
      prepare: ({ experiment, findings, rule, refinement }) => {
        const name = nameOf(experiment);
        const declined = options.declined?.get(name);
        if (declined) return skip(experiment, declined);
        if (existing.some((m) => m.name === name))
          return skip(experiment, 'the lab already has an experiment of this name');
        const candidate = followUpCandidate({
          options,
          experiment,
          findings,
          rule,
          hosts,
          limits,
          name,
          ...(refinement ? { refinement } : {}),
        });
        return 'skip' in candidate ? skip(experiment, candidate.skip) : candidate;
      },
      checking: (c) => `propose: checking ${c.name} (${c.followUp?.rule} of ${parentOf(c)})`,
      refused: (c, problem) => ({ name: c.name, reason: `follow-up of ${parentOf(c)}: ${problem}` }),
      notReached: ({ experiment }) =>
        skip(
          experiment,
          `only ${options.count} follow-up${options.count === 1 ? ' was' : 's were'} asked for, taken by those the rules put first`,
        ),
    },
    options,
  );
  return { candidates: checked.candidates, skipped: [...skipped, ...checked.skipped] };
}

function followUpCandidate(input: {
  options: CatalogueOptions;
  experiment: ExperimentRecord & { manifest: Manifest };
  findings: Findings;
  rule: FollowUpRule;
  hosts: ReadonlyMap<number, Host>;
  limits: RepoConfig['limits'];
  name: string;
  refinement?: Refinement;
}): Candidate | { skip: string } {
  const { options, experiment, name } = input;
  const m = experiment.manifest;
  const parentScript = readFileSync(join(options.root, m.script), 'utf8');
  const script = renamedScript(parentScript, m.name, name);
  if (!script)
    return {
      skip: `its script does not report "experiment": "${m.name}", so a copy cannot report its own name`,
    };
  const ctx: RuleContext = {
    experiment,
    findings: input.findings,
    hosts: input.hosts,
    limits: input.limits,
    benchmark: options.benchmark,
    script: parentScript,
    ...(input.refinement ? { refinement: input.refinement } : {}),
  };
  const design = DESIGNS[input.rule](ctx);
  if ('skip' in design) return design;
  const round = (m.follow_up?.round ?? 1) + 1;
  const story: FollowUpStory = {
    rule: design.rule,
    round,
    phrase: design.phrase,
    why: design.why,
    wouldChange: design.wouldChange,
    parents: [parentStory(experiment, input.findings, design.cites)],
  };
  const title = `Round ${round} of ${m.name}: ${design.phrase}`.slice(0, 120);
  const manifestText = followUpManifest(
    readFileSync(join(options.root, 'manifests', `${m.name}.yaml`), 'utf8'),
    name,
    design,
    story,
    title,
  );
  const loaded = parseManifest(`manifests/${name}.yaml`, manifestText, options.validator);
  if (!loaded.manifest)
    return {
      skip: `its manifest would not be valid: ${loaded.problems.slice(0, 2).map(formatProblem).join('; ')}`,
    };
  const manifest = loaded.manifest;
  return {
    name,
    manifest,
    manifestText,
    script,
    scriptSha256: createHash('sha256').update(script).digest('hex'),
    fit: manifest.targets.flatMap((t) => {
      const host = input.hosts.get(t.host);
      return host ? [{ host, why: why(host, manifest) }] : [];
    }),
    followUp: story,
  };
}
