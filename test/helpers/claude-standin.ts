import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

/** The model ids the SDK knows (its `Model` union in resources/messages/messages.d.ts): others are 404s. */
const KNOWN_MODELS: ReadonlySet<string> = (() => {
  const require = createRequire(import.meta.url);
  const types = readFileSync(
    require.resolve('@anthropic-ai/sdk').replace(/index\.js$/, 'resources/messages/messages.d.ts'),
    'utf8',
  );
  const union = /export type Model = ([^;]+);/.exec(types)?.[1] ?? '';
  return new Set([...union.matchAll(/'([^']+)'/g)].map((m) => m[1] as string));
})();

/**
 * What structured output refuses with a 400 (CLAUDE-API-FACTS 4.11): numeric and string-length
 * constraints, array bounds beyond minItems 0 or 1, patterns with counted repetition, and objects
 * whose additionalProperties is not false.
 */
export function unsupportedSchemaKeywords(schema: unknown, path = 'schema'): string[] {
  if (typeof schema !== 'object' || schema === null) return [];
  const node = schema as Record<string, unknown>;
  const found: string[] = [];
  for (const key of [
    'minimum',
    'maximum',
    'exclusiveMinimum',
    'exclusiveMaximum',
    'multipleOf',
    'minLength',
    'maxLength',
    'maxItems',
  ])
    if (key in node) found.push(`${path}.${key}`);
  if ('minItems' in node && ![0, 1].includes(node.minItems as number)) found.push(`${path}.minItems`);
  if (typeof node.pattern === 'string' && /\{\d+(,\d*)?\}/.test(node.pattern)) found.push(`${path}.pattern`);
  if (node.type === 'object' && node.additionalProperties !== false)
    found.push(`${path}.additionalProperties`);
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' && typeof value === 'object' && value)
      for (const [name, sub] of Object.entries(value))
        found.push(...unsupportedSchemaKeywords(sub, `${path}.properties.${name}`));
    else if (key === 'items' || key === 'additionalProperties')
      found.push(...unsupportedSchemaKeywords(value, `${path}.${key}`));
    else if (['anyOf', 'allOf', 'oneOf'].includes(key) && Array.isArray(value))
      for (const [i, sub] of value.entries())
        found.push(...unsupportedSchemaKeywords(sub, `${path}.${key}[${i}]`));
  }
  return found;
}

type Effort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';
const EFFORTS: readonly Effort[] = ['low', 'medium', 'high', 'xhigh', 'max'];
type ThinkingType = 'adaptive' | 'enabled' | 'disabled' | 'between_tools';

/**
 * What the API does with each model, as Anthropic documents it (platform.claude.com/docs/en/...):
 * - cacheMinimum: build-with-claude/prompt-caching#cache-limitations (read 2026-10-08): below it
 *   nothing is cached, and no error is returned.
 * - thinks: whether a request without a `thinking` field thinks; accepts: the `thinking.type`
 *   values it takes, up to which effort (build-with-claude/thinking per-model table, read
 *   2026-10-02; models/haiku-5-5/whats-new-haiku-5-5; models/sonnet-5-5/migration-guide).
 * - efforts: the `output_config.effort` levels it takes (build-with-claude/effort; Haiku 4.5 and
 *   Sonnet 4.5 take none), and its default.
 * - refusal: the 400 message for a `thinking.type` it does not take, where the documentation prints
 *   one (Opus 5.5 and Fable 5.1: whats-new-opus-5-5; Sonnet 5.5: migration-guide); elsewhere the
 *   wording is ours, in the same shape.
 */
interface ModelRules {
  cacheMinimum: number;
  thinks: boolean;
  accepts: Partial<Record<ThinkingType, Effort>>;
  efforts: readonly Effort[];
  defaultEffort?: Effort;
  refusal: (type: string) => string;
}

const useAdaptive = (type: string) =>
  `"thinking.type.${type}" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.`;
const useBetweenTools = (type: string) =>
  `"thinking.type.${type}" is not supported for this model. Use "thinking.type.between_tools" for the lowest thinking setting, or "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.`;

const alwaysThinks = (defaultEffort: Effort): ModelRules => ({
  cacheMinimum: 512,
  thinks: true,
  accepts: { adaptive: 'max' },
  efforts: EFFORTS,
  defaultEffort,
  refusal: useAdaptive,
});

const MODEL_RULES: Record<string, ModelRules> = {
  'claude-fable-5-1': alwaysThinks('high'),
  'claude-mythos-5-1': alwaysThinks('high'),
  'claude-fable-5': alwaysThinks('high'),
  'claude-mythos-5': alwaysThinks('high'),
  'claude-opus-5-5': alwaysThinks('medium'),
  'claude-sonnet-5-5': {
    ...alwaysThinks('high'),
    accepts: { adaptive: 'max', between_tools: 'high' },
    refusal: useBetweenTools,
  },
  'claude-haiku-5-5': { ...alwaysThinks('medium'), accepts: { adaptive: 'max', disabled: 'high' } },
  'claude-opus-5': { ...alwaysThinks('high'), accepts: { adaptive: 'max', disabled: 'high' } },
  'claude-sonnet-5': {
    ...alwaysThinks('high'),
    cacheMinimum: 1024,
    accepts: { adaptive: 'max', disabled: 'max' },
  },
  'claude-haiku-4-5': {
    cacheMinimum: 4096,
    thinks: false,
    accepts: { enabled: 'max', disabled: 'max' },
    efforts: [],
    refusal: (type) => `"thinking.type.${type}" is not supported for this model.`,
  },
};
MODEL_RULES['claude-haiku-4-5-20251001'] = MODEL_RULES['claude-haiku-4-5'] as ModelRules;
/** A model the rows above do not cover gets the strictest row: the largest minimum, always thinking. */
const STRICTEST: ModelRules = { ...alwaysThinks('high'), cacheMinimum: 4096 };
const rulesOf = (model: string) => MODEL_RULES[model] ?? STRICTEST;

/** Why the API refuses a request's thinking or effort for its model, or undefined. */
function thinkingRefusal(body: MessagesRequest): string | undefined {
  const rules = rulesOf(body.model);
  const effort = body.output_config?.effort as Effort | undefined;
  if (effort !== undefined && !rules.efforts.includes(effort))
    return rules.efforts.length === 0
      ? 'output_config.effort: this model does not support the effort parameter'
      : `output_config.effort: "${effort}" is not supported for this model`;
  const thinking = body.thinking as { type?: string; budget_tokens?: number } | undefined;
  if (!thinking) return undefined;
  const upTo = rules.accepts[thinking.type as ThinkingType];
  if (!upTo) return rules.refusal(String(thinking.type));
  const level = effort ?? rules.defaultEffort ?? 'high';
  if (EFFORTS.indexOf(level) > EFFORTS.indexOf(upTo))
    return `"thinking.type.${thinking.type}" is not supported at output_config.effort "${level}" for this model. Use "thinking.type.adaptive" at this effort.`;
  if (thinking.type === 'between_tools' && Object.keys(thinking).length > 1)
    return '"thinking.type.between_tools" takes no other field';
  if (
    thinking.type === 'enabled' &&
    !(Number(thinking.budget_tokens) >= 1024 && Number(thinking.budget_tokens) < body.max_tokens)
  )
    return 'thinking.budget_tokens: must be at least 1024 and less than max_tokens';
  return undefined;
}

/** Whether a request thinks up front: its `thinking` field, or the model's default without one. */
function thinksUpFront(body: MessagesRequest): boolean {
  const type = (body.thinking as { type?: string } | undefined)?.type;
  return type === undefined ? rulesOf(body.model).thinks : type === 'adaptive' || type === 'enabled';
}

/** What a responder may return instead of an answer, to make the stand-in stop or fail as the API does. */
export type Special =
  | { $stop: 'max_tokens' }
  | { $stop: 'refusal'; category?: string }
  | { $error: { status: number; type: string; message: string } }
  | { $batch: 'errored' | 'expired' };

/**
 * A strict local stand-in for the Claude Messages API as SDK 1.x calls it: Bearer auth, the
 * `anthropic-version` header, structured output through `output_config.format`, count_tokens, and
 * Message Batches (create, retrieve, results from an absolute results_url). Per model, as the API
 * documents it: thinking on by default where it is, its tokens counted toward max_tokens (an answer
 * that does not fit is cut off with stop_reason "max_tokens"); a thinking setting or effort the
 * model does not take refused with a 400 (an errored result in a batch); prefixes cached from the
 * model's minimum on, with the usage fields the SDK's `Usage` type carries. Answers come from a
 * responder the test gives; any request it does not expect, and any malformed or refused one
 * (temperature, forced tool use, no schema), is a failure, and so is an expected request never made.
 */

export interface MessagesRequest {
  model: string;
  max_tokens: number;
  system: { type: string; text: string; cache_control?: unknown }[];
  messages: { role: string; content: { type: string; text: string; cache_control?: unknown }[] }[];
  output_config?: { format?: { type: string; schema?: Record<string, unknown> }; effort?: string };
  [key: string]: unknown;
}

/** The JSON answer to one request, chosen by the test from what it was asked. */
export type Responder = (request: MessagesRequest) => unknown;

type Route =
  | 'messages'
  | 'count_tokens'
  | 'batch_create'
  | 'batch_retrieve'
  | 'batch_results'
  | 'batch_cancel';

interface Batch {
  id: string;
  requests: { custom_id: string; params: MessagesRequest }[];
  polls: number;
  canceled: boolean;
}

export class ClaudeStandIn {
  readonly failures: string[] = [];
  readonly requests: { route: Route; body?: MessagesRequest }[] = [];
  /** Every request of every batch created, as it was sent. */
  readonly batched: { custom_id: string; params: MessagesRequest }[] = [];
  private readonly expected = new Map<Route, number>();
  private readonly batches = new Map<string, Batch>();
  private readonly overloads: number[] = [];
  private readonly createFailures: number[] = [];
  /** Cached prefixes: being written (by the first request, until it answers), then readable. */
  private readonly cache = new Map<string, 'writing' | 'ready'>();
  /** How many polls a batch takes to end; Infinity: never (until cancelled). */
  pollsToEnd = 2;
  /**
   * How many requests of a batch run at once: a prefix one of them writes is readable only by later
   * waves ("cache hits are provided on a best-effort basis", build-with-claude/batch-processing).
   * Infinity, the default: all at once, so no request of a batch reads what another wrote.
   */
  batchConcurrency = Number.POSITIVE_INFINITY;
  /**
   * How many tokens a request that thinks spends on thinking before its answer (thinking counts
   * toward max_tokens, build-with-claude/effort), by its effort or the model's default.
   */
  thinkingTokens: (effort: Effort) => number = (effort) =>
    ({ low: 400, medium: 1_500, high: 4_000, xhigh: 8_000, max: 16_000 })[effort];
  /** Characters per token for the usage this stand-in reports (a rough tokenizer). */
  static readonly CHARS_PER_TOKEN = 4;

  /** The tokens of some text blocks, as this stand-in counts them (count_tokens and usage alike). */
  static tokens(texts: readonly string[]): number {
    return Math.ceil(JSON.stringify(texts).length / ClaudeStandIn.CHARS_PER_TOKEN);
  }

  private constructor(
    private readonly server: Server,
    readonly apiKey: string,
    private readonly respond: Responder,
  ) {}

  static async start(apiKey: string, respond: Responder): Promise<ClaudeStandIn> {
    const server = createServer();
    const standIn = new ClaudeStandIn(server, apiKey, respond);
    server.on('request', (req, res) => void standIn.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return standIn;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Answers the next messages requests with these HTTP errors first (429 rate limit, 529 overloaded). */
  failNext(...statuses: number[]): this {
    this.overloads.push(...statuses);
    return this;
  }

  private readonly retrieveFailures: number[] = [];

  /** Answers the next batch retrievals with these HTTP errors (as a run dying while it waits). */
  failNextRetrieve(...statuses: number[]): this {
    this.retrieveFailures.push(...statuses);
    return this;
  }

  /** Answers the next batch creations with these HTTP errors (a 5xx after which the SDK would retry). */
  failNextCreate(...statuses: number[]): this {
    this.createFailures.push(...statuses);
    return this;
  }

  /** Expects exactly `times` requests on `route`. */
  expect(route: Route, times: number): this {
    this.expected.set(route, (this.expected.get(route) ?? 0) + times);
    return this;
  }

  verify(): void {
    const problems = [...this.failures];
    for (const [route, times] of this.expected) {
      const made = this.requests.filter((r) => r.route === route).length;
      if (made !== times) problems.push(`expected ${times} ${route} requests, got ${made}`);
    }
    for (const route of new Set(this.requests.map((r) => r.route)))
      if (!this.expected.has(route)) problems.push(`unexpected ${route} requests`);
    if (problems.length > 0) throw new Error(`Claude stand-in:\n  ${problems.join('\n  ')}`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    const send = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'request-id': 'req_standin' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const fail = (problem: string) => {
      this.failures.push(problem);
      send(400, errorBody('invalid_request_error', problem));
    };
    if (req.headers.authorization !== `Bearer ${this.apiKey}` && req.headers['x-api-key'] !== this.apiKey)
      return send(401, errorBody('authentication_error', 'invalid x-api-key'));
    if (!req.headers['anthropic-version'])
      return fail(`${req.method} ${url.pathname} without anthropic-version`);
    const path = url.pathname;
    if (req.method === 'POST' && path === '/v1/messages') {
      const body = JSON.parse(text) as MessagesRequest;
      this.requests.push({ route: 'messages', body });
      const overload = this.overloads.shift();
      if (overload) {
        res.writeHead(overload, { 'content-type': 'application/json', 'retry-after-ms': '10' });
        const type = overload === 429 ? 'rate_limit_error' : 'overloaded_error';
        res.end(JSON.stringify(errorBody(type, type)));
        return;
      }
      const problem = this.malformed(body);
      if (problem) return fail(problem);
      if (!KNOWN_MODELS.has(body.model))
        return send(404, errorBody('not_found_error', `model: ${body.model}`));
      const refused = thinkingRefusal(body);
      if (refused) return fail(refused);
      const answer = this.respond(body) as Special | unknown;
      if (answer && typeof answer === 'object' && '$error' in answer) {
        const e = (answer as { $error: { status: number; type: string; message: string } }).$error;
        return send(e.status, errorBody(e.type, e.message));
      }
      const message = this.message(body, answer);
      if (body.stream === true) this.stream(res, message);
      else send(200, message);
      this.settleCache();
      return;
    }
    if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
      const body = JSON.parse(text) as MessagesRequest;
      this.requests.push({ route: 'count_tokens', body });
      return send(200, { input_tokens: ClaudeStandIn.tokens(textsOf(body)) });
    }
    if (req.method === 'POST' && path === '/v1/messages/batches') {
      this.requests.push({ route: 'batch_create' });
      const failure = this.createFailures.shift();
      if (failure) return send(failure, errorBody('api_error', 'internal error'));
      const { requests } = JSON.parse(text) as { requests: Batch['requests'] };
      const ids = new Set<string>();
      for (const r of requests) {
        if (!/^[a-zA-Z0-9_-]{1,64}$/.test(r.custom_id) || ids.has(r.custom_id))
          return fail(`batch request custom_id ${JSON.stringify(r.custom_id)} is malformed or used twice`);
        ids.add(r.custom_id);
        const problem = this.malformed(r.params);
        if (problem) return fail(`batch request ${r.custom_id}: ${problem}`);
      }
      this.batched.push(...requests);
      const batch: Batch = { id: `msgbatch_${this.batches.size + 1}`, requests, polls: 0, canceled: false };
      this.batches.set(batch.id, batch);
      return send(200, this.batchJson(batch));
    }
    const retrieve = /^\/v1\/messages\/batches\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && retrieve) {
      this.requests.push({ route: 'batch_retrieve' });
      const failure = this.retrieveFailures.shift();
      if (failure) return send(failure, errorBody('api_error', 'internal error'));
      const batch = this.batches.get(retrieve[1] as string);
      if (!batch) return send(404, errorBody('not_found_error', 'no such batch'));
      batch.polls += 1;
      return send(200, this.batchJson(batch));
    }
    const cancel = /^\/v1\/messages\/batches\/([^/]+)\/cancel$/.exec(path);
    if (req.method === 'POST' && cancel) {
      this.requests.push({ route: 'batch_cancel' });
      const batch = this.batches.get(cancel[1] as string);
      if (!batch) return send(404, errorBody('not_found_error', 'no such batch'));
      batch.canceled = true;
      return send(200, this.batchJson(batch));
    }
    const results = /^\/v1\/messages\/batches\/([^/]+)\/results$/.exec(path);
    if (req.method === 'GET' && results) {
      this.requests.push({ route: 'batch_results' });
      const batch = this.batches.get(results[1] as string);
      if (!batch) return send(404, errorBody('not_found_error', 'no such batch'));
      // Results come in no particular order; a cancelled batch's requests are canceled.
      const lines = this.batchResults(batch)
        .reverse()
        .map((line) => JSON.stringify(line));
      this.settleCache();
      return send(200, `${lines.join('\n')}\n`, 'application/binary');
    }
    return fail(`unexpected request ${req.method} ${path}`);
  }

  /** What current models refuse, and what structured output needs. */
  private malformed(body: MessagesRequest): string | undefined {
    for (const key of ['temperature', 'top_p', 'top_k', 'tool_choice'])
      if (key in body) return `${key} is not accepted by current models`;
    if (
      body.output_config?.format?.type !== 'json_schema' ||
      typeof body.output_config.format.schema !== 'object'
    )
      return 'structured output needs output_config.format of type json_schema with a schema';
    if (!body.model || !body.max_tokens || !Array.isArray(body.messages))
      return 'model, max_tokens and messages are required';
    const schema = unsupportedSchemaKeywords(body.output_config.format.schema);
    if (schema.length > 0)
      return `output_config.format: the schema uses what structured output does not support: ${schema.slice(0, 5).join(', ')}`;
    return undefined;
  }

  /**
   * A batch's results, its requests run in waves of `batchConcurrency`: what a wave writes to the
   * cache is readable by the later ones. A request the model refuses is an errored result, as the
   * API reports a batch request's 400.
   */
  private batchResults(batch: Batch): { custom_id: string; result: Record<string, unknown> }[] {
    return batch.requests.map((r, i) => {
      if (i > 0 && i % this.batchConcurrency === 0) this.settleCache();
      if (batch.canceled) return { custom_id: r.custom_id, result: { type: 'canceled' } };
      const refused = thinkingRefusal(r.params);
      if (refused) this.failures.push(`batch request ${r.custom_id}: ${refused}`);
      const answer = this.respond(r.params) as Special | unknown;
      const kind =
        refused || (answer && typeof answer === 'object' && '$batch' in answer)
          ? refused
            ? 'errored'
            : (answer as { $batch: 'errored' | 'expired' }).$batch
          : undefined;
      if (kind === 'expired') return { custom_id: r.custom_id, result: { type: 'expired' } };
      if (kind === 'errored')
        return {
          custom_id: r.custom_id,
          result: {
            type: 'errored',
            error: errorBody('invalid_request_error', refused ?? 'this request was invalid'),
          },
        };
      const message = this.message(r.params, answer);
      (message.usage as Record<string, unknown>).service_tier = 'batch';
      return { custom_id: r.custom_id, result: { type: 'succeeded', message } };
    });
  }

  /**
   * A message as the streaming API sends it (server-sent events: message_start, content blocks with
   * their deltas, message_delta with the stop reason and output tokens, message_stop).
   */
  private stream(res: ServerResponse, message: Record<string, unknown>): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_standin' });
    const event = (type: string, data: Record<string, unknown>) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    const usage = message.usage as Record<string, number>;
    event('message_start', {
      message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
    });
    (message.content as { type: string; text?: string; thinking?: string; signature?: string }[]).forEach(
      (block, index) => {
        if (block.type === 'thinking') {
          event('content_block_start', {
            index,
            content_block: { type: 'thinking', thinking: '', signature: '' },
          });
          if (block.thinking)
            event('content_block_delta', {
              index,
              delta: { type: 'thinking_delta', thinking: block.thinking },
            });
          event('content_block_delta', {
            index,
            delta: { type: 'signature_delta', signature: block.signature },
          });
        } else {
          event('content_block_start', { index, content_block: { type: 'text', text: '' } });
          event('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } });
        }
        event('content_block_stop', { index });
      },
    );
    event('message_delta', {
      delta: { stop_reason: message.stop_reason, stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    });
    event('message_stop', {});
    res.end();
  }

  /**
   * The cached part of a request's prompt: the longest ready prefix up to a breakpoint is read; the
   * prefix up to the last breakpoint is written when it is not ready yet. A prefix shorter than
   * the model's minimum is neither (build-with-claude/prompt-caching#cache-limitations).
   */
  private cacheUse(body: MessagesRequest): { read: number; write: number; ttl: string } {
    const blocks = blocksOf(body);
    const minimum = rulesOf(body.model).cacheMinimum;
    const prefixes = blocks
      .map((block, i) => ({ block, texts: blocks.slice(0, i + 1).map((b) => b.text) }))
      .filter(({ block }) => Boolean(block.cache_control))
      .map(({ block, texts }) => ({
        key: createHash('sha256')
          .update(JSON.stringify([body.model, texts]))
          .digest('hex'),
        tokens: ClaudeStandIn.tokens(texts),
        ttl: (block.cache_control as { ttl?: string }).ttl ?? '5m',
      }))
      .filter((prefix) => prefix.tokens >= minimum);
    const last = prefixes.at(-1);
    if (!last) return { read: 0, write: 0, ttl: '5m' };
    const read = prefixes.filter((p) => this.cache.get(p.key) === 'ready').at(-1)?.tokens ?? 0;
    for (const p of prefixes) if (!this.cache.has(p.key)) this.cache.set(p.key, 'writing');
    return { read, write: last.tokens - read, ttl: last.ttl };
  }

  /** A cache entry is readable once the response that wrote it has begun (here: been sent). */
  private settleCache(): void {
    for (const [key, state] of this.cache) if (state === 'writing') this.cache.set(key, 'ready');
  }

  /**
   * The message the model sends: thinking first when the request thinks (display "omitted": an
   * empty block with a signature, the default on current models), then the answer as text, all of
   * it within max_tokens: what does not fit is cut off, with stop_reason "max_tokens".
   */
  private message(body: MessagesRequest, given?: unknown): Record<string, unknown> {
    const answer = given === undefined ? this.respond(body) : given;
    const special =
      answer && typeof answer === 'object' && '$stop' in answer ? (answer as Special) : undefined;
    const forced = special && '$stop' in special ? special.$stop : undefined;
    const effort = (body.output_config?.effort ?? rulesOf(body.model).defaultEffort ?? 'high') as Effort;
    const thinking = thinksUpFront(body) ? Math.min(this.thinkingTokens(effort), body.max_tokens) : 0;
    const full = forced === 'refusal' ? 'I cannot help with that.' : JSON.stringify(answer);
    const room = (body.max_tokens - thinking) * ClaudeStandIn.CHARS_PER_TOKEN;
    const cut = forced === 'max_tokens' || full.length > room;
    const text = forced === 'max_tokens' ? '{"verdict": "val' : full.slice(0, Math.max(0, room));
    const { read, write, ttl } = this.cacheUse(body);
    const output = cut ? body.max_tokens : thinking + Math.ceil(text.length / ClaudeStandIn.CHARS_PER_TOKEN);
    return {
      id: `msg_${Math.random().toString(36).slice(2, 10)}`,
      type: 'message',
      role: 'assistant',
      model: body.model,
      content: [
        ...(thinking > 0 ? [{ type: 'thinking', thinking: '', signature: 'sig_standin' }] : []),
        ...(text ? [{ type: 'text', text }] : []),
      ],
      stop_reason: cut ? 'max_tokens' : (forced ?? 'end_turn'),
      stop_details:
        forced === 'refusal'
          ? {
              type: 'refusal',
              category: (special as { category?: string }).category ?? null,
              explanation: null,
            }
          : null,
      stop_sequence: null,
      container: null,
      diagnostics: null,
      usage: {
        input_tokens: ClaudeStandIn.tokens(textsOf(body)) - read - write,
        output_tokens: output,
        output_tokens_details: { thinking_tokens: thinking },
        cache_creation_input_tokens: write,
        cache_read_input_tokens: read,
        cache_creation: {
          ephemeral_5m_input_tokens: ttl === '5m' ? write : 0,
          ephemeral_1h_input_tokens: ttl === '1h' ? write : 0,
        },
        service_tier: 'standard',
        inference_geo: null,
        server_tool_use: null,
        speed: 'standard',
      },
    };
  }

  private batchJson(batch: Batch): Record<string, unknown> {
    const ended = batch.canceled || batch.polls >= this.pollsToEnd;
    const n = batch.requests.length;
    return {
      id: batch.id,
      type: 'message_batch',
      processing_status: ended ? 'ended' : 'in_progress',
      request_counts: {
        processing: ended ? 0 : n,
        succeeded: ended ? n : 0,
        errored: 0,
        canceled: 0,
        expired: 0,
      },
      created_at: '2026-11-25T12:00:00Z',
      expires_at: '2026-11-26T12:00:00Z',
      ended_at: ended ? '2026-11-25T12:05:00Z' : null,
      cancel_initiated_at: null,
      archived_at: null,
      results_url: ended ? `${this.url}/v1/messages/batches/${batch.id}/results` : null,
    };
  }
}

/** The API's error body (api/errors: "type": "error", an error with its type and message, the request id). */
function errorBody(type: string, message: string) {
  return { type: 'error', error: { type, message }, request_id: 'req_standin' };
}

type Block = { type: string; text: string; cache_control?: unknown };

/** A request's blocks, system first: `system` and each message's `content` may also be a plain string. */
function blocksOf(body: MessagesRequest): Block[] {
  const asBlocks = (content: unknown): Block[] =>
    typeof content === 'string'
      ? [{ type: 'text', text: content }]
      : ((content as Block[] | undefined) ?? []);
  return [...asBlocks(body.system), ...body.messages.flatMap((m) => asBlocks(m.content))];
}

/** The text of every block of a request: what this stand-in counts as its input. */
function textsOf(body: MessagesRequest): string[] {
  return blocksOf(body).map((b) => b.text);
}

/** The data block of a judge request, parsed back: what the model was shown of the result. */
export function shownData(request: MessagesRequest): {
  metrics: Record<string, number>;
  summary: string;
  seed: number | null;
} {
  const user = request.messages[0]?.content.at(-1)?.text ?? '';
  const lines = user.split('\n');
  const marker = lines.findIndex((l) => l.startsWith('DATA '));
  return JSON.parse(lines[marker + 1] as string);
}
