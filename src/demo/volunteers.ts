import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { assimilateResult } from '../assimilate/assimilate.js';
import type { JobCreation, JobCreator, JobSpec } from '../boinc/jobs.js';
import { deployedWorkunit, type ProjectLayout, workunitInputName } from '../boinc/project.js';
import type { SqliteBoincStore } from '../boinc/sqlite.js';
import { stageInputFile } from '../boinc/stage.js';
import type { Host } from '../fleet/types.js';
import { SCHEDULER_MEMORY_SHARE } from '../manifest/fit.js';
import { runWorkunit } from '../runner/run.js';
import type { SchemaValidator } from '../schema/validate.js';
import { WorkunitName } from '../workunit/name.js';

const now = () => Math.floor(Date.now() / 1000);

/** BOINC's operating system names, as a client reports them, for the demo's host rows. */
const OS_NAMES: Record<Host['os'], string> = {
  linux: 'Linux Debian',
  windows: 'Microsoft Windows 11',
  macos: 'Darwin',
};

/** BOINC's result server_state OVER and outcomes SUCCESS / CLIENT_ERROR; validate_state VALID. */
const OVER = 5;
const SUCCESS = 1;
const CLIENT_ERROR = 3;
const VALID = 1;

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
      // BOINC's own value when the client's benchmark has not run.
      p_fpops: host.fpops ?? 1e9,
    });
  });
  store.insert('app', { name: 'axiom', user_friendly_name: 'Axiom Lab', create_time: now() });
  return true;
}

/**
 * Creates workunits in the embedded store the way BOINC's create_work does on a real server: the
 * input file staged into the download hierarchy (with its .md5), one workunit row per job.
 */
export class LocalJobCreator implements JobCreator {
  constructor(
    private readonly store: SqliteBoincStore,
    private readonly layout: ProjectLayout,
  ) {}

  async createJobs(jobs: readonly JobSpec[]): Promise<JobCreation> {
    const [app] = (await this.store.query("SELECT id FROM app WHERE name = 'axiom'")) as { id: number }[];
    for (const job of jobs) {
      stageInputFile(
        this.layout.downloadDir,
        this.layout.fanout,
        workunitInputName(job.wuName, job.input),
        job.input,
        {
          replace: true,
        },
      );
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

/**
 * result.stderr_out as a BOINC client reports it (client/cs_scheduler.cpp): the core client's
 * version, and the tail of the task's stderr in a CDATA block.
 */
function stderrOut(stderr: string, succeeded: boolean): string {
  return [
    '<core_client_version>7.20.5</core_client_version>',
    '<![CDATA[',
    ...(succeeded ? [] : ['<message>', 'process exited with code 1 (0x1, -255)</message>']),
    '<stderr_txt>',
    stderr.slice(-60_000).trimEnd(),
    '</stderr_txt>',
    ']]>',
  ].join('\n');
}

export interface VolunteerRun {
  workunit: string;
  host: number;
  status: string;
  elapsedSeconds: number;
}

/** A workunit BOINC's scheduler would not send its host, and the scheduler's reason. */
export interface UnsentWorkunit {
  workunit: string;
  host: number;
  reason: string;
}

const MEGA = 1024 * 1024;
/** What the scheduler takes a host's memory to be when it reports none (sched/sched_send.cpp). */
const DEFAULT_RAM_SIZE = 64_000_000;

/**
 * What BOINC's scheduler says of a workunit too large for its host (sched/sched_check.cpp
 * check_memory, against sched_send.cpp get_mem_sizes' usable memory): undefined when it fits.
 */
export function memoryRefusal(rscMemoryBound: number, hostBytes: number): string | undefined {
  const usable = (hostBytes > 0 ? hostBytes : DEFAULT_RAM_SIZE) * SCHEDULER_MEMORY_SHARE;
  return rscMemoryBound > usable
    ? `Axiom Lab needs ${(rscMemoryBound / MEGA).toFixed(2)} MB RAM but only ${(usable / MEGA).toFixed(2)} MB is available for use.`
    : undefined;
}

export interface VolunteerOptions {
  store: SqliteBoincStore;
  layout: ProjectLayout;
  runsDir: string;
  spoolDir: string;
  python: string;
  validator: SchemaValidator;
  /** Workunits run at once, at most. */
  parallel: number;
  /**
   * The cores the volunteers share, as a BOINC client's CPU scheduler shares a host's: a workunit
   * starts only when its cores are free (or nothing else runs), so planned times hold.
   */
  cores?: number;
  /** Cores the BOINC client grants each task (the wrapper's --nthreads); default: the workunit's own. */
  coresEach?: number;
  onFinished?: (run: VolunteerRun, done: number, total: number) => void;
  /** A workunit the scheduler would not send its host: it stays unsent, as on a real server. */
  onUnsent?: (unsent: UnsentWorkunit) => void;
}

/**
 * The demo's volunteers: every workunit without a result is run by the reference client from the
 * wu.json deploy staged, as many at once as asked; BOINC's part (a result row, the canonical result)
 * is written to the store, and the result goes through `axiom assimilate`'s own path, called as
 * BOINC's script_assimilator calls it (workunit id and files).
 */
export async function runVolunteers(options: VolunteerOptions): Promise<VolunteerRun[]> {
  const waiting = (await options.store.query(
    `SELECT w.id, w.name, w.rsc_memory_bound FROM workunit w
      WHERE (w.error_mask & 16) = 0 AND NOT EXISTS (SELECT 1 FROM result r WHERE r.workunitid = w.id) ORDER BY w.id`,
  )) as { id: number; name: string; rsc_memory_bound: number }[];
  const hostBytes = new Map(
    ((await options.store.query('SELECT id, m_nbytes FROM host')) as { id: number; m_nbytes: number }[]).map(
      (h) => [h.id, h.m_nbytes],
    ),
  );
  // The scheduler's feasibility check comes first: a workunit its host cannot hold is never sent.
  const pending = waiting.filter((wu) => {
    const host = WorkunitName.parse(wu.name)?.host ?? 0;
    const reason = memoryRefusal(wu.rsc_memory_bound, hostBytes.get(host) ?? 0);
    if (reason) options.onUnsent?.({ workunit: wu.name, host, reason });
    return reason === undefined;
  });
  const runs: VolunteerRun[] = [];
  const cores = options.cores ?? Number.POSITIVE_INFINITY;
  const asked = new Map(
    await Promise.all(
      pending.map(
        async (wu) =>
          [
            wu.name,
            await deployedWorkunit(options.store, options.layout, wu.name, options.validator),
          ] as const,
      ),
    ),
  );
  const coresOf = (wu: { name: string }) => {
    const staged = asked.get(wu.name);
    return Math.min(cores, options.coresEach ?? (!staged || 'missing' in staged ? 1 : staged.cpus));
  };
  const queue = [...pending];
  const running = new Set<Promise<void>>();
  let busy = 0;
  while (queue.length > 0 || running.size > 0) {
    // In order, the next workunit whose cores are free; with nothing running, the next one anyway.
    const index = queue.findIndex((wu) => running.size === 0 || busy + coresOf(wu) <= cores);
    if (index >= 0 && running.size < Math.max(1, options.parallel)) {
      const wu = queue.splice(index, 1)[0] as { id: number; name: string };
      const taken = coresOf(wu);
      busy += taken;
      const started: Promise<void> = runOne(wu, options).then((run) => {
        busy -= taken;
        running.delete(started);
        runs.push(run);
        options.onFinished?.(run, runs.length, pending.length);
      });
      running.add(started);
      continue;
    }
    await Promise.race(running);
  }
  return runs;
}

async function runOne(wu: { id: number; name: string }, options: VolunteerOptions): Promise<VolunteerRun> {
  const host = WorkunitName.parse(wu.name)?.host ?? 0;
  const input = await deployedWorkunit(options.store, options.layout, wu.name, options.validator);
  if ('missing' in input) throw new Error(`the demo cannot run ${wu.name}: ${input.missing}`);
  const [owner] = (await options.store.query('SELECT userid FROM host WHERE id = ?', [host])) as {
    userid: number;
  }[];
  const slot = join(options.runsDir, wu.name);
  if (existsSync(slot)) rmSync(slot, { recursive: true, force: true });
  const sent = now();
  const outcome = await runWorkunit(
    { input, python: options.python, slot, grantedCpus: options.coresEach ?? input.cpus },
    options.validator,
  );
  const [app] = (await options.store.query("SELECT id FROM app WHERE name = 'axiom'")) as { id: number }[];
  const succeeded = outcome.status === 'ok';
  const resultId = options.store.insert('result', {
    create_time: sent,
    workunitid: wu.id,
    server_state: OVER,
    outcome: succeeded ? SUCCESS : CLIENT_ERROR,
    validate_state: succeeded ? VALID : 0,
    client_state: 5,
    hostid: host,
    userid: owner?.userid ?? 0,
    sent_time: sent,
    received_time: now(),
    name: `${wu.name}_0`,
    elapsed_time: outcome.elapsedSeconds,
    cpu_time: outcome.elapsedSeconds,
    appid: app?.id ?? 1,
    exit_status: outcome.exitCode ?? 0,
    stderr_out: stderrOut(outcome.clientStderr, succeeded),
  });
  // The validator (min_quorum 1) makes the first successful result canonical; a failed task is
  // assimilated with no canonical result.
  await options.store.query(
    `UPDATE workunit SET canonical_resultid = ?, error_mask = ?, assimilate_state = 1 WHERE id = ?`,
    [succeeded ? resultId : 0, succeeded ? 0 : 2, wu.id],
  );
  await assimilateResult(
    succeeded
      ? { kind: 'result', wuId: wu.id, files: [outcome.reportFile] }
      : { kind: 'error', wuId: wu.id, wuName: wu.name, errorMask: 2, batchId: 0 },
    {
      spoolDir: options.spoolDir,
      layout: options.layout,
      store: options.store,
      validator: options.validator,
      now: new Date(),
    },
  );
  await options.store.query('UPDATE workunit SET assimilate_state = 2 WHERE id = ?', [wu.id]);
  return { workunit: wu.name, host, status: outcome.status, elapsedSeconds: outcome.elapsedSeconds };
}
