import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readResearchRecord } from '../src/record/research.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { writeResultsTree } from './fixtures/results-tree.mjs';
import { REPO_ROOT, runCli } from './helpers/repo.js';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const RUN = '2026-11-25T120000Z';
const EXPERIMENTS = ['double_descent', 'lottery_ticket'];

/** What the record says, independent of where it is stored. */
function contentOf(root: string) {
  const record = readResearchRecord(root, new SchemaValidator());
  return record.experiments.map((e) => ({
    name: e.name,
    results: e.results.map((r) => ({
      id: r.id,
      envelope: r.envelope,
      review: r.review && { ...r.review, batch: undefined },
      credit: r.credit,
    })),
  }));
}

describe('axiom migrate', () => {
  it('rewrites the folder-per-result record into batches, keeping every result and review, once', async () => {
    const root = mkdtempSync(join(tmpdir(), 'axiom-migrate-'));
    made.push(root);
    writeResultsTree(root, {
      repo: REPO_ROOT,
      experiments: EXPERIMENTS,
      perExperiment: 5,
      layout: 'folders',
    });
    writeFileSync(join(root, 'results/double_descent/overview-1.svg'), '<svg/>');
    const before = contentOf(root);
    expect(before.flatMap((e) => e.results)).toHaveLength(10);

    const dry = await runCli(['migrate', '--root', root, '--dry-run', '--json'], { cwd: root });
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ moved: 10, dryRun: true });
    expect(existsSync(join(root, 'results/double_descent/1000/review.json'))).toBe(true);

    const done = await runCli(['migrate', '--root', root, '--json'], { cwd: root });
    expect(done.code, done.stderr).toBe(0);
    const report = JSON.parse(done.stdout);
    expect(report.written.sort()).toEqual(
      EXPERIMENTS.flatMap((e) => [`results/${e}/${RUN}.jsonl`, `results/${e}/${RUN}.md`]).sort(),
    );
    expect(report.removed).toContain('results/double_descent/overview-1.svg');
    for (const e of EXPERIMENTS)
      expect(readdirSync(join(root, 'results', e)).sort()).toEqual([`${RUN}.jsonl`, `${RUN}.md`]);
    // The same results, reviews and merged credit, now each in its batch.
    expect(contentOf(root)).toEqual(before);
    const after = readResearchRecord(root, new SchemaValidator());
    expect(after.problems).toEqual([]);
    expect(after.experiments[0]?.results[0]).toMatchObject({
      batch: RUN,
      source: { file: `results/double_descent/${RUN}.jsonl`, line: 1 },
    });

    const again = await runCli(['migrate', '--root', root, '--json'], { cwd: root });
    expect(JSON.parse(again.stdout)).toMatchObject({ moved: 0, written: [], removed: [] });
  });

  it('leaves a result without a readable review in place and says so', async () => {
    const root = mkdtempSync(join(tmpdir(), 'axiom-migrate-'));
    made.push(root);
    writeResultsTree(root, {
      repo: REPO_ROOT,
      experiments: ['double_descent'],
      perExperiment: 2,
      layout: 'folders',
    });
    writeFileSync(join(root, 'results/double_descent/1001/review.json'), '{"verdict": "valid"}');
    const result = await runCli(['migrate', '--root', root], { cwd: root });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('left in place: result 1001 of double_descent: no readable review.json');
    expect(existsSync(join(root, 'results/double_descent/1001/result.json'))).toBe(true);
    expect(existsSync(join(root, 'results/double_descent/1000'))).toBe(false);
  });
});
