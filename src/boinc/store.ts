import type { Host } from '../fleet/types.js';

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
