import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deploy } from '../boinc/deploy.js';
import { SqliteBoincStore } from '../boinc/sqlite.js';
import { runCheck } from '../check/run.js';
import { LocalJobCreator, runVolunteers, seedStore } from '../demo/volunteers.js';
import { AxiomError, ConfigurationError, InvalidInputError } from '../errors.js';
import { SnapshotFleet } from '../fleet/snapshot.js';
import { DEFAULT_IDENTITY, headCommit, openGit } from '../forge/git.js';
import { LocalForge } from '../forge/local.js';
import { resolvePython } from '../policy/python.js';
import { CATALOGUE_ROOT } from '../propose/catalogue.js';
import { SchemaValidator } from '../schema/validate.js';
import { runId } from './collect.js';
import { booleanOption, type Command, numberOption, stringOption } from './command.js';
import { main } from './main.js';
import { createProgress } from './progress.js';

const MARKER = '.axiom-demo';
const REVIEWER = { name: 'Demo Reviewer', email: 'reviewer@axiom-lab.invalid' };
const APPROVER = `${REVIEWER.name} <${REVIEWER.email}>`;
const DEFAULT_BUDGET = 30;

interface Paths {
  dir: string;
  origin: string;
  lab: string;
  store: string;
  download: string;
  inputs: string;
  runs: string;
  spool: string;
  site: string;
}

function pathsOf(dir: string): Paths {
  return {
    dir,
    origin: join(dir, 'origin.git'),
    lab: join(dir, 'lab'),
    store: join(dir, 'boinc.sqlite'),
    download: join(dir, 'download'),
    inputs: join(dir, 'workunits'),
    runs: join(dir, 'volunteers'),
    spool: join(dir, 'spool'),
    site: join(dir, 'site'),
  };
}

async function git(cwd: string, ...args: string[]): Promise<void> {
  await openGit(cwd, {
    GIT_AUTHOR_NAME: DEFAULT_IDENTITY.name,
    GIT_AUTHOR_EMAIL: DEFAULT_IDENTITY.email,
    GIT_COMMITTER_NAME: DEFAULT_IDENTITY.name,
    GIT_COMMITTER_EMAIL: DEFAULT_IDENTITY.email,
  }).raw(args);
}

/** A lab repository with a bare origin (the local forge), the fleet and a configuration for short runs. */
async function createLab(p: Paths, budget: number): Promise<void> {
  mkdirSync(p.dir, { recursive: true });
  writeFileSync(join(p.dir, MARKER), 'an Axiom Lab demo; axiom demo --fresh starts it over\n');
  await git(p.dir, 'init', '--quiet', '--bare', '--initial-branch=main', p.origin);
  await git(p.dir, 'clone', '--quiet', p.origin, p.lab);
  await git(p.lab, 'checkout', '--quiet', '-B', 'main');
  // The person the demo approves as, when `axiom pr merge` is run by hand in the lab.
  await git(p.lab, 'config', 'user.name', REVIEWER.name);
  await git(p.lab, 'config', 'user.email', REVIEWER.email);
  cpSync(join(CATALOGUE_ROOT, 'fleet.yaml'), join(p.lab, 'fleet.yaml'));
  const config = readFileSync(join(CATALOGUE_ROOT, 'axiom.yaml'), 'utf8').replace(
    /run_duration: \{ min: \d+,/,
    `run_duration: { min: ${Math.min(budget, 30)},`,
  );
  writeFileSync(join(p.lab, 'axiom.yaml'), config);
  writeFileSync(
    join(p.lab, 'README.md'),
    '# An Axiom Lab demo\n\nA lab made by `axiom demo`: its origin is the bare repository beside it.\n',
  );
  await git(p.lab, 'add', '.');
  await git(p.lab, 'commit', '--quiet', '-m', 'A new lab');
  await git(p.lab, 'push', '--quiet', 'origin', 'main');
}

/** Runs one axiom command in the lab, as a user would; its JSON report, or a failure that says which. */
async function axiom(argv: string[], p: Paths, env: NodeJS.ProcessEnv): Promise<unknown> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env,
    cwd: p.lab,
    isTTY: false,
  });
  if (code !== 0)
    throw new AxiomError(`axiom ${argv.slice(0, 2).join(' ')} failed (exit ${code}):\n${stderr}${stdout}`);
  try {
    return JSON.parse(stdout);
  } catch {
    return stdout;
  }
}

async function openPulls(p: Paths, prefix: string): Promise<string[]> {
  const forge = new LocalForge({
    repoDir: p.lab,
    remote: 'origin',
    identity: DEFAULT_IDENTITY,
  });
  return (await forge.list())
    .filter((pr) => pr.state === 'open' && pr.branch.startsWith(prefix))
    .map((pr) => pr.branch);
}

/** Merges the open pull requests with this prefix when --yes; otherwise says how, and stops. */
async function approve(
  p: Paths,
  prefix: string,
  yes: boolean,
  env: NodeJS.ProcessEnv,
  say: (l: string) => void,
): Promise<boolean> {
  const open = await openPulls(p, prefix);
  if (open.length === 0) return true;
  if (!yes) {
    say(
      `${open.length} pull request${open.length === 1 ? ' waits' : 's wait'} for your approval (${open.join(', ')}).`,
    );
    say(
      `Review them with \`axiom pr show <branch>\` in ${p.lab}, then approve all of them and continue with:`,
    );
    say(`  axiom demo --dir ${p.dir} --yes`);
    return false;
  }
  for (const branch of open) await axiom(['pr', 'merge', branch, '--approver', APPROVER], p, env);
  say(`approved and merged ${open.length} pull request${open.length === 1 ? '' : 's'} as ${APPROVER}`);
  return true;
}

interface CreditStatusReport {
  hosts: { id: number; granted: number }[];
  users: { id: number; granted: number }[];
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the whole research loop on this machine: propose, approve, deploy, run, judge, credit, site',
  usage: '',
  description: [
    'Creates a demo lab in --dir (a git repository with a bare origin as its forge, and the embedded',
    'BOINC store with the first-batch fleet) and runs the loop: propose (Claude with ANTHROPIC_API_KEY,',
    'else the built-in catalogue, at --budget seconds per experiment) -> proposal pull requests ->',
    'approval (--yes merges them; otherwise it stops and says how) -> check -> deploy -> every workunit',
    'run by the reference volunteer client, as many at once as there are cores -> assimilate ->',
    'collect and judge -> results pull request -> approval -> credit -> site. Running it again reuses',
    'what exists and does only what is missing; --fresh starts over.',
  ].join('\n'),
  options: {
    dir: { type: 'string', value: 'DIR', description: 'where the demo lab lives (default: axiom-demo)' },
    yes: { type: 'boolean', description: 'approve (merge) the pull requests the demo opens' },
    budget: {
      type: 'string',
      value: 'S',
      description: `seconds each experiment runs (default ${DEFAULT_BUDGET})`,
    },
    fresh: { type: 'boolean', description: 'delete the demo lab first and start over' },
    json: { type: 'boolean', description: 'print the summary as JSON' },
  },
  async run(args, io) {
    const p = pathsOf(resolve(io.cwd, stringOption(args, 'dir') ?? 'axiom-demo'));
    const budget = numberOption(args, 'demo', 'budget', { min: 5, integer: true }) ?? DEFAULT_BUDGET;
    const yes = booleanOption(args, 'yes');
    const say = (line: string) => io.stderr.write(`${line}\n`);
    if (booleanOption(args, 'fresh') && existsSync(p.dir)) {
      if (!existsSync(join(p.dir, MARKER)))
        throw new ConfigurationError(`${p.dir} is not a demo lab; --fresh deletes only what axiom demo made`);
      rmSync(p.dir, { recursive: true, force: true });
    }
    if (existsSync(p.dir) && !existsSync(join(p.dir, MARKER)))
      throw new ConfigurationError(`${p.dir} exists and is not a demo lab; choose another --dir`);
    const started = Date.now();
    if (!existsSync(p.lab)) {
      await createLab(p, budget);
      say(`lab: created ${p.lab} with its origin ${p.origin}`);
    } else say(`lab: reusing ${p.lab}`);
    const validator = new SchemaValidator();
    const python = resolvePython(io.env);
    const store = new SqliteBoincStore(p.store);
    try {
      const hosts = await new SnapshotFleet(join(p.lab, 'fleet.yaml'), 'fleet.yaml', validator).readHosts();
      if (await seedStore(store, hosts)) say(`store: ${p.store} seeded with ${hosts.length} volunteer hosts`);
      const env: NodeJS.ProcessEnv = {
        PATH: io.env.PATH,
        HOME: io.env.HOME,
        AXIOM_PYTHON: python,
        AXIOM_FORGE: 'local',
        AXIOM_DB_URL: `sqlite:${p.store}`,
        AXIOM_SPOOL_DIR: p.spool,
        AXIOM_CATALOGUE_RUN_DURATION: String(budget),
        ...(io.env.ANTHROPIC_API_KEY ? { ANTHROPIC_API_KEY: io.env.ANTHROPIC_API_KEY } : {}),
        ...(io.env.ANTHROPIC_BASE_URL ? { ANTHROPIC_BASE_URL: io.env.ANTHROPIC_BASE_URL } : {}),
      };
      await git(p.lab, 'pull', '--quiet', '--ff-only', 'origin', 'main');

      const proposed = (await axiom(
        ['propose', '--count', '10', '--smoke-seconds', '0', '--json'],
        p,
        env,
      )) as {
        proposed: { name: string }[];
      };
      say(
        `propose: ${proposed.proposed.length} proposal${proposed.proposed.length === 1 ? '' : 's'} (${io.env.ANTHROPIC_API_KEY ? 'designed by Claude' : 'from the built-in catalogue'})`,
      );
      if (!(await approve(p, 'axiom/propose/', yes, env, say))) return 0;

      const report = await runCheck({ root: p.lab, paths: [], python, validator });
      const errors = report.problems.filter((x) => x.severity === 'error');
      if (errors.length > 0) throw new InvalidInputError('axiom check finds errors in the demo lab', errors);
      say(`check: ${report.manifests} manifests and ${report.scripts} scripts pass`);

      const items = await deploy(
        report.deployable,
        {
          root: p.lab,
          publishDir: p.download,
          baseUrl: pathToFileURL(p.download).href,
          manifestCommit: await headCommit(p.lab),
          existingWorkunits: (names) => store.existingWorkunits(names),
          cancelUnsentWorkunits: (experiment) => store.cancelUnsentWorkunits(experiment),
          jobCreator: new LocalJobCreator(store, p.inputs),
        },
        { dryRun: false },
      );
      say(
        `deploy: ${items.filter((i) => i.state === 'created').length} workunits created, ${items.filter((i) => i.state === 'present').length} already there`,
      );

      const parallel = Math.max(1, availableParallelism());
      const progress = createProgress(io);
      const runs = await runVolunteers({
        store,
        inputsDir: p.inputs,
        runsDir: p.runs,
        spoolDir: p.spool,
        python,
        validator,
        parallel,
        cpusEach: 1,
        onFinished: (run, done, total) =>
          progress.update(`volunteers: ${done}/${total} workunits done (${run.workunit}: ${run.status})`),
      });
      progress.done();
      say(
        `volunteers: ran ${runs.length} workunits, ${parallel} at a time, ${budget} s each; ${runs.filter((r) => r.status === 'ok').length} finished ok`,
      );

      const collected = (await axiom(['collect', '--run', runId(new Date()), '--json'], p, env)) as {
        collected: { experiment: string; verdict: string; credit: number }[];
      };
      const verdicts = collected.collected.reduce<Record<string, number>>((acc, c) => {
        acc[c.verdict] = (acc[c.verdict] ?? 0) + 1;
        return acc;
      }, {});
      say(
        `collect: ${collected.collected.length} results judged (${
          Object.entries(verdicts)
            .map(([v, n]) => `${n} ${v}`)
            .join(', ') || 'nothing new'
        })`,
      );
      if (!(await approve(p, 'axiom/results', yes, env, say))) return 0;

      await git(p.lab, 'pull', '--quiet', '--ff-only', 'origin', 'main');
      const credit = (await axiom(['credit', 'apply', '--json'], p, env)) as {
        granted: { amount: number }[];
      };
      say(
        `credit: granted ${credit.granted.reduce((s, g) => s + g.amount, 0)} credit for ${credit.granted.length} results in ${p.store}`,
      );
      await axiom(['site', '--out', p.site], p, env);
      say(`site: ${join(p.site, 'index.html')}`);

      const status = (await axiom(['credit', 'status', '--json'], p, env)) as CreditStatusReport;
      const experiments = new Set(collected.collected.map((c) => c.experiment));
      const summary = {
        seconds: Math.round((Date.now() - started) / 1000),
        experiments: [...experiments].sort(),
        verdicts,
        creditPerHost: status.hosts.map((h) => ({ host: h.id, credit: h.granted })),
        creditPerUser: status.users.map((u) => ({ user: u.id, credit: u.granted })),
        lab: p.lab,
        origin: p.origin,
        results: join(p.lab, 'results'),
        site: join(p.site, 'index.html'),
      };
      if (booleanOption(args, 'json')) io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else
        io.stdout.write(
          [
            '',
            `The loop ran in ${summary.seconds} s: ${summary.experiments.length} experiments produced results this run.`,
            `Verdicts: ${
              Object.entries(verdicts)
                .map(([v, n]) => `${n} ${v}`)
                .join(', ') || 'none new'
            }.`,
            `Credit per host: ${summary.creditPerHost.map((h) => `${h.host}: ${h.credit}`).join(', ') || 'none'}.`,
            `Credit per user: ${summary.creditPerUser.map((u) => `${u.user}: ${u.credit}`).join(', ') || 'none'}.`,
            `Pull requests: \`axiom pr list --all\` in ${p.lab} (the origin is ${p.origin}).`,
            `Results: ${summary.results}`,
            `Site: ${summary.site}`,
            '',
          ].join('\n'),
        );
      return 0;
    } finally {
      await store.close();
    }
  },
};
