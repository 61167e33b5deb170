import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SqliteBoincStore } from '../src/boinc/sqlite.js';
import { citationResolver } from '../src/record/lineage.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { git } from './helpers/git.js';
import { REPO_ROOT, runCli, runProcess } from './helpers/repo.js';

// The whole loop runs once in this file: README's quick start on a fresh clone, which runs `axiom
// demo --yes` (two rounds) in the clone's axiom-demo. Every assertion about the full loop reads that
// run and its lab. What the demo does without --yes is shown on a second, smaller lab.
let root: string;
let repo: string;
let dir: string;
let lab: string;
let quick: { status: number | null; stdout: string; stderr: string };
const env = () => ({ PATH: process.env.PATH, HOME: root });

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'axiom-demo-'));
});
// The clone holds node_modules and a demo lab: deleting it takes more than the default 10 s on a busy machine.
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
}, 120_000);

/** The shell commands of README's Quick start, as a reader copies them: each ```sh block's lines. */
function quickStartCommands(): string[][] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('## Quick start'),
    readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1),
  );
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => (m[1] as string).trim().split('\n'));
}

/** What a clone of this repository holds: its tracked files as they are now. */
function cloneLike(): string {
  const clone = join(root, 'newcomer');
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  for (const file of files) {
    if (!existsSync(join(REPO_ROOT, file))) continue;
    mkdirSync(dirname(join(clone, file)), { recursive: true });
    copyFileSync(join(REPO_ROOT, file), join(clone, file));
  }
  return clone;
}

interface Review {
  experiment: string;
  host: number;
  verdict: string;
  outcome: string;
  outcome_reason?: string;
  replica_key?: string;
  replication?: { decided: string };
  checks: { rule: string; passed: boolean }[];
}

/** The lab's manifests: the first round's, and the follow-ups of the second. */
function manifests(): { name: string; credit_cap: number; follow_up?: FollowUp }[] {
  return readdirSync(join(lab, 'manifests')).map((f) =>
    parse(readFileSync(join(lab, 'manifests', f), 'utf8')),
  );
}
interface FollowUp {
  round: number;
  rule: string;
  parents: { experiment: string; results: string[] }[];
}
const firstRound = () => manifests().filter((m) => !m.follow_up);
const followUps = () => manifests().filter((m) => m.follow_up) as { name: string; follow_up: FollowUp }[];

/** Every recorded result line of an experiment, over its batches. */
function recorded(
  experiment: string,
): { result: number; review: Review; envelope: Record<string, unknown> }[] {
  return readdirSync(join(lab, 'results', experiment))
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) =>
      readFileSync(join(lab, 'results', experiment, f), 'utf8')
        .split('\n')
        .filter(Boolean),
    )
    .map((l) => JSON.parse(l));
}

function tally(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

/** "5 supported, 3 inconclusive" as counts. */
function counted(text: string | undefined): Record<string, number> {
  return Object.fromEntries(
    [...(text ?? '').matchAll(/(\d+) ([a-z ]+?)(?=,|$)/g)].map((m) => [m[2] as string, Number(m[1])]),
  );
}

/** The command the summary tells the reader to run, copied as printed, and the directory it names. */
function printedCommand(stdout: string): { command: string; argv: string[]; cwd: string } {
  const printed = /^Pull requests: (node \S+ pr list --all), in (\S+) \(/m.exec(stdout);
  if (!printed) throw new Error(`no pull request command in:\n${stdout}`);
  const [command, ...argv] = (printed[1] as string).split(' ');
  return { command: command as string, argv, cwd: printed[2] as string };
}

describe("README's quick start, as a newcomer runs it: the whole loop, two rounds", () => {
  it('sets up and runs the whole loop with the first command, and the commands it prints work as printed', async () => {
    const [setup, tests] = quickStartCommands();
    expect(setup).toEqual(['scripts/quickstart.sh']);
    expect(tests).toEqual(['npm test']);
    repo = cloneLike();
    dir = join(repo, 'axiom-demo');
    lab = join(dir, 'lab');
    // The reader's own home: npm's cache and settings (e.g. where node-gyp finds Node's headers) live there.
    const reader = { PATH: process.env.PATH, HOME: process.env.HOME ?? tmpdir() };
    quick = await runProcess('bash', ['-c', (setup as string[]).join('\n')], { cwd: repo, env: reader });
    expect(quick.status, `${quick.stdout}\n${quick.stderr}`.slice(-3000)).toBe(0);
    expect(quick.stdout).toMatch(
      /^The loop ran in \d+ s, the first round in \d+ s: 10 experiments produced results this run\.$/m,
    );
    expect(quick.stdout).toMatch(
      /These are demonstration runs: each got \d+(-\d+)?% of a production run's budget/,
    );
    expect(quick.stderr).toMatch(/^machine: [0-9.]+ GFLOPS per core measured now on \d+ cores at once/m);
    // Nothing was left out of the first round: were a proposal dropped, the summary would say which and why.
    expect(quick.stdout).not.toContain('Not proposed');
    // What README says is there, is there.
    for (const path of ['lab', 'origin.git', 'boinc.sqlite', 'site/index.html'])
      expect(existsSync(join(dir, path)), path).toBe(true);
    // The command the summary tells the reader to run, copied as printed, in the directory it names.
    const { command, argv, cwd } = printedCommand(quick.stdout);
    expect(resolve(repo, cwd)).toBe(lab);
    const listed = await runProcess(command, argv, { cwd: resolve(repo, cwd), env: reader });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^merged {2}axiom\/results-[0-9-]+t[0-9]+z {2}Results: /m);
    // The ten first-batch proposals, and the second round's follow-ups of them.
    const second = / took \d+ s: (\d+) follow-ups? produced results this run/.exec(quick.stdout);
    expect(Number(second?.[1])).toBeGreaterThan(0);
    expect(listed.stdout.match(/^merged {2}axiom\/propose\//gm)).toHaveLength(10 + Number(second?.[1]));
  }, 1_500_000);

  it('gives every experiment of both rounds a result and a verdict, says what the record says, and credits what was merged', async () => {
    const all = manifests().map((m) => m.name);
    const experiments = readdirSync(join(lab, 'results')).filter((d) => d !== 'credit' && !d.endsWith('.md'));
    expect(experiments.sort()).toEqual([...all].sort());
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
      for (const line of recorded(experiment))
        expect(['valid', 'invalid', 'suspicious']).toContain(line.review.verdict);
    }
    // What the summary says of each round is what the record says, in one vocabulary, apart from what is paid.
    const first = firstRound().flatMap((m) => recorded(m.name).map((l) => l.review));
    const second = followUps().flatMap((m) => recorded(m.name).map((l) => l.review));
    const said = /^What the results say of their hypotheses: (.*) \(by the acceptance checks/m.exec(
      quick.stdout,
    );
    expect(counted(said?.[1])).toEqual(tally(first.map((r) => r.outcome)));
    const paid = /^What is paid: (.*) \(valid results are paid\)/m.exec(quick.stdout);
    expect(counted(paid?.[1])).toEqual(tally(first.map((r) => r.verdict)));
    for (const o of Object.keys(tally([...first, ...second].map((r) => r.outcome))))
      expect(['supported', 'not supported', 'inconclusive']).toContain(o);
    const round = / follow-ups? produced results this run \((.*)\)\.$/m.exec(quick.stdout);
    expect(counted(round?.[1])).toEqual(tally(second.map((r) => r.outcome)));

    // Credit in the store is exactly what the merged credit files say.
    const creditDir = join(lab, 'results', 'credit');
    type Entry = { experiment: string; result: number; credit: number; quality: number; verdict?: string };
    const entries = readdirSync(creditDir).flatMap(
      (f) => parse(readFileSync(join(creditDir, f), 'utf8')).entries as Entry[],
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
    } finally {
      await store.close();
    }
    // The headline: valid results were paid what code proposed for them (cap × quality, quality > 0).
    const caps = new Map(manifests().map((m) => [m.name, m.credit_cap]));
    const valid = entries.filter((e) => e.verdict === 'valid' && e.credit > 0);
    expect(valid.length).toBeGreaterThan(0);
    for (const entry of valid) {
      // A partial result is paid for the share of its planned work it did (its review says which).
      const review = recorded(entry.experiment).find((l) => l.result === entry.result)?.review as
        | (Review & { work_share?: number })
        | undefined;
      const full = Math.round((caps.get(entry.experiment) as number) * entry.quality);
      const share = review?.work_share;
      expect({ result: entry.result, credit: entry.credit }).toEqual({
        result: entry.result,
        credit: share === undefined ? full : Math.round(full * share),
      });
    }
    expect(entries.filter((e) => e.verdict === 'valid').length).toBe(
      [...first, ...second].filter((r) => r.verdict === 'valid').length,
    );
    // Too little work is never a refuted hypothesis: every first-round experiment got the work its
    // preconditions need, so no result is inconclusive for want of work, and a result that is not
    // supported was decided by a check of its hypothesis, with every precondition met.
    expect(first.filter((r) => r.outcome_reason?.startsWith('too little work'))).toEqual([]);
    for (const r of first.filter((r) => r.outcome === 'not supported'))
      expect(r.outcome_reason, r.experiment).toMatch(/^not met: /);
    // These were demonstration budgets, a fraction of production's.
    for (const m of manifests() as unknown as {
      name: string;
      run_duration: number;
      production_run_duration: number;
    }[])
      expect(m.run_duration, m.name).toBeLessThan(m.production_run_duration);

    // Same-seed replicas ran on volunteers with different core counts, agreed, and the first round's
    // results pull request says so.
    const { command, argv, cwd } = printedCommand(quick.stdout);
    const run = (...args: string[]) =>
      spawnSync(command, [...argv.slice(0, 1), ...args], {
        cwd,
        encoding: 'utf8',
        env: { PATH: process.env.PATH },
      });
    const listed = run('pr', 'list', '--all').stdout;
    // The first round's (the list is newest first).
    const branch = [...listed.matchAll(/^merged {2}(axiom\/results-[0-9-]+t[0-9]+z)/gm)].at(
      -1,
    )?.[1] as string;
    const agreeing =
      run('pr', 'show', branch).stdout.match(
        /Replicas: 2 of 2 results of replicated computations agree with their quorum\./g,
      ) ?? [];
    expect(agreeing.length).toBeGreaterThanOrEqual(3);
    const cores = new Map<number, number>(
      (parse(readFileSync(join(lab, 'fleet.yaml'), 'utf8')).hosts as { id: number; cores: number }[]).map(
        (h) => [h.id, h.cores],
      ),
    );
    const coresOf = (host: number) => {
      const found = cores.get(host);
      if (found === undefined) throw new Error(`host ${host} is not in the demo's fleet`);
      return found;
    };
    const pairs = firstRound().flatMap((m) => {
      const agreed = recorded(m.name)
        .map((l) => l.review)
        .filter((r) => r.checks.some((c) => c.rule === 'replicas' && c.passed));
      return agreed.length === 2 &&
        agreed[0]?.replica_key === agreed[1]?.replica_key &&
        agreed[0]?.replication?.decided === 'unanimous' &&
        coresOf(agreed[0].host) !== coresOf((agreed[1] as Review).host)
        ? [m.name]
        : [];
    });
    expect(pairs.length, JSON.stringify(pairs)).toBeGreaterThanOrEqual(3);
    // In the demo's lab, commands find its store without AXIOM_DB_URL, as the summary says, and the
    // credit per host it printed is the store's.
    const status = run('credit', 'status', '--json');
    expect(status.status, status.stderr).toBe(0);
    const creditOf = (JSON.parse(status.stdout) as { hosts: { id: number; granted: number }[] }).hosts
      .filter((h) => h.granted > 0)
      .map((h) => `${h.id}: ${h.granted}`);
    expect(/^Credit per host: (.*)\.$/m.exec(quick.stdout)?.[1]).toBe(creditOf.join(', '));
    expect(git(join(dir, 'origin.git'), 'log', '--format=%s', 'main')).toMatch(
      /^Merge axiom\/results-[0-9]{4}-[0-9]{2}-[0-9]{2}t[0-9]{6}z: /m,
    );
  }, 120_000);

  it("runs a second round designed from the first round's outcomes, each follow-up citing recorded results, and says what it changed", () => {
    expect(quick.stdout).toMatch(
      /^The second round \(follow-ups designed from the first round's outcomes with axiom propose --follow-up, by the stated rules, no model\) took \d+ s: \d+ follow-ups? produced/m,
    );
    const resolveCitation = citationResolver(lab, new SchemaValidator());
    const made = followUps();
    expect(made.length).toBeGreaterThan(0);
    for (const m of made) {
      const parent = m.follow_up.parents[0] as FollowUp['parents'][number];
      expect(m.name).toBe(`${parent.experiment}_r2`);
      expect(m.follow_up.round).toBe(2);
      for (const address of parent.results) expect(resolveCitation(address), address).toBeDefined();
      expect(recorded(m.name).length, m.name).toBeGreaterThan(0);
      expect(quick.stdout).toMatch(
        new RegExp(
          `^- ${m.name} \\(${m.follow_up.rule}, from ${parent.experiment}\\): .+ -> .+: .+\\.$`,
          'm',
        ),
      );
    }
    // Every first-round experiment without a follow-up is named, with why.
    const followed = new Set(made.map((m) => m.follow_up.parents[0]?.experiment));
    const notFollowed = quick.stdout.slice(quick.stdout.indexOf('Not followed up:'));
    for (const m of firstRound().filter((m) => !followed.has(m.name)))
      expect(notFollowed, m.name).toMatch(new RegExp(`^- (${m.name}|${m.name}_r2): .+`, 'm'));
  });

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
        const script = hrefs.find((h) => /source\/[0-9a-f]{12}\/experiments\/[a-z0-9_]+\.py$/.test(h));
        const manifest = hrefs.find((h) => /source\/[0-9a-f]{12}\/manifests\/[a-z0-9_]+\.yaml$/.test(h));
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
        /<strong>deployed<\/strong> · workunits of [a-z0-9_, ]+ were created from this commit/,
      );
      // The grokking overview draws one line per result, seed and series, not one line for all.
      const lines = recorded('grokking');
      const seeds = new Set(
        (lines[0]?.envelope as { series: { seed_index?: number[] } } | undefined)?.series.seed_index ?? [],
      ).size;
      await page.goto(`file://${join(site, 'plots', 'grokking', 'overview-1.svg')}`);
      expect(seeds).toBeGreaterThan(0);
      expect(await page.locator('g.mark-line.layer_0_layer_0_marks').count()).toBe(2 * seeds * lines.length);
      // Each line of inquiry draws its rounds, and a cited result links forward to what was built on it.
      const made = followUps();
      expect(made.length).toBeGreaterThan(0);
      for (const m of made) {
        const parent = m.follow_up.parents[0] as FollowUp['parents'][number];
        await page.goto(`file://${join(site, 'lineage', `${parent.experiment}.html`)}`);
        const drawn = (await page.locator('main').textContent()) ?? '';
        expect(drawn).toMatch(/Round 1: .*Round 2: .*What its outcome would change/s);
        const cited = /#result-(\d+)$/.exec(parent.results[0] as string)?.[1];
        await page.goto(`file://${join(site, 'results', parent.experiment, `${cited}.html`)}`);
        const forward = page.locator(`a[href="../../experiments/${m.name}.html"]`);
        expect(await forward.count(), m.name).toBeGreaterThan(0);
        expect(existsSync(join(site, 'experiments', `${m.name}.html`))).toBe(true);
      }
      // No text is smaller than 12 px as rendered, and a phone never scrolls sideways.
      const pages = [
        'index.html',
        'lineage.html',
        `lineage/${made[0]?.follow_up.parents[0]?.experiment}.html`,
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

  it('changes nothing when run again, its second round included, and --fresh starts over only in a demo lab', async () => {
    const tip = git(join(dir, 'origin.git'), 'rev-parse', 'main');
    const again = await runCli(['demo', '--dir', dir, '--yes', '--json'], { cwd: root, env: env() });
    expect(again.code, again.stderr).toBe(0);
    // Planned and checked with the benchmark its work was sized for, however busy the machine is now.
    expect(again.stderr).toMatch(/^machine: [0-9.]+ GFLOPS per core measured when this lab was made \(20/m);
    expect(again.stderr).toContain('volunteers: ran 0 workunits');
    expect(again.stderr).toContain('collect: 0 results judged (nothing new)');
    expect(again.stderr).not.toContain('follow-up: ');
    expect(git(join(dir, 'origin.git'), 'rev-parse', 'main')).toBe(tip);
    const report = JSON.parse(again.stdout);
    expect(report.dropped).toEqual([]);
    expect(report.benchmark.gflopsPerCore).toBeGreaterThan(0);
    // The second round is what the lab's follow-ups are: none designed again, each said what it changed.
    expect(report.secondRound).toMatchObject({
      designedBy: 'rules',
      experiments: [],
      waiting: [],
      dropped: [],
    });
    expect(
      report.secondRound.changes
        .map((c: { experiment: string; rule: string }) => [c.experiment, c.rule])
        .sort(),
    ).toEqual(
      followUps()
        .map((m) => [m.name, m.follow_up.rule])
        .sort(),
    );
    const refused = await runCli(['demo', '--dir', root, '--fresh'], { cwd: root, env: env() });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('is not a demo lab');
    expect(existsSync(dir)).toBe(true);
  }, 300_000);
});

describe('axiom demo without --yes, on a lab where one proposal is approved', () => {
  it('stops at the proposals and says how, then runs only what a person approved and says which still wait', async () => {
    const partial = join(root, 'partial');
    const first = await runCli(['demo', '--dir', partial, '--budget', '10'], { cwd: root, env: env() });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('propose: 10 proposals (from the built-in catalogue)');
    expect(first.stdout).toContain('10 pull requests wait for your approval');
    // Printed as commands that run as written, from any directory.
    expect(first.stdout).toContain(`  node ${join(REPO_ROOT, 'bin/axiom.js')} demo --dir ${partial}\n`);
    expect(first.stdout).toContain(`  node ${join(REPO_ROOT, 'bin/axiom.js')} demo --dir ${partial} --yes`);
    const origin = join(partial, 'origin.git');
    expect(git(origin, 'ls-tree', '--name-only', 'main')).not.toContain('manifests');
    const partialLab = join(partial, 'lab');
    // Each proposal carries its smoke run's numbers.
    const shown = await runCli(['pr', 'show', 'double_descent'], { cwd: partialLab, env: env() });
    expect(shown.stdout).toMatch(
      /Smoke run: \*\*ok\*\* in [0-9.]+ s at a short budget in the sandbox, result envelope valid; `large_over_classical_min` = /,
    );
    // The person approves the proposal with the shortest budget, and declines another.
    const budgets = [...git(origin, 'branch', '--list', 'axiom/propose/*').matchAll(/axiom\/propose\/(\S+)/g)]
      .map((m) => m[1] as string)
      .map((name) => ({
        name,
        seconds: parse(git(origin, 'show', `axiom/propose/${name}:manifests/${name}.yaml`))
          .run_duration as number,
      }))
      .sort((a, b) => a.seconds - b.seconds || a.name.localeCompare(b.name));
    const approved = budgets[0]?.name as string;
    const declined = approved === 'lottery_ticket' ? 'grokking' : 'lottery_ticket';
    expect((await runCli(['pr', 'merge', approved], { cwd: partialLab, env: env() })).code).toBe(0);
    expect((await runCli(['pr', 'close', declined], { cwd: partialLab, env: env() })).code).toBe(0);
    const again = await runCli(['demo', '--dir', partial, '--budget', '10', '--json'], {
      cwd: root,
      env: env(),
    });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('propose: 8 still wait for approval; running the 1 approved');
    // What it did not propose, it names with the reason.
    expect(again.stderr).toMatch(
      new RegExp(`^propose: ${declined} not proposed: its pull request \\S+ was closed without merging`, 'm'),
    );
    expect(again.stderr).toContain('deploy: 2 workunits created');
    const report = JSON.parse(again.stdout);
    expect(report.dropped).toEqual([
      { name: declined, reason: expect.stringMatching(/was closed without merging/) },
    ]);
    // It stops again where a person decides: the results pull request.
    expect(report.waiting.step).toBe('results');
    expect(report.stillWaiting).toHaveLength(8);
    expect(report.stillWaiting).not.toContain(`axiom/propose/${declined}`);
    expect(report.experiments).toEqual([approved]);
  }, 480_000);
});
