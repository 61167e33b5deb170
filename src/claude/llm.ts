import { createHash } from 'node:crypto';
import { AxiomError } from '../errors.js';
import { type Effort, modelFacts, priceFor, thinkingOffParam } from './models.js';

export type { Effort } from './models.js';

/** Tokens one call used, as the API reports them. */
export interface LlmUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export const NO_USAGE: LlmUsage = {
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
};

/**
 * One structured question: `system` and `context` are stable across calls (cached when long
 * enough); `user` changes per call. The answer must match `schema` (JSON Schema, object at the top),
 * which our own validator enforces afterwards: the API is sent the subset it accepts.
 */
export interface StructuredRequest {
  id: string;
  model: string;
  system: string;
  context: string;
  user: string;
  schema: Record<string, unknown>;
  /** The most the answer may take; thinking the model cannot be spared gets room of its own (`sentMaxTokens`). */
  maxTokens: number;
  effort: Effort;
  /**
   * How long the stable prefix is cached: 5 minutes for calls close together, 1 hour for batches;
   * none when no other call of the run shares it (a write nobody reads costs more than no cache).
   */
  cacheTtl?: '5m' | '1h';
  /**
   * `off`: answer without up-front thinking, where the model allows it at this effort; where it
   * does not, `max_tokens` leaves the thinking room of its own. Unset: the model's default.
   */
  thinking?: 'off';
  /** Long answers (designs) are streamed, with a long timeout and few retries. */
  long?: boolean;
}

/** Identifies how a call was asked (system, schema, model, effort, max_tokens) and what it was given. */
export interface CallHashes {
  /** The template: the same for every call of one rubric or designer version. */
  template: string;
  /** The data: the context and the user turn of this call. */
  data: string;
}

export interface StructuredAnswer {
  id: string;
  /** The parsed answer; untrusted until the caller has validated it. */
  value: unknown;
  model: string;
  hashes: CallHashes;
  usage: LlmUsage;
  costUsd: number;
  batched: boolean;
}

/**
 * A request that got no usable answer, with what it cost. `retry`: worth asking again later (rate
 * limits, overload, an expired batch item); otherwise the answer itself was unusable (a truncated
 * or refused answer, text that is not JSON).
 */
export interface FailedAnswer {
  id: string;
  error: string;
  retry: boolean;
  usage: LlmUsage;
  costUsd: number;
}

/** The `Llm` port: structured answers from a model, one at a time or as a batch. */
export interface Llm {
  /** Throws a fatal LlmError for what no retry mends (a refused key, an invalid request, an unknown model, the ceiling). */
  ask(request: StructuredRequest): Promise<StructuredAnswer | FailedAnswer>;
  /** Half price, slower: answers by id, in request order. */
  askBatch(requests: readonly StructuredRequest[]): Promise<(StructuredAnswer | FailedAnswer)[]>;
  countTokens(request: StructuredRequest): Promise<number>;
  /** What this client's calls have cost so far, failed ones included. */
  readonly spentUsd: number;
}

/**
 * The model API refused or failed. `fatal`: nothing a later attempt would change (authentication,
 * permission, an invalid request, an unknown model, billing, the spending ceiling): the run stops
 * and changes nothing.
 */
export class LlmError extends AxiomError {
  override name = 'LlmError';
  constructor(
    message: string,
    readonly status?: number,
    readonly type?: string,
    readonly fatal = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const hash = (value: unknown) =>
  createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);

/** The two hashes of a call: recomputable from the request alone. */
export function callHashes(request: StructuredRequest): CallHashes {
  return {
    template: hash([
      request.model,
      request.system,
      request.schema,
      request.effort,
      request.maxTokens,
      ...(request.thinking ? [request.thinking] : []),
    ]),
    data: hash([request.context, request.user]),
  };
}

/**
 * What a call cost, from the model's row in the price table (models.ts): the prompt's length picks
 * the tier where the model prices by length, cache writes pay the request's TTL, batches are half price.
 */
export function costUsd(model: string, usage: LlmUsage, batched: boolean, ttl: '5m' | '1h' = '5m'): number {
  const price = priceFor(model, usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens);
  const usd =
    (usage.inputTokens * price.input +
      usage.outputTokens * price.output +
      usage.cacheReadTokens * price.cacheRead +
      usage.cacheWriteTokens * (ttl === '1h' ? price.cacheWrite1h : price.cacheWrite5m)) /
    1e6;
  return Number((batched ? usd / 2 : usd).toFixed(6));
}

/**
 * Room for thinking a model cannot be spared (it always thinks, or not at this effort), on top of
 * the answer's own `maxTokens`: thinking counts toward `max_tokens` (build-with-claude/effort).
 */
export const THINKING_ROOM: Readonly<Record<Effort, number>> = {
  low: 8_000,
  medium: 16_000,
  high: 32_000,
  xhigh: 64_000,
  max: 64_000,
};

/** The `max_tokens` a request is sent with: its answer's room, and the thinking room where thinking cannot be turned off. */
export function sentMaxTokens(request: StructuredRequest): number {
  const thinks = request.thinking === 'off' && !thinkingOffParam(request.model, request.effort);
  return request.maxTokens + (thinks ? THINKING_ROOM[request.effort] : 0);
}

/**
 * The most a call can cost before it is made: every input token at the full price (a conservative
 * three characters a token) and every allowed output token.
 */
export function worstCaseUsd(request: StructuredRequest, batched: boolean): number {
  const inputTokens = Math.ceil((request.system.length + request.context.length + request.user.length) / 3);
  const price = priceFor(request.model, inputTokens);
  const usd = (inputTokens * price.cacheWrite1h + sentMaxTokens(request) * price.output) / 1e6;
  return batched ? usd / 2 : usd;
}

/** The smallest prefix the model caches (models.ts); below it a cache breakpoint caches nothing. */
export const cacheMinimum = (model: string) => modelFacts(model).cacheMinimumTokens;
