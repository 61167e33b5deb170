import { closeSync, mkdtempSync, openSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRepo, manifestYaml, OK_SCRIPT, runCli } from './helpers/repo.js';

const outside: string[] = [];
afterEach(() => {
  for (const dir of outside.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function outsideDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'axiom-outside-'));
  outside.push(dir);
  return dir;
}

async function check(root: string) {
  const result = await runCli(['check', '--json'], { cwd: root });
  return { code: result.code, report: JSON.parse(result.stdout) };
}

describe('axiom check reads only what is in the repository, and nothing too large', () => {
  it('refuses a script that is a symlink out of the repository, and plans nothing from it', async () => {
    const dir = outsideDir();
    writeFileSync(join(dir, 'elsewhere.py'), OK_SCRIPT);
    const root = makeRepo({ 'manifests/linked.yaml': manifestYaml('linked') });
    symlinkSync(join(dir, 'elsewhere.py'), join(root, 'experiments/linked.py'));
    const { code, report } = await check(root);
    expect(code).toBe(1);
    expect(report.plans).toEqual([]);
    const problem = report.problems.find((p: { file: string }) => p.file === 'experiments/linked.py');
    expect(problem).toMatchObject({ rule: 'file', severity: 'error' });
    expect(problem.message).toContain('a symlink that leads outside the repository');
    // The policy never read it: no policy finding names it.
    expect(report.problems.filter((p: { rule: string }) => p.rule.startsWith('policy/'))).toEqual([]);
  });

  it('refuses a manifest that links to a huge file elsewhere without reading it', async () => {
    const dir = outsideDir();
    const huge = join(dir, 'huge.yaml');
    closeSync(openSync(huge, 'w'));
    truncateSync(huge, 3 * 1024 ** 3); // 3 GiB, sparse: no disk used, but every byte would be read
    const root = makeRepo({ 'experiments/big.py': OK_SCRIPT });
    symlinkSync(huge, join(root, 'manifests/big.yaml'));
    const started = Date.now();
    const { code, report } = await check(root);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(code).toBe(1);
    expect(report.problems.find((p: { file: string }) => p.file === 'manifests/big.yaml')?.message).toContain(
      'outside the repository',
    );
  });

  it('refuses a script in the repository that is larger than 1 MiB, unread', async () => {
    const root = makeRepo({
      'manifests/padded.yaml': manifestYaml('padded'),
      'experiments/padded.py': `${OK_SCRIPT}\n# ${'x'.repeat(1024 * 1024)}\n`,
    });
    const { code, report } = await check(root);
    expect(code).toBe(1);
    expect(report.problems.find((p: { file: string }) => p.file === 'experiments/padded.py')).toMatchObject({
      rule: 'file',
      message: expect.stringMatching(/^larger than 1048576 bytes/),
    });
  });

  it('still checks a symlink that stays inside the repository', async () => {
    const root = makeRepo({
      'manifests/inner.yaml': manifestYaml('inner'),
      'experiments/real_inner.py': OK_SCRIPT,
    });
    symlinkSync(join(root, 'experiments/real_inner.py'), join(root, 'experiments/inner.py'));
    const { report } = await check(root);
    expect(report.problems.filter((p: { file: string; severity: string }) => p.severity === 'error')).toEqual(
      [],
    );
  });
});
