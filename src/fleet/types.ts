/** The operating systems Axiom Lab tells apart (BOINC's os_name, normalised). */
export type OsName = 'linux' | 'windows' | 'macos';

export interface Gpu {
  vendor: 'nvidia' | 'amd' | 'intel' | 'apple' | 'other';
  model: string;
  count: number;
  memoryMb?: number;
}

/**
 * The BLAS numpy runs with on a host, as its results' environments reported it: `openblas`,
 * `reference` (Debian's libblas3), or `other`; unknown until a result says.
 */
export type BlasFamily = 'openblas' | 'reference' | 'other';

/** A volunteer host as experiments see it. */
export interface Host {
  id: number;
  cores: number;
  /** BOINC's benchmark of one core (host.p_fpops), when it ran; BOINC reports 1e9 when it did not. */
  fpops?: number;
  /** The BLAS its last result ran with; the planner costs work for the reference BLAS without it. */
  blas?: BlasFamily;
  memoryGb: number;
  os: OsName;
  osVersion?: string;
  gpus: Gpu[];
  userId?: number;
  teamId?: number;
  lastContact?: Date;
  /** BOINC total credit of the host, when read from the database. */
  totalCredit?: number;
}

/** Where the hosts that experiments may target come from: a committed snapshot, or the BOINC database. */
export interface FleetSource {
  /** Where the hosts come from, for messages (a file path or a database name). */
  readonly label: string;
  readHosts(): Promise<Host[]>;
}
