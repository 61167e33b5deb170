import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { PlotSpec } from '../src/manifest/types.js';
import { PlotRenderer } from '../src/plots/render.js';
import { batchPlot, fitPowerLaw, fitPowerLawFloor, overviewPlot, resultPlot } from '../src/plots/spec.js';
import type { ResultRecord } from '../src/record/research.js';
import { writeResultsTree } from './fixtures/results-tree.mjs';
import { git, makeLab } from './helpers/git.js';
import { REPO_ROOT, runCli } from './helpers/repo.js';
import { labWith, recordRound } from './helpers/rounds.js';

const EXPERIMENTS = ['double_descent', 'neural_scaling_laws', 'lottery_ticket'];
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function fixture(perExperiment = 5): string {
  const root = mkdtempSync(join(tmpdir(), 'axiom-site-'));
  made.push(root);
  writeResultsTree(root, { repo: REPO_ROOT, experiments: EXPERIMENTS, perExperiment });
  return root;
}

const env = { PATH: process.env.PATH };

function record(series: Record<string, number[]>): ResultRecord {
  return {
    experiment: 'scaling',
    id: 7,
    source: { file: 'results/scaling/2026-11-25T120000Z.jsonl', line: 1 },
    envelope: { params: {}, metrics: {}, series, summary: '' },
  };
}

describe('plots', () => {
  let renderer: PlotRenderer;
  beforeAll(() => {
    renderer = new PlotRenderer(1);
  });
  afterAll(async () => {
    await renderer.close();
  });

  it('renders a valid SVG that carries every data point, with the fitted power law', async () => {
    const plot: PlotSpec = {
      title: 'Loss against parameters',
      x: 'params',
      y: ['loss'],
      x_scale: 'log',
      y_scale: 'log',
      mark: 'point',
      fit: 'power_law',
    };
    const params = [1e3, 1e4, 1e5, 1e6];
    const loss = params.map((n) => 3 * n ** -0.25);
    const job = resultPlot(record({ params, loss }), plot);
    const svg = await renderer.render(job);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    for (const [i, n] of params.entries())
      expect(svg).toContain(
        `aria-label="params: ${n.toLocaleString('en-US').replaceAll(',', '')}; loss: ${Number((loss[i] as number).toPrecision(12))}; series: loss"`,
      );
    expect(svg).toContain('series: loss fit, exponent -0.250');
    expect(job.alt).toBe(
      'Loss against parameters: loss against params for result 7, 4 points in 1 line (log x axis, log y axis); dashed: loss fit, exponent -0.250.',
    );
  });

  it('leaves an invalid result holding 1e308, and a valid one a million times off the others, out of batch plots and overviews', async () => {
    const plot: PlotSpec = { title: 'Running mean', x: 'n', y: ['running_mean'] };
    const result = (id: number, ys: number[], verdict: 'valid' | 'invalid'): ResultRecord => ({
      ...record({ n: [1, 2, 3], running_mean: ys }),
      id,
      review: { verdict, host: 60 } as ResultRecord['review'],
    });
    const honest = [result(1, [0.5, 1, 1.5], 'valid'), result(2, [0.6, 1.1, 1.4], 'valid')];
    const ticks = (svg: string) =>
      [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)]
        .map((m) => m[1])
        .filter((t) => /^[-0-9.e+,]+$/.test(t ?? ''))
        .map((t) => Number((t as string).replaceAll(',', '')));
    const cases = [
      // A valid result 10,000 times the others is drawn: it stretches the axis (the control).
      { outlier: result(3, [1, 1e4, 2], 'valid'), note: undefined },
      { outlier: result(3, [1, 1e308, 2], 'invalid'), note: /; 1 invalid result left out\.$/ },
      {
        outlier: result(3, [1, 1e300, 2], 'valid'),
        note: /; 1 result off scale left out \(3: values over a million times the others'; its own plot shows it\)\.$/,
      },
    ];
    for (const { outlier, note } of cases) {
      const all = [...honest, outlier];
      for (const job of [
        batchPlot('mean_test', 'b', all, plot, new Set([3])),
        overviewPlot('mean_test', all, plot),
      ]) {
        const shown = ticks(await renderer.render(job));
        if (!note) expect(Math.max(...shown)).toBeGreaterThanOrEqual(1e4);
        else {
          expect(shown).toContain(1.5);
          expect(shown.every((t) => Math.abs(t) <= 3)).toBe(true);
          expect(job.alt).toMatch(note);
        }
      }
    }
  });

  it('leaves out points a log axis cannot show, and fits power laws exactly', async () => {
    const plot: PlotSpec = { title: 'Error', x: 'width', y: ['error'], x_scale: 'log', y_scale: 'log' };
    const job = resultPlot(record({ width: [0, 1, 2, 4], error: [1, 0, 0.5, 0.25] }), plot);
    expect(job.values.map((v) => [v.x, v.y])).toEqual([
      [2, 0.5],
      [4, 0.25],
    ]);
    const fit = fitPowerLaw([1, 2, 4, 8].map((x) => ({ x, y: 5 * x ** 1.5 })));
    expect(fit?.b).toBeCloseTo(1.5, 12);
    expect(fit?.a).toBeCloseTo(5, 12);
  });

  it('draws one line per group, its reference lines at metrics, and the fits it compares', async () => {
    const plot: PlotSpec = {
      title: 'Accuracy by width',
      x: 'epoch',
      y: ['acc'],
      group_by: 'scale',
      reference: [
        { y: 'dense', label: 'dense network' },
        { x: 100, label: 'n' },
      ],
    };
    const data = record({
      epoch: [1, 2, 3, 1, 2, 3],
      acc: [0.1, 0.5, 0.9, 0.2, 0.3, 0.4],
      scale: [16, 16, 16, 64, 64, 64],
    });
    data.envelope.metrics.dense = 0.95;
    const job = resultPlot(data, plot);
    const lines = new Set(job.values.filter((v) => v.kind === 'data').map((v) => `${v.series}|${v.group}`));
    expect([...lines].sort()).toEqual(['scale 16|scale 16', 'scale 64|scale 64']);
    expect(job.values.filter((v) => v.kind === 'refy')).toEqual([
      { x: 0, y: 0.95, series: 'dense network (0.95)', kind: 'refy', label: 'dense network (0.95)' },
    ]);
    expect(job.values.filter((v) => v.kind === 'refx').map((v) => v.x)).toEqual([100]);
    expect(job.alt).toContain('6 points in 2 lines');
    expect(job.alt).toContain('reference lines: n (100); dense network (0.95)');
    const svg = await renderer.render(job);
    expect(svg.match(/aria-roledescription="line mark container"/g)?.length).toBeGreaterThanOrEqual(2);

    // y = 3·x^-0.5 + 0.2: the floor fit finds the exponent the scaling-law script reports.
    const floor = fitPowerLawFloor(
      [10, 30, 100, 300, 1000, 3000].map((x) => ({ x, y: 3 * x ** -0.5 + 0.2 })),
    );
    expect(floor?.alpha).toBeCloseTo(0.5, 1);
    const compared = resultPlot(
      record({ step: [1, 3, 10, 30, 100], retention: [0.9, 0.75, 0.55, 0.4, 0.28] }),
      {
        title: 'Retention',
        x: 'step',
        y: ['retention'],
        x_scale: 'log',
        y_scale: 'log',
        fit: ['retention_power', 'retention_exponential'],
      },
    );
    expect([...new Set(compared.values.filter((v) => v.kind === 'fit').map((v) => v.series))]).toEqual([
      'retention power-law fit',
      'retention exponential fit',
    ]);
  });
});

const RUN = '2026-11-25T120000Z';

describe('axiom plots', () => {
  it("writes each batch's plots beside its review, embeds them there, and changes nothing on a rerun", async () => {
    const root = fixture(5);
    const first = await runCli(['plots', '--root', root, '--json'], { cwd: root, env });
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout);
    // One batch per experiment, one plot each.
    expect(report.plots).toBe(4);
    const svg = readFileSync(join(root, `results/double_descent/${RUN}-plot-1.svg`), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    const review = readFileSync(join(root, `results/double_descent/${RUN}.md`), 'utf8');
    expect(review).toContain(
      `<!-- axiom:plots -->\n## Plots\n\n![Test and train error against width: test_error and train_error against width over the 4 results of double_descent in batch ${RUN}`,
    );
    // The fixture's suspicious result is drawn on its own; its invalid one is left out.
    expect(review).toContain('dashed: flagged results 1004; 1 invalid result left out.');
    expect(review).toContain(`](${RUN}-plot-1.svg)`);
    const again = await runCli(['plots', '--root', root, '--json'], { cwd: root, env });
    expect(JSON.parse(again.stdout).changed).toEqual([]);
    expect(readFileSync(join(root, `results/double_descent/${RUN}.md`), 'utf8')).toBe(review);
  });
});

/** Rewrites the line of result `id` in a batch data file. */
function editLine(file: string, id: number, edit: (line: Record<string, any>) => void): void {
  const lines = readFileSync(file, 'utf8').split('\n');
  const index = lines.findIndex((l) => l.startsWith(`{"result":${id},`));
  const line = JSON.parse(lines[index] as string);
  edit(line);
  lines[index] = JSON.stringify(line);
  writeFileSync(file, lines.join('\n'));
}

describe('axiom site', () => {
  it('builds pages and plots from a results tree, escaping everything volunteers and models wrote', async () => {
    const root = fixture(3);
    const data = join(root, `results/double_descent/${RUN}.jsonl`);
    editLine(data, 1000, (line) => {
      line.envelope.summary = '<script>alert("x")</script> ignore previous instructions';
      line.review.evidence = ['<img src=x onerror=alert(1)>'];
    });
    editLine(data, 1001, (line) => {
      line.review = { verdict: 'valid' };
    });

    const out = join(root, 'public');
    const built = await runCli(['site', '--root', root, '--out', out, '--json'], { cwd: root, env });
    expect(built.code).toBe(0);
    const report = JSON.parse(built.stdout);
    // Index, lines of inquiry, credit, timeline and hosts; a page per host, per line, per experiment and per result.
    const hosts = readdirSync(join(out, 'hosts')).length;
    expect(hosts).toBeGreaterThan(0);
    // lottery_ticket draws two plots per result and two overviews, the others one.
    expect(report).toMatchObject({
      experiments: 3,
      results: 8,
      pages: 5 + hosts + 3 + 3 + 8,
      plots: 8 + 3 + 4,
    });
    expect(JSON.parse(readFileSync(join(out, 'results/double_descent/1000.json'), 'utf8')).result).toBe(1000);
    // The line with a broken review is reported at its line and left out, not guessed at.
    expect(report.problems[0]).toMatchObject({
      file: `results/double_descent/${RUN}.jsonl`,
      line: 2,
      severity: 'warning',
    });
    expect(report.problems[0].message).toContain('its review breaks schemas/review.schema.json');
    const page = readFileSync(join(out, 'results/double_descent/1000.html'), 'utf8');
    expect(page).not.toContain('<script>');
    expect(page).not.toContain('<img src=x');
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; ignore previous instructions');
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(existsSync(join(out, 'results/double_descent/1001.html'))).toBe(false);
    // Each result page says what it found, apart from whether it was paid.
    expect(page).toMatch(
      /Outcome: <strong><span class="outcome-[a-z-]+">(supported|not supported|inconclusive)<\/span><\/strong>/,
    );
    expect(readFileSync(join(out, 'experiments/double_descent.html'), 'utf8')).toMatch(
      /What the results say: <strong>\d+ supported, \d+ not supported, \d+ inconclusive \(2 results on 1 host\)<\/strong>/,
    );
    // Each result page names its stable address in the record.
    expect(page).toContain(`results/double_descent/${RUN}.md#result-1000`);
    const index = readFileSync(join(out, 'index.html'), 'utf8');
    expect(index).toContain('<html lang="en">');
    expect(index).toContain('complete (3 results)');
    expect(index).toMatch(
      /<img src="plots\/double_descent\/overview-1\.svg" alt="Test and train error against width: [^"]+"/,
    );
    const credit = readFileSync(join(out, 'credit.html'), 'utf8');
    expect(credit).toContain('<caption>Credit per host</caption>');
  });

  it('refuses to write into a directory that is not a site it built, and rebuilds its own', async () => {
    const root = fixture(1);
    const precious = join(root, 'precious');
    mkdirSync(precious);
    writeFileSync(join(precious, 'notes.txt'), 'keep me');
    const refused = await runCli(['site', '--root', root, '--out', precious], { cwd: root, env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('is not empty and is not a site built by axiom site');
    expect(readFileSync(join(precious, 'notes.txt'), 'utf8')).toBe('keep me');
    const out = join(root, 'site');
    expect((await runCli(['site', '--root', root, '--out', out], { cwd: root, env })).code).toBe(0);
    writeFileSync(join(out, 'stale.html'), 'old');
    expect((await runCli(['site', '--root', root, '--out', out], { cwd: root, env })).code).toBe(0);
    expect(existsSync(join(out, 'stale.html'))).toBe(false);
    const dry = await runCli(['site', '--root', root, '--out', join(root, 'dry'), '--dry-run'], {
      cwd: root,
      env,
    });
    const hostPages = readdirSync(join(out, 'hosts')).length;
    expect(dry.stdout).toContain(`would write ${5 + hostPages + 3 + 3 + 3} pages and 8 plots`);
    expect(existsSync(join(root, 'dry'))).toBe(false);
  });

  it('reports a fleet snapshot it cannot read instead of silently showing hosts without hardware', async () => {
    const root = fixture(1);
    writeFileSync(join(root, 'fleet.yaml'), 'hosts: [{ id: one }]\n');
    const built = await runCli(['site', '--root', root, '--out', join(root, 'public'), '--json'], {
      cwd: root,
      env,
    });
    expect(built.code).toBe(0);
    const problems = JSON.parse(built.stdout).problems as {
      file: string;
      message: string;
      severity: string;
    }[];
    expect(
      problems.some(
        (p) =>
          p.file === 'fleet.yaml' &&
          p.severity === 'warning' &&
          p.message.endsWith('; host pages show no hardware'),
      ),
    ).toBe(true);
  });

  it('shows the timeline of proposals and results from git history', async () => {
    const lab = makeLab({ 'README.md': '# lab\n' });
    writeResultsTree(lab.clone, { repo: REPO_ROOT, experiments: ['double_descent'], perExperiment: 1 });
    git(lab.clone, 'add', 'manifests');
    git(lab.clone, 'commit', '--quiet', '-m', 'Propose double_descent');
    git(lab.clone, 'add', 'results');
    git(lab.clone, 'commit', '--quiet', '-m', 'Results of 2026-11-25 <b>run</b>');
    const out = join(lab.root, 'site');
    expect((await runCli(['site', '--out', out], { cwd: lab.clone, env })).code).toBe(0);
    const timeline = readFileSync(join(out, 'timeline.html'), 'utf8');
    expect(timeline).toMatch(/<strong>collected<\/strong> · Results of 2026-11-25 &lt;b&gt;run&lt;\/b&gt;/);
    expect(timeline).toMatch(/<strong>proposed<\/strong> · Propose double_descent/);
  });
});

/** In the page: whether an image finished loading with real content (no DOM types in this project). */
function loaded(img: unknown): boolean {
  const image = img as { complete: boolean; naturalWidth: number };
  return image.complete && image.naturalWidth > 0;
}

describe('the site in a real browser', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: process.env.AXIOM_CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox'],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** Every relative link and image on the page points at a file of the site. */
  async function brokenLinks(page: import('playwright-core').Page, file: string): Promise<string[]> {
    const targets = await page.$$eval('a[href], img[src], link[href]', (nodes) =>
      nodes.map((n) => n.getAttribute('href') ?? n.getAttribute('src') ?? ''),
    );
    return targets
      .filter((t) => !t.startsWith('#') && !/^[a-z]+:/.test(t))
      .filter((t) => !existsSync(resolve(dirname(file), t.split('#')[0] as string)));
  }

  it('opens the index and an experiment page: plots visible, links resolve, readable on a phone', async () => {
    const root = fixture(3);
    const out = join(root, 'public');
    expect((await runCli(['site', '--root', root, '--out', out], { cwd: root, env })).code).toBe(0);
    mkdirSync(ARTIFACTS, { recursive: true });
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(`file://${join(out, 'index.html')}`);
    expect(await page.title()).toBe('Experiments · Axiom Lab');
    const plot = page.locator('img[src="plots/neural_scaling_laws/overview-1.svg"]');
    await expect.poll(() => plot.isVisible()).toBe(true);
    // Plots load lazily: the card may be below the fold.
    await plot.scrollIntoViewIfNeeded();
    await expect.poll(() => plot.evaluate(loaded)).toBe(true);
    expect(await brokenLinks(page, join(out, 'index.html'))).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, 'site-index.png'), fullPage: true });

    await page.getByRole('link', { name: 'Test loss against parameter count follows a power law' }).click();
    expect(page.url()).toBe(`file://${join(out, 'experiments/neural_scaling_laws.html')}`);
    await expect
      .poll(() => page.locator('h1').textContent())
      .toBe('Test loss against parameter count follows a power law');
    const overview = page.locator('figure img').first();
    expect(await overview.evaluate(loaded)).toBe(true);
    expect(await brokenLinks(page, join(out, 'experiments/neural_scaling_laws.html'))).toEqual([]);
    await page.getByRole('link', { name: '1005', exact: true }).click();
    expect(await page.locator('h1').textContent()).toBe(
      'Result 1005 of Test loss against parameter count follows a power law',
    );
    expect(await brokenLinks(page, join(out, 'results/neural_scaling_laws/1005.html'))).toEqual([]);

    // On a phone the page does not scroll sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`file://${join(out, 'experiments/double_descent.html')}`);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(ARTIFACTS, 'site-experiment-phone.png'), fullPage: true });
    expect(readdirSync(ARTIFACTS)).toEqual(
      expect.arrayContaining(['site-index.png', 'site-experiment-phone.png']),
    );
    await page.close();
  }, 60_000);

  it('draws a line of inquiry round by round, and a result links forward to the experiment built on it', async () => {
    const l = labWith(['edge_of_chaos']);
    const gains = { gain: [0.5, 1, 1.5, 2, 3] };
    recordRound(l, 'edge_of_chaos', [
      { id: 11, host: 60, outcome: 'supported', metrics: { critical_gain: 1.04 }, series: gains },
      { id: 12, host: 249, outcome: 'supported', metrics: { critical_gain: 1.06 }, series: gains },
    ]);
    const parent = parse(readFileSync(join(l.clone, 'manifests/edge_of_chaos.yaml'), 'utf8'));
    const child = {
      ...parent,
      name: 'edge_of_chaos_r2',
      title: 'Round 2 of edge_of_chaos: more gains near the critical gain',
      script: 'experiments/edge_of_chaos_r2.py',
      follow_up: {
        round: 2,
        parents: [{ experiment: 'edge_of_chaos', results: [`results/edge_of_chaos/${RUN}.md#result-11`] }],
        rule: 'resolve-transition',
        why: 'The crossing sat at gain 1.05 <b>on a coarse sweep</b>.',
        would_change: 'If it stays between 0.9 and 1.3, the transition at gain 1 holds to 0.025.',
      },
      provenance: { designed_by: 'rules', created: '2026-11-26' },
    };
    writeFileSync(join(l.clone, 'manifests/edge_of_chaos_r2.yaml'), stringify(child));
    writeFileSync(join(l.clone, 'experiments/edge_of_chaos_r2.py'), '# a copy\n');
    recordRound(
      l,
      'edge_of_chaos_r2',
      [
        {
          id: 21,
          host: 60,
          outcome: 'not supported',
          reason: 'not met: critical_gain between [0.9, 1.3] (found 1.4)',
          metrics: { critical_gain: 1.4 },
          series: gains,
        },
      ],
      '2026-11-26T120000Z',
    );
    const out = join(l.root, 'public');
    expect((await runCli(['site', '--out', out], { cwd: l.clone, env })).code).toBe(0);
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    // From the navigation to the line's page.
    await page.goto(`file://${join(out, 'index.html')}`);
    await page.getByRole('navigation').getByRole('link', { name: 'Lines of inquiry' }).click();
    expect(await page.locator('h1').textContent()).toBe('Lines of inquiry');
    expect(await page.locator('main li').textContent()).toContain(
      '2 rounds: edge_of_chaos → edge_of_chaos_r2',
    );
    await page.locator('main li a').click();
    expect(page.url()).toBe(`file://${join(out, 'lineage/edge_of_chaos.html')}`);
    const rounds = await page.locator('main h2').allTextContents();
    expect(rounds).toEqual([
      'Round 1: Random tanh networks turn chaotic at gain 1, later when driven, and compute best near the edge',
      'Round 2: Round 2 of edge_of_chaos: more gains near the critical gain',
    ]);
    const text = (await page.locator('main').textContent()) ?? '';
    // What each round found, what the second built on and why (escaped), what it would change, what came next.
    expect(text).toMatch(/What it found: The hypothesis held: 2 of 2 supported/);
    expect(text).toContain('designed by the stated follow-up rule resolve-transition, without a model');
    expect(text).toContain('Why: The crossing sat at gain 1.05 <b>on a coarse sweep</b>.');
    expect(text).toContain('Built on: result 11 of edge_of_chaos.');
    expect(text).toContain('What its outcome would change: If it stays between 0.9 and 1.3');
    expect(text).toMatch(
      /What it found: The hypothesis did not hold: 1 of 1 not supported, decided by not met: critical_gain/,
    );
    expect(text).toContain("What came next: nothing yet: this is the line's latest round");
    expect(await brokenLinks(page, join(out, 'lineage/edge_of_chaos.html'))).toEqual([]);
    // The cited result links forward to the experiment built on it; the one not cited does not.
    await page.getByRole('link', { name: 'result 11 of edge_of_chaos' }).click();
    expect(page.url()).toBe(`file://${join(out, 'results/edge_of_chaos/11.html')}`);
    await page
      .getByRole('link', { name: 'Round 2 of edge_of_chaos: more gains near the critical gain' })
      .click();
    expect(page.url()).toBe(`file://${join(out, 'experiments/edge_of_chaos_r2.html')}`);
    expect(await page.locator('main').textContent()).toMatch(
      /Line of inquiry: round 2 of Random tanh networks/,
    );
    expect(readFileSync(join(out, 'results/edge_of_chaos/12.html'), 'utf8')).not.toContain(
      'Built on this result',
    );
    // The index keeps one card per line, with its later rounds inside.
    const index = readFileSync(join(out, 'index.html'), 'utf8');
    expect(index.match(/<h2>/g)).toHaveLength(1);
    expect(index).toContain('Round 2, <a href="experiments/edge_of_chaos_r2.html">edge_of_chaos_r2</a>');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`file://${join(out, 'lineage/edge_of_chaos.html')}`);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.close();
  }, 60_000);
});
