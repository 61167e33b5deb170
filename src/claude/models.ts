/**
 * What each Claude model costs, caches and accepts, from Anthropic's documentation. One row per
 * model id; every figure names its page and the date the stored copy was read. Re-check against
 * the live pages (and `client.models.list()`, whose `capabilities.thinking.types` says which
 * thinking settings a model accepts) before relying on a row.
 *
 * Pages (platform.claude.com/docs/en/...), read as stored:
 * - PRICING: about-claude/pricing ("Model pricing"; batch 50% off; cache writes 1.25× input for
 *   5 minutes, 2× for an hour; hits 0.1× except Fable 5.1 0.025×, Opus 5.5 and Sonnet 5.5 0.05×),
 *   and each model's page (models/<id>/overview, "Pricing"), read 2026-10-08.
 * - CACHING: build-with-claude/prompt-caching#cache-limitations: "512 tokens for Claude Fable 5.1,
 *   Claude Mythos 5.1, Claude Opus 5.5, Claude Opus 5, Claude Sonnet 5.5, Claude Fable 5, Claude
 *   Mythos 5, and Claude Haiku 5.5"; 1,024 for Claude Sonnet 5; 4,096 for Claude Haiku 4.5; read
 *   2026-10-08. "Shorter prompts cannot be cached ... no error is returned."
 * - THINKING: build-with-claude/thinking (per-model table, read 2026-10-02), build-with-claude/effort
 *   ("Thinking is on by default and counts toward max_tokens"), models/haiku-5-5/whats-new-haiku-5-5
 *   (thinking off with `disabled` at high effort or below; a budget is a 400), models/opus-5-5/
 *   whats-new-opus-5-5 (thinking can't be disabled), models/sonnet-5-5/migration-guide (fetched
 *   2026-09-29: `between_tools` at low, medium and high effort; `disabled` is a 400).
 */

export type Effort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';
export const EFFORTS: readonly Effort[] = ['low', 'medium', 'high', 'xhigh', 'max'];

/** USD per million tokens. */
export interface Price {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
}

/**
 * How a request runs without up-front thinking: `omit` (the model thinks only when asked), a
 * `thinking.type` it accepts up to an effort level, or `never` (it always thinks).
 */
export type ThinkingOff =
  | { how: 'omit' }
  | { how: 'disabled' | 'between_tools'; upTo: Effort }
  | { how: 'never' };

export interface ModelFacts {
  price: Price;
  /** A prompt (input, cache reads and writes) longer than `tokens` pays `price` on every token of its request. */
  longPrompt?: { tokens: number; price: Price };
  /** The shortest prefix the model caches; below it a cache breakpoint caches nothing and costs nothing. */
  cacheMinimumTokens: number;
  thinkingOff: ThinkingOff;
  /** Whether `output_config.effort` is accepted (a model without effort support refuses it). */
  effort: boolean;
  /** Where this row comes from, where its sources disagree, and which value was taken. */
  source: string;
}

/** A row as the pricing page prints it: input, output, cache read, 5-minute write, 1-hour write. */
const price = (
  input: number,
  output: number,
  cacheRead: number,
  cacheWrite5m: number,
  cacheWrite1h: number,
): Price => ({
  input,
  output,
  cacheRead,
  cacheWrite5m,
  cacheWrite1h,
});

export const MODELS: Readonly<Record<string, ModelFacts>> = {
  'claude-haiku-5-5': {
    price: price(0.1, 0.5, 0.01, 0.125, 0.2),
    longPrompt: { tokens: 100_000, price: price(0.5, 2.5, 0.05, 0.625, 1) },
    cacheMinimumTokens: 512,
    thinkingOff: { how: 'disabled', upTo: 'high' },
    effort: true,
    source:
      'models/haiku-5-5/overview (released 2026-10-07): $0.10/$0.50, 5m write $0.125, 1h write $0.20, read $0.01 up to 100,000-token prompts; $0.50/$2.50, $0.625, $1, $0.05 above; CACHING; THINKING; read 2026-10-08',
  },
  'claude-sonnet-5-5': {
    price: price(2, 10, 0.2, 2.5, 4),
    cacheMinimumTokens: 512,
    thinkingOff: { how: 'between_tools', upTo: 'high' },
    effort: true,
    source:
      'models/sonnet-5-5/overview: $2/$10, writes $2.50/$4, read $0.20; the models overview (2026-10-08) gives reads at 0.05× ($0.10, cut on 2026-10-07): the dearer $0.20 is kept; CACHING; THINKING',
  },
  'claude-opus-5-5': {
    price: price(4, 20, 0.2, 5, 8),
    cacheMinimumTokens: 512,
    thinkingOff: { how: 'never' },
    effort: true,
    source:
      'models/opus-5-5/overview and PRICING: $4/$20, writes $5/$8, read $0.20 (0.05×); CACHING; THINKING',
  },
  'claude-fable-5-1': {
    price: price(10, 50, 0.25, 12.5, 20),
    cacheMinimumTokens: 512,
    thinkingOff: { how: 'never' },
    effort: true,
    source:
      'PRICING: $10/$50, writes $12.50/$20, read $0.25 (0.025×); CACHING; THINKING ("Adaptive (always on)")',
  },
  'claude-opus-5': {
    price: price(5, 25, 0.5, 6.25, 10),
    cacheMinimumTokens: 512,
    thinkingOff: { how: 'disabled', upTo: 'high' },
    effort: true,
    source: 'models/opus-5/overview and PRICING: $5/$25, writes $6.25/$10, read $0.50; CACHING; THINKING',
  },
  'claude-sonnet-5': {
    price: price(2, 10, 0.2, 2.5, 4),
    cacheMinimumTokens: 1024,
    thinkingOff: { how: 'disabled', upTo: 'max' },
    effort: true,
    source: 'PRICING: $2/$10, writes $2.50/$4, read $0.20; CACHING (1,024); THINKING',
  },
  'claude-haiku-4-5': {
    price: price(1, 5, 0.1, 1.25, 2),
    cacheMinimumTokens: 4096,
    thinkingOff: { how: 'omit' },
    effort: false,
    source:
      'PRICING: $1/$5, writes $1.25/$2, read $0.10; CACHING (4,096); THINKING (off unless asked; effort "Not supported" in the models overview)',
  },
};

/** The dearest row with the largest cache minimum: what a model this table does not know is taken to be. */
const UNKNOWN: ModelFacts = {
  price: Object.values(MODELS)
    .map((m) => m.price)
    .reduce((a, b) => (b.input + b.output > a.input + a.output ? b : a)),
  cacheMinimumTokens: Math.max(...Object.values(MODELS).map((m) => m.cacheMinimumTokens)),
  thinkingOff: { how: 'never' },
  effort: true,
  source:
    'not in the table: priced as the dearest known model, cached from the largest minimum, assumed to think',
};

export const modelFacts = (model: string): ModelFacts => MODELS[model] ?? UNKNOWN;

/** The price a request pays, by the length of its prompt where the model prices by length. */
export function priceFor(model: string, promptTokens: number): Price {
  const facts = modelFacts(model);
  return facts.longPrompt && promptTokens > facts.longPrompt.tokens ? facts.longPrompt.price : facts.price;
}

const effortRank = (effort: Effort) => EFFORTS.indexOf(effort);

/**
 * The `thinking` field that makes a request run without up-front thinking: `{}` when leaving it out
 * does, `undefined` when the model thinks anyway at this effort.
 */
export function thinkingOffParam(
  model: string,
  effort: Effort,
): { thinking?: { type: 'disabled' | 'between_tools' } } | undefined {
  const rule = modelFacts(model).thinkingOff;
  if (rule.how === 'omit') return {};
  if (rule.how === 'never' || effortRank(effort) > effortRank(rule.upTo)) return undefined;
  return { thinking: { type: rule.how } };
}
