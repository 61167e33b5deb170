import { describe, expect, it } from 'vitest';
import type { Collected } from '../src/collect/record.js';
import { resultsBody } from '../src/collect/results.js';
import { outcomeOf } from '../src/envelope/acceptance.js';
import { loadManifest } from '../src/manifest/load.js';
import type { Manifest } from '../src/manifest/types.js';
import { proposalBody } from '../src/propose/propose.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { REPO_ROOT } from './helpers/repo.js';

const validator = new SchemaValidator();
const manifest = loadManifest(REPO_ROOT, 'manifests/double_descent.yaml', validator).manifest as Manifest;
const BATCH = '2026-12-02T120000Z';

/** One collected result of double_descent, as collect makes it, reporting the given headline. */
function collected(resultId: number, host: number, largeOverClassical: number): Collected {
  const envelope = {
    experiment: 'double_descent',
    status: 'ok' as const,
    seed: resultId,
    budget_seconds: 600,
    elapsed_seconds: 410,
    params: { n_train: 200 },
    metrics: {
      large_over_classical_min: largeOverClassical,
      peak_over_large: 26.3,
      n_train: 200,
      peak_width: 193,
      peak_width_ratio: 0.965,
      train_error_large: 5.7e-29,
      seeds: 5,
    },
    series: {},
    summary: 'test error peaks at p = n',
  };
  const eligible = true;
  return {
    resultId,
    workunit: `axm_double_descent_38f4627f5706_h${host}_r0`,
    experiment: 'double_descent',
    host,
    user: 3,
    team: 0,
    receivedAt: '2026-12-02T11:00:00.000Z',
    envelope,
    manifest,
    checks: [{ rule: 'schema', passed: true, eligibility: true }],
    eligible,
    judgement: {
      verdict: 'valid',
      quality: 1,
      evidence: ['every check passed'],
      flags: [],
      judgedBy: 'rules',
    },
    outcome: outcomeOf(envelope, manifest, true),
    credit: 50,
    runtimeSeconds: 412.5,
    manifestCommit: '7d4731a0b01c3e4e7807e3a4683a454cbb165ba5',
    scriptSha256: '38f4627f5706a10bc91ae70c21b340fb3b7a1352eaee2843a2926061ffac216e',
    isolation: 'sandbox',
  };
}

function body(items: Collected[]): string {
  return resultsBody(
    {
      batch: BATCH,
      part: 1,
      parts: 1,
      items,
      files: [{ path: `results/double_descent/${BATCH}-plot-1.svg`, content: '<svg/>' }],
      size: { files: 4, images: 1, lines: 10, bytes: 1000 },
      notes: [],
    },
    BATCH,
    'rules',
    [],
  );
}

describe('pull request bodies, as a reviewer reads them', () => {
  it('pins a results pull request whose result supports its hypothesis', async () => {
    const item = collected(1001, 194, 0.65);
    expect(item.outcome).toBe('supported');
    await expect(body([item])).toMatchFileSnapshot('fixtures/bodies/results-supported.md');
  });

  it('pins a results pull request whose result does not, shown apart from what it is paid', async () => {
    const item = collected(1002, 141, 1.4);
    expect(item.outcome).toBe('not supported');
    expect(item.judgement.verdict).toBe('valid');
    const text = body([item]);
    expect(text).toContain('**0 supported, 1 not supported, 0 inconclusive** of 1 result on 1 host.');
    await expect(text).toMatchFileSnapshot('fixtures/bodies/results-not-supported.md');
  });

  it('pins a proposal with its checks, reported metrics, workunits, smoke numbers, literature and files', async () => {
    const text = proposalBody({
      name: 'double_descent',
      manifest,
      manifestText: '',
      script: 'print(1)\n',
      scriptSha256: '38f4627f5706a10bc91ae70c21b340fb3b7a1352eaee2843a2926061ffac216e',
      fit: [{ host: { id: 194, cores: 128, memoryGb: 62, os: 'linux', gpus: [] }, why: '128 cores ≥ 2' }],
      plan: {
        experiment: 'double_descent',
        file: 'manifests/double_descent.yaml',
        script: 'experiments/double_descent.py',
        scriptSha256: '38f4627f5706a10bc91ae70c21b340fb3b7a1352eaee2843a2926061ffac216e',
        runDuration: 600,
        workunits: [
          {
            name: 'axm_double_descent_38f4627f5706_h194_r0',
            host: 194,
            replica: 0,
            seed: 1,
            cpus: 16,
            memoryGb: 2,
            params: { n_train: 200 },
          },
        ],
        hosts: [194],
        cpuHours: 2.7,
        creditCap: 50,
      },
      smoke: {
        status: 'ok',
        elapsedSeconds: 5.3,
        metrics: { large_over_classical_min: 0.65, seeds: 2 },
        message: '',
      },
    });
    for (const part of [
      '- `large_over_classical_min < 1`: the second descent ends below the best underparameterised error',
      '| `large_over_classical_min` (headline) | number |',
      '| `axm_double_descent_38f4627f5706_h194_r0` | 194 | 1 | 16 | 2 GB | `{"n_train":200}` | no benchmark |',
      'Smoke run: **ok** in 5.3 s',
      '- Belkin, Hsu, Ma and Mandal 2019',
      '- `experiments/double_descent.py`: 1 line, sha256',
    ])
      expect(text).toContain(part);
    await expect(text).toMatchFileSnapshot('fixtures/bodies/proposal.md');
  });
});
