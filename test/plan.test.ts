import { describe, expect, it } from 'vitest';
import { benchmarkOf } from '../src/boinc/rows.js';
import type { Host } from '../src/fleet/types.js';
import { hostShortfalls } from '../src/manifest/fit.js';
import type { Manifest } from '../src/manifest/types.js';
import { WorkunitName } from '../src/workunit/name.js';
import { planManifest } from '../src/workunit/plan.js';

const hosts = new Map<number, Host>([
  [1, { id: 1, cores: 64, memoryGb: 128, os: 'linux', gpus: [] }],
  [
    2,
    {
      id: 2,
      cores: 4,
      memoryGb: 8,
      os: 'windows',
      gpus: [{ vendor: 'nvidia', model: 'RTX 3060', count: 1 }],
    },
  ],
]);

function manifest(seed: Manifest['seed'], maxCpus?: number): Manifest {
  return {
    name: 'seed_test',
    title: 'Seeds',
    hypothesis: 'Seeds follow the policy.',
    script: 'experiments/seed_test.py',
    run_duration: 900,
    resources: { min_cpus: 1, min_memory_gb: 1, gpu: 'none', os: ['linux', 'windows'], max_cpus: maxCpus },
    targets: [
      { host: 1, replicas: 3, params: { width: 10 } },
      { host: 2, replicas: 2 },
    ],
    seed,
    outputs: { metrics: { x: { type: 'number' } } },
    credit_cap: 20,
    provenance: { designed_by: 'person', author: 'Test' },
  };
}

const SHA = 'ab'.repeat(32);

describe('planManifest', () => {
  it('names workunits after experiment, script hash, host and replica', () => {
    expect(WorkunitName.format({ experiment: 'seed_test', scriptSha: SHA, host: 296, replica: 4 })).toBe(
      'axm_seed_test_abababababab_h296_r4',
    );
  });

  it.each([
    ['per_replica', [100, 101, 102, 100, 101]],
    ['unique', [100, 101, 102, 103, 104]],
    ['fixed', [100, 100, 100, 100, 100]],
  ] as const)('gives %s seeds', (policy, seeds) => {
    const plan = planManifest('manifests/seed_test.yaml', manifest({ policy, base: 100 }), SHA, hosts);
    expect(plan.workunits.map((w) => w.seed)).toEqual(seeds);
  });

  it('wraps seeds into 31 bits', () => {
    const plan = planManifest('m', manifest({ policy: 'unique', base: 2 ** 31 - 2 }), SHA, hosts);
    expect(plan.workunits.map((w) => w.seed)).toEqual([2 ** 31 - 2, 2 ** 31 - 1, 0, 1, 2]);
  });

  it('counts CPU-hours from the cores each host is given, capped by max_cpus', () => {
    const all = planManifest('m', manifest({ policy: 'fixed', base: 0 }), SHA, hosts);
    expect(all.workunits.map((w) => w.cpus)).toEqual([64, 64, 64, 4, 4]);
    expect(all.cpuHours).toBeCloseTo(((3 * 64 + 2 * 4) * 900) / 3600, 9);
    const capped = planManifest('m', manifest({ policy: 'fixed', base: 0 }, 8), SHA, hosts);
    expect(capped.workunits.map((w) => w.cpus)).toEqual([8, 8, 8, 4, 4]);
    expect(capped.creditCap).toBe(100);
    expect(capped.hosts).toEqual([1, 2]);
    expect(capped.workunits[0]?.params).toEqual({ width: 10 });
  });
});

describe('hostShortfalls', () => {
  it('lists everything a host lacks', () => {
    const resources = { min_cpus: 8, min_memory_gb: 16, gpu: 'required', os: ['linux'] } as const;
    expect(hostShortfalls(hosts.get(1) as Host, { ...resources, os: ['linux'] })).toEqual([
      'has no GPU, the manifest requires one',
    ]);
    expect(hostShortfalls(hosts.get(2) as Host, { ...resources, os: ['linux'] })).toEqual([
      'has 4 cores, needs at least 8',
      'has 8 GB of memory, needs at least 16 GB',
      'runs windows, the manifest allows linux',
    ]);
  });
});

describe('the seed policy without one written', () => {
  it('is fixed for several targets, so every host checks the others, and per_replica for one', () => {
    const several = planManifest('m', manifest({ base: 5 }), SHA, hosts);
    expect(several.workunits.map((w) => w.seed)).toEqual([5, 5, 5, 5, 5]);
    const one = planManifest(
      'm',
      { ...manifest({ base: 5 }), targets: [{ host: 1, replicas: 3 }] },
      SHA,
      hosts,
    );
    expect(one.workunits.map((w) => w.seed)).toEqual([5, 6, 7]);
  });
});

describe('work sizing', () => {
  // Host 1 does 2e9 operations a second per core, host 2 5e9; host 3 has no benchmark.
  const fleet = new Map<number, Host>([
    [1, { id: 1, cores: 8, memoryGb: 16, os: 'linux', gpus: [], fpops: 2e9 }],
    [2, { id: 2, cores: 16, memoryGb: 16, os: 'linux', gpus: [], fpops: 5e9 }],
    [3, { id: 3, cores: 4, memoryGb: 16, os: 'linux', gpus: [] }],
  ]);
  const sized = (work: Manifest['work'], targets: Manifest['targets'], extra: Partial<Manifest> = {}) =>
    planManifest(
      'm',
      {
        ...manifest({ base: 1 }),
        run_duration: 600,
        targets,
        work,
        ...extra,
        resources: { ...manifest({ base: 1 }).resources, max_cpus: 8 },
      },
      SHA,
      fleet,
    );
  const work = { param: 'seeds', min: 2, max: 10_000, gflop: 10, base_gflop: 20 };

  it('gives every same-seed replica the work its slowest host does in half the budget', () => {
    const plan = sized(work, [
      { host: 1, params: { width: 3 } },
      { host: 2, params: { width: 3 } },
    ]);
    // Host 1: 8 cores × 2e9 × 300 s = 4800 GFLOP, less 20 of set-up, in units of 10: 478 (300 s on host 1, 120 s on host 2).
    expect(plan.workunits.map((w) => [w.host, w.seed, w.params])).toEqual([
      [1, 1, { width: 3, seeds: 478 }],
      [2, 1, { width: 3, seeds: 478 }],
    ]);
    expect(plan.workunits.map((w) => w.plannedSeconds)).toEqual([300, 120]);
    expect(plan.work).toMatchObject([{ param: 'seeds', units: 478, slowest: 1, hosts: [1, 2] }]);
    expect(plan.workProblems).toBeUndefined();
  });

  it('sizes different computations apart, keeps a target’s own value, and stays within min and max', () => {
    const plan = sized({ ...work, max: 1000, max_cores: 2 }, [
      { host: 1, params: { width: 3 } },
      { host: 2, params: { width: 4 } },
      { host: 1, params: { width: 5, seeds: 7 } },
    ]);
    expect(plan.workunits.map((w) => w.params.seeds)).toEqual([118, 298, 7]);
    const capped = sized({ ...work, max: 100 }, [{ host: 2 }]);
    expect(capped.workunits[0]?.params.seeds).toBe(100);
    expect(capped.work?.[0]?.reason).toMatch(/the most the manifest allows \(100\)/);
  });

  it('sizes a host without a benchmark at 1e9 per core, with no planned time to judge it by', () => {
    const plan = sized(work, [{ host: 3 }]);
    // 4 cores × 1e9 × 300 s = 1200 GFLOP, less 20, in units of 10: 118.
    expect(plan.workunits[0]).toMatchObject({ params: { seeds: 118 } });
    expect(plan.workunits[0]?.plannedSeconds).toBeUndefined();
    expect(plan.work?.[0]?.reason).toContain('no benchmark, 1 GFLOPS per core assumed');
  });

  it('names a host whose fewest units do not fit in the deadline', () => {
    const plan = sized({ ...work, min: 1000 }, [{ host: 1 }, { host: 3 }]);
    expect(plan.workProblems).toEqual([
      {
        message:
          'host 3 would need about 2505 s for 1000 seeds (at the assumed speed), past 85% of the 600 s deadline',
        benchmarked: false,
      },
    ]);
  });
});

describe('the work a host is planned, by its BLAS and the preconditions', () => {
  const fleet = new Map<number, Host>([
    [1, { id: 1, cores: 2, memoryGb: 8, os: 'linux', gpus: [], fpops: 5e9 }],
    [2, { id: 2, cores: 2, memoryGb: 8, os: 'linux', gpus: [], fpops: 5e9, blas: 'openblas' }],
    [3, { id: 3, cores: 2, memoryGb: 8, os: 'linux', gpus: [], fpops: 5e9, blas: 'other' }],
  ]);
  const work = { param: 'seeds', min: 1, max: 10_000, gflop: 100, openblas: { gflop: 25 } };
  const plan = (targets: Manifest['targets'], extra: Partial<Manifest> = {}, w = work) =>
    planManifest(
      'm',
      { ...manifest({ base: 1, policy: 'unique' }), run_duration: 600, targets, work: w, ...extra },
      SHA,
      fleet,
    );

  it("costs a host's work with OpenBLAS where its last result ran on it, and with the reference BLAS otherwise", () => {
    // 2 cores × 5e9 × 300 s = 3000 GFLOP: 30 units at 100 (reference, and an unknown or other BLAS), 120 at 25.
    const sized = plan([{ host: 1 }, { host: 2 }, { host: 3 }]);
    expect(sized.workunits.map((w) => [w.host, w.params.seeds, w.plannedSeconds])).toEqual([
      [1, 30, 300],
      [2, 120, 300],
      [3, 30, 300],
    ]);
    expect(sized.work?.[1]?.reason).toContain('OpenBLAS');
    // Same-seed replicas get the units of the slowest by its BLAS: the reference host's 30.
    const fixed = plan([{ host: 1 }, { host: 2 }], { seed: { base: 1, policy: 'fixed' } });
    expect(fixed.workunits.map((w) => [w.host, w.params.seeds, w.plannedSeconds])).toEqual([
      [1, 30, 300],
      [2, 30, 75],
    ]);
  });

  it('never plans fewer units than the preconditions need, and says why', () => {
    const needy = plan([{ host: 1 }], {
      run_duration: 60,
      preconditions: [{ metric: 'seeds', op: '>=', value: 5 }],
    });
    // 60 s would give 3; the precondition needs 5.
    expect(needy.workunits[0]?.params.seeds).toBe(5);
    expect(needy.work?.[0]?.reason).toBe('the fewest that make a result (5, what the preconditions need)');
    expect(needy.preconditionProblems).toBeUndefined();
    // The old spelling, a check on the work param among the acceptance checks, counts the same.
    const legacy = plan([{ host: 1 }], {
      run_duration: 60,
      acceptance: [{ metric: 'seeds', op: '>', value: 6 }],
    });
    expect(legacy.workunits[0]?.params.seeds).toBe(7);
  });

  it('names a workunit whose planned work cannot meet a precondition: a target that sets it, or a max below it', () => {
    const preconditions = [{ metric: 'seeds', op: '>=' as const, value: 5 }];
    const own = plan([{ host: 1, params: { seeds: 2 } }], { preconditions });
    expect(own.preconditionProblems).toEqual([
      'host 1 gets seeds = 2, which cannot meet the precondition seeds >= 5: its results could only be inconclusive',
    ]);
    const capped = plan([{ host: 1 }], { preconditions }, { ...work, max: 3 });
    expect(capped.preconditionProblems).toHaveLength(1);
  });
});

describe("BOINC's benchmark of a host", () => {
  it('is p_fpops, except the 1e9 a client reports when its benchmark has not run', () => {
    expect([7.65e9, 1e9, 0, null, 'x'].map(benchmarkOf)).toEqual([
      7.65e9,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe('cores on Windows', () => {
  it('are at most 61, the most workers a process pool takes there', () => {
    const big = new Map<number, Host>([
      [1, { id: 1, cores: 192, memoryGb: 256, os: 'windows', gpus: [] }],
      [2, { id: 2, cores: 192, memoryGb: 256, os: 'linux', gpus: [] }],
    ]);
    const m = { ...manifest({ base: 1 }), targets: [{ host: 1 }, { host: 2 }] };
    expect(planManifest('m', m, SHA, big).workunits.map((w) => w.cpus)).toEqual([61, 192]);
  });
});

describe('cores and memory by the memory model', () => {
  // Like the first batch's host 296 (240 cores, 189 GB) and a small host (32 cores, 16 GB).
  const fleet = new Map<number, Host>([
    [296, { id: 296, cores: 240, memoryGb: 189, os: 'linux', gpus: [], fpops: 5e9 }],
    [7, { id: 7, cores: 32, memoryGb: 16, os: 'linux', gpus: [], fpops: 5e9 }],
    [8, { id: 8, cores: 4, memoryGb: 1, os: 'linux', gpus: [], fpops: 5e9 }],
  ]);
  const withMemory = (memory: NonNullable<Manifest['resources']['memory']>, targets: Manifest['targets']) => {
    const base = manifest({ base: 1, policy: 'unique' });
    return planManifest(
      'm',
      {
        ...base,
        run_duration: 600,
        targets,
        resources: { ...base.resources, max_cpus: undefined, memory },
        work: { param: 'seeds', min: 2, max: 1_000_000, gflop: 10 },
      },
      SHA,
      fleet,
    );
  };

  it('gives a 240-core host all its cores and 240 cores of work when the memory fits', () => {
    const plan = withMemory({ base_gb: 0.2, per_cpu_gb: 0.1, max_gb: 64 }, [{ host: 296 }]);
    const [wu] = plan.workunits;
    expect(wu).toMatchObject({ cpus: 240, memoryGb: 24.2 });
    // 240 cores × 5e9 × 300 s = 360,000 GFLOP in units of 10.
    expect(wu?.params.seeds).toBe(36_000);
  });

  it('gives no more cores than fit in max_gb and in half the host memory, and sizes the work for those', () => {
    const capped = withMemory({ base_gb: 0.2, per_cpu_gb: 0.1, max_gb: 8 }, [{ host: 296 }, { host: 7 }]);
    // max_gb 8: (8 - 0.2) / 0.1 = 78 cores; host 7: half of 16 GB is 8 GB as well, but it has 32 cores.
    expect(capped.workunits.map((w) => [w.host, w.cpus, w.memoryGb])).toEqual([
      [296, 78, 8],
      [7, 32, 3.4],
    ]);
    expect(capped.workunits.map((w) => w.params.seeds)).toEqual([11_700, 4_800]);
    const halved = withMemory({ base_gb: 0.5, per_cpu_gb: 0.5, max_gb: 64 }, [{ host: 7 }]);
    // Half of 16 GB is 8 GB: (8 - 0.5) / 0.5 = 15 cores.
    expect(halved.workunits[0]).toMatchObject({ cpus: 15, memoryGb: 8 });
  });

  it('keeps the plain min_memory_gb without a model', () => {
    const base = manifest({ base: 1 });
    const plan = planManifest('m', { ...base, targets: [{ host: 1 }] }, SHA, hosts);
    expect(plan.workunits[0]).toMatchObject({ cpus: 64, memoryGb: 1 });
  });

  it('names a host too small for the model at min_cpus', () => {
    const resources = {
      ...manifest({ base: 1 }).resources,
      min_cpus: 2,
      memory: { base_gb: 0.3, per_cpu_gb: 0.2, max_gb: 4 },
    };
    expect(hostShortfalls(fleet.get(8) as Host, resources)).toEqual([
      "would have 0.5 GB for the run (the manifest's max_gb, or half its 1 GB, BOINC's default while the computer is in use), needs 0.7 GB at 2 cores",
      "would not be sent the workunit: its 1 GB memory bound is above the 0.9 GB (90% of 1 GB) BOINC's scheduler lets one task use by default",
    ]);
    expect(hostShortfalls(fleet.get(7) as Host, resources)).toEqual([]);
  });

  it('names a host with just min_memory_gb, which BOINC’s scheduler would never send the workunit', () => {
    const resources = { ...manifest({ base: 1 }).resources, min_memory_gb: 16 };
    expect(hostShortfalls(fleet.get(7) as Host, resources)).toEqual([
      "would not be sent the workunit: its 16 GB memory bound is above the 14.4 GB (90% of 16 GB) BOINC's scheduler lets one task use by default",
    ]);
    expect(hostShortfalls(fleet.get(7) as Host, { ...resources, min_memory_gb: 14 })).toEqual([]);
  });
});
