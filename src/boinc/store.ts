import type { Host } from '../fleet/types.js';

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

/** The BOINC database, in Axiom Lab's terms. */
export interface BoincStore {
  /** A description for messages, without credentials (e.g. `mysql boinc@db.example:3306`). */
  readonly label: string;
  /** Hosts that may be targeted: not blacklisted (max_results_day = -1), seen recently, with a known OS. */
  readHosts(query: HostQuery): Promise<Host[]>;
  /** Results of the app's workunits with an id above `afterId`, in id order, at most `limit`. */
  resultsOfApp(app: string, afterId: number, limit: number): Promise<ResultRow[]>;
  /** The host and user of a result, when the row exists. */
  resultOwner(resultId: number): Promise<{ hostId: number; userId: number } | undefined>;
  /**
   * Cancels, the BOINC way (error_mask |= 16, WU_ERROR_CANCELLED), the workunits of an experiment
   * that no host has been sent yet; rows are never deleted. Returns the names cancelled.
   */
  cancelUnsentWorkunits(experiment: string): Promise<string[]>;
  /** Which of these workunit names have a row. */
  existingWorkunits(names: readonly string[]): Promise<Set<string>>;
  close(): Promise<void>;
}
