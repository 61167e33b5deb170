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

/** The smallest prefix each model caches; the 5.x models' are not published, so the largest is used. */
const CACHE_MINIMUM: Record<string, number> = { 'claude-sonnet-5': 2048, 'claude-haiku-4-5': 4096 };

/** What a responder may return instead of an answer, to make the stand-in stop or fail as the API does. */
export type Special =
  | { $stop: 'max_tokens' | 'refusal' }
  | { $error: { status: number; type: string; message: string } }
  | { $batch: 'errored' | 'expired' };

/**
 * A strict local stand-in for the Claude Messages API as SDK 1.x calls it: Bearer auth, the
 * `anthropic-version` header, structured output through `output_config.format`, count_tokens, and
 * Message Batches (create, retrieve, results from an absolute results_url). Answers come from a
 * responder the test gives; any request it does not expect, and any malformed one (temperature,
 * forced tool use, no schema), is a failure, and so is an expected request never made.
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
  private readonly expected = new Map<Route, number>();
  private readonly batches = new Map<string, Batch>();
  private readonly overloads: number[] = [];
  private readonly createFailures: number[] = [];
  /** Cached prefixes: being written (by the first request, until it answers), then readable. */
  private readonly cache = new Map<string, 'writing' | 'ready'>();
  /** How many polls a batch takes to end; Infinity: never (until cancelled). */
  pollsToEnd = 2;
  /** Characters per token for the usage this stand-in reports (a rough tokenizer). */
  static readonly CHARS_PER_TOKEN = 4;

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
      send(400, { type: 'error', error: { type: 'invalid_request_error', message: problem } });
    };
    if (req.headers.authorization !== `Bearer ${this.apiKey}` && req.headers['x-api-key'] !== this.apiKey)
      return send(401, {
        type: 'error',
        error: { type: 'authentication_error', message: 'invalid x-api-key' },
      });
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
        res.end(JSON.stringify({ type: 'error', error: { type, message: type } }));
        return;
      }
      const problem = this.malformed(body);
      if (problem) return fail(problem);
      if (!KNOWN_MODELS.has(body.model))
        return send(404, {
          type: 'error',
          error: { type: 'not_found_error', message: `model: ${body.model}` },
        });
      const answer = this.respond(body) as Special | unknown;
      if (answer && typeof answer === 'object' && '$error' in answer) {
        const e = (answer as { $error: { status: number; type: string; message: string } }).$error;
        return send(e.status, { type: 'error', error: { type: e.type, message: e.message } });
      }
      const message = this.message(body, answer);
      if (body.stream === true) this.stream(res, message);
      else send(200, message);
      this.settleCache(body);
      return;
    }
    if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
      const body = JSON.parse(text) as MessagesRequest;
      this.requests.push({ route: 'count_tokens', body });
      return send(200, { input_tokens: this.inputTokens(body) });
    }
    if (req.method === 'POST' && path === '/v1/messages/batches') {
      this.requests.push({ route: 'batch_create' });
      const failure = this.createFailures.shift();
      if (failure)
        return send(failure, { type: 'error', error: { type: 'api_error', message: 'internal error' } });
      const { requests } = JSON.parse(text) as { requests: Batch['requests'] };
      const ids = new Set<string>();
      for (const r of requests) {
        if (!/^[a-zA-Z0-9_-]{1,64}$/.test(r.custom_id) || ids.has(r.custom_id))
          return fail(`batch request custom_id ${JSON.stringify(r.custom_id)} is malformed or used twice`);
        ids.add(r.custom_id);
        const problem = this.malformed(r.params);
        if (problem) return fail(`batch request ${r.custom_id}: ${problem}`);
      }
      const batch: Batch = { id: `msgbatch_${this.batches.size + 1}`, requests, polls: 0, canceled: false };
      this.batches.set(batch.id, batch);
      return send(200, this.batchJson(batch));
    }
    const retrieve = /^\/v1\/messages\/batches\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && retrieve) {
      this.requests.push({ route: 'batch_retrieve' });
      const failure = this.retrieveFailures.shift();
      if (failure)
        return send(failure, { type: 'error', error: { type: 'api_error', message: 'internal error' } });
      const batch = this.batches.get(retrieve[1] as string);
      if (!batch)
        return send(404, { type: 'error', error: { type: 'not_found_error', message: 'no such batch' } });
      batch.polls += 1;
      return send(200, this.batchJson(batch));
    }
    const cancel = /^\/v1\/messages\/batches\/([^/]+)\/cancel$/.exec(path);
    if (req.method === 'POST' && cancel) {
      this.requests.push({ route: 'batch_cancel' });
      const batch = this.batches.get(cancel[1] as string);
      if (!batch)
        return send(404, { type: 'error', error: { type: 'not_found_error', message: 'no such batch' } });
      batch.canceled = true;
      return send(200, this.batchJson(batch));
    }
    const results = /^\/v1\/messages\/batches\/([^/]+)\/results$/.exec(path);
    if (req.method === 'GET' && results) {
      this.requests.push({ route: 'batch_results' });
      const batch = this.batches.get(results[1] as string);
      if (!batch)
        return send(404, { type: 'error', error: { type: 'not_found_error', message: 'no such batch' } });
      // Results come in no particular order; a cancelled batch's requests are canceled.
      const lines = [...batch.requests].reverse().map((r) => {
        if (batch.canceled) return JSON.stringify({ custom_id: r.custom_id, result: { type: 'canceled' } });
        const answer = this.respond(r.params) as Special | unknown;
        if (answer && typeof answer === 'object' && '$batch' in answer) {
          const kind = (answer as { $batch: 'errored' | 'expired' }).$batch;
          return JSON.stringify({
            custom_id: r.custom_id,
            result:
              kind === 'errored'
                ? {
                    type: 'errored',
                    error: {
                      type: 'error',
                      error: { type: 'invalid_request_error', message: 'this request was invalid' },
                    },
                  }
                : { type: 'expired' },
          });
        }
        return JSON.stringify({
          custom_id: r.custom_id,
          result: { type: 'succeeded', message: this.message(r.params, answer) },
        });
      });
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

  private inputTokens(body: MessagesRequest): number {
    const chars = JSON.stringify([body.system, body.messages]).length;
    return Math.ceil(chars / ClaudeStandIn.CHARS_PER_TOKEN);
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

  /** The prefix up to the last cache breakpoint, and its tokens; none when nothing is marked. */
  private cachedPrefix(body: MessagesRequest): { key: string; tokens: number } | undefined {
    const blocks = [...body.system, ...body.messages.flatMap((m) => m.content)];
    const last = blocks.map((b) => Boolean(b.cache_control)).lastIndexOf(true);
    if (last < 0) return undefined;
    const prefix = JSON.stringify([body.model, blocks.slice(0, last + 1).map((b) => b.text)]);
    return {
      key: createHash('sha256').update(prefix).digest('hex'),
      tokens: Math.ceil(JSON.stringify(blocks.slice(0, last + 1)).length / ClaudeStandIn.CHARS_PER_TOKEN),
    };
  }

  /** A cache entry is readable once the response that wrote it has begun (here: been sent). */
  private settleCache(body: MessagesRequest): void {
    const prefix = this.cachedPrefix(body);
    if (prefix && this.cache.get(prefix.key) === 'writing') this.cache.set(prefix.key, 'ready');
  }

  private message(body: MessagesRequest, given?: unknown): Record<string, unknown> {
    const answer = given === undefined ? this.respond(body) : given;
    const stop =
      answer && typeof answer === 'object' && '$stop' in answer
        ? (answer as { $stop: string }).$stop
        : 'end_turn';
    const text =
      stop === 'end_turn'
        ? JSON.stringify(answer)
        : stop === 'refusal'
          ? 'I cannot help with that.'
          : '{"verdict": "val';
    const total = this.inputTokens(body);
    const prefix = this.cachedPrefix(body);
    let read = 0;
    let write = 0;
    if (prefix && prefix.tokens >= (CACHE_MINIMUM[body.model] ?? 4096)) {
      if (this.cache.get(prefix.key) === 'ready') read = prefix.tokens;
      else {
        write = prefix.tokens;
        this.cache.set(prefix.key, 'writing');
      }
    }
    return {
      id: `msg_${Math.random().toString(36).slice(2, 10)}`,
      type: 'message',
      role: 'assistant',
      model: body.model,
      // Current models think first (adaptive thinking is on by default); the answer is the text block.
      content: [
        { type: 'thinking', thinking: 'Looking at the numbers.', signature: 'sig_standin' },
        { type: 'text', text },
      ],
      stop_reason: stop,
      stop_sequence: null,
      usage: {
        input_tokens: total - read - write,
        output_tokens: Math.ceil(text.length / ClaudeStandIn.CHARS_PER_TOKEN) + 8,
        cache_creation_input_tokens: write,
        cache_read_input_tokens: read,
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
