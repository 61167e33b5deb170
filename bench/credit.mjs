// credit-apply-10k-s: `axiom credit apply` granting 10,000 merged credit entries on a real MariaDB
// database (one transaction per result, with host, user and team updates), measured end to end
// as a user runs it: reading the YAML, validating every entry, and granting.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createBenchDatabase } from './database.mjs';

const ENTRIES = 10_000;
const HOSTS = 20;
const TARGET_S = 10;
const EXPERIMENT = 'double_descent';
const RUN = '2026-11-25T120000Z';
const BATCH = 500;

/** A result's line in its batch's data file, with the collected review credit apply pays against. */
function dataLine(e, batch) {
  const review = {
    result: e.result,
    workunit: e.workunit,
    experiment: e.experiment,
    host: e.host,
    user: e.user,
    run: RUN,
    batch,
    received_at: '2026-11-25T10:00:00.000Z',
    verdict: e.verdict,
    quality: e.quality,
    proposed_credit: e.credit,
    judged_by: 'rules',
    checks: [{ rule: 'envelope-schema', passed: true }],
  };
  return `${JSON.stringify({ result: e.result, review, envelope: { params: {}, metrics: {}, series: {}, summary: '' } })}\n`;
}

async function insertRows(connection, table, rows) {
  for (let start = 0; start < rows.length; start += 1000) {
    const chunk = rows.slice(start, start + 1000);
    const columns = Object.keys(chunk[0]);
    await connection.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ?`, [
      chunk.map((row) => columns.map((c) => row[c])),
    ]);
  }
}

async function seed(connection, defaults) {
  await insertRows(connection, 'team', [{ ...defaults('team'), id: 1, name: 'bench team', userid: 1 }]);
  await insertRows(
    connection,
    'user',
    Array.from({ length: HOSTS / 2 }, (_, i) => ({
      ...defaults('user'),
      id: i + 1,
      email_addr: `u${i + 1}@example.org`,
      teamid: i % 2 === 0 ? 1 : 0,
    })),
  );
  await insertRows(
    connection,
    'host',
    Array.from({ length: HOSTS }, (_, i) => ({
      ...defaults('host'),
      id: 100 + i,
      userid: (i % (HOSTS / 2)) + 1,
    })),
  );
  await connection.query(
    "INSERT INTO app (create_time, name, user_friendly_name) VALUES (0, 'axiom', 'Axiom Lab')",
  );
  const workunit = (i) => `axm_${EXPERIMENT}_0123456789ab_h${100 + (i % HOSTS)}_r${i}`;
  await insertRows(
    connection,
    'workunit',
    Array.from({ length: ENTRIES }, (_, i) => ({
      ...defaults('workunit'),
      appid: 1,
      name: workunit(i),
    })),
  );
  await connection.query(
    `INSERT INTO result (create_time, workunitid, server_state, outcome, client_state, hostid, userid, report_deadline, sent_time,
       received_time, name, cpu_time, batch, file_delete_state, validate_state, claimed_credit, granted_credit, opaque, random,
       app_version_num, appid, exit_status, teamid, priority, elapsed_time, flops_estimate, app_version_id, runtime_outlier,
       peak_working_set_size, peak_swap_size, peak_disk_usage)
     SELECT 1700000000, w.id, 5, 1, 5, h.id, h.userid, 0, 1700000000, 1700000600, CONCAT(w.name, '_0'), 0, 0, 0, 1, 0, 0, 0, 0,
            0, 1, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0
       FROM workunit w JOIN host h ON h.id = CAST(SUBSTRING_INDEX(SUBSTRING_INDEX(w.name, '_h', -1), '_r', 1) AS UNSIGNED)
      ORDER BY w.id`,
  );
  const [rows] = await connection.query(
    'SELECT r.id, r.hostid, r.userid, w.name FROM result r JOIN workunit w ON w.id = r.workunitid ORDER BY r.id',
  );
  return rows.map((row) => ({
    result: row.id,
    workunit: row.name,
    experiment: EXPERIMENT,
    host: row.hostid,
    user: row.userid,
    verdict: 'valid',
    quality: 0.5,
    credit: 1 + (row.id % 7),
  }));
}

export async function benchCredit({ root, log }) {
  const database = await createBenchDatabase(root, `axiom_bench_credit_${process.pid}`);
  const { admin } = database;
  const lab = mkdtempSync(join(tmpdir(), 'axiom-bench-credit-'));
  try {
    const { columnDefaults } = await import(join(root, 'dist/boinc/sqlite.js'));
    const entries = await seed(admin, columnDefaults);
    mkdirSync(join(lab, 'manifests'));
    mkdirSync(join(lab, 'results', 'credit'), { recursive: true });
    cpSync(join(root, 'manifests', `${EXPERIMENT}.yaml`), join(lab, 'manifests', `${EXPERIMENT}.yaml`));
    // As collect writes them: one credit file and one data file per batch (a pull request GitHub
    // shows whole holds some 500 results), with the collected reviews credit apply pays against.
    mkdirSync(join(lab, 'results', EXPERIMENT), { recursive: true });
    for (let part = 1; part * BATCH - BATCH < ENTRIES; part++) {
      const batch = part === 1 ? RUN : `${RUN}.${part}`;
      const own = entries.slice((part - 1) * BATCH, part * BATCH);
      writeFileSync(
        join(lab, `results/credit/${batch}.yaml`),
        stringify({ run: RUN, batch, judged_by: 'rules', entries: own }, { lineWidth: 0 }),
      );
      writeFileSync(
        join(lab, `results/${EXPERIMENT}/${batch}.jsonl`),
        own.map((e) => dataLine(e, batch)).join(''),
      );
    }

    const started = process.hrtime.bigint();
    const run = spawnSync(process.execPath, [join(root, 'bin/axiom.js'), 'credit', 'apply', '--json'], {
      cwd: lab,
      env: { PATH: process.env.PATH, AXIOM_DB_URL: database.url },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (run.status !== 0)
      throw new Error(
        `credit apply failed (${run.status}): ${run.stderr}${JSON.stringify(JSON.parse(run.stdout || '{}').problems?.slice(0, 3))}`,
      );
    const granted = JSON.parse(run.stdout).granted.length;
    const [[{ n, total }]] = await admin.query(
      'SELECT COUNT(*) AS n, SUM(amount) AS total FROM axiom_credit_ledger',
    );
    const [[{ hosts }]] = await admin.query('SELECT SUM(total_credit) AS hosts FROM host');
    if (granted !== ENTRIES || Number(n) !== ENTRIES || Number(hosts) !== Number(total))
      throw new Error(`granted ${granted}, ledger ${n}, host totals ${hosts} against ledger ${total}`);
    log(
      `${ENTRIES} entries granted in ${seconds.toFixed(1)} s (${((seconds / ENTRIES) * 1000).toFixed(2)} ms each)`,
    );
    return [
      {
        name: 'credit-apply-10k-s',
        value: Number(seconds.toFixed(1)),
        unit: 's',
        target: `< ${TARGET_S}`,
        pass: seconds < TARGET_S,
      },
    ];
  } finally {
    await database.drop();
    rmSync(lab, { recursive: true, force: true });
  }
}
