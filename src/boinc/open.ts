import { resolve } from 'node:path';
import { openMysqlStore } from './mysql.js';
import { SqliteBoincStore } from './sqlite.js';
import type { BoincStore } from './store.js';

/** The BOINC database named by AXIOM_DB_URL: `mysql://user:password@host:3306/db`, or `sqlite:PATH` for the embedded store. */
export function openStore(url: string, cwd: string): BoincStore {
  if (url.startsWith('sqlite:')) return new SqliteBoincStore(resolve(cwd, url.slice('sqlite:'.length)));
  return openMysqlStore(url);
}
