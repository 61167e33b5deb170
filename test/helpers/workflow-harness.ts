import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { data, Evaluator, Lexer, Parser } from '@actions/expressions';
import type { FunctionDefinition } from '@actions/expressions/funcs/info';
import {
  convertWorkflowTemplate,
  isBasicExpression,
  isBoolean,
  isMapping,
  isNumber,
  isSequence,
  isString,
  NoOperationTraceWriter,
  parseWorkflow,
  type WorkflowTemplate,
} from '@actions/workflow-parser';
import type { TemplateToken } from '@actions/workflow-parser/templates/tokens/template-token';
import { REPO_ROOT } from './repo.js';

/**
 * GitHub's own workflow parser (@actions/workflow-parser) and expression evaluator
 * (@actions/expressions, both from actions/languageservices) applied to our workflows: which
 * workflows an event starts (triggers, branch and path filters), which jobs and steps run (`if:`),
 * on which runner, with which values. What the runner then does is in workflow-runner.ts.
 */

export type Workflow = WorkflowTemplate & { file: string; raw: TemplateToken };
export type Job = Extract<WorkflowTemplate['jobs'][number], { type: 'job' }>;
export type Step = Job['steps'][number];

export const WORKFLOW_DIR = join(REPO_ROOT, '.github', 'workflows');

/** Parses and converts a workflow as GitHub does; a workflow GitHub would reject throws. */
export async function loadWorkflow(file: string, content?: string): Promise<Workflow> {
  const text = content ?? readFileSync(join(WORKFLOW_DIR, file), 'utf8');
  const parsed = parseWorkflow({ name: file, content: text }, new NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors();
  if (errors.length > 0 || !parsed.value)
    throw new Error(`${file}: ${errors.map((e) => e.message).join('; ') || 'empty workflow'}`);
  const template = await convertWorkflowTemplate(parsed.context, parsed.value);
  if (template.errors?.length)
    throw new Error(`${file}: ${template.errors.map((e) => e.Message).join('; ')}`);
  return { ...template, file, raw: parsed.value };
}

/** A step's `with:` as written (GitHub's converter keeps it out of the step model). */
export function stepInputs(workflow: Workflow, jobId: string, index: number): TemplateToken | undefined {
  const find = (token: TemplateToken | undefined, key: string) =>
    token && isMapping(token) ? token.find(key) : undefined;
  const steps = find(find(find(workflow.raw, 'jobs'), jobId), 'steps');
  const step = steps && isSequence(steps) ? [...steps][index] : undefined;
  return find(step, 'with');
}

/** A job's `permissions:` as written (its GITHUB_TOKEN's), e.g. { contents: 'read' }. */
export function jobPermissions(workflow: Workflow, jobId: string): Record<string, 'read' | 'write'> {
  const find = (token: TemplateToken | undefined, key: string) =>
    token && isMapping(token) ? token.find(key) : undefined;
  const value = resolve(find(find(find(workflow.raw, 'jobs'), jobId), 'permissions'), { github: {} });
  // Workflow YAML writes pull-requests, the API pull_requests.
  return Object.fromEntries(
    Object.entries(value && typeof value === 'object' ? value : {}).map(([k, v]) => [
      k.replaceAll('-', '_'),
      v,
    ]),
  ) as Record<string, 'read' | 'write'>;
}

export function jobsOf(workflow: Workflow): Job[] {
  return workflow.jobs.filter((j): j is Job => j.type === 'job');
}

export function jobOf(workflow: Workflow, id: string): Job {
  const job = jobsOf(workflow).find((j) => j.id.value === id);
  if (!job) throw new Error(`${workflow.file} has no job ${id}`);
  return job;
}

// ---- events, as GitHub's webhook payloads and the github context carry them ----

export const OWNER = 'axiom-lab';
export const REPO = 'research';

export interface GitHubEvent {
  name: 'push' | 'pull_request' | 'schedule' | 'workflow_dispatch';
  /** The event payload (GITHUB_EVENT_PATH, github.event). */
  payload: Record<string, unknown>;
  /** github.ref and github.sha. */
  ref: string;
  sha: string;
  /** Files the push or the pull request changed: what path filters see. */
  changed: readonly string[];
  /** For pull requests: the base and head branches. */
  baseRef?: string;
  headRef?: string;
  actor: string;
}

/** The repository object of webhook payloads (docs.github.com, "Webhook events and payloads"). */
function repositoryPayload(fullName = `${OWNER}/${REPO}`, fork = false) {
  const [owner, name] = fullName.split('/') as [string, string];
  return { name, full_name: fullName, owner: { login: owner }, default_branch: 'main', fork, private: false };
}

export function pushEvent(
  branch: string,
  changed: readonly string[],
  sha: string,
  before = '0'.repeat(40),
): GitHubEvent {
  return {
    name: 'push',
    payload: {
      ref: `refs/heads/${branch}`,
      before,
      after: sha,
      repository: repositoryPayload(),
      pusher: { name: 'ada' },
      sender: { login: 'ada' },
      commits: [{ id: sha, added: [], removed: [], modified: changed }],
    },
    ref: `refs/heads/${branch}`,
    sha,
    changed,
    actor: 'ada',
  };
}

/** A pull request's event: github.ref is its merge ref, github.sha the test merge commit. */
export function pullRequestEvent(options: {
  number: number;
  head: string;
  headSha: string;
  baseSha: string;
  mergeSha: string;
  changed: readonly string[];
  /** The fork the pull request comes from, e.g. mallory/research. */
  fork?: string;
  action?: 'opened' | 'synchronize' | 'reopened';
}): GitHubEvent {
  const headRepo = options.fork ?? `${OWNER}/${REPO}`;
  return {
    name: 'pull_request',
    payload: {
      action: options.action ?? 'opened',
      number: options.number,
      pull_request: {
        number: options.number,
        title: 'a change',
        user: { login: headRepo.split('/')[0] },
        head: {
          ref: options.head,
          sha: options.headSha,
          repo: repositoryPayload(headRepo, options.fork !== undefined),
        },
        base: { ref: 'main', sha: options.baseSha, repo: repositoryPayload() },
      },
      repository: repositoryPayload(),
      sender: { login: headRepo.split('/')[0] },
    },
    ref: `refs/pull/${options.number}/merge`,
    sha: options.mergeSha,
    changed: options.changed,
    baseRef: 'main',
    headRef: options.head,
    actor: headRepo.split('/')[0] as string,
  };
}

/** A schedule event: its payload has only `schedule` ("Not applicable" for repository); ref is the default branch. */
export function scheduleEvent(cron: string, sha: string): GitHubEvent {
  return {
    name: 'schedule',
    payload: { schedule: cron },
    ref: 'refs/heads/main',
    sha,
    changed: [],
    actor: 'ada',
  };
}

export function dispatchEvent(
  workflowFile: string,
  sha: string,
  inputs: Record<string, string> = {},
  branch = 'main',
): GitHubEvent {
  return {
    name: 'workflow_dispatch',
    payload: {
      inputs,
      ref: `refs/heads/${branch}`,
      repository: repositoryPayload(),
      sender: { login: 'ada' },
      workflow: `.github/workflows/${workflowFile}`,
    },
    ref: `refs/heads/${branch}`,
    sha,
    changed: [],
    actor: 'ada',
  };
}

// ---- filters (docs.github.com, "Workflow syntax": filter pattern cheat sheet) ----

/** GitHub's filter glob: `*` any characters but `/`, `**` any characters, `?` and `+` on the preceding character. */
export function globToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*' && pattern[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?' || c === '+') out += c;
    else if (c === '[') {
      const end = pattern.indexOf(']', i);
      out += pattern.slice(i, end + 1);
      i = end;
    } else out += c.replace(/[.^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/** Whether a name passes a pattern list: the last pattern that matches decides; `!` negates. */
function matchesList(name: string, patterns: readonly string[]): boolean {
  let matched = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    if (globToRegExp(negated ? pattern.slice(1) : pattern).test(name)) matched = !negated;
  }
  return matched;
}

interface Filters {
  branches?: string[];
  'branches-ignore'?: string[];
  paths?: string[];
  'paths-ignore'?: string[];
  types?: string[];
}

/** Whether GitHub starts this workflow for the event (triggers, branch, path and type filters). */
export function triggers(workflow: Workflow, event: GitHubEvent): boolean {
  const config = (workflow.events as Record<string, unknown>)[event.name] as Filters | unknown[] | undefined;
  if (config === undefined) return false;
  if (event.name === 'schedule' || event.name === 'workflow_dispatch') return true;
  const filters = config as Filters;
  const branch =
    event.name === 'pull_request' ? (event.baseRef as string) : event.ref.replace(/^refs\/heads\//, '');
  if (filters.branches && !matchesList(branch, filters.branches)) return false;
  if (filters['branches-ignore'] && matchesList(branch, filters['branches-ignore'])) return false;
  if (event.name === 'pull_request') {
    const action = (event.payload as { action?: string }).action ?? 'opened';
    if (!(filters.types ?? ['opened', 'synchronize', 'reopened']).includes(action)) return false;
  }
  if (filters.paths && !event.changed.some((f) => matchesList(f, filters.paths as string[]))) return false;
  if (
    filters['paths-ignore'] &&
    event.changed.every((f) => matchesList(f, filters['paths-ignore'] as string[]))
  )
    return false;
  return true;
}

// ---- expressions ----

export interface Contexts {
  github: Record<string, unknown>;
  vars?: Record<string, string>;
  secrets?: Record<string, string>;
  inputs?: Record<string, unknown>;
  env?: Record<string, string>;
  matrix?: Record<string, unknown>;
  steps?: Record<string, { outcome: string; conclusion: string; outputs: Record<string, string> }>;
  needs?: Record<string, { result: string; outputs: Record<string, string> }>;
  runner?: Record<string, string>;
  job?: Record<string, unknown>;
  strategy?: Record<string, unknown>;
}

/** The status of what came before, for success(), failure(), always() and cancelled(). */
export interface Status {
  failed: boolean;
  cancelled: boolean;
  /** hashFiles() over the workspace; '' when no file matches. */
  hashFiles?: (patterns: string[]) => string;
}

const CONTEXT_NAMES = [
  'github',
  'vars',
  'secrets',
  'inputs',
  'env',
  'matrix',
  'steps',
  'needs',
  'runner',
  'job',
  'strategy',
];

function statusFunctions(status: Status): FunctionDefinition[] {
  const bool = (value: boolean) => () => new data.BooleanData(value);
  return [
    { name: 'success', minArgs: 0, maxArgs: 0, call: bool(!status.failed && !status.cancelled) },
    { name: 'failure', minArgs: 0, maxArgs: 0, call: bool(status.failed) },
    { name: 'always', minArgs: 0, maxArgs: 0, call: bool(true) },
    { name: 'cancelled', minArgs: 0, maxArgs: 0, call: bool(status.cancelled) },
    {
      name: 'hashFiles',
      minArgs: 1,
      maxArgs: 255,
      call: (...args) =>
        new data.StringData((status.hashFiles ?? (() => ''))(args.map((a) => a.coerceString()))),
    },
  ];
}

function toData(contexts: Contexts): data.Dictionary {
  const dictionary = new data.Dictionary();
  for (const name of CONTEXT_NAMES) {
    const value = (contexts as unknown as Record<string, unknown>)[name] ?? {};
    dictionary.add(name, JSON.parse(JSON.stringify(value), data.reviver) as data.ExpressionData);
  }
  return dictionary;
}

/** Evaluates one expression (without `${{ }}`) as the runner does. */
export function evaluate(
  expression: string,
  contexts: Contexts,
  status: Status = { failed: false, cancelled: false },
): data.ExpressionData {
  const functions = statusFunctions(status);
  const lexed = new Lexer(expression).lex();
  const tree = new Parser(lexed.tokens, CONTEXT_NAMES, functions).parse();
  return new Evaluator(
    tree,
    toData(contexts),
    new Map(functions.map((f) => [f.name.toLowerCase(), f])),
  ).evaluate();
}

/** Truthiness as GitHub's `if:` reads it. */
export function truthy(value: data.ExpressionData): boolean {
  switch (value.kind) {
    case data.Kind.Boolean:
      return (value as data.BooleanData).value;
    case data.Kind.Null:
      return false;
    case data.Kind.Number:
      return value.number() !== 0 && !Number.isNaN(value.number());
    case data.Kind.String:
      return value.coerceString() !== '';
    default:
      return true;
  }
}

/** A template token's value: literals as they are, expressions evaluated, mappings and sequences recursively. */
export function resolve(token: TemplateToken | undefined, contexts: Contexts, status?: Status): unknown {
  if (token === undefined) return undefined;
  if (isBasicExpression(token)) return plain(evaluate(token.expression, contexts, status));
  if (isString(token)) return token.value;
  if (isNumber(token)) return token.value;
  if (isBoolean(token)) return token.value;
  if (isSequence(token)) return [...token].map((t) => resolve(t, contexts, status));
  if (isMapping(token)) {
    const out: Record<string, unknown> = {};
    for (const pair of token)
      out[String(resolve(pair.key, contexts, status))] = resolve(pair.value, contexts, status);
    return out;
  }
  return null;
}

function plain(value: data.ExpressionData): unknown {
  switch (value.kind) {
    case data.Kind.Boolean:
      return (value as data.BooleanData).value;
    case data.Kind.Number:
      return value.number();
    case data.Kind.String:
      return value.coerceString();
    case data.Kind.Null:
      return null;
    case data.Kind.Array:
      return (value as data.Array).values().map(plain);
    default:
      return Object.fromEntries((value as data.Dictionary).pairs().map((p) => [p.key, plain(p.value)]));
  }
}

/** The github context of a run for an event (docs.github.com, "Contexts"). */
export function githubContext(
  event: GitHubEvent,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    event: event.payload,
    event_name: event.name,
    ref: event.ref,
    ref_name: event.ref.replace(/^refs\/(heads|tags)\//, ''),
    sha: event.sha,
    repository: `${OWNER}/${REPO}`,
    repository_owner: OWNER,
    actor: event.actor,
    head_ref: event.headRef ?? '',
    base_ref: event.baseRef ?? '',
    token: 'ghs_workflowtoken',
    run_id: '4242',
    run_attempt: '1',
    server_url: 'https://github.com',
    api_url: 'https://api.github.com',
    workflow: '',
    ...extra,
  };
}

/** The matrix combinations of a job (include-only matrices, as ours are), or one empty one. */
export function matrixOf(job: Job, contexts: Contexts): Record<string, unknown>[] {
  const strategy = resolve(job.strategy, contexts) as
    | { matrix?: { include?: Record<string, unknown>[] } }
    | undefined;
  return strategy?.matrix?.include ?? [{}];
}

export interface JobDecision {
  job: string;
  runs: boolean;
  runsOn: string[];
  environment?: string;
  matrix: Record<string, unknown>;
}

/**
 * Which jobs run for an event, with which runner labels and environment: the job's `if:` (needs
 * assumed successful), for every matrix combination.
 */
export function decideJobs(
  workflow: Workflow,
  event: GitHubEvent,
  contexts: Partial<Contexts> = {},
): JobDecision[] {
  if (!triggers(workflow, event)) return [];
  const base: Contexts = { github: githubContext(event), vars: {}, secrets: {}, inputs: {}, ...contexts };
  const decisions: JobDecision[] = [];
  for (const job of jobsOf(workflow)) {
    const needs = Object.fromEntries(
      (job.needs ?? []).map((n) => [n.value, { result: 'success', outputs: {} }]),
    );
    for (const matrix of matrixOf(job, base)) {
      const scoped = { ...base, matrix, needs };
      const runs = truthy(evaluate(job.if.expression, scoped));
      const labels = resolve(job['runs-on'], scoped);
      const environment = resolve(job.environment, scoped);
      decisions.push({
        job: job.id.value,
        runs,
        runsOn: Array.isArray(labels) ? (labels as string[]) : [String(labels)],
        ...(environment
          ? {
              environment:
                typeof environment === 'string'
                  ? environment
                  : String((environment as { name: string }).name),
            }
          : {}),
        matrix,
      });
    }
  }
  return decisions;
}
