import { describe, expect, it } from 'vitest';
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
