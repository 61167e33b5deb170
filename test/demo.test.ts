import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SqliteBoincStore } from '../src/boinc/sqlite.js';
import { citationResolver } from '../src/record/lineage.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { git } from './helpers/git.js';
import { REPO_ROOT, runCli } from './helpers/repo.js';

// The whole loop, as a new user runs it: one lab for the file, at a short budget.
const BUDGET = '10';
let root: string;
let dir: string;
const env = () => ({ PATH: process.env.PATH, HOME: root });

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'axiom-demo-'));
  dir = join(root, 'demo');
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/**
 * The second round, through the same demo run: follow-ups designed from the first round's outcomes by
 * the stated rules, each citing recorded results, run, collected, and said what they changed.
 */
function secondRoundSaysWhatChanged(
  summary: {
    secondRound: {
      designedBy: string;
      experiments: string[];
      waiting: string[];
      changes: { experiment: string; parent: string; rule?: string }[];
    };
  },
  text: string,
  lab: string,
) {
  const second = summary.secondRound;
  expect(second.designedBy).toBe('rules');
  expect(second.waiting).toEqual([]);
  expect(second.experiments.length).toBeGreaterThan(0);
  expect(second.changes.map((c) => c.experiment).sort()).toEqual([...second.experiments].sort());
  const resolve = citationResolver(lab, new SchemaValidator());
  for (const change of second.changes) {
    const m = parse(readFileSync(join(lab, 'manifests', `${change.experiment}.yaml`), 'utf8'));
    expect(change.experiment).toBe(`${change.parent}_r2`);
    expect(m.follow_up.round).toBe(2);
    expect(m.follow_up.rule).toBe(change.rule);
    for (const address of m.follow_up.parents[0].results) expect(resolve(address), address).toBeDefined();
  }
  expect(text).toMatch(
    /^The second round \(follow-ups designed from the first round's outcomes with axiom propose --follow-up, by the stated rules, no model\) took \d+ s: \d+ follow-ups? produced/m,
  );
  for (const change of second.changes)
    expect(text).toMatch(
      new RegExp(
        `^- ${change.experiment} \\(${change.rule}, from ${change.parent}\\): .+ -> .+: .+\\.$`,
        'm',
      ),
    );
}

describe('axiom demo', () => {
  it('stops at the proposals until someone approves them, and says how', async () => {
    const result = await runCli(['demo', '--dir', dir, '--budget', BUDGET], { cwd: root, env: env() });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('propose: 10 proposals (from the built-in catalogue)');
    expect(result.stdout).toContain('10 pull requests wait for your approval');
    // Printed as a command that runs as written, from any directory.
    expect(result.stdout).toContain(`  node ${join(REPO_ROOT, 'bin/axiom.js')} demo --dir ${dir} --yes`);
    expect(git(join(dir, 'origin.git'), 'ls-tree', '--name-only', 'main')).not.toContain('manifests');
    // Each proposal carries its smoke run's numbers.
    const shown = await runCli(['pr', 'show', 'double_descent'], { cwd: join(dir, 'lab'), env: env() });
    expect(shown.stdout).toMatch(
      /Smoke run: \*\*ok\*\* in [0-9.]+ s at a short budget in the sandbox, result envelope valid; `large_over_classical_min` = /,
    );
  }, 180_000);

  it('runs the whole loop once approved: every experiment gets a result and a verdict, and credit is what was merged', async () => {
    const result = await runCli(['demo', '--dir', dir, '--budget', BUDGET, '--yes', '--json'], {
      cwd: root,
      env: env(),
    });
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary.waiting).toBeNull();
    expect(summary.experiments).toHaveLength(10);
    // Every result says what it found, in one vocabulary, apart from what it is paid.
    const said = Object.values(summary.outcomes as Record<string, number>).reduce((a, b) => a + b, 0);
    const paid = Object.values(summary.verdicts as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(said).toBe(paid);
    for (const o of Object.keys(summary.outcomes))
      expect(['supported', 'not supported', 'inconclusive']).toContain(o);
    const lab = join(dir, 'lab');
    const experiments = readdirSync(join(lab, 'results')).filter((d) => d !== 'credit' && !d.endsWith('.md'));
    expect(experiments.sort()).toEqual([...summary.experiments, ...summary.secondRound.experiments].sort());
    for (const experiment of experiments) {
      // The batch layout: a data file, its review and plots per batch, no folder per result.
      const files = readdirSync(join(lab, 'results', experiment));
      expect(
        files.filter((f) => /^\d+$/.test(f)),
        experiment,
      ).toEqual([]);
      const data = files.filter((f) => f.endsWith('.jsonl'));
      expect(data.length, experiment).toBeGreaterThan(0);
      expect(files).toContain((data[0] as string).replace('.jsonl', '.md'));
      const line = JSON.parse(
        readFileSync(join(lab, 'results', experiment, data[0] as string), 'utf8').split('\n')[0] as string,
      );
      expect(['valid', 'invalid', 'suspicious']).toContain(line.review.verdict);
    }
    // Credit in the store is exactly what the merged credit file says.
    const creditDir = join(lab, 'results', 'credit');
    const entries = readdirSync(creditDir).flatMap(
      (f) => parse(readFileSync(join(creditDir, f), 'utf8')).entries as { result: number; credit: number }[],
    );
    const store = new SqliteBoincStore(join(dir, 'boinc.sqlite'));
    try {
      const granted = (await store.query('SELECT id, granted_credit FROM result ORDER BY id')) as {
        id: number;
        granted_credit: number;
      }[];
      expect(granted.map((r) => [r.id, r.granted_credit])).toEqual(
        entries.map((e) => [e.result, e.credit]).sort((a, b) => (a[0] as number) - (b[0] as number)),
      );
      const [total] = (await store.query('SELECT SUM(total_credit) AS credit FROM host')) as {
        credit: number;
      }[];
      expect(total?.credit).toBe(entries.reduce((s, e) => s + e.credit, 0));
      // The headline: valid results were paid what code proposed for them (cap × quality, quality > 0).
      const paid = entries.filter((e) => (e as { verdict?: string }).verdict === 'valid' && e.credit > 0);
      expect(paid.length).toBeGreaterThan(0);
      for (const entry of paid) {
        const { experiment, result, quality } = entry as unknown as {
          experiment: string;
          result: number;
          quality: number;
        };
        const cap = (
          parse(readFileSync(join(lab, 'manifests', `${experiment}.yaml`), 'utf8')) as { credit_cap: number }
        ).credit_cap;
        // A partial result is paid for the share of its planned work it did (its review says which).
        const review = readdirSync(join(lab, 'results', experiment))
          .filter((f) => f.endsWith('.jsonl'))
          .flatMap((f) =>
            readFileSync(join(lab, 'results', experiment, f), 'utf8')
              .split('\n')
              .filter(Boolean),
          )
          .map((l) => JSON.parse(l))
          .find((l) => l.result === result)?.review;
        const full = Math.round(cap * quality);
        const share = review?.work_share;
        expect({ result, credit: entry.credit }).toEqual({
          result,
          credit: share === undefined ? full : Math.round(full * share),
        });
      }
      expect(summary.verdicts.valid + (summary.secondRound.verdicts.valid ?? 0)).toBe(
        entries.filter((e) => (e as { verdict?: string }).verdict === 'valid').length,
      );
    } finally {
      await store.close();
    }
    expect(readFileSync(summary.siteIndex, 'utf8')).toContain('<h1>Experiments</h1>');
    // Too little work is never a refuted hypothesis: every experiment got the work its preconditions
    // need, so no result is inconclusive for want of work, and a result that is not supported was
    // decided by a check of its hypothesis, with every precondition met.
    type Said = { experiment: string; outcome: string; outcome_reason?: string };
    const reviews: Said[] = summary.experiments.flatMap((experiment: string) =>
      readdirSync(join(lab, 'results', experiment))
        .filter((f) => f.endsWith('.jsonl'))
        .flatMap((f) =>
          readFileSync(join(lab, 'results', experiment, f), 'utf8')
            .split('\n')
            .filter(Boolean),
        )
        .map((l) => JSON.parse(l).review as Said),
    );
    expect(reviews.length).toBe(said);
    const forWork = reviews.filter((r) => r.outcome_reason?.startsWith('too little work'));
    expect(forWork).toEqual([]);
    for (const r of reviews.filter((r) => r.outcome === 'not supported'))
      expect(r.outcome_reason, r.experiment).toMatch(/^not met: /);
    // The summary says these were demonstration budgets, a fraction of production's.
    expect(summary.budgets.length).toBe(10 + summary.secondRound.changes.length);
    for (const b of summary.budgets) expect(b.seconds).toBeLessThan(b.production);
    expect(summary.benchmark.gflopsPerCore).toBeGreaterThan(0);
    // The command the summary tells a newcomer to run works as printed, in the lab.
    const text = await runCli(['demo', '--dir', dir, '--budget', BUDGET, '--yes'], { cwd: root, env: env() });
    expect(text.stdout).toMatch(
      /These are demonstration runs: each got \d+(-\d+)?% of a production run's budget/,
    );
    expect(text.stderr).toMatch(/^machine: [0-9.]+ GFLOPS per core measured now on \d+ cores at once/m);
    const printed = /Pull requests: (node \S+ pr list --all), in (\S+) \(/.exec(text.stdout);
    if (!printed) throw new Error(`no pull request command in:\n${text.stdout}`);
    const [command, ...argv] = (printed[1] as string).split(' ');
    const listed = spawnSync(command as string, argv, {
      cwd: printed[2] as string,
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^merged {2}axiom\/results-[0-9-]+t[0-9]+z {2}Results: /m);
    // Same-seed replicas ran on volunteers with different core counts, agreed, and the results pull
    // request says so.
    // The first round's (the list is newest first).
    const branch = [...listed.stdout.matchAll(/^merged {2}(axiom\/results-[0-9-]+t[0-9]+z)/gm)].at(
      -1,
    )?.[1] as string;
    const shown = spawnSync(command as string, [...argv.slice(0, 1), 'pr', 'show', branch], {
      cwd: printed[2] as string,
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    const agreeing =
      shown.stdout.match(/Replicas: 2 of 2 results of replicated computations agree with their quorum\./g) ??
      [];
    expect(agreeing.length).toBeGreaterThanOrEqual(3);
    const cores = new Map<number, number>(
      (
        parse(readFileSync(join(dir, 'lab', 'fleet.yaml'), 'utf8')).hosts as { id: number; cores: number }[]
      ).map((h) => [h.id, h.cores]),
    );
    const coresOf = (host: number) => {
      const found = cores.get(host);
      if (found === undefined) throw new Error(`host ${host} is not in the demo's fleet`);
      return found;
    };
    const pairs = summary.experiments.flatMap((experiment: string) => {
      const dataFile = readdirSync(join(dir, 'lab', 'results', experiment)).find((f) => f.endsWith('.jsonl'));
      const reviews = readFileSync(join(dir, 'lab', 'results', experiment, dataFile as string), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).review);
      const agreed = reviews.filter((r) =>
        r.checks.some((c: { rule: string; passed: boolean }) => c.rule === 'replicas' && c.passed),
      );
      return agreed.length === 2 &&
        agreed[0].replica_key === agreed[1].replica_key &&
        agreed[0].replication?.decided === 'unanimous' &&
        coresOf(agreed[0].host) !== coresOf(agreed[1].host)
        ? [experiment]
        : [];
    });
    expect(pairs.length, JSON.stringify(pairs)).toBeGreaterThanOrEqual(3);
    // In the demo's lab, commands find its store without AXIOM_DB_URL, as the summary says.
    const status = spawnSync(command as string, [...argv.slice(0, 1), 'credit', 'status', '--json'], {
      cwd: printed[2] as string,
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    expect(status.status, status.stderr).toBe(0);
    const granted = (JSON.parse(status.stdout) as { hosts: { id: number; granted: number }[] }).hosts
      .filter((h) => h.granted > 0)
      .map((h) => ({ host: h.id, credit: h.granted }));
    expect(granted).toEqual(summary.creditPerHost.filter((h: { credit: number }) => h.credit > 0));
    expect(git(join(dir, 'origin.git'), 'log', '--format=%s', 'main')).toMatch(
      /^Merge axiom\/results-[0-9]{4}-[0-9]{2}-[0-9]{2}t[0-9]{6}z: /m,
    );
    secondRoundSaysWhatChanged(summary, text.stdout, lab);
  }, 1_200_000);

  it("README's pictures show what a fresh demo shows: the screenshot script's words match the committed ones", async () => {
    const out = join(root, 'pictures');
    const made = spawnSync('node', [join(REPO_ROOT, 'scripts/screenshots.mjs'), dir, '--out', out], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    expect(made.status, made.stderr).toBe(0);
    for (const f of ['site.png', 'results-pull-request.png']) expect(existsSync(join(out, f)), f).toBe(true);
    const fresh = JSON.parse(readFileSync(join(out, 'screenshots.json'), 'utf8'));
    const committed = JSON.parse(readFileSync(join(REPO_ROOT, 'docs/images/screenshots.json'), 'utf8'));
    // When this fails, the demo shows something README's pictures do not: run the script on a fresh
    // demo (docs/development.md) and commit docs/images.
    expect(fresh).toEqual(committed);
  }, 120_000);

  it('publishes a site whose every result page gives its outcome and links what ran, readable in a browser and on a phone', async () => {
    const site = join(dir, 'site');
    const browser = await chromium.launch({
      executablePath: process.env.AXIOM_CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const resultPages = readdirSync(join(site, 'results')).flatMap((e) =>
        readdirSync(join(site, 'results', e))
          .filter((f) => f.endsWith('.html'))
          .map((f) => join(site, 'results', e, f)),
      );
      expect(resultPages.length).toBeGreaterThanOrEqual(10);
      for (const file of resultPages) {
        await page.goto(`file://${file}`);
        const text = (await page.locator('main').textContent()) ?? '';
        expect(text, file).toMatch(
          /Outcome: (supported|not supported|inconclusive) \(by the acceptance checks\)/,
        );
        const hrefs = await page.$$eval('a[href]', (nodes) => nodes.map((n) => n.getAttribute('href') ?? ''));
        const script = hrefs.find((h) => /source\/[0-9a-f]{12}\/experiments\/[a-z_]+\.py$/.test(h));
        const manifest = hrefs.find((h) => /source\/[0-9a-f]{12}\/manifests\/[a-z_]+\.yaml$/.test(h));
        expect({ file, script: Boolean(script), manifest: Boolean(manifest) }).toEqual({
          file,
          script: true,
          manifest: true,
        });
        for (const link of [script, manifest])
          expect(existsSync(resolve(dirname(file), link as string)), link).toBe(true);
        expect(text, file).toMatch(/Proposed in.*approved by Demo Reviewer/s);
        expect(text, file).toMatch(/Results in.*axiom\/results-/s);
      }
      // The timeline tells what happened, in order: proposed, approved by the reviewer, deployed, collected, credited.
      const timeline = readFileSync(join(site, 'timeline.html'), 'utf8');
      for (const kind of ['proposed', 'approved', 'deployed', 'collected', 'credited'])
        expect(timeline, kind).toContain(`<strong>${kind}</strong>`);
      expect(timeline).toContain('approved by Demo Reviewer');
      expect(timeline).toMatch(
        /<strong>deployed<\/strong> · workunits of [a-z_, ]+ were created from this commit/,
      );
      // The grokking overview draws one line per result, seed and series, not one line for all.
      const lines = readFileSync(
        join(
          dir,
          'lab',
          'results',
          'grokking',
          readdirSync(join(dir, 'lab', 'results', 'grokking')).find((f) => f.endsWith('.jsonl')) as string,
        ),
        'utf8',
      )
        .split('\n')
        .filter(Boolean);
      const seeds = new Set((JSON.parse(lines[0] as string).envelope.series.seed_index as number[]) ?? [])
        .size;
      await page.goto(`file://${join(site, 'plots', 'grokking', 'overview-1.svg')}`);
      expect(seeds).toBeGreaterThan(0);
      expect(await page.locator('g.mark-line.layer_0_layer_0_marks').count()).toBe(2 * seeds * lines.length);
      // Each line of inquiry draws its rounds, and a cited result links forward to what was built on it.
      const followUps = readdirSync(join(dir, 'lab', 'manifests'))
        .map((f) => parse(readFileSync(join(dir, 'lab', 'manifests', f), 'utf8')))
        .filter((m) => m.follow_up);
      expect(followUps.length).toBeGreaterThan(0);
      for (const m of followUps) {
        const parent = m.follow_up.parents[0];
        const line = join(site, 'lineage', `${parent.experiment}.html`);
        await page.goto(`file://${line}`);
        const drawn = (await page.locator('main').textContent()) ?? '';
        expect(drawn).toMatch(/Round 1: .*Round 2: .*What its outcome would change/s);
        const cited = /#result-(\d+)$/.exec(parent.results[0])?.[1];
        await page.goto(`file://${join(site, 'results', parent.experiment, `${cited}.html`)}`);
        const forward = page.locator(`a[href="../../experiments/${m.name}.html"]`);
        expect(await forward.count(), m.name).toBeGreaterThan(0);
        expect(existsSync(join(site, 'experiments', `${m.name}.html`))).toBe(true);
      }
      // No text is smaller than 12 px as rendered, and a phone never scrolls sideways.
      const pages = [
        'index.html',
        'lineage.html',
        `lineage/${followUps[0].follow_up.parents[0].experiment}.html`,
        'hosts.html',
        'credit.html',
        'timeline.html',
        'experiments/grokking.html',
        resultPages[0] as string,
        // Every kind of page: a host's too.
        join('hosts', readdirSync(join(site, 'hosts'))[0] as string),
      ];
      for (const width of [1100, 390]) {
        await page.setViewportSize({ width, height: 844 });
        for (const name of pages) {
          await page.goto(`file://${resolve(site, name)}`);
          const smallest = await page.evaluate(
            `Math.min(...[...document.querySelectorAll('body *')].filter((e) => [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())).map((e) => parseFloat(getComputedStyle(e).fontSize)))`,
          );
          expect({ name, width, smallest: Number(smallest) >= 12 }).toEqual({ name, width, smallest: true });
          const scroll = await page.evaluate('document.documentElement.scrollWidth');
          expect({ name, width, scroll: Number(scroll) <= width }).toEqual({ name, width, scroll: true });
        }
      }
    } finally {
      await browser.close();
    }
  }, 120_000);

  it('changes nothing when run again, and --fresh starts over only in a demo lab', async () => {
    const tip = git(join(dir, 'origin.git'), 'rev-parse', 'main');
    const again = await runCli(['demo', '--dir', dir, '--budget', BUDGET, '--yes'], {
      cwd: root,
      env: env(),
    });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('volunteers: ran 0 workunits');
    expect(again.stderr).toContain('collect: 0 results judged (nothing new)');
    expect(git(join(dir, 'origin.git'), 'rev-parse', 'main')).toBe(tip);
    const refused = await runCli(['demo', '--dir', root, '--fresh'], { cwd: root, env: env() });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('is not a demo lab');
    expect(existsSync(dir)).toBe(true);
  }, 60_000);
});

describe('axiom demo without --yes', () => {
  it('runs the loop with the proposals a person approved and says which still wait', async () => {
    const partial = join(root, 'partial');
    const first = await runCli(['demo', '--dir', partial, '--budget', BUDGET], { cwd: root, env: env() });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`  node ${join(REPO_ROOT, 'bin/axiom.js')} demo --dir ${partial}\n`);
    const lab = join(partial, 'lab');
    for (const name of ['double_descent', 'mode_connectivity'])
      expect((await runCli(['pr', 'merge', name], { cwd: lab, env: env() })).code).toBe(0);
    expect((await runCli(['pr', 'close', 'lottery_ticket'], { cwd: lab, env: env() })).code).toBe(0);
    const again = await runCli(['demo', '--dir', partial, '--budget', BUDGET, '--json'], {
      cwd: root,
      env: env(),
    });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('propose: 7 still wait for approval; running the 2 approved');
    // What it did not propose, it names with the reason.
    expect(again.stderr).toMatch(
      /^propose: lottery_ticket not proposed: its pull request \S+ was closed without merging/m,
    );
    expect(again.stderr).toContain('deploy: 4 workunits created');
    const report = JSON.parse(again.stdout);
    // It stops again where a person decides: the results pull request.
    expect(report.waiting.step).toBe('results');
    expect(report.stillWaiting).toHaveLength(7);
    expect(report.stillWaiting).not.toContain('axiom/propose/lottery_ticket');
    expect(report.experiments).toEqual(['double_descent', 'mode_connectivity']);
  }, 480_000);
});
