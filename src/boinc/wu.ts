import type { ParamValue } from '../manifest/types.js';

/** wu.json, the input file of every workunit (DESIGN.md), read by scripts/axiom_client.py. */
export interface WorkunitInput {
  mode: 'experiment';
  experiment: string;
  wu_name: string;
  /** Immutable, content-addressed copy of the script. */
  script_url: string;
  script_sha256: string;
  run_duration: number;
  seed: number;
  params: Record<string, ParamValue>;
  /** Cores handed to the script (AXIOM_CPUS). */
  cpus: number;
  /** Commit of the manifest that asked for the workunit; absent for local runs. */
  manifest_commit?: string;
}

export function renderWorkunitInput(input: WorkunitInput): string {
  return `${JSON.stringify(input, null, 2)}\n`;
}
