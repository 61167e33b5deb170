import { addressOf, parseResultAddress } from '../record/layout.js';
import type { ExperimentRecord, ResultRecord } from '../record/research.js';
import { type Html, html, page } from './html.js';
import {
  designedBy,
  experimentHref,
  headlineSpread,
  learnedSentence,
  lineageHref,
  resultHref,
  type SiteData,
  spreadText,
  status,
} from './pages.js';

/** The page that lists every line of inquiry (in the site's navigation). */
export const LINES_HREF = 'lineage.html';

function experimentOf(data: SiteData, name: string): ExperimentRecord | undefined {
  return data.experiments.find((e) => e.name === name);
}

/** A link to a result's page from `root`, named by its experiment and id; its address when the site has no page. */
function citedLink(data: SiteData, root: string, address: string): Html {
  const named = parseResultAddress(address);
  const found = named && experimentOf(data, named.experiment)?.results.some((r) => r.id === named.id);
  return named && found
    ? html`<a href="${root}${resultHref(named.experiment, named.id)}">result ${named.id} of ${named.experiment}</a>`
    : html`<code>${address}</code> <span class="muted">(not in this record)</span>`;
}

function experimentLink(data: SiteData, root: string, name: string): Html {
  const title = experimentOf(data, name)?.manifest?.title ?? name;
  return html`<a href="${root}${experimentHref(name)}">${title}</a>`;
}

/** What came next: the experiments built on this one, each with its round and its rule. */
function nextOf(data: SiteData, root: string, name: string): Html {
  const next = data.lineage.children.get(name) ?? [];
  return next.length
    ? html`${next.map((child, i) => html`${i ? '; ' : ''}${experimentLink(data, root, child)} (round ${data.lineage.roundOf(child)})`)}`
    : html`<span class="muted">nothing yet: this is the line's latest round</span>`;
}

/** One round of a line: what it set out to do, what it built on, what it found, and what came next. */
function roundSection(data: SiteData, e: ExperimentRecord): Html {
  const m = e.manifest;
  const f = m?.follow_up;
  const top = headlineSpread(e);
  return html`<section aria-labelledby="round-${e.name}"><h2 id="round-${e.name}">Round ${data.lineage.roundOf(e.name)}: ${experimentLink(data, '../', e.name)}</h2>
<p class="muted">${e.name} · ${status(e)}${m ? ` · designed by ${designedBy(m)}` : ''}</p>
${m ? html`<blockquote>${m.hypothesis}</blockquote>` : ''}
${
  f
    ? html`<p><strong>Why:</strong> ${f.why}</p>
<p><strong>Built on:</strong> ${f.parents.flatMap((p) => p.results).map((a, i) => html`${i ? ', ' : ''}${citedLink(data, '../', a)}`)}.</p>
<p><strong>What its outcome would change:</strong> ${f.would_change}</p>`
    : ''
}
<p><strong>What it found:</strong> ${learnedSentence(e)}${top ? html` Headline ${spreadText(top)}.` : ''}</p>
<p><strong>What came next:</strong> ${nextOf(data, '../', e.name)}</p></section>`;
}

/** A line of inquiry, round by round, from its first experiment to its latest follow-up. */
export function linePage(data: SiteData, line: { root: string; members: readonly string[] }): string {
  const rounds = line.members.flatMap((name) => experimentOf(data, name) ?? []);
  const first = experimentOf(data, line.root);
  const title = `Line of inquiry: ${first?.manifest?.title ?? line.root}`;
  return page({
    title,
    root: '../',
    body: html`<h1>${title}</h1>
<p>${rounds.length === 1 ? 'One round so far' : `${rounds.length} rounds`}: each follow-up was designed from what the round before it found, cites the results it builds on, and says what its outcome would change.</p>
${rounds.map((e) => roundSection(data, e))}`,
  });
}

/** Every line of inquiry, with its rounds. */
export function linesPage(data: SiteData): string {
  const items = data.lineage.lines.map(
    (line) =>
      html`<li><a href="${lineageHref(line.root)}">${experimentOf(data, line.root)?.manifest?.title ?? line.root}</a> <span class="muted">· ${line.members.length} round${line.members.length === 1 ? '' : 's'}: ${line.members.join(' → ')}</span></li>`,
  );
  return page({
    title: 'Lines of inquiry',
    root: '',
    body: html`<h1>Lines of inquiry</h1>
<p>Each line starts with an experiment; every follow-up grew out of the results of the round before it, and names them.</p>
<ul>${items}</ul>`,
  });
}

/** On an experiment's page: its place in its line, what it built on, and what came next. */
export function lineageNote(data: SiteData, e: ExperimentRecord): Html {
  const root = data.lineage.rootOf(e.name);
  const f = e.manifest?.follow_up;
  return html`<p><strong>Line of inquiry:</strong> round ${data.lineage.roundOf(e.name)} of <a href="../${lineageHref(root)}">${experimentOf(data, root)?.manifest?.title ?? root}</a>.${
    f
      ? html` Built on ${f.parents.flatMap((p) => p.results).map((a, i) => html`${i ? ', ' : ''}${citedLink(data, '../', a)}`)}.`
      : ''
  } What came next: ${nextOf(data, '../', e.name)}.</p>`;
}

/** On a result's page: the experiments that build on it, linked forward. */
export function builtOnNote(data: SiteData, e: ExperimentRecord, result: ResultRecord): Html | string {
  const address = addressOf({
    experiment: e.name,
    id: result.id,
    ...(result.batch ? { batch: result.batch } : {}),
  });
  const next = data.lineage.citedBy.get(address) ?? [];
  return next.length
    ? html`<p><strong>Built on this result:</strong> ${next.map((n, i) => html`${i ? '; ' : ''}${experimentLink(data, '../../', n)} (round ${data.lineage.roundOf(n)})`)}.</p>`
    : '';
}
