import { join } from 'node:path';
import type { Environment } from '../env/environment.js';
import { ClaudeJudge } from './claude-judge.js';
import { type ResultJudge, RulesJudge } from './judge.js';
import { PrintingJudge } from './print-requests.js';

/** Where a message batch's id waits until its results are in: beside the spool it judges. */
export const batchStatePath = (spoolDir: string) => join(spoolDir, 'claude-batches.json');

/** A batch still running after this long is cancelled; its unanswered results wait for the next run. */
const DEFAULT_BATCH_DEADLINE_S = 5 * 3600;

/**
 * Claude when an API key is configured, else the deterministic rules alone. `print`: a judge that
 * asks nothing and prints the requests it would send.
 */
export async function openJudge(
  claude: Environment['claude'],
  options: { spoolDir?: string; log?: (line: string) => void; print?: (line: string) => void } = {},
): Promise<ResultJudge> {
  if (!claude.apiKey) return new RulesJudge();
  // The SDK is loaded only when Claude is used.
  const { ClaudeLlm } = await import('../claude/claude.js');
  const llm = new ClaudeLlm({
    apiKey: claude.apiKey,
    ...(claude.baseUrl ? { baseURL: claude.baseUrl } : {}),
    ...(claude.batchPollMs ? { pollMs: { start: claude.batchPollMs, max: claude.batchPollMs * 8 } } : {}),
    ...(claude.maxUsd !== undefined ? { maxUsd: claude.maxUsd } : {}),
    ...(options.spoolDir ? { batchStatePath: batchStatePath(options.spoolDir) } : {}),
    batchDeadlineMs: (claude.batchDeadlineSeconds ?? DEFAULT_BATCH_DEADLINE_S) * 1000,
    ...(options.log ? { log: options.log } : {}),
  });
  const judge = new ClaudeJudge(llm, { model: claude.judgeModel, batchFrom: claude.judgeBatchFrom });
  if (options.print) return new PrintingJudge(judge, (r) => llm.body(r), options.print);
  return judge;
}
