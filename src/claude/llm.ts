import { createHash } from 'node:crypto';
import { AxiomError } from '../errors.js';

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

export type Effort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';

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
  maxTokens: number;
  effort: Effort;
  /** How long a cached prefix is kept: 5 minutes for calls close together, 1 hour for batches. */
  cacheTtl: '5m' | '1h';
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
    template: hash([request.model, request.system, request.schema, request.effort, request.maxTokens]),
    data: hash([request.context, request.user]),
  };
}

/** USD per million tokens: input, output, cache read, cache write (5 minutes; 1 hour costs 1.6×). */
interface Price {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

/**
 * From the published prices (CLAUDE-API-FACTS 4.10, late 2026); re-check against the pricing page.
 * Cache writes are 1.25× input for 5 minutes, 2× for an hour; reads 0.1×.
 */
export const PRICES: Record<string, Price> = {
  'claude-haiku-5-5': { input: 0.1, output: 0.5, cacheRead: 0.01, cacheWrite: 0.125 },
  'claude-sonnet-5-5': { input: 2, output: 10, cacheRead: 0.2, cacheWrite: 2.5 },
  'claude-opus-5-5': { input: 4, output: 20, cacheRead: 0.2, cacheWrite: 5 },
  'claude-fable-5-1': { input: 10, output: 50, cacheRead: 1, cacheWrite: 12.5 },
  'claude-opus-5': { input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25 },
  'claude-sonnet-5': { input: 2, output: 10, cacheRead: 0.2, cacheWrite: 2.5 },
  'claude-haiku-4-5': { input: 1, output: 5, cacheRead: 0.1, cacheWrite: 1.25 },
};

/** A model the table does not know is priced as the most expensive one it does. */
export function priceOf(model: string): Price {
  const known = PRICES[model];
  if (known) return known;
  return Object.values(PRICES).reduce((a, b) => (b.input + b.output > a.input + a.output ? b : a));
}

/** What a call cost; batches are half price. */
export function costUsd(model: string, usage: LlmUsage, batched: boolean, ttl: '5m' | '1h' = '5m'): number {
  const price = priceOf(model);
  const write = ttl === '1h' ? price.cacheWrite * 1.6 : price.cacheWrite;
  const usd =
    (usage.inputTokens * price.input +
      usage.outputTokens * price.output +
      usage.cacheReadTokens * price.cacheRead +
      usage.cacheWriteTokens * write) /
    1e6;
  return Number((batched ? usd / 2 : usd).toFixed(6));
}

/**
 * The most a call can cost before it is made: every input token at the full price (a conservative
 * three characters a token) and every allowed output token.
 */
export function worstCaseUsd(request: StructuredRequest, batched: boolean): number {
  const price = priceOf(request.model);
  const inputTokens = Math.ceil((request.system.length + request.context.length + request.user.length) / 3);
  const usd = (inputTokens * price.cacheWrite * 1.6 + request.maxTokens * price.output) / 1e6;
  return batched ? usd / 2 : usd;
}

/**
 * The smallest prefix a model caches (the prompt-caching page lists 1,024 to 4,096 tokens by
 * model; the 5.x models' minimums could not be confirmed, so they get the largest). Below it a
 * cache breakpoint caches nothing.
 */
export const CACHE_MINIMUM_TOKENS: Record<string, number> = {
  'claude-sonnet-5': 2048,
  'claude-haiku-4-5': 4096,
};
export const cacheMinimum = (model: string) => CACHE_MINIMUM_TOKENS[model] ?? 4096;
