import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadConfig } from '../config/config.js';
import { ConfigurationError, InvalidInputError } from '../errors.js';
import { SnapshotFleet } from '../fleet/snapshot.js';
import type { Host } from '../fleet/types.js';
import { DeployedManifests, isDeployed } from '../forge/deployed.js';
import { openGit } from '../forge/git.js';
import type { Manifest } from '../manifest/types.js';
import { renderRecordPlots } from '../plots/plots.js';
import type { PlotRenderer } from '../plots/render.js';
import type { Problem } from '../problems.js';
import { lineageOf } from '../record/lineage.js';
import { type ExperimentRecord, readResearchRecord } from '../record/research.js';
import type { SchemaValidator } from '../schema/validate.js';
import { STYLE } from './html.js';
import { builtOnNote, LINES_HREF, lineageNote, linePage, linesPage } from './lineage.js';
import {
  allHosts,
  creditPage,
  dataHref,
  deployedKey,
  experimentHref,
  experimentPage,
  hostHref,
  hostPage,
  hostsPage,
  indexPage,
  lineageHref,
  plotHref,
  resultHref,
  resultPage,
  type SiteData,
  sourceCommit,
  sourceHref,
  timelinePage,
} from './pages.js';
import { RecordHistory, readHistory, timelineOf } from './timeline.js';

/** Marks a directory as a built site, so a rebuild may replace it and nothing else is ever deleted. */
const MARKER = '.axiom-site';

export interface SiteReport {
  out: string;
  experiments: number;
  results: number;
  pages: number;
  plots: number;
  problems: Problem[];
  dryRun: boolean;
}

/** Empties `out` for a rebuild, refusing any non-empty directory that is not a site we built. */
function prepareOut(out: string): void {
  if (existsSync(out) && readdirSync(out).length > 0) {
    if (!existsSync(join(out, MARKER)))
      throw new ConfigurationError(
        `${out} is not empty and is not a site built by axiom site; choose another --out`,
      );
    rmSync(out, { recursive: true, force: true });
  }
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, MARKER), 'built by axiom site; rebuilt from results/ on every run\n');
}

function write(out: string, path: string, text: string): void {
  mkdirSync(dirname(join(out, path)), { recursive: true });
  writeFileSync(join(out, path), text);
}

/** The commits workunits were created from (their wu.json's manifest_commit), with their experiments. */
function deployedFrom(experiments: readonly ExperimentRecord[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of experiments)
    for (const r of e.results) {
      const commit = r.review?.manifest_commit;
      if (!commit) continue;
      const names = out.get(commit) ?? [];
      if (!names.includes(e.name)) names.push(e.name);
      out.set(commit, names);
    }
  return out;
}

const splitKey = (key: string): [string, string] => {
  const at = key.indexOf(':');
  return [key.slice(0, at), key.slice(at + 1)];
};

/**
 * The fleet snapshot's hosts. Without a snapshot, or with one that cannot be read (reported with
 * the other problems), host pages say the host is not in it.
 */
async function readHosts(
  root: string,
  validator: SchemaValidator,
  problems: Problem[],
): Promise<Map<number, Host>> {
  const { config } = loadConfig(root, validator);
  const label = config?.fleet ?? 'fleet.yaml';
  if (!existsSync(join(root, label))) return new Map();
  try {
    const hosts = await new SnapshotFleet(join(root, label), label, validator).readHosts();
    return new Map(hosts.map((h) => [h.id, h]));
  } catch (error) {
    const found = error instanceof InvalidInputError ? error.problems : [];
    problems.push(
      ...(found.length
        ? found
        : [{ file: label, rule: 'fleet', message: (error as Error).message, severity: 'error' as const }]
      ).map((p) => ({
        ...p,
        severity: 'warning' as const,
        message: `${p.message}; host pages show no hardware`,
      })),
    );
    return new Map();
  }
}

/**
 * The script and manifest of each experiment at every commit its results were made from (and at
 * the last merge of its manifest), read from git, so every result page links what actually ran.
 */
async function readSources(
  root: string,
  experiments: readonly ExperimentRecord[],
  history: RecordHistory,
): Promise<Map<string, string>> {
  const wanted = new Set<string>();
  for (const e of experiments) {
    const commits = new Set([
      ...e.results.map((r) => sourceCommit(history, e, r)),
      history.proposalMerge(e.name)?.commit,
    ]);
    for (const commit of commits) {
      if (!commit) continue;
      wanted.add(`${commit}:manifests/${e.name}.yaml`);
      wanted.add(`${commit}:${e.manifest?.script ?? `experiments/${e.name}.py`}`);
    }
  }
  const out = new Map<string, string>();
  const git = openGit(root);
  for (const key of wanted) {
    try {
      out.set(key, await git.raw(['show', key]));
    } catch {
      // Not in this clone (a shallow checkout, or a commit from elsewhere): the page says the commit is unknown.
    }
  }
  return out;
}

/**
 * The manifest each result's workunit was deployed from (the one owner, forge/deployed.ts), by
 * `deployedKey`: what a result page says of its budget and units.
 */
async function readDeployed(
  root: string,
  validator: SchemaValidator,
  experiments: readonly ExperimentRecord[],
): Promise<Map<string, Manifest>> {
  const owner = new DeployedManifests(root, validator);
  const out = new Map<string, Manifest>();
  for (const e of experiments)
    for (const commit of new Set(e.results.map((r) => r.review?.manifest_commit))) {
      const found = commit ? await owner.of(e.name, commit) : undefined;
      if (found && isDeployed(found)) out.set(deployedKey(e.name, found.commit), found.manifest);
    }
  return out;
}

/**
 * Builds the static site of the research record: plots and pages from one read of results/,
 * manifests and credit files, plus the timeline from git history.
 */
export async function buildSite(options: {
  root: string;
  out: string;
  validator: SchemaValidator;
  renderer: PlotRenderer;
  dryRun: boolean;
  /** The repository on GitHub, for links to commits, files and pull requests. */
  repoUrl?: string;
  progress?: (line: string) => void;
}): Promise<SiteReport> {
  const record = readResearchRecord(options.root, options.validator);
  const results = record.experiments.reduce((n, e) => n + e.results.length, 0);
  options.progress?.(`site: ${record.experiments.length} experiments, ${results} results`);
  const plots = await renderRecordPlots(record, options.renderer, (done, total) => {
    if (done % 250 === 0 || done === total) options.progress?.(`site: ${done}/${total} plots`);
  });
  const commits = await readHistory(options.root);
  const history = new RecordHistory(commits);
  const sources = await readSources(options.root, record.experiments, history);
  const deployed = await readDeployed(options.root, options.validator, record.experiments);
  const data: SiteData = {
    experiments: record.experiments,
    plots,
    timeline: timelineOf(commits, deployedFrom(record.experiments)),
    history,
    hosts: await readHosts(options.root, options.validator, record.problems),
    ...(options.repoUrl ? { repoUrl: options.repoUrl.replace(/\/+$/, '') } : {}),
    sources: new Map([...sources.keys()].map((key) => [key, sourceHref(...splitKey(key))])),
    deployed,
    lineage: lineageOf(record.experiments),
  };
  const pages: [string, string][] = [
    ['index.html', indexPage(data)],
    ['credit.html', creditPage(data)],
    ['timeline.html', timelinePage(data)],
    ['hosts.html', hostsPage(data)],
    ...allHosts(data).map((id): [string, string] => [hostHref(id), hostPage(data, id)]),
    [LINES_HREF, linesPage(data)],
    ...data.lineage.lines.map((line): [string, string] => [lineageHref(line.root), linePage(data, line)]),
    ...record.experiments.flatMap((experiment): [string, string][] => [
      [experimentHref(experiment.name), experimentPage(data, experiment, lineageNote(data, experiment))],
      ...experiment.results.map((result): [string, string] => [
        resultHref(experiment.name, result.id),
        resultPage(data, experiment, result, builtOnNote(data, experiment, result)),
      ]),
    ]),
  ];
  // Beside the pages: each result's data, and the scripts and manifests at the commits results came from.
  const files: [string, string][] = [
    ...[...sources.entries()].map(([key, text]): [string, string] => [sourceHref(...splitKey(key)), text]),
    ...record.experiments.flatMap((experiment) =>
      experiment.results.map((result): [string, string] => [
        dataHref(experiment.name, result.id),
        `${JSON.stringify({ result: result.id, review: result.review, envelope: result.envelope }, null, 2)}\n`,
      ]),
    ),
  ];
  if (!options.dryRun) {
    prepareOut(options.out);
    write(options.out, 'style.css', STYLE);
    for (const plot of plots) write(options.out, plotHref(plot), plot.svg);
    for (const [path, text] of [...pages, ...files]) write(options.out, path, text);
  }
  return {
    out: options.out,
    experiments: record.experiments.length,
    results,
    pages: pages.length,
    plots: plots.length,
    problems: record.problems,
    dryRun: options.dryRun,
  };
}
