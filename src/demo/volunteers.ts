import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readResult, writeSpoolEntry } from '../boinc/assimilate.js';
import type { JobCreation, JobCreator, JobSpec } from '../boinc/jobs.js';
import type { SqliteBoincStore } from '../boinc/sqlite.js';
import type { WorkunitInput } from '../boinc/wu.js';
import type { Host } from '../fleet/types.js';
import { runExperiment } from '../runner/run.js';
import type { SchemaValidator } from '../schema/validate.js';

const now = () => Math.floor(Date.now() / 1000);

/** BOINC's operating system names, as a client reports them, for the demo's host rows. */
const OS_NAMES: Record<Host['os'], string> = {
  linux: 'Linux Debian',
  windows: 'Microsoft Windows 11',
  macos: 'Darwin',
};

/** Fills an empty embedded store with the fleet: a team, two volunteers, their hosts, and the app. */
export async function seedStore(store: SqliteBoincStore, hosts: readonly Host[]): Promise<boolean> {
  const [row] = (await store.query('SELECT COUNT(*) AS n FROM host')) as { n: number }[];
  if ((row?.n ?? 0) > 0) return false;
  store.insert('team', { id: 1, userid: 1, name: 'Demo team', nusers: 1, create_time: now() });
  store.insert('user', {
    id: 1,
    email_addr: 'ada@volunteer.invalid',
    name: 'Ada',
    teamid: 1,
    create_time: now(),
  });
  store.insert('user', {
    id: 2,
    email_addr: 'grace@volunteer.invalid',
    name: 'Grace',
    teamid: 0,
    create_time: now(),
  });
  hosts.forEach((host, index) => {
    store.insert('host', {
      id: host.id,
      userid: index % 2 === 0 ? 1 : 2,
      create_time: now(),
      rpc_time: now(),
      p_ncpus: host.cores,
      m_nbytes: host.memoryGb * 2 ** 30,
      os_name: OS_NAMES[host.os],
      p_fpops: 1e9,
    });
  });
  store.insert('app', { name: 'axiom', user_friendly_name: 'Axiom Lab', create_time: now() });
  return true;
}

/**
 * Creates workunits in the embedded store, the way BOINC's create_work would on a real server, and
 * keeps each wu.json where the demo's volunteers read it.
 */
export class LocalJobCreator implements JobCreator {
  constructor(
    private readonly store: SqliteBoincStore,
    private readonly inputsDir: string,
  ) {}

  async createJobs(jobs: readonly JobSpec[]): Promise<JobCreation> {
    mkdirSync(this.inputsDir, { recursive: true });
    const [app] = (await this.store.query("SELECT id FROM app WHERE name = 'axiom'")) as { id: number }[];
    for (const job of jobs) {
      writeFileSync(join(this.inputsDir, `${job.wuName}.json`), job.input);
      this.store.insert('workunit', {
        create_time: now(),
        appid: app?.id ?? 1,
        name: job.wuName,
        xml_doc: '',
        rsc_fpops_est: job.bounds.fpopsEst,
        rsc_fpops_bound: job.bounds.fpopsBound,
        rsc_memory_bound: job.bounds.memoryBound,
        rsc_disk_bound: job.bounds.diskBound,
        delay_bound: job.bounds.delayBound,
        min_quorum: 1,
        target_nresults: 1,
        max_error_results: 1,
        max_total_results: 1,
        max_success_results: 1,
        result_template_file: 'templates/axiom_out',
        transition_time: now(),
      });
    }
    return { created: jobs.map((j) => j.wuName), failed: [] };
  }
}

export interface VolunteerRun {
  workunit: string;
  host: number;
  status: string;
  elapsedSeconds: number;
}

/**
 * The demo's volunteers: every workunit without a result is run by the reference client, as many at
 * once as asked, and handed to the assimilator as BOINC would.
 */
export async function runVolunteers(options: {
  store: SqliteBoincStore;
  inputsDir: string;
  runsDir: string;
  spoolDir: string;
  python: string;
  validator: SchemaValidator;
  parallel: number;
  cpusEach: number;
  onFinished?: (run: VolunteerRun, done: number, total: number) => void;
}): Promise<VolunteerRun[]> {
  const pending = (await options.store.query(
    `SELECT w.id, w.name FROM workunit w
      WHERE (w.error_mask & 16) = 0 AND NOT EXISTS (SELECT 1 FROM result r WHERE r.workunitid = w.id) ORDER BY w.id`,
  )) as { id: number; name: string }[];
  const runs: VolunteerRun[] = [];
  let next = 0;
  const worker = async () => {
    while (next < pending.length) {
      const wu = pending[next++] as { id: number; name: string };
      const run = await runOne(wu, options);
      runs.push(run);
      options.onFinished?.(run, runs.length, pending.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.parallel) }, worker));
  return runs;
}

async function runOne(
  wu: { id: number; name: string },
  options: Parameters<typeof runVolunteers>[0],
): Promise<VolunteerRun> {
  const input = JSON.parse(readFileSync(join(options.inputsDir, `${wu.name}.json`), 'utf8')) as WorkunitInput;
  const host = Number(/_h([0-9]+)_r[0-9]+$/.exec(wu.name)?.[1]);
  const [owner] = (await options.store.query('SELECT userid FROM host WHERE id = ?', [host])) as {
    userid: number;
  }[];
  const workdir = join(options.runsDir, wu.name);
  if (existsSync(workdir)) rmSync(workdir, { recursive: true, force: true });
  const sent = now();
  const outcome = await runExperiment(
    {
      script: fileURLToPath(input.script_url),
      experiment: input.experiment,
      budgetSeconds: input.run_duration,
      seed: input.seed,
      cpus: options.cpusEach,
      params: input.params,
      wuName: wu.name,
      python: options.python,
      workdir,
    },
    options.validator,
  );
  const [app] = (await options.store.query("SELECT id FROM app WHERE name = 'axiom'")) as { id: number }[];
  const resultId = options.store.insert('result', {
    create_time: sent,
    workunitid: wu.id,
    server_state: 5,
    outcome: outcome.status === 'ok' ? 1 : 3,
    client_state: 5,
    hostid: host,
    userid: owner?.userid ?? 0,
    sent_time: sent,
    received_time: now(),
    name: `${wu.name}_0`,
    elapsed_time: outcome.elapsedSeconds,
    cpu_time: outcome.elapsedSeconds,
    appid: app?.id ?? 1,
  });
  const entry = readResult(
    {
      wuName: wu.name,
      wuId: wu.id,
      resultId,
      runtime: outcome.elapsedSeconds,
      files: [join(workdir, 'axiom_result.json')],
      hostId: host,
      userId: owner?.userid ?? 0,
    },
    new Date(),
  );
  writeSpoolEntry(options.spoolDir, entry);
  return { workunit: wu.name, host, status: outcome.status, elapsedSeconds: outcome.elapsedSeconds };
}
