import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseDocument } from 'yaml';
import type { Llm, StructuredAnswer } from '../claude/llm.js';
import type { Host } from '../fleet/types.js';
import { parseManifest } from '../manifest/load.js';
import { EXPERIMENT_NAME_PATTERN } from '../manifest/name.js';
import type { Manifest } from '../manifest/types.js';
import { formatProblem } from '../problems.js';
import type { ResearchRecord } from '../record/research.js';
import type { SchemaValidator } from '../schema/validate.js';
import { schemaPath } from '../schema/validate.js';
import { type Candidate, duplicateReason, validate, why } from './catalogue.js';

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

const validDesign = new Ajv2020({ strict: false }).compile<Design>(DESIGN_SCHEMA);

/** The stable part of every design request: the contracts an experiment must keep. */
export function designerSystem(catalogueRoot: string): string {
  const example = readFileSync(`${catalogueRoot}/manifests/double_descent.yaml`, 'utf8');
  return [
    'You design small, self-contained numpy experiments for volunteer computers in a BOINC project.',
    'A person reviews every design in a pull request before anything runs. Design one experiment that',
    'tests a clear hypothesis and builds on what the lab has learned so far.',
    '',
    'The script contract: one Python 3 file using numpy and the standard library only (no network, no',
    'processes, no files outside its working directory, no pickle, eval, exec or dynamic import). It',
    'reads AXIOM_SEED, AXIOM_PARAMS (JSON), AXIOM_RUN_DURATION (seconds) and AXIOM_CPUS from the',
    'environment, uses at most that many cores, finishes before the duration, and writes',
    'experiment_result.json in its working directory. If the deadline comes before the planned work',
    'is done, it writes status "partial" with progress (the share done, 0 to 1).',
    '',
    'Every metric an acceptance check names needs min and max in outputs.metrics: the range an honest',
    'run can report. A value outside it is not paid.',
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
    'Answer with the JSON schema given: name, title, hypothesis, why_hosts (for each target host, why it',
    'fits), script (the whole file) and manifest_yaml (the whole manifest; its provenance is filled in',
    'for you). Target only hosts of the fleet that meet the resources you ask for.',
  ].join('\n');
}

/** The fleet and the history: what each design is matched to and builds on. */
export function designerContext(
  hosts: readonly Host[],
  existing: readonly Manifest[],
  record: ResearchRecord,
): string {
  const running = (id: number) =>
    existing.filter((m) => m.targets.some((t) => t.host === id)).map((m) => m.name);
  const fleet = hosts.map(
    (h) =>
      `- host ${h.id}: ${h.cores} cores, ${h.memoryGb} GB, ${h.os}${h.gpus.length ? `, GPU ${h.gpus.map((g) => `${g.count}× ${g.model}`).join(', ')}` : ''}, last seen ${h.lastContact?.toISOString().slice(0, 10) ?? 'unknown'}, running: ${running(h.id).join(', ') || 'nothing'}`,
  );
  const history = record.experiments.map((e) => {
    const reviewed = e.results.filter((r) => r.review);
    const valid = reviewed.filter((r) => r.review?.verdict === 'valid');
    const metric = Object.keys(e.manifest?.outputs.metrics ?? {})[0];
    const last = valid.at(-1);
    const headline =
      metric && last?.envelope.metrics[metric] !== undefined
        ? `, latest ${metric} = ${last.envelope.metrics[metric]}`
        : '';
    return `- ${e.name}: ${e.manifest?.hypothesis.slice(0, 200) ?? ''} (${e.results.length} results, ${valid.length} valid${headline})`;
  });
  return [
    'The fleet:',
    ...fleet,
    '',
    'The experiments so far:',
    ...(history.length ? history : ['- none yet']),
  ].join('\n');
}

export interface DesignOutcome {
  candidate?: Candidate;
  attempts: number;
  problems: string[];
  calls: StructuredAnswer[];
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
}

/** The manifest as the designer wrote it, with our own provenance, and everything that is wrong with it. */
function candidateOf(
  design: Design,
  options: DesignOptions,
  answer: StructuredAnswer,
): { candidate?: Candidate; problems: string[] } {
  const doc = parseDocument(design.manifest_yaml);
  if (doc.errors.length > 0) return { problems: doc.errors.map((e) => `manifest_yaml: ${e.message}`) };
  const promptSha = createHash('sha256').update(`${options.system}\n${options.context}`).digest('hex');
  doc.set(
    'provenance',
    doc.createNode({
      designed_by: 'model',
      model: answer.model,
      prompt_sha256: promptSha,
      created: new Date().toISOString().slice(0, 10),
    }),
  );
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
    : duplicateReason(options.lab, design.name, sha, manifest.hypothesis);
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
  const outcome: DesignOutcome = { attempts: 0, problems: [], calls: [] };
  let previous: string | undefined;
  const ask =
    options.host !== undefined
      ? `Design one experiment for host ${options.host} only.`
      : 'Design one experiment.';
  const avoid = [...options.lab.existing.map((m) => m.name), ...options.taken];
  while (outcome.attempts <= options.repairs) {
    outcome.attempts += 1;
    const user = [
      ask,
      avoid.length ? `Names already taken: ${avoid.join(', ')}.` : '',
      previous
        ? `Your previous answer was:\n${previous}\nIt has these problems; answer again with all of them fixed:\n- ${outcome.problems.join('\n- ')}`
        : '',
    ]
      .filter(Boolean)
      .join('\n\n');
    const answer = await options.llm.ask({
      id: `design-${outcome.attempts}`,
      model: options.model,
      system: options.system,
      context: options.context,
      user,
      schema: DESIGN_SCHEMA as unknown as Record<string, unknown>,
      maxTokens: 16_000,
    });
    outcome.calls.push(answer);
    previous = JSON.stringify(answer.value).slice(0, 70_000);
    if (!validDesign(answer.value)) {
      outcome.problems = ['the answer does not match the design schema'];
      continue;
    }
    const { candidate, problems } = candidateOf(answer.value, options, answer);
    if (candidate && problems.length === 0) {
      const failed = await validate(candidate, options);
      if (!failed) return { ...outcome, candidate, problems: [] };
      problems.push(failed);
    }
    outcome.problems = problems;
  }
  return outcome;
}
