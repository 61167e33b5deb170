import { createHash } from 'node:crypto';
import { AxiomError } from '../errors.js';

/** Tokens one call used, as the API reports them. */
export interface LlmUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

/**
 * One structured question: `system` and `context` are stable across calls and cached; `user`
 * changes per call. The answer must match `schema` (JSON Schema, object at the top).
 */
export interface StructuredRequest {
  id: string;
  model: string;
  system: string;
  context: string;
  user: string;
  schema: Record<string, unknown>;
  maxTokens: number;
}

export interface StructuredAnswer {
  id: string;
  /** The parsed answer; untrusted until the caller has validated it. */
  value: unknown;
  model: string;
  promptHash: string;
  usage: LlmUsage;
  costUsd: number;
  batched: boolean;
}

/** A request that got no usable answer; the caller decides what that means (never credit). */
export interface FailedAnswer {
  id: string;
  error: string;
}

/** The `Llm` port: structured answers from a model, one at a time or as a batch. */
export interface Llm {
  ask(request: StructuredRequest): Promise<StructuredAnswer>;
  /** Half price, slower: answers by id; requests that failed come back as FailedAnswer. */
  askBatch(requests: readonly StructuredRequest[]): Promise<(StructuredAnswer | FailedAnswer)[]>;
  countTokens(request: StructuredRequest): Promise<number>;
}

/** The model API refused or failed; `status` and `type` are the API's own. */
export class LlmError extends AxiomError {
  override name = 'LlmError';
  constructor(
    message: string,
    readonly status?: number,
    readonly type?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Identifies the exact prompt a verdict came from, without storing it. */
export function promptHash(
  request: Pick<StructuredRequest, 'model' | 'system' | 'context' | 'user' | 'schema'>,
): string {
  const text = JSON.stringify([request.model, request.system, request.context, request.user, request.schema]);
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** USD per million tokens: input, output, cache read, cache write (1 h). */
interface Price {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

// From the published prices (late 2026); re-check against the pricing page before relying on them.
const PRICES: Record<string, Price> = {
  'claude-haiku-5-5': { input: 0.1, output: 0.5, cacheRead: 0.01, cacheWrite: 0.2 },
  'claude-sonnet-5-5': { input: 2, output: 10, cacheRead: 0.2, cacheWrite: 4 },
  'claude-opus-5-5': { input: 4, output: 20, cacheRead: 0.2, cacheWrite: 8 },
  'claude-sonnet-5': { input: 2, output: 10, cacheRead: 0.2, cacheWrite: 4 },
  'claude-haiku-4-5': { input: 1, output: 5, cacheRead: 0.1, cacheWrite: 2 },
};

/** What a call cost; batches are half price. Unknown models are priced as the most expensive known one. */
export function costUsd(model: string, usage: LlmUsage, batched: boolean): number {
  const price = PRICES[model] ?? (PRICES['claude-opus-5-5'] as Price);
  const usd =
    (usage.inputTokens * price.input +
      usage.outputTokens * price.output +
      usage.cacheReadTokens * price.cacheRead +
      usage.cacheWriteTokens * price.cacheWrite) /
    1e6;
  return Number((batched ? usd / 2 : usd).toFixed(6));
}
