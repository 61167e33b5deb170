import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCheck } from '../src/check/run.js';
import { readEnvironment } from '../src/env/environment.js';
import { parseManifest } from '../src/manifest/load.js';
import { formatProblem } from '../src/problems.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { FIXTURES, makeRepo, manifestYaml, OK_SCRIPT, REPO_ROOT } from './helpers/repo.js';

const validator = new SchemaValidator();
const python = readEnvironment(process.env, process.cwd()).python;

async function checkInRepo(files: Record<string, string>, paths: string[] = []) {
  const root = makeRepo(files);
  return runCheck({ root, paths: paths.map((p) => join(root, p)), python, validator });
}

describe('manifest schema', () => {
  const manifests = readdirSync(join(REPO_ROOT, 'manifests')).filter((f) => f.endsWith('.yaml'));

  it('has manifests in the repository to validate', () => {
    expect(manifests.length).toBeGreaterThan(0);
  });

  it.each(manifests)('manifests/%s validates against the schema', (file) => {
    const loaded = parseManifest(
      `manifests/${file}`,
      readFileSync(join(REPO_ROOT, 'manifests', file), 'utf8'),
      validator,
    );
    expect(loaded.problems.map(formatProblem)).toEqual([]);
    expect(loaded.manifest?.name).toBe(basename(file, '.yaml'));
  });

  it('rejects an unknown key at any depth', () => {
    for (const extra of ['colour: blue', 'outputs_extra: 1']) {
      const loaded = parseManifest('manifests/x.yaml', manifestYaml('unknown_key', extra), validator);
      expect(loaded.manifest).toBeUndefined();
      expect(loaded.problems[0]?.message).toMatch(
        /^unknown key "(colour|outputs_extra)"; allowed keys: name, title/,
      );
    }
    const nested = manifestYaml('unknown_key').replace('  gpu: none', '  gpu: none\n  disk_gb: 4');
    const loaded = parseManifest('manifests/x.yaml', nested, validator);
    expect(loaded.problems.map(formatProblem)).toEqual([
      'manifests/x.yaml:10:3: resources.disk_gb: unknown key "disk_gb"; allowed keys: min_cpus, max_cpus, min_memory_gb, memory, gpu, os [schema]',
    ]);
  });

  it('explains a value split by a comma in a flow mapping', () => {
    const text = manifestYaml('comma_split').replace(
      'mean: { type: number, min: -1, max: 1 }',
      'mean: { type: number, description: mean, over draws }',
    );
    const loaded = parseManifest('manifests/comma_split.yaml', text, validator);
    expect(loaded.problems.map(formatProblem)).toEqual([
      'manifests/comma_split.yaml:20:46: outputs.metrics.mean["over draws"]: unknown key "over draws"; allowed keys: type, min, max, unit, description, tolerance; a comma inside an unquoted value of a { } mapping splits it, so quote that value [schema]',
    ]);
  });

  it('reports every problem of a manifest at once', () => {
    const text = manifestYaml('many_problems')
      .replace('run_duration: 120', 'run_duration: -5')
      .replace('gpu: none', 'gpu: sometimes')
      .replace('credit_cap: 10', 'credit_cap: lots');
    const loaded = parseManifest('manifests/many_problems.yaml', text, validator);
    expect(loaded.problems.map((p) => p.path)).toEqual(['run_duration', 'resources.gpu', 'credit_cap']);
  });

  it('refuses a manifest whose planned work cannot meet its own preconditions, and warns of a work count among the hypothesis checks', async () => {
    const base = manifestYaml('mean_of_normals').replace(
      'outputs:\n  metrics:\n',
      'work: { param: samples, min: 100, max: 1000, gflop: 0.001 }\noutputs:\n  metrics:\n    samples: { type: integer, min: 0, max: 1000000 }\n',
    );
    const needy = `${base.replace(/\nacceptance:/, '\npreconditions:\n  - { metric: samples, op: ">=", value: 500000 }\nacceptance:')}`;
    const report = await checkInRepo({
      'manifests/mean_of_normals.yaml': needy,
      'experiments/mean_of_normals.py': OK_SCRIPT,
    });
    const rules = report.problems.map((p) => [p.rule, p.severity]);
    expect(rules).toContainEqual(['preconditions-met', 'error']);
    expect(report.problems.find((p) => p.rule === 'preconditions-met')?.message).toMatch(
      /gets samples = \d+, which cannot meet the precondition samples >= 500000: its results could only be inconclusive/,
    );
    const counted = base.replace(
      /\nacceptance:\n/,
      '\nacceptance:\n  - { metric: samples, op: ">=", value: 10 }\n',
    );
    const warned = await checkInRepo({
      'manifests/mean_of_normals.yaml': counted,
      'experiments/mean_of_normals.py': OK_SCRIPT,
    });
    expect(warned.problems.map((p) => [p.rule, p.severity])).toEqual([['preconditions', 'warning']]);
  });

  it('accepts a valid manifest and reports nothing', async () => {
    const report = await checkInRepo({
      'manifests/mean_of_normals.yaml': manifestYaml('mean_of_normals'),
      'experiments/mean_of_normals.py': OK_SCRIPT,
    });
    expect(report.problems).toEqual([]);
    expect(report.plans).toHaveLength(1);
  });
});

/** Each broken fixture and exactly what `axiom check` says about it. */
const BROKEN: Record<string, string[]> = {
  unknown_top_key: [
    'manifests/unknown_top_key.yaml:32:1: priority: unknown key "priority"; allowed keys: name, title, hypothesis, script, run_duration, resources, targets, seed, work, replication, outputs, preconditions, acceptance, references, credit_cap, provenance, retired, follow_up, production_run_duration [schema]',
  ],
  missing_hypothesis: ['manifests/missing_hypothesis.yaml:1:1: missing required key "hypothesis" [schema]'],
  bad_name_pattern: [
    'manifests/bad_name_pattern.yaml:1:7: name: must be a name of 3 to 48 lowercase letters, digits or underscores, starting with a letter (e.g. double_descent); found the text "Bad-Name" [schema]',
  ],
  run_duration_text: [
    'manifests/run_duration_text.yaml:5:15: run_duration: must be an integer, found the text "ten minutes" [schema]',
  ],
  zero_replicas: ['manifests/zero_replicas.yaml:13:15: targets[0].replicas: must be >= 1; found 0 [schema]'],
  gpu_enum: [
    'manifests/gpu_enum.yaml:9:8: resources.gpu: must be one of "none", "optional", "required"; found the text "maybe" [schema]',
  ],
  os_item: [
    'manifests/os_item.yaml:10:15: resources.os[1]: must be one of "linux", "windows", "macos"; found the text "beos" [schema]',
  ],
  empty_targets: ['manifests/empty_targets.yaml:11:10: targets: must have at least 1 item; found 0 [schema]'],
  unknown_host: [
    'manifests/unknown_host.yaml:14:11: targets[1].host: host 999 is not in the fleet (fleet.yaml); known hosts: 60, 80, 141, 194, 209, 249, 267, 287, 296, 321 [target-host-exists]',
  ],
  host_too_small: [
    'manifests/host_too_small.yaml:12:11: targets[0].host: host 60 does not meet resources: has 8 cores, needs at least 16 [target-host-fits]',
    'manifests/host_too_small.yaml:14:11: targets[1].host: host 267 does not meet resources: has 4 cores, needs at least 16; has 8 GB of memory, needs at least 12 GB [target-host-fits]',
  ],
  memory_too_small: [
    'manifests/memory_too_small.yaml:9:53: resources.memory.max_gb: max_gb (2) is below what a run holds at min_cpus: 0.5 + 4 × 0.75 = 3.5 GB [memory-range]',
    'manifests/memory_too_small.yaml:9:53: resources.memory.max_gb: max_gb (2) is below min_memory_gb (3) [memory-range]',
    "manifests/memory_too_small.yaml:13:11: targets[0].host: host 60 does not meet resources: would have 2 GB for the run (the manifest's max_gb, or half its 16 GB, BOINC's default while the computer is in use), needs 3.5 GB at 4 cores [target-host-fits]",
    "manifests/memory_too_small.yaml:15:11: targets[1].host: host 267 does not meet resources: would have 2 GB for the run (the manifest's max_gb, or half its 8 GB, BOINC's default while the computer is in use), needs 3.5 GB at 4 cores [target-host-fits]",
  ],
  script_mismatch: [
    'manifests/script_mismatch.yaml:4:9: script: script experiments/other_experiment.py does not exist [script-file]',
    'manifests/script_mismatch.yaml:4:9: script: script base name "other_experiment" must equal the manifest name "script_mismatch" (expected experiments/script_mismatch.py) [script-name]',
  ],
  run_duration_too_long: [
    'manifests/run_duration_too_long.yaml:5:15: run_duration: must be between 30 and 14400 seconds (axiom.yaml limits.run_duration); found 100000 [run-duration-bounds]',
  ],
  credit_cap_too_high: [
    'manifests/credit_cap_too_high.yaml:28:13: credit_cap: must be between 1 and 1000 (axiom.yaml limits.credit_cap); found 5000 [credit-cap-bounds]',
  ],
  acceptance_unknown_metric: [
    'manifests/acceptance_unknown_metric.yaml:27:15: acceptance[0].metric: metric "accuracy" is not declared in outputs.metrics (declared: mean) [acceptance-metric]',
  ],
  between_single_value: [
    'manifests/between_single_value.yaml:27:41: acceptance[0].value: op "between" needs value [low, high], e.g. [0.1, 0.9]; found 0.5 [acceptance-value]',
  ],
  plot_unknown_series: [
    'manifests/plot_unknown_series.yaml:25:40: outputs.plots[0].y[0]: series "loss" is not declared in outputs.series (declared: n, running_mean) [plot-series]',
  ],
  model_without_prompt_hash: [
    'manifests/model_without_prompt_hash.yaml:30:3: provenance: missing required key "template_hash" [schema]',
    'manifests/model_without_prompt_hash.yaml:30:3: provenance: missing required key "data_hash" [schema]',
  ],
  duplicate_key: ['manifests/duplicate_key.yaml:3:1: invalid YAML: Map keys must be unique [yaml]'],
  yaml_syntax: [
    'manifests/yaml_syntax.yaml:8:1: invalid YAML: All mapping items must start at the same column [yaml]',
    'manifests/yaml_syntax.yaml:9:8: invalid YAML: Nested mappings are not allowed in compact mappings [yaml]',
  ],
  duplicate_target: [
    'manifests/duplicate_target.yaml:14:11: targets[1].host: host 60 is targeted twice; use replicas for more runs on one host [unique-target]',
  ],
  nested_param: [
    'manifests/nested_param.yaml:14:23: targets[0].params.layers: must be a number, a string, true/false or a list; found a mapping [schema]',
  ],
  metric_min_above_max: [
    'manifests/metric_min_above_max.yaml:20:32: outputs.metrics.mean.min: min (1) must not be above max (-1) [metric-range]',
  ],
  created_not_a_date: [
    'manifests/created_not_a_date.yaml:32:12: provenance.created: must be a date (e.g. 2026-11-25); found the text "25/11/2026" [schema]',
  ],
  unknown_metric_key: [
    'manifests/unknown_metric_key.yaml:20:44: outputs.metrics.mean.units: unknown key "units"; allowed keys: type, min, max, unit, description, tolerance [schema]',
  ],
};

describe('broken manifests', () => {
  const fixtures = readdirSync(join(FIXTURES, 'broken')).map((f) => basename(f, '.yaml'));

  it('has a pinned expectation for every fixture, and at least 15 fixtures', () => {
    expect(fixtures.sort()).toEqual(Object.keys(BROKEN).sort());
    expect(fixtures.length).toBeGreaterThanOrEqual(15);
  });

  it.each(Object.entries(BROKEN))('%s fails with the located message', async (name, expected) => {
    const file = `manifests/${name}.yaml`;
    const report = await checkInRepo(
      {
        [file]: readFileSync(join(FIXTURES, 'broken', `${name}.yaml`), 'utf8'),
        [`experiments/${name}.py`]: OK_SCRIPT,
      },
      [file],
    );
    expect(report.problems.map(formatProblem)).toEqual(expected);
    expect(report.plans).toEqual([]);
  });
});
