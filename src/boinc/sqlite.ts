import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Host } from '../fleet/types.js';
import { WorkunitName, workunitNameLike } from '../workunit/name.js';
import {
  grantInTransaction,
  LEDGER_DDL,
  LEDGER_SELECT,
  ledgerFromRow,
  REFUSALS_DDL,
  REFUSALS_SELECT,
  refusalFromRow,
  refusalsInsert,
  refusalValues,
} from './credit-sql.js';
import {
  absentState,
  DEPLOYMENT_COLUMNS,
  DEPLOYMENT_DDL,
  DEPLOYMENT_INDEXES,
  DEPLOYMENT_TABLE,
  deployedFromRow,
  deployedToValues,
  deployedWhere,
  stateFromRow,
  UNCREATED_SQL,
  UNSENT_BY_NAME_SQL,
  WORKUNIT_STATES_SQL,
} from './deployment-sql.js';
import {
  ASSIMILATION_SUBJECT_SQL,
  assimilationSubjectFromRow,
  CREDIT_SUBJECTS_SQL,
  creditSubjectFromRow,
  FAILED_RESULTS_SQL,
  failedResultFromRow,
  hostFromRow,
  RESULTS_OF_APP_SQL,
  readCreditTotals,
  resultFromRow,
} from './rows.js';
import type {
  AssimilationSubject,
  BoincStore,
  CreditGrant,
  CreditRefusal,
  CreditSubject,
  CreditTotals,
  DeployedWorkunit,
  FailedResult,
  HostQuery,
  LedgerRow,
  ResultRow,
  WorkunitState,
} from './store.js';

const SCHEMA = new URL('../../scripts/boinc/schema.sql', import.meta.url).pathname;

/** BOINC's MySQL table definitions (scripts/boinc/schema.sql) turned into SQLite's dialect: the same tables and columns. */
export function sqliteSchema(mysqlDdl: string): string {
  return mysqlDdl
    .replace(/integer NOT NULL AUTO_INCREMENT PRIMARY KEY/g, 'INTEGER PRIMARY KEY AUTOINCREMENT')
    .replace(/^\s*UNIQUE KEY \w+ (\([^)]*\)),?$/gm, (_, columns: string) => `  UNIQUE ${columns},`)
    .replace(/^\s*KEY .*$\n/gm, '')
    .replace(/ ON UPDATE CURRENT_TIMESTAMP/g, '')
    .replace(/ ENGINE=InnoDB/g, '')
    .replace(/,(\s*\n\))/g, '$1');
}

/** Zero or empty values for every NOT NULL column of `table` without a default, from BOINC's schema. */
export function columnDefaults(table: string): Record<string, number | string> {
  const ddl = readFileSync(SCHEMA, 'utf8');
  const body = new RegExp(`CREATE TABLE ${table} \\(([\\s\\S]*?)\\n\\)`).exec(ddl)?.[1];
  if (!body) throw new Error(`BOINC's schema has no table ${table}`);
  const defaults: Record<string, number | string> = {};
  for (const line of body.split('\n')) {
    const match = /^\s+(\w+) (\w+)/.exec(line);
    if (!match || ['KEY', 'UNIQUE', 'PRIMARY', 'id'].includes(match[1] as string)) continue;
    if (!line.includes('NOT NULL') || line.includes('DEFAULT')) continue;
    defaults[match[1] as string] = /int|double/.test(match[2] as string) ? 0 : '';
  }
  return defaults;
}

/** The embedded store: BOINC's tables in one SQLite file, for the demo and for labs without a BOINC server. */
export class SqliteBoincStore implements BoincStore {
  private readonly db: Database.Database;
  /** The grant before the next one may begin. */
  private grants: Promise<unknown> = Promise.resolve();

  constructor(
    path: string,
    readonly label = `sqlite ${path}`,
  ) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 10000');
    const exists = this.db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'host'")
      .get();
    if (!exists) this.db.exec(sqliteSchema(readFileSync(SCHEMA, 'utf8')));
    this.db.exec(LEDGER_DDL);
    this.db.exec(DEPLOYMENT_DDL);
    for (const index of DEPLOYMENT_INDEXES) this.db.exec(index);
    this.db.exec(REFUSALS_DDL);
  }

  /** Inserts a row, filling BOINC's other required columns with zeros; returns its id. */
  insert(table: string, row: Record<string, unknown>): number {
    const values = { ...columnDefaults(table), ...row };
    const columns = Object.keys(values);
    const result = this.db
      .prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`)
      .run(...columns.map((c) => values[c]));
    return Number(result.lastInsertRowid);
  }

  /** Runs SQL written for both MariaDB and SQLite (tests and fixtures). */
  async query(sql: string, values: unknown[] = []): Promise<unknown> {
    const statement = this.db.prepare(sql);
    return statement.reader ? statement.all(...values) : statement.run(...values);
  }

  async readHosts(query: HostQuery): Promise<Host[]> {
    const since = Math.floor(query.now.getTime() / 1000) - query.silentAfterDays * 86_400;
    const rows = this.db
      .prepare(
        `SELECT h.id, h.userid, u.teamid, h.rpc_time, h.p_ncpus, h.p_fpops, h.m_nbytes, h.os_name, h.os_version, h.serialnum, h.total_credit, h.misc
           FROM host h JOIN user u ON u.id = h.userid
          WHERE h.max_results_day <> -1 AND h.rpc_time >= ? ORDER BY h.id`,
      )
      .all(since) as Parameters<typeof hostFromRow>[0][];
    return rows.flatMap((row) => {
      const host = hostFromRow(row);
      return host ? [host] : [];
    });
  }

  async resultsOfApp(app: string, afterId: number, limit: number): Promise<ResultRow[]> {
    return (this.db.prepare(RESULTS_OF_APP_SQL).all(app, afterId, limit) as Record<string, unknown>[]).map(
      resultFromRow,
    );
  }

  async assimilationSubject(workunitId: number): Promise<AssimilationSubject | undefined> {
    const row = this.db.prepare(ASSIMILATION_SUBJECT_SQL).get(workunitId) as
      | Record<string, unknown>
      | undefined;
    return row ? assimilationSubjectFromRow(row) : undefined;
  }

  async failedResults(workunitId: number): Promise<FailedResult[]> {
    return (this.db.prepare(FAILED_RESULTS_SQL).all(workunitId) as Record<string, unknown>[]).map(
      failedResultFromRow,
    );
  }

  async cancelUnsentWorkunits(experiment: string): Promise<string[]> {
    const pattern = workunitNameLike(experiment);
    const rows = this.db
      .prepare(
        `SELECT w.id, w.name FROM workunit w
          WHERE w.name LIKE ? ESCAPE '\\' AND w.canonical_resultid = 0 AND (w.error_mask & 16) = 0
            AND NOT EXISTS (SELECT 1 FROM result r WHERE r.workunitid = w.id AND r.server_state IN (4, 5))`,
      )
      .all(pattern) as { id: number; name: string }[];
    return this.cancelRows(rows.filter((r) => WorkunitName.isOf(r.name, experiment)));
  }

  async cancelWorkunits(names: readonly string[]): Promise<string[]> {
    const cancelled: string[] = [];
    for (const chunk of chunks(names, 500))
      cancelled.push(
        ...this.cancelRows(
          this.db.prepare(UNSENT_BY_NAME_SQL(chunk.length)).all(...chunk) as { id: number; name: string }[],
        ),
      );
    return cancelled;
  }

  private cancelRows(rows: readonly { id: number; name: string }[]): string[] {
    const cancel = this.db.prepare(
      "UPDATE workunit SET error_mask = error_mask | 16, transition_time = CAST(strftime('%s', 'now') AS INTEGER) WHERE id = ?",
    );
    this.db.transaction(() => {
      for (const row of rows) cancel.run(row.id);
    })();
    return rows.map((r) => r.name);
  }

  async workunitStates(names: readonly string[]): Promise<Map<string, WorkunitState>> {
    const states = new Map(names.map((name) => [name, absentState(name)]));
    for (const chunk of chunks(names, 500))
      for (const row of this.db.prepare(WORKUNIT_STATES_SQL(chunk.length)).all(...chunk) as Record<
        string,
        unknown
      >[])
        states.set(String(row.name), stateFromRow(row));
    return states;
  }

  async recordWorkunits(rows: readonly DeployedWorkunit[]): Promise<void> {
    const columns = DEPLOYMENT_COLUMNS.split(', ');
    const update = columns
      .filter((c) => c !== 'name')
      .map((c) => `${c} = excluded.${c}`)
      .join(', ');
    // A closed row keeps what it holds.
    const insert = this.db.prepare(
      `INSERT INTO ${DEPLOYMENT_TABLE} (${DEPLOYMENT_COLUMNS}) VALUES (${columns.map(() => '?').join(', ')})
       ON CONFLICT(name) DO UPDATE SET ${update} WHERE ${DEPLOYMENT_TABLE}.closed = 0`,
    );
    this.db.transaction(() => {
      for (const row of rows) insert.run(...deployedToValues(row));
    })();
  }

  async deployedWorkunits(
    query: { names: readonly string[] } | { computations: readonly string[] },
  ): Promise<DeployedWorkunit[]> {
    const [column, keys] =
      'names' in query ? (['name', query.names] as const) : (['computation', query.computations] as const);
    return chunks(keys, 500).flatMap((chunk) =>
      (this.db.prepare(deployedWhere(column, chunk.length)).all(...chunk) as Record<string, unknown>[]).map(
        deployedFromRow,
      ),
    );
  }

  async uncreatedWorkunits(): Promise<DeployedWorkunit[]> {
    return (this.db.prepare(UNCREATED_SQL).all() as Record<string, unknown>[]).map(deployedFromRow);
  }

  async usedSeeds(experiment: string): Promise<Set<number>> {
    const rows = this.db
      .prepare(`SELECT DISTINCT seed FROM ${DEPLOYMENT_TABLE} WHERE experiment = ?`)
      .all(experiment) as { seed: number }[];
    return new Set(rows.map((r) => Number(r.seed)));
  }

  async closeComputations(computations: readonly string[]): Promise<void> {
    for (const chunk of chunks(computations, 500))
      this.db
        .prepare(
          `UPDATE ${DEPLOYMENT_TABLE} SET closed = 1 WHERE computation IN (${chunk.map(() => '?').join(', ')})`,
        )
        .run(...chunk);
  }

  async existingWorkunits(names: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let start = 0; start < names.length; start += 500) {
      const chunk = names.slice(start, start + 500);
      const rows = this.db
        .prepare(`SELECT name FROM workunit WHERE name IN (${chunk.map(() => '?').join(', ')})`)
        .all(...chunk) as { name: string }[];
      for (const row of rows) found.add(row.name);
    }
    return found;
  }

  async creditSubjects(resultIds: readonly number[]): Promise<Map<number, CreditSubject>> {
    const subjects = new Map<number, CreditSubject>();
    for (let start = 0; start < resultIds.length; start += 500) {
      const chunk = resultIds.slice(start, start + 500);
      const rows = this.db.prepare(CREDIT_SUBJECTS_SQL(chunk.length)).all(...chunk) as Record<
        string,
        unknown
      >[];
      for (const row of rows) subjects.set(Number(row.id), creditSubjectFromRow(row));
    }
    return subjects;
  }

  async ledger(): Promise<LedgerRow[]> {
    return (this.db.prepare(LEDGER_SELECT).all() as Record<string, unknown>[]).map(ledgerFromRow);
  }

  async refusals(): Promise<CreditRefusal[]> {
    return (this.db.prepare(REFUSALS_SELECT).all() as Record<string, unknown>[]).map(refusalFromRow);
  }

  async recordRefusals(refusals: readonly CreditRefusal[]): Promise<void> {
    for (let start = 0; start < refusals.length; start += 100) {
      const chunk = refusals.slice(start, start + 100);
      this.db.prepare(refusalsInsert(chunk.length, 'OR IGNORE')).run(...chunk.flatMap(refusalValues));
    }
  }

  /**
   * One writer at a time: BEGIN IMMEDIATE takes SQLite's write lock before anything is read, and
   * grants asked for at once on this connection wait their turn (one connection has one transaction).
   */
  grantCredit(grant: CreditGrant): Promise<'granted' | 'already-granted'> {
    const turn = this.grants.then(() => this.grantNow(grant));
    this.grants = turn.catch(() => undefined);
    return turn;
  }

  private async grantNow(grant: CreditGrant): Promise<'granted' | 'already-granted'> {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const outcome = await grantInTransaction(
        {
          lock: '',
          multiTableUpdate: false,
          get: async (sql, values) =>
            this.db.prepare(sql).get(...values) as Record<string, unknown> | undefined,
          run: async (sql, values) => {
            this.db.prepare(sql).run(...values);
          },
          insert: async (sql, values) => {
            try {
              this.db.prepare(sql).run(...values);
              return 'inserted';
            } catch (error) {
              if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'duplicate';
              throw error;
            }
          },
        },
        grant,
      );
      this.db.exec(outcome === 'granted' ? 'COMMIT' : 'ROLLBACK');
      return outcome;
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }

  async creditTotals(query: { hosts: number[]; users: number[]; results: number[] }): Promise<CreditTotals> {
    return readCreditTotals(
      query,
      500,
      async (sql, ids) => this.db.prepare(sql).all(...ids) as Record<string, unknown>[],
    );
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

/** `items` in slices of at most `size`, for statements with one placeholder per item. */
function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}
