import {
  describeCheck,
  hypothesisChecksOf,
  OUTCOMES,
  type Outcome,
  preconditionsOf,
} from '../envelope/acceptance.js';
import type { Host } from '../fleet/types.js';
import { headlineMetric, spread } from '../manifest/headline.js';
import type { AcceptanceCheck, Manifest } from '../manifest/types.js';
import type { RenderedPlot } from '../plots/plots.js';
import { outcomeOfResult } from '../record/findings.js';
import { resultAddress } from '../record/layout.js';
import type { Lineage } from '../record/lineage.js';
import type { ExperimentRecord, ResultRecord } from '../record/research.js';
import { type Html, html, page } from './html.js';
import type { HistoryCommit, RecordHistory, TimelineEntry } from './timeline.js';

/** Where each plot is in the site, and everything the pages are built from. */
export interface SiteData {
  experiments: ExperimentRecord[];
  plots: RenderedPlot[];
  timeline: TimelineEntry[];
  /** main's history of the record, indexed (empty outside git). */
  history: RecordHistory;
  /** The fleet snapshot's hosts, by id. */
  hosts: ReadonlyMap<number, Host>;
  /** The repository on GitHub (`https://github.com/owner/name`), for links to commits and pull requests. */
  repoUrl?: string;
  /** Copies of scripts and manifests at the commits results were made from: site path by `commit:path`. */
  sources: ReadonlyMap<string, string>;
  /** The manifests results' workunits were deployed from, by `deployedKey`. */
  deployed?: ReadonlyMap<string, Manifest>;
  /** Which experiment grew out of which results (record/lineage.ts). */
  lineage: Lineage;
}

export const deployedKey = (experiment: string, commit: string) => `${experiment}@${commit}`;

/** The manifest a result's workunit was deployed from, when the history has it. */
function deployedOf(
  data: SiteData,
  experiment: ExperimentRecord,
  result: ResultRecord,
): Manifest | undefined {
  const commit = result.review?.manifest_commit;
  return commit ? data.deployed?.get(deployedKey(experiment.name, commit)) : undefined;
}

/** The site path of a repository file as it was at a commit. */
export const sourceHref = (commit: string, path: string) => `source/${commit.slice(0, 12)}/${path}`;
export const hostHref = (id: number) => `hosts/${id}.html`;
export const dataHref = (experiment: string, id: number) => `results/${experiment}/${id}.json`;

export const plotHref = (plot: RenderedPlot) =>
  `plots/${plot.experiment}/${plot.result === undefined ? 'overview' : plot.result}-${plot.index + 1}.svg`;
export const experimentHref = (name: string) => `experiments/${name}.html`;
/** Where a line of inquiry is drawn: a page per line, named after its first experiment. */
export const lineageHref = (root: string) => `lineage/${root}.html`;
export const resultHref = (experiment: string, id: number) => `results/${experiment}/${id}.html`;

/** How many rows of a plot's data its table shows; the full data is the result's download. */
const MAX_TABLE_ROWS = 60;

/** A plot as an image linked to its full-size SVG, with its numbers as a table for screen readers. */
function figure(plot: RenderedPlot, root: string): Html {
  const rows = (plot.table ?? []).slice(0, MAX_TABLE_ROWS);
  return html`<figure><a href="${root}${plotHref(plot)}"><img src="${root}${plotHref(plot)}" alt="${plot.alt}" width="720" height="420" loading="lazy"></a><figcaption>${plot.title} (select the plot for full size)</figcaption>
${
  rows.length
    ? html`<details><summary>The plotted numbers${(plot.table?.length ?? 0) > rows.length ? ` (first ${rows.length} of ${plot.table?.length})` : ''}</summary><div class="table"><table><thead><tr><th scope="col">Line</th><th scope="col" class="num">x</th><th scope="col" class="num">y</th></tr></thead><tbody>${rows.map(
        (r) =>
          html`<tr><td>${r.series}</td><td class="num">${number(r.x)}</td><td class="num">${number(r.y)}</td></tr>`,
      )}</tbody></table></div></details>`
    : ''
}</figure>`;
}

/** A link to a pull request: GitHub's page when known, else its branch. */
function pullRequestLink(data: SiteData, merge: HistoryCommit | undefined): Html {
  const pr = merge?.pullRequest;
  if (!merge || !pr) return html`<span class="muted">not merged through a pull request</span>`;
  const name = pr.number ? `#${pr.number} (${pr.branch})` : pr.branch;
  const link =
    data.repoUrl && pr.number
      ? html`<a href="${data.repoUrl}/pull/${pr.number}">${name}</a>`
      : html`<code>${name}</code>`;
  return html`${link}, approved by ${merge.approver ?? 'unknown'} on ${merge.date.slice(0, 10)} (merge ${commitLink(data, merge.commit)})`;
}

function commitLink(data: SiteData, commit: string): Html {
  return data.repoUrl
    ? html`<a href="${data.repoUrl}/commit/${commit}"><code>${commit.slice(0, 10)}</code></a>`
    : html`<code>${commit.slice(0, 10)}</code>`;
}

/** A repository file at a commit: the site's copy, and GitHub's when known. */
function sourceLink(data: SiteData, root: string, commit: string | undefined, path: string): Html {
  const copy = commit ? data.sources.get(`${commit}:${path}`) : undefined;
  if (!commit || !copy) return html`<code>${path}</code> <span class="muted">(commit unknown)</span>`;
  return html`<a href="${root}${copy}"><code>${path}</code> at ${commit.slice(0, 10)}</a>${
    data.repoUrl ? html` (<a href="${data.repoUrl}/blob/${commit}/${path}">on GitHub</a>)` : ''
  }`;
}

/** The commit whose manifest and script a result was made from: its workunit's, as deploy recorded it. */
export function sourceCommit(
  _history: RecordHistory,
  _experiment: ExperimentRecord,
  result: ResultRecord,
): string | undefined {
  return result.review?.manifest_commit;
}

function outcome(experiment: ExperimentRecord, result: ResultRecord): Html {
  const o = outcomeOfResult(experiment, result);
  return html`<span class="outcome-${o.outcome.replace(' ', '-')}">${o.outcome}</span>`;
}

/** What decided an outcome other than supported, for a page. */
function decidedBy(experiment: ExperimentRecord, result: ResultRecord): Html | string {
  const o = outcomeOfResult(experiment, result);
  return o.outcome !== 'supported' && o.reason ? html`<span class="muted">${o.reason}</span>` : '';
}

/** What an experiment's results say, over results and hosts. */
export function outcomeSummary(experiment: ExperimentRecord): string {
  const counts = new Map<Outcome, number>();
  for (const r of experiment.results) {
    const o = outcomeOfResult(experiment, r).outcome;
    counts.set(o, (counts.get(o) ?? 0) + 1);
  }
  const hosts = new Set(experiment.results.flatMap((r) => (r.review ? [r.review.host] : []))).size;
  if (experiment.results.length === 0) return 'no results yet';
  return `${OUTCOMES.map((o) => `${counts.get(o) ?? 0} ${o}`).join(', ')} (${experiment.results.length} result${experiment.results.length === 1 ? '' : 's'} on ${hosts} host${hosts === 1 ? '' : 's'})`;
}

const FOUND: Record<Outcome, string> = {
  supported: 'the hypothesis held',
  'not supported': 'the hypothesis did not hold',
  inconclusive: 'the results say nothing yet about the hypothesis',
};

/**
 * "What we learned", in a sentence: what most results found, over how many results and hosts, and
 * for outcomes other than supported, what decided them (the check not met, or the work missing).
 */
export function learnedSentence(experiment: ExperimentRecord): string {
  if (experiment.results.length === 0) return 'Nothing yet: no results have come in.';
  const byOutcome = new Map<Outcome, string[]>();
  for (const r of experiment.results) {
    const { outcome: o, reason } = outcomeOfResult(experiment, r);
    byOutcome.set(o, [...(byOutcome.get(o) ?? []), reason]);
  }
  const hosts = new Set(experiment.results.flatMap((r) => (r.review ? [r.review.host] : []))).size;
  const ranked = OUTCOMES.filter((o) => byOutcome.has(o)).sort(
    (a, b) => (byOutcome.get(b)?.length ?? 0) - (byOutcome.get(a)?.length ?? 0),
  );
  const total = experiment.results.length;
  const parts = ranked.map((o) => {
    const reasons = byOutcome.get(o) ?? [];
    const common = mostCommon(reasons.filter(Boolean));
    const decided = o !== 'supported' && common ? `, decided by ${common}` : '';
    return `${reasons.length} of ${total} ${o}${decided}`;
  });
  const lead = ranked[0] as Outcome;
  return `${FOUND[lead][0]?.toUpperCase()}${FOUND[lead].slice(1)}: ${parts.join('; ')} (on ${hosts} host${hosts === 1 ? '' : 's'}).`;
}

function mostCommon(values: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

function checkList(label: string, checks: readonly AcceptanceCheck[]): Html | string {
  return checks.length
    ? html` ${label}: ${checks.map((c, i) => html`${i ? '; ' : ''}<code>${describeCheck(c)}</code>`)}.`
    : '';
}

/** For a demonstration's shortened copy: the budget as a share of production's. */
export function budgetNote(m: Manifest | undefined): string {
  if (!m?.production_run_duration || m.production_run_duration <= m.run_duration) return '';
  const share = m.run_duration / m.production_run_duration;
  return ` (a demonstration budget: ${m.run_duration} s is ${share < 0.1 ? `${Math.round(share * 1000) / 10}` : Math.round(share * 100)}% of the ${m.production_run_duration} s a production run gets, so each result does a fraction of production's work)`;
}

function verdict(result: ResultRecord): Html {
  const v = result.review?.verdict;
  return v ? html`<span class="verdict-${v}">${v}</span>` : html`<span class="muted">not reviewed</span>`;
}

function number(value: number | undefined): string {
  if (value === undefined) return '–';
  // Four significant digits, without trailing zeros: 0.5, 12.35, 1.235e+6.
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

/** running, complete, retired or waiting, from the manifest's targets and the results in. */
export function status(experiment: ExperimentRecord): string {
  const manifest = experiment.manifest;
  if (!manifest) return 'no manifest on main';
  if (manifest.retired) return 'retired';
  const planned = manifest.targets.reduce((sum, t) => sum + (t.replicas ?? 1), 0);
  const have = experiment.results.length;
  if (have === 0) return `waiting for results (0 of ${planned})`;
  return have >= planned ? `complete (${have} results)` : `running (${have} of ${planned} results)`;
}

function overviews(data: SiteData, name: string): RenderedPlot[] {
  return data.plots.filter((p) => p.experiment === name && p.result === undefined);
}

/** The declared headline over an experiment's results that are not invalid: median and range. */
export function headlineSpread(experiment: ExperimentRecord) {
  const metric = headlineMetric(experiment.manifest);
  if (!metric) return undefined;
  const values = experiment.results.flatMap((r) =>
    r.review?.verdict !== 'invalid' && r.envelope.metrics[metric] !== undefined
      ? [r.envelope.metrics[metric] as number]
      : [],
  );
  const s = spread(values);
  return s ? { metric, ...s, unit: experiment.manifest?.outputs.metrics[metric]?.unit } : undefined;
}

export function spreadText(s: NonNullable<ReturnType<typeof headlineSpread>>): string {
  const unit = s.unit ? ` ${s.unit}` : '';
  return s.n === 1
    ? `${s.metric} = ${number(s.median)}${unit} (one result)`
    : `${s.metric}: median ${number(s.median)}${unit}, from ${number(s.min)} to ${number(s.max)} over ${s.n} results`;
}

export function indexPage(data: SiteData): string {
  const results = data.experiments.flatMap((e) => e.results);
  const hosts = new Set(results.flatMap((r) => (r.review ? [r.review.host] : []))).size;
  const credit = results.reduce((sum, r) => sum + (r.credit ?? 0), 0);
  const updated = [
    ...data.history.commits.map((c) => c.date),
    ...results.map((r) => r.review?.received_at ?? ''),
  ]
    .filter(Boolean)
    .sort()
    .at(-1);
  // One card per line of inquiry: its first experiment, and what its later rounds found.
  const cards = data.experiments
    .filter((e) => data.lineage.rootOf(e.name) === e.name)
    .map((e) => {
      const top = headlineSpread(e);
      const plot = overviews(data, e.name)[0];
      return html`<li><h2><a href="${experimentHref(e.name)}">${e.manifest?.title ?? e.name}</a></h2>
<p class="muted">${e.name} · ${status(e)}</p>
${e.manifest ? html`<blockquote>${e.manifest.hypothesis}</blockquote>` : ''}
<p><strong>What we learned:</strong> ${learnedSentence(e)}${top ? html` Headline ${spreadText(top)}.` : ''}${budgetNote(e.manifest)}</p>
${laterRounds(data, e.name)}
${plot ? figure(plot, '') : ''}</li>`;
    });
  return page({
    title: 'Experiments',
    root: '',
    body: html`<h1>Experiments</h1>
<p>Each experiment was designed, reviewed and approved through a pull request, run on volunteers' computers, and every result judged and credited in the open.</p>
<ul class="summary" aria-label="The lab in numbers"><li><strong>${data.experiments.length}</strong> experiments</li><li><strong>${results.length}</strong> results</li><li><strong>${hosts}</strong> hosts</li><li><strong>${number(credit)}</strong> credit granted</li><li><strong>${updated ? updated.slice(0, 10) : '–'}</strong> last update</li></ul>
<ul class="cards">${cards}</ul>`,
  });
}

/** On an index card: the later rounds of the line it starts, each with what it found. */
function laterRounds(data: SiteData, root: string): Html | string {
  const members = data.lineage.lines.find((l) => l.root === root)?.members ?? [];
  const later = members.filter((name) => name !== root);
  if (later.length === 0) return '';
  const rounds = later.map((name) => {
    const e = data.experiments.find((x) => x.name === name);
    return html`<li>Round ${data.lineage.roundOf(name)}, <a href="${experimentHref(name)}">${name}</a>: ${e ? learnedSentence(e) : ''}</li>`;
  });
  return html`<p><strong>Line of inquiry</strong> (<a href="${lineageHref(root)}">${members.length} rounds</a>):</p><ul>${rounds}</ul>`;
}

/** Who designed an experiment, in a phrase: the follow-up rule, the model, or the person. */
export function designedBy(m: Manifest): string {
  if (m.provenance.designed_by === 'rules')
    return `the stated follow-up rule ${m.follow_up?.rule ?? '(unnamed)'}, without a model`;
  if (m.provenance.designed_by === 'model') return m.provenance.model ?? 'a model';
  return m.provenance.author ?? 'a person';
}

function hostCell(id: number | undefined, root: string): Html {
  return id === undefined ? html`–` : html`<a href="${root}${hostHref(id)}">${id}</a>`;
}

/** An experiment's page; `lineage` is its place in its line of inquiry (site/lineage.ts). */
export function experimentPage(
  data: SiteData,
  experiment: ExperimentRecord,
  lineage: Html | string = '',
): string {
  const m = experiment.manifest;
  const top = headlineSpread(experiment);
  const merge = data.history.proposalMerge(experiment.name);
  const rows = experiment.results.map(
    (r) =>
      html`<tr><td><a href="../${resultHref(experiment.name, r.id)}">${r.id}</a></td><td class="num">${hostCell(r.review?.host, '../')}</td><td class="num">${r.envelope.seed ?? '–'}</td><td>${outcome(experiment, r)} ${decidedBy(experiment, r)}</td><td>${verdict(r)}</td><td class="num">${number(r.review?.quality)}</td><td class="num">${number(r.credit)}</td><td class="num">${number(r.review?.runtime_seconds)}</td><td>${r.review?.received_at ?? '–'}</td></tr>`,
  );
  return page({
    title: m?.title ?? experiment.name,
    root: '../',
    body: html`<h1>${m?.title ?? experiment.name}</h1>
<p class="muted">${experiment.name} · ${status(experiment)}</p>
<p>What the results say: <strong>${outcomeSummary(experiment)}</strong>${top ? html`; headline ${spreadText(top)}` : ''}.</p>
<p><strong>What we learned:</strong> ${learnedSentence(experiment)}</p>
${lineage}
${
  m
    ? html`<h2>Hypothesis</h2><blockquote>${m.hypothesis}</blockquote>
<p>Each run lasts ${m.run_duration} s${budgetNote(m)}; credit is capped at ${m.credit_cap} per result; ${m.targets.length} target host${m.targets.length === 1 ? '' : 's'}.${checkList('Checks of the hypothesis', hypothesisChecksOf(m))}${checkList('Preconditions (work a result must do; unmet, it is inconclusive)', preconditionsOf(m))}</p>
<p>Designed by ${designedBy(m)}; proposed and approved in ${pullRequestLink(data, merge)}. Script: ${sourceLink(data, '../', merge?.commit, m.script)}; manifest: ${sourceLink(data, '../', merge?.commit, `manifests/${experiment.name}.yaml`)}.</p>`
    : ''
}
<h2>All results</h2>
${overviews(data, experiment.name).map((p) => figure(p, '../'))}
<div class="table"><table><caption>${experiment.results.length} result${experiment.results.length === 1 ? '' : 's'}</caption>
<thead><tr><th scope="col">Result</th><th scope="col" class="num">Host</th><th scope="col" class="num">Seed</th><th scope="col">Outcome</th><th scope="col">Eligibility</th><th scope="col" class="num">Quality</th><th scope="col" class="num">Credit</th><th scope="col" class="num">Ran (s)</th><th scope="col">Received</th></tr></thead>
<tbody>${rows}</tbody></table></div>`,
  });
}

/** A result's page; `builtOn` names the experiments that build on it (site/lineage.ts). */
export function resultPage(
  data: SiteData,
  experiment: ExperimentRecord,
  result: ResultRecord,
  builtOn: Html | string = '',
): string {
  const review = result.review;
  const metrics = Object.entries(result.envelope.metrics).map(
    ([name, value]) =>
      html`<tr><th scope="row">${name}</th><td class="num">${number(value)}</td><td>${experiment.manifest?.outputs.metrics[name]?.unit ?? ''}</td></tr>`,
  );
  const checks = (review?.checks ?? []).map(
    (c) =>
      html`<tr><th scope="row">${c.rule}</th><td>${c.passed ? 'passed' : 'failed'}</td><td>${c.finding ?? ''}</td></tr>`,
  );
  const plots = data.plots.filter((p) => p.experiment === experiment.name && p.result === result.id);
  const commit = sourceCommit(data.history, experiment, result);
  const asDeployed = deployedOf(data, experiment, result);
  return page({
    title: `Result ${result.id} of ${experiment.name}`,
    root: '../../',
    body: html`<h1>Result ${result.id} of <a href="../../${experimentHref(experiment.name)}">${experiment.manifest?.title ?? experiment.name}</a></h1>
<p>Outcome: <strong>${outcome(experiment, result)}</strong> (by the acceptance checks)${decidedBy(experiment, result) ? html`: ${decidedBy(experiment, result)}` : ''} · eligibility: ${verdict(result)}${review ? html` · quality ${number(review.quality)} · proposed credit ${number(review.proposed_credit)}` : ''}${result.credit !== undefined ? html` · credit merged ${number(result.credit)}` : ''}</p>
${builtOn}
${plots.map((p) => figure(p, '../../'))}
<h2>Metrics</h2>
<div class="table"><table><caption>As reported by the volunteer's computer</caption><thead><tr><th scope="col">Metric</th><th scope="col" class="num">Value</th><th scope="col">Unit</th></tr></thead><tbody>${metrics}</tbody></table></div>
${checks.length ? html`<h2>Checks</h2><div class="table"><table><caption>Deterministic checks before judging</caption><thead><tr><th scope="col">Rule</th><th scope="col">Result</th><th scope="col">Finding</th></tr></thead><tbody>${checks}</tbody></table></div>` : ''}
${review?.evidence?.length ? html`<h2>Evidence</h2><ul>${review.evidence.map((e) => html`<li>${e}</li>`)}</ul>` : ''}
${review?.flags?.length ? html`<h2>Flags</h2><ul>${review.flags.map((f) => html`<li>${f}</li>`)}</ul>` : ''}
<h2>Provenance</h2>
<dl class="facts">
<dt>Script</dt><dd>${sourceLink(data, '../../', commit, experiment.manifest?.script ?? `experiments/${experiment.name}.py`)}${review?.script_sha256 ? html`, sha256 <code>${review.script_sha256.slice(0, 16)}…</code>` : ''}</dd>
<dt>Manifest</dt><dd>${sourceLink(data, '../../', commit, `manifests/${experiment.name}.yaml`)}</dd>
<dt>Proposed in</dt><dd>${pullRequestLink(data, data.history.proposalMerge(experiment.name, commit))}</dd>
<dt>Results in</dt><dd>${pullRequestLink(data, data.history.resultsMerge(result.source.file))}</dd>
<dt>Host</dt><dd>${review ? html`<a href="../../${hostHref(review.host)}">host ${review.host}</a>${hostFacts(data.hosts.get(review.host))}, user ${review.user}` : '–'}</dd>
<dt>Workunit</dt><dd><code>${review?.workunit ?? '–'}</code>, seed ${result.envelope.seed ?? '–'}</dd>
<dt>Params</dt><dd>${Object.keys(result.envelope.params).length ? html`<code>${JSON.stringify(result.envelope.params)}</code>` : 'none'}</dd>
<dt>Ran</dt><dd>${review?.runtime_seconds !== undefined ? `${number(review.runtime_seconds)} s` : '–'}${asDeployed ? ` of a ${asDeployed.run_duration} s budget` : ''}; isolation: ${review?.isolation ?? 'unknown'}</dd>
<dt>Credit cap</dt><dd>${asDeployed ? `${number(asDeployed.credit_cap)}, as deployed` : 'unknown: the manifest it was deployed from is not in this history'}</dd>
<dt>Judged</dt><dd>received ${review?.received_at ?? '–'}; collected in run ${review?.run ?? '–'}; judged by ${review?.judged_by ?? '–'}</dd>
<dt>Record</dt><dd><code>${result.batch ? resultAddress(experiment.name, result.batch, result.id) : result.source.file}</code>${result.source.line ? html` (data: <code>${result.source.file}</code>, line ${result.source.line})` : ''}</dd>
<dt>Data</dt><dd><a href="../../${dataHref(experiment.name, result.id)}" download>result ${result.id} as JSON</a> (envelope and review)</dd>
</dl>
${result.envelope.summary ? html`<h2>Summary reported by the volunteer's computer</h2><blockquote>${result.envelope.summary}</blockquote>` : ''}`,
  });
}

interface Tally {
  id: number;
  results: number;
  valid: number;
  credit: number;
}

function tally(results: ResultRecord[], key: (r: ResultRecord) => number | undefined): Tally[] {
  const map = new Map<number, Tally>();
  for (const r of results) {
    const id = key(r);
    if (id === undefined) continue;
    const t = map.get(id) ?? { id, results: 0, valid: 0, credit: 0 };
    t.results += 1;
    if (r.review?.verdict === 'valid') t.valid += 1;
    t.credit += r.credit ?? 0;
    map.set(id, t);
  }
  return [...map.values()].sort((a, b) => b.credit - a.credit || a.id - b.id);
}

function tallyTable(caption: string, who: string, rows: Tally[], link?: (id: number) => string): Html {
  return html`<div class="table"><table><caption>${caption}</caption><thead><tr><th scope="col">${who}</th><th scope="col" class="num">Results</th><th scope="col" class="num">Valid</th><th scope="col" class="num">Credit</th></tr></thead>
<tbody>${rows.map((t) => html`<tr><th scope="row">${link ? html`<a href="${link(t.id)}">${t.id}</a>` : t.id}</th><td class="num">${t.results}</td><td class="num">${t.valid}</td><td class="num">${number(t.credit)}</td></tr>`)}</tbody></table></div>`;
}

export function creditPage(data: SiteData): string {
  const results = data.experiments.flatMap((e) => e.results);
  return page({
    title: 'Credit',
    root: '',
    body: html`<h1>Credit</h1>
<p>Credit is proposed per result from its quality, reviewed in a pull request, and granted once that pull request is merged. These are the merged amounts.</p>
${tallyTable(
  'Credit per host',
  'Host',
  tally(results, (r) => r.review?.host),
  hostHref,
)}
${tallyTable(
  'Credit per user',
  'User',
  tally(results, (r) => r.review?.user),
)}`,
  });
}

export function timelinePage(data: SiteData): string {
  const items = data.timeline.map(
    (t) =>
      html`<li><time datetime="${t.date}">${t.date.slice(0, 10)}</time> · <strong>${t.kind}</strong> · ${t.subject}${
        t.approver && (t.kind === 'approved' || t.kind === 'credited')
          ? html` · approved by ${t.approver}`
          : ''
      } · ${commitLink(data, t.commit)}${data.repoUrl && t.pullRequest?.number ? html` · <a href="${data.repoUrl}/pull/${t.pullRequest.number}">#${t.pullRequest.number}</a>` : ''}</li>`,
  );
  return page({
    title: 'Timeline',
    root: '',
    body: html`<h1>Timeline</h1>
<p>What happened to the research record, newest first, from the repository's history: experiments <strong>proposed</strong> and <strong>approved</strong> (a merge, after which deploy creates their workunits), <strong>deployed</strong> (a commit whose workunits results came back from), results <strong>collected</strong> and their credit <strong>credited</strong> (the merge that grants it).</p>
${items.length ? html`<ol reversed>${items}</ol>` : html`<p class="muted">No history: this site was built outside a git repository.</p>`}`,
  });
}

/** Cores, memory and OS of a host from the fleet snapshot, in brackets; nothing when it is not listed. */
function hostFacts(host: Host | undefined): Html {
  return host
    ? html` (${host.cores} cores, ${number(host.memoryGb)} GB, ${host.os}${host.osVersion ? ` ${host.osVersion}` : ''})`
    : html``;
}

/** Every host that returned a result, or that the fleet lists, with what it ran. */
export function allHosts(data: SiteData): number[] {
  const ids = new Set<number>(data.hosts.keys());
  for (const e of data.experiments) for (const r of e.results) if (r.review) ids.add(r.review.host);
  return [...ids].sort((a, b) => a - b);
}

function resultsOfHost(data: SiteData, id: number) {
  return data.experiments.flatMap((e) =>
    e.results.filter((r) => r.review?.host === id).map((r) => ({ e, r })),
  );
}

export function hostsPage(data: SiteData): string {
  const rows = allHosts(data).map((id) => {
    const host = data.hosts.get(id);
    const results = resultsOfHost(data, id);
    return html`<tr><th scope="row"><a href="${hostHref(id)}">${id}</a></th><td class="num">${host?.cores ?? '–'}</td><td class="num">${host ? number(host.memoryGb) : '–'}</td><td>${host ? `${host.os}${host.osVersion ? ` ${host.osVersion}` : ''}` : 'not in the fleet snapshot'}</td><td class="num">${results.length}</td><td class="num">${number(results.reduce((sum, x) => sum + (x.r.credit ?? 0), 0))}</td></tr>`;
  });
  return page({
    title: 'Hosts',
    root: '',
    body: html`<h1>Hosts</h1>
<p>The volunteers' computers experiments were matched to (the fleet snapshot), and what each returned.</p>
<div class="table"><table><caption>${rows.length} hosts</caption><thead><tr><th scope="col">Host</th><th scope="col" class="num">Cores</th><th scope="col" class="num">Memory (GB)</th><th scope="col">OS</th><th scope="col" class="num">Results</th><th scope="col" class="num">Credit</th></tr></thead><tbody>${rows}</tbody></table></div>`,
  });
}

export function hostPage(data: SiteData, id: number): string {
  const host = data.hosts.get(id);
  const results = resultsOfHost(data, id);
  const rows = results.map(
    ({ e, r }) =>
      html`<tr><td><a href="../${resultHref(e.name, r.id)}">${r.id}</a></td><td><a href="../${experimentHref(e.name)}">${e.name}</a></td><td>${outcome(e, r)}</td><td>${verdict(r)}</td><td class="num">${number(r.credit)}</td><td class="num">${number(r.review?.runtime_seconds)}</td></tr>`,
  );
  return page({
    title: `Host ${id}`,
    root: '../',
    body: html`<h1>Host ${id}</h1>
${
  host
    ? html`<dl class="facts"><dt>Cores</dt><dd>${host.cores}</dd><dt>Memory</dt><dd>${number(host.memoryGb)} GB</dd><dt>OS</dt><dd>${host.os}${host.osVersion ? ` ${host.osVersion}` : ''}</dd><dt>GPUs</dt><dd>${host.gpus.map((g) => g.model).join(', ') || 'none'}</dd>${host.userId !== undefined ? html`<dt>User</dt><dd>${host.userId}</dd>` : ''}</dl>`
    : html`<p class="muted">Not in the fleet snapshot this site was built with.</p>`
}
<h2>Results</h2>
<div class="table"><table><caption>${results.length} result${results.length === 1 ? '' : 's'} from host ${id}</caption><thead><tr><th scope="col">Result</th><th scope="col">Experiment</th><th scope="col">Outcome</th><th scope="col">Eligibility</th><th scope="col" class="num">Credit</th><th scope="col" class="num">Ran (s)</th></tr></thead><tbody>${rows}</tbody></table></div>`,
  });
}
