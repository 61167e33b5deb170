import { resolve } from 'node:path';
import { ConfigurationError } from '../errors.js';
import { openMysqlStore } from './mysql.js';
import { SqliteBoincStore } from './sqlite.js';
import type { BoincStore } from './store.js';

/** AXIOM_DB_URL, or a configuration error that says what it should look like. */
export function databaseUrl(env: NodeJS.ProcessEnv): string {
  const url = env.AXIOM_DB_URL;
  if (!url)
    throw new ConfigurationError(
      'AXIOM_DB_URL is not set; expected mysql://user:password@host:3306/database or sqlite:PATH',
    );
  return url;
}

/** The BOINC database named by AXIOM_DB_URL: `mysql://user:password@host:3306/db`, or `sqlite:PATH` for the embedded store. */
export function openStore(url: string, cwd: string): BoincStore {
  if (url.startsWith('sqlite:')) return new SqliteBoincStore(resolve(cwd, url.slice('sqlite:'.length)));
  return openMysqlStore(url);
}
