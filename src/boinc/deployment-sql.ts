import type { JobBounds } from './jobs.js';
import type { DeployedWorkunit, ReplicaKind, WorkunitState } from './store.js';

/**
 * Axiom Lab's second table in BOINC's database, beside the credit ledger: every workunit it asked
 * BOINC for, written before create_work runs (so a creation killed half way is finished with the same
 * seed), with the seed drawn for it, the computation it belongs to and its wu.json. Seeds are drawn
 * here and nowhere in git: a host learns its seed only when BOINC sends it the workunit.
 */
export const DEPLOYMENT_TABLE = 'axiom_workunit';

export const DEPLOYMENT_DDL = `CREATE TABLE IF NOT EXISTS ${DEPLOYMENT_TABLE} (
  name varchar(191) NOT NULL PRIMARY KEY,
  experiment varchar(64) NOT NULL,
  computation char(64) NOT NULL,
  seed integer NOT NULL,
  host_id integer NOT NULL,
  kind varchar(16) NOT NULL,
  input mediumtext NOT NULL,
  bounds varchar(255) NOT NULL,
  created_at integer NOT NULL,
  closed integer NOT NULL DEFAULT 0
)`;

/** Indexes, one statement each (SQLite and MariaDB spell CREATE INDEX alike, IF NOT EXISTS included). */
export const DEPLOYMENT_INDEXES = [
  `CREATE INDEX IF NOT EXISTS axiom_workunit_computation ON ${DEPLOYMENT_TABLE} (computation)`,
  `CREATE INDEX IF NOT EXISTS axiom_workunit_experiment ON ${DEPLOYMENT_TABLE} (experiment, seed)`,
];

export const DEPLOYMENT_COLUMNS =
  'name, experiment, computation, seed, host_id, kind, input, bounds, created_at, closed';

const KINDS: readonly ReplicaKind[] = ['planned', 'tie-breaker', 'replacement', 'shadow'];

export function deployedFromRow(row: Record<string, unknown>): DeployedWorkunit {
  const kind = String(row.kind) as ReplicaKind;
  return {
    name: String(row.name),
    experiment: String(row.experiment),
    computation: String(row.computation),
    seed: Number(row.seed),
    host: Number(row.host_id),
    kind: KINDS.includes(kind) ? kind : 'planned',
    input: String(row.input),
    bounds: JSON.parse(String(row.bounds)) as JobBounds,
    createdAt: Number(row.created_at),
    closed: Number(row.closed) !== 0,
  };
}

export function deployedToValues(row: DeployedWorkunit): unknown[] {
  return [
    row.name,
    row.experiment,
    row.computation,
    row.seed,
    row.host,
    row.kind,
    row.input,
    JSON.stringify(row.bounds),
    row.createdAt,
    row.closed ? 1 : 0,
  ];
}

/**
 * What BOINC's own tables say of workunits by name, for `n` placeholders: whether a row exists, its
 * error mask, and its results (a targeted workunit has none until the scheduler sends it).
 */
export function WORKUNIT_STATES_SQL(n: number): string {
  return `SELECT w.name, w.error_mask,
            SUM(CASE WHEN r.id IS NOT NULL THEN 1 ELSE 0 END) AS sent,
            SUM(CASE WHEN r.server_state = 4 THEN 1 ELSE 0 END) AS in_progress,
            SUM(CASE WHEN r.received_time > 0 THEN 1 ELSE 0 END) AS returned
       FROM workunit w LEFT JOIN result r ON r.workunitid = w.id
      WHERE w.name IN (${Array(n).fill('?').join(', ')})
      GROUP BY w.name, w.error_mask`;
}

export function stateFromRow(row: Record<string, unknown>): WorkunitState {
  return {
    name: String(row.name),
    exists: true,
    errorMask: Number(row.error_mask),
    sent: Number(row.sent) > 0,
    inProgress: Number(row.in_progress) > 0,
    returned: Number(row.returned) > 0,
  };
}

/** The state of a workunit BOINC has no row for. */
export function absentState(name: string): WorkunitState {
  return { name, exists: false, errorMask: 0, sent: false, inProgress: false, returned: false };
}

/** Rows of the table for `n` names or computations. */
export function deployedWhere(column: 'name' | 'computation', n: number): string {
  return `SELECT ${DEPLOYMENT_COLUMNS} FROM ${DEPLOYMENT_TABLE} WHERE ${column} IN (${Array(n).fill('?').join(', ')})`;
}

/** Open rows BOINC has no workunit for yet: what deploy still has to create. */
export const UNCREATED_SQL = `SELECT ${DEPLOYMENT_COLUMNS.split(', ')
  .map((c) => `a.${c}`)
  .join(', ')}
   FROM ${DEPLOYMENT_TABLE} a LEFT JOIN workunit w ON w.name = a.name
  WHERE w.id IS NULL AND a.closed = 0 ORDER BY a.name`;

/**
 * Cancels workunits by name the BOINC way (error_mask |= 16, WU_ERROR_CANCELLED) when no host has
 * been sent them: the scheduler skips a workunit with an error mask, so none of them is ever sent.
 */
export function UNSENT_BY_NAME_SQL(n: number): string {
  return `SELECT w.id, w.name FROM workunit w
   WHERE w.name IN (${Array(n).fill('?').join(', ')}) AND w.canonical_resultid = 0 AND (w.error_mask & 16) = 0
     AND NOT EXISTS (SELECT 1 FROM result r WHERE r.workunitid = w.id AND r.server_state IN (4, 5))`;
}
