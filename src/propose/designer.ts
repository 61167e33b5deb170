import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseDocument } from 'yaml';
import type { Llm, StructuredAnswer, StructuredRequest } from '../claude/llm.js';
import type { Host } from '../fleet/types.js';
import { parseManifest } from '../manifest/load.js';
import { EXPERIMENT_NAME_PATTERN } from '../manifest/name.js';
import type { Manifest } from '../manifest/types.js';
import { formatProblem } from '../problems.js';
import { findingsOf } from '../record/findings.js';
import { addressOf } from '../record/layout.js';
import type { ResearchRecord } from '../record/research.js';
import type { SchemaValidator } from '../schema/validate.js';
import { schemaPath } from '../schema/validate.js';
import { type Candidate, duplicateReason, validate, why } from './catalogue.js';
import { parentStory } from './follow-up.js';

/** What the designer must answer: one experiment, script and manifest as text we then check. */
export const DESIGN_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'title', 'hypothesis', 'why_hosts', 'script', 'manifest_yaml'],
  properties: {
    name: { type: 'string', pattern: `^${EXPERIMENT_NAME_PATTERN}$` },
    title: { type: 'string', maxLength: 120 },
    hypothesis: { type: 'string', maxLength: 2000 },
    why_hosts: {
      type: 'array',
      maxItems: 20,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['host', 'why'],
        properties: { host: { type: 'integer' }, why: { type: 'string', maxLength: 300 } },
      },
    },
    script: { type: 'string', maxLength: 60_000 },
    manifest_yaml: { type: 'string', maxLength: 20_000 },
  },
} as const;

interface Design {
  name: string;
  title: string;
  hypothesis: string;
  why_hosts: { host: number; why: string }[];
  script: string;
  manifest_yaml: string;
}

/** A follow-up's design adds what it builds on (experiments and their results' stable addresses), why, and what it would change. */
export const FOLLOW_UP_DESIGN_SCHEMA = {
  ...DESIGN_SCHEMA,
  required: [...DESIGN_SCHEMA.required, 'builds_on', 'why', 'would_change'],
  properties: {
    ...DESIGN_SCHEMA.properties,
    builds_on: {
      type: 'array',
      minItems: 1,
      maxItems: 8,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['experiment', 'results'],
        properties: {
          experiment: { type: 'string', pattern: `^${EXPERIMENT_NAME_PATTERN}$` },
          results: { type: 'array', minItems: 1, maxItems: 20, items: { type: 'string', maxLength: 120 } },
        },
      },
    },
    why: { type: 'string', maxLength: 1000 },
    would_change: { type: 'string', maxLength: 1000 },
  },
} as const;

interface FollowUpDesign extends Design {
  builds_on: { experiment: string; results: string[] }[];
  why: string;
  would_change: string;
}

const ajv = new Ajv2020({ strict: false });
const validDesign = ajv.compile<Design>(DESIGN_SCHEMA);
const validFollowUp = ajv.compile<FollowUpDesign>(FOLLOW_UP_DESIGN_SCHEMA);

/** The stable part of every design request: the contracts an experiment must keep. */
/** The standard-library modules the script policy allows, read from the policy itself (one list). */
function allowedModules(): string[] {
  const policy = readFileSync(new URL('../../scripts/policy_check.py', import.meta.url), 'utf8');
  const set = /STDLIB_ALLOWED = \{([^}]*)\}/.exec(policy)?.[1] ?? '';
  return [...set.matchAll(/"([a-z_]+)"/g)].map((m) => m[1] as string);
}

/** The limits of axiom.yaml that bind a design, when the lab has them. */
export interface DesignLimits {
  runDuration: { min: number; max: number };
  creditCap: { min: number; max: number };
  workunitsPerManifest: number;
}

/** The stable part of every design request: the contracts an experiment must keep. */
export function designerSystem(catalogueRoot: string, limits?: DesignLimits): string {
  const example = readFileSync(`${catalogueRoot}/manifests/double_descent.yaml`, 'utf8');
  const exampleScript = readFileSync(`${catalogueRoot}/experiments/double_descent.py`, 'utf8');
  return [
    'You design small, self-contained numpy experiments for volunteer computers in a BOINC project.',
    'A person reviews every design in a pull request before anything runs. Design one experiment that',
    'tests a clear hypothesis and builds on what the lab has learned so far. A hypothesis the results',
    'refute is as welcome as one they support: pay does not depend on it.',
    '',
    'The script contract: one Python 3 file using numpy and these standard-library modules only:',
    `${allowedModules().join(', ')} (CuPy only when the manifest's gpu is optional or required, with`,
    'numpy as the fallback). No network, no processes, no files outside its working directory, no',
    'pickle, eval, exec or dynamic import: the static policy refuses them and the sandbox stops them.',
    'It reads AXIOM_SEED, AXIOM_PARAMS (JSON), AXIOM_RUN_DURATION (seconds) and AXIOM_CPUS from the',
    'environment, uses at most that many cores, and writes experiment_result.json in its working',
    'directory. Do a fixed amount of work given by the params (so the result depends on seed and',
    "params only, and cores change only how fast it runs): declare it in the manifest's `work` (the",
    'param, its min and max, and what one unit costs in GFLOP as BOINC counts them), and the planner',
    'sets that param for each workunit so that its slowest host fills about half of the duration.',
    'Stop starting work at 85% of the duration; if the deadline comes first, write status "partial"',
    'with progress (the share done, 0 to 1). Combine parallel work in a fixed order.',
    '',
    'How results are checked: BOINC measures the runtime; a run under a fifth of the time its planned',
    'work takes on that host (by its benchmark) is a fast finish, one over 110% of the duration plus',
    '5 s an overrun, and neither is paid. Every metric an acceptance check names needs min and max in',
    'outputs.metrics (the range an honest run can report); a value outside it is not paid. Same-seed',
    "replicas must agree within each metric's `tolerance` (exact for integers, 1e-6 relative for",
    'numbers unless declared; a band for chaotic quantities).',
    ...(limits
      ? [
          '',
          `The lab's limits (axiom.yaml): run_duration ${limits.runDuration.min} to ${limits.runDuration.max} s, credit_cap ${limits.creditCap.min} to ${limits.creditCap.max}, at most ${limits.workunitsPerManifest} workunits per manifest.`,
        ]
      : []),
    '',
    'The result envelope (JSON Schema):',
    readFileSync(schemaPath('result'), 'utf8'),
    '',
    'The manifest (YAML, JSON Schema):',
    readFileSync(schemaPath('manifest'), 'utf8'),
    '',
    'An example manifest:',
    example,
    '',
    'Its script:',
    exampleScript,
    '',
    'Answer with the JSON schema given: name, title, hypothesis, why_hosts (for each target host, why it',
    'fits), script (the whole file) and manifest_yaml (the whole manifest; its provenance is filled in',
    "for you, and so is a follow-up's follow_up, from builds_on, why and would_change). Target only hosts",
    'of the fleet that meet the resources you ask for.',
  ].join('\n');
}

export interface DesignOutcome {
  candidate?: Candidate;
  attempts: number;
  problems: string[];
  calls: StructuredAnswer[];
  /** What the calls that gave no usable answer cost (a truncated or refused design is billed too). */
  failedUsd: number;
}

export interface DesignOptions {
  llm: Llm;
  model: string;
  system: string;
  context: string;
  root: string;
  validator: SchemaValidator;
  python: string;
  smokeSeconds: number;
  repairs: number;
  hosts: Map<number, Host>;
  lab: { existing: Manifest[]; existingShas: Set<string> };
  /** Names already proposed in this run. */
  taken: string[];
  host?: number;
  /** A follow-up of the last round (`--follow-up`): the record it builds on. */
  followUp?: { record: ResearchRecord };
}

/** What a follow-up must be, said in every follow-up request. */
const FOLLOW_UP_ASK = [
  'It is a follow-up: it grows out of results of the last round listed above. In builds_on name each',
  'experiment it builds on and the stable addresses of the results it builds on, exactly as listed (each',
  'is checked against the record); in why, what those results found that calls for it; in would_change,',
  'what its outcome would change in the conclusion. Name it after the first experiment of its line with',
  'its round: edge_of_chaos_r2 follows edge_of_chaos, edge_of_chaos_r3 follows edge_of_chaos_r2. Its',
  'script reports that name as "experiment" in its result envelope.',
].join(' ');

/** The request turn of a design attempt: what to design, which names are taken, and what to repair. */
export function designUser(
  options: Pick<DesignOptions, 'host' | 'lab' | 'taken' | 'followUp'>,
  previous?: string,
  problems: readonly string[] = [],
): string {
  const ask =
    options.host !== undefined
      ? `Design one experiment for host ${options.host} only.`
      : 'Design one experiment.';
  const avoid = [...options.lab.existing.map((m) => m.name), ...options.taken];
  return [
    ask,
    options.followUp ? FOLLOW_UP_ASK : '',
    avoid.length ? `Names already taken: ${avoid.join(', ')}.` : '',
    previous
      ? `Your previous answer was:\n${previous}\nIt has these problems; answer again with all of them fixed:\n- ${problems.join('\n- ')}`
      : '',
  ]
    .filter(Boolean)
    .join('\n\n');
}

/** Large enough for the biggest design the schema allows (a 60,000-character script and its manifest) and its thinking. */
export const DESIGN_MAX_TOKENS = 48_000;

/** One design request: streamed (it can take minutes), medium effort, the 5-minute cache for its repairs. */
export function designRequest(
  options: Pick<DesignOptions, 'model' | 'system' | 'context' | 'followUp'>,
  user: string,
  attempt: number,
): StructuredRequest {
  return {
    id: `design-${attempt}`,
    model: options.model,
    system: options.system,
    context: options.context,
    user,
    schema: (options.followUp ? FOLLOW_UP_DESIGN_SCHEMA : DESIGN_SCHEMA) as unknown as Record<
      string,
      unknown
    >,
    maxTokens: DESIGN_MAX_TOKENS,
    effort: 'medium',
    cacheTtl: '5m',
    long: true,
  };
}

/** The manifest as the designer wrote it, with our own provenance, and everything that is wrong with it. */
function candidateOf(
  design: Design,
  options: DesignOptions,
  answer: StructuredAnswer,
): { candidate?: Candidate; problems: string[] } {
  const doc = parseDocument(design.manifest_yaml);
  if (doc.errors.length > 0) return { problems: doc.errors.map((e) => `manifest_yaml: ${e.message}`) };
  doc.set(
    'provenance',
    doc.createNode({
      designed_by: 'model',
      model: answer.model,
      template_hash: answer.hashes.template,
      data_hash: answer.hashes.data,
      created: new Date().toISOString().slice(0, 10),
    }),
  );
  // Lineage is ours to write: from builds_on in a follow-up, never from a new design's own claim.
  if (options.followUp && 'builds_on' in design)
    doc.set('follow_up', doc.createNode(followUpOf(design as FollowUpDesign, options.lab.existing)));
  else doc.delete('follow_up');
  const manifestText = doc.toString({ lineWidth: 100 });
  const loaded = parseManifest(`manifests/${design.name}.yaml`, manifestText, options.validator);
  const problems = loaded.problems.filter((p) => p.severity === 'error').map(formatProblem);
  const manifest = loaded.manifest;
  if (!manifest) return { problems };
  if (manifest.name !== design.name)
    problems.push(`the manifest is named ${manifest.name}, the design ${design.name}`);
  if (manifest.script !== `experiments/${design.name}.py`)
    problems.push(`the manifest's script must be experiments/${design.name}.py`);
  if (options.host !== undefined && manifest.targets.some((t) => t.host !== options.host))
    problems.push(`target only host ${options.host}, as asked`);
  const sha = createHash('sha256').update(design.script).digest('hex');
  const duplicate = options.taken.includes(design.name)
    ? 'this run already proposes an experiment of this name'
    : duplicateReason(options.lab, design.name, sha, options.followUp ? undefined : manifest.hypothesis);
  if (duplicate) problems.push(`${duplicate}; design something new`);
  const fit = manifest.targets.flatMap((t) => {
    const host = options.hosts.get(t.host);
    const reason = design.why_hosts.find((w) => w.host === t.host)?.why;
    return host
      ? [
          {
            host,
            why: `${why(host, manifest)}${reason ? ` — ${reason.replace(/[\p{Cc}\p{Cf}|]/gu, ' ')}` : ''}`,
          },
        ]
      : [];
  });
  return {
    problems,
    candidate: { name: design.name, manifest, manifestText, script: design.script, scriptSha256: sha, fit },
  };
}

/**
 * One design with Claude: ask, check everything (schema, policy, host fit, duplicates, a smoke run),
 * and send the problems back for a bounded number of repairs. A design that still fails is given up.
 */
export async function design(options: DesignOptions): Promise<DesignOutcome> {
  const outcome: DesignOutcome = { attempts: 0, problems: [], calls: [], failedUsd: 0 };
  let previous: string | undefined;
  while (outcome.attempts <= options.repairs) {
    outcome.attempts += 1;
    const user = designUser(options, previous, outcome.problems);
    const answer = await options.llm.ask(designRequest(options, user, outcome.attempts));
    if ('error' in answer) {
      // A truncated or refused answer, or one the API could not give now: another attempt, and in
      // the end a report; the other designs of this run are kept.
      outcome.failedUsd += answer.costUsd;
      outcome.problems = [`no usable answer: ${answer.error}`];
      previous = undefined;
      continue;
    }
    outcome.calls.push(answer);
    previous = JSON.stringify(answer.value).slice(0, 70_000);
    if (!(options.followUp ? validFollowUp(answer.value) : validDesign(answer.value))) {
      outcome.problems = ['the answer does not match the design schema'];
      continue;
    }
    const { candidate, problems } = candidateOf(answer.value as Design, options, answer);
    if (candidate && problems.length === 0) {
      const failed = await validate(candidate, options);
      if (!failed) return { ...outcome, candidate: withStory(candidate, options), problems: [] };
      problems.push(failed);
    }
    outcome.problems = problems;
  }
  return outcome;
}

/** A model's follow-up as its manifest records it: round one more than its parents' latest. */
function followUpOf(design: FollowUpDesign, existing: readonly Manifest[]) {
  const roundOf = (name: string) => existing.find((m) => m.name === name)?.follow_up?.round ?? 1;
  return {
    round: 1 + Math.max(...design.builds_on.map((p) => roundOf(p.experiment))),
    parents: design.builds_on,
    why: design.why,
    would_change: design.would_change,
  };
}

/** A checked follow-up with what it builds on, read from the record, for its pull request. */
function withStory(candidate: Candidate, options: DesignOptions): Candidate {
  const followUp = candidate.manifest.follow_up;
  const record = options.followUp?.record;
  if (!followUp || !record) return candidate;
  const parents = followUp.parents.flatMap((p) => {
    const experiment = record.experiments.find((e) => e.name === p.experiment);
    if (!experiment) return [];
    const cited = experiment.results.filter((r) =>
      p.results.includes(
        addressOf({ experiment: p.experiment, id: r.id, ...(r.batch ? { batch: r.batch } : {}) }),
      ),
    );
    return [parentStory(experiment, findingsOf(experiment), cited)];
  });
  return {
    ...candidate,
    followUp: {
      round: followUp.round,
      phrase: '',
      why: followUp.why,
      wouldChange: followUp.would_change,
      parents,
    },
  };
}
