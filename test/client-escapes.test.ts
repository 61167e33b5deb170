import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEnvironment } from '../src/env/environment.js';
import { readClientReport } from '../src/envelope/report.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { renderWorkunitInput } from '../src/workunit/input.js';
import { WorkunitName } from '../src/workunit/name.js';
import { runTask, type TaskFile } from './helpers/boinc-client.js';
import { makeCertificate, StrictFileServer } from './helpers/https.js';
import { FIXTURES, REPO_ROOT, runCli } from './helpers/repo.js';
import { type Account, volunteerAccount } from './helpers/volunteer-account.js';

// What a script leaves behind is hostile to the client that runs around the sandbox with the
// volunteer's rights. Every script of this corpus runs four ways: through `axiom run` and through
// the client laid out in a BOINC slot (test/helpers/boinc-client.ts) with a preemption and a restart
// in the same slot in between, each as root and as an unprivileged account like BOINC's `boinc`, on
// real bubblewrap. Planted around it is what an attacker looks for; the test asserts none of it
// reaches anything uploaded or shown, nothing outside the working directory changes, the client
// neither hangs nor crashes, and memory, processes and disk stay within their caps.

const python = readEnvironment(process.env, process.cwd()).python;
const CORPUS = join(FIXTURES, 'client-escapes');
const WRAPPER = join(REPO_ROOT, 'test/fixtures/boinc/wrapper.mjs');
const tag = () => randomBytes(8).toString('hex');
const SECRETS = {
  authenticator: `auth-${tag()}`,
  rpcPassword: `rpc-${tag()}`,
  otherSlot: `slot1-${tag()}`,
  environment: `sk-ant-${tag()}`,
  pythonPath: `pythonpath-${tag()}`,
  bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
  cmdline: readFileSync('/proc/cmdline', 'utf8').trim(),
  passwd: readFileSync('/etc/passwd', 'utf8').split('\n')[0] as string,
};
// Generous: the scripts end long before, or are stopped by a cap; only a hang would reach it.
const BUDGET = 15;
const CPUS = 2;
const PROCESS_CAP = 64 + 8 * CPUS;
const DISK_CAP_MB = 512;
const MARKER_PLACES = ['/tmp', '/var/tmp', '/dev/shm', '/root'];

interface Case {
  name: string;
  category: string;
  expect: string;
  reason?: RegExp;
}

function corpus(): Case[] {
  return readdirSync(CORPUS)
    .filter((f) => f.endsWith('.py'))
    .sort()
    .map((file) => {
      const text = readFileSync(join(CORPUS, file), 'utf8');
      const reason = /^# reason: (.+)$/m.exec(text)?.[1];
      return {
        name: file.slice(0, -3),
        category: /^# escape: (\S+)/m.exec(text)?.[1] ?? '?',
        expect: /^# expect: (\S+)/m.exec(text)?.[1] ?? '?',
        ...(reason ? { reason: new RegExp(reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) } : {}),
      };
    });
}

const certificate = makeCertificate();
const server = new StrictFileServer(certificate);
const validator = new SchemaValidator();
let shared: string;
let versionDir: string;
let account: Account | undefined;

beforeAll(async () => {
  await server.start();
  account = volunteerAccount();
  shared = mkdtempSync(join(tmpdir(), 'axiom-client-escapes-'));
  chmodSync(shared, 0o755);
  // The interpreter itself, copied as the app ships its runtime: it then lives in BOINC's project
  // directory, a host path the sandbox must not show (sys.executable, /proc/self/exe, mount table).
  const runtime = join(shared, 'axiom_python');
  copyFileSync(realpathSync(python), runtime);
  chmodSync(runtime, 0o755);
  const app = await runCli(
    [
      'app',
      '--version',
      '101',
      '--wrapper',
      WRAPPER,
      '--runtime',
      runtime,
      '--out',
      join(shared, 'apps'),
      '--json',
    ],
    { cwd: shared },
  );
  expect(app.code, app.stderr).toBe(0);
  versionDir = JSON.parse(app.stdout).directory;
  copyFileSync(certificate.certFile, join(shared, 'cert.pem'));
  spawnSync('chmod', ['-R', 'a+rX', shared]);
});
afterAll(async () => {
  await server.stop();
  certificate.cleanup();
  rmSync(shared, { recursive: true, force: true });
});

/** A volunteer's computer with what an attacker would look for, around one task. */
function plantedHost(): { root: string; boinc: string; pythonPath: string } {
  const root = mkdtempSync(join(tmpdir(), 'axiom-escape-host-'));
  chmodSync(root, 0o755);
  const boinc = join(root, 'boinc');
  mkdirSync(join(boinc, 'slots', '1'), { recursive: true });
  // BOINC's GUI RPC password beside the slots (client/gui_rpc_server.cpp reads gui_rpc_auth.cfg) and
  // another project's slot.
  writeFileSync(join(boinc, 'gui_rpc_auth.cfg'), `${SECRETS.rpcPassword}\n`);
  writeFileSync(join(boinc, 'slots', '1', 'secret.txt'), `${SECRETS.otherSlot}\n`);
  const pythonPath = join(root, 'pythonpath');
  mkdirSync(pythonPath);
  writeFileSync(join(pythonPath, 'axiom_pythonpath_secret.py'), `TOKEN = "${SECRETS.pythonPath}"\n`);
  return { root, boinc, pythonPath };
}

/** What BOINC's client writes into init_data.xml at every start (lib/app_ipc.cpp write_init_data_file). */
const INIT_DATA = `<app_init_data>
<major_version>7</major_version>
<user_name>volunteer</user_name>
<authenticator>${SECRETS.authenticator}</authenticator>
<project_dir>/var/lib/boinc-client/projects/project</project_dir>
</app_init_data>
`;

function clientEnv(pythonPath: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    SSL_CERT_FILE: join(shared, 'cert.pem'),
    ANTHROPIC_API_KEY: SECRETS.environment,
    PYTHONPATH: pythonPath,
  };
}

/** Every file below `dir` with its content's hash, except below the paths `skip`. */
function snapshot(dir: string, skip: string[]): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (path: string) => {
    if (skip.includes(path)) return;
    const info = lstatSync(path);
    if (info.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
    else
      files.set(
        path,
        info.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex') : `mode ${info.mode}`,
      );
  };
  walk(dir);
  return files;
}

function markers(root: string): string[] {
  const found: string[] = [];
  const look = (dir: string, deep: boolean) => {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry);
      if (entry.startsWith('axiom-escaped-')) found.push(path);
      else if (deep && lstatSync(path).isDirectory()) look(path, true);
    }
  };
  for (const place of MARKER_PLACES) look(place, false);
  look(root, true);
  return found;
}

interface Outcome {
  how: string;
  status: string;
  message: string;
  /** Everything shown or uploaded (reports, stderr_out, the CLI's output). */
  shown: string;
  /** What came from the script: envelope, its output's tail, the client's message. */
  fromScript: string;
  stderrTail: string;
  peakMemoryMb?: number;
  memoryMb: number;
  seconds: number;
  starts?: number;
  crashed: boolean;
  changed: string[];
  markers: string[];
  root: string;
}

function changedFiles(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => before.get(k) !== after.get(k));
}

const whoLabel = (who: Account | undefined) =>
  who ? `the unprivileged account ${who.name}` : process.getuid?.() === 0 ? 'root' : 'the test user';

function own(root: string, who: Account | undefined): void {
  if (who) spawnSync('chown', ['-R', `${who.uid}:${who.gid}`, root]);
}

async function throughBoinc(c: Case, who: Account | undefined, label: string): Promise<Outcome> {
  const host = plantedHost();
  const script = readFileSync(join(CORPUS, `${c.name}.py`));
  const sha = createHash('sha256').update(script).digest('hex');
  const wuName = WorkunitName.format({ experiment: c.name, scriptSha: sha, host: 7, replica: 0 });
  const url = server.expect(`/escapes/${label}/${c.name}-${sha.slice(0, 12)}.py`, script);
  const wu = join(host.root, 'wu.json');
  writeFileSync(
    wu,
    renderWorkunitInput(
      {
        mode: 'experiment',
        experiment: c.name,
        wu_name: wuName,
        script_url: url,
        script_sha256: sha,
        run_duration: BUDGET,
        seed: 3,
        params: {},
        cpus: CPUS,
        memory_gb: 1,
      },
      validator,
    ),
  );
  const inputs: TaskFile[] = [{ open_name: 'wu.json', physical: `${wuName}.json`, copy: true, source: wu }];
  const outputs: TaskFile[] = [{ open_name: 'axiom_result.json', physical: `${wuName}_r0_0`, copy: true }];
  const slot = join(host.boinc, 'slots', '0');
  const before = snapshot(host.root, [slot, join(host.boinc, 'projects')]);
  own(host.root, who);
  const started = Date.now();
  const task = await runTask({
    root: host.boinc,
    versionDir,
    inputs,
    outputs,
    nthreads: CPUS,
    env: clientEnv(host.pythonPath),
    ...(who ? { account: who } : {}),
    preemptAfterMs: 1000,
    initData: INIT_DATA,
  });
  const seconds = (Date.now() - started) / 1000;
  const uploadedPath = task.uploaded[outputs[0]?.physical as string];
  const uploaded = uploadedPath ? readFileSync(uploadedPath) : Buffer.from('');
  const read = readClientReport(uploaded);
  const report = 'report' in read ? read.report : undefined;
  return {
    how: `a BOINC slot as ${whoLabel(who)}`,
    status: report?.status ?? `unreadable upload (${'reason' in read ? read.reason : ''})`,
    message: report?.message ?? '',
    shown: `${uploaded.toString('latin1')}\n${task.stderrOut}`,
    fromScript: JSON.stringify([report?.envelope, report?.stderrTail, report?.message]),
    stderrTail: report?.stderrTail ?? '',
    ...(report?.peakMemoryMb !== undefined ? { peakMemoryMb: report.peakMemoryMb } : {}),
    memoryMb: 1024,
    seconds,
    starts: task.starts,
    crashed: /Traceback|Error:/.test(task.stderrOut.replace(/axiom-report: .*/g, '')) || !report,
    changed: changedFiles(before, snapshot(host.root, [slot, join(host.boinc, 'projects')])),
    markers: markers(host.root),
    root: host.root,
  };
}

async function throughAxiomRun(c: Case, who: Account | undefined): Promise<Outcome> {
  const host = plantedHost();
  const script = join(host.root, `${c.name}.py`);
  copyFileSync(join(CORPUS, `${c.name}.py`), script);
  const out = join(host.root, 'out');
  const before = snapshot(host.root, [out]);
  own(host.root, who);
  const started = Date.now();
  const args = [
    join(REPO_ROOT, 'bin/axiom.js'),
    'run',
    script,
    '--skip-policy',
    '--json',
    '--quiet',
    '--budget',
    String(BUDGET),
    '--cpus',
    String(CPUS),
    '--out',
    out,
  ];
  const env = { ...clientEnv(host.pythonPath), AXIOM_PYTHON: python, HOME: host.root };
  const ran = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, args, { cwd: host.root, env, ...(who ?? {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  const seconds = (Date.now() - started) / 1000;
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(ran.stdout);
  } catch {}
  return {
    how: `axiom run as ${whoLabel(who)}`,
    status: typeof parsed.status === 'string' ? parsed.status : `no JSON (exit ${ran.code}): ${ran.stderr}`,
    message: String(parsed.message ?? ''),
    shown: `${ran.stdout}\n${ran.stderr}`,
    fromScript: JSON.stringify([parsed.envelope, parsed.stderrTail, parsed.message]),
    stderrTail: String(parsed.stderrTail ?? ''),
    ...(typeof parsed.peakMemoryMb === 'number' ? { peakMemoryMb: parsed.peakMemoryMb } : {}),
    memoryMb: 2048,
    seconds,
    crashed: ![0, 1].includes(ran.code ?? -1) || /Traceback/.test(ran.stderr),
    changed: changedFiles(before, snapshot(host.root, [out])),
    markers: markers(host.root),
    root: host.root,
  };
}

/** The most a script said it held of `what` in its output (lines `<what> N`). */
function mostSaid(tail: string, what: string): number {
  const values = [...tail.matchAll(new RegExp(`^${what} (\\d+)`, 'gm'))].map((m) => Number(m[1]));
  return values.length > 0 ? Math.max(...values) : 0;
}

/** What each script must find refused, or held within the caps, in its own report. */
const WITHIN_CAPS: Record<string, (o: Outcome) => void> = {
  resources_memory: (o) => {
    expect(o.stderrTail).toMatch(/memfd: Operation not permitted/);
    expect(o.stderrTail).toMatch(/shmget -1 errno 1\b/);
    expect(o.stderrTail).toMatch(/\/hog: Read-only file system/);
    expect(o.stderrTail).toMatch(/\/dev\/hog: Read-only file system/);
    expect(mostSaid(o.stderrTail, 'held-mb /dev/shm')).toBeLessThanOrEqual(o.memoryMb);
    expect(mostSaid(o.stderrTail, 'held-mb \\.')).toBeLessThanOrEqual(DISK_CAP_MB);
    expect(o.peakMemoryMb ?? 0).toBeGreaterThan(o.memoryMb);
    expect(o.peakMemoryMb ?? 0).toBeLessThan(o.memoryMb + DISK_CAP_MB + 256);
  },
  resources_processes: (o) => {
    const [, forked, threads] = /processes (\d+) threads (\d+)/.exec(o.stderrTail) ?? [];
    expect(Number(forked) + Number(threads) + 1).toBeLessThanOrEqual(PROCESS_CAP);
  },
  resources_disk: (o) => {
    expect(mostSaid(o.stderrTail, 'disk-mb')).toBeLessThanOrEqual(DISK_CAP_MB);
    expect(o.stderrTail).toMatch(/disk: No space left on device/);
    expect(mostSaid(o.stderrTail, 'files')).toBeLessThan(60_000);
  },
  resources_hidden_memory: (o) => {
    for (const what of ['affinity', 'shared-anonymous', 'dumpable'])
      expect(o.stderrTail).toMatch(new RegExp(`^${what}: refused 1$`, 'm'));
    expect(o.stderrTail).toMatch(/^dev-zero: refused \d+$/m);
    for (const what of ['socketpair', 'socket'])
      expect(o.stderrTail).toMatch(new RegExp(`^${what}: refused 97$`, 'm'));
    // 600 MB held by a thread after the first one ended: counted, not lost.
    expect(mostSaid(o.stderrTail, 'held-mb')).toBe(600);
    expect(o.peakMemoryMb ?? 0).toBeGreaterThan(600);
  },
  host_snoop: (o) => {
    for (const family of [40, 16, 17, 38]) expect(o.stderrTail).toContain(`socket ${family}: `);
    expect(o.stderrTail).toMatch(/io_uring -1 errno 1\b/);
  },
};

/**
 * Processes of a script still alive once the client has reported: the interpreter whose command line
 * names it. (A bubblewrap killed by a preemption in the first milliseconds of its setup can leave its
 * sandbox's first process waiting for it forever, before anything of the script has started: a race
 * in bubblewrap itself, which sets that process's parent-death signal only later. docs/security.md.)
 */
async function survivors(name: string): Promise<string[]> {
  for (let tries = 0; tries < 25 && running(name).length > 0; tries++)
    await new Promise((resolve) => setTimeout(resolve, 200));
  return running(name);
}

function running(name: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const program = command.split('\0')[0] ?? '';
      if (command.includes(`/axiom/work/${name}.py`) && !program.endsWith('bwrap'))
        found.push(`${pid}: ${command.replace(/\0/g, ' ')}`);
    } catch {}
  }
  return found;
}

function assertHeld(c: Case, o: Outcome): void {
  const where = `${c.name} through ${o.how}`;
  expect({ where, status: o.status }).toEqual({ where, status: c.expect });
  if (c.reason) expect(o.message, where).toMatch(c.reason);
  expect({ where, crashed: o.crashed, hung: o.seconds > BUDGET + 25 }).toEqual({
    where,
    crashed: false,
    hung: false,
  });
  if (o.starts !== undefined) expect({ where, starts: o.starts }).toEqual({ where, starts: 2 });
  const leaked = Object.entries(SECRETS).filter(([, secret]) => o.shown.includes(secret));
  expect({ where, leaked: leaked.map(([k]) => k) }).toEqual({ where, leaked: [] });
  const hostPath = [o.root, shared].some((place) => o.fromScript.includes(place));
  expect({ where, hostPath }).toEqual({ where, hostPath: false });
  expect({ where, changed: o.changed, markers: o.markers }).toEqual({ where, changed: [], markers: [] });
  WITHIN_CAPS[c.name]?.(o);
  expect(o.shown, where).not.toContain('FORGED-REPORT-LINE"}\n');
}

describe('the client treats what a script leaves behind as hostile, through axiom run and a BOINC slot with a restart', () => {
  const cases = corpus();

  it('has at least one attempt of every category', () => {
    expect([...new Set(cases.map((c) => c.category))].sort()).toEqual([
      'failures',
      'ground',
      'host',
      'imports',
      'resources',
    ]);
  });

  it.each(cases.map((c) => [c.name, c.category, c] as const))(
    '%s (%s): nothing escapes, as root and as an unprivileged account',
    async (_name, _category, c) => {
      const who = account;
      const root = process.getuid?.() === 0;
      const runs = await Promise.all([
        throughAxiomRun(c, who),
        throughBoinc(c, who, 'account'),
        ...(root && who ? [throughAxiomRun(c, undefined), throughBoinc(c, undefined, 'root')] : []),
      ]);
      try {
        for (const run of runs) assertHeld(c, run);
        expect({ case: c.name, stillRunning: await survivors(c.name) }).toEqual({
          case: c.name,
          stillRunning: [],
        });
      } finally {
        for (const run of runs) rmSync(run.root, { recursive: true, force: true });
      }
    },
    90_000,
  );

  it('shows no control character a script wrote: axiom run prints its summary as plain text', async () => {
    const host = plantedHost();
    try {
      const script = join(host.root, 'terminal_escape.py');
      writeFileSync(
        script,
        [
          'import json, os',
          '# OSC 0 sets the title, OSC 52 writes the clipboard, CSI 2J clears the screen (second round of attacks)',
          'summary = "\\x1b]0;title\\x07\\x1b]52;c;cm0gLXJmIH4K\\x07\\x1b[2Jdone"',
          'json.dump({"experiment": "terminal_escape", "version": "1", "status": "ok", "seed": int(os.environ["AXIOM_SEED"]),',
          '           "params": {}, "budget_seconds": 8.0, "elapsed_seconds": 1.0, "metrics": {"x": 1}, "series": {},',
          '           "summary": summary}, open("experiment_result.json", "w"))',
          '',
        ].join('\n'),
      );
      // Escapes where the envelope fails validation, which axiom run quotes in its problem lines (third
      // round of attacks): an invalid key, enum value and name.
      const invalid = join(host.root, 'envelope_escape.py');
      writeFileSync(
        invalid,
        [
          'import json, os',
          'e = "\\x1b]52;c;cm0gLXJmIH4K\\x07\\x1b[2J\\u202e"',
          'json.dump({"experiment": "envelope_escape" + e, "version": e, "status": "ok" + e, "seed": int(os.environ["AXIOM_SEED"]),',
          '           "params": {e: 1}, "budget_seconds": 8.0, "elapsed_seconds": 1.0, "metrics": {e: 1}, "series": {},',
          '           "summary": "s", e: e}, open("experiment_result.json", "w"))',
          '',
        ].join('\n'),
      );
      const [shown, problems] = await Promise.all(
        [script, invalid].map((file) =>
          runCli(['run', file, '--skip-policy', '--budget', '8', '--quiet'], { cwd: host.root }),
        ),
      );
      expect(shown?.stdout, shown?.stderr).toContain('done');
      expect(shown?.stdout).not.toMatch(/\p{Cc}(?<!\n)/u);
      expect(problems?.stdout, problems?.stderr).toContain('unknown key');
      expect(`${problems?.stdout}${problems?.stderr}`).not.toMatch(/[\p{Cc}\p{Cf}](?<!\n)/u);
    } finally {
      rmSync(host.root, { recursive: true, force: true });
    }
  });

  it('never changes a mode through a link when --keep enters a directory the script made unsearchable', () => {
    // The race of the third round of attacks, made certain: the entry is a directory without search
    // permission when the copy opens it, and a link to a file of the client's user when it recovers.
    const place = mkdtempSync(join(tmpdir(), 'axiom-keep-race-'));
    try {
      const victim = join(place, 'victim.txt');
      writeFileSync(victim, 'host file\n');
      chmodSync(victim, 0o644);
      const code = [
        'import os, sys',
        `sys.path.insert(0, ${JSON.stringify(join(REPO_ROOT, 'scripts'))})`,
        'import axiom_client as client',
        `place, victim = ${JSON.stringify(place)}, ${JSON.stringify(victim)}`,
        'os.mkdir(os.path.join(place, "work")); os.mkdir(os.path.join(place, "work", "z"))',
        'parent = os.open(os.path.join(place, "work"), os.O_RDONLY | os.O_DIRECTORY)',
        'real_open = os.open',
        'def racing_open(path, flags, *args, **kwargs):',
        '    if path == "z" and not os.path.islink(os.path.join(place, "work", "z")):',
        '        os.rmdir("z", dir_fd=parent); os.symlink(victim, "z", dir_fd=parent)',
        '        raise PermissionError(13, "Permission denied")',
        '    return real_open(path, flags, *args, **kwargs)',
        'client.os.open = racing_open',
        'try:',
        '    client._enter(parent, "z")',
        '    print("entered")',
        'except OSError as error:',
        '    print("refused", error.errno)',
      ].join('\n');
      const ran = spawnSync(python, ['-I', '-c', code], { encoding: 'utf8' });
      expect(ran.stdout.trim(), ran.stderr).toMatch(/^refused \d+$/);
      expect(lstatSync(victim).mode & 0o777).toBe(0o644);
    } finally {
      rmSync(place, { recursive: true, force: true });
    }
  });

  it('leaves nothing it was not asked for: every download was expected', () => {
    expect(server.unmet().unexpected).toEqual([]);
  });
});
