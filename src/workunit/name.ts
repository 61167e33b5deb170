import { EXPERIMENT_NAME_PATTERN } from '../manifest/name.js';

/** Hex digits of the script's sha256 used in workunit and published script names. */
export const SCRIPT_SHA_PREFIX = 12;

/** What a workunit's name says. Host 0 is a local run (`axiom run`); BOINC host ids start at 1. */
export interface WorkunitId {
  experiment: string;
  /** The first SCRIPT_SHA_PREFIX hex digits of the script's sha256. */
  scriptSha: string;
  host: number;
  replica: number;
}

/** The JSON Schema pattern of a workunit name, as schemas/*.schema.json spell it. */
export const WORKUNIT_NAME_PATTERN = `^axm_${EXPERIMENT_NAME_PATTERN}_[0-9a-f]{${SCRIPT_SHA_PREFIX}}_h[0-9]+_r[0-9]+$`;
const PARSE = new RegExp(
  `^axm_(${EXPERIMENT_NAME_PATTERN})_([0-9a-f]{${SCRIPT_SHA_PREFIX}})_h([0-9]{1,10})_r([0-9]{1,6})$`,
);

/**
 * `axm_<experiment>_<script sha prefix>_h<host>_r<replica>`: a changed script means new workunits,
 * an unchanged manifest means none. The one place that writes and reads the format.
 */
export const WorkunitName = {
  format(id: WorkunitId): string {
    return `axm_${id.experiment}_${id.scriptSha.slice(0, SCRIPT_SHA_PREFIX)}_h${id.host}_r${id.replica}`;
  },

  parse(name: string): WorkunitId | undefined {
    const match = PARSE.exec(name);
    if (!match) return undefined;
    return {
      experiment: match[1] as string,
      scriptSha: match[2] as string,
      host: Number(match[3]),
      replica: Number(match[4]),
    };
  },

  /** Every workunit of an experiment starts with this (for a SQL `LIKE`, escape `_` yourself). */
  prefix(experiment: string): string {
    return `axm_${experiment}_`;
  },

  /** Whether a workunit name is one of this experiment's. */
  isOf(name: string, experiment: string): boolean {
    return WorkunitName.parse(name)?.experiment === experiment;
  },
};

/** A SQL `LIKE` pattern for every workunit of an experiment (`\` escapes `_`). */
export function workunitNameLike(experiment: string): string {
  return `${WorkunitName.prefix(experiment).replaceAll('_', '\\_')}%`;
}
