import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createListener } from '../agent/listener.js';
import { AgentLoop } from '../agent/loop.js';
import { MainBranch } from '../agent/main-branch.js';
import { planPass } from '../agent/plan.js';
import { type AgentOptions, type PassReport, reconcileOnce } from '../agent/reconcile.js';
import { openStore } from '../boinc/open.js';
import { openJudge } from '../collect/open-judge.js';
import { type Environment, required } from '../env/environment.js';
import { ConfigurationError, UsageError } from '../errors.js';
import { AppTokenSource } from '../forge/app-token.js';
import { GitHubCheckRuns } from '../forge/check-runs.js';
import { tokenAuthEnv } from '../forge/git.js';
import { openForge } from '../forge/open.js';
import { type CommitReporter, LocalReports } from '../forge/reports.js';
import { INSTALLATION_DIR } from '../installation.js';
import { SchemaValidator } from '../schema/validate.js';
import {
  booleanOption,
  defineCommand,
  type Io,
  numberOption,
  type ParsedArgs,
  stringOption,
} from './command.js';
import { targetOf } from './deploy.js';

/** What the agent's App token may do: push results branches, open and label pull requests, comment, report. */
const APP_PERMISSIONS = {
  contents: 'write',
  pull_requests: 'write',
  issues: 'write',
  checks: 'write',
} as const;

const agentOptions = {
  once: { type: 'boolean', description: 'one pass, then exit (for a systemd timer or cron)' },
  interval: {
    type: 'string',
    value: 'SECONDS',
    description: 'seconds between passes in the loop (default 60)',
  },
  listen: {
    type: 'string',
    value: 'HOST:PORT',
    description: 'also take signed notices that main moved (POST /hook), e.g. 127.0.0.1:8787',
  },
  'collect-every': { type: 'string', value: 'HOURS', description: 'hours between collections (default 6)' },
  'accept-rewrite': {
    type: 'boolean',
    description: 'accept a main that does not descend from the commit acted on before (after a force-push)',
  },
  'dry-run': {
    type: 'boolean',
    description:
      "fetch main and show what a pass would do; change nothing in BOINC, GitHub or the agent's state",
  },
  json: { type: 'boolean', description: 'report each pass as JSON (one line per pass)' },
} as const;
export type AgentArgs = ParsedArgs<typeof agentOptions>;

/** The origin the agent follows: AXIOM_AGENT_REMOTE, else the GitHub repository. */
function remoteOf(env: Environment): string {
  if (env.agent.remote) return env.agent.remote;
  const repository = required(env.forge.github.repository, 'GITHUB_REPOSITORY', 'or set AXIOM_AGENT_REMOTE');
  return `${env.forge.github.serverUrl.replace(/\/$/, '')}/${repository}.git`;
}

function appTokens(env: Environment): AppTokenSource {
  const keyFile = required(
    env.agent.appKeyFile,
    'AXIOM_APP_KEY_FILE',
    'the agent on GitHub needs its App key',
  );
  let privateKey: string;
  try {
    privateKey = readFileSync(keyFile, 'utf8');
  } catch (error) {
    throw new ConfigurationError(`cannot read the App private key ${keyFile}: ${(error as Error).message}`);
  }
  return new AppTokenSource({
    appId: required(env.agent.appId, 'AXIOM_APP_ID', 'the agent on GitHub needs its App'),
    privateKey,
    repository: required(env.forge.github.repository, 'GITHUB_REPOSITORY', 'the agent on GitHub needs it'),
    apiUrl: env.forge.github.apiUrl,
    permissions: APP_PERMISSIONS,
  });
}

/** The ports of one pass: on GitHub every token comes from the App key on this machine. */
export async function passOptions(env: Environment, io: Io, args: AgentArgs): Promise<AgentOptions> {
  const log = (line: string) => io.stderr.write(`${line}\n`);
  const github = env.forge.kind === 'github';
  const tokens = github ? appTokens(env) : undefined;
  const token = async () => (tokens as AppTokenSource).token();
  const remote = remoteOf(env);
  const transport = tokens ? tokenAuthEnv(env.forge.github.serverUrl, await token()) : {};
  const main = new MainBranch(join(env.agent.dir, 'main'), remote, 'main', transport);
  const reporter: CommitReporter = tokens
    ? new GitHubCheckRuns({
        repository: env.forge.github.repository as string,
        apiUrl: env.forge.github.apiUrl,
        token,
        appId: () => (tokens as AppTokenSource).appId(),
      })
    : new LocalReports(remote);
  const validator = new SchemaValidator();
  const databaseUrl = required(env.databaseUrl, 'AXIOM_DB_URL', 'the agent reconciles the BOINC database');
  return {
    main,
    reporter,
    statePath: join(env.agent.dir, 'state.json'),
    collectEvery: (numberOption(args, 'agent', 'collect-every', { min: 0 }) ?? 6) * 3_600_000,
    acceptRewrite: booleanOption(args, 'accept-rewrite'),
    validator,
    python: env.python,
    openStore: () => openStore(databaseUrl),
    deployTarget: (root, _commit, store) => targetOf(env, io, store, root),
    openForge: async (root) =>
      openForge({
        settings: tokens
          ? { ...env.forge, github: { ...env.forge.github, token: await token() } }
          : env.forge,
        repoDir: root,
        log,
      }),
    openJudge: () => openJudge(env.claude, { ...(env.spoolDir ? { spoolDir: env.spoolDir } : {}), log }),
    ...(env.spoolDir ? { spoolDir: env.spoolDir } : {}),
    ...(env.spoolDir && env.boinc.projectDir
      ? {
          assimilator: {
            projectDir: env.boinc.projectDir,
            app: env.boinc.app,
            spoolDir: env.spoolDir,
            home: INSTALLATION_DIR,
          },
        }
      : {}),
    now: () => new Date(),
    log,
  };
}

function render(report: PassReport, io: Io, json: boolean): void {
  if (json) {
    io.stdout.write(
      `${JSON.stringify({ commit: report.commit, action: report.action, conclusion: report.report?.conclusion ?? null, title: report.report?.title ?? null, stages: report.stages.filter((s) => s.commit === report.commit || s.stage === 'collect').map(({ stage, ok, line }) => ({ stage, ok, line })) })}\n`,
    );
    return;
  }
  const title = report.report ? `: ${report.report.title}` : '';
  io.stdout.write(`${new Date().toISOString()} ${report.action} ${report.commit.slice(0, 12)}${title}\n`);
}

function listenAddress(text: string): { host: string; port: number } {
  const match = /^([0-9.]+|\[[0-9a-f:]+\]|localhost):(\d{1,5})$/i.exec(text);
  if (!match || Number(match[2]) > 65_535)
    throw new UsageError(`--listen must be HOST:PORT, e.g. 127.0.0.1:8787; found "${text}"`, 'agent');
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

export const agentCommand = defineCommand({
  name: 'agent',
  summary: 'on the BOINC server: follow main and reconcile BOINC with it (deploy, collect, credit apply)',
  usage: '',
  description: [
    'The BOINC server pulls, as Argo CD and Flux do: each pass reads main on the origin and, when',
    'there is anything to do, fetches exactly main (no other branch or pull request), checks out that',
    "commit in the agent's own clone (AXIOM_AGENT_DIR/main, symlinks as plain files) and reconciles:",
    "deploy (publish scripts, create workunits), credit apply (grant what main's credit files say, and",
    "comment on the merged pull request), a check that BOINC's script_assimilator will hand results to",
    'AXIOM_SPOOL_DIR (config.xml, and bin/axiom_assimilate --check run as the daemon runs it), and',
    'every --collect-every hours collect (judge the spool, open results pull requests, then deploy the',
    'replicas it asked for). It reports on the commit it acted on: on GitHub as the check run',
    '"axiom agent" (with its App, AXIOM_APP_ID and the key in AXIOM_APP_KEY_FILE, which never leaves',
    'this machine), on the local forge as a git note (refs/notes/axiom-agent). Nothing of the checkout',
    "is run: it is data for this installation's own code. Each stage is idempotent and marked done",
    'only when it finished, so a pass killed anywhere is completed by the next; a main that moved during',
    'a pass is taken by the next pass, a main that was rewritten is refused until --accept-rewrite.',
    'Without --once it loops (--interval), and with --listen it also passes at once on a notice signed',
    'with AXIOM_AGENT_WEBHOOK_SECRET (scripts/agent/notify.mjs sends one). See docs/operating.md.',
  ].join('\n'),
  options: agentOptions,
  async run(args, { io, env }) {
    const json = booleanOption(args, 'json');
    const listen = stringOption(args, 'listen');
    const address = listen === undefined ? undefined : listenAddress(listen);
    if (booleanOption(args, 'dry-run')) return dryRun(env, io, args);
    const pass = async () => {
      const report = await reconcileOnce(await passOptions(env, io, args));
      render(report, io, json);
      return report;
    };
    if (booleanOption(args, 'once')) {
      const report = await pass();
      return report.action === 'refused' || report.report?.conclusion === 'failure' ? 1 : 0;
    }
    const interval = (numberOption(args, 'agent', 'interval', { min: 1 }) ?? 60) * 1000;
    const loop = new AgentLoop(pass, interval, (line) => io.stderr.write(`${line}\n`));
    const server = address ? await startListener(env, io, address, () => loop.poke()) : undefined;
    const stop = () => loop.stop();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    try {
      await loop.run();
    } finally {
      server?.close();
    }
    return 0;
  },
});

async function startListener(
  env: Environment,
  io: Io,
  { host, port }: { host: string; port: number },
  poke: () => void,
) {
  const secret = required(env.agent.webhookSecret, 'AXIOM_AGENT_WEBHOOK_SECRET', '--listen needs it');
  const server = createListener({
    secret,
    path: '/hook',
    onNotice: poke,
    log: (l) => io.stderr.write(`${l}\n`),
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  io.stderr.write(`agent: listening on ${host}:${port}/hook\n`);
  return server;
}

/** A pass that changes nothing: main fetched and checked out in the agent's clone, the plan shown. */
async function dryRun(env: Environment, io: Io, args: AgentArgs): Promise<number> {
  const options = await passOptions(env, io, args);
  const plan = await planPass(options);
  io.stdout.write(booleanOption(args, 'json') ? `${JSON.stringify(plan)}\n` : `${plan.lines.join('\n')}\n`);
  return 0;
}
