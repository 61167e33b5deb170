import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import { jsonSchemaOutputFormat } from '@anthropic-ai/sdk/helpers/json-schema';
import { writeFileAtomically } from '../atomic-write.js';
import {
  cacheMinimum,
  callHashes,
  costUsd,
  type FailedAnswer,
  type Llm,
  LlmError,
  type LlmUsage,
  NO_USAGE,
  type StructuredAnswer,
  type StructuredRequest,
  sentMaxTokens,
  worstCaseUsd,
} from './llm.js';
import { modelFacts, thinkingOffParam } from './models.js';

export interface ClaudeOptions {
  apiKey: string;
  /** The API root; a local stand-in in tests. */
  baseURL?: string;
  /** Waits between polls of a running batch: start, growing by half each poll up to max. */
  pollMs?: { start: number; max: number };
  /** Spending ceiling in USD (AXIOM_LLM_MAX_USD): a call or batch that could pass it is not made. */
  maxUsd?: number;
  /** Where a created batch's id is kept until its results are in, so a killed run resumes it. */
  batchStatePath?: string;
  /** After this long a batch still running is cancelled; its unanswered requests wait for a later run. */
  batchDeadlineMs?: number;
  log?: (line: string) => void;
}

/** The Message Batches limits (CLAUDE-API-FACTS 4.5): 100,000 requests or 256 MB; we stay well inside. */
const BATCH_MAX_REQUESTS = 10_000;
const BATCH_MAX_BYTES = 128 * 1024 * 1024;
/** custom_id as the Batches API accepts it (4.11). */
const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;
/** Above this share of errored batch items the run stops: something is wrong with every request. */
const FATAL_ERRORED_SHARE = 0.2;

interface WireUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  /** How many of the output tokens were thinking (Usage.output_tokens_details in the SDK's types). */
  output_tokens_details?: { thinking_tokens?: number | null } | null;
}

function usageOf(usage: WireUsage | undefined): LlmUsage {
  return {
    inputTokens: usage?.input_tokens ?? 0,
    outputTokens: usage?.output_tokens ?? 0,
    cacheReadTokens: usage?.cache_read_input_tokens ?? 0,
    cacheWriteTokens: usage?.cache_creation_input_tokens ?? 0,
  };
}

/** The text of the answer: structured output is the text blocks (thinking blocks are not part of it). */
function answerText(content: readonly { type: string; text?: string }[]): string {
  return content
    .filter((b) => b.type === 'text')
    .map((b) => b.text ?? '')
    .join('');
}

/**
 * The `thinking` field of a request: for `thinking: 'off'`, the setting that turns it off where the
 * model accepts one at this effort (models.ts); nothing where the model would refuse it.
 */
function thinkingOf(request: StructuredRequest): { thinking?: { type: 'disabled' | 'between_tools' } } {
  return request.thinking === 'off' ? (thinkingOffParam(request.model, request.effort) ?? {}) : {};
}

/**
 * A non-streamed call's timeout: two minutes, or longer when `max_tokens` allows a longer answer
 * (the SDK's own estimate, 128,000 output tokens an hour, client.js calculateNonstreamingTimeout).
 */
const timeoutFor = (maxTokens: number) => Math.max(120_000, Math.ceil((3_600_000 * maxTokens) / 128_000));

/** What no later attempt would change: the run stops (400, 401, 402, 403, 404 unknown model, 413). */
const FATAL_STATUS = new Set([400, 401, 402, 403, 404, 413]);

interface BatchState {
  batches: { id: string; customIds: string[]; createdAt: string }[];
}

/**
 * Claude through the official SDK: structured output with `output_config.format` and the schema the
 * API accepts (the SDK's own transform moves unsupported keywords into descriptions; our validator
 * stays the enforcement), `messages.create` or a stream for long answers, `stop_reason` checked
 * before anything is parsed (not `messages.parse()`, which throws on a `max_tokens` stop or a
 * refusal before its caller could tell which), thinking turned off where a request asks and the
 * model allows it (models.ts), cache breakpoints only on prefixes long enough to be cached, the
 * spending ceiling checked before each call and batch, and batches that are never created twice.
 */
export class ClaudeLlm implements Llm {
  private readonly client: Anthropic;
  private readonly poll: { start: number; max: number };
  private readonly cacheable = new Map<string, Promise<boolean>>();
  private spent = 0;

  constructor(private readonly options: ClaudeOptions) {
    this.client = new Anthropic({
      apiKey: options.apiKey,
      ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      maxRetries: 2,
      timeout: 120_000,
    });
    this.poll = options.pollMs ?? { start: 5_000, max: 60_000 };
  }

  get spentUsd(): number {
    return Number(this.spent.toFixed(6));
  }

  /** Whether the request's stable prefix (system and context) is long enough to be cached. */
  private prefixCacheable(request: StructuredRequest, offline = false): Promise<boolean> {
    // Offline (printing requests): the count is estimated here, at a generous four characters a token.
    if (offline)
      return Promise.resolve(
        Math.ceil((request.system.length + request.context.length) / 4) >= cacheMinimum(request.model),
      );
    const key = createHash('sha256')
      .update(JSON.stringify([request.model, request.system, request.context]))
      .digest('hex');
    let known = this.cacheable.get(key);
    if (!known) {
      const minimum = cacheMinimum(request.model);
      // Clearly short prefixes are not worth a count: at most four characters a token.
      const upper = Math.ceil((request.system.length + request.context.length) / 2);
      known =
        upper < minimum
          ? Promise.resolve(false)
          : this.countTokens({ ...request, user: '' }).then((n) => n >= minimum);
      this.cacheable.set(key, known);
    }
    return known;
  }

  private async params(request: StructuredRequest, offline = false) {
    const cached = request.cacheTtl !== undefined && (await this.prefixCacheable(request, offline));
    const cache = cached ? { cache_control: { type: 'ephemeral' as const, ttl: request.cacheTtl } } : {};
    return {
      model: request.model,
      max_tokens: sentMaxTokens(request),
      ...thinkingOf(request),
      system: [{ type: 'text' as const, text: request.system, ...cache }],
      messages: [
        {
          role: 'user' as const,
          content: [
            { type: 'text' as const, text: request.context, ...cache },
            { type: 'text' as const, text: request.user },
          ],
        },
      ],
      output_config: {
        format: {
          type: 'json_schema' as const,
          schema: jsonSchemaOutputFormat(request.schema as { type: 'object' }).schema,
        },
        // A model without effort support refuses the field (Haiku 4.5: "Not supported").
        ...(modelFacts(request.model).effort ? { effort: request.effort } : {}),
      },
    };
  }

  /**
   * The body of a request as it would be sent: by default built without calling anything (for
   * --print-request, the prefix estimated at four characters a token); `counted`, with the prefix
   * counted through count_tokens, as a call would be.
   */
  async body(request: StructuredRequest, counted = false): Promise<Record<string, unknown>> {
    return this.params(request, !counted);
  }

  private charge(request: StructuredRequest, usage: LlmUsage, batched: boolean): number {
    const cost = costUsd(request.model, usage, batched, request.cacheTtl ?? '5m');
    this.spent += cost;
    return cost;
  }

  private guard(worst: number, what: string): void {
    const ceiling = this.options.maxUsd;
    if (ceiling !== undefined && this.spent + worst > ceiling)
      throw new LlmError(
        `${what} could cost up to $${worst.toFixed(4)}, which would take this run past AXIOM_LLM_MAX_USD ($${ceiling}; $${this.spentUsd} spent); not asked`,
        undefined,
        'spending_ceiling',
        true,
      );
  }

  /** An answer from a message, or why it is not one: the stop reason first, then the JSON. */
  private answer(
    request: StructuredRequest,
    message: Anthropic.Message,
    batched: boolean,
  ): StructuredAnswer | FailedAnswer {
    const wire = message.usage as WireUsage;
    const usage = usageOf(wire);
    const cost = this.charge(request, usage, batched);
    const failed = (error: string, retry = false): FailedAnswer => ({
      id: request.id,
      error,
      retry,
      usage,
      costUsd: cost,
    });
    if (message.stop_reason === 'max_tokens') {
      const thinking = wire.output_tokens_details?.thinking_tokens ?? 0;
      // Thinking that took room the request gave its answer says nothing about the data: asked again later.
      return failed(
        `the answer was cut off at max_tokens (${sentMaxTokens(request)})`,
        usage.outputTokens - thinking < request.maxTokens,
      );
    }
    if (message.stop_reason === 'refusal') {
      const category = (message as { stop_details?: { category?: string | null } | null }).stop_details
        ?.category;
      return failed(`the model declined to answer (refusal${category ? `: ${category}` : ''})`);
    }
    if (message.stop_reason !== 'end_turn')
      return failed(`the answer stopped early (${message.stop_reason})`);
    let value: unknown;
    try {
      value = JSON.parse(answerText(message.content as { type: string; text?: string }[]));
    } catch {
      return failed('the answer is not JSON');
    }
    return {
      id: request.id,
      value,
      model: message.model,
      hashes: callHashes(request),
      usage,
      costUsd: cost,
      batched,
    };
  }

  async ask(request: StructuredRequest): Promise<StructuredAnswer | FailedAnswer> {
    this.guard(worstCaseUsd(request, false), `the request for ${request.id}`);
    const params = await this.params(request);
    try {
      const message = request.long
        ? // A design can take minutes: streamed, with a long timeout and one retry at most.
          await this.client.messages.stream(params, { timeout: 15 * 60_000, maxRetries: 1 }).finalMessage()
        : await this.client.messages.create(params, { timeout: timeoutFor(params.max_tokens) });
      return this.answer(request, message as Anthropic.Message, false);
    } catch (error) {
      const llm = translate(error);
      if (llm.fatal) throw llm;
      return { id: request.id, error: llm.message, retry: true, usage: NO_USAGE, costUsd: 0 };
    }
  }

  private readState(): BatchState {
    const path = this.options.batchStatePath;
    if (!path || !existsSync(path)) return { batches: [] };
    const state = JSON.parse(readFileSync(path, 'utf8')) as BatchState;
    return Array.isArray(state.batches) ? state : { batches: [] };
  }

  private writeState(state: BatchState): void {
    const path = this.options.batchStatePath;
    if (!path) return;
    if (state.batches.length === 0) rmSync(path, { force: true });
    else writeFileAtomically(path, `${JSON.stringify(state, null, 2)}\n`);
  }

  /** Chunks within the documented limits, by count and by size. */
  private async chunks(requests: readonly StructuredRequest[]) {
    const out: { custom_id: string; params: Awaited<ReturnType<ClaudeLlm['params']>> }[][] = [];
    let current: (typeof out)[number] = [];
    let bytes = 0;
    for (const r of requests) {
      const item = { custom_id: r.id, params: await this.params(r) };
      const size = Buffer.byteLength(JSON.stringify(item));
      if (current.length >= BATCH_MAX_REQUESTS || (current.length > 0 && bytes + size > BATCH_MAX_BYTES)) {
        out.push(current);
        current = [];
        bytes = 0;
      }
      current.push(item);
      bytes += size;
    }
    if (current.length > 0) out.push(current);
    return out;
  }

  async askBatch(requests: readonly StructuredRequest[]): Promise<(StructuredAnswer | FailedAnswer)[]> {
    const seen = new Set<string>();
    for (const r of requests) {
      if (!CUSTOM_ID.test(r.id))
        throw new LlmError(
          `custom_id "${r.id}" is not one the Batches API accepts`,
          undefined,
          undefined,
          true,
        );
      if (seen.has(r.id))
        throw new LlmError(`custom_id "${r.id}" is used twice in one batch`, undefined, undefined, true);
      seen.add(r.id);
    }
    const byId = new Map(requests.map((r) => [r.id, r]));
    const answers = new Map<string, StructuredAnswer | FailedAnswer>();
    const state = this.readState();
    // A batch an earlier run created and did not finish is resumed, never created again.
    const resumed = state.batches.filter((b) => b.customIds.some((id) => byId.has(id)));
    const pending = requests.filter((r) => !resumed.some((b) => b.customIds.includes(r.id)));
    if (resumed.length > 0)
      this.options.log?.(
        `claude: resuming ${resumed.length} message batch${resumed.length === 1 ? '' : 'es'} an earlier run created`,
      );
    this.guard(
      pending.reduce((s, r) => s + worstCaseUsd(r, true), 0),
      `a batch of ${pending.length} requests`,
    );
    for (const chunk of await this.chunks(pending)) {
      // Never retried automatically: a retry after a lost answer would create a second, paid batch.
      const batch = await this.call(() =>
        this.client.messages.batches.create({ requests: chunk }, { maxRetries: 0 }),
      );
      state.batches.push({
        id: batch.id,
        customIds: chunk.map((c) => c.custom_id),
        createdAt: new Date().toISOString(),
      });
      this.writeState(state);
    }
    const started = Date.now();
    for (const entry of state.batches.filter((b) => b.customIds.some((id) => byId.has(id)))) {
      await this.collectBatch(entry.id, byId, answers, started);
      state.batches = state.batches.filter((b) => b.id !== entry.id);
      this.writeState(state);
    }
    const failed = [...answers.values()].filter((a) => 'error' in a && !a.retry).length;
    if (requests.length >= 5 && failed / requests.length > FATAL_ERRORED_SHARE)
      throw new LlmError(
        `${failed} of ${requests.length} batch requests failed; nothing is judged from this batch. The first: ${([...answers.values()].find((a) => 'error' in a) as FailedAnswer).error}`,
        undefined,
        'batch_errors',
        true,
      );
    return requests.map(
      (r) =>
        answers.get(r.id) ?? {
          id: r.id,
          error: 'the batch returned no result for it',
          retry: true,
          usage: NO_USAGE,
          costUsd: 0,
        },
    );
  }

  private async collectBatch(
    id: string,
    byId: Map<string, StructuredRequest>,
    answers: Map<string, StructuredAnswer | FailedAnswer>,
    started: number,
  ): Promise<void> {
    let batch = await this.call(() => this.client.messages.batches.retrieve(id));
    let wait = this.poll.start;
    const deadline = this.options.batchDeadlineMs;
    while (batch.processing_status !== 'ended') {
      if (
        deadline !== undefined &&
        Date.now() - started > deadline &&
        batch.processing_status === 'in_progress'
      ) {
        this.options.log?.(
          `claude: batch ${id} passed its deadline; cancelling it (what it answered is kept)`,
        );
        batch = await this.call(() => this.client.messages.batches.cancel(id));
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(this.poll.max, Math.round(wait * 1.5));
      batch = await this.call(() => this.client.messages.batches.retrieve(id));
    }
    for await (const item of await this.call(() => this.client.messages.batches.results(id))) {
      const request = byId.get(item.custom_id);
      if (!request) continue; // not one of ours: ignored, never trusted
      const result = item.result;
      if (result.type === 'succeeded') {
        answers.set(item.custom_id, this.answer(request, result.message as Anthropic.Message, true));
        continue;
      }
      const detail =
        result.type === 'errored'
          ? `${(result as { error?: { error?: { type?: string; message?: string } } }).error?.error?.type ?? 'error'}: ${(result as { error?: { error?: { message?: string } } }).error?.error?.message ?? ''}`
          : result.type;
      // Expired and cancelled items are asked again next run; an errored one says what was wrong.
      answers.set(item.custom_id, {
        id: item.custom_id,
        error: `the batch request ${result.type === 'errored' ? `errored (${detail})` : result.type}`,
        retry: result.type !== 'errored' || /overloaded|api_error|rate_limit/.test(detail),
        usage: NO_USAGE,
        costUsd: 0,
      });
    }
  }

  async countTokens(request: StructuredRequest): Promise<number> {
    const counted = await this.call(() =>
      this.client.messages.countTokens({
        model: request.model,
        system: [{ type: 'text', text: request.system }],
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: request.context || ' ' },
              ...(request.user ? [{ type: 'text' as const, text: request.user }] : []),
            ],
          },
        ],
      }),
    );
    return counted.input_tokens;
  }

  private async call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw translate(error);
    }
  }
}

/** The SDK's errors, by class, become LlmErrors that keep the status, the API's type and whether it is fatal. */
function translate(error: unknown): LlmError {
  if (error instanceof LlmError) return error;
  if (error instanceof Anthropic.AuthenticationError)
    return new LlmError('ANTHROPIC_API_KEY was refused (401)', 401, 'authentication_error', true, {
      cause: error,
    });
  if (error instanceof Anthropic.APIError) {
    const status = error.status ?? undefined;
    const apiMessage =
      (error as { error?: { error?: { message?: string } } }).error?.error?.message ?? error.message;
    const type =
      (error as { error?: { error?: { type?: string } } }).error?.error?.type ?? error.type ?? undefined;
    const fatal = status !== undefined && FATAL_STATUS.has(status);
    return new LlmError(
      `the Claude API answered ${status ?? 'without a status'}${type ? ` (${type})` : ''}: ${apiMessage}`,
      status,
      type,
      fatal,
      {
        cause: error,
      },
    );
  }
  if (error instanceof Anthropic.APIConnectionError)
    return new LlmError(
      `cannot reach the Claude API: ${error.message}`,
      undefined,
      'connection_error',
      false,
      { cause: error },
    );
  if (error instanceof Error && /Streaming is required/.test(error.message))
    return new LlmError(error.message, undefined, 'invalid_request_error', true, { cause: error });
  return new LlmError(
    `the Claude API call failed: ${(error as Error).message}`,
    undefined,
    undefined,
    false,
    { cause: error },
  );
}
