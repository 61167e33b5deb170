import Anthropic from '@anthropic-ai/sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClaudeLlm } from '../src/claude/claude.js';
import { costUsd, LlmError, type StructuredRequest } from '../src/claude/llm.js';
import { MODELS } from '../src/claude/models.js';
import { ClaudeJudge } from '../src/collect/claude-judge.js';
import { capPerHostDay, type JudgeInput, type Judgement, proposeCredit } from '../src/collect/judge.js';
import { ClaudeStandIn, type MessagesRequest } from './helpers/claude-standin.js';
import { manifestOf } from './helpers/experiments.js';

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

const KEY = 'sk-ant-key';

describe('the Claude implementation of the Llm port', () => {
  let claude: ClaudeStandIn;
  beforeEach(async () => {
    claude = await ClaudeStandIn.start(KEY, () => ({ ok: true }));
  });
  afterEach(async () => {
    claude.verify();
    await claude.close();
  });

  const request: StructuredRequest = {
    id: 'r1',
    model: 'claude-haiku-5-5',
    system: 'rubric '.repeat(100),
    context: 'context',
    user: 'data',
    schema: { type: 'object', additionalProperties: false, properties: {} },
    maxTokens: 100,
    effort: 'low',
    thinking: 'off',
    cacheTtl: '5m',
  };

  it('counts tokens through count_tokens', async () => {
    claude.expect('count_tokens', 1);
    const tokens = await new ClaudeLlm({ apiKey: KEY, baseURL: claude.url }).countTokens(request);
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

  it('checks the stop reason before parsing: a truncated or refused answer is no answer, and still costs', async () => {
    for (const [answer, error] of [
      [{ $stop: 'max_tokens' }, 'the answer was cut off at max_tokens (100)'],
      [{ $stop: 'refusal' }, 'the model declined to answer (refusal)'],
      [{ $stop: 'refusal', category: 'cyber' }, 'the model declined to answer (refusal: cyber)'],
    ] as const) {
      const standIn = await ClaudeStandIn.start(KEY, () => answer);
      try {
        const got = await new ClaudeLlm({ apiKey: KEY, baseURL: standIn.url }).ask(request);
        // Not thinking, the answer itself ran out of room: no retry would mend it.
        expect(got).toMatchObject({ id: 'r1', retry: false, error });
        expect((got as { costUsd: number }).costUsd).toBeGreaterThan(0);
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
    await new ClaudeLlm({ apiKey: KEY, baseURL: claude.url }).ask(strict);
    claude.verify();
    const sent = claude.requests[0]?.body?.output_config?.format?.schema as {
      properties: Record<string, unknown>;
    };
    expect(sent.properties.n).toEqual({ type: 'number', description: '{minimum: 0, maximum: 1}' });
  });
});

/**
 * The documented figures, as read (platform.claude.com/docs/en/...: about-claude/pricing and each
 * model's overview for prices, 2026-10-08; build-with-claude/prompt-caching#cache-limitations for
 * minimums, 2026-10-08): [input, output, cache read, 5-minute write, 1-hour write] USD per million
 * tokens, and the minimum cacheable prompt. Sonnet 5.5's read is the dearer of its two published
 * figures ($0.20 on its model page, $0.10 in the models overview).
 */
const DOCUMENTED: Record<string, [number[], number]> = {
  'claude-haiku-5-5': [[0.1, 0.5, 0.01, 0.125, 0.2], 512],
  'claude-sonnet-5-5': [[2, 10, 0.2, 2.5, 4], 512],
  'claude-opus-5-5': [[4, 20, 0.2, 5, 8], 512],
  'claude-fable-5-1': [[10, 50, 0.25, 12.5, 20], 512],
  'claude-opus-5': [[5, 25, 0.5, 6.25, 10], 512],
  'claude-sonnet-5': [[2, 10, 0.2, 2.5, 4], 1024],
  'claude-haiku-4-5': [[1, 5, 0.1, 1.25, 2], 4096],
};

describe('the model table', () => {
  it('holds the documented prices and cache minimums, with their source, for every model it knows', () => {
    expect(Object.keys(MODELS).sort()).toEqual(Object.keys(DOCUMENTED).sort());
    for (const [model, [prices, minimum]] of Object.entries(DOCUMENTED)) {
      const facts = MODELS[model];
      const { input, output, cacheRead, cacheWrite5m, cacheWrite1h } = facts?.price ?? {};
      expect([input, output, cacheRead, cacheWrite5m, cacheWrite1h], model).toEqual(prices);
      expect(facts?.cacheMinimumTokens, model).toBe(minimum);
      // Each row names its pages: the pricing page or the model's own, and the caching page.
      expect(facts?.source, model).toMatch(/(PRICING|overview).*CACHING/);
    }
    // Haiku 5.5 is priced by prompt length (about-claude/pricing, "Long context pricing").
    expect(MODELS['claude-haiku-5-5']?.longPrompt).toEqual({
      tokens: 100_000,
      price: { input: 0.5, output: 2.5, cacheRead: 0.05, cacheWrite5m: 0.625, cacheWrite1h: 1 },
    });
  });

  it('prices a call from that table: writes by TTL, reads, batches at half price, long Haiku 5.5 prompts, unknown models', () => {
    const usage = { inputTokens: 10_000, outputTokens: 1_000, cacheReadTokens: 0, cacheWriteTokens: 0 };
    // $0.10 and $0.50 per million.
    expect(costUsd('claude-haiku-5-5', usage, false)).toBe(0.0015);
    expect(costUsd('claude-haiku-5-5', usage, true)).toBe(0.00075);
    const cached = { ...usage, inputTokens: 0, cacheWriteTokens: 10_000 };
    expect(costUsd('claude-haiku-5-5', cached, false, '5m')).toBe(0.00175);
    expect(costUsd('claude-haiku-5-5', cached, false, '1h')).toBe(0.0025);
    const read = { ...usage, inputTokens: 0, cacheReadTokens: 10_000 };
    expect(costUsd('claude-haiku-5-5', read, false)).toBe(0.0006);
    // Opus 5.5 reads at 0.05× its input price.
    expect(costUsd('claude-opus-5-5', { ...read, outputTokens: 0 }, false)).toBe(0.002);
    // Past 100,000 prompt tokens (cache reads and writes count), every token of the call pays more.
    const long = { inputTokens: 90_001, outputTokens: 1_000, cacheReadTokens: 10_000, cacheWriteTokens: 0 };
    expect(costUsd('claude-haiku-5-5', long, false)).toBe(
      Number(((90_001 * 0.5 + 1_000 * 2.5 + 10_000 * 0.05) / 1e6).toFixed(6)),
    );
    // A model the table does not know is priced as the dearest it does: Fable 5.1.
    expect(costUsd('some-future-model', usage, false)).toBe(0.15);
  });
});

/** A plausible result of a first-batch experiment, as the judge is given it. */
function judgeInput(resultId: number, experiment = 'cellular_automata'): JudgeInput {
  return {
    resultId,
    manifest: manifestOf(experiment),
    envelope: {
      seed: resultId,
      elapsed_seconds: 540,
      params: {},
      metrics: { best_rule_performance: 0.71, gkl_performance: 0.81, generations: 100 },
      series: { best_fitness: [0.52, 0.61, 0.68, 0.7, 0.71] },
      summary: 'evolved 100 generations',
    },
    checks: [],
    params: {},
  };
}

const VALID = {
  verdict: 'valid',
  plausibility: 0.8,
  rubric: { consistency: 0.8, plausibility: 0.8, completeness: 0.8 },
  evidence: ['best_rule_performance 0.71 is above the 0.65 the trivial rules reach'],
  flags: [],
};

const messagesSent = (claude: ClaudeStandIn) =>
  claude.requests.filter((r) => r.route === 'messages').map((r) => r.body as MessagesRequest);

/** A stand-in for each test of the enclosing block, answering a valid verdict, verified and closed after it. */
function standInPerTest(thinkingTokens?: number): () => ClaudeStandIn {
  let claude: ClaudeStandIn;
  beforeEach(async () => {
    claude = await ClaudeStandIn.start(KEY, () => VALID);
    if (thinkingTokens !== undefined) claude.thinkingTokens = () => thinkingTokens;
  });
  afterEach(async () => {
    claude.verify();
    await claude.close();
  });
  return () => claude;
}

describe("the judge's answers are never cut short by its own thinking", () => {
  // More thinking than the 2,048 tokens the judge gives its answer.
  const standIn = standInPerTest(3_000);
  const judgeWith = (model: string) =>
    new ClaudeJudge(new ClaudeLlm({ apiKey: KEY, baseURL: standIn().url }), { model, batchFrom: 20 });

  it('answers a Haiku 5.5 request that would have thought past max_tokens, with thinking turned off', async () => {
    const claude = standIn();
    claude.expect('messages', 2);
    const judge = judgeWith('claude-haiku-5-5');
    // The request as it was asked before: thinking on (Haiku 5.5's default) fills max_tokens.
    const { thinking: _, ...thinkingOn } = judge.request(judgeInput(1), false, false);
    const cut = await new ClaudeLlm({ apiKey: KEY, baseURL: claude.url }).ask(thinkingOn);
    expect(cut).toMatchObject({ error: 'the answer was cut off at max_tokens (2048)', retry: true });
    expect((cut as { usage: { outputTokens: number } }).usage.outputTokens).toBe(2048);
    // The judge's request now: thinking disabled (accepted at effort high or below), the answer whole.
    const [judged] = await judge.judge([judgeInput(2)]);
    claude.verify();
    expect(judged).toMatchObject({ verdict: 'valid', quality: 0.8, judgedBy: 'claude-haiku-5-5' });
    expect(judged?.provenance?.outputTokens).toBeLessThan(200);
    const sent = messagesSent(claude)[1];
    expect(sent).toMatchObject({ thinking: { type: 'disabled' }, max_tokens: 2048 });
    expect(sent?.output_config?.effort).toBe('low');
  });

  it('asks each model only what it accepts, and leaves room where thinking cannot be turned off', async () => {
    const claude = standIn();
    const expected: Record<string, { thinking?: unknown; max_tokens: number; effort?: string }> = {
      'claude-haiku-5-5': { thinking: { type: 'disabled' }, max_tokens: 2048, effort: 'low' },
      'claude-sonnet-5-5': { thinking: { type: 'between_tools' }, max_tokens: 2048, effort: 'low' },
      'claude-opus-5': { thinking: { type: 'disabled' }, max_tokens: 2048, effort: 'low' },
      'claude-sonnet-5': { thinking: { type: 'disabled' }, max_tokens: 2048, effort: 'low' },
      // Off unless asked, and no effort parameter at all.
      'claude-haiku-4-5': { max_tokens: 2048 },
      // Always thinking: nothing about thinking is sent, and 8,000 tokens of room are added.
      'claude-opus-5-5': { max_tokens: 10_048, effort: 'low' },
      'claude-fable-5-1': { max_tokens: 10_048, effort: 'low' },
    };
    claude.expect('messages', Object.keys(expected).length);
    for (const [model, shape] of Object.entries(expected)) {
      const [judged] = await judgeWith(model).judge([judgeInput(3)]);
      expect(judged, model).toMatchObject({ verdict: 'valid', quality: 0.8 });
      const sent = messagesSent(claude).at(-1);
      expect(sent?.thinking, model).toEqual(shape.thinking);
      expect(sent?.max_tokens, model).toBe(shape.max_tokens);
      expect(sent?.output_config?.effort, model).toBe(shape.effort);
    }
  });

  it('leaves a result for a later run, not suspicious, when an always-thinking model spends its room', async () => {
    const claude = standIn();
    claude.thinkingTokens = () => 20_000;
    claude.expect('messages', 1);
    const [judged] = await judgeWith('claude-opus-5-5').judge([judgeInput(4)]);
    claude.verify();
    expect(judged).toBeUndefined();
  });

  it('refuses, as the API does, a thinking setting or effort the model does not take', async () => {
    const claude = standIn();
    const sdk = new Anthropic({ apiKey: KEY, baseURL: claude.url, maxRetries: 0 });
    const ask = (model: string, extra: Record<string, unknown>) =>
      sdk.messages
        .create({
          model,
          max_tokens: 4096,
          messages: [{ role: 'user', content: 'grade' }],
          output_config: {
            format: { type: 'json_schema', schema: { type: 'object', additionalProperties: false } },
          },
          ...extra,
        } as Anthropic.MessageCreateParamsNonStreaming)
        .then(
          () => 'accepted',
          (e: unknown) =>
            `${(e as InstanceType<typeof Anthropic.APIError>).status} ${(e as { error: { error: { message: string } } }).error.error.message}`,
        );
    const disabled = { thinking: { type: 'disabled' } };
    claude.expect('messages', 7);
    // The documented messages (models/opus-5-5/whats-new-opus-5-5, models/sonnet-5-5/migration-guide).
    expect(await ask('claude-opus-5-5', disabled)).toBe(
      '400 "thinking.type.disabled" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.',
    );
    expect(await ask('claude-sonnet-5-5', disabled)).toBe(
      '400 "thinking.type.disabled" is not supported for this model. Use "thinking.type.between_tools" for the lowest thinking setting, or "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.',
    );
    expect(await ask('claude-haiku-5-5', { thinking: { type: 'enabled', budget_tokens: 2000 } })).toMatch(
      /^400 /,
    );
    expect(
      await ask('claude-haiku-5-5', {
        ...disabled,
        output_config: {
          effort: 'xhigh',
          format: { type: 'json_schema', schema: { type: 'object', additionalProperties: false } },
        },
      }),
    ).toMatch(/^400 /);
    expect(
      await ask('claude-haiku-4-5', {
        output_config: {
          effort: 'low',
          format: { type: 'json_schema', schema: { type: 'object', additionalProperties: false } },
        },
      }),
    ).toMatch(/^400 /);
    expect(await ask('claude-haiku-5-5', disabled)).toBe('accepted');
    expect(await ask('claude-sonnet-5-5', { thinking: { type: 'between_tools' } })).toBe('accepted');
    // Each refusal was also a failure of the test that sent it; here they were the point.
    expect(claude.failures.splice(0)).toHaveLength(5);
  });
});

/** A request whose stable prefix is exactly `tokens` long, as the stand-in counts it. */
function prefixOf(model: string, tokens: number): StructuredRequest {
  const context = 'the experiment';
  let system = 'r'.repeat(tokens * ClaudeStandIn.CHARS_PER_TOKEN);
  while (ClaudeStandIn.tokens([system, context]) > tokens) system = system.slice(1);
  return {
    id: 'p1',
    model,
    system,
    context,
    user: 'data',
    schema: { type: 'object', additionalProperties: false, properties: {} },
    maxTokens: 512,
    effort: 'low',
    thinking: 'off',
    cacheTtl: '5m',
  };
}

describe('the judge caches its prefix where the model caches it', () => {
  const standIn = standInPerTest();

  it("marks a prefix at each model's documented minimum and not below it, and reads it on the next call", async () => {
    const claude = standIn();
    for (const [model, minimum] of [
      ['claude-haiku-5-5', 512],
      ['claude-sonnet-5', 1024],
      ['claude-haiku-4-5', 4096],
    ] as const)
      for (const tokens of [minimum - 1, minimum]) {
        claude.expect('count_tokens', 1).expect('messages', 2);
        const llm = new ClaudeLlm({ apiKey: KEY, baseURL: claude.url });
        const request = prefixOf(model, tokens);
        expect(ClaudeStandIn.tokens([request.system, request.context])).toBe(tokens);
        const first = (await llm.ask(request)) as { usage: { cacheWriteTokens: number } };
        const second = (await llm.ask({ ...request, id: 'p2', user: 'other data' })) as {
          usage: { cacheReadTokens: number };
        };
        claude.verify();
        const marked = messagesSent(claude).at(-1)?.messages[0]?.content[0]?.cache_control;
        if (tokens < minimum) {
          expect(marked, `${model} ${tokens}`).toBeUndefined();
          expect([first.usage.cacheWriteTokens, second.usage.cacheReadTokens]).toEqual([0, 0]);
        } else {
          expect(marked, `${model} ${tokens}`).toEqual({ type: 'ephemeral', ttl: '5m' });
          expect([first.usage.cacheWriteTokens, second.usage.cacheReadTokens]).toEqual([tokens, tokens]);
        }
      }
  });

  it("in a run, the first of an experiment writes, the others read, and a lone experiment's prefix is not marked", async () => {
    const claude = standIn();
    // Counted once: only the experiment with more than one result has its prefix counted and marked.
    claude.expect('count_tokens', 1).expect('messages', 4);
    const judge = new ClaudeJudge(new ClaudeLlm({ apiKey: KEY, baseURL: claude.url }), {
      model: 'claude-haiku-5-5',
      batchFrom: 20,
    });
    const judged = await judge.judge([
      judgeInput(1),
      judgeInput(2),
      judgeInput(3),
      judgeInput(4, 'edge_of_chaos'),
    ]);
    claude.verify();
    const usage = judged.map((j) => [j?.provenance?.cacheWriteTokens, j?.provenance?.cacheReadTokens]);
    const prefix = usage[0]?.[0] as number;
    expect(prefix).toBeGreaterThanOrEqual(512);
    expect(usage).toEqual([
      [prefix, 0],
      [0, prefix],
      [0, prefix],
      [0, 0],
    ]);
    const lone = messagesSent(claude).find((r) => r.messages[0]?.content[0]?.text.includes('edge_of_chaos'));
    expect(lone?.system[0]?.cache_control).toBeUndefined();
  });
});

describe('the judge through the Message Batches API', () => {
  const standIn = standInPerTest(3_000);
  /** Three results of one experiment and one of another, through a batch of four, waiting for it as set up. */
  const run = (claude: ClaudeStandIn) => {
    claude
      .expect('count_tokens', 1)
      .expect('batch_create', 1)
      .expect('batch_retrieve', 3)
      .expect('batch_results', 1);
    return new ClaudeJudge(
      new ClaudeLlm({ apiKey: KEY, baseURL: standIn().url, pollMs: { start: 1, max: 1 } }),
      {
        model: 'claude-haiku-5-5',
        batchFrom: 2,
      },
    ).judge([judgeInput(1), judgeInput(2), judgeInput(3), judgeInput(4, 'edge_of_chaos')]);
  };

  it('caches the shared prefix for an hour, thinks not at all, and pays the batch price', async () => {
    const claude = standIn();
    // One request at a time: what one writes, the later ones read.
    claude.batchConcurrency = 1;
    const judged = await run(claude);
    claude.verify();
    expect(judged.map((j) => j?.verdict)).toEqual(['valid', 'valid', 'valid', 'valid']);
    for (const { params } of claude.batched) {
      expect(params.thinking).toEqual({ type: 'disabled' });
      expect(params.max_tokens).toBe(2048);
    }
    const marks = claude.batched.map((b) => b.params.messages[0]?.content[0]?.cache_control);
    expect(marks).toEqual([...Array(3).fill({ type: 'ephemeral', ttl: '1h' }), undefined]);
    const [first, second] = judged.map((j) => j?.provenance);
    expect(first?.cacheWriteTokens).toBeGreaterThanOrEqual(512);
    expect(second?.cacheReadTokens).toBe(first?.cacheWriteTokens);
    expect(first).toMatchObject({ batched: true, outputTokens: expect.any(Number) });
    // The write at the 1-hour price, all of it at half price.
    const usage = {
      inputTokens: first?.inputTokens ?? 0,
      outputTokens: first?.outputTokens ?? 0,
      cacheReadTokens: 0,
      cacheWriteTokens: first?.cacheWriteTokens ?? 0,
    };
    expect(first?.costUsd).toBe(costUsd('claude-haiku-5-5', usage, true, '1h'));
  });

  it('reads nothing within a batch whose requests all run at once (the stand-in is no kinder than the API)', async () => {
    const claude = standIn();
    const judged = await run(claude);
    claude.verify();
    expect(judged.slice(0, 3).map((j) => j?.provenance?.cacheReadTokens)).toEqual([0, 0, 0]);
    expect(judged.slice(0, 3).every((j) => (j?.provenance?.cacheWriteTokens ?? 0) >= 512)).toBe(true);
  });
});
