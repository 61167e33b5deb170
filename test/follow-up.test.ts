import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { DEFAULT_IDENTITY } from '../src/forge/git.js';
import { LocalForge } from '../src/forge/local.js';
import type { Manifest } from '../src/manifest/types.js';
import { followUpName } from '../src/propose/follow-up.js';
import { citationResolver } from '../src/record/lineage.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { ClaudeStandIn } from './helpers/claude-standin.js';
import { resultScript as script } from './helpers/designs.js';
import { git, type Lab, PERSON, showFile } from './helpers/git.js';
import { manifestYaml, REPO_ROOT, runCli } from './helpers/repo.js';
import { labWith, type RecordedResult, ROUND_RUN, recordRound } from './helpers/rounds.js';

const env = (l: Lab) => ({ PATH: process.env.PATH, HOME: l.root, AXIOM_FORGE: 'local' });
const address = (experiment: string, id: number) => `results/${experiment}/${ROUND_RUN}.md#result-${id}`;
const forgeOf = (l: Lab) =>
  new LocalForge({ repoDir: l.clone, remote: 'origin', identity: DEFAULT_IDENTITY });

/** `axiom propose --follow-up` in the lab, without a key: the stated rules. */
async function followUp(l: Lab, ...extra: string[]) {
  const result = await runCli(
    ['propose', '--follow-up', '--count', '10', '--smoke-seconds', '0', '--json', ...extra],
    {
      cwd: l.clone,
      env: env(l),
    },
  );
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as {
    proposed: { name: string; pullRequest: { ref: string } | null }[];
    skipped: { name: string; reason: string }[];
    designedBy: string;
  };
}

/** A proposed follow-up's manifest, as its pull request's branch has it. */
function proposedManifest(l: Lab, name: string): Manifest {
  return parse(showFile(l.origin, `axiom/propose/${name}`, `manifests/${name}.yaml`) as string) as Manifest;
}

const EDGE_GAINS = [0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.3, 1.4, 1.5, 1.75, 2.0, 2.5, 3.0];
const WIDTHS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128];

const supportedEdge = (id: number, host: number, gain: number): RecordedResult => ({
  id,
  host,
  outcome: 'supported',
  reason: 'every check met',
  metrics: { critical_gain: gain, critical_gain_driven: gain + 0.4, networks: 2 },
  series: { gain: EDGE_GAINS },
  params: { networks: 2 },
});

describe('axiom propose --follow-up without a key: the stated rules, on recorded outcomes', () => {
  it('resolves a supported transition more finely where it happens, and cites what it builds on', async () => {
    const l = labWith(['edge_of_chaos', 'double_descent']);
    recordRound(l, 'edge_of_chaos', [supportedEdge(11, 60, 1.04), supportedEdge(12, 249, 1.06)]);
    recordRound(l, 'double_descent', [
      {
        id: 21,
        host: 194,
        outcome: 'supported',
        metrics: { peak_width_ratio: 0.95, n_train: 200, seeds: 3 },
        series: { width: [10, 50, 100, 140, 150, 160, 170, 180, 190, 210, 220, 1000, 5000] },
      },
    ]);
    const report = await followUp(l);
    expect(report.designedBy).toBe('rules');
    expect(report.proposed.map((p) => p.name).sort()).toEqual(['double_descent_r2', 'edge_of_chaos_r2']);

    const edge = proposedManifest(l, 'edge_of_chaos_r2');
    // Gains 0.025 apart within 0.1 of the measured crossing (1.05), on every target, the same science.
    const gains = edge.targets.map((t) => t.params?.extra_gains);
    expect(gains[0]).toEqual([0.95, 0.975, 1, 1.025, 1.05, 1.075, 1.1, 1.125, 1.15]);
    expect(gains[1]).toEqual(gains[0]);
    expect(edge.targets.map((t) => t.host)).toEqual([60, 249]);
    // Five gains the sweep did not have: the work per network is costed for 21 gains instead of 16.
    expect(edge.work?.gflop).toBeCloseTo((84 * 21) / 16, 0);
    expect(edge.follow_up).toMatchObject({
      round: 2,
      rule: 'resolve-transition',
      parents: [
        {
          experiment: 'edge_of_chaos',
          results: [address('edge_of_chaos', 11), address('edge_of_chaos', 12)],
        },
      ],
    });
    expect(edge.follow_up?.would_change).toMatch(/^If the crossing stays between 0.9 and 1.3/);
    expect(edge.provenance.designed_by).toBe('rules');
    // Its script is its parent's, reporting its own name.
    const script = showFile(
      l.origin,
      'axiom/propose/edge_of_chaos_r2',
      'experiments/edge_of_chaos_r2.py',
    ) as string;
    expect(script).toContain('"experiment": "edge_of_chaos_r2"');
    expect(script.replaceAll('edge_of_chaos_r2', 'edge_of_chaos')).toBe(
      readFileSync(join(REPO_ROOT, 'experiments/edge_of_chaos.py'), 'utf8').trimEnd(),
    );

    const dd = proposedManifest(l, 'double_descent_r2');
    const widths = dd.targets[0]?.params?.extra_widths as number[];
    // Widths every 2 (1% of n) from 0.9n to 1.1n, never n itself.
    expect(widths[0]).toBe(180);
    expect(widths.at(-1)).toBe(220);
    expect(widths).not.toContain(200);
    expect(widths.length).toBe(20);
    expect(dd.follow_up?.rule).toBe('resolve-transition');

    // The pull request says it is the rules', quotes the rule, cites the results and says what would change.
    const pull = await forgeOf(l).get('axiom/propose/edge_of_chaos_r2');
    expect(pull.labels).toEqual(['axiom:proposal', 'axiom:rules', 'axiom:follow-up']);
    expect(pull.body).toContain(
      '**Designed by the stated follow-up rules (deterministic, no model); not designed by Claude.**',
    );
    expect(pull.body).toContain(
      'Designed by the stated follow-up rule `resolve-transition`: a supported transition is resolved more finely',
    );
    expect(pull.body).toContain(
      `- [\`${address('edge_of_chaos', 11)}\`](../blob/main/${address('edge_of_chaos', 11)}) on host 60: supported`,
    );
    expect(pull.body).toMatch(
      /What the last round of `edge_of_chaos` found .*: 2 supported of 2 valid results; critical_gain median 1\.05/,
    );
    expect(pull.body).toContain(
      // Shown inert: the rules quote the record, and Markdown's escapes render as the text.
      '**What its outcome would change:** If the crossing stays between 0\\.9 and 1\\.3',
    );
  }, 120_000);

  it('tests a supported law over a wider range', async () => {
    const l = labWith(['neural_scaling_laws']);
    recordRound(l, 'neural_scaling_laws', [
      {
        id: 31,
        host: 287,
        outcome: 'supported',
        metrics: { alpha: 1.1, r2: 0.99, size_decades: 2.04, seeds: 1 },
        series: { width: WIDTHS },
      },
      {
        id: 32,
        host: 141,
        outcome: 'supported',
        metrics: { alpha: 1.2, r2: 0.98, size_decades: 2.04, seeds: 1 },
        series: { width: WIDTHS },
      },
    ]);
    const report = await followUp(l);
    expect(report.proposed.map((p) => p.name)).toEqual(['neural_scaling_laws_r2']);
    const m = proposedManifest(l, 'neural_scaling_laws_r2');
    expect(m.follow_up?.rule).toBe('widen-law');
    expect(m.targets.map((t) => t.params?.extra_widths)).toEqual([
      [192, 256],
      [192, 256],
    ]);
    // The students train as one network: the work grows with the hidden units, 444 to 892.
    expect(m.work?.gflop).toBeCloseTo((156 * 892) / 444, -1);
    expect(m.follow_up?.would_change).toContain('the law holds beyond the sizes the last round covered');
  }, 120_000);

  it('runs an inconclusive result again with the work it lacked', async () => {
    const l = labWith(['double_descent']);
    recordRound(l, 'double_descent', [
      {
        id: 41,
        host: 194,
        outcome: 'inconclusive',
        reason: 'too little work: the run stopped at its deadline after 40% of its planned work',
        status: 'partial',
        progress: 0.4,
        metrics: { seeds: 2 },
        params: { seeds: 5 },
      },
      {
        id: 42,
        host: 296,
        outcome: 'inconclusive',
        reason: 'too little work: seeds = 2, needs seeds >= 3: 1 more',
        metrics: { seeds: 2 },
        params: { seeds: 2 },
      },
    ]);
    await followUp(l);
    const m = proposedManifest(l, 'double_descent_r2');
    expect(m.follow_up?.rule).toBe('rerun-with-work');
    // The units its last run was planned, pinned on every target, and the time 40% of it said it needs.
    expect(m.targets.map((t) => t.params?.seeds)).toEqual([5, 5]);
    expect(m.run_duration).toBe(Math.ceil((600 * 1.25) / 0.4 / 5) * 5);
    expect(m.follow_up?.parents[0]?.results).toEqual([
      address('double_descent', 41),
      address('double_descent', 42),
    ]);
    expect(m.follow_up?.why).toContain('The last round said nothing about the hypothesis: too little work');
  }, 120_000);

  it('grows the budget of a run that did almost nothing at most four times in one round', async () => {
    const l = labWith(['double_descent']);
    recordRound(l, 'double_descent', [
      {
        id: 45,
        host: 194,
        outcome: 'inconclusive',
        reason: 'too little work: the run stopped at its deadline after 1% of its planned work',
        status: 'partial',
        progress: 0.01,
        metrics: { seeds: 0 },
        params: { seeds: 5 },
      },
    ]);
    await followUp(l);
    const m = proposedManifest(l, 'double_descent_r2');
    // 1 / 1% would ask for 100 times the budget; a round grows it four times, with 25% to spare.
    expect(m.run_duration).toBe(600 * 4 * 1.25);
  }, 120_000);

  it('replicates a result that did not support its hypothesis on other hosts before building on it', async () => {
    const l = labWith(['grokking', 'edge_of_chaos']);
    recordRound(l, 'grokking', [
      {
        id: 51,
        host: 296,
        outcome: 'not supported',
        reason: 'not met: delay_ratio > 3 (found 1.2)',
        metrics: { delay_ratio: 1.2, seeds: 1 },
      },
      { id: 52, host: 209, outcome: 'supported', metrics: { delay_ratio: 9, seeds: 1 } },
    ]);
    // A refuted result comes first: with room for one follow-up, it is the one proposed.
    recordRound(l, 'edge_of_chaos', [supportedEdge(53, 60, 1.0)]);
    const report = await followUp(l, '--count', '1');
    expect(report.proposed.map((p) => p.name)).toEqual(['grokking_r2']);
    // The one left out is named, with why.
    expect(report.skipped).toContainEqual({
      name: 'edge_of_chaos_r2',
      reason:
        'follow-up of edge_of_chaos: only 1 follow-up was asked for, taken by those the rules put first',
    });
    const m = proposedManifest(l, 'grokking_r2');
    expect(m.follow_up?.rule).toBe('replicate-elsewhere');
    // The first hosts by id that fit and never ran it, with the same science params.
    expect(m.targets.map((t) => t.host)).toEqual([60, 80]);
    const original = parse(readFileSync(join(REPO_ROOT, 'manifests/grokking.yaml'), 'utf8')) as Manifest;
    expect(m.targets.map((t) => t.params)).toEqual(original.targets.map((t) => t.params));
    expect(m.hypothesis).toBe(original.hypothesis);
    expect(m.follow_up?.parents[0]?.results).toEqual([address('grokking', 51)]);
    expect(m.follow_up?.would_change).toContain("the last round's result belongs to hosts 296");
    // Reasons quoted from the record are shown inert in the pull request, as a model's text is.
    const pull = await forgeOf(l).get('axiom/propose/grokking_r2');
    expect(pull.body).toContain(
      `[\`${address('grokking', 51)}\`](../blob/main/${address('grokking', 51)}) on host 296: not supported (not met: delay\\_ratio &gt; 3 \\(found 1\\.2\\))`,
    );
  }, 120_000);

  it('says why it proposes nothing, and a closed follow-up stays a "no"', async () => {
    const l = labWith(['edge_of_chaos', 'lottery_ticket']);
    recordRound(l, 'lottery_ticket', [{ id: 61, host: 80, outcome: 'supported', metrics: { seeds: 1 } }]);
    recordRound(l, 'edge_of_chaos', [supportedEdge(62, 60, 1.02)]);
    const first = await followUp(l);
    expect(first.proposed.map((p) => p.name)).toEqual(['edge_of_chaos_r2']);
    expect(first.skipped).toContainEqual({
      name: 'lottery_ticket',
      reason: expect.stringMatching(
        /^supported, and neither a transition nor a law the rules know how to refine/,
      ),
    });
    const closed = await runCli(['pr', 'close', 'edge_of_chaos_r2'], { cwd: l.clone, env: env(l) });
    expect(closed.code).toBe(0);
    const again = await followUp(l);
    expect(again.proposed).toEqual([]);
    expect(again.skipped).toContainEqual({
      name: 'edge_of_chaos_r2',
      reason:
        'follow-up of edge_of_chaos: its pull request axiom/propose/edge_of_chaos_r2 was closed without merging; label it axiom:reopen to have it proposed again',
    });
  }, 120_000);
});

describe("a follow-up's name", () => {
  it('is the first experiment of its line with the round, within 48 characters', () => {
    expect(followUpName('edge_of_chaos', 2)).toBe('edge_of_chaos_r2');
    // A first experiment whose own name ends like a round keeps it: the line's names stay apart.
    expect(followUpName('model_r2', 2)).toBe('model_r2_r2');
    const long = followUpName(`${'a'.repeat(44)}_b_c`, 12);
    expect(long).toBe(`${'a'.repeat(44)}_r12`);
    expect(long.length).toBeLessThanOrEqual(48);
  });
});

describe("a follow-up's citations", () => {
  it('resolve to recorded results, and axiom check refuses one that does not, or a round out of order', async () => {
    const l = labWith(['edge_of_chaos']);
    recordRound(l, 'edge_of_chaos', [supportedEdge(71, 60, 1.03), supportedEdge(72, 249, 1.05)]);
    await followUp(l);
    await forgeOf(l).merge('axiom/propose/edge_of_chaos_r2', { approver: PERSON, at: new Date() });
    git(l.clone, 'pull', '--quiet', 'origin', 'main');
    const m = parse(readFileSync(join(l.clone, 'manifests/edge_of_chaos_r2.yaml'), 'utf8')) as Manifest;
    const resolve = citationResolver(l.clone, new SchemaValidator());
    const cited = m.follow_up?.parents.flatMap((p) => p.results) ?? [];
    expect(cited).toHaveLength(2);
    for (const a of cited)
      expect(resolve(a), a).toMatchObject({ experiment: 'edge_of_chaos', batch: ROUND_RUN });
    const clean = await runCli(['check', '--json'], { cwd: l.clone, env: env(l) });
    expect(
      JSON.parse(clean.stdout).problems.filter((p: { severity: string }) => p.severity === 'error'),
    ).toEqual([]);

    // A citation of a result that is not recorded, one under the wrong parent, and a round that skips one.
    const forged = structuredClone(m) as Manifest & { follow_up: NonNullable<Manifest['follow_up']> };
    forged.follow_up.parents[0] = {
      experiment: 'edge_of_chaos',
      results: [address('edge_of_chaos', 99999), address('double_descent', 71)],
    };
    forged.follow_up.round = 3;
    writeFileSync(join(l.clone, 'manifests/edge_of_chaos_r2.yaml'), stringify(forged));
    const refused = await runCli(['check', 'manifests/edge_of_chaos_r2.yaml', '--json'], {
      cwd: l.clone,
      env: env(l),
    });
    expect(refused.code).toBe(1);
    const problems = JSON.parse(refused.stdout).problems.filter(
      (p: { rule: string }) => p.rule === 'follow-up-citations',
    );
    // Each at its line, in the file's order.
    expect(problems.map((p: { path: string; message: string }) => [p.path, p.message])).toEqual([
      [
        'follow_up.round',
        'round 3 does not follow its parents: expected 2, one more than their latest round',
      ],
      [
        'follow_up.parents[0].results[0]',
        expect.stringMatching(/#result-99999 is not a recorded result \(expected the address of a result/),
      ],
      [
        'follow_up.parents[0].results[1]',
        `${address('double_descent', 71)} is a result of double_descent, not of edge_of_chaos`,
      ],
    ]);
  }, 120_000);
});

describe('axiom propose --follow-up with Claude (through the Claude API stand-in)', () => {
  const KEY = 'sk-ant-test-key';
  /** Fifteen experiments in the last round, and one already followed up. */
  function labWithRounds(): Lab {
    const l = labWith([]);
    mkdirSync(join(l.clone, 'manifests'));
    mkdirSync(join(l.clone, 'experiments'));
    const names = Array.from({ length: 15 }, (_, i) => `mean_test_${String(i).padStart(2, '0')}`);
    for (const name of [...names, 'mean_test_99']) {
      writeFileSync(join(l.clone, 'manifests', `${name}.yaml`), manifestYaml(name));
      writeFileSync(join(l.clone, 'experiments', `${name}.py`), script(name));
    }
    names.forEach((name, i) => {
      const id = 100 + 10 * i;
      const at = `2026-11-${String(10 + i).padStart(2, '0')}T10:00:00Z`;
      recordRound(l, name, [
        {
          id,
          host: 60,
          outcome: 'supported',
          metrics: { mean: 0.01 * i },
          receivedAt: at,
          replicaKey: 'a'.repeat(64),
        },
        {
          id: id + 1,
          host: 267,
          outcome: 'supported',
          metrics: { mean: 0.02 * i },
          receivedAt: at,
          replicaKey: 'a'.repeat(64),
          credit: 5,
        },
        {
          id: id + 2,
          host: 60,
          outcome: 'not supported',
          reason: `not met: mean between [-0.5, 0.5] (found 0.${i + 6})`,
          metrics: { mean: 0.6 + i / 100 },
          receivedAt: at,
          replicaKey: 'b'.repeat(64),
          decided: 'tie-breakers',
        },
      ]);
    });
    // mean_test_99 was built on mean_test_00's result 100: mean_test_00 is not in the last round.
    const child = parse(manifestYaml('mean_test_99')) as Manifest;
    child.follow_up = {
      round: 2,
      parents: [{ experiment: 'mean_test_00', results: [address('mean_test_00', 100)] }],
      why: 'the first round held; see whether it holds again',
      would_change: 'nothing if it holds; a doubt if it does not',
    };
    writeFileSync(join(l.clone, 'manifests/mean_test_99.yaml'), stringify(child));
    git(l.clone, 'add', '.');
    git(l.clone, 'commit', '--quiet', '-m', 'A follow-up');
    git(l.clone, 'push', '--quiet', 'origin', 'main');
    return l;
  }

  const design = (results: string[]) => ({
    name: 'mean_test_14_r2',
    title: 'The mean again, on other hosts',
    hypothesis: 'The mean of many normal draws is close to zero.',
    why_hosts: [{ host: 60, why: 'it ran the first round' }],
    script: script('mean_test_14_r2'),
    manifest_yaml: manifestYaml('mean_test_14_r2'),
    builds_on: [{ experiment: 'mean_test_14', results }],
    why: 'One of three results did not support the hypothesis.',
    would_change: 'Supported again, the refutation was the host; not supported, it stands.',
  });

  it("carries each experiment's outcomes, deciding checks, spread and reviewers' edits within its bound, and cites only recorded results", async () => {
    const answers = [design([address('mean_test_14', 999)]), design([address('mean_test_14', 242)])];
    let n = 0;
    const claude = await ClaudeStandIn.start(KEY, () => answers[Math.min(n++, answers.length - 1)]);
    claude.expect('count_tokens', 1).expect('messages', 2);
    const l = labWithRounds();
    try {
      const result = await runCli(['propose', '--follow-up', '--smoke-seconds', '0', '--json'], {
        cwd: l.clone,
        env: { ...env(l), ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: claude.url },
      });
      claude.verify();
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).proposed).toEqual([
        { name: 'mean_test_14_r2', pullRequest: { ref: 'axiom/propose/mean_test_14_r2', action: 'created' } },
      ]);
      const [first, repair] = claude.requests.filter((r) => r.route === 'messages').map((r) => r.body);
      const context = first?.messages[0]?.content[0]?.text ?? '';
      const round = context.slice(
        context.indexOf('The last round:'),
        context.indexOf('Lines of inquiry so far'),
      );
      const entries = round.split('\n').filter((line) => line.startsWith('- mean_test_'));
      // The bound: the newest 12 of the 15 experiments in the last round, each within 1,600 characters.
      expect(entries.map((e) => /^- (mean_test_\d+)/.exec(e)?.[1])).toEqual(
        Array.from({ length: 12 }, (_, i) => `mean_test_${String(14 - i).padStart(2, '0')}`),
      );
      for (const e of entries) expect(e.length).toBeLessThanOrEqual(1600);
      expect(round).toContain('at most 12, newest first, each in at most 1600 characters');
      // What each carries: its outcomes and the check that decided them, the checks met, the spread
      // across hosts and replicas, the reviewers' edits, and its results' stable addresses.
      const latest = entries[0] as string;
      expect(latest).toContain(
        'outcomes: 2 supported, 1 not supported (not met: mean between [-0.5, 0.5] (found 0.20))',
      );
      expect(latest).toContain('acceptance: mean between [-0.5, 0.5] met by 2/3');
      expect(latest).toMatch(/mean 0\.14 to 0\.74 over 2 hosts \(host 60: 0\.14 to 0\.74; host 267: 0\.28\)/);
      expect(latest).toContain('replicas: 1 computation unanimous, 1 computation tie-breakers');
      expect(latest).toContain('1 credit edits by reviewers (result 241: 20 → 5)');
      expect(latest).toContain(
        `results: ${address('mean_test_14', 240)} (supported, host 60), ${address('mean_test_14', 241)}`,
      );
      // What was followed up already is a line of inquiry, not the last round.
      expect(round).not.toMatch(/^- mean_test_00/m);
      expect(context).toContain('- mean_test_00 (round 1) → mean_test_99 (round 2)');
      // The follow-up's answer names what it builds on; a citation of an unrecorded result goes back.
      expect(Object.keys(first?.output_config?.format?.schema?.properties as object)).toEqual(
        expect.arrayContaining(['builds_on', 'why', 'would_change']),
      );
      expect(first?.messages[0]?.content[1]?.text).toContain(
        'It is a follow-up: it grows out of results of the last round',
      );
      expect(repair?.messages[0]?.content[1]?.text).toMatch(/#result-999 is not a recorded result/);
      const m = proposedManifest(l, 'mean_test_14_r2');
      expect(m.follow_up).toEqual({
        round: 2,
        parents: [{ experiment: 'mean_test_14', results: [address('mean_test_14', 242)] }],
        why: 'One of three results did not support the hypothesis.',
        would_change: 'Supported again, the refutation was the host; not supported, it stands.',
      });
      const pull = await forgeOf(l).get('axiom/propose/mean_test_14_r2');
      expect(pull.labels).toEqual(['axiom:proposal', 'axiom:designed-by-model', 'axiom:follow-up']);
      expect(pull.body).toContain(
        `[\`${address('mean_test_14', 242)}\`](../blob/main/${address('mean_test_14', 242)}) on host 60: not supported`,
      );
    } finally {
      await claude.close();
    }
  }, 120_000);
});
