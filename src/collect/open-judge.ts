import type { Environment } from '../env/environment.js';
import { ClaudeJudge } from './claude-judge.js';
import { type ResultJudge, RulesJudge } from './judge.js';

/** Claude when an API key is configured, else the deterministic rules alone. */
export async function openJudge(claude: Environment['claude']): Promise<ResultJudge> {
  if (!claude.apiKey) return new RulesJudge();
  // The SDK is loaded only when Claude is used.
  const { ClaudeLlm } = await import('../claude/claude.js');
  const llm = new ClaudeLlm({
    apiKey: claude.apiKey,
    ...(claude.baseUrl ? { baseURL: claude.baseUrl } : {}),
    ...(claude.batchPollMs ? { pollMs: { start: claude.batchPollMs, max: claude.batchPollMs * 8 } } : {}),
  });
  return new ClaudeJudge(llm, { model: claude.judgeModel, batchFrom: claude.judgeBatchFrom });
}
