import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from '../errors.js';
import { readRegularFile } from '../read-file.js';
import type { SchemaValidator } from '../schema/validate.js';
import { parseWorkunitInput, type WorkunitInput } from '../workunit/input.js';
import { hierarchyDir } from './stage.js';
import type { BoincStore } from './store.js';

/** What Axiom Lab needs to know of a BOINC project directory (from its config.xml). */
export interface ProjectLayout {
  projectDir: string;
  downloadDir: string;
  /**
   * config.xml `<uldl_dir_fanout>`. BOINC reads a missing tag as 0, a flat download directory
   * (sched/sched_config.cpp; make_project always writes 1024).
   */
  fanout: number;
}

/** The text of a config.xml tag, or undefined. */
export function configTag(config: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(config)?.[1]?.trim();
}

export function readProjectLayout(projectDir: string): ProjectLayout {
  const configPath = join(projectDir, 'config.xml');
  if (!existsSync(configPath))
    throw new ConfigurationError(
      `${configPath} not found; AXIOM_BOINC_PROJECT_DIR must name a BOINC project directory`,
    );
  const config = readFileSync(configPath, 'utf8');
  const fanoutText = configTag(config, 'uldl_dir_fanout');
  const fanout = fanoutText === undefined ? 0 : Number(fanoutText);
  if (!Number.isInteger(fanout) || fanout < 0)
    throw new ConfigurationError(
      `${configPath}: <uldl_dir_fanout> must be a whole number (0 for a flat directory); found "${fanoutText}"`,
    );
  return {
    projectDir,
    downloadDir: configTag(config, 'download_dir') ?? join(projectDir, 'download'),
    fanout,
  };
}

/** Where BOINC serves a staged input file from: `<download dir>/<hierarchy dir>/<name>`. */
export function stagedPath(layout: Pick<ProjectLayout, 'downloadDir' | 'fanout'>, fileName: string): string {
  return join(layout.downloadDir, hierarchyDir(fileName, layout.fanout), fileName);
}

/**
 * The staged wu.json of a workunit: `<wu name>-<16 hex digits of its sha256>.json` in the download
 * hierarchy. BOINC serves the download directory to anyone who asks for a name; a name that carries
 * the hash of a content holding a freshly drawn seed cannot be guessed, so a workunit's seed is known
 * to nobody before the scheduler sends the workunit (and its file's name) to its host.
 */
export function workunitInputName(wuName: string, input: Buffer): string {
  return `${wuName}-${createHash('sha256').update(input).digest('hex').slice(0, 16)}.json`;
}

/** The name workunits deployed before names carried the content's hash were staged under. */
export function legacyWorkunitInputName(wuName: string): string {
  return `${wuName}.json`;
}

/** A staged wu.json is a few hundred bytes; anything near this is not one deploy wrote. */
const MAX_STAGED_INPUT_BYTES = 1024 * 1024;

/**
 * What a workunit asked for: the wu.json deploy recorded for it in BOINC's database (and staged under
 * its hashed name), else, for a workunit deployed before that record, the file staged under its
 * plain name. A reason, never an exception, when it cannot be had.
 */
export async function deployedWorkunit(
  store: Pick<BoincStore, 'deployedWorkunits'> | undefined,
  layout: Pick<ProjectLayout, 'downloadDir' | 'fanout'>,
  wuName: string,
  validator: SchemaValidator,
): Promise<WorkunitInput | { missing: string }> {
  const [row] = store ? await store.deployedWorkunits({ names: [wuName] }) : [];
  if (!row) return readStagedWorkunit(layout, wuName, validator);
  const { input, problems } = parseWorkunitInput(row.input, validator, `the recorded wu.json of ${wuName}`);
  if (!input)
    return { missing: `the recorded wu.json of ${wuName} breaks its schema: ${problems[0]?.message}` };
  return input.wu_name === wuName
    ? input
    : { missing: `the recorded wu.json of ${wuName} is for workunit ${input.wu_name}` };
}

/**
 * What a workunit asked for, read back from the wu.json deploy staged for it: the record collect
 * judges a result against. A reason, never an exception, when it cannot be had.
 */
export function readStagedWorkunit(
  layout: Pick<ProjectLayout, 'downloadDir' | 'fanout'>,
  wuName: string,
  validator: SchemaValidator,
): WorkunitInput | { missing: string } {
  const path = stagedPath(layout, legacyWorkunitInputName(wuName));
  const read = readRegularFile(path, MAX_STAGED_INPUT_BYTES);
  if ('refused' in read) return { missing: `the workunit's staged input ${path} is ${read.refused}` };
  const { input, problems } = parseWorkunitInput(read.bytes.toString('utf8'), validator, path);
  if (!input)
    return { missing: `the workunit's staged input ${path} breaks its schema: ${problems[0]?.message}` };
  if (input.wu_name !== wuName)
    return { missing: `the staged input ${path} is for workunit ${input.wu_name}, not ${wuName}` };
  return input;
}

/**
 * The project's own database (config.xml `db_host`, `db_user`, `db_passwd`, `db_name`) as a URL,
 * so that BOINC's daemons need no AXIOM_DB_URL of their own; undefined when config.xml names none.
 */
export function projectDatabaseUrl(projectDir: string): string | undefined {
  const path = join(projectDir, 'config.xml');
  if (!existsSync(path)) return undefined;
  const config = readFileSync(path, 'utf8');
  const name = configTag(config, 'db_name');
  if (!name) return undefined;
  const [host, port] = (configTag(config, 'db_host') || 'localhost').split(':');
  const url = new URL(`mysql://${host}:${port ?? '3306'}/${encodeURIComponent(name)}`);
  url.username = encodeURIComponent(configTag(config, 'db_user') ?? '');
  url.password = encodeURIComponent(configTag(config, 'db_passwd') ?? '');
  return url.href;
}
