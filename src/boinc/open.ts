import { openMysqlStore } from './mysql.js';
import { SqliteBoincStore } from './sqlite.js';
import type { BoincStore } from './store.js';

/**
 * The BOINC database named by a validated AXIOM_DB_URL: `mysql://user:password@host:3306/db`, or
 * `sqlite:PATH` (absolute) for the embedded store of a demo lab.
 */
export function openStore(url: string): BoincStore {
  if (url.startsWith('sqlite:')) return new SqliteBoincStore(url.slice('sqlite:'.length));
  return openMysqlStore(url);
}
