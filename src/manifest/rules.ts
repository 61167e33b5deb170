import { basename } from 'node:path';
import type { RepoConfig } from '../config/config.js';
import type { Host } from '../fleet/types.js';
import type { Problem } from '../problems.js';
import { formatPath } from '../schema/validate.js';
import type { DocPath } from '../yaml/document.js';
import { hostShortfalls, memoryOf } from './fit.js';
import type { ValidManifest } from './load.js';
import type { Manifest } from './types.js';

/** What the rules that look beyond one manifest need to know. */
export interface RuleContext {
  config: RepoConfig;
  /** The fleet's hosts by id; undefined when the fleet could not be read (host rules are skipped). */
  hosts?: ReadonlyMap<number, Host>;
  fleetLabel: string;
  /** Whether a path relative to the repository root is an existing file. */
  fileExists(path: string): boolean;
  /** Every manifest name in the repository, with the files that use it. */
  namesInRepo: ReadonlyMap<string, readonly string[]>;
}

type ManifestRule = (m: ValidManifest, context: RuleContext) => Problem[];

function problemAt(m: ValidManifest, path: DocPath, rule: string, message: string): Problem {
  const position = m.document.locate(path);
  return { file: m.file, ...position, path: formatPath(path), rule, message, severity: 'error' };
}

/** A computation must be allowed at least the results its quorum needs. */
const replicationRange: ManifestRule = (m) => {
  const { quorum, max_results: max } = m.manifest.replication ?? {};
  return quorum !== undefined && max !== undefined && max < quorum
    ? [
        problemAt(
          m,
          ['replication', 'max_results'],
          'replication-range',
          `max_results ${max} is below quorum ${quorum}; a computation could never be decided (expected max_results >= ${quorum})`,
        ),
      ]
    : [];
};

const scriptFile: ManifestRule = (m, context) =>
  context.fileExists(m.manifest.script)
    ? []
    : [problemAt(m, ['script'], 'script-file', `script ${m.manifest.script} does not exist`)];

const scriptName: ManifestRule = (m) => {
  const base = basename(m.manifest.script, '.py');
  return base === m.manifest.name
    ? []
    : [
        problemAt(
          m,
          ['script'],
          'script-name',
          `script base name "${base}" must equal the manifest name "${m.manifest.name}" (expected experiments/${m.manifest.name}.py)`,
        ),
      ];
};

const manifestFileName: ManifestRule = (m) => {
  const base = basename(m.file).replace(/\.ya?ml$/, '');
  return base === m.manifest.name
    ? []
    : [
        problemAt(
          m,
          ['name'],
          'manifest-file-name',
          `name "${m.manifest.name}" must equal the file's base name "${base}" (expected manifests/${m.manifest.name}.yaml)`,
        ),
      ];
};

const uniqueName: ManifestRule = (m, context) => {
  const others = (context.namesInRepo.get(m.manifest.name) ?? []).filter((file) => file !== m.file);
  return others.length === 0
    ? []
    : [
        problemAt(
          m,
          ['name'],
          'unique-name',
          `name "${m.manifest.name}" is also used by ${others.join(', ')}`,
        ),
      ];
};

const uniqueTargets: ManifestRule = (m) => {
  const seen = new Set<number>();
  return m.manifest.targets.flatMap((target, index) => {
    const repeated = seen.has(target.host);
    seen.add(target.host);
    return repeated
      ? [
          problemAt(
            m,
            ['targets', index, 'host'],
            'unique-target',
            `host ${target.host} is targeted twice; use replicas for more runs on one host`,
          ),
        ]
      : [];
  });
};

const targetHostExists: ManifestRule = (m, context) => {
  const hosts = context.hosts;
  if (!hosts) return [];
  return m.manifest.targets.flatMap((target, index) =>
    hosts.has(target.host)
      ? []
      : [
          problemAt(
            m,
            ['targets', index, 'host'],
            'target-host-exists',
            `host ${target.host} is not in the fleet (${context.fleetLabel}); known hosts: ${describeHostIds(hosts)}`,
          ),
        ],
  );
};

const targetHostFits: ManifestRule = (m, context) =>
  m.manifest.targets.flatMap((target, index) => {
    const host = context.hosts?.get(target.host);
    const shortfalls = host ? hostShortfalls(host, m.manifest.resources) : [];
    return shortfalls.length === 0
      ? []
      : [
          problemAt(
            m,
            ['targets', index, 'host'],
            'target-host-fits',
            `host ${target.host} does not meet resources: ${shortfalls.join('; ')}`,
          ),
        ];
  });

const runDurationBounds: ManifestRule = (m, context) => {
  const { min, max } = context.config.limits.runDuration;
  const value = m.manifest.run_duration;
  return value >= min && value <= max
    ? []
    : [
        problemAt(
          m,
          ['run_duration'],
          'run-duration-bounds',
          `must be between ${min} and ${max} seconds (axiom.yaml limits.run_duration); found ${value}`,
        ),
      ];
};

const creditCapBounds: ManifestRule = (m, context) => {
  const { min, max } = context.config.limits.creditCap;
  const value = m.manifest.credit_cap;
  return value >= min && value <= max
    ? []
    : [
        problemAt(
          m,
          ['credit_cap'],
          'credit-cap-bounds',
          `must be between ${min} and ${max} (axiom.yaml limits.credit_cap); found ${value}`,
        ),
      ];
};

const workunitLimit: ManifestRule = (m, context) => {
  const count = workunitCount(m.manifest);
  const limit = context.config.limits.workunitsPerManifest;
  return count <= limit
    ? []
    : [
        problemAt(
          m,
          ['targets'],
          'workunit-limit',
          `targets add up to ${count} workunits, more than the ${limit} allowed (axiom.yaml limits.workunits_per_manifest)`,
        ),
      ];
};

const cpuRange: ManifestRule = (m) => {
  const { min_cpus, max_cpus } = m.manifest.resources;
  return max_cpus === undefined || max_cpus >= min_cpus
    ? []
    : [
        problemAt(
          m,
          ['resources', 'max_cpus'],
          'cpu-range',
          `max_cpus (${max_cpus}) must not be below min_cpus (${min_cpus})`,
        ),
      ];
};

const memoryRange: ManifestRule = (m) => {
  const { memory, min_cpus, min_memory_gb } = m.manifest.resources;
  if (!memory) return [];
  const atMin = memoryOf(memory, min_cpus);
  const problem = (message: string) =>
    problemAt(m, ['resources', 'memory', 'max_gb'], 'memory-range', message);
  return [
    ...(atMin > memory.max_gb
      ? [
          problem(
            `max_gb (${memory.max_gb}) is below what a run holds at min_cpus: ${memory.base_gb} + ${min_cpus} × ${memory.per_cpu_gb} = ${atMin} GB`,
          ),
        ]
      : []),
    ...(min_memory_gb > memory.max_gb
      ? [problem(`max_gb (${memory.max_gb}) is below min_memory_gb (${min_memory_gb})`)]
      : []),
  ];
};

const metricRanges: ManifestRule = (m) =>
  Object.entries(m.manifest.outputs.metrics).flatMap(([key, spec]) =>
    spec.min !== undefined && spec.max !== undefined && spec.min > spec.max
      ? [
          problemAt(
            m,
            ['outputs', 'metrics', key, 'min'],
            'metric-range',
            `min (${spec.min}) must not be above max (${spec.max})`,
          ),
        ]
      : [],
  );

const seriesLengths: ManifestRule = (m) =>
  Object.entries(m.manifest.outputs.series ?? {}).flatMap(([key, spec]) =>
    spec.min_length !== undefined && spec.max_length !== undefined && spec.min_length > spec.max_length
      ? [
          problemAt(
            m,
            ['outputs', 'series', key, 'min_length'],
            'series-length',
            `min_length (${spec.min_length}) must not be above max_length (${spec.max_length})`,
          ),
        ]
      : [],
  );

const acceptanceChecks: ManifestRule = (m) =>
  (m.manifest.acceptance ?? []).flatMap((check, index) => {
    const problems: Problem[] = [];
    if (!(check.metric in m.manifest.outputs.metrics)) {
      problems.push(
        problemAt(
          m,
          ['acceptance', index, 'metric'],
          'acceptance-metric',
          `metric "${check.metric}" is not declared in outputs.metrics (declared: ${Object.keys(m.manifest.outputs.metrics).join(', ')})`,
        ),
      );
    }
    const isRange = Array.isArray(check.value);
    if (check.op === 'between' && !isRange) {
      problems.push(
        problemAt(
          m,
          ['acceptance', index, 'value'],
          'acceptance-value',
          `op "between" needs value [low, high], e.g. [0.1, 0.9]; found ${check.value}`,
        ),
      );
    } else if (check.op !== 'between' && isRange) {
      problems.push(
        problemAt(
          m,
          ['acceptance', index, 'value'],
          'acceptance-value',
          `op "${check.op}" needs a single number; use op "between" for [low, high]`,
        ),
      );
    } else if (Array.isArray(check.value) && check.value[0] > check.value[1]) {
      problems.push(
        problemAt(
          m,
          ['acceptance', index, 'value'],
          'acceptance-value',
          `low (${check.value[0]}) must not be above high (${check.value[1]})`,
        ),
      );
    }
    return problems;
  });

/** A metric acceptance judges must have a plausible range, so that a made-up 1e308 is not paid. */
const acceptanceRange: ManifestRule = (m) =>
  [...new Set((m.manifest.acceptance ?? []).map((a) => a.metric))].flatMap((metric) => {
    const spec = m.manifest.outputs.metrics[metric];
    if (!spec || (spec.min !== undefined && spec.max !== undefined)) return [];
    const missing = [spec.min === undefined ? 'min' : '', spec.max === undefined ? 'max' : ''].filter(
      Boolean,
    );
    return [
      problemAt(
        m,
        ['outputs', 'metrics', metric],
        'acceptance-range',
        `metric "${metric}" is judged by acceptance, so it needs a plausible range: add ${missing.join(' and ')} (the values an honest run can report)`,
      ),
    ];
  });

/**
 * Preconditions name declared metrics and a param the plan sets; an acceptance check on the metric
 * of work.param counts work and belongs among the preconditions (it is read as one either way).
 */
const preconditionRules: ManifestRule = (m) => {
  const { manifest } = m;
  const planned = new Set([
    ...(manifest.work ? [manifest.work.param] : []),
    ...manifest.targets.flatMap((t) => Object.keys(t.params ?? {})),
  ]);
  const declared = (manifest.preconditions ?? []).flatMap((c, index) => [
    ...(c.metric in manifest.outputs.metrics
      ? []
      : [
          problemAt(
            m,
            ['preconditions', index, 'metric'],
            'preconditions',
            `metric "${c.metric}" is not declared in outputs.metrics`,
          ),
        ]),
    ...(c.param !== undefined && !planned.has(c.param)
      ? [
          problemAt(
            m,
            ['preconditions', index, 'param'],
            'preconditions',
            `param "${c.param}" is neither work.param nor set by a target, so no plan sets it`,
          ),
        ]
      : []),
  ]);
  const misplaced = (manifest.acceptance ?? []).flatMap((c, index) =>
    c.metric === manifest.work?.param
      ? [
          {
            ...problemAt(
              m,
              ['acceptance', index],
              'preconditions',
              `\`${c.metric}\` counts work (it is work.param): move this check to preconditions, so that too little work reads as inconclusive, never as not supported (it is read as a precondition meanwhile)`,
            ),
            severity: 'warning' as const,
          },
        ]
      : [],
  );
  return [...declared, ...misplaced];
};

const plotSeries: ManifestRule = (m) => {
  const declared = m.manifest.outputs.series ?? {};
  return (m.manifest.outputs.plots ?? []).flatMap((plot, index) => {
    const axes: [DocPath, string][] = [
      [['outputs', 'plots', index, 'x'], plot.x],
      ...plot.y.map((key, yIndex): [DocPath, string] => [['outputs', 'plots', index, 'y', yIndex], key]),
      ...(plot.group_by
        ? [[['outputs', 'plots', index, 'group_by'], plot.group_by] as [DocPath, string]]
        : []),
    ];
    const metrics = m.manifest.outputs.metrics;
    const references = (plot.reference ?? []).flatMap((line, r) =>
      (['x', 'y'] as const).flatMap((axis) => {
        const at = line[axis];
        return typeof at === 'string' && !(at in metrics)
          ? [
              problemAt(
                m,
                ['outputs', 'plots', index, 'reference', r, axis],
                'plot-series',
                `reference line at metric "${at}", which is not declared in outputs.metrics`,
              ),
            ]
          : [];
      }),
    );
    return [
      ...axes
        .filter(([, key]) => !(key in declared))
        .map(([path, key]) =>
          problemAt(
            m,
            path,
            'plot-series',
            `series "${key}" is not declared in outputs.series (declared: ${Object.keys(declared).join(', ') || 'none'})`,
          ),
        ),
      ...references,
    ];
  });
};

/** Rules beyond the schema, by id; each is small and reports every finding it has. */
export const MANIFEST_RULES: Readonly<Record<string, ManifestRule>> = {
  'replication-range': replicationRange,
  'script-file': scriptFile,
  'script-name': scriptName,
  'manifest-file-name': manifestFileName,
  'unique-name': uniqueName,
  'unique-target': uniqueTargets,
  'target-host-exists': targetHostExists,
  'target-host-fits': targetHostFits,
  'run-duration-bounds': runDurationBounds,
  'credit-cap-bounds': creditCapBounds,
  'workunit-limit': workunitLimit,
  'cpu-range': cpuRange,
  'memory-range': memoryRange,
  'metric-range': metricRanges,
  'series-length': seriesLengths,
  'acceptance-checks': acceptanceChecks,
  'acceptance-range': acceptanceRange,
  preconditions: preconditionRules,
  'plot-series': plotSeries,
};

export function checkManifestRules(m: ValidManifest, context: RuleContext): Problem[] {
  return Object.values(MANIFEST_RULES).flatMap((rule) => rule(m, context));
}

function describeHostIds(hosts: ReadonlyMap<number, Host>): string {
  const ids = [...hosts.keys()].sort((a, b) => a - b);
  return ids.length > 20
    ? `${ids.slice(0, 20).join(', ')}, ... (${ids.length} in all)`
    : ids.join(', ') || 'none';
}

/** Workunits a manifest asks for: every target's replicas. */
export function workunitCount(manifest: Manifest): number {
  return manifest.targets.reduce((sum, target) => sum + (target.replicas ?? 1), 0);
}
