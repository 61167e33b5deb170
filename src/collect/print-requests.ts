import { estimateTokens } from '../claude/estimate.js';
import { worstCaseUsd } from '../claude/llm.js';
import type { ClaudeJudge } from './claude-judge.js';
import type { JudgeInput, Judgement, ResultJudge } from './judge.js';

/** A request body as the API would receive it, built offline. */
export type BodyOf = (request: ReturnType<ClaudeJudge['request']>) => Promise<Record<string, unknown>>;

/**
 * A judge that asks nothing: it prints, one JSON line each, the exact request every eligible result
 * would be sent, with an estimate of its input tokens and its most expensive cost, and judges none
 * (so nothing is collected from such a run).
 */
export class PrintingJudge implements ResultJudge {
  readonly printed: { requests: number; estimatedInputTokens: number; worstCaseUsd: number } = {
    requests: 0,
    estimatedInputTokens: 0,
    worstCaseUsd: 0,
  };

  constructor(
    private readonly inner: ClaudeJudge,
    private readonly bodyOf: BodyOf,
    private readonly write: (line: string) => void,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  async judge(inputs: readonly JudgeInput[]): Promise<(Judgement | undefined)[]> {
    const requests = this.inner.requests(inputs);
    const batched = requests.length >= this.inner.batchFrom;
    for (const request of requests) {
      const tokens = estimateTokens(`${request.system}${request.context}${request.user}`);
      const worst = worstCaseUsd(request, batched);
      this.printed.requests += 1;
      this.printed.estimatedInputTokens += tokens;
      this.printed.worstCaseUsd += worst;
      this.write(
        `${JSON.stringify({ custom_id: request.id, batched, estimated_input_tokens: tokens, worst_case_usd: Number(worst.toFixed(6)), params: await this.bodyOf(request) })}\n`,
      );
    }
    return inputs.map(() => undefined);
  }
}
