import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError } from '../errors.js';
import type { Problem } from '../problems.js';
import type { SchemaValidator } from '../schema/validate.js';
import { parseYaml } from '../yaml/document.js';

export const CONFIG_FILE = 'axiom.yaml';

export interface Range {
  min: number;
  max: number;
}

/** Repository configuration (axiom.yaml), with defaults filled in. */
export interface RepoConfig {
  /** Fleet snapshot path, relative to the repository root. */
  fleet: string;
  limits: {
    runDuration: Range;
    creditCap: Range;
    workunitsPerManifest: number;
    /** Credit one host may be proposed per UTC day, over all experiments. */
    creditPerHostDay: number;
  };
}

export const DEFAULT_CONFIG: RepoConfig = {
  fleet: 'fleet.yaml',
  limits: {
    runDuration: { min: 30, max: 14_400 },
    creditCap: { min: 0, max: 1000 },
    workunitsPerManifest: 500,
    creditPerHostDay: 10_000,
  },
};

interface ConfigFile {
  fleet?: string;
  limits?: {
    run_duration?: Partial<Range>;
    credit_cap?: Partial<Range>;
    workunits_per_manifest?: number;
    credit_per_host_day?: number;
  };
}

/**
 * Reads axiom.yaml at the repository root; a missing file means the defaults. A file with errors
 * gives no configuration at all, only its problems: nothing runs on defaults it did not ask for.
 */
export function loadConfig(
  root: string,
  validator: SchemaValidator,
): { config?: RepoConfig; problems: Problem[] } {
  const path = join(root, CONFIG_FILE);
  if (!existsSync(path)) return { config: DEFAULT_CONFIG, problems: [] };
  const { document, problems } = parseYaml(CONFIG_FILE, readFileSync(path, 'utf8'));
  if (!document || problems.some((p) => p.severity === 'error')) return { problems };
  const schemaProblems = validator.validate('config', document);
  if (schemaProblems.length > 0) return { problems: [...problems, ...schemaProblems] };
  const file = (document.data ?? {}) as ConfigFile;
  const defaults = DEFAULT_CONFIG.limits;
  return {
    config: {
      fleet: file.fleet ?? DEFAULT_CONFIG.fleet,
      limits: {
        runDuration: { ...defaults.runDuration, ...file.limits?.run_duration },
        creditCap: { ...defaults.creditCap, ...file.limits?.credit_cap },
        workunitsPerManifest: file.limits?.workunits_per_manifest ?? defaults.workunitsPerManifest,
        creditPerHostDay: file.limits?.credit_per_host_day ?? defaults.creditPerHostDay,
      },
    },
    problems,
  };
}

/** The configuration, or an error listing every problem of axiom.yaml. */
export function requireConfig(root: string, validator: SchemaValidator): RepoConfig {
  const { config, problems } = loadConfig(root, validator);
  if (!config) throw new InvalidInputError(`${CONFIG_FILE} has errors; nothing was done`, problems);
  return config;
}
