import { type RecentAverage, updateAverage } from './average.js';
import type { CreditGrant, CreditRefusal, LedgerRow } from './store.js';

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

/**
 * Beside the ledger: credit entries refused for what only BOINC's database can tell (a result it
 * does not know, another host or user), one row per result and rule, so that each is reported as an
 * error once and never fails a later run.
 */
export const REFUSALS_TABLE = 'axiom_credit_refusals';

/** `result_id` is a double: it holds exactly any number a credit file can name, BOINC's ids or not. */
export const REFUSALS_DDL = `CREATE TABLE IF NOT EXISTS ${REFUSALS_TABLE} (
  result_id double NOT NULL,
  rule varchar(64) NOT NULL,
  source varchar(255) NOT NULL,
  commit_sha varchar(64) NOT NULL,
  refused_at integer NOT NULL,
  PRIMARY KEY (result_id, rule)
)`;

export const REFUSALS_SELECT = `SELECT result_id, rule, source, commit_sha, refused_at FROM ${REFUSALS_TABLE} ORDER BY result_id, rule`;

/** Inserts refusals, keeping the first of a result and rule: `n` rows of five placeholders. */
export const refusalsInsert = (n: number, ignore: 'IGNORE' | 'OR IGNORE') =>
  `INSERT ${ignore} INTO ${REFUSALS_TABLE} (result_id, rule, source, commit_sha, refused_at) VALUES ${Array(n).fill('(?, ?, ?, ?, ?)').join(', ')}`;

export const refusalValues = (r: CreditRefusal) => [
  r.resultId,
  r.rule.slice(0, 64),
  r.source.slice(0, 255),
  r.commit.slice(0, 64),
  r.refusedAt,
];

export function refusalFromRow(row: Record<string, unknown>): CreditRefusal {
  return {
    resultId: Number(row.result_id),
    rule: String(row.rule),
    source: String(row.source),
    commit: String(row.commit_sha),
    refusedAt: Number(row.refused_at),
  };
}

/** A value bound to a statement's placeholder. */
export type SqlValue = string | number;

/** The statements of one open transaction, in the dialect of its database. */
export interface Transaction {
  get(sql: string, values: SqlValue[]): Promise<Record<string, unknown> | undefined>;
  run(sql: string, values: SqlValue[]): Promise<void>;
  /** Inserts a row, or says `duplicate` when its primary key is taken (the statement, not the transaction, fails). */
  insert(sql: string, values: SqlValue[]): Promise<'inserted' | 'duplicate'>;
  /** ` FOR UPDATE` where rows can be locked (MariaDB), empty where the whole database is (SQLite). */
  lock: string;
  /** Whether one UPDATE may change rows of several tables (MariaDB and MySQL; SQLite cannot). */
  multiTableUpdate: boolean;
}

/**
 * A result with the rows its credit goes to, read (and, with `lock`, locked) in one statement: the
 * same statement everywhere, so every grant locks its rows in the same order and two grants wait
 * for each other instead of deadlocking. A user without a team (teamid 0) joins no team row.
 */
const GRANT_SUBJECT_SQL = `SELECT r.id, r.hostid, r.userid, r.sent_time,
        h.id AS h_id, h.expavg_credit AS h_avg, h.expavg_time AS h_time,
        u.id AS u_id, u.teamid, u.expavg_credit AS u_avg, u.expavg_time AS u_time,
        t.id AS t_id, t.expavg_credit AS t_avg, t.expavg_time AS t_time
   FROM result r
   LEFT JOIN host h ON h.id = r.hostid
   LEFT JOIN user u ON u.id = r.userid
   LEFT JOIN team t ON t.id = u.teamid AND u.teamid <> 0
  WHERE r.id = ?`;

const HOLDERS = ['host', 'user', 'team'] as const;
type Holder = (typeof HOLDERS)[number];
const ALIAS: Record<Holder, string> = { host: 'h', user: 'u', team: 't' };

/** A host, user or team row a grant adds to, with its recent average after the grant. */
interface Credited {
  table: Holder;
  id: number;
  next: RecentAverage;
}

/**
 * The host, user and team rows the grant read that exist (BOINC skips a missing one the same way),
 * each with its recent average updated the way BOINC's update_average does.
 */
function creditedRows(row: Record<string, unknown>, grant: CreditGrant): Credited[] {
  if (grant.amount <= 0) return [];
  return HOLDERS.flatMap((table) => {
    const a = ALIAS[table];
    const id = row[`${a}_id`];
    if (id === null || id === undefined) return [];
    const current = { avg: Number(row[`${a}_avg`]), avgTime: Number(row[`${a}_time`]) };
    return [
      { table, id: Number(id), next: updateAverage(grant.now, Number(row.sent_time), grant.amount, current) },
    ];
  });
}

/** The columns a grant sets, of the table aliased `a` (unqualified without one: SQLite's SET takes no alias). */
const SET_CREDIT = (a = '') => {
  const c = a ? `${a}.` : '';
  return `${c}total_credit = ${c}total_credit + ?, ${c}expavg_credit = ?, ${c}expavg_time = ?`;
};
const creditValues = (c: Credited, grant: CreditGrant) => [grant.amount, c.next.avg, c.next.avgTime];

/**
 * result.granted_credit and the totals and averages of its host, user and team: one multi-table
 * UPDATE where the database has it (one statement instead of four), else one statement per row.
 */
async function writeCredit(
  tx: Transaction,
  grant: CreditGrant,
  credited: readonly Credited[],
): Promise<void> {
  if (!tx.multiTableUpdate) {
    for (const c of credited)
      await tx.run(`UPDATE ${c.table} SET ${SET_CREDIT()} WHERE id = ?`, [...creditValues(c, grant), c.id]);
    await tx.run('UPDATE result SET granted_credit = ? WHERE id = ?', [grant.amount, grant.resultId]);
    return;
  }
  const tables = ['result r', ...credited.map((c) => `${c.table} ${ALIAS[c.table]}`)].join(', ');
  const sets = ['r.granted_credit = ?', ...credited.map((c) => SET_CREDIT(ALIAS[c.table]))].join(', ');
  const where = ['r.id = ?', ...credited.map((c) => `${ALIAS[c.table]}.id = ?`)].join(' AND ');
  await tx.run(`UPDATE ${tables} SET ${sets} WHERE ${where}`, [
    grant.amount,
    ...credited.flatMap((c) => creditValues(c, grant)),
    grant.resultId,
    ...credited.map((c) => c.id),
  ]);
}

/**
 * The statements of granting one result, inside a transaction the caller opens and commits: the
 * result and the rows its credit goes to are locked by one read, the ledger row is written first
 * (its primary key is the guard against granting twice, so a grant that lost a race stops there),
 * then the result's granted_credit and the host, user and team totals and recent averages.
 */
export async function grantInTransaction(
  tx: Transaction,
  grant: CreditGrant,
): Promise<'granted' | 'already-granted'> {
  const row = await tx.get(`${GRANT_SUBJECT_SQL}${tx.lock}`, [grant.resultId]);
  if (!row) throw new Error(`result ${grant.resultId} does not exist`);
  const teamId = row.u_id === null || row.u_id === undefined ? 0 : Number(row.teamid);
  const inserted = await tx.insert(
    `INSERT INTO ${LEDGER_TABLE} (result_id, amount, commit_sha, source, granted_at, host_id, user_id, team_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      grant.resultId,
      grant.amount,
      grant.commit,
      grant.source,
      grant.now,
      Number(row.hostid),
      Number(row.userid),
      teamId,
    ],
  );
  if (inserted === 'duplicate') return 'already-granted';
  await writeCredit(tx, grant, creditedRows(row, grant));
  return 'granted';
}
