import type { Host } from '../fleet/types.js';
import type { JobBounds } from './jobs.js';

/** A result of our app, as deploy and collect need it. */
export interface ResultRow {
  id: number;
  name: string;
  workunitId: number;
  workunitName: string;
  /** BOINC server_state: 1 inactive, 2 unsent, 4 in progress, 5 over. */
  serverState: number;
  /** BOINC outcome: 0 init, 1 success, 3 client error, 4 no reply, ... */
  outcome: number;
  validateState: number;
  elapsedTime: number;
  hostId: number;
  userId: number;
  teamId: number;
  sentTime: number;
  receivedTime: number;
  grantedCredit: number;
}

export interface HostQuery {
  /** Hosts whose last scheduler contact is older than this are not offered as targets. */
  silentAfterDays: number;
  now: Date;
}

/** A workunit handed to the assimilator, and BOINC's own record of its canonical result. */
export interface AssimilationSubject {
  workunitId: number;
  workunitName: string;
  errorMask: number;
  batch: number;
  canonicalResultId: number;
  canonical?: {
    resultId: number;
    /** result.elapsed_time: BOINC's measurement of the task. */
    elapsedTime: number;
    hostId: number;
    userId: number;
  };
}

/** A task that failed on a volunteer's computer, as BOINC recorded it. */
export interface FailedResult {
  resultId: number;
  hostId: number;
  userId: number;
  elapsedTime: number;
  exitStatus: number;
  /** result.stderr_out: the tail of the task's stderr, which carries the client's report. */
  stderrOut: string;
}

/** What credit is granted to: a result with its workunit, host and user as BOINC recorded them. */
export interface CreditSubject {
  resultId: number;
  workunitName: string;
  hostId: number;
  userId: number;
  /** The user's team (0 for none). */
  teamId: number;
  /** Unix seconds the result was sent: where BOINC starts a first recent average. */
  sentTime: number;
  /** BOINC's own measurement of the task in seconds (result.elapsed_time). */
  elapsedTime: number;
}

/** One merged credit entry to grant. */
export interface CreditGrant {
  resultId: number;
  amount: number;
  /** The commit of main the credit file was read at. */
  commit: string;
  /** `results/credit/<run>.yaml:<line>`. */
  source: string;
  /** Unix seconds. */
  now: number;
}

/** A row of the ledger: what Axiom Lab has granted, one per result. */
export interface LedgerRow {
  resultId: number;
  amount: number;
  commit: string;
  source: string;
  grantedAt: number;
  hostId: number;
  userId: number;
  teamId: number;
}

/** A credit entry refused for what only BOINC's database can tell, as recorded beside the ledger. */
export interface CreditRefusal {
  resultId: number;
  /** The rule that refused it, e.g. `credit/known-result`. */
  rule: string;
  /** `results/credit/<batch>.yaml:<line>` where the entry was when it was refused. */
  source: string;
  commit: string;
  /** Unix seconds. */
  refusedAt: number;
}

export interface CreditTotals {
  hosts: Map<number, number>;
  users: Map<number, number>;
  /** Results whose granted_credit, by result id. */
  grantedByResult: Map<number, number>;
}

/**
 * Why a workunit exists: a manifest's target (planned), or a replica the project chose itself to settle
 * a computation: a tie-breaker after its results disagreed, a replacement for one that never came
 * back, a shadow beside a host that lost a quorum not long ago.
 */
export type ReplicaKind = 'planned' | 'tie-breaker' | 'replacement' | 'shadow';

/** One workunit Axiom Lab asked BOINC for, as it recorded it before create_work ran. */
export interface DeployedWorkunit {
  name: string;
  experiment: string;
  /** The computation (replica key of experiment, script, seed and params): its results must agree. */
  computation: string;
  /** Drawn at deploy; shared by the replicas of one computation, never by two computations. */
  seed: number;
  host: number;
  kind: ReplicaKind;
  /** The wu.json staged for it. */
  input: string;
  bounds: JobBounds;
  /** Unix seconds. */
  createdAt: number;
  /** Its computation is decided: nothing more of it is created. */
  closed: boolean;
}

/** What BOINC's tables say of one workunit. */
export interface WorkunitState {
  name: string;
  /** BOINC has a workunit row. */
  exists: boolean;
  errorMask: number;
  /** A result row exists: the scheduler sent it (a targeted workunit has none before). */
  sent: boolean;
  /** Sent and not back yet (server_state IN_PROGRESS). */
  inProgress: boolean;
  /** A result came back (received_time set), successful or not. */
  returned: boolean;
}

/** The BOINC database, in Axiom Lab's terms. */
export interface BoincStore {
  /** A description for messages, without credentials (e.g. `mysql boinc@db.example:3306`). */
  readonly label: string;
  /** Hosts that may be targeted: not blacklisted (max_results_day = -1), seen recently, with a known OS. */
  readHosts(query: HostQuery): Promise<Host[]>;
  /** Results of the app's workunits with an id above `afterId`, in id order, at most `limit`. */
  resultsOfApp(app: string, afterId: number, limit: number): Promise<ResultRow[]>;
  /** A workunit as the assimilator sees it, with its canonical result when there is one. */
  assimilationSubject(workunitId: number): Promise<AssimilationSubject | undefined>;
  /** Results of a workunit that ended in a client error (outcome 3), with the stderr BOINC kept. */
  failedResults(workunitId: number): Promise<FailedResult[]>;
  /**
   * Cancels, the BOINC way (error_mask |= 16, WU_ERROR_CANCELLED), the workunits of an experiment
   * that no host has been sent yet; rows are never deleted. Returns the names cancelled.
   */
  cancelUnsentWorkunits(experiment: string): Promise<string[]>;
  /** Which of these workunit names have a row. */
  existingWorkunits(names: readonly string[]): Promise<Set<string>>;
  /** BOINC's state of these workunits, one per name (a name without a row: exists false). */
  workunitStates(names: readonly string[]): Promise<Map<string, WorkunitState>>;
  /** Cancels those of these workunits no host has been sent (error_mask |= 16); returns the names cancelled. */
  cancelWorkunits(names: readonly string[]): Promise<string[]>;
  /**
   * Records workunits before create_work runs. A row already there is replaced only while it is open;
   * a closed row is kept as it is.
   */
  recordWorkunits(rows: readonly DeployedWorkunit[]): Promise<void>;
  /** Recorded workunits by name or by computation. */
  deployedWorkunits(
    query: { names: readonly string[] } | { computations: readonly string[] },
  ): Promise<DeployedWorkunit[]>;
  /** Open recorded workunits BOINC has no row for: what deploy still has to create. */
  uncreatedWorkunits(): Promise<DeployedWorkunit[]>;
  /** Every seed drawn for an experiment. */
  usedSeeds(experiment: string): Promise<Set<number>>;
  /** Marks every workunit of these computations closed: decided, nothing more is created. */
  closeComputations(computations: readonly string[]): Promise<void>;
  /** The results with these ids that exist, with their workunit, host and user. */
  creditSubjects(resultIds: readonly number[]): Promise<Map<number, CreditSubject>>;
  /** Every ledger row (an empty list when the ledger table does not exist yet). */
  ledger(): Promise<LedgerRow[]>;
  /**
   * Grants one result's credit in one transaction: the ledger row, result.granted_credit, and the
   * totals and recent averages of its host, user and team. The result row is locked first, so two
   * runs cannot both grant it; `already-granted` when the ledger has it. May be called again before
   * an earlier call has finished: each is its own transaction.
   */
  grantCredit(grant: CreditGrant): Promise<'granted' | 'already-granted'>;
  /** Every refusal recorded beside the ledger (none when its table does not exist yet). */
  refusals(): Promise<CreditRefusal[]>;
  /** Records refusals; one already recorded for the same result and rule is kept as it was. */
  recordRefusals(refusals: readonly CreditRefusal[]): Promise<void>;
  /** total_credit of these hosts and users, and granted_credit of these results, for drift reports. */
  creditTotals(query: { hosts: number[]; users: number[]; results: number[] }): Promise<CreditTotals>;
  close(): Promise<void>;
}
