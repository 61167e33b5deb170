#!/usr/bin/env node
// Takes README's pictures from a demo lab (axiom demo --dir DIR --yes first): the site's index, and
// a results pull request as `axiom pr show` prints it. Beside them it writes screenshots.json, what
// the pictures show in words (the experiments on the site, the pull request's headings): the demo's
// test runs this script on a fresh demo and compares, so the pictures cannot drift from what the demo
// shows. Usage: node scripts/screenshots.mjs DIR [--out IMAGES_DIR]   (default: docs/images)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [dir, flag, outArg] = process.argv.slice(2);
if (!dir || dir === '--help' || !existsSync(join(dir, 'site', 'index.html')) || (flag && flag !== '--out')) {
  console.error(
    'Usage: node scripts/screenshots.mjs DIR [--out IMAGES_DIR]   (DIR: a demo lab made by axiom demo --dir DIR --yes)',
  );
  process.exit(dir === '--help' ? 0 : 2);
}
const out = resolve(outArg ?? join(root, 'docs/images'));
mkdirSync(out, { recursive: true });
const escapeHtml = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const axiom = (...args) =>
  execFileSync('node', [join(root, 'bin/axiom.js'), ...args], { cwd: join(dir, 'lab'), encoding: 'utf8' });
// The first round's results pull request: the oldest (the list is newest first; the demo's second round has its own).
const first =
  [...axiom('pr', 'list', '--all').matchAll(/^\S+ {2}(axiom\/results-\S+)/gm)].at(-1)?.[1] ?? 'results';
const shown = axiom('pr', 'show', first);
const text = shown.split('\n--- ')[0].split('\n').slice(0, 48).join('\n');
const browser = await chromium.launch({
  executablePath: process.env.AXIOM_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
let experiments;
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(`file://${join(resolve(dir), 'site', 'index.html')}`);
  experiments = await page.$$eval('ul.cards h2', (nodes) => nodes.map((n) => n.textContent.trim()));
  await page.screenshot({ path: join(out, 'site.png') });
  await page.setContent(
    `<pre style="font: 13px/1.45 ui-monospace, monospace; white-space: pre-wrap; margin: 16px; color: #1b1f24">$ axiom pr show results\n${escapeHtml(text)}</pre>`,
  );
  await page.screenshot({ path: join(out, 'results-pull-request.png') });
} finally {
  await browser.close();
}
const shows = {
  'site.png': { experiments },
  // The pull request's headings, all of them (the picture shows its first lines), digits as #.
  'results-pull-request.png': {
    headings: shown
      .split('\n--- ')[0]
      .split('\n')
      .filter((l) => /^#{1,3} /.test(l))
      .map((l) => l.replace(/[0-9]+/g, '#')),
  },
};
writeFileSync(join(out, 'screenshots.json'), `${JSON.stringify(shows, null, 2)}\n`);
console.log(`wrote ${join(out, 'site.png')}, ${join(out, 'results-pull-request.png')} and screenshots.json`);
