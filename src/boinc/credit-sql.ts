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
  all(sql: string, values: SqlValue[]): Promise<Record<string, unknown>[]>;
  run(sql: string, values: SqlValue[]): Promise<void>;
  /** Inserts rows, or says `duplicate` when a primary key is taken (the statement, not the transaction, fails). */
  insert(sql: string, values: SqlValue[]): Promise<'inserted' | 'duplicate'>;
  /** ` FOR UPDATE` where rows can be locked (MariaDB), empty where the whole database is (SQLite). */
  lock: string;
}

/** What granting one result came to: `already-granted` when the ledger had it. */
export type GrantOutcome = 'granted' | 'already-granted';

/** The results of one transaction's grants, for a message. */
export const describeGrants = (grants: readonly CreditGrant[]) =>
  grants.length === 1
    ? `result ${grants[0]?.resultId}`
    : `${grants.length} results, ${grants[0]?.resultId} to ${grants.at(-1)?.resultId}`;

const placeholders = (n: number, row = '?') => Array(n).fill(row).join(', ');

/**
 * Results with the rows their credit goes to, read (and, with `lock`, locked) in one statement: the
 * same statement everywhere, in result order, so that grants wait for each other instead of
 * deadlocking where they can. A user without a team (teamid 0) joins no team row.
 */
const GRANT_SUBJECTS_SQL = (n: number) => `SELECT r.id, r.hostid, r.userid, r.sent_time,
        h.id AS h_id, h.total_credit AS h_total, h.expavg_credit AS h_avg, h.expavg_time AS h_time,
        u.id AS u_id, u.teamid, u.total_credit AS u_total, u.expavg_credit AS u_avg, u.expavg_time AS u_time,
        t.id AS t_id, t.total_credit AS t_total, t.expavg_credit AS t_avg, t.expavg_time AS t_time
   FROM result r
   LEFT JOIN host h ON h.id = r.hostid
   LEFT JOIN user u ON u.id = r.userid
   LEFT JOIN team t ON t.id = u.teamid AND u.teamid <> 0
  WHERE r.id IN (${placeholders(n)})
  ORDER BY r.id`;

const LEDGER_INSERT = (n: number) =>
  `INSERT INTO ${LEDGER_TABLE} (result_id, amount, commit_sha, source, granted_at, host_id, user_id, team_id) VALUES ${placeholders(n, '(?, ?, ?, ?, ?, ?, ?, ?)')}`;

/** result.granted_credit of results just written to the ledger, from their ledger rows. */
const GRANTED_CREDIT_SQL = (n: number) =>
  `UPDATE result SET granted_credit = (SELECT amount FROM ${LEDGER_TABLE} WHERE result_id = result.id) WHERE id IN (${placeholders(n)})`;

const HOLDERS = ['host', 'user', 'team'] as const;
type Holder = (typeof HOLDERS)[number];
const ALIAS: Record<Holder, string> = { host: 'h', user: 'u', team: 't' };

/** A host, user or team row grants add to, with its total and recent average after them. */
interface Credited {
  table: Holder;
  id: number;
  total: number;
  next: RecentAverage;
}

/**
 * The host, user and team rows the granted results' credit goes to that exist (BOINC skips a
 * missing one the same way), each with its total and recent average after every grant in turn, as
 * one grant after another would leave them: the average updated the way BOINC's update_average
 * does, the total added to as `total_credit + amount` adds.
 */
function creditedRows(
  grants: readonly CreditGrant[],
  rows: readonly Record<string, unknown>[],
  outcomes: readonly GrantOutcome[],
): Credited[] {
  const credited = new Map<string, Credited>();
  grants.forEach((grant, i) => {
    const row = rows[i] as Record<string, unknown>;
    if (outcomes[i] !== 'granted' || grant.amount <= 0) return;
    for (const table of HOLDERS) {
      const a = ALIAS[table];
      const id = row[`${a}_id`];
      if (id === null || id === undefined) continue;
      const key = `${table} ${id}`;
      const c = credited.get(key) ?? {
        table,
        id: Number(id),
        total: Number(row[`${a}_total`]),
        next: { avg: Number(row[`${a}_avg`]), avgTime: Number(row[`${a}_time`]) },
      };
      c.total += grant.amount;
      c.next = updateAverage(grant.now, Number(row.sent_time), grant.amount, c.next);
      credited.set(key, c);
    }
  });
  return [...credited.values()];
}

const ledgerValues = (grant: CreditGrant, row: Record<string, unknown>): SqlValue[] => [
  grant.resultId,
  grant.amount,
  grant.commit,
  grant.source,
  grant.now,
  Number(row.hostid),
  Number(row.userid),
  row.u_id === null || row.u_id === undefined ? 0 : Number(row.teamid),
];

/**
 * The ledger rows, all in one statement; when a primary key is taken (another run granted one of
 * them meanwhile), one statement per row, so that each key decides for its own result.
 */
async function writeLedger(
  tx: Transaction,
  grants: readonly CreditGrant[],
  rows: readonly Record<string, unknown>[],
): Promise<GrantOutcome[]> {
  const values = grants.map((grant, i) => ledgerValues(grant, rows[i] as Record<string, unknown>));
  if ((await tx.insert(LEDGER_INSERT(values.length), values.flat())) === 'inserted')
    return grants.map(() => 'granted');
  const outcomes: GrantOutcome[] = [];
  for (const row of values)
    outcomes.push((await tx.insert(LEDGER_INSERT(1), row)) === 'inserted' ? 'granted' : 'already-granted');
  return outcomes;
}

/**
 * The statements of granting results (each once, at most GRANTS_PER_TRANSACTION), inside a
 * transaction the caller opens and commits: the results and the rows their credit goes to are
 * locked by one read, the ledger rows are written first (a result's primary key is the guard
 * against granting it twice, so a grant that lost a race stops there), then, once per row, the
 * host, user and team totals and recent averages, and last each result's granted_credit.
 */
export async function grantInTransaction(
  tx: Transaction,
  grants: readonly CreditGrant[],
): Promise<GrantOutcome[]> {
  if (grants.length === 0) return [];
  const found = await tx.all(
    `${GRANT_SUBJECTS_SQL(grants.length)}${tx.lock}`,
    grants.map((g) => g.resultId),
  );
  const byId = new Map(found.map((row) => [Number(row.id), row]));
  const rows = grants.map((grant) => {
    const row = byId.get(grant.resultId);
    if (!row) throw new Error(`result ${grant.resultId} does not exist`);
    return row;
  });
  const outcomes = await writeLedger(tx, grants, rows);
  const granted = grants.filter((_, i) => outcomes[i] === 'granted').map((g) => g.resultId);
  if (granted.length === 0) return outcomes;
  for (const c of creditedRows(grants, rows, outcomes))
    await tx.run(`UPDATE ${c.table} SET total_credit = ?, expavg_credit = ?, expavg_time = ? WHERE id = ?`, [
      c.total,
      c.next.avg,
      c.next.avgTime,
      c.id,
    ]);
  await tx.run(GRANTED_CREDIT_SQL(granted.length), granted);
  return outcomes;
}
