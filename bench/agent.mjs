// agent-reconcile-idle: one pass of `axiom agent` with nothing to do, against the local forge and a
// real MariaDB (ms, median of 20). agent-reconcile-1000: a merge whose manifests plan 1,008
// workunits, reconciled end to end through the create_work stand-in (seconds).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createBenchDatabase } from './database.mjs';

const git = (cwd, ...args) =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'b',
      GIT_AUTHOR_EMAIL: 'b@x',
      GIT_COMMITTER_NAME: 'b',
      GIT_COMMITTER_EMAIL: 'b@x',
    },
  }).trim();

function manifest(name, hosts) {
  return `name: ${name}\ntitle: A bench experiment\nhypothesis: The mean of many normal draws is close to zero.\nscript: experiments/${name}.py\nrun_duration: 120\nresources:\n  min_cpus: 1\n  min_memory_gb: 1\n  gpu: none\n  os: [linux]\ntargets:\n${hosts}\nseed:\n  policy: per_replica\n  base: 7\noutputs:\n  metrics:\n    mean: { type: number, min: -1, max: 1 }\nacceptance:\n  - { metric: mean, op: between, value: [-0.5, 0.5] }\ncredit_cap: 10\nprovenance:\n  designed_by: person\n  author: Bench\n`;
}

export async function benchAgent({ root, log }) {
  const { main } = await import(join(root, 'dist/cli/main.js'));
  const name = `axiom_bench_agent_${process.pid}`;
  const database = await createBenchDatabase(root, name);
  const dir = mkdtempSync(join(tmpdir(), 'axiom-bench-agent-'));
  try {
    await database.admin.query(
      `USE ${name}; INSERT INTO app (create_time, name, user_friendly_name) VALUES (0, 'axiom', 'Axiom Lab')`,
    );
    const project = join(dir, 'project');
    mkdirSync(join(project, 'bin'), { recursive: true });
    mkdirSync(join(project, 'cgi-bin'));
    const s = database.server;
    writeFileSync(
      join(project, 'config.xml'),
      `<boinc><config><db_name>${name}</db_name><db_host>${s.hostname}</db_host><db_user>${decodeURIComponent(s.username)}</db_user><db_passwd>${decodeURIComponent(s.password)}</db_passwd><download_dir>${join(project, 'download')}</download_dir><uldl_dir_fanout>1024</uldl_dir_fanout></config></boinc>\n`,
    );
    symlinkSync(join(root, 'test/fixtures/boinc/create_work.mjs'), join(project, 'bin/create_work'));
    const origin = join(dir, 'origin.git');
    const clone = join(dir, 'clone');
    git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', origin);
    git(dir, 'clone', '--quiet', origin, clone);
    git(clone, 'checkout', '--quiet', '-B', 'main');
    mkdirSync(join(clone, 'manifests'));
    mkdirSync(join(clone, 'experiments'));
    for (const f of ['axiom.yaml', 'fleet.yaml']) writeFileSync(join(clone, f), readFileSync(join(root, f)));
    writeFileSync(join(clone, 'README.md'), '# bench\n');
    git(clone, 'add', '--all');
    git(clone, 'commit', '--quiet', '-m', 'start');
    git(clone, 'push', '--quiet', 'origin', 'main');
    mkdirSync(join(dir, 'publish'));
    const env = {
      PATH: process.env.PATH,
      HOME: dir,
      AXIOM_FORGE: 'local',
      AXIOM_AGENT_REMOTE: origin,
      AXIOM_AGENT_DIR: join(dir, 'agent'),
      AXIOM_DB_URL: database.url,
      AXIOM_BOINC_PROJECT_DIR: project,
      AXIOM_PUBLISH_DIR: join(dir, 'publish'),
      AXIOM_SCRIPT_BASE_URL: 'https://boinc.example.org/axiom/',
    };
    const pass = async () => {
      let out = '';
      let err = '';
      const code = await main(['agent', '--once', '--json'], {
        stdout: { write: (t) => (out += t) },
        stderr: { write: (t) => (err += t) },
        env,
        cwd: dir,
        isTTY: false,
      });
      if (code !== 0) throw new Error(`agent pass failed (${code}): ${err}${out}`);
      return JSON.parse(out);
    };
    await pass();
    const times = [];
    for (let i = 0; i < 20; i++) {
      const started = process.hrtime.bigint();
      const r = await pass();
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (r.action !== 'idle') throw new Error(`expected an idle pass, got ${r.action}`);
    }
    times.sort((a, b) => a - b);
    const idle = times[10];
    log(
      `idle pass: median ${idle.toFixed(1)} ms of 20 (min ${times[0].toFixed(1)}, max ${times[19].toFixed(1)})`,
    );
    // 1,000 workunits in one merge: three manifests (axiom.yaml allows 500 a manifest) on the fleet's
    // Linux hosts (the manifests' OS), with replicas enough for 1,000.
    const { hosts } = parse(readFileSync(join(root, 'fleet.yaml'), 'utf8'));
    const ids = hosts.filter((h) => h.os === 'linux').map((h) => h.id);
    const names = ['bench_mean_a', 'bench_mean_b', 'bench_mean_c'];
    const per = Math.ceil(1000 / (ids.length * names.length));
    for (const experiment of names) {
      writeFileSync(
        join(clone, `manifests/${experiment}.yaml`),
        manifest(experiment, ids.map((h) => `  - host: ${h}\n    replicas: ${per}`).join('\n')),
      );
      writeFileSync(
        join(clone, `experiments/${experiment}.py`),
        'import json\nimport numpy as np\n\nvalues = np.random.default_rng(0).standard_normal(100)\nwith open("experiment_result.json", "w") as handle:\n    json.dump({"metrics": {"mean": float(values.mean())}}, handle)\n',
      );
    }
    git(clone, 'add', '--all');
    git(clone, 'commit', '--quiet', '-m', 'merge: three bench experiments');
    git(clone, 'push', '--quiet', 'origin', 'main');
    const started = process.hrtime.bigint();
    const merged = await pass();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const [[{ count }]] = await database.admin.query(`SELECT COUNT(*) AS count FROM ${name}.workunit`);
    log(`merge reconciled: ${merged.title} (${count} workunit rows) in ${seconds.toFixed(2)} s`);
    return [
      {
        name: 'agent-reconcile-idle',
        value: Number(idle.toFixed(1)),
        unit: 'ms',
        target: '< 1000',
        pass: idle < 1000,
      },
      {
        name: 'agent-reconcile-1000',
        value: Number(seconds.toFixed(2)),
        unit: 's',
        target: `report (${count} workunits)`,
        pass: Number(count) >= 1000 && merged.conclusion === 'success',
      },
    ];
  } finally {
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}
