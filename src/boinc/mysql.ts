import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';
import { AxiomError, ConfigurationError } from '../errors.js';
import type { Host } from '../fleet/types.js';
import { type HostRecord, hostFromRow, RESULTS_OF_APP_SQL, resultFromRow } from './rows.js';
import type { BoincStore, HostQuery, ResultRow } from './store.js';

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
    connectionLimit: 4,
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

  constructor(
    private readonly pool: Pool,
    readonly label: string,
  ) {}

  async readHosts(query: HostQuery): Promise<Host[]> {
    const since = Math.floor(query.now.getTime() / 1000) - query.silentAfterDays * 86_400;
    const misc = (await this.hostHasMisc()) ? ', h.misc' : '';
    const rows = await this.query<HostRow>(
      `SELECT h.id, h.userid, u.teamid, h.rpc_time, h.p_ncpus, h.m_nbytes, h.os_name, h.os_version, h.serialnum, h.total_credit${misc}
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

  async resultOwner(resultId: number): Promise<{ hostId: number; userId: number } | undefined> {
    const [row] = await this.query<RowDataPacket>('SELECT hostid, userid FROM result WHERE id = ?', [
      resultId,
    ]);
    return row ? { hostId: Number(row.hostid), userId: Number(row.userid) } : undefined;
  }

  async cancelUnsentWorkunits(experiment: string): Promise<string[]> {
    const pattern = `axm\\_${experiment.replaceAll('_', '\\_')}\\_%`;
    const unsent = `FROM workunit w
       WHERE w.name LIKE ? AND w.canonical_resultid = 0 AND (w.error_mask & 16) = 0
         AND NOT EXISTS (SELECT 1 FROM result r WHERE r.workunitid = w.id AND r.server_state IN (4, 5))`;
    const rows = await this.query<RowDataPacket>(`SELECT w.id, w.name ${unsent}`, [pattern]);
    if (rows.length === 0) return [];
    await this.query<RowDataPacket>(
      'UPDATE workunit SET error_mask = error_mask | 16, transition_time = UNIX_TIMESTAMP() WHERE id IN (?)',
      [rows.map((r) => r.id)],
    );
    return rows.map((r) => String(r.name));
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
