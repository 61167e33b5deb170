// judge-input-tokens-per-result: the input of one Claude judge request (rubric, experiment context,
// the project's own context and the result's data block, plus the output schema) for results of the
// ten first-batch experiments, counted by the real client's countTokens against a local
// count_tokens endpoint that estimates 3 characters per token (deliberately high: about 4 for
// English, and up to 30% more tokens on newer models, CLAUDE-API-FACTS 4.6).
// judge-cost-per-1000-results-usd (and -batched): from those counts and the price table of
// src/claude/llm.ts for the default judge model, with an answer of at most 700 output tokens
// (the verdict JSON and low-effort thinking); the judge's prefix is shorter than any model caches,
// so no cache reads are counted.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeResultsTree } from '../test/fixtures/results-tree.mjs';

const TARGET = 3000;
const CHARS_PER_TOKEN = 3;
const OUTPUT_TOKENS = 700;
const MODEL = 'claude-haiku-5-5';

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
    let total = 0;
    let count = 0;
    for (const experiment of record.experiments)
      for (const result of experiment.results) {
        const request = judge.request({
          resultId: result.id,
          envelope: result.envelope,
          manifest: experiment.manifest,
          checks: [],
          params: {},
        });
        total += (await llm.countTokens(request)) + JSON.stringify(request.schema).length / CHARS_PER_TOKEN;
        count += 1;
      }
    const mean = total / count;
    const usage = {
      inputTokens: Math.round(mean),
      outputTokens: OUTPUT_TOKENS,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    };
    const per1000 = costUsd(MODEL, usage, false) * 1000;
    const per1000Batched = costUsd(MODEL, usage, true) * 1000;
    log(
      `${count} requests: ${mean.toFixed(0)} input tokens per result (count_tokens); ${MODEL}: $${per1000.toFixed(3)} per 1,000 results, $${per1000Batched.toFixed(3)} batched`,
    );
    return [
      {
        name: 'judge-input-tokens-per-result',
        value: Math.round(mean),
        unit: 'tokens',
        target: `<= ${TARGET}`,
        pass: mean <= TARGET,
      },
      {
        name: 'judge-cost-per-1000-results-usd',
        value: Number(per1000.toFixed(4)),
        unit: 'USD',
        target: 'report',
        pass: true,
      },
      {
        name: 'judge-cost-per-1000-results-usd-batched',
        value: Number(per1000Batched.toFixed(4)),
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
