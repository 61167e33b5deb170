// judge-input-tokens-per-result: the input of one Claude judge request (cached rubric, cached
// experiment context, and the result's data block) for results of the ten first-batch experiments,
// measured from the request text at 3 characters per token, a deliberately high count for the
// current tokenizer (about 4 characters per token for English, and up to 30% more tokens on newer
// models).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeResultsTree } from '../test/fixtures/results-tree.mjs';

const TARGET = 3000;
const CHARS_PER_TOKEN = 3;

export async function benchJudgeTokens({ root, log }) {
  const { ClaudeJudge } = await import(join(root, 'dist/collect/claude-judge.js'));
  const { readResearchRecord } = await import(join(root, 'dist/record/research.js'));
  const { SchemaValidator } = await import(join(root, 'dist/schema/validate.js'));
  const experiments = readdirSync(join(root, 'manifests'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5));
  const lab = mkdtempSync(join(tmpdir(), 'axiom-bench-tokens-'));
  try {
    writeResultsTree(lab, { repo: root, experiments, perExperiment: 10 });
    const record = readResearchRecord(lab, new SchemaValidator());
    const judge = new ClaudeJudge({}, { model: 'claude-haiku-5-5', batchFrom: 20 });
    let total = 0;
    let fresh = 0;
    let count = 0;
    for (const experiment of record.experiments)
      for (const result of experiment.results) {
        const request = judge.request({
          resultId: result.id,
          envelope: result.envelope,
          manifest: experiment.manifest,
          checks: [],
        });
        const cached = request.system.length + request.context.length;
        total += (cached + request.user.length + JSON.stringify(request.schema).length) / CHARS_PER_TOKEN;
        fresh += request.user.length / CHARS_PER_TOKEN;
        count += 1;
      }
    const mean = total / count;
    log(
      `${count} requests: ${mean.toFixed(0)} input tokens per result, of which ${(fresh / count).toFixed(0)} not cached`,
    );
    return [
      {
        name: 'judge-input-tokens-per-result',
        value: Math.round(mean),
        unit: 'tokens',
        target: `<= ${TARGET}`,
        pass: mean <= TARGET,
      },
    ];
  } finally {
    rmSync(lab, { recursive: true, force: true });
  }
}
