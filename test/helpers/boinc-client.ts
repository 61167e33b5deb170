// A stand-in for how the BOINC client (Debian boinc-client 7.20.5; BOINC's client/ at its 8.3
// development head) runs one task of an app version and what it reports to the project. Sources:
// - slot setup (client/app_start.cpp setup_slot_dir, setup_file, client/file_names.cpp
//   make_soft_link): a file with <copy_file/> is copied into the slot under its open/logical name; any
//   other file gets a link file there holding `<soft_link>../../projects/PROJECT/PHYSICAL</soft_link>`;
//   then `boinc_setup_complete` is written, and a later start of the same task finds it and sets up
//   nothing: a restart runs in the slot exactly as the last start left it;
// - every start writes the slot's init_data.xml (app_start.cpp write_app_init_file; lib/app_ipc.cpp
//   write_init_data_file), which holds the account's <authenticator> among much else;
// - preemption (client/app_control.cpp ACTIVE_TASK::preempt, kill_running_task): with "leave
//   applications in memory" off the client asks the app to quit and kills it, with its descendants
//   (lib/proc_control.cpp kill_descendants), when it has not; the task later starts again in its slot;
// - the client runs as its own account (Debian's boinc-client: user boinc), and so does every app;
// - the command line (app_start.cpp): the workunit's command line, then the plan class's
//   (`--nthreads N` for an mt plan class with <nthreads_cmdline/>); the main program runs in the slot;
// - exit (client/app_control.cpp handle_exited_app): a non-zero status is a compute error
//   ("process exited with code N"); status 0 counts only with the finish file `boinc_finish_called`
//   (finish_file_present); without it the task exited prematurely: "exited with zero status but no
//   'finished' file", restarted, and after 100 of them aborted with "too many exit(0)s"
//   (handle_premature_exit);
// - stderr (read_stderr_file, client_state.cpp report_result_error): result.stderr_out is the error
//   <message> if any, then the last 63 KiB of the slot's stderr.txt inside <stderr_txt>;
// - output files (client/cs_apps.cpp app_finished): every output file that exists is uploaded, a
//   failed task's too (7.20.5 did upload a failed task's axiom_result.json against our project);
//   <copy_file/> outputs are copied back from the slot first. The project then sees no canonical
//   result for a failed workunit, so its assimilator gets the error mask and the stderr only.
// Not modelled: scheduling, checkpoints, the quit message itself (the app is killed at once), time and
// disk limits, the heartbeat.
import { spawn } from 'node:child_process';
import {
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

const MAX_PREMATURE_EXITS = 100;
const STDERR_MAX = 63 * 1024;

/** version.xml's <file> entries, as tools/update_versions reads them. */
export interface VersionFile {
  physical: string;
  logical: string;
  main: boolean;
  copy: boolean;
}

/** A file of a workunit or result as its template names it. */
export interface TaskFile {
  open_name: string;
  physical: string;
  copy: boolean;
  /** Input files: the file the project serves. */
  source?: string;
}

export interface TaskReport {
  outcome: 'success' | 'compute_error' | 'aborted';
  exitStatus: number;
  stderrOut: string;
  /** Output files uploaded: physical name → path. */
  uploaded: Record<string, string>;
  starts: number;
  /** The client's event log lines for the task. */
  log: string[];
}

export function readVersionXml(text: string): VersionFile[] {
  return [...text.matchAll(/<file>([\s\S]*?)<\/file>/g)].map((m) => {
    const body = m[1] ?? '';
    const physical = /<physical_name>([^<]+)<\/physical_name>/.exec(body)?.[1];
    if (!physical) throw new Error('version.xml: a <file> without <physical_name>');
    return {
      physical,
      logical: /<logical_name>([^<]+)<\/logical_name>/.exec(body)?.[1] ?? physical,
      main: body.includes('<main_program/>'),
      copy: body.includes('<copy_file/>'),
    };
  });
}

/**
 * Runs one task. `root` is the client's data directory; `versionDir` an app version directory as
 * update_versions installs it; `inputs` and `outputs` are {open_name, physical, copy} as the
 * workunit's and result's templates give them; `inputs[].source` is the file the project serves.
 * Returns what the client reports: outcome (success | compute_error | aborted), exit status,
 * stderr_out, the uploaded output files (physical name → path), and the number of starts.
 */
export async function runTask({
  root,
  versionDir,
  inputs = [],
  outputs = [],
  commandLine = '',
  nthreads = 1,
  env = process.env,
  maxPrematureExits = MAX_PREMATURE_EXITS,
  account,
  preemptAfterMs,
  initData = '<app_init_data>\n</app_init_data>\n',
}: {
  root: string;
  versionDir: string;
  inputs?: TaskFile[];
  outputs?: TaskFile[];
  commandLine?: string;
  nthreads?: number;
  env?: NodeJS.ProcessEnv;
  /** 100 in the client; a test may stop sooner. */
  maxPrematureExits?: number;
  /** The account the client and its apps run as (the client's own when not given). */
  account?: { uid: number; gid: number };
  /** Preempt the first start after this long: kill it and its descendants, then start it again. */
  preemptAfterMs?: number;
  /** init_data.xml as the client writes it at every start. */
  initData?: string;
}): Promise<TaskReport> {
  const projectDir = join(root, 'projects', 'project');
  const slot = join(root, 'slots', '0');
  mkdirSync(projectDir, { recursive: true });
  const files = readVersionXml(readFileSync(join(versionDir, 'version.xml'), 'utf8'));
  const main = files.filter((f) => f.main);
  if (main.length !== 1) throw new Error(`version.xml: ${main.length} main programs; the client needs one`);
  for (const f of files) copyFileSync(join(versionDir, f.physical), join(projectDir, f.physical));
  for (const f of inputs) {
    if (!f.source) throw new Error(`input ${f.open_name}: no source file`);
    copyFileSync(f.source, join(projectDir, f.physical));
  }

  const messages: string[] = [];
  const log: string[] = [];
  let starts = 0;
  let status = 0;
  let prematureExits = 0;
  // A new task gets a clean slot, as client_clean_out_dir leaves it; its restarts do not.
  rmSync(slot, { recursive: true, force: true });
  mkdirSync(slot, { recursive: true });
  for (;;) {
    if (!existsSync(join(slot, 'boinc_setup_complete'))) {
      const link = (f: { physical: string; logical: string; copy: boolean }) => {
        const target = join(slot, f.logical);
        if (f.copy) copyFileSync(join(projectDir, f.physical), target);
        else writeFileSync(target, `<soft_link>../../projects/project/${f.physical}</soft_link>\n`);
      };
      for (const f of files) link(f);
      for (const f of inputs) link({ ...f, logical: f.open_name });
      for (const f of outputs.filter((o) => !o.copy))
        writeFileSync(
          join(slot, f.open_name),
          `<soft_link>../../projects/project/${f.physical}</soft_link>\n`,
        );
      writeFileSync(join(slot, 'boinc_setup_complete'), '');
    }
    writeFileSync(join(slot, 'init_data.xml'), initData);
    if (account) chownTree(root, account);
    const argv = `${commandLine} --nthreads ${nthreads}`.split(/\s+/).filter(Boolean);
    const stderrPath = join(slot, 'stderr.txt');
    starts += 1;
    // Asynchronously, so that a server in this process can answer the task. boinc_init_diagnostics
    // sends the app's stderr to stderr.txt; the stand-in writes it there.
    const preempt = starts === 1 ? preemptAfterMs : undefined;
    const run = await new Promise<{ status: number | null; stderr: Buffer; preempted: boolean }>(
      (done, fail) => {
        const chunks: Buffer[] = [];
        const child = spawn(join(projectDir, (main[0] as VersionFile).physical), argv, {
          cwd: slot,
          env,
          stdio: ['ignore', 'ignore', 'pipe'],
          ...(account ?? {}),
        });
        let preempted = false;
        const timer =
          preempt === undefined
            ? undefined
            : setTimeout(() => {
                preempted = true;
                killWithDescendants(child.pid as number);
              }, preempt);
        child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
        child.on('error', fail);
        child.on('close', (code) => {
          clearTimeout(timer);
          done({ status: code, stderr: Buffer.concat(chunks), preempted });
        });
      },
    );
    writeFileSync(stderrPath, run.stderr, { flag: 'a' });
    if (run.preempted) {
      log.push('task preempted: killed, to be restarted in its slot');
      continue;
    }
    status = run.status ?? 1;
    if (status !== 0) {
      messages.push(`process exited with code ${status} (0x${status.toString(16)}, ${~0xff | status})`);
      return report('compute_error');
    }
    if (existsSync(join(slot, 'boinc_finish_called'))) return report('success');
    log.push("exited with zero status but no 'finished' file");
    prematureExits += 1;
    if (prematureExits > maxPrematureExits) {
      messages.push('too many exit(0)s');
      return report('aborted');
    }
  }

  function report(outcome: TaskReport['outcome']): TaskReport {
    const stderrFile = join(slot, 'stderr.txt');
    const stderrText = existsSync(stderrFile) ? readFileSync(stderrFile, 'latin1') : '';
    const stderrOut =
      messages.map((m) => `<message>\n${m}</message>\n`).join('') +
      `<stderr_txt>\n${stderrText.slice(-STDERR_MAX)}\n</stderr_txt>\n`;
    const uploaded: Record<string, string> = {};
    if (outcome !== 'aborted') {
      for (const f of outputs) {
        const inProject = join(projectDir, f.physical);
        if (f.copy && existsSync(join(slot, f.open_name))) copyFileSync(join(slot, f.open_name), inProject);
        if (existsSync(inProject) && statSync(inProject).isFile()) uploaded[f.physical] = inProject;
      }
    }
    return { outcome, exitStatus: status, stderrOut, uploaded, starts, log };
  }
}

/** A process's descendants, from each thread's /proc children list, before any of them is killed. */
function descendantsOf(pid: number): number[] {
  const found: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const next = frontier.pop() as number;
    let threads: string[] = [];
    try {
      threads = readdirSync(`/proc/${next}/task`);
    } catch {
      continue;
    }
    for (const tid of threads) {
      try {
        const children = readFileSync(`/proc/${next}/task/${tid}/children`, 'ascii')
          .split(/\s+/)
          .filter(Boolean)
          .map(Number);
        found.push(...children);
        frontier.push(...children);
      } catch {}
    }
  }
  return found;
}

/** What the client does to an app that has not quit: SIGKILL to it and all it started. */
function killWithDescendants(pid: number): void {
  for (const target of [pid, ...descendantsOf(pid)]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {}
  }
}

/** Hands the data directory to the account the client runs as, as its installation does. */
function chownTree(path: string, account: { uid: number; gid: number }): void {
  chownSync(path, account.uid, account.gid);
  if (!statSync(path).isDirectory()) return;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) chownTree(child, account);
    else chownSync(child, account.uid, account.gid);
  }
}
