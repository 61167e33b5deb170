import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';
import { AxiomError, ConfigurationError } from '../errors.js';
import type { Host } from '../fleet/types.js';
import { WorkunitName, workunitNameLike } from '../workunit/name.js';
import {
  grantInTransaction,
  LEDGER_DDL,
  LEDGER_SELECT,
  LEDGER_TABLE,
  ledgerFromRow,
  REFUSALS_DDL,
  REFUSALS_SELECT,
  REFUSALS_TABLE,
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
  type HostRecord,
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

/** Errors after which the same transaction may succeed when tried again. */
const RETRYABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
const GRANT_ATTEMPTS = 3;

/** The BOINC database could not be reached or queried. */
export class StoreError extends AxiomError {
  override name = 'StoreError';
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface HostRow extends RowDataPacket, HostRecord {}

/** `mysql://user:password@host:3306/database?ssl=true`: a pool, with timeouts, and TLS when asked. */
export function openMysqlStore(url: string): MysqlBoincStore {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigurationError(
      'AXIOM_DB_URL is not a URL; expected mysql://user:password@host:3306/database',
    );
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (parsed.protocol !== 'mysql:' || !database) {
    throw new ConfigurationError(
      `AXIOM_DB_URL must look like mysql://user:password@host:3306/database; found ${redact(parsed)}`,
    );
  }
  const pool = mysql.createPool({
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 3306,
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database,
    // credit apply grants eight results at once, each on its own connection.
    connectionLimit: 8,
    connectTimeout: 10_000,
    ...(parsed.searchParams.get('ssl') === 'true' ? { ssl: { rejectUnauthorized: true } } : {}),
  });
  return new MysqlBoincStore(pool, `mysql ${database}@${parsed.hostname}:${parsed.port || 3306}`);
}

function redact(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = '***';
  return copy.href;
}

export class MysqlBoincStore implements BoincStore {
  private hasMisc?: boolean;
  private ledgerReady = false;
  private deploymentReady = false;

  constructor(
    private readonly pool: Pool,
    readonly label: string,
  ) {}

  async readHosts(query: HostQuery): Promise<Host[]> {
    const since = Math.floor(query.now.getTime() / 1000) - query.silentAfterDays * 86_400;
    const misc = (await this.hostHasMisc()) ? ', h.misc' : '';
    const rows = await this.query<HostRow>(
      `SELECT h.id, h.userid, u.teamid, h.rpc_time, h.p_ncpus, h.p_fpops, h.m_nbytes, h.os_name, h.os_version, h.serialnum, h.total_credit${misc}
         FROM host h JOIN user u ON u.id = h.userid
        WHERE h.max_results_day <> -1 AND h.rpc_time >= ?
        ORDER BY h.id`,
      [since],
    );
    return rows.flatMap((row) => {
      const host = hostFromRow(row);
      return host ? [host] : [];
    });
  }

  async resultsOfApp(app: string, afterId: number, limit: number): Promise<ResultRow[]> {
    return (await this.query<RowDataPacket>(RESULTS_OF_APP_SQL, [app, afterId, limit])).map(resultFromRow);
  }

  async assimilationSubject(workunitId: number): Promise<AssimilationSubject | undefined> {
    const [row] = await this.query<RowDataPacket>(ASSIMILATION_SUBJECT_SQL, [workunitId]);
    return row ? assimilationSubjectFromRow(row) : undefined;
  }

  async failedResults(workunitId: number): Promise<FailedResult[]> {
    return (await this.query<RowDataPacket>(FAILED_RESULTS_SQL, [workunitId])).map(failedResultFromRow);
  }

  async cancelUnsentWorkunits(experiment: string): Promise<string[]> {
    const pattern = workunitNameLike(experiment);
    const unsent = `FROM workunit w
       WHERE w.name LIKE ? AND w.canonical_resultid = 0 AND (w.error_mask & 16) = 0
         AND NOT EXISTS (SELECT 1 FROM result r WHERE r.workunitid = w.id AND r.server_state IN (4, 5))`;
    // LIKE also matches longer names that share the prefix (axm_a_b_... for experiment a): parse each.
    const rows = (await this.query<RowDataPacket>(`SELECT w.id, w.name ${unsent}`, [pattern])).filter((r) =>
      WorkunitName.isOf(String(r.name), experiment),
    );
    return this.cancelRows(rows);
  }

  async cancelWorkunits(names: readonly string[]): Promise<string[]> {
    const cancelled: string[] = [];
    for (let start = 0; start < names.length; start += 1000) {
      const chunk = names.slice(start, start + 1000);
      cancelled.push(
        ...(await this.cancelRows(await this.query<RowDataPacket>(UNSENT_BY_NAME_SQL(chunk.length), chunk))),
      );
    }
    return cancelled;
  }

  private async cancelRows(rows: RowDataPacket[]): Promise<string[]> {
    if (rows.length === 0) return [];
    await this.query<RowDataPacket>(
      'UPDATE workunit SET error_mask = error_mask | 16, transition_time = UNIX_TIMESTAMP() WHERE id IN (?)',
      [rows.map((r) => r.id)],
    );
    return rows.map((r) => String(r.name));
  }

  async workunitStates(names: readonly string[]): Promise<Map<string, WorkunitState>> {
    const states = new Map(names.map((name) => [name, absentState(name)]));
    for (let start = 0; start < names.length; start += 1000) {
      const chunk = names.slice(start, start + 1000);
      for (const row of await this.query<RowDataPacket>(WORKUNIT_STATES_SQL(chunk.length), chunk))
        states.set(String(row.name), stateFromRow(row));
    }
    return states;
  }

  async recordWorkunits(rows: readonly DeployedWorkunit[]): Promise<void> {
    await this.ensureDeploymentTable();
    const columns = DEPLOYMENT_COLUMNS.split(', ');
    // A closed row keeps what it holds: IF(closed, old, new) for every column.
    const update = columns
      .filter((c) => c !== 'name')
      .map((c) => `${c} = IF(closed = 1, ${c}, VALUES(${c}))`)
      .join(', ');
    for (let start = 0; start < rows.length; start += 500) {
      const chunk = rows.slice(start, start + 500);
      await this.query<RowDataPacket>(
        `INSERT INTO ${DEPLOYMENT_TABLE} (${DEPLOYMENT_COLUMNS}) VALUES ${chunk.map(() => `(${columns.map(() => '?').join(', ')})`).join(', ')}
         ON DUPLICATE KEY UPDATE ${update}`,
        chunk.flatMap(deployedToValues),
      );
    }
  }

  async deployedWorkunits(
    query: { names: readonly string[] } | { computations: readonly string[] },
  ): Promise<DeployedWorkunit[]> {
    if (!(await this.hasDeploymentTable())) return [];
    const [column, keys] =
      'names' in query ? (['name', query.names] as const) : (['computation', query.computations] as const);
    const rows: DeployedWorkunit[] = [];
    for (let start = 0; start < keys.length; start += 1000) {
      const chunk = keys.slice(start, start + 1000);
      rows.push(
        ...(await this.query<RowDataPacket>(deployedWhere(column, chunk.length), [...chunk])).map(
          deployedFromRow,
        ),
      );
    }
    return rows;
  }

  async uncreatedWorkunits(): Promise<DeployedWorkunit[]> {
    if (!(await this.hasDeploymentTable())) return [];
    return (await this.query<RowDataPacket>(UNCREATED_SQL, [])).map(deployedFromRow);
  }

  async usedSeeds(experiment: string): Promise<Set<number>> {
    if (!(await this.hasDeploymentTable())) return new Set();
    const rows = await this.query<RowDataPacket>(
      `SELECT DISTINCT seed FROM ${DEPLOYMENT_TABLE} WHERE experiment = ?`,
      [experiment],
    );
    return new Set(rows.map((r) => Number(r.seed)));
  }

  async closeComputations(computations: readonly string[]): Promise<void> {
    if (computations.length === 0) return;
    await this.ensureDeploymentTable();
    for (let start = 0; start < computations.length; start += 1000) {
      const chunk = computations.slice(start, start + 1000);
      await this.query<RowDataPacket>(`UPDATE ${DEPLOYMENT_TABLE} SET closed = 1 WHERE computation IN (?)`, [
        chunk,
      ]);
    }
  }

  async existingWorkunits(names: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let start = 0; start < names.length; start += 1000) {
      const chunk = names.slice(start, start + 1000);
      const rows = await this.query<RowDataPacket>('SELECT name FROM workunit WHERE name IN (?)', [chunk]);
      for (const row of rows) found.add(String(row.name));
    }
    return found;
  }

  async creditSubjects(resultIds: readonly number[]): Promise<Map<number, CreditSubject>> {
    const subjects = new Map<number, CreditSubject>();
    for (let start = 0; start < resultIds.length; start += 1000) {
      const chunk = resultIds.slice(start, start + 1000);
      const rows = await this.query<RowDataPacket>(CREDIT_SUBJECTS_SQL(chunk.length), [...chunk]);
      for (const row of rows) subjects.set(Number(row.id), creditSubjectFromRow(row));
    }
    return subjects;
  }

  async ledger(): Promise<LedgerRow[]> {
    const exists = await this.query<RowDataPacket>(`SHOW TABLES LIKE '${LEDGER_TABLE}'`, []);
    if (exists.length === 0) return [];
    return (await this.query<RowDataPacket>(LEDGER_SELECT, [])).map(ledgerFromRow);
  }

  async refusals(): Promise<CreditRefusal[]> {
    const exists = await this.query<RowDataPacket>(`SHOW TABLES LIKE '${REFUSALS_TABLE}'`, []);
    if (exists.length === 0) return [];
    return (await this.query<RowDataPacket>(REFUSALS_SELECT, [])).map(refusalFromRow);
  }

  async recordRefusals(refusals: readonly CreditRefusal[]): Promise<void> {
    if (refusals.length === 0) return;
    await this.query<RowDataPacket>(`${REFUSALS_DDL} ENGINE=InnoDB`, []);
    for (let start = 0; start < refusals.length; start += 1000) {
      const chunk = refusals.slice(start, start + 1000);
      await this.query<RowDataPacket>(refusalsInsert(chunk.length, 'IGNORE'), chunk.flatMap(refusalValues));
    }
  }

  async grantCredit(grant: CreditGrant): Promise<'granted' | 'already-granted'> {
    await this.ensureLedger();
    for (let attempt = 1; ; attempt++) {
      const connection = await this.pool.getConnection();
      let fatal = false;
      try {
        await connection.beginTransaction();
        // Prepared once per connection and bound on the server (execute): a grant's statements are
        // the same thousands of times, and most of a statement's cost is the server reading it.
        const outcome = await grantInTransaction(
          {
            lock: ' FOR UPDATE',
            multiTableUpdate: true,
            get: async (sql, values) => (await connection.execute<RowDataPacket[]>(sql, values))[0][0],
            run: async (sql, values) => {
              await connection.execute(sql, values);
            },
            insert: async (sql, values) => {
              try {
                await connection.execute(sql, values);
                return 'inserted';
              } catch (error) {
                if ((error as { code?: string }).code === 'ER_DUP_ENTRY') return 'duplicate';
                throw error;
              }
            },
          },
          grant,
        );
        await (outcome === 'granted' ? connection.commit() : connection.rollback());
        return outcome;
      } catch (error) {
        const { code, message } = error as { code?: string; message: string; fatal?: boolean };
        fatal = (error as { fatal?: boolean }).fatal === true;
        if (!fatal) await connection.rollback().catch(() => {});
        if (code === 'ER_DUP_ENTRY') return 'already-granted';
        if (code && RETRYABLE.has(code) && attempt < GRANT_ATTEMPTS) continue;
        throw new StoreError(
          `BOINC database (${this.label}): granting result ${grant.resultId}: ${message}`,
          code,
        );
      } finally {
        // A killed or broken connection is dropped, never handed out again.
        if (fatal) connection.destroy();
        else connection.release();
      }
    }
  }

  async creditTotals(query: { hosts: number[]; users: number[]; results: number[] }): Promise<CreditTotals> {
    return readCreditTotals(query, 1000, (sql, ids) => this.query<RowDataPacket>(sql, ids));
  }

  private async ensureDeploymentTable(): Promise<void> {
    if (this.deploymentReady) return;
    await this.query<RowDataPacket>(`${DEPLOYMENT_DDL} ENGINE=InnoDB`, []);
    for (const index of DEPLOYMENT_INDEXES) await this.query<RowDataPacket>(index, []);
    this.deploymentReady = true;
  }

  /** Reads need no table: before the first deploy there is nothing recorded. */
  private async hasDeploymentTable(): Promise<boolean> {
    if (this.deploymentReady) return true;
    const exists = await this.query<RowDataPacket>(`SHOW TABLES LIKE '${DEPLOYMENT_TABLE}'`, []);
    return exists.length > 0;
  }

  private async ensureLedger(): Promise<void> {
    if (this.ledgerReady) return;
    await this.query<RowDataPacket>(`${LEDGER_DDL} ENGINE=InnoDB`, []);
    this.ledgerReady = true;
  }

  /** Server 1.6+ keeps GPU details in JSON `host.misc`; 1.4 only in `serialnum`. */
  private async hostHasMisc(): Promise<boolean> {
    this.hasMisc ??= (await this.query<RowDataPacket>("SHOW COLUMNS FROM host LIKE 'misc'", [])).length > 0;
    return this.hasMisc;
  }

  private async query<T extends RowDataPacket>(sql: string, values: unknown[]): Promise<T[]> {
    try {
      const [rows] = await this.pool.query<T[]>(sql, values);
      return rows;
    } catch (error) {
      const { code, message } = error as { code?: string; message: string };
      throw new StoreError(`BOINC database (${this.label}): ${message}`, code);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
