/** Text from volunteers, from Claude and from pull requests only ever reaches a page escaped. */
export function escapeHtml(text: unknown): string {
  return String(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A tagged template that escapes every interpolated value unless it is already `Html`. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(value);
}

export interface PageOptions {
  title: string;
  /** Path from this page to the site root, e.g. `../` */
  root: string;
  body: Html;
}

const NAV: [string, string][] = [
  ['index.html', 'Experiments'],
  ['lineage.html', 'Lines of inquiry'],
  ['hosts.html', 'Hosts'],
  ['credit.html', 'Credit'],
  ['timeline.html', 'Timeline'],
];

/** A complete page: no JavaScript, readable on a phone, one stylesheet. */
export function page(options: PageOptions): string {
  return `<!doctype html>\n${
    html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Axiom Lab</title>
<link rel="stylesheet" href="${options.root}style.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><nav aria-label="Site"><a class="brand" href="${options.root}index.html">Axiom Lab</a>${NAV.map(
      ([href, label]) => html` <a href="${options.root}${href}">${label}</a>`,
    )}</nav></header>
<main id="main">
${options.body}
</main>
<footer><p>The research record of an Axiom Lab BOINC project: experiments designed under human review, run by volunteers, judged and credited through pull requests.</p></footer>
</body>
</html>
`.text
  }`;
}

export const STYLE = `:root { --fg: #1b1f24; --muted: #4a5360; --bg: #ffffff; --line: #d6dbe1; --accent: #0b5cad;
  --ok: #1a6b2f; --bad: #a1260d; --warn: #7a5200; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header, main, footer { max-width: 60rem; margin: 0 auto; padding: 0 1rem; }
header nav { display: flex; flex-wrap: wrap; gap: 1rem; padding: 1rem 0; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; margin-right: auto; }
a { color: var(--accent); }
a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: .5rem; }
h1 { font-size: 1.8rem; line-height: 1.2; }
h2 { font-size: 1.3rem; margin-top: 2rem; }
.muted, footer { color: var(--muted); }
footer { border-top: 1px solid var(--line); margin-top: 3rem; padding-top: 1rem; font-size: .9rem; }
figure { margin: 1rem 0; }
figure img { width: 100%; max-width: 45rem; height: auto; border: 1px solid var(--line); }
details { margin: .5rem 0 1rem; }
summary { cursor: pointer; color: var(--accent); }
.summary { display: flex; flex-wrap: wrap; gap: .5rem 2rem; padding: 0; list-style: none; }
.summary strong { font-size: 1.3rem; display: block; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
code { overflow-wrap: anywhere; }
.outcome-supported { color: var(--ok); font-weight: 600; }
.outcome-not-supported { color: var(--bad); font-weight: 600; }
.outcome-inconclusive { color: var(--warn); font-weight: 600; }
figcaption { color: var(--muted); font-size: .9rem; }
.table { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
caption { text-align: left; font-weight: 600; padding: .5rem 0; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict-valid { color: var(--ok); font-weight: 600; }
.verdict-invalid { color: var(--bad); font-weight: 600; }
.verdict-suspicious { color: var(--warn); font-weight: 600; }
.cards { list-style: none; padding: 0; display: grid; gap: 1.5rem; }
.cards li { border: 1px solid var(--line); border-radius: .5rem; padding: 1rem; }
.cards h2 { margin-top: 0; font-size: 1.15rem; }
blockquote { margin: 0; padding-left: 1rem; border-left: 3px solid var(--line); color: var(--muted); }
`;
