#!/usr/bin/env node
// Takes README's pictures from a demo lab (axiom demo --dir DIR --yes first): the site's index, and
// a results pull request as `axiom pr show` prints it. Usage: node scripts/screenshots.mjs DIR
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = process.argv[2];
if (!dir || dir === '--help' || !existsSync(join(dir, 'site', 'index.html'))) {
  console.error(
    'Usage: node scripts/screenshots.mjs DIR   (DIR: a demo lab made by axiom demo --dir DIR --yes)',
  );
  process.exit(dir === '--help' ? 0 : 2);
}
const escapeHtml = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const shown = execFileSync('node', [join(root, 'bin/axiom.js'), 'pr', 'show', 'results'], {
  cwd: join(dir, 'lab'),
  encoding: 'utf8',
});
const text = shown.split('\n--- ')[0].split('\n').slice(0, 48).join('\n');
const browser = await chromium.launch({
  executablePath: process.env.AXIOM_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(`file://${join(dir, 'site', 'index.html')}`);
  await page.screenshot({ path: join(root, 'docs/images/site.png') });
  await page.setContent(
    `<pre style="font: 13px/1.45 ui-monospace, monospace; white-space: pre-wrap; margin: 16px; color: #1b1f24">$ axiom pr show results\n${escapeHtml(text)}</pre>`,
  );
  await page.screenshot({ path: join(root, 'docs/images/results-pull-request.png') });
} finally {
  await browser.close();
}
console.log('wrote docs/images/site.png and docs/images/results-pull-request.png');
