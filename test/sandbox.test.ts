import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEnvironment } from '../src/env/environment.js';
import { CLIENT_SCRIPT } from '../src/runner/run.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { renderWorkunitInput } from '../src/workunit/input.js';
import { WorkunitName } from '../src/workunit/name.js';
import { ESCAPES, escapeCorpus } from './helpers/escapes.js';
import { REPO_ROOT } from './helpers/repo.js';

// Every escape attempt runs through the real client with no static policy in the way, inside real
// bubblewrap, and the test looks outside for what it tried: marker files, a connection to a listener,
// a socket left listening, a process still alive, a secret of this process's environment.
const python = readEnvironment(process.env, process.cwd()).python;
const validator = new SchemaValidator();
const LISTENER_PORT = 47391;
const SECRET = `sk-ant-escape-${randomBytes(8).toString('hex')}`;
const DB_PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const MARKER_PLACES = ['/tmp', '/root', '/dev/shm', '/var/tmp'];

let listener: Server;
const connections: string[] = [];

beforeAll(async () => {
  listener = createServer((socket) => {
    connections.push(`${socket.remoteAddress}:${socket.remotePort}`);
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(LISTENER_PORT, '127.0.0.1', resolve));
});
afterAll(async () => {
  await new Promise<void>((resolve) => listener.close(() => resolve()));
});

/** Listening TCP ports on this host, from the kernel's own tables. */
function listeningPorts(): Set<string> {
  const ports = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === '0A') ports.add(fields[1] as string); // 0A: LISTEN
    }
  }
  return ports;
}

/** Processes anywhere on this host that carry the workunit's name in their environment. */
function processesOf(wuName: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
        return readFileSync(`/proc/${p}/environ`).includes(`AXIOM_WU_NAME=${wuName}`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function markersAnywhere(name: string, root: string): string[] {
  const found: string[] = [];
  const look = (dir: string, deep: boolean) => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry);
      if (entry.startsWith('axiom-escaped-') && entry.includes(name)) found.push(path);
      else if (deep && statSync(path, { throwIfNoEntry: false })?.isDirectory() && !path.endsWith('/run'))
        look(path, true);
    }
  };
  for (const place of MARKER_PLACES) look(place, false);
  look(root, true);
  return found;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [],
  );
}

interface Outcome {
  report: Record<string, unknown>;
  code: number | null;
  root: string;
  wuName: string;
  workdir: string;
}

/** Runs one script through the reference client, the way a volunteer's computer does. */
async function runThroughClient(
  scriptFile: string,
  options: { env?: NodeJS.ProcessEnv; extraArgs?: string[]; budget?: number } = {},
): Promise<Outcome> {
  const root = mkdtempSync(join(tmpdir(), 'axiom-escape-'));
  // As on a volunteer's computer, the slot directory can be reached by the user the task runs as
  // (nobody, when this test runs as root).
  chmodSync(root, 0o711);
  const name = scriptFile.replace(/^.*\//, '').replace(/\.py$/, '');
  const script = join(root, `${name}.py`);
  copyFileSync(scriptFile, script);
  const sha = createHash('sha256').update(readFileSync(script)).digest('hex');
  const wuName = WorkunitName.format({ experiment: name, scriptSha: sha, host: 0, replica: 0 });
  const slot = join(root, 'slot');
  mkdirSync(slot);
  writeFileSync(
    join(slot, 'wu.json'),
    renderWorkunitInput(
      {
        mode: 'experiment',
        experiment: name,
        wu_name: wuName,
        script_url: pathToFileURL(script).href,
        script_sha256: sha,
        run_duration: options.budget ?? 6,
        seed: 1,
        params: {},
        cpus: 2,
        memory_gb: 1,
      },
      validator,
    ),
  );
  const env = {
    PATH: process.env.PATH,
    ANTHROPIC_API_KEY: SECRET,
    AXIOM_DB_URL: `mysql://boinc:${DB_PASSWORD}@127.0.0.1:3306/boinc`,
    ...options.env,
  };
  const args = [
    CLIENT_SCRIPT,
    '--wu',
    'wu.json',
    '--out',
    'report.json',
    '--workdir',
    'run',
    '--allow-file-urls',
    '--grace',
    '1',
    '--kill-after',
    '1',
    '--keep',
    ...(options.extraArgs ?? ['--require-sandbox']),
  ];
  const code = await new Promise<number | null>((resolve) =>
    spawn(python, args, { cwd: slot, env, stdio: 'ignore' }).on('close', resolve),
  );
  const reportFile = join(slot, 'report.json');
  const report = existsSync(reportFile) ? JSON.parse(readFileSync(reportFile, 'utf8')) : {};
  return { report, code, root, wuName, workdir: join(slot, 'run') };
}

describe('the sandbox holds against every escape attempt of the corpus, with the policy skipped', () => {
  const corpus = escapeCorpus();

  it('has attempts of every category the threat model names', () => {
    const categories = new Set(corpus.map((e) => e.category));
    expect([...categories].sort()).toEqual([
      'files',
      'leftovers',
      'native',
      'network',
      'process',
      'resources',
      'secrets',
    ]);
    expect(corpus.length).toBeGreaterThanOrEqual(50);
  });

  it.each(corpus.map((e) => [e.name, e.category]))(
    '%s (%s): nothing happens outside',
    async (name) => {
      const before = listeningPorts();
      const connected = connections.length;
      const run = await runThroughClient(join(ESCAPES, `${name}.py`));
      try {
        expect(run.report.isolation).toBe('sandbox');
        if (process.getuid?.() === 0) expect(run.report.run_as).toBe('nobody');
        expect(markersAnywhere(name, run.root)).toEqual([]);
        expect(existsSync(join(run.workdir, 'exec_ran'))).toBe(false);
        expect(connections.length).toBe(connected);
        expect([...listeningPorts()].filter((p) => !before.has(p))).toEqual([]);
        expect(processesOf(run.wuName)).toEqual([]);
        for (const file of filesUnder(run.root)) {
          const text = readFileSync(file, 'latin1');
          expect({ file, secret: text.includes(SECRET) || text.includes(DB_PASSWORD) }).toEqual({
            file,
            secret: false,
          });
        }
      } finally {
        rmSync(run.root, { recursive: true, force: true });
      }
    },
    30_000,
  );

  it('shows the script only itself: no other process, no host file outside the interpreter', async () => {
    const run = await runThroughClient(join(ESCAPES, 'file_list_root_and_etc.py'));
    try {
      const seen = JSON.parse(readFileSync(join(run.workdir, 'seen.json'), 'utf8'));
      const allowed = new Set(['axiom', 'dev', 'etc', 'lib', 'lib32', 'lib64', 'proc', 'usr']);
      expect((seen.root as string[]).filter((d) => !allowed.has(d))).toEqual([]);
      expect((seen.etc as string[]).filter((f) => !['alternatives', 'ld.so.cache'].includes(f))).toEqual([]);
      const secrets = await runThroughClient(join(ESCAPES, 'secret_proc_cmdline_of_all.py'));
      const listed = readFileSync(join(secrets.workdir, 'stolen.txt'), 'utf8');
      expect(listed).not.toContain('node');
      expect(listed).not.toContain('axiom_client.py');
      rmSync(secrets.root, { recursive: true, force: true });
    } finally {
      rmSync(run.root, { recursive: true, force: true });
    }
  }, 30_000);

  it('holds a runaway to its limits: memory, file size, processes', async () => {
    const hog = await runThroughClient(join(ESCAPES, 'res_memory_hog.py'));
    const file = await runThroughClient(join(ESCAPES, 'res_huge_file.py'));
    try {
      expect(existsSync(join(hog.workdir, 'hog_survived'))).toBe(false);
      // The run's memory cap stops it when a sample sees it past memory_gb; the address-space limit
      // fails its allocation when that comes first.
      expect(['memory-exceeded', 'failed']).toContain(hog.report.status);
      // The file-size limit refuses the write past 256 MiB (Python ignores SIGXFSZ: EFBIG).
      expect(file.report.stderr_tail).toContain('File too large');
      expect(file.report.status).toBe('failed');
    } finally {
      rmSync(hog.root, { recursive: true, force: true });
      rmSync(file.root, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the exec filter', () => {
  // The numbers are written out per architecture; the kernel's own headers say what they are.
  const headers = {
    x86_64: '/usr/include/x86_64-linux-gnu/asm/unistd_64.h',
    aarch64: '/usr/include/asm-generic/unistd.h',
  };

  it.each(Object.entries(headers))(
    'refuses on %s the syscalls it names, by their numbers in %s',
    (machine, header) => {
      const numbers = new Map(
        [...readFileSync(header, 'utf8').matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)].map((m) => [
          m[1],
          Number(m[2]),
        ]),
      );
      const table = JSON.parse(
        spawnSync(
          python,
          [
            '-I',
            '-c',
            `import sys, json; sys.path.insert(0, ${JSON.stringify(join(REPO_ROOT, 'scripts'))}); import axiom_sandbox as s; print(json.dumps([s.DENIED_SYSCALLS["${machine}"], s.SOCKET_SYSCALLS["${machine}"]]))`,
          ],
          { encoding: 'utf8' },
        ).stdout,
      ) as [Record<string, number>, number[]];
      const [denied, sockets] = table;
      expect(Object.keys(denied).length).toBeGreaterThan(60);
      for (const [name, number] of Object.entries(denied))
        expect({ name, number }).toEqual({ name, number: numbers.get(name) });
      expect(sockets).toEqual([numbers.get('socket'), numbers.get('socketpair')]);
    },
  );
});

describe('without the sandbox', () => {
  // Hiding bubblewrap is how a host without it looks to the client.
  const hidden = { AXIOM_BWRAP: '/nonexistent/bwrap' };

  it('says limits-only in its report, and still leaves nothing running', async () => {
    const run = await runThroughClient(join(ESCAPES, 'leftover_setsid.py'), { env: hidden, extraArgs: [] });
    try {
      expect(run.code).toBe(1); // the script writes no result
      expect(run.report).toMatchObject({ isolation: 'limits-only' });
      expect(run.report.isolation_note).toContain('bubblewrap is not installed');
      expect(processesOf(run.wuName)).toEqual([]);
    } finally {
      rmSync(run.root, { recursive: true, force: true });
    }
  }, 30_000);

  it('refuses to run the script when the host or project requires the sandbox', async () => {
    for (const how of [
      { extraArgs: ['--require-sandbox'] },
      { extraArgs: [], env: { AXIOM_REQUIRE_SANDBOX: '1' } },
    ]) {
      const run = await runThroughClient(join(ESCAPES, 'spawn_exec_interpreter.py'), {
        ...how,
        env: { ...hidden, ...how.env },
      });
      try {
        expect(run.code).toBe(1);
        expect(run.report).toMatchObject({ status: 'sandbox-unavailable' });
        expect(readdirSync(run.workdir)).not.toContain('exec_ran');
      } finally {
        rmSync(run.root, { recursive: true, force: true });
      }
    }
  }, 30_000);
});
