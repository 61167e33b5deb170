import { describe, expect, it } from 'vitest';
import { checkDeclaredMetrics, judgeOutcome, shortfall } from '../src/envelope/acceptance.js';
import { blasFamily, withReportedBlas } from '../src/fleet/blas.js';
import type { Manifest } from '../src/manifest/types.js';
import { demonstrationBudget } from '../src/propose/catalogue.js';

const manifest: Manifest = {
  name: 'outcome_test',
  title: 'Outcomes',
  hypothesis: 'The effect shows with enough seeds.',
  script: 'experiments/outcome_test.py',
  run_duration: 600,
  resources: { min_cpus: 1, min_memory_gb: 1, gpu: 'none', os: ['linux'] },
  targets: [{ host: 1 }],
  seed: { base: 1 },
  work: { param: 'seeds', min: 1, max: 100, gflop: 50, base_gflop: 10, openblas: { gflop: 20 } },
  outputs: {
    metrics: {
      effect: { type: 'number', min: 0, max: 10 },
      seeds: { type: 'integer', min: 0, max: 100 },
    },
  },
  preconditions: [{ metric: 'seeds', op: '>=', value: 3 }],
  acceptance: [{ metric: 'effect', op: '>', value: 1 }],
  credit_cap: 10,
  provenance: { designed_by: 'person', author: 'Test' },
};

const ok = (metrics: Record<string, number>) => ({ status: 'ok' as const, metrics });

describe('what a result says of its hypothesis', () => {
  it('is supported when every check of the hypothesis is met and the preconditions are', () => {
    expect(judgeOutcome(ok({ effect: 2, seeds: 3 }), manifest, true)).toMatchObject({
      outcome: 'supported',
      reason: 'every check met',
    });
  });

  it('is not supported only by a check of the hypothesis, naming it', () => {
    expect(judgeOutcome(ok({ effect: 0.5, seeds: 3 }), manifest, true)).toMatchObject({
      outcome: 'not supported',
      reason: 'not met: effect > 1 (found 0.5)',
    });
  });

  it('is inconclusive for too little work, saying how much more was needed, whatever the hypothesis checks say', () => {
    for (const effect of [0.5, 2])
      expect(judgeOutcome(ok({ effect, seeds: 1 }), manifest, true)).toMatchObject({
        outcome: 'inconclusive',
        reason: 'too little work: seeds = 1, needs seeds >= 3: 2 more',
      });
    // A check on the work param among the acceptance checks (manifests before preconditions) counts work too.
    const legacy = {
      ...manifest,
      preconditions: undefined,
      acceptance: [...(manifest.acceptance ?? []), { metric: 'seeds', op: '>=' as const, value: 3 }],
    };
    expect(judgeOutcome(ok({ effect: 2, seeds: 2 }), legacy, true).reason).toBe(
      'too little work: seeds = 2, needs seeds >= 3: 1 more',
    );
    expect(
      judgeOutcome({ status: 'partial', progress: 0.4, metrics: { seeds: 1 } }, manifest, true),
    ).toMatchObject({
      outcome: 'inconclusive',
      reason: 'too little work: the run stopped at its deadline after 40% of its planned work',
    });
  });

  it('is inconclusive when a checked metric was not computed, or there is nothing to judge by', () => {
    expect(judgeOutcome(ok({ seeds: 3 }), manifest, true)).toMatchObject({
      outcome: 'inconclusive',
      reason: 'not computed: effect',
    });
    expect(judgeOutcome(ok({ effect: 2, seeds: 3 }), undefined, true).outcome).toBe('inconclusive');
    expect(judgeOutcome(ok({ effect: 2, seeds: 3 }), manifest, false).reason).toBe('the run did not finish');
  });

  it('says how much more an integer strict bound needs', () => {
    expect(shortfall({ metric: 'runs', op: '>', value: 4 }, 2)).toBe('runs = 2, needs runs > 4: 3 more');
  });

  it('does not count a metric a partial run did not compute as missing; a finished run must report it', () => {
    expect(checkDeclaredMetrics({ status: 'partial', metrics: { seeds: 1 } }, manifest)).toEqual([]);
    expect(checkDeclaredMetrics({ status: 'ok', metrics: { seeds: 1 } }, manifest)).toEqual([
      { rule: 'metric-missing', message: 'metric "effect" is missing' },
    ]);
  });
});

describe("a host's BLAS", () => {
  it('is named from what its client reported', () => {
    expect(
      [
        'openblas-pthread/libblas.so.3',
        'blas/libblas.so.3.11.0',
        'numpy.libs/libopenblas64_p-r0-2f7c42d4.3.18.so',
        'x86_64-linux-gnu/libmkl_rt.so.2',
        undefined,
      ].map(blasFamily),
    ).toEqual(['openblas', 'reference', 'openblas', 'other', undefined]);
  });

  it("comes from the host's latest result, and stays unknown without one", () => {
    const hosts = [1, 2].map((id) => ({ id, cores: 2, memoryGb: 4, os: 'linux' as const, gpus: [] }));
    const reports = [
      { host: 1, blas: 'openblas-pthread/libblas.so.3', receivedAt: '2026-12-01T00:00:00Z' },
      { host: 1, blas: 'blas/libblas.so.3.11.0', receivedAt: '2026-12-02T00:00:00Z' },
    ];
    expect(withReportedBlas(hosts, reports).map((h) => h.blas)).toEqual(['reference', undefined]);
  });
});

describe("a demonstration's budget", () => {
  const benchmark = { fpops: 5e9, cores: 2 };
  it('is the one asked for, raised to what the preconditions need on the slowest target', () => {
    // 3 seeds × 50 + 10 = 160 GFLOP on 1 core at 5e9, in half the budget: 64 s, rounded up to 65.
    expect(demonstrationBudget(manifest, 30, benchmark, 1)).toBe(65);
    expect(demonstrationBudget(manifest, 100, benchmark, 1)).toBe(100);
    // With OpenBLAS: 3 × 20 + 0 = 60 GFLOP: 24 s; the 30 asked for stands.
    expect(demonstrationBudget(manifest, 30, { ...benchmark, blas: 'openblas' as const }, 1)).toBe(30);
    expect(demonstrationBudget(manifest, 900, benchmark, 1)).toBe(600);
  });
});
