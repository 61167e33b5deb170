import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/config.js';
import { checkCreditFiles } from '../credit/apply.js';
import { AxiomError, InvalidInputError } from '../errors.js';
import { SnapshotFleet } from '../fleet/snapshot.js';
import type { FleetSource, Host } from '../fleet/types.js';
import { sha256File } from '../hash.js';
import { isValid, type LoadedManifest, loadManifest, type ValidManifest } from '../manifest/load.js';
import { checkManifestRules, type RuleContext } from '../manifest/rules.js';
import type { Manifest } from '../manifest/types.js';
import { checkScriptPolicy, type PolicyRequest } from '../policy/policy.js';
import { compareProblems, type Problem } from '../problems.js';
import type { SchemaValidator } from '../schema/validate.js';
import { type ManifestPlan, planManifest } from '../workunit/plan.js';
import { parseYaml } from '../yaml/document.js';
import type { PlanChanges } from './changes.js';
import { citationProblems } from './citations.js';
import { fileProblem, unreadableReason } from './files.js';
import { listFiles, MANIFEST_DIR, type Selection, selectFiles } from './select.js';

export interface CheckOptions {
  /** Absolute path of the repository root. */
  root: string;
  /** Absolute paths to check; empty: the whole repository. */
  paths: readonly string[];
  python: string;
  validator: SchemaValidator;
  /** Where target hosts come from; default: the snapshot named in axiom.yaml. */
  fleet?: FleetSource;
  /** Called as each phase starts, with the number of files it covers. */
  onProgress?: (message: string, files: number) => void;
}

export interface CheckReport {
  manifests: number;
  scripts: number;
  fleet?: { label: string; hosts: number };
  /** The fleet's hosts by id, when it could be read: deploy chooses extra replicas' hosts from it. */
  hosts?: ReadonlyMap<number, Host>;
  problems: Problem[];
  plans: ManifestPlan[];
  /** The plans with the manifests they came from, for deploy. */
  deployable: { manifest: Manifest; plan: ManifestPlan }[];
  /** With --base: what the pull request changes in the plan. */
  changes?: PlanChanges;
}

/** Schema, cross-file rules and script policy over the selected files, and the plan of what deploy would create. */
export async function runCheck(options: CheckOptions): Promise<CheckReport> {
  const { root, validator } = options;
  const progress = options.onProgress ?? (() => {});
  const selection = selectFiles(root, options.paths);
  const { config, problems: configProblems } = loadConfig(root, validator);
  const problems: Problem[] = [...configProblems];

  progress(`reading ${selection.manifests.length} manifests`, selection.manifests.length);
  const loaded = selection.manifests.map((file) => loadManifest(root, file, validator, unreadableReason));
  problems.push(...loaded.flatMap((m) => m.problems));
  const valid = loaded.filter(isValid);

  // With a broken axiom.yaml neither the fleet nor the limits are known: report, plan nothing.
  if (!config)
    return {
      manifests: selection.manifests.length,
      scripts: 0,
      problems: problems.sort(compareProblems),
      plans: [],
      deployable: [],
    };
  const fleetSource = options.fleet ?? new SnapshotFleet(join(root, config.fleet), config.fleet, validator);
  const hosts = await readFleet(fleetSource, problems);
  const context: RuleContext = {
    config,
    hosts,
    fleetLabel: fleetSource.label,
    fileExists: (path) => lstatSync(join(root, path), { throwIfNoEntry: false }) !== undefined,
    namesInRepo: namesInRepository(root, selection, loaded),
  };
  problems.push(...valid.flatMap((m) => checkManifestRules(m, context)));
  problems.push(...citationProblems(root, valid, validator));

  const candidates = scriptsToCheck(selection, valid, context);
  const refused = candidates.flatMap((s) => fileProblem(root, s.file) ?? []);
  problems.push(...refused);
  const scripts = candidates.filter((s) => !refused.some((p) => p.file === s.file));
  progress(`checking ${scripts.length} scripts against the script policy`, scripts.length);
  problems.push(...(await checkPolicy(root, options.python, scripts)));
  if (selection.wholeRepository) problems.push(...scriptsWithoutManifest(selection, loaded));
  // What moves credit is checked before it is merged: a results pull request's credit files.
  if (selection.wholeRepository) problems.push(...(await checkCreditFiles({ root, validator })));

  const deployable = hosts ? planValidManifests(root, valid, problems, hosts) : [];
  problems.push(...workProblems(valid, deployable), ...unmetPreconditions(valid, deployable));
  return {
    manifests: selection.manifests.length,
    scripts: scripts.length,
    fleet: hosts ? { label: fleetSource.label, hosts: hosts.size } : undefined,
    ...(hosts ? { hosts } : {}),
    problems: problems.sort(compareProblems),
    plans: deployable.map((d) => d.plan),
    deployable,
  };
}

async function readFleet(source: FleetSource, problems: Problem[]): Promise<Map<number, Host> | undefined> {
  try {
    const hosts = await source.readHosts();
    return new Map(hosts.map((host) => [host.id, host]));
  } catch (error) {
    if (error instanceof InvalidInputError) problems.push(...error.problems);
    else if (error instanceof AxiomError)
      problems.push({ file: source.label, rule: 'fleet', message: error.message, severity: 'error' });
    else throw error;
    return undefined;
  }
}

/** Manifest names → files, over the whole manifests/ directory so that a partial check still sees every name. */
function namesInRepository(
  root: string,
  selection: Selection,
  loaded: LoadedManifest[],
): Map<string, string[]> {
  const names = new Map<string, string[]>();
  const add = (name: unknown, file: string) => {
    if (typeof name === 'string') names.set(name, [...(names.get(name) ?? []), file]);
  };
  for (const m of loaded) add((m.document?.data as { name?: unknown } | null)?.name, m.file);
  if (!selection.wholeRepository) {
    const selected = new Set(selection.manifests);
    const others = listFiles(root, MANIFEST_DIR).filter(
      (f) => /\.ya?ml$/.test(f) && !selected.has(f) && !unreadableReason(root, f),
    );
    for (const file of others) {
      const { document } = parseYaml(file, readFileSync(join(root, file), 'utf8'));
      add((document?.data as { name?: unknown } | null)?.name, file);
    }
  }
  return names;
}

interface ScriptToCheck {
  file: string;
  allowCupy: boolean;
}

/** Scripts of valid manifests (CuPy allowed when the manifest asks for a GPU) and scripts named directly. */
function scriptsToCheck(selection: Selection, valid: ValidManifest[], context: RuleContext): ScriptToCheck[] {
  const allowCupy = new Map<string, boolean>();
  for (const { manifest } of valid) {
    if (!context.fileExists(manifest.script)) continue;
    allowCupy.set(
      manifest.script,
      (allowCupy.get(manifest.script) ?? false) || manifest.resources.gpu !== 'none',
    );
  }
  for (const file of selection.scripts) if (!allowCupy.has(file)) allowCupy.set(file, false);
  return [...allowCupy]
    .map(([file, cupy]) => ({ file, allowCupy: cupy }))
    .sort((a, b) => a.file.localeCompare(b.file));
}

async function checkPolicy(root: string, python: string, scripts: ScriptToCheck[]): Promise<Problem[]> {
  const requests: PolicyRequest[] = scripts.map((s) => ({
    path: join(root, s.file),
    allowCupy: s.allowCupy,
  }));
  const findings = await checkScriptPolicy(python, requests);
  return scripts.flatMap((script) =>
    (findings.get(join(root, script.file)) ?? []).map((f) => ({
      file: script.file,
      line: f.line,
      column: f.col,
      rule: `policy/${f.rule}`,
      message: f.message,
      severity: 'error' as const,
    })),
  );
}

function scriptsWithoutManifest(selection: Selection, loaded: LoadedManifest[]): Problem[] {
  const referenced = new Set(loaded.map((m) => (m.document?.data as { script?: unknown } | null)?.script));
  return selection.scripts
    .filter((file) => !referenced.has(file))
    .map((file) => ({
      file,
      rule: 'script-without-manifest',
      message: 'no manifest names this script; it will not be deployed',
      severity: 'warning' as const,
    }));
}

/**
 * Hosts the planned work does not fit: an error when the host's own benchmark says so, a warning
 * when only the speed assumed for a host without one does.
 */
function workProblems(valid: ValidManifest[], deployable: { plan: ManifestPlan }[]): Problem[] {
  return deployable.flatMap(({ plan }) =>
    (plan.workProblems ?? []).map((w) => {
      const document = valid.find((m) => m.file === plan.file)?.document;
      return {
        file: plan.file,
        ...(document ? document.locate(['work']) : {}),
        path: 'work',
        rule: 'work-fits',
        message: `${w.message}; lower work.min, raise run_duration or target a faster host`,
        severity: w.benchmarked ? ('error' as const) : ('warning' as const),
      };
    }),
  );
}

/**
 * Planned work that cannot meet the manifest's own preconditions: every result of it could only be
 * inconclusive (too little work), so the manifest is refused.
 */
function unmetPreconditions(valid: ValidManifest[], deployable: { plan: ManifestPlan }[]): Problem[] {
  return deployable.flatMap(({ plan }) =>
    (plan.preconditionProblems ?? []).map((message) => {
      const document = valid.find((m) => m.file === plan.file)?.document;
      return {
        file: plan.file,
        ...(document ? document.locate(['preconditions']) : {}),
        path: 'preconditions',
        rule: 'preconditions-met',
        message: `${message}; raise work.max, or drop the target's own value of it`,
        severity: 'error' as const,
      };
    }),
  );
}

/** Plans for manifests that, with their scripts, have no errors. */
function planValidManifests(
  root: string,
  valid: ValidManifest[],
  problems: Problem[],
  hosts: Map<number, Host>,
): { manifest: Manifest; plan: ManifestPlan }[] {
  const filesWithErrors = new Set(problems.filter((p) => p.severity === 'error').map((p) => p.file));
  return valid
    .filter((m) => !filesWithErrors.has(m.file) && !filesWithErrors.has(m.manifest.script))
    .map((m) => ({
      manifest: m.manifest,
      plan: planManifest(m.file, m.manifest, sha256File(join(root, m.manifest.script)), hosts),
    }));
}
