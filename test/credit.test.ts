import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openMysqlStore } from '../src/boinc/mysql.js';
import { SqliteBoincStore } from '../src/boinc/sqlite.js';
import { DEFAULT_IDENTITY } from '../src/forge/git.js';
import { LocalForge } from '../src/forge/local.js';
import {
  type CreditLine,
  committedRepo,
  creditYaml,
  insertFinishedResults,
  recordFiles,
  workunitName,
} from './helpers/credit.js';
import { git, makeLab } from './helpers/git.js';
import { createBoincDatabase, insertFirstBatch, type TestDatabase } from './helpers/mariadb.js';
import { makeRepo, manifestYaml, OK_SCRIPT, REPO_ROOT, runCli } from './helpers/repo.js';

// Hosts 60 (user 1, in team 1) and 267 (user 2, no team) of the first batch; mean_test's cap is 10.
const CREDIT_FILE = 'results/credit/2026-11-25T120000Z.yaml';
let db: TestDatabase;

beforeEach(async () => {
  db = await createBoincDatabase({ misc: true });
  await insertFirstBatch(db.connection, 1_764_000_000);
});

afterEach(async () => {
  await db.drop();
});

async function results(count: number): Promise<CreditLine[]> {
  const items = Array.from({ length: count }, (_, i) => ({
    workunit: workunitName('mean_test', i % 2 === 0 ? 60 : 267, i),
    host: i % 2 === 0 ? 60 : 267,
    user: i % 2 === 0 ? 1 : 2,
  }));
  const ids = await insertFinishedResults(db.connection, items);
  return items.map((item, i) => ({
    result: ids[i] as number,
    workunit: item.workunit,
    experiment: 'mean_test',
    host: item.host,
    user: item.user,
    team: item.user === 1 ? 1 : 0,
    verdict: 'valid',
    quality: 0.8,
    credit: 8,
  }));
}

function lab(entries: CreditLine[]): string {
  return committedRepo(
    { 'manifests/mean_test.yaml': manifestYaml('mean_test'), 'experiments/mean_test.py': OK_SCRIPT },
    (commit) => ({
      [CREDIT_FILE]: creditYaml('2026-11-25T120000Z', entries),
      ...recordFiles('2026-11-25T120000Z', entries, commit),
    }),
  );
}

async function rows(sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
  return (await db.connection.query<RowDataPacket[]>(sql, values))[0];
}

/** Everything credit touches, to compare before and after. */
async function creditState(): Promise<unknown> {
  return {
    hosts: await rows('SELECT id, total_credit, expavg_credit, expavg_time FROM host ORDER BY id'),
    users: await rows('SELECT id, total_credit, expavg_credit, expavg_time FROM user ORDER BY id'),
    teams: await rows('SELECT id, total_credit, expavg_credit, expavg_time FROM team ORDER BY id'),
    results: await rows('SELECT id, granted_credit FROM result ORDER BY id'),
    ledger: await rows('SELECT result_id, amount FROM axiom_credit_ledger ORDER BY result_id'),
  };
}

const apply = (root: string, ...extra: string[]) =>
  runCli(['credit', 'apply', ...extra], { cwd: root, env: { PATH: process.env.PATH, AXIOM_DB_URL: db.url } });

describe('axiom credit apply', () => {
  it('grants every entry once: host, user and team totals, granted_credit and the ledger; a second run changes nothing', async () => {
    const entries = await results(4);
    const root = lab(entries);
    const first = await apply(root, '--json');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout);
    expect(report.granted).toHaveLength(4);
    expect(report.granted[0].source).toBe(`${CREDIT_FILE}:4`);

    expect(await rows('SELECT id, total_credit FROM host WHERE id IN (60, 267) ORDER BY id')).toEqual([
      { id: 60, total_credit: 16 },
      { id: 267, total_credit: 16 },
    ]);
    expect(await rows('SELECT id, total_credit FROM user ORDER BY id')).toEqual([
      { id: 1, total_credit: 16 },
      { id: 2, total_credit: 16 },
    ]);
    expect(await rows('SELECT id, total_credit FROM team')).toEqual([{ id: 1, total_credit: 16 }]);
    expect((await rows('SELECT granted_credit FROM result')).map((r) => r.granted_credit)).toEqual([
      8, 8, 8, 8,
    ]);
    const ledger = await rows(
      'SELECT result_id, amount, commit_sha, source, host_id, user_id, team_id FROM axiom_credit_ledger ORDER BY result_id',
    );
    expect(ledger[0]).toEqual({
      result_id: entries[0]?.result,
      amount: 8,
      commit_sha: git(root, 'rev-parse', 'HEAD'),
      source: `${CREDIT_FILE}:4`,
      host_id: 60,
      user_id: 1,
      team_id: 1,
    });

    const before = await creditState();
    const second = await apply(root, '--json');
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ granted: [], alreadyApplied: 4 });
    expect(await creditState()).toEqual(before);
  });

  it('honours an amount a reviewer edited, and never re-grants after a later edit', async () => {
    const entries = await results(2);
    const edited = entries.map((e, i) => (i === 0 ? { ...e, credit: 7.5 } : e));
    const root = lab(edited);
    expect((await apply(root)).code).toBe(0);
    expect(
      (await rows('SELECT granted_credit FROM result ORDER BY id')).map((r) => r.granted_credit),
    ).toEqual([7.5, 8]);

    const later = lab(edited.map((e, i) => (i === 0 ? { ...e, credit: 9 } : e)));
    const again = await apply(later);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(
      `warning: result ${entries[0]?.result}: result ${entries[0]?.result} was granted 7.5 from ${CREDIT_FILE}:4 (commit ${git(root, 'rev-parse', 'HEAD').slice(0, 12)}); credit is granted once, so 9 is not applied [credit/changed-after-grant]`,
    );
    expect((await rows('SELECT total_credit FROM host WHERE id = 60'))[0]?.total_credit).toBe(7.5);
  });

  it('refuses negative, above-cap, unknown-result, mismatched-host and unpaid-verdict entries at their line, and grants the rest', async () => {
    const entries = await results(6);
    const bad = [
      { ...entries[0], credit: -3 },
      { ...entries[1], credit: 11 },
      { ...entries[2], result: 999_999 },
      { ...entries[3], host: 60 },
      { ...entries[4], verdict: 'suspicious' },
      entries[5],
    ] as CreditLine[];
    const root = lab(bad);
    const result = await apply(root);
    expect(result.code).toBe(1);
    const problems = result.stdout.split('\n').filter((l) => l.startsWith(CREDIT_FILE));
    expect(problems).toEqual([
      `${CREDIT_FILE}:12:13: entries[0].credit: must be >= 0; found -3 [schema]`,
      `${CREDIT_FILE}:21:13: result ${entries[1]?.result}: credit 11 is above the credit_cap 10 of manifests/mean_test.yaml at ${git(root, 'rev-parse', 'HEAD~1').slice(0, 12)}, which it was deployed from; expected 0 to 10 [credit/within-cap]`,
      `${CREDIT_FILE}:22:13: result 999999: result 999999 does not exist in the BOINC database [credit/known-result]`,
      `${CREDIT_FILE}:34:11: result ${entries[3]?.result}: result ${entries[3]?.result} was returned by host 267, not host 60 [credit/same-host]`,
      `${CREDIT_FILE}:48:13: result ${entries[4]?.result}: credit 8 for a result judged suspicious; only valid results are paid (set verdict: valid to pay it) [credit/valid-verdict]`,
    ]);
    expect(result.stdout).toContain('1 granted, 0 already granted, 5 refused');
    const granted = await rows('SELECT result_id FROM axiom_credit_ledger');
    expect(granted.map((r) => r.result_id)).toEqual([entries[5]?.result]);
  });

  it('refuses an entry for a result BOINC does not know once, at its line, and never fails a later run for it', async () => {
    const [known, later] = await results(2);
    const unknown = { ...(known as CreditLine), result: 999_999 };
    const root = lab([unknown, known as CreditLine]);
    const dry = await apply(root, '--dry-run');
    expect(dry.code).toBe(1);
    expect(await rows("SHOW TABLES LIKE 'axiom_credit_refusals'")).toEqual([]);

    const first = await apply(root);
    expect(first.code).toBe(1);
    expect(first.stdout).toContain(
      `${CREDIT_FILE}:4:13: result 999999: result 999999 does not exist in the BOINC database [credit/known-result]`,
    );
    expect(first.stdout).toContain('1 granted, 0 already granted, 1 refused');
    expect(await rows('SELECT result_id, rule, source, commit_sha FROM axiom_credit_refusals')).toEqual([
      {
        result_id: 999_999,
        rule: 'credit/known-result',
        source: `${CREDIT_FILE}:4`,
        commit_sha: git(root, 'rev-parse', 'HEAD'),
      },
    ]);

    const second = await apply(root);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(
      new RegExp(
        `${CREDIT_FILE}:4:13: warning: result 999999: result 999999 does not exist in the BOINC database; refused already at ${CREDIT_FILE}:4 \\(commit ${git(root, 'rev-parse', 'HEAD').slice(0, 12)}, \\d{4}-\\d\\d-\\d\\d\\) and not granted \\[credit/known-result\\]`,
      ),
    );
    expect(second.stdout).toContain('0 granted, 1 already granted, 0 refused');

    // A later run with a new credit file grants its entries and succeeds; the refused one stays unpaid.
    const next = lab([unknown, known as CreditLine, later as CreditLine]);
    const third = await apply(next, '--json');
    expect(third.code).toBe(0);
    expect(JSON.parse(third.stdout).granted.map((g: { result: number }) => g.result)).toEqual([
      later?.result,
    ]);
    expect(
      (await rows('SELECT result_id FROM axiom_credit_ledger ORDER BY result_id')).map((r) => r.result_id),
    ).toEqual([known?.result, later?.result]);
    const status = await runCli(['credit', 'status'], {
      cwd: next,
      env: { PATH: process.env.PATH, AXIOM_DB_URL: db.url },
    });
    expect(status.stdout).toContain('0 entries waiting to be applied, 1 refused');
  });

  it('refuses a file that is not a credit file, and lists a result twice only once', async () => {
    const entries = await results(2);
    const root = committedRepo(
      { 'manifests/mean_test.yaml': manifestYaml('mean_test'), 'experiments/mean_test.py': OK_SCRIPT },
      (commit) => ({
        'results/credit/2026-11-25T120000Z.yaml': creditYaml('2026-11-25T120000Z', entries),
        'results/credit/2026-11-26T120000Z.yaml': creditYaml('2026-11-26T120000Z', [
          entries[0] as CreditLine,
        ]),
        'results/credit/2026-11-27T120000Z.yaml': 'run: yesterday\nentries: []\n',
        ...recordFiles('2026-11-25T120000Z', entries, commit),
      }),
    );
    const result = await apply(root);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `results/credit/2026-11-26T120000Z.yaml:4:13: result ${entries[0]?.result}: result ${entries[0]?.result} is already listed at results/credit/2026-11-25T120000Z.yaml:4 [credit/duplicate]`,
    );
    expect(result.stdout).toContain(
      'results/credit/2026-11-27T120000Z.yaml:1:6: run: must be a run id like 2026-11-25T120000Z; found the text "yesterday" [schema]',
    );
    expect(result.stdout).toContain('2 granted');
  });

  it('refuses a 57 MB credit file and one that is a link unread, at the file, and grants the others', async () => {
    const entries = await results(2);
    const root = lab(entries);
    const big = 'results/credit/2026-11-26T120000Z.yaml';
    const line = (i: number) =>
      `  - { result: ${i + 1}, workunit: ${entries[0]?.workunit}, experiment: mean_test, host: 60, user: 1, verdict: valid, quality: 1, credit: 1 }\n`;
    const chunk = Array.from({ length: 1000 }, (_, i) => line(i)).join('');
    writeFileSync(
      join(root, big),
      `run: 2026-11-26T120000Z\nentries:\n${chunk.repeat(Math.ceil(57e6 / chunk.length))}`,
    );
    symlinkSync('/dev/zero', join(root, 'results/credit/2026-11-27T120000Z.yaml'));
    const expected =
      "expected a credit file: a regular YAML file of at most 1048576 bytes, one batch's as collect writes it [credit/file]";

    const applied = await apply(root);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(1);
    expect(applied.stdout).toContain(`${big}:1:1: larger than 1048576 bytes; ${expected}`);
    expect(applied.stdout).toContain(
      `results/credit/2026-11-27T120000Z.yaml:1:1: a symbolic link, which is never followed; ${expected}`,
    );
    expect(applied.stdout).toContain('2 granted, 0 already granted, 2 refused');

    const checked = await runCli(['check'], { cwd: root, env: { PATH: process.env.PATH } });
    expect(checked.code).toBe(1);
    expect(checked.stdout).toContain(`${big}:1:1: larger than 1048576 bytes`);
  });

  it('--dry-run grants nothing and says what it would grant', async () => {
    const root = lab(await results(2));
    const result = await apply(root, '--dry-run');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('2 would grant');
    expect(await rows("SHOW TABLES LIKE 'axiom_credit_ledger'")).toEqual([]);
  });

  it('two processes applying the same files at once credit each result exactly once', async () => {
    const entries = await results(300);
    const root = lab(entries);
    const run = () =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          [join(REPO_ROOT, 'bin', 'axiom.js'), 'credit', 'apply', '--json'],
          {
            cwd: root,
            env: { PATH: process.env.PATH, AXIOM_DB_URL: db.url },
          },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const [a, b] = await Promise.all([run(), run()]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const grantedA = JSON.parse(a.stdout).granted.length;
    const grantedB = JSON.parse(b.stdout).granted.length;
    expect(grantedA + grantedB).toBe(300);
    expect((await rows('SELECT COUNT(*) AS n FROM axiom_credit_ledger'))[0]?.n).toBe(300);
    expect(await rows('SELECT id, total_credit FROM host WHERE id IN (60, 267) ORDER BY id')).toEqual([
      { id: 60, total_credit: 1200 },
      { id: 267, total_credit: 1200 },
    ]);
    expect((await rows('SELECT total_credit FROM team'))[0]?.total_credit).toBe(1200);
  }, 60_000);

  it('a connection killed mid-transaction leaves no partial credit, and a rerun finishes the rest', async () => {
    const entries = await results(4); // user 1, user 2, user 1, user 2
    const root = lab(entries);
    // Every grant's last statement (result.granted_credit, after its ledger row and the host, user
    // and team totals) waits on a lock the blocker holds, so that one can be killed half-way.
    const blocker = await openBlocker();
    await blocker.query("SELECT GET_LOCK('axiom_test_grant', 60)");
    await db.connection.query(
      "CREATE TRIGGER hold_grant BEFORE UPDATE ON result FOR EACH ROW BEGIN DO GET_LOCK('axiom_test_grant', 60); DO RELEASE_LOCK('axiom_test_grant'); END",
    );
    const running = apply(root);
    const victim = await waitForStatement(blocker, "DO GET_LOCK('axiom_test_grant'%");
    await blocker.query(`KILL CONNECTION ${victim}`);
    await blocker.query("SELECT RELEASE_LOCK('axiom_test_grant')");
    await blocker.end();
    const killed = await running;
    await db.connection.query('DROP TRIGGER hold_grant');
    expect(killed.code).toBe(1);
    const killedResult = Number(/granting result (\d+)/.exec(killed.stderr)?.[1]);

    // The killed grant left nothing behind; the others, granted meanwhile, are whole.
    const ledger = (await rows('SELECT result_id FROM axiom_credit_ledger ORDER BY result_id')).map(
      (r) => r.result_id,
    );
    expect(ledger).toEqual(entries.map((e) => e.result).filter((id) => id !== killedResult));
    expect(
      (await rows('SELECT granted_credit FROM result WHERE id = ?', [killedResult]))[0]?.granted_credit,
    ).toBe(0);
    const grantedTo = (host: number) =>
      8 * entries.filter((e) => e.host === host && ledger.includes(e.result)).length;
    expect(await rows('SELECT id, total_credit FROM host WHERE id IN (60, 267) ORDER BY id')).toEqual([
      { id: 60, total_credit: grantedTo(60) },
      { id: 267, total_credit: grantedTo(267) },
    ]);

    const rerun = await apply(root, '--json');
    expect(rerun.code).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ alreadyApplied: ledger.length });
    expect(JSON.parse(rerun.stdout).granted.map((g: { result: number }) => g.result)).toContain(killedResult);
    expect(await rows('SELECT id, total_credit FROM host WHERE id IN (60, 267) ORDER BY id')).toEqual([
      { id: 60, total_credit: 16 },
      { id: 267, total_credit: 16 },
    ]);
    expect((await rows('SELECT total_credit FROM team'))[0]?.total_credit).toBe(16);
  });

  it("recent averages follow an independent computation of BOINC's formula", async () => {
    const [first, second, third] = await insertFinishedResults(db.connection, [
      { workunit: workunitName('mean_test', 60, 0), host: 60, user: 1, sentTime: 1_700_000_000 },
      { workunit: workunitName('mean_test', 60, 1), host: 60, user: 1, sentTime: 1_700_100_000 },
      { workunit: workunitName('mean_test', 60, 2), host: 60, user: 1, sentTime: 1_700_200_000 },
    ]);
    const store = openMysqlStore(db.url);
    const grants = [
      { resultId: first as number, amount: 10, now: 1_700_003_600 }, // first credit: spread over the hour since sent
      { resultId: second as number, amount: 20, now: 1_700_003_600 + 86_400 }, // a day later
      { resultId: third as number, amount: 5, now: 1_700_003_600 + 86_400 + 30 }, // half a minute later
    ];
    for (const grant of grants) await store.grantCredit({ ...grant, commit: 'c0ffee', source: 'test' });
    await store.close();

    // BOINC's update_average, written out independently: avg decays by 2^(-dt/half_life).
    const halfLife = 7 * 86_400;
    let avg = 10 / (3600 / 86_400);
    let at = 1_700_003_600;
    for (const { amount, now } of grants.slice(1)) {
      const dt = now - at;
      const keep = 2 ** (-dt / halfLife);
      avg = avg * keep + ((1 - keep) * amount * 86_400) / dt;
      at = now;
    }
    for (const table of ['host', 'user', 'team']) {
      const [row] = await rows(`SELECT total_credit, expavg_credit, expavg_time FROM ${table} WHERE id = ?`, [
        table === 'host' ? 60 : 1,
      ]);
      expect(row?.total_credit).toBe(35);
      expect(row?.expavg_time).toBe(at);
      expect(row?.expavg_credit).toBeCloseTo(avg, 9);
    }
  });

  it('guards the first credit granted at the moment the result was sent (BOINC would divide by zero)', async () => {
    const [id] = await insertFinishedResults(db.connection, [
      { workunit: workunitName('mean_test', 267, 0), host: 267, user: 2, sentTime: 1_700_000_000 },
    ]);
    const store = openMysqlStore(db.url);
    await store.grantCredit({
      resultId: id as number,
      amount: 4,
      now: 1_700_000_000,
      commit: 'c0ffee',
      source: 'test',
    });
    await store.close();
    const [row] = await rows('SELECT expavg_credit FROM host WHERE id = 267');
    expect(Number.isFinite(row?.expavg_credit)).toBe(true);
    expect(row?.expavg_credit).toBe(4 * 86_400);
  });
});

describe('axiom credit status', () => {
  it('shows proposed against granted per host and user, what waits, and drift from the ledger', async () => {
    const entries = await results(4);
    await apply(lab(entries.slice(0, 2)));
    const root = lab(entries);
    await db.connection.query('UPDATE host SET total_credit = total_credit + 5 WHERE id = 267');
    const result = await runCli(['credit', 'status', '--json'], {
      cwd: root,
      env: { PATH: process.env.PATH, AXIOM_DB_URL: db.url },
    });
    expect(result.code).toBe(0);
    const status = JSON.parse(result.stdout);
    expect(status.waiting).toBe(2);
    expect(status.hosts).toEqual([
      { id: 60, proposed: 16, granted: 8, total: 8, drift: 0 },
      { id: 267, proposed: 16, granted: 8, total: 13, drift: 5 },
    ]);
    expect(status.users).toEqual([
      { id: 1, proposed: 16, granted: 8, total: 8, drift: 0 },
      { id: 2, proposed: 16, granted: 8, total: 8, drift: 0 },
    ]);
    expect(status.mismatched).toEqual([]);
    const text = await runCli(['credit', 'status'], {
      cwd: root,
      env: { PATH: process.env.PATH, AXIOM_DB_URL: db.url },
    });
    expect(text.stdout).toContain('2 entries waiting to be applied, 0 refused');
  });
});

/** The embedded store of a lab in `root` (boinc.sqlite) with the first batch and one finished result, as its credit entry. */
async function sqliteResult(root: string): Promise<CreditLine> {
  const store = new SqliteBoincStore(join(root, 'boinc.sqlite'));
  await insertFirstBatch(store, 1_764_000_000);
  const [id] = await insertFinishedResults(store, [
    { workunit: workunitName('mean_test', 60, 0), host: 60, user: 1 },
  ]);
  await store.close();
  return {
    result: id as number,
    workunit: workunitName('mean_test', 60, 0),
    experiment: 'mean_test',
    host: 60,
    user: 1,
    team: 1,
    verdict: 'valid',
    quality: 1,
    credit: 10,
  };
}

describe('credit on the embedded store and through the local forge', () => {
  it('refuses an unknown result once on the SQLite store too, then runs on', async () => {
    const root = makeRepo({
      'manifests/mean_test.yaml': manifestYaml('mean_test'),
      'experiments/mean_test.py': OK_SCRIPT,
    });
    git(root, 'init', '--quiet', '--initial-branch=main');
    git(root, 'add', '.');
    git(root, 'commit', '--quiet', '-m', 'Manifests');
    const manifestCommit = git(root, 'rev-parse', 'HEAD');
    const known = await sqliteResult(root);
    const entries = [{ ...known, result: 999_999 }, known];
    for (const [path, content] of Object.entries({
      [CREDIT_FILE]: creditYaml('2026-11-25T120000Z', entries),
      ...recordFiles('2026-11-25T120000Z', entries, manifestCommit),
    })) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    git(root, 'add', 'results');
    git(root, 'commit', '--quiet', '-m', 'Results');
    const env = { PATH: process.env.PATH, AXIOM_DB_URL: `sqlite:${join(root, 'boinc.sqlite')}` };
    const first = await runCli(['credit', 'apply'], { cwd: root, env });
    expect(first.code).toBe(1);
    expect(first.stdout).toContain(`${CREDIT_FILE}:4:13: result 999999: result 999999 does not exist`);
    const second = await runCli(['credit', 'apply'], { cwd: root, env });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`${CREDIT_FILE}:4:13: warning: result 999999:`);
    expect(second.stdout).toContain('0 granted, 1 already granted, 0 refused');
    const check = new SqliteBoincStore(join(root, 'boinc.sqlite'));
    expect(await check.refusals()).toMatchObject([
      { resultId: 999_999, rule: 'credit/known-result', source: `${CREDIT_FILE}:4` },
    ]);
    expect(await check.query('SELECT total_credit FROM host WHERE id = 60')).toEqual([{ total_credit: 10 }]);
    await check.close();
  });

  it('grants on the SQLite store and comments what was granted on the merged pull request', async () => {
    const { root, clone, origin } = makeLab({
      'manifests/mean_test.yaml': manifestYaml('mean_test'),
      'experiments/mean_test.py': OK_SCRIPT,
    });
    const entry = await sqliteResult(root);
    const ids = [entry.result];
    const forge = new LocalForge({ repoDir: clone, remote: 'origin', identity: DEFAULT_IDENTITY });
    await forge.openOrUpdate({
      branch: 'axiom/results/2026-11-25-120000',
      base: 'main',
      title: 'Results',
      body: 'One result.',
      labels: [],
      commitMessage: 'Results',
      files: [
        { path: CREDIT_FILE, content: creditYaml('2026-11-25T120000Z', [entry]) },
        ...Object.entries(recordFiles('2026-11-25T120000Z', [entry], git(clone, 'rev-parse', 'HEAD'))).map(
          ([path, content]) => ({
            path,
            content,
          }),
        ),
      ],
    });
    const env = {
      PATH: process.env.PATH,
      HOME: root,
      AXIOM_DB_URL: `sqlite:${join(root, 'boinc.sqlite')}`,
      AXIOM_FORGE: 'local',
    };
    expect((await runCli(['pr', 'merge', 'axiom/results/2026-11-25-120000'], { cwd: clone, env })).code).toBe(
      0,
    );

    const applied = await runCli(['credit', 'apply', '--comment'], { cwd: clone, env });
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const check = new SqliteBoincStore(join(root, 'boinc.sqlite'));
    expect(await check.query('SELECT total_credit FROM host WHERE id = 60')).toEqual([{ total_credit: 10 }]);
    expect((await check.ledger())[0]).toMatchObject({
      resultId: ids[0],
      amount: 10,
      commit: git(origin, 'rev-parse', 'main'),
    });
    await check.close();
    const comments = await forge.comments(await forge.get('axiom/results/2026-11-25-120000'));
    expect(comments.map((c) => c.purpose)).toEqual(['credit']);
    expect(comments[0]?.body).toContain(`| ${ids[0]} | \`${entry.workunit}\` | 60 | 1 | 10 |`);
  });
});

async function openBlocker(): Promise<Connection> {
  const mysql = await import('mysql2/promise');
  const url = new URL(db.url);
  return mysql.createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: url.pathname.slice(1),
  });
}

/** The id of a connection of the apply that waits in a statement like `pattern`. */
async function waitForStatement(blocker: Connection, pattern: string): Promise<number> {
  const database = new URL(db.url).pathname.slice(1);
  for (let attempt = 0; attempt < 200; attempt++) {
    const [found] = await blocker.query<RowDataPacket[]>(
      'SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID() AND INFO LIKE ?',
      [database, pattern],
    );
    if (found[0]) return Number(found[0].ID);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the apply never reached a statement like ${pattern}`);
}
