import { accessSync, constants, statSync } from 'node:fs';
import { readProjectLayout } from '../boinc/project.js';
import type { BoincStore } from '../boinc/store.js';

/**
 * What `axiom assimilate` would store a result with, and whether it could: run as BOINC's daemon runs
 * it (`bin/axiom_assimilate --check`), this says which installation and Node answered, where results
 * would go and whether they could, so that a setup that would stop the daemon at its first result is
 * found before one arrives.
 */
export interface AssimilateSetup {
  version: string;
  /** The installation that answered. */
  home: string;
  /** The Node that ran it. */
  node: string;
  projectDir?: string;
  spoolDir?: string;
  database?: string;
  /** What would make a result fail to be stored. */
  problems: string[];
}

export interface SetupOptions {
  version: string;
  home: string;
  node: string;
  spoolDir?: string;
  projectDir?: string;
  /** The database assimilate would use (AXIOM_DB_URL, else the project's config.xml); undefined: none. */
  store?: BoincStore;
}

function spoolProblem(spoolDir: string | undefined): string | undefined {
  if (!spoolDir) return 'AXIOM_SPOOL_DIR is not set: there is nowhere to leave results';
  try {
    if (!statSync(spoolDir).isDirectory()) return `the spool ${spoolDir} is not a directory`;
    accessSync(spoolDir, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? `the spool ${spoolDir} does not exist`
      : `the spool ${spoolDir} is not writable by user ${process.getuid?.() ?? '?'} (${code})`;
  }
}

/** Checks what assimilating needs, without storing anything: the spool, the project, the database. */
export async function checkAssimilateSetup(options: SetupOptions): Promise<AssimilateSetup> {
  const problems: string[] = [];
  const spool = spoolProblem(options.spoolDir);
  if (spool) problems.push(spool);
  if (!options.projectDir)
    problems.push("AXIOM_BOINC_PROJECT_DIR is not set: the workunits' inputs cannot be read");
  else {
    try {
      readProjectLayout(options.projectDir);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (!options.store)
    problems.push("no database: set AXIOM_DB_URL, or give the project's config.xml its db_name");
  else {
    try {
      // BOINC's ids start at 1: looking up workunit 0 reads the table and finds nothing.
      await options.store.assimilationSubject(0);
    } catch (error) {
      problems.push(`cannot read the BOINC database ${options.store.label}: ${(error as Error).message}`);
    }
  }
  return {
    version: options.version,
    home: options.home,
    node: options.node,
    ...(options.projectDir ? { projectDir: options.projectDir } : {}),
    ...(options.spoolDir ? { spoolDir: options.spoolDir } : {}),
    ...(options.store ? { database: options.store.label } : {}),
    problems,
  };
}
