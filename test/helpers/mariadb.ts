import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql, { type Connection } from 'mysql2/promise';
import { REPO_ROOT } from './repo.js';

/** The test server, started by scripts/start-mariadb.sh (CI does so in .ci/run). */
export const TEST_SERVER_URL =
  process.env.AXIOM_TEST_DB_URL ?? 'mysql://axiom_test:axiom_test@127.0.0.1:3306';

export interface TestDatabase {
  url: string;
  connection: Connection;
  drop(): Promise<void>;
}

/** A fresh database with BOINC's tables; without `misc` it looks like server 1.4. */
export async function createBoincDatabase(options: { misc: boolean }): Promise<TestDatabase> {
  const server = new URL(TEST_SERVER_URL);
  let connection: Connection;
  try {
    connection = await mysql.createConnection({
      host: server.hostname,
      port: Number(server.port || 3306),
      user: decodeURIComponent(server.username),
      password: decodeURIComponent(server.password),
      multipleStatements: true,
    });
  } catch (error) {
    throw new Error(
      `cannot reach the test MariaDB at ${server.hostname}:${server.port} (run scripts/start-mariadb.sh): ${(error as Error).message}`,
    );
  }
  const name = `axiom_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await connection.query(
    `CREATE DATABASE ${name}; USE ${name}; SET SESSION sql_mode = 'STRICT_TRANS_TABLES';`,
  );
  await connection.query(readFileSync(join(REPO_ROOT, 'scripts', 'boinc', 'schema.sql'), 'utf8'));
  if (!options.misc) await connection.query('ALTER TABLE host DROP COLUMN misc');
  const url = new URL(TEST_SERVER_URL);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    connection,
    drop: async () => {
      await connection.query(`DROP DATABASE ${name}`);
      await connection.end();
    },
  };
}

/** Runs SQL; a mysql2 connection and the embedded SQLite store both do. */
export interface Sql {
  query(sql: string, values?: unknown[]): Promise<unknown>;
}

const HOST_DEFAULTS: Record<string, unknown> = {
  create_time: 1_700_000_000,
  rpc_seqno: 1,
  total_credit: 0,
  expavg_credit: 0,
  expavg_time: 0,
  timezone: 0,
  domain_name: null,
  serialnum: null,
  last_ip_addr: null,
  nsame_ip_addr: 0,
  on_frac: 1,
  connected_frac: 1,
  active_frac: 1,
  cpu_efficiency: 1,
  duration_correction_factor: 1,
  p_vendor: null,
  p_model: null,
  p_fpops: 1e9,
  p_iops: 1e9,
  p_membw: 1e9,
  os_version: null,
  m_cache: 0,
  m_swap: 0,
  d_total: 1e12,
  d_free: 5e11,
  d_boinc_used_total: 0,
  d_boinc_used_project: 0,
  d_boinc_max: 1e11,
  n_bwup: 0,
  n_bwdown: 0,
  credit_per_cpu_sec: 0,
  venue: '',
  nresults_today: 0,
  avg_turnaround: 0,
  host_cpid: null,
  external_ip_addr: null,
  max_results_day: 0,
  error_rate: 0,
  product_name: '',
  gpu_active_frac: 0,
  p_ngpus: 0,
  p_gpu_fpops: 0,
};

/** Inserts a host row naming every column, as BOINC's strict schema requires. */
export async function insertHost(connection: Sql, values: Record<string, unknown>): Promise<void> {
  const row = { ...HOST_DEFAULTS, ...values };
  const columns = Object.keys(row);
  await connection.query(
    `INSERT INTO host (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
    Object.values(row),
  );
}

export async function insertUser(connection: Sql, id: number, teamid: number): Promise<void> {
  await connection.query(
    'INSERT INTO user (id, create_time, email_addr, name, authenticator, total_credit, expavg_credit, expavg_time, teamid, seti_id) VALUES (?, ?, ?, ?, ?, 0, 0, 0, ?, 0)',
    [id, 1_700_000_000, `volunteer${id}@example.org`, `volunteer ${id}`, `auth${id}`, teamid],
  );
}

export async function insertTeam(connection: Sql, id: number, founder: number): Promise<void> {
  await connection.query(
    'INSERT INTO team (id, create_time, userid, name, nusers, total_credit, expavg_credit, expavg_time) VALUES (?, ?, ?, ?, 1, 0, 0, 0)',
    [id, 1_700_000_000, founder, `team ${id}`],
  );
}

const GIB = 2 ** 30;

/** The ten first-batch hosts of the original deployment, as BOINC rows. */
export const FIRST_BATCH_HOSTS: { id: number; cores: number; gb: number; os: string }[] = [
  { id: 194, cores: 128, gb: 62, os: 'Linux Ubuntu' },
  { id: 287, cores: 192, gb: 256, os: 'Microsoft Windows 11' },
  { id: 296, cores: 240, gb: 189, os: 'Linux Debian' },
  { id: 141, cores: 72, gb: 191, os: 'Microsoft Windows 10' },
  { id: 80, cores: 32, gb: 48, os: 'Microsoft Windows 11' },
  { id: 209, cores: 32, gb: 123, os: 'Linux Fedora' },
  { id: 249, cores: 20, gb: 47, os: 'Linux Ubuntu' },
  { id: 321, cores: 20, gb: 112, os: 'Microsoft Windows 11' },
  { id: 60, cores: 8, gb: 16, os: 'Linux Arch' },
  { id: 267, cores: 4, gb: 8, os: 'Linux Raspbian' },
];

/** Users 1 and 2 (user 1 in team 1), and the first-batch hosts, all seen at `rpcTime`. */
export async function insertFirstBatch(connection: Sql, rpcTime: number): Promise<void> {
  await insertTeam(connection, 1, 1);
  await insertUser(connection, 1, 1);
  await insertUser(connection, 2, 0);
  for (const [index, host] of FIRST_BATCH_HOSTS.entries()) {
    await insertHost(connection, {
      id: host.id,
      userid: index % 2 === 0 ? 1 : 2,
      rpc_time: rpcTime,
      p_ncpus: host.cores,
      m_nbytes: host.gb * GIB,
      os_name: host.os,
    });
  }
}

/** Inserts a result row (every column named) for the workunit with this name. */
export async function insertResult(
  connection: Connection,
  workunitName: string,
  values: {
    hostid: number;
    userid: number;
    server_state: number;
    outcome?: number;
    elapsed_time?: number;
    teamid?: number;
  },
): Promise<void> {
  await connection.query(
    `INSERT INTO result (create_time, workunitid, server_state, outcome, client_state, hostid, userid, report_deadline, sent_time, received_time, name, cpu_time,
       batch, file_delete_state, validate_state, claimed_credit, granted_credit, opaque, random, app_version_num, appid, exit_status, teamid, priority,
       elapsed_time, flops_estimate, app_version_id, runtime_outlier, peak_working_set_size, peak_swap_size, peak_disk_usage)
     SELECT 1700000000, id, ?, ?, 0, ?, ?, 0, 1700000000, 1700000600, CONCAT(name, '_0'), 0, 0, 0, 0, 0, 0, 0, 0, 0, appid, 0, ?, 0, ?, 0, 0, 0, 0, 0, 0
       FROM workunit WHERE name = ?`,
    [
      values.server_state,
      values.outcome ?? 0,
      values.hostid,
      values.userid,
      values.teamid ?? 0,
      values.elapsed_time ?? 0,
      workunitName,
    ],
  );
}
