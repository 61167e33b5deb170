// deploy-bulk-speedup: creating 1,000 workunits for five hosts of different sizes with one
// create_work --stdin process per input template (one per host size here), against one create_work
// process per workunit (timed on a sample of 100, per workunit), through the create_work stand-in on
// a real MariaDB database. deploy-create-work-processes: how many processes the 1,000 took.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBenchDatabase } from './database.mjs';

const BATCH = 1000;
const SAMPLE = 100;
const TARGET = 10;

/** Five hosts and their cores, as in the first batch's fleet: each gets bounds of its own. */
const HOSTS = [
  [60, 4],
  [194, 16],
  [209, 8],
  [249, 32],
  [296, 64],
];

function jobs(prefix, count) {
  return Array.from({ length: count }, (_, i) => {
    const [host, cores] = HOSTS[i % HOSTS.length];
    const fpopsEst = 600 * cores * 1e9;
    return {
      wuName: `axm_bench_${prefix}_h${host}_r${i}`,
      host,
      input: Buffer.from(`{"mode": "experiment", "replica": ${i}}\n`),
      bounds: {
        fpopsEst,
        fpopsBound: 10 * fpopsEst,
        memoryBound: 2 ** 31,
        diskBound: 1e9,
        delayBound: 259_200,
      },
    };
  });
}

export async function benchDeploy({ root, log }) {
  const { CreateWorkJobCreator, installResultTemplate } = await import(
    join(root, 'dist/boinc/create-work.js')
  );
  const { readProjectLayout } = await import(join(root, 'dist/boinc/project.js'));
  const { openMysqlStore } = await import(join(root, 'dist/boinc/mysql.js'));
  const name = `axiom_bench_${process.pid}`;
  const database = await createBenchDatabase(root, name);
  const { admin, server } = database;
  const projectDir = mkdtempSync(join(tmpdir(), 'axiom-bench-deploy-'));
  try {
    await admin.query(
      "INSERT INTO app (create_time, name, user_friendly_name) VALUES (0, 'axiom', 'Axiom Lab')",
    );
    writeFileSync(
      join(projectDir, 'config.xml'),
      `<boinc><config><db_name>${name}</db_name><db_host>${server.hostname}</db_host><db_user>${decodeURIComponent(server.username)}</db_user><db_passwd>${decodeURIComponent(server.password)}</db_passwd><download_dir>${join(projectDir, 'download')}</download_dir><uldl_dir_fanout>1024</uldl_dir_fanout></config></boinc>\n`,
    );
    mkdirSync(join(projectDir, 'bin'));
    mkdirSync(join(projectDir, 'cgi-bin'));
    symlinkSync(join(root, 'test/fixtures/boinc/create_work.mjs'), join(projectDir, 'bin/create_work'));
    installResultTemplate(projectDir);
    const store = openMysqlStore(database.url);
    const creator = new CreateWorkJobCreator({
      layout: readProjectLayout(projectDir),
      app: 'axiom',
      existingWorkunits: (n) => store.existingWorkunits(n),
    });

    let started = process.hrtime.bigint();
    const batch = await creator.createJobs(jobs('batch', BATCH));
    const batchSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (batch.created.length !== BATCH) throw new Error(`batch created ${batch.created.length} of ${BATCH}`);
    const processes = creator.processesFor(jobs('batch', BATCH));
    log(
      `${processes} processes (one per input template): ${BATCH} workunits in ${batchSeconds.toFixed(2)} s`,
    );

    started = process.hrtime.bigint();
    for (const job of jobs('single', SAMPLE)) {
      const one = await creator.createJobs([job]);
      if (one.created.length !== 1) throw new Error(`per-job creation failed: ${JSON.stringify(one.failed)}`);
    }
    const sampleSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    log(
      `one process per workunit: ${SAMPLE} workunits in ${sampleSeconds.toFixed(2)} s (${((sampleSeconds / SAMPLE) * BATCH).toFixed(1)} s for ${BATCH})`,
    );
    await store.close();
    const speedup = sampleSeconds / SAMPLE / (batchSeconds / BATCH);
    return [
      {
        name: 'deploy-bulk-speedup',
        value: Number(speedup.toFixed(1)),
        unit: 'x',
        target: `>= ${TARGET}`,
        pass: speedup >= TARGET,
      },
      {
        name: 'deploy-create-work-processes',
        value: processes,
        unit: 'processes',
        target: 'report',
        pass: true,
      },
    ];
  } finally {
    await database.drop();
    rmSync(projectDir, { recursive: true, force: true });
  }
}
