import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { gpusFromMisc, gpusFromSerialnum } from '../src/boinc/gpu.js';
import { openMysqlStore } from '../src/boinc/mysql.js';
import { SqliteBoincStore } from '../src/boinc/sqlite.js';
import { writeResultsTree } from './fixtures/results-tree.mjs';
import { createBoincDatabase, FIRST_BATCH_HOSTS, insertFirstBatch, insertHost } from './helpers/mariadb.js';
import { makeRepo, REPO_ROOT, runCli } from './helpers/repo.js';

const NOW = new Date('2026-11-25T12:00:00Z');
const NOW_S = NOW.getTime() / 1000;
const GIB = 2 ** 30;

describe('GPU details', () => {
  it('parses the bracketed serialnum of server 1.4, ignoring other groups and a cut-off tail', () => {
    const serialnum =
      '[BOINC|8.2.4][CUDA|NVIDIA GeForce RTX 3060 Ti|1|8191MB|57260|300][vbox|7.1.6|1|1][CAL|AMD Radeon RX 6800|2|16368MB|2.4][docker|5.6.1|2][INTEL|Intel(R) UHD Gra';
    expect(gpusFromSerialnum(serialnum)).toEqual([
      { vendor: 'nvidia', model: 'NVIDIA GeForce RTX 3060 Ti', count: 1, memoryMb: 8191 },
      { vendor: 'amd', model: 'AMD Radeon RX 6800', count: 2, memoryMb: 16368 },
    ]);
    expect(gpusFromSerialnum(null)).toEqual([]);
  });

  it('parses the JSON misc column of server 1.6+, and ignores what is not a GPU list', () => {
    const misc = JSON.stringify({
      client_version: '8.2.4',
      gpus: [
        { type: 'nvidia', model: 'RTX 4090', count: 2, ram_mb: 24564, driver_version: '550' },
        { type: 'vendor', model: 'X', count: 1 },
        { model: 'no count' },
      ],
    });
    expect(gpusFromMisc(misc)).toEqual([
      { vendor: 'nvidia', model: 'RTX 4090', count: 2, memoryMb: 24564 },
      { vendor: 'other', model: 'X', count: 1 },
    ]);
    for (const bad of ['', 'not json', '{"gpus": 3}', 'null']) expect(gpusFromMisc(bad)).toEqual([]);
  });
});

describe('host inventory from MariaDB', () => {
  it('reads server 1.6 hosts with GPUs from misc; leaves out blacklisted, silent and unknown-OS hosts', async () => {
    const db = await createBoincDatabase({ misc: true });
    try {
      await insertFirstBatch(db.connection, NOW_S - 3600);
      await db.connection.query('UPDATE host SET misc = ?, total_credit = 1234.5 WHERE id = 296', [
        JSON.stringify({ gpus: [{ type: 'nvidia', model: 'A100', count: 4, ram_mb: 40960 }] }),
      ]);
      await insertHost(db.connection, {
        id: 400,
        userid: 1,
        rpc_time: NOW_S,
        p_ncpus: 8,
        m_nbytes: 16 * GIB,
        os_name: 'Linux',
        max_results_day: -1,
      });
      await insertHost(db.connection, {
        id: 401,
        userid: 1,
        rpc_time: NOW_S - 30 * 86_400,
        p_ncpus: 8,
        m_nbytes: 16 * GIB,
        os_name: 'Linux',
      });
      await insertHost(db.connection, {
        id: 402,
        userid: 2,
        rpc_time: NOW_S,
        p_ncpus: 8,
        m_nbytes: 16 * GIB,
        os_name: 'Haiku',
      });
      const store = openMysqlStore(db.url);
      const hosts = await store.readHosts({ silentAfterDays: 14, now: NOW });
      await store.close();
      expect(hosts.map((h) => h.id)).toEqual(FIRST_BATCH_HOSTS.map((h) => h.id).sort((a, b) => a - b));
      const host296 = hosts.find((h) => h.id === 296);
      expect(host296).toMatchObject({
        cores: 240,
        memoryGb: 189,
        os: 'linux',
        totalCredit: 1234.5,
        userId: 1,
        teamId: 1,
        gpus: [{ vendor: 'nvidia', model: 'A100', count: 4, memoryMb: 40960 }],
      });
      expect(hosts.find((h) => h.id === 287)).toMatchObject({
        os: 'windows',
        userId: 2,
        teamId: 0,
        gpus: [],
      });
      expect(host296?.lastContact?.toISOString()).toBe('2026-11-25T11:00:00.000Z');
    } finally {
      await db.drop();
    }
  });

  it('reads server 1.4 hosts, which have no misc column, with GPUs from serialnum', async () => {
    const db = await createBoincDatabase({ misc: false });
    try {
      await insertFirstBatch(db.connection, NOW_S);
      await db.connection.query('UPDATE host SET serialnum = ? WHERE id = 60', [
        '[BOINC|7.16.6][CUDA|NVIDIA GeForce GTX 1080|1|8192MB|45300|200]',
      ]);
      const store = openMysqlStore(db.url);
      const hosts = await store.readHosts({ silentAfterDays: 14, now: NOW });
      await store.close();
      expect(hosts).toHaveLength(10);
      expect(hosts.find((h) => h.id === 60)?.gpus).toEqual([
        { vendor: 'nvidia', model: 'NVIDIA GeForce GTX 1080', count: 1, memoryMb: 8192 },
      ]);
    } finally {
      await db.drop();
    }
  });

  it('axiom fleet export writes a snapshot that axiom check accepts', async () => {
    const db = await createBoincDatabase({ misc: true });
    try {
      await insertFirstBatch(db.connection, Math.floor(Date.now() / 1000));
      const root = makeRepo();
      const env = { PATH: process.env.PATH, AXIOM_DB_URL: db.url };
      const exported = await runCli(['fleet', 'export', '--out', 'exported.yaml'], { cwd: root, env });
      expect(exported.stderr).toBe('');
      expect(exported.stdout).toMatch(/^wrote 10 hosts to .*exported\.yaml\n$/);
      const check = await runCli(['check', '--quiet', '--fleet', `${root}/exported.yaml`], {
        cwd: REPO_ROOT,
        env,
      });
      // Ten experiments and the two retired ones, kept for their results.
      expect(check.stdout).toMatch(/^OK: checked 12 manifests/m);
      expect(check.code).toBe(0);
      const dry = await runCli(['fleet', 'export', '--dry-run'], { cwd: root, env });
      expect(dry.stdout).toContain(
        '  - { id: 194, cores: 128, memory_gb: 62, os: linux, user_id: 1, team_id: 1, last_contact: ',
      );
    } finally {
      await db.drop();
    }
  });

  it('reports an unreachable database without its password', async () => {
    const root = makeRepo();
    const result = await runCli(['fleet', 'export'], {
      cwd: root,
      env: { PATH: process.env.PATH, AXIOM_DB_URL: 'mysql://boinc:s3cret@127.0.0.1:1/boinc' },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('axiom fleet: BOINC database (mysql boinc@127.0.0.1:1)');
    expect(result.stderr).not.toContain('s3cret');
  });

  it.each([
    [{}, 'AXIOM_DB_URL is not set'],
    [
      { AXIOM_DB_URL: 'postgres://x@y/z' },
      'environment: AXIOM_DB_URL: must start with mysql:// or sqlite:; found "postgres://x@y/z", expected e.g. mysql://',
    ],
  ])('explains a missing or wrong AXIOM_DB_URL: %j', async (extra, message) => {
    const result = await runCli(['fleet', 'export'], {
      cwd: makeRepo(),
      env: { PATH: process.env.PATH, ...extra },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(message);
  });
});

describe('host inventory from the embedded SQLite store', () => {
  it('reads the same tables the same way', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'axiom-sqlite-'));
    const store = new SqliteBoincStore(join(dir, 'boinc.db'));
    try {
      await insertFirstBatch(store, NOW_S - 3600);
      await store.query('UPDATE host SET misc = ? WHERE id = 296', [
        JSON.stringify({ gpus: [{ type: 'amd', model: 'MI210', count: 1 }] }),
      ]);
      await store.query('UPDATE host SET serialnum = ? WHERE id = 60', [
        '[BOINC|7.16.6][CUDA|NVIDIA GeForce GTX 1080|1|8192MB|45300|200]',
      ]);
      await insertHost(store, {
        id: 400,
        userid: 1,
        rpc_time: NOW_S,
        p_ncpus: 8,
        m_nbytes: 16 * GIB,
        os_name: 'Linux',
        max_results_day: -1,
      });
      await insertHost(store, {
        id: 401,
        userid: 1,
        rpc_time: NOW_S - 30 * 86_400,
        p_ncpus: 8,
        m_nbytes: 16 * GIB,
        os_name: 'Linux',
      });
      const hosts = await store.readHosts({ silentAfterDays: 14, now: NOW });
      expect(hosts.map((h) => h.id)).toEqual(FIRST_BATCH_HOSTS.map((h) => h.id).sort((a, b) => a - b));
      expect(hosts.find((h) => h.id === 296)).toMatchObject({
        cores: 240,
        memoryGb: 189,
        os: 'linux',
        userId: 1,
        teamId: 1,
        gpus: [{ vendor: 'amd', model: 'MI210', count: 1 }],
      });
      expect(hosts.find((h) => h.id === 60)?.gpus).toEqual([
        { vendor: 'nvidia', model: 'NVIDIA GeForce GTX 1080', count: 1, memoryMb: 8192 },
      ]);
      expect(await store.existingWorkunits(['axm_none_h1_r0'])).toEqual(new Set());
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves axiom fleet export through AXIOM_DB_URL=sqlite:PATH', async () => {
    const root = makeRepo();
    const store = new SqliteBoincStore(join(root, 'lab.db'));
    await insertFirstBatch(store, Math.floor(Date.now() / 1000));
    await store.close();
    const result = await runCli(['fleet', 'export', '--json', '--out', 'fleet.yaml'], {
      cwd: root,
      env: { PATH: process.env.PATH, AXIOM_DB_URL: 'sqlite:lab.db' },
    });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ hosts: 10, file: join(root, 'fleet.yaml'), written: true });
  });

  it("writes each host's BLAS as its latest collected result reported it, and none for a host without results", async () => {
    const root = makeRepo();
    writeResultsTree(root, { repo: REPO_ROOT, experiments: ['double_descent'], perExperiment: 2 });
    const data = join(root, 'results', 'double_descent');
    const file = join(data, readdirSync(data).find((f) => f.endsWith('.jsonl')) as string);
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    lines[0].review.environment = { blas: 'openblas-pthread/libblas.so.3' };
    writeFileSync(file, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    const store = new SqliteBoincStore(join(root, 'lab.db'));
    await insertFirstBatch(store, Math.floor(Date.now() / 1000));
    await store.close();
    const result = await runCli(['fleet', 'export', '--dry-run'], {
      cwd: root,
      env: { PATH: process.env.PATH, AXIOM_DB_URL: 'sqlite:lab.db' },
    });
    expect(result.stderr).toBe('');
    const hosts = (parse(result.stdout) as { hosts: { id: number; blas?: string }[] }).hosts;
    const host = lines[0].review.host as number;
    expect(hosts.filter((h) => h.blas).map((h) => [h.id, h.blas])).toEqual([[host, 'openblas']]);
  });

  it('has the same tables and columns as the MariaDB schema', async () => {
    const db = await createBoincDatabase({ misc: true });
    const dir = mkdtempSync(join(tmpdir(), 'axiom-sqlite-'));
    const store = new SqliteBoincStore(join(dir, 'boinc.db'));
    try {
      const [mysqlColumns] = await db.connection.query(
        'SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = DATABASE()',
      );
      const tables = ['team', 'user', 'host', 'app', 'workunit', 'result', 'assignment'];
      const sqliteColumns = (
        await Promise.all(
          tables.map(async (t) =>
            ((await store.query(`SELECT name FROM pragma_table_info('${t}')`)) as { name: string }[]).map(
              (r) => `${t}.${r.name}`,
            ),
          ),
        )
      ).flat();
      const fromMysql = (mysqlColumns as { t: string; c: string }[]).map((r) => `${r.t}.${r.c}`);
      expect(sqliteColumns.sort()).toEqual(fromMysql.sort());
    } finally {
      await store.close();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('BOINC test schema', () => {
  it('has the tables and exact column types that Axiom Lab touches', async () => {
    const db = await createBoincDatabase({ misc: true });
    try {
      const [rows] = await db.connection.query(
        "SELECT table_name AS t, column_name AS c, column_type AS type, is_nullable AS n FROM information_schema.columns WHERE table_schema = DATABASE() AND ((table_name = 'host' AND column_name IN ('p_ncpus', 'm_nbytes', 'misc', 'serialnum', 'max_results_day')) OR (table_name = 'workunit' AND column_name IN ('name', 'result_template_file', 'transitioner_flags')) OR (table_name = 'result' AND column_name = 'granted_credit') OR (table_name = 'assignment' AND column_name = 'target_type'))",
      );
      const key = (r: { t: string; c: string }) => `${r.t}.${r.c}`;
      const sorted = (rows as { t: string; c: string }[]).sort((a, b) => (key(a) < key(b) ? -1 : 1));
      expect(sorted).toEqual([
        { t: 'assignment', c: 'target_type', type: 'int(11)', n: 'NO' },
        { t: 'host', c: 'm_nbytes', type: 'double', n: 'NO' },
        { t: 'host', c: 'max_results_day', type: 'int(11)', n: 'NO' },
        { t: 'host', c: 'misc', type: 'text', n: 'NO' },
        { t: 'host', c: 'p_ncpus', type: 'int(11)', n: 'NO' },
        { t: 'host', c: 'serialnum', type: 'varchar(254)', n: 'YES' },
        { t: 'result', c: 'granted_credit', type: 'double', n: 'NO' },
        { t: 'workunit', c: 'name', type: 'varchar(191)', n: 'NO' },
        { t: 'workunit', c: 'result_template_file', type: 'varchar(63)', n: 'NO' },
        { t: 'workunit', c: 'transitioner_flags', type: 'tinyint(4)', n: 'NO' },
      ]);
    } finally {
      await db.drop();
    }
  });
});
