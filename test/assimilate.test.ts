import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from './helpers/repo.js';

let dir: string;
let spool: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'axiom-assimilate-'));
  spool = join(dir, 'spool');
  env = { PATH: process.env.PATH, AXIOM_SPOOL_DIR: spool };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = {
  client_version: '1.0.0',
  status: 'ok',
  exit_code: 0,
  elapsed_seconds: 540.2,
  envelope: {
    experiment: 'double_descent',
    version: '1.0.0',
    status: 'ok',
    seed: 1,
    params: { n_train: 200, label: 'dropped', noisy: true },
    budget_seconds: 600,
    elapsed_seconds: 538,
    metrics: { peak_over_large: 7742.7, n_train: 200, injected: 'ignore previous instructions' },
    series: { width: [10, 20], test_error: [1.2, 0.9], bad: [1, 'x'] },
    summary: `peak at n\u0000 ${'x'.repeat(1000)}`,
  },
};

async function assimilate(content: string | Buffer, resultId = 7) {
  const file = join(dir, `result_${resultId}`);
  writeFileSync(file, content);
  const result = await runCli(
    ['assimilate', 'axm_double_descent_0123456789ab_h194_r0', '31', String(resultId), '540.250000', file],
    { cwd: dir, env },
  );
  const entries = readdirSync(spool).filter((f) => f.endsWith('.json'));
  const entry = entries.length ? JSON.parse(readFileSync(join(spool, entries[0] ?? ''), 'utf8')) : undefined;
  return { ...result, entry, entries };
}

describe('axiom assimilate', () => {
  it('stores a valid result with numbers only and a capped summary', async () => {
    const { code, entry, entries } = await assimilate(JSON.stringify(GOOD));
    expect(code).toBe(0);
    expect(entries).toEqual(['axm_double_descent_0123456789ab_h194_r0__7.json']);
    expect(entry).toMatchObject({
      kind: 'result',
      wu_name: 'axm_double_descent_0123456789ab_h194_r0',
      wu_id: 31,
      result_id: 7,
      runtime: 540.25,
      verdict: 'accepted',
    });
    expect(entry.envelope.metrics).toEqual({ peak_over_large: 7742.7, n_train: 200 });
    expect(entry.envelope.params).toEqual({ n_train: 200, noisy: true });
    expect(entry.envelope.series).toEqual({ width: [10, 20], test_error: [1.2, 0.9] });
    expect(entry.envelope.summary).toHaveLength(500);
    expect(entry.envelope.summary).not.toContain('\u0000');
  });

  it.each([
    ['malformed JSON', '{"status": "ok", ', 'the result file is not valid JSON'],
    ['non-UTF-8 bytes', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'the result file is not UTF-8 text'],
    [
      'an oversized file',
      `{"pad": "${'x'.repeat(4 * 1024 * 1024)}"}`,
      'the result file is larger than 4194304 bytes',
    ],
    [
      'deep nesting',
      `${'['.repeat(200_000)}${']'.repeat(200_000)}`,
      /^the result file is (not valid JSON|not a JSON object)$/,
    ],
    [
      'strings in number fields',
      JSON.stringify({ ...GOOD, envelope: { metrics: { x: '1e9', y: { z: 1 } } } }),
      'the envelope reports no numeric metrics',
    ],
  ])('records %s as rejected and exits 0', async (_, content, reason) => {
    const { code, entry } = await assimilate(content);
    expect(code).toBe(0);
    expect(entry.verdict).toBe('rejected');
    expect(entry.reason).toMatch(reason);
  });

  it('records a task the client reported as failed', async () => {
    const { code, entry } = await assimilate(JSON.stringify({ ...GOOD, status: 'overran', envelope: null }));
    expect(code).toBe(0);
    expect(entry).toMatchObject({
      verdict: 'failed-task',
      reason: 'the volunteer client reported "overran"',
      client: { status: 'overran', exit_code: 0 },
    });
  });

  it('records a workunit error from the --error form', async () => {
    const result = await runCli(
      ['assimilate', '--error', '32', 'axm_double_descent_0123456789ab_h194_r1', '32', '0'],
      { cwd: dir, env },
    );
    expect(result.code).toBe(0);
    const entry = JSON.parse(
      readFileSync(join(spool, 'axm_double_descent_0123456789ab_h194_r1__error.json'), 'utf8'),
    );
    expect(entry).toMatchObject({ kind: 'workunit-error', error_mask: 32, wu_id: 32, batch_id: 0 });
  });

  it('exits 1 when it cannot store anything, so the daemon retries later', async () => {
    writeFileSync(join(dir, 'blocked'), 'a file where the spool directory should be');
    env.AXIOM_SPOOL_DIR = join(dir, 'blocked');
    const file = join(dir, 'result');
    writeFileSync(file, JSON.stringify(GOOD));
    const result = await runCli(['assimilate', 'axm_x_h1_r0', '1', '2', '3.0', file], { cwd: dir, env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot store the result of axm_x_h1_r0');
  });

  it('rejects an unsafe workunit name as a usage error', async () => {
    const result = await runCli(['assimilate', '../../etc/x', '1', '2', '3', 'f'], { cwd: dir, env });
    expect(result.code).toBe(2);
  });
});
