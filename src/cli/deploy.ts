import { appendFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CreateWorkJobCreator, installResultTemplate, readProjectLayout } from '../boinc/create-work.js';
import { type DeployItem, deploy } from '../boinc/deploy.js';
import { databaseUrl, openStore } from '../boinc/open.js';
import { runCheck } from '../check/run.js';
import { ConfigurationError, InvalidInputError } from '../errors.js';
import { headCommit } from '../forge/git.js';
import { resolvePython } from '../policy/python.js';
import { SchemaValidator } from '../schema/validate.js';
import { booleanOption, type Command, type Io, stringOption } from './command.js';

function requireEnv(io: Io, name: string, example: string): string {
  const value = io.env[name];
  if (!value) throw new ConfigurationError(`${name} is not set; expected ${example}`);
  return value;
}

export const deployCommand: Command = {
  name: 'deploy',
  summary: 'publish scripts and create the workunits every manifest on main asks for (idempotent)',
  usage: '',
  description: [
    'Reconciles BOINC with the manifests: checks the repository as axiom check does (and stops on any',
    'error), then publishes each script under its content address and creates, with one create_work',
    'process, every planned workunit that has no row yet. Running it twice creates nothing the second',
    'time; after a partial failure a rerun creates only what is missing.',
    'Needs AXIOM_DB_URL, AXIOM_BOINC_PROJECT_DIR, AXIOM_PUBLISH_DIR and AXIOM_SCRIPT_BASE_URL;',
    'AXIOM_BOINC_APP names the BOINC app (default axiom). --dry-run needs only AXIOM_DB_URL.',
  ].join('\n'),
  options: {
    root: { type: 'string', value: 'DIR', description: 'repository root (default: the current directory)' },
    'dry-run': { type: 'boolean', description: 'show what would be created; publish and create nothing' },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, io) {
    const root = resolve(io.cwd, stringOption(args, 'root') ?? '.');
    const dryRun = booleanOption(args, 'dry-run');
    const dbUrl = databaseUrl(io.env);
    const report = await runCheck({
      root,
      paths: [],
      python: resolvePython(io.env),
      validator: new SchemaValidator(),
    });
    const errors = report.problems.filter((p) => p.severity === 'error');
    if (errors.length > 0)
      throw new InvalidInputError('axiom check finds errors; nothing was deployed', errors);

    const store = openStore(dbUrl, io.cwd);
    try {
      const existingWorkunits = (names: readonly string[]) => store.existingWorkunits(names);
      const cancelUnsentWorkunits = (experiment: string) => store.cancelUnsentWorkunits(experiment);
      let items: DeployItem[];
      if (dryRun) {
        const noJobs = { createJobs: async () => ({ created: [], failed: [] }) };
        items = await deploy(
          report.deployable,
          {
            root,
            publishDir: '',
            baseUrl: '',
            manifestCommit: '',
            existingWorkunits,
            cancelUnsentWorkunits,
            jobCreator: noJobs,
          },
          { dryRun },
        );
      } else {
        const projectDir = requireEnv(
          io,
          'AXIOM_BOINC_PROJECT_DIR',
          'the BOINC project directory (with config.xml and bin/create_work)',
        );
        const layout = readProjectLayout(projectDir);
        installResultTemplate(projectDir);
        const jobCreator = new CreateWorkJobCreator({
          layout,
          app: io.env.AXIOM_BOINC_APP || 'axiom',
          existingWorkunits,
          env: io.env,
        });
        items = await deploy(
          report.deployable,
          {
            root,
            publishDir: requireEnv(io, 'AXIOM_PUBLISH_DIR', 'the directory volunteers download scripts from'),
            baseUrl: requireEnv(io, 'AXIOM_SCRIPT_BASE_URL', 'the https URL of AXIOM_PUBLISH_DIR'),
            manifestCommit: await headCommit(root),
            existingWorkunits,
            cancelUnsentWorkunits,
            jobCreator,
          },
          { dryRun },
        );
      }
      return reportDeploy(items, io, booleanOption(args, 'json'));
    } finally {
      await store.close();
    }
  },
};

function reportDeploy(items: DeployItem[], io: Io, json: boolean): number {
  const count = (state: DeployItem['state']) => items.filter((i) => i.state === state).length;
  const totals = {
    created: count('created'),
    present: count('present'),
    failed: count('failed'),
    planned: count('planned'),
    cancelled: count('cancelled'),
  };
  if (json) {
    io.stdout.write(`${JSON.stringify({ ...totals, items }, null, 2)}\n`);
  } else {
    const width = Math.max(0, ...items.map((i) => i.name.length));
    for (const item of items) {
      io.stdout.write(
        `${item.state.padEnd(8)} ${item.name.padEnd(width)}  host ${item.host}${item.reason ? `  ${item.reason}` : ''}\n`,
      );
    }
    const cancelled = totals.cancelled ? `, ${totals.cancelled} cancelled (retired)` : '';
    const planned = totals.planned ? `, ${totals.planned} would be created (dry run)` : '';
    io.stdout.write(
      `deploy: ${totals.created} created, ${totals.present} already present, ${totals.failed} failed${cancelled}${planned}\n`,
    );
  }
  if (io.env.GITHUB_STEP_SUMMARY) {
    const rows = items
      .filter((i) => i.state !== 'present')
      .map((i) => `| ${i.state} | \`${i.name}\` | ${i.host} | ${(i.reason ?? '').replaceAll('|', '\\|')} |`);
    appendFileSync(
      io.env.GITHUB_STEP_SUMMARY,
      `## axiom deploy\n\n${totals.created} created, ${totals.present} already present, ${totals.failed} failed\n\n${rows.length ? `| state | workunit | host | reason |\n|---|---|---:|---|\n${rows.join('\n')}\n` : ''}`,
    );
  }
  return totals.failed > 0 ? 1 : 0;
}
