import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic-write.js';
import { AxiomError } from '../errors.js';

/**
 * BOINC's download hierarchy directory of a file: lowercase hex, unpadded, of the 28-bit number in
 * hex digits 1 to 7 of the MD5 of the file's name, modulo the fanout (config.xml uldl_dir_fanout;
 * 0 means a flat directory).
 */
export function hierarchyDir(fileName: string, fanout: number): string {
  if (fanout === 0) return '';
  const digest = createHash('md5').update(fileName).digest('hex');
  return (Number.parseInt(digest.slice(1, 8), 16) % fanout).toString(16);
}

export class StagingConflictError extends AxiomError {
  override name = 'StagingConflictError';
}

/**
 * Stages an input file as bin/stage_file does: `<download dir>/<hierarchy dir>/<name>` plus
 * `<name>.md5` holding "<md5> <size>\n", written atomically. The same content again is a no-op. A
 * name that holds different content is refused, unless `replace` says no workunit uses the file
 * (it is staged for a workunit that has no row yet, e.g. after a deploy that failed half way).
 */
export function stageInputFile(
  downloadDir: string,
  fanout: number,
  fileName: string,
  content: Buffer,
  options: { replace?: boolean } = {},
): { path: string; created: boolean } {
  if (!/^[A-Za-z0-9_.-]+$/.test(fileName))
    throw new StagingConflictError(`input file name "${fileName}" is not shell-safe`);
  const dir = join(downloadDir, hierarchyDir(fileName, fanout));
  const path = join(dir, fileName);
  if (existsSync(path)) {
    if (readFileSync(path).equals(content)) return { path, created: false };
    if (!options.replace) throw new StagingConflictError(`${path} already exists with different content`);
  }
  mkdirSync(dir, { recursive: true });
  const md5 = createHash('md5').update(content).digest('hex');
  // The file, then its cache: create_work trusts a .md5 only when it is newer than the file.
  writeFileAtomically(path, content);
  writeFileAtomically(`${path}.md5`, `${md5} ${content.length}\n`);
  return { path, created: true };
}
