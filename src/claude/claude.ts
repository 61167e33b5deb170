import Anthropic from '@anthropic-ai/sdk';
import {
  costUsd,
  type FailedAnswer,
  type Llm,
  LlmError,
  type LlmUsage,
  promptHash,
  type StructuredAnswer,
  type StructuredRequest,
} from './llm.js';

export interface ClaudeOptions {
  apiKey: string;
  /** The API root; a local stand-in in tests. */
  baseURL?: string;
  /** Waits between polls of a running batch: start, growing by half each poll up to max. */
  pollMs?: { start: number; max: number };
  timeoutMs?: number;
}

interface WireUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

function usageOf(usage: WireUsage | undefined): LlmUsage {
  return {
    inputTokens: usage?.input_tokens ?? 0,
    outputTokens: usage?.output_tokens ?? 0,
    cacheReadTokens: usage?.cache_read_input_tokens ?? 0,
    cacheWriteTokens: usage?.cache_creation_input_tokens ?? 0,
  };
}

/** The text of the answer: structured output arrives as one text block of JSON. */
function answerText(content: readonly { type: string; text?: string }[]): string {
  return content
    .filter((b) => b.type === 'text')
    .map((b) => b.text ?? '')
    .join('');
}

/**
 * Claude through the official SDK: structured output with `output_config.format` (no forced tool
 * use, no temperature), the system prompt and stable context marked for caching, retries left to
 * the SDK, and its errors turned into LlmError here.
 */
export class ClaudeLlm implements Llm {
  private readonly client: Anthropic;
  private readonly poll: { start: number; max: number };

  constructor(options: ClaudeOptions) {
    this.client = new Anthropic({
      apiKey: options.apiKey,
      ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      maxRetries: 2,
      timeout: options.timeoutMs ?? 120_000,
    });
    this.poll = options.pollMs ?? { start: 5_000, max: 60_000 };
  }

  private params(request: StructuredRequest) {
    return {
      model: request.model,
      max_tokens: request.maxTokens,
      system: [
        {
          type: 'text' as const,
          text: request.system,
          cache_control: { type: 'ephemeral' as const, ttl: '1h' as const },
        },
      ],
      messages: [
        {
          role: 'user' as const,
          content: [
            {
              type: 'text' as const,
              text: request.context,
              cache_control: { type: 'ephemeral' as const, ttl: '1h' as const },
            },
            { type: 'text' as const, text: request.user },
          ],
        },
      ],
      output_config: {
        format: { type: 'json_schema' as const, schema: request.schema },
        effort: 'low' as const,
      },
    };
  }

  private answer(request: StructuredRequest, message: Anthropic.Message, batched: boolean): StructuredAnswer {
    if (message.stop_reason !== 'end_turn')
      throw new LlmError(`the answer to ${request.id} stopped early (${message.stop_reason})`);
    let value: unknown;
    try {
      value = JSON.parse(answerText(message.content as { type: string; text?: string }[]));
    } catch {
      throw new LlmError(`the answer to ${request.id} is not JSON`);
    }
    const usage = usageOf(message.usage as WireUsage);
    return {
      id: request.id,
      value,
      model: message.model,
      promptHash: promptHash(request),
      usage,
      costUsd: costUsd(message.model, usage, batched),
      batched,
    };
  }

  async ask(request: StructuredRequest): Promise<StructuredAnswer> {
    const message = await this.call(() => this.client.messages.parse(this.params(request)));
    return this.answer(request, message as Anthropic.Message, false);
  }

  async askBatch(requests: readonly StructuredRequest[]): Promise<(StructuredAnswer | FailedAnswer)[]> {
    const byId = new Map(requests.map((r) => [r.id, r]));
    let batch = await this.call(() =>
      this.client.messages.batches.create({
        requests: requests.map((r) => ({ custom_id: r.id, params: this.params(r) })),
      }),
    );
    let wait = this.poll.start;
    while (batch.processing_status !== 'ended') {
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(this.poll.max, Math.round(wait * 1.5));
      const id = batch.id;
      batch = await this.call(() => this.client.messages.batches.retrieve(id));
    }
    const answers = new Map<string, StructuredAnswer | FailedAnswer>();
    const id = batch.id;
    for await (const item of await this.call(() => this.client.messages.batches.results(id))) {
      const request = byId.get(item.custom_id);
      if (!request) continue; // not one of ours: ignored, never trusted
      if (item.result.type !== 'succeeded') {
        answers.set(item.custom_id, { id: item.custom_id, error: `the batch request ${item.result.type}` });
        continue;
      }
      try {
        answers.set(item.custom_id, this.answer(request, item.result.message as Anthropic.Message, true));
      } catch (error) {
        answers.set(item.custom_id, { id: item.custom_id, error: (error as Error).message });
      }
    }
    return requests.map(
      (r) => answers.get(r.id) ?? { id: r.id, error: 'the batch returned no result for it' },
    );
  }

  async countTokens(request: StructuredRequest): Promise<number> {
    const { model, system, messages } = this.params(request);
    const counted = await this.call(() => this.client.messages.countTokens({ model, system, messages }));
    return counted.input_tokens;
  }

  /** The SDK's errors, by class, become LlmErrors that keep the status and the API's error type. */
  private async call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (error instanceof Anthropic.AuthenticationError)
        throw new LlmError('ANTHROPIC_API_KEY was refused', 401, 'authentication_error', { cause: error });
      if (error instanceof Anthropic.RateLimitError)
        throw new LlmError('the Claude API rate limit held after retries', 429, 'rate_limit_error', {
          cause: error,
        });
      if (error instanceof Anthropic.APIError)
        throw new LlmError(
          `the Claude API answered ${error.status ?? 'without a status'}: ${error.message}`,
          error.status,
          error.type ?? undefined,
          {
            cause: error,
          },
        );
      throw error;
    }
  }
}
