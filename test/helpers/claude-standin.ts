import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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

type Route = 'messages' | 'count_tokens' | 'batch_create' | 'batch_retrieve' | 'batch_results';

interface Batch {
  id: string;
  requests: { custom_id: string; params: MessagesRequest }[];
  polls: number;
}

export class ClaudeStandIn {
  readonly failures: string[] = [];
  readonly requests: { route: Route; body?: MessagesRequest }[] = [];
  private readonly expected = new Map<Route, number>();
  private readonly batches = new Map<string, Batch>();
  private readonly overloads: number[] = [];
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
      return problem ? fail(problem) : send(200, this.message(body));
    }
    if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
      const body = JSON.parse(text) as MessagesRequest;
      this.requests.push({ route: 'count_tokens', body });
      return send(200, { input_tokens: this.inputTokens(body) });
    }
    if (req.method === 'POST' && path === '/v1/messages/batches') {
      this.requests.push({ route: 'batch_create' });
      const { requests } = JSON.parse(text) as { requests: Batch['requests'] };
      for (const r of requests) {
        const problem = this.malformed(r.params);
        if (problem) return fail(`batch request ${r.custom_id}: ${problem}`);
      }
      const batch: Batch = { id: `msgbatch_${this.batches.size + 1}`, requests, polls: 0 };
      this.batches.set(batch.id, batch);
      return send(200, this.batchJson(batch));
    }
    const retrieve = /^\/v1\/messages\/batches\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && retrieve) {
      this.requests.push({ route: 'batch_retrieve' });
      const batch = this.batches.get(retrieve[1] as string);
      if (!batch)
        return send(404, { type: 'error', error: { type: 'not_found_error', message: 'no such batch' } });
      batch.polls += 1;
      return send(200, this.batchJson(batch));
    }
    const results = /^\/v1\/messages\/batches\/([^/]+)\/results$/.exec(path);
    if (req.method === 'GET' && results) {
      this.requests.push({ route: 'batch_results' });
      const batch = this.batches.get(results[1] as string);
      if (!batch)
        return send(404, { type: 'error', error: { type: 'not_found_error', message: 'no such batch' } });
      const lines = batch.requests.map((r) =>
        JSON.stringify({
          custom_id: r.custom_id,
          result: { type: 'succeeded', message: this.message(r.params) },
        }),
      );
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
    if (!body.system?.[0]?.cache_control) return 'the system prompt is not marked for caching';
    return undefined;
  }

  private inputTokens(body: MessagesRequest): number {
    const chars = JSON.stringify([body.system, body.messages]).length;
    return Math.ceil(chars / ClaudeStandIn.CHARS_PER_TOKEN);
  }

  private message(body: MessagesRequest): Record<string, unknown> {
    const answer = JSON.stringify(this.respond(body));
    const cached = Math.ceil(JSON.stringify(body.system).length / ClaudeStandIn.CHARS_PER_TOKEN);
    return {
      id: `msg_${Math.random().toString(36).slice(2, 10)}`,
      type: 'message',
      role: 'assistant',
      model: body.model,
      content: [{ type: 'text', text: answer }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: {
        input_tokens: this.inputTokens(body) - cached,
        output_tokens: Math.ceil(answer.length / ClaudeStandIn.CHARS_PER_TOKEN),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: cached,
      },
    };
  }

  private batchJson(batch: Batch): Record<string, unknown> {
    const ended = batch.polls >= 2;
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
