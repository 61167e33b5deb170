import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readEnvironment } from '../src/env/environment.js';
import { CLIENT_SCRIPT } from '../src/runner/run.js';
import { SchemaValidator } from '../src/schema/validate.js';
import { renderWorkunitInput, type WorkunitInput } from '../src/workunit/input.js';
import { WorkunitName } from '../src/workunit/name.js';
import { makeCertificate, StrictFileServer } from './helpers/https.js';

const python = readEnvironment(process.env, process.cwd()).python;
const certificate = makeCertificate();
const server = new StrictFileServer(certificate);
const validator = new SchemaValidator();
let workdir: string;

beforeAll(() => server.start());
afterAll(async () => {
  await server.stop();
  certificate.cleanup();
});
afterEach(() => {
  expect(server.unmet()).toEqual({ neverRequested: [], unexpected: [] });
  rmSync(workdir, { recursive: true, force: true });
});

const GOOD = `import json, os
with open("experiment_result.json", "w") as f:
    json.dump({"experiment": "probe", "seed": int(os.environ["AXIOM_SEED"]), "cpus": int(os.environ["AXIOM_CPUS"]),
               "params": json.loads(os.environ["AXIOM_PARAMS"]), "wu": os.environ["AXIOM_WU_NAME"]}, f)
`;

/** Live processes (not zombies) whose environment holds `entry`. */
function processesWith(entry: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        return (
          stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z' &&
          readFileSync(`/proc/${p}/environ`).includes(entry)
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

interface ClientRun {
  code: number | null;
  report: Record<string, unknown>;
  seconds: number;
}

/** Serves `script` at a fresh path and runs the client on a workunit pointing at it. */
async function runClient(
  script: string,
  options: {
    sha?: string;
    url?: string;
    budget?: number;
    trust?: boolean;
    mutate?: (wu: Record<string, unknown>) => unknown;
  } = {},
): Promise<ClientRun> {
  workdir = mkdtempSync(join(tmpdir(), 'axiom-client-'));
  const path = `/scripts/probe-${Math.random().toString(16).slice(2)}.py`;
  const url = options.url ?? server.expect(path, script);
  const input: WorkunitInput = {
    mode: 'experiment',
    experiment: 'probe',
    wu_name: WorkunitName.format({ experiment: 'probe', scriptSha: '0123456789ab', host: 60, replica: 0 }),
    script_url: url,
    script_sha256: options.sha ?? createHash('sha256').update(script).digest('hex'),
    run_duration: options.budget ?? 20,
    seed: 42,
    params: { width: 8 },
    cpus: 2,
    memory_gb: 1,
  };
  // The wu.json the project's own writer produces; `mutate` breaks it on purpose.
  const written = JSON.parse(renderWorkunitInput(input, validator).toString('utf8'));
  writeFileSync(join(workdir, 'wu.json'), JSON.stringify(options.mutate ? options.mutate(written) : written));
  const env = {
    PATH: process.env.PATH,
    ...(options.trust === false ? {} : { SSL_CERT_FILE: certificate.certFile }),
  };
  const started = Date.now();
  // Asynchronously: the HTTPS server answering the client runs in this process.
  const code = await new Promise<number | null>((resolve) => {
    const args = [
      CLIENT_SCRIPT,
      '--wu',
      'wu.json',
      '--out',
      'result.json',
      '--workdir',
      'slot',
      '--grace',
      '1',
      '--kill-after',
      '2',
      '--keep',
    ];
    spawn(python, args, { cwd: workdir, env, stdio: 'ignore' }).on('close', resolve);
  });
  const seconds = (Date.now() - started) / 1000;
  const reportFile = join(workdir, 'result.json');
  return {
    code,
    report: existsSync(reportFile) ? JSON.parse(readFileSync(reportFile, 'utf8')) : {},
    seconds,
  };
}

describe('reference volunteer client', () => {
  it('downloads a good script over verified https, runs it with the contract environment, and reports ok', async () => {
    const run = await runClient(GOOD);
    expect(run.code).toBe(0);
    expect(run.report.status).toBe('ok');
    expect(run.report.envelope).toEqual({
      experiment: 'probe',
      seed: 42,
      cpus: 2,
      params: { width: 8 },
      wu: 'axm_probe_0123456789ab_h60_r0',
    });
  });

  it("pins the script to the cores it was granted and sizes the numerical libraries' thread pools to them", async () => {
    const script = `import json, os
json.dump({"affinity": len(os.sched_getaffinity(0)), "cpus": os.environ["AXIOM_CPUS"],
           "threads": [os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")],
           "path": os.environ["PATH"]}, open("experiment_result.json", "w"))
`;
    const run = await runClient(script, { mutate: (wu) => ({ ...wu, cpus: 1 }) });
    expect(run.report.envelope).toEqual({
      affinity: 1,
      cpus: '1',
      threads: ['1', '1', '1'],
      path: '/usr/bin:/bin',
    });
  });

  it('refuses a tampered script and never runs it', async () => {
    const run = await runClient(GOOD, { sha: 'f'.repeat(64) });
    expect(run.code).toBe(1);
    expect(run.report.status).toBe('rejected-script');
    expect(run.report.message).toMatch(/does not match the workunit's f{64}/);
    expect(existsSync(join(workdir, 'slot', 'experiment_result.json'))).toBe(false);
  });

  it('reports a crashing script as a failed task with its stderr', async () => {
    const run = await runClient(
      'import sys\nprint("about to fail", file=sys.stderr)\nraise RuntimeError("boom")\n',
    );
    expect(run.code).toBe(1);
    expect(run.report).toMatchObject({ status: 'failed', exit_code: 1 });
    expect(run.report.stderr_tail).toContain('RuntimeError: boom');
  });

  it('stops an overrunning script and the processes it started at the budget plus grace', async () => {
    const script = `import os, signal, time
from multiprocessing import Process
def stubborn():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(600)
if __name__ == "__main__":
    worker = Process(target=stubborn)
    worker.start()
    with open("worker.pid", "w") as f:
        f.write(str(worker.pid))
    time.sleep(600)
`;
    const run = await runClient(script, { budget: 3 });
    expect(run.code).toBe(1);
    expect(run.report.status).toBe('overran');
    expect(run.seconds).toBeLessThan(3 + 1 + 2 + 2);
    // The worker's pid is the sandbox's own; on this host it is found by the workunit in its environment.
    expect(existsSync(join(workdir, 'slot', 'worker.pid'))).toBe(true);
    expect(processesWith(`AXIOM_WU_NAME=${run.report.wu_name}`)).toEqual([]);
  });

  it('stops a run whose processes together hold more than the workunit memory_gb, though each is under its own limit', async () => {
    // Four workers of 300 MB each: every process stays far below its address-space limit (memory_gb
    // plus room for the interpreter), while the run holds about 1.2 GB of a 1 GB workunit.
    const script = `import time
from multiprocessing import Process
def hold():
    block = b"\\x01" * (300 * 2**20)
    time.sleep(600)
if __name__ == "__main__":
    workers = [Process(target=hold) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(600)
`;
    const run = await runClient(script, { budget: 60 });
    expect(run.code).toBe(1);
    expect(run.report.status).toBe('memory-exceeded');
    expect(run.report.message).toMatch(
      /more than the workunit's 1 GB of memory \(the resident memory of its processes, what their sockets and pipes may hold, and what its tmpfs mounts hold, together/,
    );
    expect(run.report.peak_memory_mb).toBeGreaterThan(1024);
    expect(run.seconds).toBeLessThan(30);
    expect(processesWith(`AXIOM_WU_NAME=${run.report.wu_name}`)).toEqual([]);
  });

  it('reports the most resident memory an honest run held', async () => {
    const run = await runClient(
      `import time
block = b"\\x01" * (200 * 2**20)
time.sleep(1)
${GOOD}`,
    );
    expect(run.report.status).toBe('ok');
    expect(run.report.peak_memory_mb).toBeGreaterThan(200);
    expect(run.report.peak_memory_mb).toBeLessThan(1024);
  });

  it('reports a script that wrote no result', async () => {
    const run = await runClient('print("done, but forgot the result")\n');
    expect(run.code).toBe(1);
    expect(run.report.status).toBe('no-result');
  });

  it('rejects a result with NaN, which JSON does not allow', async () => {
    const run = await runClient(
      'import json\njson.dump({"metrics": {"x": float("nan")}}, open("experiment_result.json", "w"))\n',
    );
    expect(run.code).toBe(1);
    expect(run.report.status).toBe('invalid-result');
    expect(run.report.message).toContain('NaN is not a number JSON allows');
  });

  it('refuses a server whose certificate it cannot verify', async () => {
    // The TLS handshake fails before any request reaches the server, so nothing is expected.
    const run = await runClient(GOOD, { url: server.urlFor('/scripts/untrusted.py'), trust: false });
    expect(run.code).toBe(1);
    expect(run.report.status).toBe('download-failed');
    expect(run.report.message).toMatch(/CERTIFICATE_VERIFY_FAILED/);
  });

  it('refuses file URLs unless told they are local, and a workunit with a plain http URL', async () => {
    const local = await runClient(GOOD, { url: 'file:///etc/hostname' });
    expect(local.report.status).toBe('download-failed');
    expect(local.report.message).toBe('refusing to download over file: only https is allowed');
    rmSync(workdir, { recursive: true, force: true });
    // The schema allows https and file only, so an http URL is not a workunit at all.
    const plain = await runClient(GOOD, {
      url: 'file:///unused',
      mutate: (wu) => ({ ...wu, script_url: 'http://127.0.0.1:9/x.py' }),
    });
    expect(plain.code).toBe(2);
    expect(plain.report).toEqual({});
  });

  it('never imports from its slot: not under a system Python, not in a frozen runtime', () => {
    // The slot as BOINC lays it out (the client and its sandbox copied in), with modules named like
    // ones the client imports planted beside them; each writes a marker if it runs.
    workdir = mkdtempSync(join(tmpdir(), 'axiom-client-'));
    const marker = join(workdir, 'imported');
    for (const name of ['platform', 'hashlib', 'argparse', 'ssl', 'threading'])
      writeFileSync(join(workdir, `${name}.py`), `open(${JSON.stringify(marker)}, "w").write("${name}")\n`);
    for (const name of ['axiom_client.py', 'axiom_sandbox.py'])
      copyFileSync(join(dirname(CLIENT_SCRIPT), name), join(workdir, name));
    // BOINC's wrapper with a system Python: `python axiom_client.py`, the slot first on sys.path.
    const asSystem = spawnSync(python, ['axiom_client.py', '--help'], { cwd: workdir, encoding: 'utf8' });
    expect(asSystem.stdout, asSystem.stderr).toContain('--workdir');
    // The frozen runtime (scripts/app/axiom_python.py): run_path in the slot, sys.frozen and the bundle set.
    const frozen = spawnSync(
      python,
      [
        '-c',
        'import sys, runpy; sys.frozen = True; sys._MEIPASS = "/usr/lib"; sys.argv = ["axiom_client.py", "--help"]; runpy.run_path("axiom_client.py", run_name="__main__")',
      ],
      { cwd: workdir, encoding: 'utf8' },
    );
    expect(frozen.stdout, frozen.stderr).toContain('--workdir');
    expect(existsSync(marker)).toBe(false);
  });

  it("reads the project writer's wu.json and refuses one that breaks the shared schema, saying where", async () => {
    const cases: [string, (wu: Record<string, unknown>) => unknown, string][] = [
      ['missing field', ({ experiment: _, ...rest }) => rest, "wu.json: missing required key 'experiment'"],
      ['unknown field', (wu) => ({ ...wu, shell: 'rm -rf /' }), "wu.json: unknown key 'shell'"],
      ['wrong type', (wu) => ({ ...wu, seed: '42' }), 'wu.json.seed: must be integer, found str'],
      ['out of range', (wu) => ({ ...wu, cpus: 0 }), 'wu.json.cpus: must be >= 1, found 0'],
      ['bad name', (wu) => ({ ...wu, wu_name: 'axm_probe\n' }), 'wu.json.wu_name: must match'],
      ['bad param', (wu) => ({ ...wu, params: { Width: 1 } }), "wu.json.params key 'Width': must match"],
    ];
    for (const [what, mutate, message] of cases) {
      workdir = mkdtempSync(join(tmpdir(), 'axiom-client-'));
      const input = JSON.parse(
        renderWorkunitInput(
          {
            mode: 'experiment',
            experiment: 'probe',
            wu_name: WorkunitName.format({
              experiment: 'probe',
              scriptSha: 'ab'.repeat(6),
              host: 1,
              replica: 0,
            }),
            script_url: 'https://boinc.example.org/axiom/experiments/probe-abababababab.py',
            script_sha256: 'ab'.repeat(32),
            run_duration: 60,
            seed: 42,
            params: { width: 1 },
            cpus: 1,
            memory_gb: 1,
          },
          validator,
        ).toString('utf8'),
      );
      writeFileSync(join(workdir, 'wu.json'), JSON.stringify(mutate(input)));
      const result = spawnSync(python, [CLIENT_SCRIPT, '--wu', 'wu.json'], {
        cwd: workdir,
        encoding: 'utf8',
      });
      expect({ what, status: result.status, said: result.stderr.includes(message) }, result.stderr).toEqual({
        what,
        status: 2,
        said: true,
      });
      rmSync(workdir, { recursive: true, force: true });
    }
    workdir = mkdtempSync(join(tmpdir(), 'axiom-client-'));
  });
});
