import { AxiomError } from '../errors.js';
import type { ParamValue } from '../manifest/types.js';
import type { Problem } from '../problems.js';
import type { SchemaValidator } from '../schema/validate.js';
import { parseYaml } from '../yaml/document.js';

/** The input file's name inside the task's slot directory (the template's open_name). */
export const WORKUNIT_INPUT_FILE = 'wu.json';

/**
 * wu.json, the input file of every workunit, as schemas/workunit.schema.json describes it. Written
 * here, read by scripts/axiom_client.py (which validates it against the same schema) and carried by
 * `axiom assimilate` into the spool entry of every result.
 */
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
  /** Memory the script may use; the client's sandbox enforces it. */
  memory_gb: number;
  /** How long the planned work should take on the target host, by its benchmark and cores. */
  planned_seconds?: number;
  /** Commit of the manifest that asked for the workunit; absent for local runs. */
  manifest_commit?: string;
}

/** A wu.json we were about to write does not match its schema: a bug on our side, never data. */
export class WorkunitContractError extends AxiomError {
  override name = 'WorkunitContractError';
}

/** The wu.json text of a workunit, validated against its schema before anything is staged. */
export function renderWorkunitInput(input: WorkunitInput, validator: SchemaValidator): Buffer {
  const text = `${JSON.stringify(input, null, 2)}\n`;
  const { problems } = parseWorkunitInput(text, validator, `${input.wu_name}.json`);
  if (problems.length > 0)
    throw new WorkunitContractError(
      `wu.json of ${input.wu_name} breaks schemas/workunit.schema.json: ${problems.map((p) => `${p.path ?? ''}: ${p.message}`).join('; ')}`,
    );
  return Buffer.from(text);
}

/** Reads a wu.json: the input when it matches the schema, else every problem with its place. */
export function parseWorkunitInput(
  text: string,
  validator: SchemaValidator,
  file = WORKUNIT_INPUT_FILE,
): { input?: WorkunitInput; problems: Problem[] } {
  const { document, problems } = parseYaml(file, text, { maxBytes: 1024 * 1024 });
  if (!document) return { problems };
  if (typeof document.data !== 'object' || document.data === null || Array.isArray(document.data))
    return { problems: [{ file, rule: 'schema', message: 'must be a JSON object', severity: 'error' }] };
  const schemaProblems = validator.validate('workunit', document);
  const all = [...problems, ...schemaProblems];
  return all.length === 0 ? { input: document.data as WorkunitInput, problems: [] } : { problems: all };
}
