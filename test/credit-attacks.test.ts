import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  type AttackLab,
  cli,
  collectRun,
  commitToMain,
  deployed,
  honestRun,
  hostCredit,
  makeAttackLab,
  merge,
  returnResult,
  reviewOf,
  walkManifest,
  workunitOn,
} from './helpers/attack-lab.js';
import { git } from './helpers/git.js';

// Cheating volunteers against collect's rules and credit apply, end to end: deploy draws the seeds,
// the real script runs in the sandbox for honest hosts, BOINC's rows say who returned what, the real
// assimilator reads each upload, collect judges, a person merges, credit apply pays on MariaDB.

let lab: AttackLab;
afterEach(async () => {
  await lab?.cleanup();
});

const RUN = ['2026-12-01T100000Z', '2026-12-01T110000Z', '2026-12-01T120000Z', '2026-12-01T130000Z'];

/** Every number of a report moved by `factor`: a copy dressed up as another run. */
function nudged(report: Record<string, any>, factor: number, seed?: number): Record<string, any> {
  const copy = structuredClone(report);
  const envelope = copy.envelope;
  for (const key of ['spread', 'final']) envelope.metrics[key] *= factor;
  envelope.series.x = envelope.series.x.map((v: number) => v * factor);
  if (seed !== undefined) envelope.seed = seed;
  envelope.elapsed_seconds = 31.7;
  return copy;
}

/** A credit file with one entry edited as a reviewer would. */
function pay(text: string, result: number, credit: number): string {
  const file = parse(text);
  for (const entry of file.entries)
    if (entry.result === result) Object.assign(entry, { verdict: 'valid', credit });
  return stringify(file, { lineWidth: 0 });
}

describe('no published answer is worth credit', () => {
  it('draws fresh seeds per deployment and pays no copy of any earlier result, a host’s own included', async () => {
    lab = await makeAttackLab([60, 267]);
    await cli(lab, ['deploy']);
    const first = await deployed(lab);
    const a = workunitOn(first, 60);
    expect(workunitOn(first, 267).seed).toBe(a.seed); // replicas of one deployment share theirs
    expect(a.seed).not.toBe(1); // and it is not the manifest's, which is public
    const published = await honestRun(lab, a);
    const [r60, r267] = [
      await returnResult(lab, a, 60, published),
      await returnResult(lab, workunitOn(first, 267), 267, published),
    ];
    const one = await collectRun(lab, RUN[0] as string);
    expect(one.collected.map((c) => [c.result, c.verdict, c.credit])).toEqual([
      [r60, 'valid', 50],
      [r267, 'valid', 50],
    ]);
    expect(reviewOf(lab, RUN[0] as string, r60).replication).toEqual({
      decided: 'unanimous',
      standing: 'agreed',
      quorum: 2,
      classes: [{ results: [r60, r267], hosts: [60, 267] }],
    });
    await merge(lab, RUN[0] as string);

    // The manifest gets more hosts: host 60 a second workunit, host 209 its first. Their results
    // would be the public one if they shared its seed; they get a fresh one.
    commitToMain(
      lab,
      {
        'manifests/walk.yaml': walkManifest([60, 267, 209]).replace(
          '  - host: 60\n',
          '  - host: 60\n    replicas: 2\n',
        ),
      },
      'More hosts for the walk',
    );
    git(lab.lab.clone, 'pull', '--quiet', 'origin', 'main');
    await cli(lab, ['deploy']);
    const second = await deployed(lab);
    const self = second.get(a.wu_name.replace(/_r0$/, '_r1'));
    const other = workunitOn(second, 209);
    expect(self?.seed).toBe(other.seed);
    expect(other.seed).not.toBe(a.seed);
    // Host 60 uploads its own published result again; host 209 the public one with a new time.
    const selfCopy = await returnResult(lab, self as NonNullable<typeof self>, 60, nudged(published, 1));
    const publicCopy = await returnResult(lab, other, 209, nudged(published, 1, other.seed), 44);
    const two = await collectRun(lab, RUN[1] as string);
    // Neither is a computation, and nothing of theirs is public yet: held, replacements asked for.
    expect(two.collected).toEqual([]);
    expect(two.held.flatMap((h) => h.results).sort()).toEqual([selfCopy, publicCopy].sort());
    expect(two.requested.map((r) => r.kind)).toEqual(['replacement', 'replacement']);

    await cli(lab, ['deploy']);
    const third = await deployed(lab);
    const replacements = [...third.values()].filter((i) => i.kind === 'replacement');
    expect(replacements.map((r) => r.seed)).toEqual([other.seed, other.seed]);
    const [honestHost, copyHost] = replacements.map((r) => Number(/_h(\d+)_/.exec(r.wu_name)?.[1]));
    const [honestInput, copyInput] = replacements as [(typeof replacements)[0], (typeof replacements)[0]];
    const honest = await returnResult(
      lab,
      honestInput,
      honestHost as number,
      await honestRun(lab, honestInput),
    );
    // Another host's result for another seed, every number moved by 1e-7.
    const perturbed = await returnResult(
      lab,
      copyInput,
      copyHost as number,
      nudged(published, 1 + 1e-7, copyInput.seed),
    );
    const three = await collectRun(lab, RUN[2] as string);
    const verdicts = new Map(three.collected.map((c) => [c.result, c]));
    for (const copy of [selfCopy, publicCopy, perturbed]) {
      expect(verdicts.get(copy)).toMatchObject({ verdict: 'invalid', credit: 0 });
      expect(verdicts.get(copy)?.failed).toContain('copy');
      const finding = reviewOf(lab, RUN[2] as string, copy).checks.find(
        (c: { rule: string }) => c.rule === 'copy',
      );
      expect(finding.finding).toContain(`numbers of result ${r60}`);
    }
    // The honest replacement is the computation's one agreeing result of the two its quorum needs, and
    // the limit is reached: it is held for a person, unpaid.
    expect(verdicts.get(honest)).toMatchObject({ verdict: 'suspicious', credit: 0 });
    expect(reviewOf(lab, RUN[2] as string, honest).replication).toMatchObject({
      decided: 'person',
      standing: 'held',
    });

    // The reviewer pays the honest held result and tries to pay a copy: only the first is granted.
    await merge(lab, RUN[2] as string, (text) => pay(pay(text, honest, 50), selfCopy, 50));
    const before = await hostCredit(lab);
    const apply = await cli(lab, ['credit', 'apply', '--json'], 1);
    const report = JSON.parse(apply.stdout);
    const paid = (granted: { result: number; amount: number }[]) =>
      granted.filter((g) => g.amount > 0).map((g) => g.result);
    expect(paid(report.granted)).toEqual([r60, r267, honest]);
    expect(report.problems.map((p: { rule: string; path: string }) => [p.rule, p.path])).toEqual([
      ['credit/passed-checks', `result ${selfCopy}`],
    ]);
    const after = await hostCredit(lab);
    // The honest replacement's host gains its 50 (and, if it is host 267, that host's first 50 too).
    const earlier = honestHost === 267 ? 50 : 0;
    expect((after.get(honestHost as number) ?? 0) - (before.get(honestHost as number) ?? 0)).toBe(
      50 + earlier,
    );
  }, 240_000);
});

describe('replicas decided as a quorum, never by arrival order', () => {
  it('a fabricated first result and a colluder frame nobody: a tie-breaker decides, and the liars are watched', async () => {
    lab = await makeAttackLab([60, 267, 209]);
    await cli(lab, ['deploy']);
    const inputs = await deployed(lab);
    const honest = await honestRun(lab, workunitOn(inputs, 209));
    const fabricated = nudged(honest, 1.5);
    // Host 60 returns a fabricated result first; its partners are still out, so nothing is published.
    const liar = await returnResult(lab, workunitOn(inputs, 60), 60, fabricated);
    const early = await collectRun(lab, RUN[0] as string);
    expect(early.collected).toEqual([]);
    expect(early.held).toEqual([expect.objectContaining({ results: [liar] })]);
    expect(early.held[0]?.reason).toContain('2 more of its workunits are still out');

    // Host 267 colludes with it; host 209 is honest. Two against one decides nothing.
    const colluder = await returnResult(lab, workunitOn(inputs, 267), 267, fabricated);
    const victim = await returnResult(lab, workunitOn(inputs, 209), 209, honest);
    const disputed = await collectRun(lab, RUN[1] as string);
    expect(disputed.collected).toEqual([]);
    expect(disputed.held[0]?.reason).toContain('disagree');
    expect(disputed.requested).toEqual([expect.objectContaining({ kind: 'tie-breaker' })]);
    const tieHost = disputed.requested[0]?.host as number;
    expect([60, 267, 209]).not.toContain(tieHost);

    // One tie-breaker agrees with host 209: two agreeing results, short of the quorum of three. A second decides.
    await cli(lab, ['deploy']);
    const tie = [...(await deployed(lab)).values()].find((i) => i.kind === 'tie-breaker');
    expect(tie?.seed).toBe(workunitOn(inputs, 209).seed);
    const tieBreaker = await returnResult(lab, tie as NonNullable<typeof tie>, tieHost, honest);
    const still = await collectRun(lab, RUN[2] as string);
    expect(still.collected).toEqual([]);
    expect(still.requested).toEqual([expect.objectContaining({ kind: 'tie-breaker' })]);
    const secondHost = still.requested[0]?.host as number;
    expect([60, 267, 209, tieHost]).not.toContain(secondHost);
    await cli(lab, ['deploy']);
    const second = [...(await deployed(lab)).values()].find(
      (i) => i.kind === 'tie-breaker' && i.wu_name.includes(`_h${secondHost}_`),
    );
    const secondBreaker = await returnResult(
      lab,
      second as NonNullable<typeof second>,
      secondHost,
      await honestRun(lab, second as NonNullable<typeof second>),
    );
    const run = RUN[3] as string;
    const decided = await collectRun(lab, run);
    expect(decided.collected.map((c) => [c.result, c.verdict, c.credit])).toEqual([
      [liar, 'invalid', 0],
      [colluder, 'invalid', 0],
      [victim, 'valid', 50],
      [tieBreaker, 'valid', 50],
      [secondBreaker, 'valid', 50],
    ]);
    const victimCheck = reviewOf(lab, run, victim).checks.find(
      (c: { rule: string }) => c.rule === 'replicas',
    );
    expect(victimCheck.finding).toMatch(
      new RegExp(
        `^agrees with results ${tieBreaker} \\(host ${tieHost}, this run\\), ${secondBreaker} \\(host ${secondHost}, this run\\) within the manifest's tolerances; disagrees with results ${liar} \\(host 60, this run\\), ${colluder} \\(host 267, this run\\): against ${liar}, `,
      ),
    );
    expect(reviewOf(lab, run, liar).replication).toEqual({
      decided: 'tie-breakers',
      standing: 'outvoted',
      quorum: 3,
      classes: [
        { results: [liar, colluder], hosts: [60, 267] },
        { results: [victim, tieBreaker, secondBreaker], hosts: [209, tieHost, secondHost] },
      ],
    });
    await merge(lab, run);
    const before = await hostCredit(lab);
    await cli(lab, ['credit', 'apply']);
    const after = await hostCredit(lab);
    const gained = (host: number) => (after.get(host) ?? 0) - (before.get(host) ?? 0);
    expect([gained(60), gained(267), gained(209), gained(tieHost), gained(secondHost)]).toEqual([
      0, 0, 50, 50, 50,
    ]);

    // Host 60 lost a quorum: its next workunit that would run alone gets a shadow replica elsewhere.
    commitToMain(
      lab,
      {
        'manifests/walk.yaml': walkManifest([60, 267, 209])
          .replace('  policy: fixed', '  policy: unique')
          .replace('  - host: 60\n', '  - host: 60\n    replicas: 2\n'),
      },
      'A second walk on host 60',
    );
    git(lab.lab.clone, 'pull', '--quiet', 'origin', 'main');
    await cli(lab, ['deploy']);
    const now = await deployed(lab);
    const solo = [...now.values()].find((i) => i.wu_name.endsWith('_h60_r1'));
    const shadow = [...now.values()].find((i) => i.kind === 'shadow');
    expect(shadow).toBeDefined();
    expect(shadow?.seed).toBe(solo?.seed);
    expect(shadow?.wu_name).not.toContain('_h60_');
  }, 240_000);
});

describe('runtime and caps from what was deployed', () => {
  it('refuses a forged fast time on a host without a benchmark, and holds credit to the cap it was deployed with', async () => {
    lab = await makeAttackLab([60]);
    await cli(lab, ['deploy']);
    const input = workunitOn(await deployed(lab), 60);
    // The planner sized the work at BOINC's default 1e9 per core: about 60 s. Host 60 claims 0.4 s.
    expect(input.params.steps).toBeGreaterThanOrEqual(2000);
    const report = await honestRun(lab, input);
    const fast = await returnResult(lab, input, 60, report, 0.4);
    const first = await collectRun(lab, RUN[0] as string);
    expect(first.requested).toEqual([expect.objectContaining({ kind: 'replacement' })]);
    await cli(lab, ['deploy']);
    const replacement = [...(await deployed(lab)).values()].find((i) => i.kind === 'replacement');
    const host = first.requested[0]?.host as number;
    const honest = await returnResult(lab, replacement as NonNullable<typeof replacement>, host, report, 45);
    const run = RUN[1] as string;
    const second = await collectRun(lab, run);
    expect(second.collected.map((c) => [c.result, c.verdict, c.credit])).toEqual([
      [fast, 'invalid', 0],
      [honest, 'valid', 50],
    ]);
    const runtime = reviewOf(lab, run, fast).checks.find((c: { rule: string }) => c.rule === 'runtime');
    expect(runtime.finding).toMatch(
      /^fast finish: BOINC measured 0\.4 s; its planned work takes at least [0-9.]+ s at 32\.0 GFLOPS per core on 1 core \(no host measured at this experiment yet/,
    );
    expect(reviewOf(lab, run, honest).credit_cap).toBe(50);
    await merge(lab, run);

    // After deploy the cap is lowered, then the manifest is deleted: what was approved still holds.
    commitToMain(lab, { 'manifests/walk.yaml': walkManifest([60], '', 10) }, 'Lower the cap');
    const lowered = JSON.parse((await cli(lab, ['credit', 'apply', '--dry-run', '--json'])).stdout);
    expect(lowered.granted.map((g: { result: number; amount: number }) => [g.result, g.amount])).toEqual([
      [fast, 0],
      [honest, 50],
    ]);
    commitToMain(lab, { 'manifests/walk.yaml': null, 'experiments/walk.py': null }, 'Retire the walk');
    const gone = JSON.parse((await cli(lab, ['credit', 'apply', '--dry-run', '--json'])).stdout);
    expect(gone.granted.map((g: { result: number; amount: number }) => [g.result, g.amount])).toEqual([
      [fast, 0],
      [honest, 50],
    ]);

    // A review that names a deploy commit this history does not have is refused, never paid on a guess.
    git(lab.lab.clone, 'checkout', '--quiet', '-b', 'elsewhere', 'HEAD~2');
    git(lab.lab.clone, 'commit', '--quiet', '--allow-empty', '-m', 'A commit main never had');
    const foreign = git(lab.lab.clone, 'rev-parse', 'HEAD');
    git(lab.lab.clone, 'checkout', '--quiet', 'main');
    const data = `results/walk/${run}.jsonl`;
    const text = git(lab.lab.clone, 'show', `HEAD:${data}`);
    commitToMain(
      lab,
      { [data]: `${text.replace(/"manifest_commit":"[0-9a-f]{40}"/g, `"manifest_commit":"${foreign}"`)}\n` },
      'Point at another commit',
    );
    const refused = await cli(lab, ['credit', 'apply', '--json'], 1);
    const problems = JSON.parse(refused.stdout).problems as { rule: string; message: string }[];
    expect(problems).toContainEqual(
      expect.objectContaining({
        rule: 'credit/manifest-exists',
        message: expect.stringContaining('is not in the history of this checkout'),
      }),
    );
  }, 240_000);
});
