// judge-input-tokens-per-result: the input of one Claude judge request (rubric, experiment context,
// the project's own context and the result's data block, plus the output schema) for results of the
// ten first-batch experiments, counted by the real client's countTokens against a local
// count_tokens endpoint that estimates 3 characters per token (deliberately high: about 4 for
// English, and up to 30% more tokens on newer models, CLAUDE-API-FACTS 4.6).
// judge-cost-per-1000-results-usd (and -batched): the judge's own requests for those results, as a
// run of 100 would send them (ClaudeJudge.requests, ClaudeLlm.body with the prefix counted), priced
// by the production cost code (costUsd and the model table of src/claude/models.ts) for the default
// judge model. The answer: a full verdict (five evidence statements, one flag), counted at 3
// characters a token; no thinking tokens, since the request turns thinking off where the model
// allows it (the longest answer the schema allows is reported beside it). Caching, where the
// production body marks the prefix: one at a time, the first request of an experiment writes it and
// the others read it; in a batch, hits are best-effort, "typically 30% to 98%"
// (build-with-claude/batch-processing), and the batched figure takes the 30%.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeResultsTree } from '../test/fixtures/results-tree.mjs';

const TARGET_TOKENS = 3000;
const TARGET_BATCHED_USD = 0.2;
const CHARS_PER_TOKEN = 3;
const MODEL = 'claude-haiku-5-5';
/** The low and high ends of the batch cache hit rates the documentation gives. */
const BATCH_HIT_RATE = 0.3;
const BATCH_HIT_RATE_HIGH = 0.98;

/** A full answer: every rubric score, five evidence statements quoting numbers, and a flag. */
const FULL_ANSWER = {
  verdict: 'valid',
  plausibility: 0.86,
  rubric: { consistency: 0.9, plausibility: 0.85, completeness: 0.8 },
  evidence: [
    'best_rule_performance = 0.712 is above the 0.65 the trivial block-expanding rules reach',
    'gkl_performance = 0.814 sits inside the expected band [0.79, 0.85] for the GKL rule',
    'best_fitness rises from 0.52 to 0.71 over the last five generations, as selection would',
    'generations = 100 is consistent with the 600 s budget for this ring size',
    'test_ics = 10000 matches the number of unbiased initial conditions the context expects',
  ],
  flags: ['best_rule_word0 to best_rule_word3 cannot be checked against the reported performance'],
};
/** The longest answer the verdict schema allows: five evidence statements of 300 characters, five flags of 120. */
const LONGEST_ANSWER = {
  ...FULL_ANSWER,
  evidence: Array(5).fill('e'.repeat(300)),
  flags: Array(5).fill('f'.repeat(120)),
};
const tokensOf = (value) => Math.ceil(JSON.stringify(value).length / CHARS_PER_TOKEN);

async function countTokensServer() {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const { system, messages } = JSON.parse(body);
      const input_tokens = Math.ceil(JSON.stringify([system, messages]).length / CHARS_PER_TOKEN);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ input_tokens }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** The judge's requests for every result of the record, as one run sends them. */
function judgeRequests(judge, record) {
  const inputs = record.experiments.flatMap((experiment) =>
    experiment.results.map((result) => ({
      resultId: result.id,
      envelope: result.envelope,
      manifest: experiment.manifest,
      checks: [],
      params: {},
    })),
  );
  return judge.requests(inputs);
}

/**
 * Each request's tokens and whether the production body marks its prefix for caching: the prompt
 * and the schema, the prefix (rubric and experiment), and the answer's.
 */
async function measure(llm, request) {
  const body = await llm.body(request, true);
  const schema = JSON.stringify(request.schema).length / CHARS_PER_TOKEN;
  return {
    request,
    cached: Boolean(body.messages[0].content[0].cache_control),
    input: (await llm.countTokens(request)) + schema,
    prefix: await llm.countTokens({ ...request, user: '' }),
  };
}

/** What one request costs with its prefix read from the cache, written to it, or neither. */
function priced(costUsd, m, output, batched, cache) {
  const prefix = cache === 'none' ? 0 : m.prefix;
  const usage = {
    inputTokens: Math.round(m.input - prefix),
    outputTokens: output,
    cacheReadTokens: cache === 'read' ? prefix : 0,
    cacheWriteTokens: cache === 'write' ? prefix : 0,
  };
  return costUsd(MODEL, usage, batched, m.request.cacheTtl ?? '5m');
}

/**
 * USD per 1,000 results: one at a time (the first of an experiment writes, the rest read), or
 * batched with `hits` of the marked requests reading and the rest writing (0 with nothing marked).
 */
function per1000(costUsd, measured, output, batched, hits = BATCH_HIT_RATE, marked = true) {
  const seen = new Set();
  const total = measured.reduce((sum, m) => {
    if (!m.cached || !marked) return sum + priced(costUsd, m, output, batched, 'none');
    if (batched)
      return (
        sum +
        hits * priced(costUsd, m, output, true, 'read') +
        (1 - hits) * priced(costUsd, m, output, true, 'write')
      );
    const first = !seen.has(m.request.context);
    seen.add(m.request.context);
    return sum + priced(costUsd, m, output, false, first ? 'write' : 'read');
  }, 0);
  return (total / measured.length) * 1000;
}

export async function benchJudgeTokens({ root, log }) {
  const { ClaudeJudge } = await import(join(root, 'dist/collect/claude-judge.js'));
  const { ClaudeLlm } = await import(join(root, 'dist/claude/claude.js'));
  const { costUsd } = await import(join(root, 'dist/claude/llm.js'));
  const { readResearchRecord } = await import(join(root, 'dist/record/research.js'));
  const { SchemaValidator } = await import(join(root, 'dist/schema/validate.js'));
  const experiments = readdirSync(join(root, 'manifests'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5));
  const lab = mkdtempSync(join(tmpdir(), 'axiom-bench-tokens-'));
  const server = await countTokensServer();
  try {
    writeResultsTree(lab, { repo: root, experiments, perExperiment: 10 });
    const record = readResearchRecord(lab, new SchemaValidator());
    const llm = new ClaudeLlm({ apiKey: 'bench', baseURL: `http://127.0.0.1:${server.address().port}` });
    const judge = new ClaudeJudge(llm, { model: MODEL, batchFrom: 20 });
    const measured = [];
    for (const request of judgeRequests(judge, record)) measured.push(await measure(llm, request));
    const mean = measured.reduce((s, m) => s + m.input, 0) / measured.length;
    const output = tokensOf(FULL_ANSWER);
    const oneByOne = per1000(costUsd, measured, output, false);
    const batched = per1000(costUsd, measured, output, true);
    const longest = per1000(costUsd, measured, tokensOf(LONGEST_ANSWER), true);
    const high = per1000(costUsd, measured, output, true, BATCH_HIT_RATE_HIGH);
    const unmarked = per1000(costUsd, measured, output, true, 0, false);
    const cached = measured.filter((m) => m.cached).length;
    log(
      `${measured.length} requests: ${mean.toFixed(0)} input tokens per result (count_tokens), ${cached} with the prefix marked for caching; ${output} output tokens, no thinking; ${MODEL}: $${oneByOne.toFixed(3)} per 1,000 results one at a time, $${batched.toFixed(3)} batched at ${BATCH_HIT_RATE * 100}% cache hits ($${high.toFixed(3)} at ${BATCH_HIT_RATE_HIGH * 100}%, $${unmarked.toFixed(3)} with nothing cached; $${longest.toFixed(3)} at ${BATCH_HIT_RATE * 100}% with the longest answer the schema allows)`,
    );
    return [
      {
        name: 'judge-input-tokens-per-result',
        value: Math.round(mean),
        unit: 'tokens',
        target: `<= ${TARGET_TOKENS}`,
        pass: mean <= TARGET_TOKENS,
      },
      {
        name: 'judge-cost-per-1000-results-usd',
        value: Number(oneByOne.toFixed(4)),
        unit: 'USD',
        target: 'report',
        pass: true,
      },
      {
        name: 'judge-cost-per-1000-results-usd-batched',
        value: Number(batched.toFixed(4)),
        unit: 'USD',
        target: `<= ${TARGET_BATCHED_USD}`,
        pass: batched <= TARGET_BATCHED_USD,
      },
      {
        name: 'judge-cost-per-1000-results-usd-batched-longest-answer',
        value: Number(longest.toFixed(4)),
        unit: 'USD',
        target: 'report',
        pass: true,
      },
    ];
  } finally {
    server.close();
    rmSync(lab, { recursive: true, force: true });
  }
}
