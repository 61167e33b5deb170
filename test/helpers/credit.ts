import { stringify } from 'yaml';
import type { CreditEntry } from '../../src/record/credit-file.js';
import { WorkunitName } from '../../src/workunit/name.js';
import { git } from './git.js';
import type { Sql } from './mariadb.js';
import { makeRepo, writeFile } from './repo.js';

/** A finished result of our app, as a credit file names it. */
export interface FinishedResult {
  workunit: string;
  host: number;
  user: number;
  sentTime?: number;
  /** BOINC's measurement of the task (result.elapsed_time); 100 s unless given. */
  elapsedTime?: number;
  /** Which result of its workunit: a second one (a replay, a reissue) is 1. */
  copy?: number;
}

const WORKUNIT_COLUMNS = {
  create_time: 1_700_000_000,
  xml_doc: '<workunit/>',
  batch: 0,
  rsc_fpops_est: 1e12,
  rsc_fpops_bound: 1e13,
  rsc_memory_bound: 1e9,
  rsc_disk_bound: 1e9,
  need_validate: 0,
  canonical_resultid: 0,
  canonical_credit: 0,
  transition_time: 0,
  delay_bound: 86_400,
  error_mask: 0,
  file_delete_state: 0,
  assimilate_state: 2,
  hr_class: 0,
  opaque: 0,
  min_quorum: 1,
  target_nresults: 1,
  max_error_results: 3,
  max_total_results: 5,
  max_success_results: 1,
  result_template_file: 'templates/axiom_out',
  priority: 0,
  rsc_bandwidth_bound: 0,
  fileset_id: 0,
  app_version_id: 0,
  transitioner_flags: 0,
  keywords: '',
  app_version_num: 0,
};

const RESULT_COLUMNS = {
  create_time: 1_700_000_000,
  server_state: 5,
  outcome: 1,
  client_state: 5,
  report_deadline: 1_700_086_400,
  received_time: 1_700_000_600,
  cpu_time: 100,
  batch: 0,
  file_delete_state: 0,
  validate_state: 1,
  claimed_credit: 0,
  granted_credit: 0,
  opaque: 0,
  random: 0,
  app_version_num: 0,
  exit_status: 0,
  teamid: 0,
  priority: 0,
  elapsed_time: 100,
  flops_estimate: 1e9,
  app_version_id: 0,
  runtime_outlier: 0,
  peak_working_set_size: 0,
  peak_swap_size: 0,
  peak_disk_usage: 0,
};

async function insertRows(sql: Sql, table: string, rows: Record<string, unknown>[]): Promise<void> {
  for (let start = 0; start < rows.length; start += 500) {
    const chunk = rows.slice(start, start + 500);
    const columns = Object.keys(chunk[0] as object);
    const placeholders = chunk.map(() => `(${columns.map(() => '?').join(', ')})`).join(', ');
    await sql.query(
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${placeholders}`,
      chunk.flatMap((row) => columns.map((c) => row[c])),
    );
  }
}

function rowsOf(result: unknown): Record<string, unknown>[] {
  // mysql2 answers [rows, fields]; the SQLite store answers rows.
  return (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as Record<
    string,
    unknown
  >[];
}

/** Inserts the app (once), a workunit and a finished, valid result per item; returns the result ids in order. */
export async function insertFinishedResults(sql: Sql, items: readonly FinishedResult[]): Promise<number[]> {
  let app = rowsOf(await sql.query("SELECT id FROM app WHERE name = 'axiom'"))[0];
  if (!app) {
    await sql.query(
      "INSERT INTO app (create_time, name, user_friendly_name) VALUES (0, 'axiom', 'Axiom Lab')",
    );
    app = rowsOf(await sql.query("SELECT id FROM app WHERE name = 'axiom'"))[0];
  }
  const appid = Number(app?.id);
  const names = [...new Set(items.map((i) => i.workunit))];
  const known = async (list: readonly string[]) => {
    const found = new Map<string, number>();
    for (let start = 0; start < list.length; start += 500) {
      const chunk = list.slice(start, start + 500);
      const rows = rowsOf(
        await sql.query(
          `SELECT id, name FROM workunit WHERE name IN (${chunk.map(() => '?').join(', ')})`,
          chunk,
        ),
      );
      for (const row of rows) found.set(String(row.name), Number(row.id));
    }
    return found;
  };
  const before = await known(names);
  const fresh = names.filter((n) => !before.has(n));
  if (fresh.length > 0)
    await insertRows(
      sql,
      'workunit',
      fresh.map((name) => ({ ...WORKUNIT_COLUMNS, appid, name })),
    );
  const ids = await known(names);
  await insertRows(
    sql,
    'result',
    items.map((item) => ({
      ...RESULT_COLUMNS,
      appid,
      workunitid: ids.get(item.workunit),
      name: `${item.workunit}_${item.copy ?? 0}`,
      hostid: item.host,
      userid: item.user,
      sent_time: item.sentTime ?? 1_700_000_000,
      ...(item.elapsedTime !== undefined ? { elapsed_time: item.elapsedTime } : {}),
    })),
  );
  const resultIds = new Map<string, number>();
  for (let start = 0; start < items.length; start += 500) {
    const names = items.slice(start, start + 500).map((i) => `${i.workunit}_${i.copy ?? 0}`);
    const rows = rowsOf(
      await sql.query(
        `SELECT id, name FROM result WHERE name IN (${names.map(() => '?').join(', ')})`,
        names,
      ),
    );
    for (const row of rows) resultIds.set(String(row.name), Number(row.id));
  }
  return items.map((item) => resultIds.get(`${item.workunit}_${item.copy ?? 0}`) as number);
}

/** A credit entry as written in a file; verdict and credit may be anything, to test refusals. */
export type CreditLine = Omit<CreditEntry, 'verdict' | 'credit'> & { verdict: string; credit: unknown };

/** A credit file as axiom collect writes it. */
export function creditYaml(run: string, entries: readonly CreditLine[]): string {
  return stringify({ run, judged_by: 'rules', entries });
}

/** `axm_mean_test_<sha>_h<host>_r<replica>` */
export function workunitName(experiment: string, host: number, replica: number): string {
  return WorkunitName.format({ experiment, scriptSha: '0123456789ab', host, replica });
}

/**
 * The record lines that collect would have written for credit entries (results/<experiment>/<run>.jsonl),
 * so that `credit apply` finds the collected review each entry names.
 */
export function recordFiles(
  run: string,
  entries: readonly CreditLine[],
  manifestCommit?: string,
): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of entries) {
    const path = `results/${entry.experiment}/${run}.jsonl`;
    const review = {
      result: entry.result,
      workunit: entry.workunit,
      experiment: entry.experiment,
      host: entry.host,
      user: entry.user,
      team: entry.team ?? 0,
      run,
      batch: run,
      received_at: '2026-11-25T10:00:00.000Z',
      verdict: ['valid', 'invalid', 'suspicious'].includes(entry.verdict) ? entry.verdict : 'valid',
      quality:
        typeof entry.quality === 'number' && entry.quality >= 0 && entry.quality <= 1 ? entry.quality : 0,
      proposed_credit: typeof entry.credit === 'number' && entry.credit >= 0 ? entry.credit : 0,
      judged_by: 'rules',
      checks: [{ rule: 'envelope-schema', passed: true }],
      ...(manifestCommit ? { manifest_commit: manifestCommit } : {}),
    };
    const line = {
      result: entry.result,
      review,
      envelope: { params: {}, metrics: {}, series: {}, summary: '' },
    };
    files[path] = `${files[path] ?? ''}${JSON.stringify(line)}\n`;
  }
  return files;
}

/**
 * A git repository as credit apply reads it: `files` (the manifests) committed first, as deploy saw
 * them, then what `later` makes of that commit (credit files, and the reviews that name it as their
 * workunits' manifest commit) committed on top. Returns the repository's path.
 */
export function committedRepo(
  files: Record<string, string>,
  later: (manifestCommit: string) => Record<string, string>,
): string {
  const root = makeRepo(files);
  git(root, 'init', '--quiet', '--initial-branch=main');
  git(root, 'add', '.');
  git(root, 'commit', '--quiet', '-m', 'Manifests');
  const commit = git(root, 'rev-parse', 'HEAD');
  for (const [path, text] of Object.entries(later(commit))) writeFile(root, path, text);
  git(root, 'add', '.');
  git(root, 'commit', '--quiet', '-m', 'Results');
  return root;
}
