import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readEnvironment } from '../src/env/environment.js';
import { checkScriptPolicy } from '../src/policy/policy.js';
import { ESCAPES, escapeCorpus } from './helpers/escapes.js';
import { FIXTURES, REPO_ROOT } from './helpers/repo.js';

const python = readEnvironment(process.env, process.cwd()).python;

function fixtureScripts(dir: string) {
  return readdirSync(join(FIXTURES, dir))
    .filter((f) => f.endsWith('.py'))
    .map((f) => {
      const path = join(FIXTURES, dir, f);
      const header = readFileSync(path, 'utf8').split('\n')[0] ?? '';
      return {
        file: f,
        path,
        expectedRule: /^# rule: (\S+)/.exec(header)?.[1],
        allowCupy: header === '# allow_cupy',
      };
    });
}

const hostile = fixtureScripts('hostile');
const escapes = escapeCorpus().map((e) => ({ ...e, path: join(ESCAPES, `${e.name}.py`), allowCupy: false }));
const ordinary = [
  ...fixtureScripts('ordinary'),
  ...readdirSync(join(REPO_ROOT, 'experiments'))
    .filter((f) => f.endsWith('.py'))
    .map((f) => ({
      file: `experiments/${f}`,
      path: join(REPO_ROOT, 'experiments', f),
      allowCupy: false,
    })),
];

// One checker run for every script, as `axiom check` does.
const findings = await checkScriptPolicy(python, [...hostile, ...escapes, ...ordinary]);

describe('script policy', () => {
  it('has at least 25 hostile scripts, each naming the rule it must break', () => {
    expect(hostile.length).toBeGreaterThanOrEqual(25);
    for (const script of hostile) expect(script.expectedRule, script.file).toBeDefined();
  });

  it.each(hostile)('rejects $file with $expectedRule', ({ path, expectedRule }) => {
    const rules = (findings.get(path) ?? []).map((f) => f.rule);
    expect(rules).toContain(expectedRule);
  });

  it.each(ordinary)('passes the ordinary script $file', ({ path }) => {
    expect(findings.get(path)).toEqual([]);
  });

  // The sandbox is the boundary; the policy is the review aid that names what a script tries.
  it.each(escapes.filter((e) => e.policy !== 'none'))(
    'names the escape attempt $name ($category) by one of its rules: $policy',
    ({ path, policy }) => {
      const rules = (findings.get(path) ?? []).map((f) => f.rule);
      expect(rules.filter((r) => policy.split('|').includes(r))).not.toEqual([]);
    },
  );

  it('does not pretend to catch what only the sandbox can stop (a script that just uses too much)', () => {
    const runaways = escapes.filter((e) => e.policy === 'none');
    expect(runaways.map((e) => e.name).sort()).toEqual(['res_huge_file', 'res_memory_hog']);
    for (const { path } of runaways) expect(findings.get(path)).toEqual([]);
  });

  it('reports line, column, rule and message', () => {
    const [finding] = findings.get(join(FIXTURES, 'hostile', 'os_system.py')) ?? [];
    expect(finding).toEqual({
      line: 3,
      col: 1,
      rule: 'process-spawn',
      message: "'os.system' is not allowed (no starting other programs)",
    });
  });

  it('allows cupy only where the manifest asks for a GPU', async () => {
    const path = join(FIXTURES, 'ordinary', 'gpu_fallback.py');
    const withoutGpu = await checkScriptPolicy(python, [{ path, allowCupy: false }]);
    expect(withoutGpu.get(path)?.map((f) => f.rule)).toEqual(['cupy-without-gpu']);
    const withGpu = await checkScriptPolicy(python, [{ path, allowCupy: true }]);
    expect(withGpu.get(path)).toEqual([]);
  });

  it('reports syntax errors and unreadable files as findings instead of failing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'axiom-policy-'));
    const broken = join(dir, 'broken.py');
    writeFileSync(broken, 'import numpy\ndef run(:\n    pass\n');
    const missing = join(dir, 'missing.py');
    const result = await checkScriptPolicy(python, [
      { path: broken, allowCupy: false },
      { path: missing, allowCupy: false },
    ]);
    rmSync(dir, { recursive: true });
    expect(result.get(broken)).toEqual([
      { line: 2, col: 9, rule: 'syntax-error', message: 'not valid Python 3: invalid syntax' },
    ]);
    expect(result.get(missing)?.map((f) => f.rule)).toEqual(['unreadable']);
  });

  it('says clearly when Python is missing', async () => {
    await expect(
      checkScriptPolicy('/nonexistent/python3', [{ path: hostile[0]?.path ?? '', allowCupy: false }]),
    ).rejects.toThrow(/Python not found at "\/nonexistent\/python3"; install python3 or set AXIOM_PYTHON/);
  });
});
