import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GITHUB_DIFF_LIMITS } from '../src/record/layout.js';
import { git, makeCollectLab, measureResultsBranches } from './fixtures/collect-lab.mjs';
import { REPO_ROOT, runCli } from './helpers/repo.js';

// The collect-10k benchmark's lab, through the real CLI: every pull request the run opens must be
// one GitHub shows whole, and together they must hold every result exactly once.
const dir = mkdtempSync(join(tmpdir(), 'axiom-volume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a collection run of 10,000 results', () => {
  it('is proposed as pull requests that each stay within what GitHub shows, holding every result once', async () => {
    const lab = makeCollectLab({ root: REPO_ROOT, dir, results: 10_000 });
    const run = await runCli(['collect', '--run', '2026-11-25T120000Z', '--json'], {
      cwd: lab.clone,
      env: { PATH: process.env.PATH, HOME: dir, AXIOM_SPOOL_DIR: lab.spool, AXIOM_FORGE: 'local' },
    });
    expect(run.code, run.stderr.slice(0, 2000)).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.collected).toHaveLength(10_000);
    const measured = measureResultsBranches(lab.origin);
    expect(measured.length).toBe(report.batches.length);
    expect(measured.length).toBeGreaterThan(1);
    for (const m of measured) {
      expect({ branch: m.branch, within: true }).toEqual({
        branch: m.branch,
        within:
          m.files <= GITHUB_DIFF_LIMITS.files &&
          m.images <= GITHUB_DIFF_LIMITS.images &&
          m.lines <= GITHUB_DIFF_LIMITS.lines &&
          m.bytes <= GITHUB_DIFF_LIMITS.bytes,
      });
      // What collect said of each batch is what git measures, within the diff headers' few bytes.
      const said = report.batches.find((b: { branch: string }) => b.branch === m.branch);
      expect(said.size.files).toBe(m.files);
      expect(said.size.images).toBe(m.images);
      expect(Math.abs(said.size.lines - m.lines)).toBeLessThanOrEqual(said.size.files);
      expect(Math.abs(said.size.bytes - m.bytes) / m.bytes).toBeLessThan(0.02);
    }
    // Every result in exactly one batch's credit file and data file, each batch with its plot.
    const credited: number[] = [];
    const recorded: number[] = [];
    for (const batch of report.batches as { batch: string; branch: string }[]) {
      const credit = parse(git(lab.origin, 'show', `${batch.branch}:results/credit/${batch.batch}.yaml`));
      credited.push(...credit.entries.map((e: { result: number }) => e.result));
      const data = git(lab.origin, 'show', `${batch.branch}:results/bench_mean/${batch.batch}.jsonl`);
      recorded.push(
        ...data
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l).result),
      );
      expect(
        git(
          lab.origin,
          'ls-tree',
          '--name-only',
          batch.branch,
          `results/bench_mean/${batch.batch}-plot-1.svg`,
        ),
      ).not.toBe('');
    }
    const all = Array.from({ length: 10_000 }, (_, i) => i + 1);
    expect(credited.sort((a, b) => a - b)).toEqual(all);
    expect(recorded.sort((a, b) => a - b)).toEqual(all);
    // The flagged results come first in each review.
    const first = report.batches[0] as { batch: string; branch: string };
    const review = git(lab.origin, 'show', `${first.branch}:results/bench_mean/${first.batch}.md`);
    expect(review.indexOf('## Flagged results')).toBeLessThan(review.indexOf('## All results'));
    expect(review).toContain('### Result 1: invalid, credit 0');
  }, 240_000);
});
