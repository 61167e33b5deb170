/** One workunit to create: its name, the host it is for, its wu.json and its resource bounds. */
export interface JobSpec {
  wuName: string;
  host: number;
  /** The staged input file (wu.json). */
  input: Buffer;
  bounds: JobBounds;
}

export interface JobBounds {
  fpopsEst: number;
  fpopsBound: number;
  memoryBound: number;
  diskBound: number;
  delayBound: number;
}

export interface JobCreation {
  created: string[];
  failed: { name: string; reason: string }[];
}

/** Creates BOINC workunits; the create_work implementation runs one process for a whole batch. */
export interface JobCreator {
  createJobs(jobs: readonly JobSpec[]): Promise<JobCreation>;
}
