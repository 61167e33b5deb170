import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { estimateTokens } from '../claude/estimate.js';
import { worstCaseUsd } from '../claude/llm.js';
import { loadConfig } from '../config/config.js';
import type { Environment } from '../env/environment.js';
import { describeCheck, hypothesisChecksOf, preconditionsOf } from '../envelope/acceptance.js';
import { type Forge, type OpenOutcome, REOPEN_LABEL } from '../forge/forge.js';
import { headlineMetric } from '../manifest/headline.js';
import type { AcceptanceCheck } from '../manifest/types.js';
import { escapeMarkdown } from '../markdown.js';
import { readResearchRecord } from '../record/research.js';
import type { SchemaValidator } from '../schema/validate.js';
import { seedPolicyOf } from '../workunit/plan.js';
import {
  type Candidate,
  type CatalogueOptions,
  proposeFromCatalogue,
  readLab,
  type Skipped,
} from './catalogue.js';
import { design, designerSystem, designRequest, designUser } from './designer.js';
import { proposeFollowUps } from './follow-up.js';
import { followUpSection } from './follow-up-body.js';
import { designerContext } from './history.js';

interface DesignRun {
  root: string;
  validator: SchemaValidator;
  python: string;
  smokeSeconds: number;
  host?: number;
  claude: DesignerSettings;
  count: number;
  repairs: number;
  catalogueRoot: string;
  followUp?: boolean;
  onProgress: (line: string) => void;
}

/** Claude designs `count` experiments, each checked, smoke-run and repaired before it is proposed. */
async function designWithClaude(run: DesignRun) {
  // The SDK is loaded only when Claude is used.
  const { ClaudeLlm } = await import('../claude/claude.js');
  const llm = new ClaudeLlm({
    apiKey: run.claude.apiKey,
    ...(run.claude.baseUrl ? { baseURL: run.claude.baseUrl } : {}),
    ...(run.claude.maxUsd !== undefined ? { maxUsd: run.claude.maxUsd } : {}),
  });
  const model = run.claude.model;
  const { hosts, existing, existingShas } = await readLab(run.root, run.validator);
  const system = designerSystem(run.catalogueRoot, loadConfig(run.root, run.validator).config?.limits);
  const record = readResearchRecord(run.root, run.validator);
  const context = designerContext([...hosts.values()], existing, record, run.followUp);
  const candidates: Candidate[] = [];
  const designs = new Map<string, DesignProvenance>();
  const abandoned: { attempts: number; problems: string[] }[] = [];
  for (let i = 0; i < run.count; i++) {
    run.onProgress(`propose: designing ${i + 1} of ${run.count} with ${model}`);
    const { followUp, ...rest } = run;
    const outcome = await design({
      ...rest,
      llm,
      model,
      system,
      context,
      hosts,
      lab: { existing, existingShas },
      taken: candidates.map((c) => c.name),
      ...(followUp ? { followUp: { record } } : {}),
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
      promptHash: outcome.calls.at(-1)?.hashes.template ?? '',
      dataHash: outcome.calls.at(-1)?.hashes.data ?? '',
      attempts: outcome.attempts,
      inputTokens: sum((c) => c.usage.inputTokens),
      cacheReadTokens: sum((c) => c.usage.cacheReadTokens),
      outputTokens: sum((c) => c.usage.outputTokens),
      costUsd: sum((c) => c.costUsd) + outcome.failedUsd,
    });
  }
  return { candidates, skipped: [] as Skipped[], designs, abandoned };
}

/** Who designed a proposal, and what the model calls behind it cost. */
export interface DesignProvenance {
  model: string;
  /** The template hash of the call that gave the design, and its data hash. */
  promptHash: string;
  dataHash: string;
  attempts: number;
  inputTokens: number;
  cacheReadTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** Model-written text is shown inert; the catalogue's is ours. */
function textOf(text: string, designed: boolean): string {
  return designed ? escapeMarkdown(text) : text;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The pull request description a reviewer decides from, with every part of the design in view. */
export function proposalBody(c: Candidate, designed?: DesignProvenance): string {
  const m = c.manifest;
  const plan = c.plan;
  const t = (text: string) => textOf(text, designed !== undefined);
  const headline = headlineMetric(m);
  const smokeMetrics = Object.entries(c.smoke?.metrics ?? {})
    .slice(0, 8)
    .map(([k, v]) => `\`${k}\` = ${Number(v.toPrecision(4))}`)
    .join(', ');
  const line = (check: AcceptanceCheck) =>
    `- \`${describeCheck(check)}\`${check.description ? `: ${t(check.description)}` : ''}`;
  const acceptance = hypothesisChecksOf(m).map(line);
  const preconditions = preconditionsOf(m).map(line);
  const metrics = Object.entries(m.outputs.metrics).map(
    ([key, spec]) =>
      `| \`${key}\`${key === headline ? ' (headline)' : ''} | ${spec.type} | ${spec.min ?? '–'} to ${spec.max ?? '–'}${spec.unit ? ` ${t(spec.unit)}` : ''} | ${t(spec.description ?? '')} |`,
  );
  const lines = c.script.split('\n').length - (c.script.endsWith('\n') ? 1 : 0);
  return [
    `## ${t(m.title)}`,
    '',
    designed
      ? `**Designed by ${designed.model}**, checked and smoke-run by Axiom Lab; read the script before merging.`
      : c.followUp
        ? '**Designed by the stated follow-up rules (deterministic, no model); not designed by Claude.**'
        : '**Proposed from the built-in catalogue (the first batch); not designed by Claude.**',
    '',
    ...(c.followUp ? followUpSection(c.followUp) : []),
    '### Hypothesis',
    '',
    `> ${t(m.hypothesis)}`,
    '',
    '### What would support it',
    '',
    ...(acceptance.length
      ? [
          'Each result is **supported** when it meets every check below, **not supported** when it misses one, and **inconclusive** when it did too little work (a precondition not met, or the run stopped at its deadline), said with how much more was needed.',
          '',
          ...acceptance,
          ...(preconditions.length
            ? [
                '',
                'Preconditions: the work a result must do; they count work, not the hypothesis.',
                '',
                ...preconditions,
              ]
            : []),
        ]
      : ['No acceptance checks: every result will be inconclusive. Ask for checks before merging.']),
    '',
    '### What each result reports',
    '',
    '| metric | type | plausible range | meaning |',
    '| --- | --- | --- | --- |',
    ...metrics,
    '',
    ...(m.outputs.plots?.length
      ? [`Plots: ${m.outputs.plots.map((p) => `"${t(p.title)}"`).join(', ')}.`, '']
      : []),
    '### Hosts',
    '',
    '| host | cores | memory | GPU | why it fits |',
    '| ---: | ---: | ---: | --- | --- |',
    ...c.fit.map(
      ({ host, why }) =>
        `| ${host.id} | ${host.cores} | ${host.memoryGb} GB | ${host.gpus.map((g) => g.model).join(', ') || 'none'} | ${t(why)} |`,
    ),
    '',
    '### Plan',
    '',
    ...(plan
      ? [
          `${plural(plan.workunits.length, 'workunit')} on ${plural(plan.hosts.length, 'host')}, **${plan.cpuHours.toFixed(1)} CPU-hours**, ${m.run_duration} s each; credit at most ${m.credit_cap} per result (${m.credit_cap * plan.workunits.length} in total). Seeds: ${seedPolicyOf(m)}${seedPolicyOf(m) === 'fixed' ? ' (every workunit a same-seed replica of the others)' : ''}, each drawn at random when deploy creates the workunits.`,
          '',
          ...(plan.work ?? []).map(
            (w) =>
              `Work: \`${w.param}\` = ${w.units} for seed group ${w.seed} on ${plural(w.hosts.length, 'host')}: ${t(w.reason)}.`,
          ),
          ...(plan.work?.length ? [''] : []),
          '| workunit | host | seed group | cores | memory | params | planned time |',
          '| --- | ---: | ---: | ---: | ---: | --- | ---: |',
          ...plan.workunits
            .slice(0, 50)
            .map(
              (w) =>
                `| \`${w.name}\` | ${w.host} | ${w.seed} | ${w.cpus} | ${w.memoryGb} GB | ${Object.keys(w.params).length ? `\`${JSON.stringify(w.params).replace(/`/g, "'")}\`` : '–'} | ${w.plannedSeconds !== undefined ? `${Math.round(w.plannedSeconds)} s` : 'no benchmark'} |`,
            ),
          ...(plan.workunits.length > 50 ? [`| … ${plan.workunits.length - 50} more | | | | | | |`] : []),
        ]
      : ['No plan.']),
    '',
    '### Checks and smoke run',
    '',
    '`axiom check` passed: manifest schema, cross-file rules (hosts exist and fit, limits), script policy.',
    '',
    c.smoke
      ? `Smoke run: **${c.smoke.status}** in ${c.smoke.elapsedSeconds.toFixed(1)} s at a short budget in the sandbox, result envelope valid${smokeMetrics ? `; ${smokeMetrics}` : ''}. A short run shows the script works, not what the full budget will find.`
      : 'Smoke run: not run (`--smoke-seconds 0`): nothing has run this script yet.',
    '',
    ...(m.references?.length ? ['### Literature', '', ...m.references.map((r) => `- ${t(r)}`), ''] : []),
    '### Files',
    '',
    `- \`${m.script}\`: ${plural(lines, 'line')}, sha256 \`${c.scriptSha256}\``,
    `- \`manifests/${c.name}.yaml\``,
    '',
    '### Provenance',
    '',
    designed
      ? `Designed by ${designed.model} in ${plural(designed.attempts, 'attempt')}, template ${designed.promptHash}, data ${designed.dataHash}, ${designed.inputTokens} input tokens (${designed.cacheReadTokens} from cache), ${designed.outputTokens} output tokens, $${designed.costUsd.toFixed(4)}. Merging this pull request approves it; deploy then creates its workunits.`
      : c.followUp
        ? `Follow-up \`${c.name}\` by the rule \`${c.followUp.rule}\`, a copy of \`${c.followUp.parents[0]?.experiment}\`'s script that reports its own name. Merging this pull request approves it; deploy then creates its workunits.`
        : `Catalogue experiment \`${c.name}\`. Merging this pull request approves it; deploy then creates its workunits.`,
    '',
  ].join('\n');
}

export interface ProposeOptions extends CatalogueOptions {
  /** With Claude: how often a failing design goes back. */
  repairs: number;
  /** Claude designs when given; otherwise the built-in catalogue. */
  claude?: DesignerSettings;
  /** Where proposals go; without a forge the files are written into `root` (a dry run). */
  forge?: Forge;
  /** Design the next round from the last one's outcomes: Claude with a key, else the stated rules. */
  followUp?: boolean;
}

/** Who designs: Claude with its key and model. */
export interface DesignerSettings {
  apiKey: string;
  baseUrl?: string;
  model: string;
  maxUsd?: number;
}

/** The designer the environment configures: Claude when it has a key, else none (the catalogue). */
export function designerFrom(claude: Environment['claude']): { claude?: DesignerSettings } {
  if (!claude.apiKey) return {};
  return {
    claude: {
      apiKey: claude.apiKey,
      ...(claude.baseUrl ? { baseUrl: claude.baseUrl } : {}),
      model: claude.designModel,
      ...(claude.maxUsd !== undefined ? { maxUsd: claude.maxUsd } : {}),
    },
  };
}

/**
 * The first design request exactly as it would be sent, built without calling anything (for
 * `--print-request` and dry runs), with an estimate of its input tokens and its most expensive cost.
 */
export async function designRequestPreview(
  options: Pick<ProposeOptions, 'root' | 'catalogueRoot' | 'validator' | 'host' | 'followUp'> & {
    claude: DesignerSettings;
  },
): Promise<{ body: Record<string, unknown>; estimatedInputTokens: number; worstCaseUsd: number }> {
  const { ClaudeLlm } = await import('../claude/claude.js');
  const llm = new ClaudeLlm({ apiKey: options.claude.apiKey });
  const { hosts, existing, existingShas } = await readLab(options.root, options.validator);
  const record = readResearchRecord(options.root, options.validator);
  const followUp = options.followUp ? { followUp: { record } } : {};
  const request = designRequest(
    {
      ...followUp,
      model: options.claude.model,
      system: designerSystem(
        options.catalogueRoot,
        loadConfig(options.root, options.validator).config?.limits,
      ),
      context: designerContext([...hosts.values()], existing, record, options.followUp),
    },
    designUser({
      ...followUp,
      ...(options.host !== undefined ? { host: options.host } : {}),
      lab: { existing, existingShas },
      taken: [],
    }),
    1,
  );
  return {
    body: await llm.body(request),
    estimatedInputTokens: estimateTokens(`${request.system}${request.context}${request.user}`),
    worstCaseUsd: Number(worstCaseUsd(request, false).toFixed(6)),
  };
}

export interface ProposeReport {
  proposed: { name: string; pullRequest: { ref: string; action: OpenOutcome['action'] } | null }[];
  skipped: Skipped[];
  abandoned: { attempts: number; problems: string[] }[];
  designedBy: 'claude' | 'catalogue' | 'rules';
  dryRun: boolean;
}

/** What a proposal is, for filtering: who designed it, and whether it follows up earlier results. */
function proposalLabels(c: Candidate, designed: DesignProvenance | undefined): string[] {
  return [
    'axiom:proposal',
    designed ? 'axiom:designed-by-model' : c.followUp ? 'axiom:rules' : 'axiom:catalogue',
    ...(c.followUp ? ['axiom:follow-up'] : []),
  ];
}

/**
 * Proposals a person closed without merging: their "no" stands, and they are not proposed again
 * unless someone labels the closed pull request axiom:reopen.
 */
async function declinedProposals(forge: Forge | undefined): Promise<Map<string, string>> {
  const declined = new Map<string, string>();
  if (!forge) return declined;
  for (const pull of await forge.listClosed('axiom/propose/')) {
    if (pull.labels.includes(REOPEN_LABEL)) continue;
    const name = pull.branch.slice('axiom/propose/'.length);
    declined.set(
      name,
      `its pull request ${pull.ref} was closed without merging; label it ${REOPEN_LABEL} to have it proposed again`,
    );
  }
  return declined;
}

/** The propose use case: designs or picks experiments, checks and smoke-runs them, and opens a pull request for each. */
export async function proposeExperiments(options: ProposeOptions): Promise<ProposeReport> {
  const onProgress = options.onProgress ?? (() => {});
  const declined = await declinedProposals(options.forge);
  const withoutModel = options.followUp ? proposeFollowUps : proposeFromCatalogue;
  const found = options.claude
    ? await designWithClaude({ ...options, claude: options.claude, onProgress })
    : {
        ...(await withoutModel({ ...options, declined, onProgress })),
        designs: new Map<string, DesignProvenance>(),
        abandoned: [],
      };
  const proposed: ProposeReport['proposed'] = [];
  for (const c of found.candidates) {
    const no = declined.get(c.name);
    if (no) {
      found.skipped.push({ name: c.name, reason: no });
      continue;
    }
    const designed = found.designs.get(c.name);
    const files = [
      { path: `experiments/${c.name}.py`, content: c.script },
      { path: `manifests/${c.name}.yaml`, content: c.manifestText },
    ];
    if (!options.forge) {
      for (const f of files) {
        mkdirSync(dirname(join(options.root, f.path)), { recursive: true });
        writeFileSync(join(options.root, f.path), f.content);
      }
      proposed.push({ name: c.name, pullRequest: null });
      continue;
    }
    const pr = await options.forge.openOrUpdate({
      branch: `axiom/propose/${c.name}`,
      base: 'main',
      title: `Propose ${c.name}: ${c.manifest.title.replace(/[\p{Cc}\p{Cf}]/gu, ' ')}`,
      body: proposalBody(c, designed),
      labels: proposalLabels(c, designed),
      commitMessage: `Propose experiment ${c.name} (${designed ? `designed by ${designed.model}` : c.followUp ? `follow-up by the rule ${c.followUp.rule}` : 'from the catalogue'})`,
      files,
    });
    proposed.push({ name: c.name, pullRequest: { ref: pr.pullRequest.ref, action: pr.action } });
  }
  return {
    proposed,
    skipped: found.skipped,
    abandoned: found.abandoned,
    designedBy: options.claude ? 'claude' : options.followUp ? 'rules' : 'catalogue',
    dryRun: !options.forge,
  };
}
