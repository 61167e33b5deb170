import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClaudeLlm } from '../src/claude/claude.js';
import { costUsd, LlmError } from '../src/claude/llm.js';
import { capPerHostDay, type Judgement, proposeCredit } from '../src/collect/judge.js';
import { ClaudeStandIn } from './helpers/claude-standin.js';

const judgement = (verdict: Judgement['verdict'], quality: number): Judgement => ({
  verdict,
  quality,
  evidence: [],
  flags: [],
  judgedBy: 'test',
});

describe('credit in code', () => {
  it('is the cap times quality, rounded, and nothing a judge says raises it', () => {
    expect(proposeCredit(50, judgement('valid', 0.82), true)).toBe(41);
    expect(proposeCredit(50, judgement('valid', 7), true)).toBe(50);
    expect(proposeCredit(50, judgement('valid', Number.NaN), true)).toBe(0);
    expect(proposeCredit(50, judgement('valid', -1), true)).toBe(0);
    expect(proposeCredit(50, judgement('suspicious', 1), true)).toBe(0);
    expect(proposeCredit(50, judgement('valid', 1), false)).toBe(0);
  });

  it('holds each host to its daily limit, counting what was proposed before, and says so', () => {
    const items = [
      { host: 60, day: '2026-11-25', credit: 40, flags: [] as string[] },
      { host: 60, day: '2026-11-25', credit: 40, flags: [] as string[] },
      { host: 60, day: '2026-11-26', credit: 40, flags: [] as string[] },
      { host: 267, day: '2026-11-25', credit: 40, flags: [] as string[] },
    ];
    capPerHostDay(items, new Map([['60 2026-11-25', 30]]), 100);
    expect(items.map((i) => i.credit)).toEqual([40, 30, 40, 40]);
    expect(items[1]?.flags).toEqual(['host 60 reached its 100 credit for 2026-11-25; 40 cut to 30']);
    expect(items[0]?.flags).toEqual([]);
  });
});

describe('the Claude implementation of the Llm port', () => {
  let claude: ClaudeStandIn;
  beforeEach(async () => {
    claude = await ClaudeStandIn.start('sk-ant-key', () => ({ ok: true }));
  });
  afterEach(async () => {
    claude.verify();
    await claude.close();
  });

  const request = {
    id: 'r1',
    model: 'claude-haiku-5-5',
    system: 'rubric '.repeat(100),
    context: 'context',
    user: 'data',
    schema: { type: 'object', additionalProperties: false, properties: {} },
    maxTokens: 100,
    effort: 'low' as const,
    cacheTtl: '5m' as const,
  };

  it('counts tokens through count_tokens', async () => {
    claude.expect('count_tokens', 1);
    const tokens = await new ClaudeLlm({ apiKey: 'sk-ant-key', baseURL: claude.url }).countTokens(request);
    claude.verify();
    expect(tokens).toBeGreaterThan(100);
  });

  it('turns a refused key into an LlmError with the status', async () => {
    const error = await new ClaudeLlm({ apiKey: 'wrong', baseURL: claude.url })
      .ask(request)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmError);
    expect((error as LlmError).status).toBe(401);
    expect((error as LlmError).fatal).toBe(true);
    expect((error as Error).message).toBe('ANTHROPIC_API_KEY was refused (401)');
  });

  it('prices calls per model, batches at half price, unknown models as the dearest', () => {
    const usage = { inputTokens: 1_000_000, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
    expect(costUsd('claude-haiku-5-5', usage, false)).toBe(0.1);
    expect(costUsd('claude-haiku-5-5', usage, true)).toBe(0.05);
    // The dearest known: Fable 5.1 at $10 per million input tokens.
    expect(costUsd('some-future-model', usage, false)).toBe(10);
  });

  it('checks the stop reason before parsing: a truncated or refused answer is no answer, and still costs', async () => {
    for (const stop of ['max_tokens', 'refusal'] as const) {
      const standIn = await ClaudeStandIn.start('sk-ant-key', () => ({ $stop: stop }));
      try {
        const answer = await new ClaudeLlm({ apiKey: 'sk-ant-key', baseURL: standIn.url }).ask(request);
        expect(answer).toMatchObject({ id: 'r1', retry: false });
        expect((answer as { error: string }).error).toBe(
          stop === 'max_tokens'
            ? 'the answer was cut off at max_tokens (100)'
            : 'the model declined to answer (refusal)',
        );
        expect((answer as { costUsd: number }).costUsd).toBeGreaterThan(0);
      } finally {
        await standIn.close();
      }
    }
  });

  it('sends the schema the API accepts: the SDK moves unsupported keywords into descriptions', async () => {
    claude.expect('messages', 1);
    const strict = {
      ...request,
      schema: {
        type: 'object',
        additionalProperties: false,
        required: ['n'],
        properties: { n: { type: 'number', minimum: 0, maximum: 1 }, s: { type: 'string', maxLength: 3 } },
      },
    };
    await new ClaudeLlm({ apiKey: 'sk-ant-key', baseURL: claude.url }).ask(strict);
    claude.verify();
    const sent = claude.requests[0]?.body?.output_config?.format?.schema as {
      properties: Record<string, unknown>;
    };
    expect(sent.properties.n).toEqual({ type: 'number', description: '{minimum: 0, maximum: 1}' });
  });

  it('marks a prefix for caching only when it is long enough to be cached, counted with count_tokens', async () => {
    const long = { ...request, system: 'rubric '.repeat(3000) };
    claude.expect('count_tokens', 1).expect('messages', 2);
    const llm = new ClaudeLlm({ apiKey: 'sk-ant-key', baseURL: claude.url });
    const first = await llm.ask(long);
    const second = await llm.ask({ ...long, id: 'r2', user: 'other data' });
    claude.verify();
    expect(claude.requests.find((r) => r.route === 'messages')?.body?.system[0]?.cache_control).toEqual({
      type: 'ephemeral',
      ttl: '5m',
    });
    expect((first as { usage: { cacheWriteTokens: number } }).usage.cacheWriteTokens).toBeGreaterThan(4096);
    expect((second as { usage: { cacheReadTokens: number } }).usage.cacheReadTokens).toBeGreaterThan(4096);
    // A short prefix is not counted and not marked.
    claude.expect('messages', 1);
    await llm.ask(request);
    expect(claude.requests.filter((r) => r.route === 'count_tokens')).toHaveLength(1);
    expect(claude.requests.at(-1)?.body?.system[0]?.cache_control).toBeUndefined();
  });
});
