import { appendFileSync } from 'node:fs';
import { CreateWorkJobCreator, installResultTemplate } from '../boinc/create-work.js';
import { openStore } from '../boinc/open.js';
import { readProjectLayout } from '../boinc/project.js';
import type { BoincStore } from '../boinc/store.js';
import { type DeployReport, type DeployTarget, deployManifests } from '../deploy/deploy.js';
import { type Environment, required } from '../env/environment.js';
import { requireDefaultBranchTip } from '../forge/default-branch.js';
import { headCommit } from '../forge/git.js';
import { SchemaValidator } from '../schema/validate.js';
import { booleanOption, defineCommand, type Io, stringOption } from './command.js';
import { labRoot } from './lab.js';

/** Where deploy publishes and creates, from the environment; every variable it needs, or an error. */
export async function targetOf(
  env: Environment,
  io: Io,
  store: BoincStore,
  root: string,
): Promise<DeployTarget> {
  const projectDir = required(env.boinc.projectDir, 'AXIOM_BOINC_PROJECT_DIR');
  const publishDir = required(env.publish.dir, 'AXIOM_PUBLISH_DIR');
  const baseUrl = required(env.publish.baseUrl, 'AXIOM_SCRIPT_BASE_URL');
  const layout = readProjectLayout(projectDir);
  installResultTemplate(projectDir);
  const commit = await headCommit(root);
  return {
    publishDir,
    baseUrl,
    manifestCommit: commit,
    jobCreator: new CreateWorkJobCreator({
      layout,
      app: env.boinc.app,
      existingWorkunits: (names) => store.existingWorkunits(names),
      // create_work runs with this command's own process environment.
      env: io.env,
    }),
  };
}

export const deployCommand = defineCommand({
  name: 'deploy',
  summary: 'publish scripts and create the workunits every manifest on main asks for (idempotent)',
  usage: '',
  description: [
    'Reconciles BOINC with the manifests: checks the repository as axiom check does (and stops on any',
    'error), then publishes each script under its content address and creates, with create_work,',
    'every planned workunit that has no row yet. Running it twice creates nothing the second time;',
    'after a partial failure a rerun creates only what is missing.',
    'Needs AXIOM_DB_URL, AXIOM_BOINC_PROJECT_DIR, AXIOM_PUBLISH_DIR and AXIOM_SCRIPT_BASE_URL;',
    'AXIOM_BOINC_APP names the BOINC app (default axiom). --dry-run needs only AXIOM_DB_URL.',
  ].join('\n'),
  options: {
    root: { type: 'string', value: 'DIR', description: 'repository root (default: the current directory)' },
    'dry-run': { type: 'boolean', description: 'show what would be created; publish and create nothing' },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, { io, env }) {
    const root = labRoot(io.cwd, stringOption(args, 'root'), 'deploy');
    if (!booleanOption(args, 'dry-run'))
      await requireDefaultBranchTip({ command: 'axiom deploy', env, repoDir: root });
    const store = openStore(required(env.databaseUrl, 'AXIOM_DB_URL'));
    try {
      const report = await deployManifests({
        root,
        validator: new SchemaValidator(),
        python: env.python,
        store,
        ...(booleanOption(args, 'dry-run') ? {} : { target: await targetOf(env, io, store, root) }),
      });
      renderDeploy(report, io, booleanOption(args, 'json'));
      if (env.actions.stepSummary) appendFileSync(env.actions.stepSummary, deployMarkdown(report));
      return report.totals.failed > 0 ? 1 : 0;
    } finally {
      await store.close();
    }
  },
});

function renderDeploy(report: DeployReport, io: Io, json: boolean): void {
  const { items, totals } = report;
  if (json) {
    io.stdout.write(`${JSON.stringify({ ...totals, dryRun: report.dryRun, items }, null, 2)}\n`);
    return;
  }
  const width = Math.max(0, ...items.map((i) => i.name.length));
  for (const item of items)
    io.stdout.write(
      `${item.state.padEnd(8)} ${item.name.padEnd(width)}  host ${item.host}${item.reason ? `  ${item.reason}` : ''}\n`,
    );
  const cancelled = totals.cancelled ? `, ${totals.cancelled} cancelled (retired)` : '';
  const planned = totals.planned ? `, ${totals.planned} would be created (dry run)` : '';
  io.stdout.write(
    `deploy: ${totals.created} created, ${totals.present} already present, ${totals.failed} failed${cancelled}${planned}\n`,
  );
}

function deployMarkdown(report: DeployReport): string {
  const { totals } = report;
  const rows = report.items
    .filter((i) => i.state !== 'present')
    .map((i) => `| ${i.state} | \`${i.name}\` | ${i.host} | ${(i.reason ?? '').replaceAll('|', '\\|')} |`);
  return `## axiom deploy\n\n${totals.created} created, ${totals.present} already present, ${totals.failed} failed\n\n${rows.length ? `| state | workunit | host | reason |\n|---|---|---:|---|\n${rows.join('\n')}\n` : ''}`;
}
