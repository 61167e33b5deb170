import { OUTCOMES, type Outcome, outcomeOf } from '../envelope/acceptance.js';
import type { RenderedPlot } from '../plots/plots.js';
import { resultAddress } from '../record/layout.js';
import type { ExperimentRecord, ResultRecord } from '../record/research.js';
import { type Html, html, page } from './html.js';
import type { TimelineEntry } from './timeline.js';

/** Where each plot is in the site, and everything the pages are built from. */
export interface SiteData {
  experiments: ExperimentRecord[];
  plots: RenderedPlot[];
  timeline: TimelineEntry[];
}

export const plotHref = (plot: RenderedPlot) =>
  `plots/${plot.experiment}/${plot.result === undefined ? 'overview' : plot.result}-${plot.index + 1}.svg`;
export const experimentHref = (name: string) => `experiments/${name}.html`;
export const resultHref = (experiment: string, id: number) => `results/${experiment}/${id}.html`;

function figure(plot: RenderedPlot, root: string): Html {
  return html`<figure><img src="${root}${plotHref(plot)}" alt="${plot.alt}" width="640" height="400" loading="lazy"><figcaption>${plot.title}</figcaption></figure>`;
}

/** The result's outcome: from its review, else computed from the manifest's acceptance checks. */
function outcomeOfResult(experiment: ExperimentRecord, result: ResultRecord): Outcome {
  return (
    result.review?.outcome ??
    outcomeOf(
      result.envelope,
      experiment.manifest,
      (result.review?.checks ?? []).every((c) => c.passed),
    )
  );
}

function outcome(experiment: ExperimentRecord, result: ResultRecord): Html {
  const o = outcomeOfResult(experiment, result);
  return html`<span class="outcome-${o.replace(' ', '-')}">${o}</span>`;
}

/** What an experiment's results say, over results and hosts. */
export function outcomeSummary(experiment: ExperimentRecord): string {
  const counts = new Map<Outcome, number>();
  for (const r of experiment.results)
    counts.set(outcomeOfResult(experiment, r), (counts.get(outcomeOfResult(experiment, r)) ?? 0) + 1);
  const hosts = new Set(experiment.results.flatMap((r) => (r.review ? [r.review.host] : []))).size;
  if (experiment.results.length === 0) return 'no results yet';
  return `${OUTCOMES.map((o) => `${counts.get(o) ?? 0} ${o}`).join(', ')} (${experiment.results.length} result${experiment.results.length === 1 ? '' : 's'} on ${hosts} host${hosts === 1 ? '' : 's'})`;
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

/** The first acceptance metric (else the first declared one) of the latest valid result. */
export function headline(
  experiment: ExperimentRecord,
): { metric: string; value: number; result: number } | undefined {
  const manifest = experiment.manifest;
  const metric = manifest?.acceptance?.[0]?.metric ?? Object.keys(manifest?.outputs.metrics ?? {})[0];
  if (!metric) return undefined;
  const candidates = experiment.results.filter(
    (r) => r.review?.verdict !== 'invalid' && r.envelope.metrics[metric] !== undefined,
  );
  const latest = candidates.at(-1);
  return latest ? { metric, value: latest.envelope.metrics[metric] as number, result: latest.id } : undefined;
}

function overviews(data: SiteData, name: string): RenderedPlot[] {
  return data.plots.filter((p) => p.experiment === name && p.result === undefined);
}

export function indexPage(data: SiteData): string {
  const cards = data.experiments.map((e) => {
    const top = headline(e);
    const plot = overviews(data, e.name)[0];
    return html`<li><h2><a href="${experimentHref(e.name)}">${e.manifest?.title ?? e.name}</a></h2>
<p class="muted">${e.name} · ${status(e)}</p>
<p>What the results say: ${outcomeSummary(e)}</p>
${e.manifest ? html`<blockquote>${e.manifest.hypothesis}</blockquote>` : ''}
${top ? html`<p>Latest: <strong>${top.metric} = ${number(top.value)}</strong> (result ${top.result})</p>` : ''}
${plot ? figure(plot, '') : ''}</li>`;
  });
  return page({
    title: 'Experiments',
    root: '',
    body: html`<h1>Experiments</h1>
<p>Each experiment was designed, reviewed and approved through a pull request, run on volunteers' computers, and every result judged and credited in the open.</p>
<ul class="cards">${cards}</ul>`,
  });
}

export function experimentPage(data: SiteData, experiment: ExperimentRecord): string {
  const m = experiment.manifest;
  const rows = experiment.results.map(
    (r) =>
      html`<tr><td><a href="../${resultHref(experiment.name, r.id)}">${r.id}</a></td><td class="num">${r.review?.host ?? '–'}</td><td class="num">${r.envelope.seed ?? '–'}</td><td>${outcome(experiment, r)}</td><td>${verdict(r)}</td><td class="num">${number(r.review?.quality)}</td><td class="num">${number(r.credit)}</td><td>${r.review?.received_at ?? '–'}</td></tr>`,
  );
  return page({
    title: m?.title ?? experiment.name,
    root: '../',
    body: html`<h1>${m?.title ?? experiment.name}</h1>
<p class="muted">${experiment.name} · ${status(experiment)}</p>
<p>What the results say: <strong>${outcomeSummary(experiment)}</strong></p>
${
  m
    ? html`<h2>Hypothesis</h2><blockquote>${m.hypothesis}</blockquote>
<p>Each run lasts ${m.run_duration} s; credit is capped at ${m.credit_cap} per result; ${m.targets.length} target host${m.targets.length === 1 ? '' : 's'}.</p>`
    : ''
}
<h2>All results</h2>
${overviews(data, experiment.name).map((p) => figure(p, '../'))}
<div class="table"><table><caption>${experiment.results.length} result${experiment.results.length === 1 ? '' : 's'}</caption>
<thead><tr><th scope="col">Result</th><th scope="col" class="num">Host</th><th scope="col" class="num">Seed</th><th scope="col">Outcome</th><th scope="col">Eligibility</th><th scope="col" class="num">Quality</th><th scope="col" class="num">Credit</th><th scope="col">Received</th></tr></thead>
<tbody>${rows}</tbody></table></div>`,
  });
}

export function resultPage(data: SiteData, experiment: ExperimentRecord, result: ResultRecord): string {
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
  return page({
    title: `Result ${result.id} of ${experiment.name}`,
    root: '../../',
    body: html`<h1>Result ${result.id} of <a href="../../${experimentHref(experiment.name)}">${experiment.manifest?.title ?? experiment.name}</a></h1>
<p>Outcome: <strong>${outcome(experiment, result)}</strong> (by the acceptance checks) · eligibility: ${verdict(result)}${review ? html` · quality ${number(review.quality)} · proposed credit ${number(review.proposed_credit)}` : ''}${result.credit !== undefined ? html` · credit merged ${number(result.credit)}` : ''}</p>
${plots.map((p) => figure(p, '../../'))}
<h2>Metrics</h2>
<div class="table"><table><caption>As reported by the volunteer's computer</caption><thead><tr><th scope="col">Metric</th><th scope="col" class="num">Value</th><th scope="col">Unit</th></tr></thead><tbody>${metrics}</tbody></table></div>
${checks.length ? html`<h2>Checks</h2><div class="table"><table><caption>Deterministic checks before judging</caption><thead><tr><th scope="col">Rule</th><th scope="col">Result</th><th scope="col">Finding</th></tr></thead><tbody>${checks}</tbody></table></div>` : ''}
${review?.evidence?.length ? html`<h2>Evidence</h2><ul>${review.evidence.map((e) => html`<li>${e}</li>`)}</ul>` : ''}
${review?.flags?.length ? html`<h2>Flags</h2><ul>${review.flags.map((f) => html`<li>${f}</li>`)}</ul>` : ''}
<h2>Provenance</h2>
<ul><li>Workunit: <code>${review?.workunit ?? '–'}</code></li><li>Host ${review?.host ?? '–'}, user ${review?.user ?? '–'}, seed ${result.envelope.seed ?? '–'}</li>
<li>Received ${review?.received_at ?? '–'}; collected in run ${review?.run ?? '–'}; judged by ${review?.judged_by ?? '–'}</li>
<li>In the record: <code>${result.batch ? resultAddress(experiment.name, result.batch, result.id) : result.source.file}</code>${result.source.line ? html` (data: <code>${result.source.file}</code>, line ${result.source.line})` : ''}</li></ul>
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

function tallyTable(caption: string, who: string, rows: Tally[]): Html {
  return html`<div class="table"><table><caption>${caption}</caption><thead><tr><th scope="col">${who}</th><th scope="col" class="num">Results</th><th scope="col" class="num">Valid</th><th scope="col" class="num">Credit</th></tr></thead>
<tbody>${rows.map((t) => html`<tr><th scope="row">${t.id}</th><td class="num">${t.results}</td><td class="num">${t.valid}</td><td class="num">${number(t.credit)}</td></tr>`)}</tbody></table></div>`;
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
      html`<li><time datetime="${t.date}">${t.date.slice(0, 10)}</time> · <strong>${t.kind}</strong> · ${t.subject} <code>${t.commit.slice(0, 10)}</code></li>`,
  );
  return page({
    title: 'Timeline',
    root: '',
    body: html`<h1>Timeline</h1>
<p>Proposals, deployments and results, newest first, from the repository's history.</p>
${items.length ? html`<ol reversed>${items}</ol>` : html`<p class="muted">No history: this site was built outside a git repository.</p>`}`,
  });
}
