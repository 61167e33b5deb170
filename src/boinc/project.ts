import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from '../errors.js';
import { readRegularFile } from '../read-file.js';
import type { SchemaValidator } from '../schema/validate.js';
import { parseWorkunitInput, type WorkunitInput } from '../workunit/input.js';
import { hierarchyDir } from './stage.js';

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

/** The staged wu.json of a workunit is `<wu name>.json` in the download hierarchy. */
export function workunitInputName(wuName: string): string {
  return `${wuName}.json`;
}

/** A staged wu.json is a few hundred bytes; anything near this is not one deploy wrote. */
const MAX_STAGED_INPUT_BYTES = 1024 * 1024;

/**
 * What a workunit asked for, read back from the wu.json deploy staged for it: the record collect
 * judges a result against. A reason, never an exception, when it cannot be had.
 */
export function readStagedWorkunit(
  layout: Pick<ProjectLayout, 'downloadDir' | 'fanout'>,
  wuName: string,
  validator: SchemaValidator,
): WorkunitInput | { missing: string } {
  const path = stagedPath(layout, workunitInputName(wuName));
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
