import type { Host, OsName } from '../fleet/types.js';
import { gpusFromMisc, gpusFromSerialnum } from './gpu.js';
import type { AssimilationSubject, CreditSubject, CreditTotals, FailedResult, ResultRow } from './store.js';

/** The host columns both stores read; `misc` is absent on BOINC server 1.4. */
export interface HostRecord {
  id: number;
  userid: number;
  teamid: number;
  rpc_time: number;
  p_ncpus: number;
  p_fpops: number;
  m_nbytes: number;
  os_name: string | null;
  os_version: string | null;
  serialnum: string | null;
  misc?: string | null;
  total_credit: number;
}

function osOf(name: string | null): OsName | undefined {
  const lower = (name ?? '').toLowerCase();
  if (lower.includes('windows')) return 'windows';
  if (lower.includes('darwin') || lower.includes('mac')) return 'macos';
  if (lower.includes('linux')) return 'linux';
  return undefined;
}

/**
 * BOINC's per-core benchmark, when the client ran it. The client reports exactly 1e9 when its
 * benchmark failed or has not run (client/cs_benchmark.cpp's defaults), so 1e9 says nothing.
 */
export function benchmarkOf(pFpops: unknown): number | undefined {
  const value = Number(pFpops);
  return Number.isFinite(value) && value > 0 && value !== 1e9 ? value : undefined;
}

/** A targetable host, or undefined when its OS, cores or memory are unknown. */
export function hostFromRow(row: HostRecord): Host | undefined {
  const os = osOf(row.os_name);
  if (!os || row.p_ncpus < 1 || row.m_nbytes <= 0) return undefined;
  const fromMisc = row.misc === undefined ? [] : gpusFromMisc(row.misc);
  const fpops = benchmarkOf(row.p_fpops);
  return {
    id: row.id,
    cores: row.p_ncpus,
    ...(fpops !== undefined ? { fpops } : {}),
    memoryGb: Math.max(0.1, Math.round((row.m_nbytes / 2 ** 30) * 10) / 10),
    os,
    ...(row.os_version ? { osVersion: row.os_version.slice(0, 254) } : {}),
    gpus: fromMisc.length > 0 ? fromMisc : gpusFromSerialnum(row.serialnum),
    userId: row.userid,
    teamId: row.teamid,
    lastContact: new Date(row.rpc_time * 1000),
    totalCredit: Number(row.total_credit),
  };
}

/** Results of one app after an id, in id order: the same SQL for MariaDB and SQLite. */
export const RESULTS_OF_APP_SQL = `SELECT r.id, r.name, r.workunitid, w.name AS wu_name, r.server_state, r.outcome, r.validate_state, r.elapsed_time,
        r.hostid, r.userid, r.teamid, r.sent_time, r.received_time, r.granted_credit
   FROM result r JOIN workunit w ON w.id = r.workunitid JOIN app a ON a.id = w.appid
  WHERE a.name = ? AND r.id > ? ORDER BY r.id LIMIT ?`;

export function resultFromRow(r: Record<string, unknown>): ResultRow {
  return {
    id: Number(r.id),
    name: String(r.name),
    workunitId: Number(r.workunitid),
    workunitName: String(r.wu_name),
    serverState: Number(r.server_state),
    outcome: Number(r.outcome),
    validateState: Number(r.validate_state),
    elapsedTime: Number(r.elapsed_time),
    hostId: Number(r.hostid),
    userId: Number(r.userid),
    teamId: Number(r.teamid),
    sentTime: Number(r.sent_time),
    receivedTime: Number(r.received_time),
    grantedCredit: Number(r.granted_credit),
  };
}

/** Results by id with their workunit name, for `n` placeholders. */
export function CREDIT_SUBJECTS_SQL(n: number): string {
  return `SELECT r.id, r.hostid, r.userid, r.sent_time, r.elapsed_time, w.name AS workunit_name, COALESCE(u.teamid, 0) AS teamid
            FROM result r JOIN workunit w ON w.id = r.workunitid LEFT JOIN user u ON u.id = r.userid
           WHERE r.id IN (${Array(n).fill('?').join(', ')})`;
}

export function creditSubjectFromRow(row: Record<string, unknown>): CreditSubject {
  return {
    resultId: Number(row.id),
    workunitName: String(row.workunit_name),
    hostId: Number(row.hostid),
    userId: Number(row.userid),
    teamId: Number(row.teamid),
    sentTime: Number(row.sent_time),
    elapsedTime: Number(row.elapsed_time ?? 0),
  };
}

/** `id, total` of host or user total_credit, or of result granted_credit, for `n` placeholders. */
export function totalsQuery(table: 'host' | 'user' | 'result', n: number): string {
  const column = table === 'result' ? 'granted_credit' : 'total_credit';
  return `SELECT id, ${column} AS total FROM ${table} WHERE id IN (${Array(n).fill('?').join(', ')})`;
}

/**
 * Host and user total_credit and result granted_credit for the given ids, read in chunks of
 * `chunkSize` through `read` (each store runs `totalsQuery` its own way).
 */
export async function readCreditTotals(
  query: { hosts: number[]; users: number[]; results: number[] },
  chunkSize: number,
  read: (sql: string, ids: number[]) => Promise<Record<string, unknown>[]>,
): Promise<CreditTotals> {
  const totals: CreditTotals = { hosts: new Map(), users: new Map(), grantedByResult: new Map() };
  const parts: [keyof CreditTotals, 'host' | 'user' | 'result', number[]][] = [
    ['hosts', 'host', query.hosts],
    ['users', 'user', query.users],
    ['grantedByResult', 'result', query.results],
  ];
  for (const [key, table, ids] of parts) {
    for (let start = 0; start < ids.length; start += chunkSize) {
      const chunk = ids.slice(start, start + chunkSize);
      for (const row of await read(totalsQuery(table, chunk.length), chunk))
        totals[key].set(Number(row.id), Number(row.total));
    }
  }
  return totals;
}

/** A workunit and its canonical result, for the assimilator: the same SQL for MariaDB and SQLite. */
export const ASSIMILATION_SUBJECT_SQL = `SELECT w.id, w.name, w.error_mask, w.batch, w.canonical_resultid,
        r.id AS result_id, r.elapsed_time, r.hostid, r.userid
   FROM workunit w LEFT JOIN result r ON r.id = w.canonical_resultid AND r.workunitid = w.id
  WHERE w.id = ?`;

export function assimilationSubjectFromRow(row: Record<string, unknown>): AssimilationSubject {
  const resultId = row.result_id === null || row.result_id === undefined ? 0 : Number(row.result_id);
  return {
    workunitId: Number(row.id),
    workunitName: String(row.name),
    errorMask: Number(row.error_mask),
    batch: Number(row.batch),
    canonicalResultId: Number(row.canonical_resultid),
    ...(resultId > 0
      ? {
          canonical: {
            resultId,
            elapsedTime: Number(row.elapsed_time),
            hostId: Number(row.hostid),
            userId: Number(row.userid),
          },
        }
      : {}),
  };
}

/** Results of a workunit that ended in a client error (outcome 3): the same SQL for MariaDB and SQLite. */
export const FAILED_RESULTS_SQL = `SELECT id, hostid, userid, elapsed_time, exit_status, stderr_out
   FROM result WHERE workunitid = ? AND outcome = 3 ORDER BY id`;

export function failedResultFromRow(row: Record<string, unknown>): FailedResult {
  const stderr = row.stderr_out;
  return {
    resultId: Number(row.id),
    hostId: Number(row.hostid),
    userId: Number(row.userid),
    elapsedTime: Number(row.elapsed_time),
    exitStatus: Number(row.exit_status),
    stderrOut:
      stderr === null || stderr === undefined
        ? ''
        : Buffer.isBuffer(stderr)
          ? stderr.toString('utf8')
          : String(stderr),
  };
}
