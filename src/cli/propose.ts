import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { escapeMarkdown } from '../collect/record.js';
import { ConfigurationError } from '../errors.js';
import type { OpenOutcome } from '../forge/forge.js';
import { openForge } from '../forge/open.js';
import { resolvePython } from '../policy/python.js';
import {
  CATALOGUE_ROOT,
  type Candidate,
  proposeFromCatalogue,
  readLab,
  type Skipped,
} from '../propose/catalogue.js';
import { design, designerContext, designerSystem } from '../propose/designer.js';
import { readResearchRecord } from '../results/record.js';
import { SchemaValidator } from '../schema/validate.js';
import { booleanOption, type Command, type Io, numberOption, stringOption } from './command.js';
import { createProgress } from './progress.js';

const DEFAULT_SMOKE_SECONDS = 20;
const DEFAULT_REPAIRS = 3;
/** Designing is rare and hard: a strong model. */
export const DEFAULT_DESIGN_MODEL = 'claude-sonnet-5-5';

interface DesignRun {
  root: string;
  validator: SchemaValidator;
  python: string;
  smokeSeconds: number;
  host?: number;
  io: Io;
  count: number;
  repairs: number;
  catalogueRoot: string;
  onProgress: (line: string) => void;
}

/** Claude designs `count` experiments, each checked, smoke-run and repaired before it is proposed. */
async function designWithClaude(run: DesignRun) {
  // The SDK is loaded only when Claude is used.
  const { ClaudeLlm } = await import('../claude/claude.js');
  const llm = new ClaudeLlm({
    apiKey: run.io.env.ANTHROPIC_API_KEY as string,
    ...(run.io.env.ANTHROPIC_BASE_URL ? { baseURL: run.io.env.ANTHROPIC_BASE_URL } : {}),
  });
  const model = run.io.env.AXIOM_DESIGN_MODEL || DEFAULT_DESIGN_MODEL;
  const { hosts, existing, existingShas } = await readLab(run.root, run.validator);
  const system = designerSystem(run.catalogueRoot);
  const context = designerContext([...hosts.values()], existing, readResearchRecord(run.root, run.validator));
  const candidates: Candidate[] = [];
  const designs = new Map<string, DesignProvenance>();
  const abandoned: { attempts: number; problems: string[] }[] = [];
  for (let i = 0; i < run.count; i++) {
    run.onProgress(`propose: designing ${i + 1} of ${run.count} with ${model}`);
    const outcome = await design({
      ...run,
      llm,
      model,
      system,
      context,
      hosts,
      lab: { existing, existingShas },
      taken: candidates.map((c) => c.name),
    });
    if (!outcome.candidate) {
      abandoned.push({ attempts: outcome.attempts, problems: outcome.problems });
      continue;
    }
    candidates.push(outcome.candidate);
    const sum = (f: (c: (typeof outcome.calls)[number]) => number) =>
      outcome.calls.reduce((s, c) => s + f(c), 0);
    designs.set(outcome.candidate.name, {
      model: outcome.calls.at(-1)?.model ?? model,
      promptHash: outcome.calls.at(-1)?.promptHash ?? '',
      attempts: outcome.attempts,
      inputTokens: sum((c) => c.usage.inputTokens),
      cacheReadTokens: sum((c) => c.usage.cacheReadTokens),
      outputTokens: sum((c) => c.usage.outputTokens),
      costUsd: sum((c) => c.costUsd),
    });
  }
  return { candidates, skipped: [] as Skipped[], designs, abandoned };
}

/** AXIOM_CATALOGUE_RUN_DURATION: the demonstration's scaled-down catalogue (one short workunit each). */
function scaled(env: NodeJS.ProcessEnv): { scaledRunDuration?: number } {
  const text = env.AXIOM_CATALOGUE_RUN_DURATION;
  if (!text) return {};
  const seconds = Number(text);
  if (!Number.isInteger(seconds) || seconds < 1)
    throw new ConfigurationError(`AXIOM_CATALOGUE_RUN_DURATION must be whole seconds; found "${text}"`);
  return { scaledRunDuration: seconds };
}

/** Who designed a proposal, and what the model calls behind it cost. */
export interface DesignProvenance {
  model: string;
  promptHash: string;
  attempts: number;
  inputTokens: number;
  cacheReadTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** The pull request description a reviewer decides from. Model-written text is shown inert. */
export function proposalBody(c: Candidate, designed?: DesignProvenance): string {
  const m = c.manifest;
  const plan = c.plan;
  const metrics = Object.entries(c.smoke?.metrics ?? {})
    .slice(0, 6)
    .map(([k, v]) => `${k} = ${Number(v.toPrecision(4))}`)
    .join(', ');
  return [
    `## ${m.title}`,
    '',
    designed
      ? `**Designed by ${designed.model}**, checked and smoke-run by Axiom Lab; read the script before merging.`
      : '**Proposed from the built-in catalogue (the first batch); not designed by Claude.**',
    '',
    '### Hypothesis',
    '',
    `> ${designed ? escapeMarkdown(m.hypothesis) : m.hypothesis}`,
    '',
    '### Hosts',
    '',
    '| host | cores | memory | GPU | why it fits |',
    '| ---: | ---: | ---: | --- | --- |',
    ...c.fit.map(
      ({ host, why }) =>
        `| ${host.id} | ${host.cores} | ${host.memoryGb} GB | ${host.gpus.map((g) => g.model).join(', ') || 'none'} | ${why} |`,
    ),
    '',
    '### Plan',
    '',
    plan
      ? `${plan.workunits.length} workunits on ${plan.hosts.length} host${plan.hosts.length === 1 ? '' : 's'}, ${plan.cpuHours.toFixed(1)} CPU-hours, ${m.run_duration} s each; credit at most ${m.credit_cap} per result (${m.credit_cap * plan.workunits.length} in total).`
      : 'No plan.',
    '',
    '### Checks',
    '',
    '`axiom check` passed: manifest schema, cross-file rules (hosts exist and fit, limits), script policy.',
    '',
    '### Smoke run',
    '',
    c.smoke
      ? `${c.smoke.status} in ${c.smoke.elapsedSeconds.toFixed(1)} s at a short budget, result envelope valid${metrics ? `; ${metrics}` : ''}.`
      : 'Skipped (--smoke-seconds 0).',
    '',
    '### Provenance',
    '',
    designed
      ? `Designed by ${designed.model} in ${designed.attempts} attempt${designed.attempts === 1 ? '' : 's'}, prompt ${designed.promptHash}, ${designed.inputTokens} input tokens (${designed.cacheReadTokens} from cache), ${designed.outputTokens} output tokens, $${designed.costUsd.toFixed(4)}. Script sha256 \`${c.scriptSha256}\`. Merging this pull request approves it; deploy then creates its workunits.`
      : `Catalogue experiment \`${c.name}\`, script sha256 \`${c.scriptSha256}\`. Merging this pull request approves it; deploy then creates its workunits.`,
    '',
  ].join('\n');
}

export const proposeCommand: Command = {
  name: 'propose',
  summary: 'propose experiments matched to the fleet as pull requests (Claude, or the built-in catalogue)',
  usage: '',
  description: [
    'Proposes experiments the lab does not have yet (by name, script hash or hypothesis) from the',
    'built-in catalogue, the first batch, targeted at hosts of the fleet snapshot that fit them',
    '(--host ID: only that host). Each proposal is checked as axiom check would (schema, rules, script',
    'policy, host fit) and smoke-run through the local runner with its result envelope validated;',
    'one that fails is reported and not proposed. Each becomes a pull request on branch',
    'axiom/propose/<name> (through AXIOM_FORGE) with the script and manifest and a description a',
    'reviewer can decide from. --dry-run writes the files into the checkout and opens nothing.',
    '',
    'With ANTHROPIC_API_KEY, Claude (AXIOM_DESIGN_MODEL) designs new experiments instead, from the',
    'script contract, the policy, the result envelope, the manifest schema, the fleet (what each host',
    'has and runs) and the history of results; a design that fails any check goes back to Claude with',
    'the problems, at most --repairs times, and is then given up with a report.',
  ].join('\n'),
  options: {
    root: {
      type: 'string',
      value: 'DIR',
      description: 'the lab repository (default: the current directory)',
    },
    count: { type: 'string', value: 'N', description: 'propose at most N experiments (default 1)' },
    host: { type: 'string', value: 'ID', description: 'propose only for this host' },
    'smoke-seconds': {
      type: 'string',
      value: 'S',
      description: `budget of the smoke run of each script (default ${DEFAULT_SMOKE_SECONDS}; 0 skips it)`,
    },
    repairs: {
      type: 'string',
      value: 'N',
      description: `with Claude: send a failing design back at most N times (default ${DEFAULT_REPAIRS})`,
    },
    'dry-run': { type: 'boolean', description: 'write the files into the checkout; open no pull request' },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, io) {
    const root = resolve(io.cwd, stringOption(args, 'root') ?? '.');
    const count = numberOption(args, 'propose', 'count', { min: 1, integer: true }) ?? 1;
    const host = numberOption(args, 'propose', 'host', { min: 1, integer: true });
    const smokeSeconds = numberOption(args, 'propose', 'smoke-seconds', { min: 0 }) ?? DEFAULT_SMOKE_SECONDS;
    const repairs = numberOption(args, 'propose', 'repairs', { min: 0, integer: true }) ?? DEFAULT_REPAIRS;
    const dryRun = booleanOption(args, 'dry-run');
    const validator = new SchemaValidator();
    const catalogueRoot = io.env.AXIOM_CATALOGUE_DIR
      ? resolve(io.cwd, io.env.AXIOM_CATALOGUE_DIR)
      : CATALOGUE_ROOT;
    const common = {
      root,
      validator,
      python: resolvePython(io.env),
      smokeSeconds,
      ...(host !== undefined ? { host } : {}),
    };
    const progress = createProgress(io);
    const found = io.env.ANTHROPIC_API_KEY
      ? await designWithClaude({
          ...common,
          io,
          count,
          repairs,
          catalogueRoot,
          onProgress: (l) => progress.update(l),
        })
      : {
          ...(await proposeFromCatalogue({
            ...common,
            catalogueRoot,
            count,
            ...scaled(io.env),
            onProgress: (l) => progress.update(l),
          })),
          designs: new Map<string, DesignProvenance>(),
          abandoned: [],
        };
    progress.done();
    const forge = dryRun
      ? undefined
      : await openForge({ env: io.env, repoDir: root, log: (l) => io.stderr.write(`${l}\n`) });
    const opened: { name: string; pr?: OpenOutcome }[] = [];
    for (const c of found.candidates) {
      const designed = found.designs.get(c.name);
      const files = [
        { path: `experiments/${c.name}.py`, content: c.script },
        { path: `manifests/${c.name}.yaml`, content: c.manifestText },
      ];
      if (!forge) {
        for (const f of files) {
          mkdirSync(dirname(join(root, f.path)), { recursive: true });
          writeFileSync(join(root, f.path), f.content);
        }
        opened.push({ name: c.name });
        continue;
      }
      const pr = await forge.openOrUpdate({
        branch: `axiom/propose/${c.name}`,
        base: 'main',
        title: `Propose ${c.name}: ${c.manifest.title.replace(/[\p{Cc}\p{Cf}]/gu, ' ')}`,
        body: proposalBody(c, designed),
        labels: ['axiom:proposal', designed ? 'axiom:designed-by-model' : 'axiom:catalogue'],
        commitMessage: `Propose experiment ${c.name} (${designed ? `designed by ${designed.model}` : 'from the catalogue'})`,
        files,
      });
      opened.push({ name: c.name, pr });
    }
    const report = {
      proposed: opened.map((o) => ({
        name: o.name,
        pullRequest: o.pr ? { ref: o.pr.pullRequest.ref, action: o.pr.action } : null,
      })),
      skipped: found.skipped,
      abandoned: found.abandoned,
      dryRun,
    };
    const text = [
      ...opened.map((o) =>
        o.pr ? `proposed ${o.name} in ${o.pr.pullRequest.ref} (${o.pr.action})` : `wrote ${o.name} (dry run)`,
      ),
      ...found.skipped.map((s) => `skipped ${s.name}: ${s.reason}`),
      ...found.abandoned.map(
        (a) => `gave up a design after ${a.attempts} attempts:\n  ${a.problems.join('\n  ')}`,
      ),
      opened.length === 0 ? 'nothing to propose' : '',
    ]
      .filter(Boolean)
      .join('\n');
    io.stdout.write(booleanOption(args, 'json') ? `${JSON.stringify(report, null, 2)}\n` : `${text}\n`);
    return found.abandoned.length > 0 && opened.length === 0 ? 1 : 0;
  },
};
