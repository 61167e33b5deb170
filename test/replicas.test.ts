import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resultsBranch } from '../src/collect/results.js';
import { readClientReport } from '../src/envelope/report.js';
import { resultEntry, type SpoolEntry, writeSpoolEntry } from '../src/envelope/spool.js';
import { DEFAULT_IDENTITY } from '../src/forge/git.js';
import { LocalForge } from '../src/forge/local.js';
import type { WorkunitInput } from '../src/workunit/input.js';
import { insertFinishedResults } from './helpers/credit.js';
import { git, type Lab, makeLab, PERSON, showFile } from './helpers/git.js';
import { createBoincDatabase, insertFirstBatch, type TestDatabase } from './helpers/mariadb.js';
import { REPO_ROOT, runCli } from './helpers/repo.js';
import { plannedInputs } from './helpers/workunits.js';

// double_descent, as shipped, on three hosts of the first batch (194 and 296 are user 1, 287 user
// 2) with small params: no seed policy, so every workunit runs seed 1 and is a same-seed replica of
// the others. Results come from the real script, run by the real client in its sandbox.
const SMALL = '{ n_train: 60, dim: 10, noise: 0.5, n_test: 500, seeds: 2 }';

let db: TestDatabase;
let lab: Lab;
let spool: string;
let inputs: Map<string, WorkunitInput>;

function manifest(): string {
  const text = readFileSync(join(REPO_ROOT, 'manifests/double_descent.yaml'), 'utf8');
  const targets = [194, 296, 287].map((host) => `  - host: ${host}\n    params: ${SMALL}\n`).join('');
  return text.replace(/^targets:\n(?: {2}.*\n| {4}.*\n)+/m, `targets:\n${targets}`);
}

beforeEach(async () => {
  db = await createBoincDatabase({ misc: true });
  await insertFirstBatch(db.connection, 1_764_000_000);
  lab = makeLab({
    'manifests/double_descent.yaml': manifest(),
    'experiments/double_descent.py': readFileSync(join(REPO_ROOT, 'experiments/double_descent.py'), 'utf8'),
    'axiom.yaml': readFileSync(join(REPO_ROOT, 'axiom.yaml'), 'utf8'),
    'fleet.yaml': readFileSync(join(REPO_ROOT, 'fleet.yaml'), 'utf8'),
  });
  spool = join(lab.root, 'spool');
  mkdirSync(spool);
  inputs = await plannedInputs(lab.clone, 'double_descent', git(lab.clone, 'rev-parse', 'HEAD'));
});

afterEach(async () => {
  await db.drop();
});

const workunitOf = (host: number) => {
  const found = [...inputs.values()].find((i) => i.wu_name.includes(`_h${host}_`));
  if (!found) throw new Error(`no workunit for host ${host}`);
  return found;
};

/** The client's report of a real run of a workunit at `cpus` cores, as BOINC would upload it. */
async function runOn(host: number, cpus: number): Promise<Buffer> {
  const input = workunitOf(host);
  const out = join(mkdtempSync(join(tmpdir(), 'axiom-replica-')), 'run');
  const result = await runCli(
    ['run', 'manifests/double_descent.yaml', '--seed', String(input.seed), '--cpus', String(cpus)].concat([
      '--params',
      JSON.stringify(input.params),
      '--budget',
      '120',
      '--out',
      out,
      '--json',
      '--quiet',
    ]),
    { cwd: lab.clone, env: { PATH: process.env.PATH } },
  );
  expect(JSON.parse(result.stdout).status).toBe('ok');
  return readFileSync(join(out, 'axiom_result.json'));
}

/** What the assimilator writes for a result whose upload is `report`. */
function spoolResult(id: number, host: number, report: Buffer, edit?: (entry: SpoolEntry) => void): void {
  const input = workunitOf(host);
  const entry = resultEntry(
    { wuName: input.wu_name, wuId: 1, resultId: id, runtime: 100, hostId: host, workunit: input },
    readClientReport(report),
    new Date('2026-11-25T10:00:00Z'),
  );
  edit?.(entry);
  writeSpoolEntry(spool, entry);
}

const env = () => ({
  PATH: process.env.PATH,
  HOME: lab.root,
  AXIOM_DB_URL: db.url,
  AXIOM_SPOOL_DIR: spool,
  AXIOM_FORGE: 'local',
});

async function collectRun(run: string) {
  const result = await runCli(['collect', '--run', run, '--json'], { cwd: lab.clone, env: env() });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as { collected: { result: number; verdict: string; credit: number }[] };
}

function reviewOn(id: number, run: string): Record<string, any> {
  const text = showFile(lab.origin, resultsBranch(run), `results/double_descent/${run}.jsonl`) ?? '';
  const line = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .find((l) => l.result === id);
  if (!line) throw new Error(`result ${id} is not in run ${run}`);
  return line.review;
}

/** BOINC result rows, one per host's workunit, in the order given. */
async function finishedOn(...hosts: number[]): Promise<number[]> {
  const users: Record<number, number> = { 194: 1, 296: 1, 287: 2 };
  return insertFinishedResults(
    db.connection,
    hosts.map((host) => ({ workunit: workunitOf(host).wu_name, host, user: users[host] as number })),
  );
}

/** Changes one metric of a spool entry by 1 % and its time, as a volunteer editing a real result would. */
function tamper(entry: SpoolEntry): void {
  const e = entry.envelope as NonNullable<SpoolEntry['envelope']>;
  e.metrics.peak_over_large = (e.metrics.peak_over_large as number) * 1.01;
  e.elapsed_seconds = (e.elapsed_seconds ?? 0) + 1.234;
}

const RUN = '2026-11-25T120000Z';
const LATER = '2026-11-26T120000Z';

describe('same-seed replicas', () => {
  it('from a 1-core and a 2-core host agree; one with a metric changed is suspicious, against a result not yet merged', async () => {
    const [a, b, c] = (await finishedOn(194, 296, 287)) as [number, number, number];
    const twoCores = await runOn(296, 2);
    spoolResult(a, 194, await runOn(194, 1));
    spoolResult(b, 296, twoCores);
    const first = await collectRun(RUN);
    expect(first.collected.map((r) => [r.result, r.verdict, r.credit > 0])).toEqual([
      [a, 'valid', true],
      [b, 'valid', true],
    ]);
    const review = reviewOn(a, RUN);
    expect(review.checks).toContainEqual({
      rule: 'replicas',
      passed: true,
      finding: `agrees with result ${b} (host 296, this run) within the manifest's tolerances`,
    });
    expect(review.replica_key).toBe(reviewOn(b, RUN).replica_key);
    expect(review.environment).toMatchObject({ numpy: expect.any(String), cpu: expect.any(String) });

    // Host 287 returns the 2-core run's numbers with one metric changed by 1 %, after the other two
    // were published in a results pull request: its partners' numbers were public, so nothing it
    // sends now can be told from a copy. Held for a person, unpaid.
    spoolResult(c, 287, twoCores, tamper);
    const second = await collectRun(LATER);
    expect(second.collected.map((r) => [r.result, r.verdict, r.credit])).toEqual([[c, 'suspicious', 0]]);
    const finding = reviewOn(c, LATER).checks.find((check: { rule: string }) => check.rule === 'replicas');
    expect(finding).toMatchObject({ passed: false });
    expect(finding.finding).toBe(
      `held for a person: results ${a} (host 194, an open results pull request), ${b} (host 296, an open results pull request) of the same computation were public before it came back, so a copy cannot be told from a computation`,
    );
  }, 120_000);

  it('in one run, pays none of three when one disagrees: two against one is not a decision', async () => {
    const [a, b, c] = (await finishedOn(194, 296, 287)) as [number, number, number];
    const twoCores = await runOn(296, 2);
    spoolResult(a, 194, await runOn(194, 1));
    spoolResult(b, 296, twoCores);
    spoolResult(c, 287, twoCores, tamper);
    const run = await collectRun(RUN);
    expect(run.collected.map((r) => [r.result, r.verdict, r.credit])).toEqual([
      [a, 'suspicious', 0],
      [b, 'suspicious', 0],
      [c, 'suspicious', 0],
    ]);
    const finding = reviewOn(c, RUN).checks.find(
      (check: { rule: string }) => check.rule === 'replicas',
    ).finding;
    expect(finding).toMatch(
      new RegExp(
        `^disagrees with results ${a} \\(host 194, this run\\), ${b} \\(host 296, this run\\): against ${a}, peak_over_large is`,
      ),
    );
    expect(reviewOn(a, RUN).replication).toEqual({
      decided: 'person',
      standing: 'held',
      quorum: 1,
      classes: [
        { results: [a, b], hosts: [194, 296] },
        { results: [c], hosts: [287] },
      ],
    });
  }, 120_000);

  it('catches a copy of a published result under another host’s workunit', async () => {
    const [a, copy, honest] = (await finishedOn(194, 287, 296)) as [number, number, number];
    const report = await runOn(194, 1);
    spoolResult(a, 194, report);
    await collectRun(RUN);
    const forge = new LocalForge({ repoDir: lab.clone, remote: 'origin', identity: DEFAULT_IDENTITY });
    await forge.merge(resultsBranch(RUN), { approver: PERSON, at: new Date() });
    git(lab.clone, 'pull', '--quiet', 'origin', 'main');

    // Host 287 uploads the published result as its own: the same numbers to the millisecond.
    spoolResult(copy, 287, report);
    // Host 296 ran it honestly: the same numbers, its own time.
    spoolResult(honest, 296, await runOn(296, 2));
    const later = await collectRun(LATER);
    // These workunits share the seed of a published result (they were planned before deploy drew a
    // fresh seed per deployment): neither the copy nor the honest run can be told from the other.
    expect(later.collected.map((r) => [r.result, r.verdict, r.credit > 0])).toEqual([
      [copy, 'suspicious', false],
      [honest, 'suspicious', false],
    ]);
    for (const id of [copy, honest])
      expect(reviewOn(id, LATER).replication).toMatchObject({ decided: 'person', standing: 'held' });
  }, 120_000);
});
