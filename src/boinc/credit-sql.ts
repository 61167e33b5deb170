import { type RecentAverage, updateAverage } from './average.js';
import type { CreditGrant, LedgerRow } from './store.js';

/** The one table Axiom Lab adds to BOINC's database: what it granted, one row per result. */
export const LEDGER_TABLE = 'axiom_credit_ledger';

export const LEDGER_DDL = `CREATE TABLE IF NOT EXISTS ${LEDGER_TABLE} (
  result_id integer NOT NULL PRIMARY KEY,
  amount double NOT NULL,
  commit_sha varchar(64) NOT NULL,
  source varchar(255) NOT NULL,
  granted_at integer NOT NULL,
  host_id integer NOT NULL,
  user_id integer NOT NULL,
  team_id integer NOT NULL
)`;

export const LEDGER_SELECT = `SELECT result_id, amount, commit_sha, source, granted_at, host_id, user_id, team_id FROM ${LEDGER_TABLE} ORDER BY result_id`;

export function ledgerFromRow(row: Record<string, unknown>): LedgerRow {
  return {
    resultId: Number(row.result_id),
    amount: Number(row.amount),
    commit: String(row.commit_sha),
    source: String(row.source),
    grantedAt: Number(row.granted_at),
    hostId: Number(row.host_id),
    userId: Number(row.user_id),
    teamId: Number(row.team_id),
  };
}

/** The statements of one open transaction; `lock` is ` FOR UPDATE` where rows can be locked. */
export interface Transaction {
  get(sql: string, values: unknown[]): Promise<Record<string, unknown> | undefined>;
  run(sql: string, values: unknown[]): Promise<void>;
  lock: string;
}

function average(row: Record<string, unknown>): RecentAverage {
  return { avg: Number(row.expavg_credit), avgTime: Number(row.expavg_time) };
}

/**
 * The statements of granting one result, inside a transaction the caller opens and commits. Rows
 * are locked in one order (result, host, user, team), so concurrent grants wait for each other
 * instead of deadlocking; the ledger's primary key is the last guard against granting twice.
 */
export async function grantInTransaction(
  tx: Transaction,
  grant: CreditGrant,
): Promise<'granted' | 'already-granted'> {
  const result = await tx.get(`SELECT id, hostid, userid, sent_time FROM result WHERE id = ?${tx.lock}`, [
    grant.resultId,
  ]);
  if (!result) throw new Error(`result ${grant.resultId} does not exist`);
  const done = await tx.get(`SELECT result_id FROM ${LEDGER_TABLE} WHERE result_id = ?${tx.lock}`, [
    grant.resultId,
  ]);
  if (done) return 'already-granted';
  const hostId = Number(result.hostid);
  const userId = Number(result.userid);
  const start = Number(result.sent_time);
  const user = await tx.get(`SELECT teamid FROM user WHERE id = ?`, [userId]);
  const teamId = user ? Number(user.teamid) : 0;
  if (grant.amount > 0) {
    await addCredit(tx, 'host', hostId, grant, start);
    await addCredit(tx, 'user', userId, grant, start);
    if (teamId !== 0) await addCredit(tx, 'team', teamId, grant, start);
  }
  await tx.run(
    `INSERT INTO ${LEDGER_TABLE} (result_id, amount, commit_sha, source, granted_at, host_id, user_id, team_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    [grant.resultId, grant.amount, grant.commit, grant.source, grant.now, hostId, userId, teamId],
  );
  await tx.run('UPDATE result SET granted_credit = ? WHERE id = ?', [grant.amount, grant.resultId]);
  return 'granted';
}

async function addCredit(
  tx: Transaction,
  table: 'host' | 'user' | 'team',
  id: number,
  grant: CreditGrant,
  start: number,
): Promise<void> {
  const row = await tx.get(`SELECT expavg_credit, expavg_time FROM ${table} WHERE id = ?${tx.lock}`, [id]);
  if (!row) return; // BOINC skips a missing host, user or team row the same way
  const next = updateAverage(grant.now, start, grant.amount, average(row));
  await tx.run(
    `UPDATE ${table} SET total_credit = total_credit + ?, expavg_credit = ?, expavg_time = ? WHERE id = ?`,
    [grant.amount, next.avg, next.avgTime, id],
  );
}
