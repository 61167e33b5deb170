import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ProjectLayout } from '../boinc/project.js';
import { SqliteBoincStore } from '../boinc/sqlite.js';
import { openJudge } from '../collect/open-judge.js';
import { collectResults, RESULTS_BRANCH_PREFIX, runId } from '../collect/results.js';
import { requireConfig } from '../config/config.js';
import { applyCredit } from '../credit/apply.js';
import { creditStatus } from '../credit/status.js';
import { deployManifests } from '../deploy/deploy.js';
import { DEMO_MARKER, type Environment } from '../env/environment.js';
import { ConfigurationError } from '../errors.js';
import { SnapshotFleet } from '../fleet/snapshot.js';
import type { FleetSource } from '../fleet/types.js';
import { DEFAULT_IDENTITY, headCommit, openGit } from '../forge/git.js';
import { type Approval, LocalForge } from '../forge/local.js';
import { PlotRenderer } from '../plots/render.js';
import { CATALOGUE_ROOT, manifestsIn } from '../propose/catalogue.js';
import { designerFrom, proposeExperiments } from '../propose/propose.js';
import { type MachineBenchmark, measureMachine } from '../runner/benchmark.js';
import { SchemaValidator } from '../schema/validate.js';
import { buildSite } from '../site/build.js';
import { type RoundContext, type RoundSteps, runSecondRound, type SecondRound } from './second-round.js';
import { LocalJobCreator, runVolunteers, seedStore, type VolunteerRun } from './volunteers.js';

const MARKER = DEMO_MARKER;
/** Where a demo lab keeps the benchmark its work was sized for. */
const MACHINE_FILE = 'machine.json';
/** Seconds of each proposal's smoke run in the demo: enough for a script to start on a busy machine. */
const DEMO_SMOKE_SECONDS = 6;
export const DEMO_REVIEWER = { name: 'Demo Reviewer', email: 'reviewer@axiom-lab.invalid' };
/** The demo's download hierarchy, as make_project lays it out. */
const FANOUT = 1024;

export interface DemoPaths {
  dir: string;
  origin: string;
  lab: string;
  store: string;
  download: string;
  runs: string;
  spool: string;
  site: string;
}

export function demoPaths(dir: string): DemoPaths {
  return {
    dir,
    origin: join(dir, 'origin.git'),
    lab: join(dir, 'lab'),
    store: join(dir, 'boinc.sqlite'),
    download: join(dir, 'download'),
    runs: join(dir, 'volunteers'),
    spool: join(dir, 'spool'),
    site: join(dir, 'site'),
  };
}

export interface DemoOptions {
  dir: string;
  /** Seconds each experiment runs. */
  budget: number;
  /** Approve (merge) every pull request the demo opens; otherwise stop at the first that waits. */
  yes: boolean;
  /** Delete the demo lab first. */
  fresh: boolean;
  python: string;
  /** Claude designs and judges when it has a key. */
  claude: Environment['claude'];
  say: (line: string) => void;
  progress?: (line: string) => void;
}

export interface DemoReport {
  seconds: number;
  /** Where the demo stopped for an approval, with the pull requests that wait; null when it ran through. */
  waiting: { step: 'proposals' | 'results'; pullRequests: string[] } | null;
  /** Proposals that still wait while the loop ran with the approved ones. */
  stillWaiting: string[];
  /** What this run did not propose, and why (beside what the lab has and what is retired). */
  dropped: Dropped;
  experiments: string[];
  verdicts: Record<string, number>;
  /** What the results say of their hypotheses: supported, not supported, inconclusive. */
  outcomes: Record<string, number>;
  volunteers: VolunteerRun[];
  creditPerHost: { host: number; credit: number }[];
  creditPerUser: { user: number; credit: number }[];
  paths: DemoPaths;
  siteIndex: string;
  /** This machine as measured when the demo ran: the benchmark its volunteers reported. */
  benchmark?: { gflopsPerCore: number; cores: number; blas?: string };
  /** Each experiment's demonstration budget against production's, in seconds. */
  budgets: { experiment: string; seconds: number; production?: number }[];
  /** The second round: follow-ups designed from the first round's outcomes, and what they changed. */
  secondRound?: SecondRound;
}

async function git(cwd: string, ...args: string[]): Promise<void> {
  await openGit(cwd, {
    GIT_AUTHOR_NAME: DEFAULT_IDENTITY.name,
    GIT_AUTHOR_EMAIL: DEFAULT_IDENTITY.email,
    GIT_COMMITTER_NAME: DEFAULT_IDENTITY.name,
    GIT_COMMITTER_EMAIL: DEFAULT_IDENTITY.email,
  }).raw(args);
}

/**
 * The demo's fleet: the first batch's hosts, as the demo's volunteers on this machine run them, with
 * all of this machine's cores or half of them (at least one), so that the volunteers running at once
 * never ask for more cores than the machine has. The cores are a two-colouring of the catalogue's
 * target pairs, so that the two same-seed replicas of each experiment run on different core counts
 * (where the machine has more than one core). Their benchmark is measured when the demo runs
 * (measuredFleet), not written here.
 */
export function demoFleet(text: string, pairs: readonly (readonly number[])[], machineCores: number): string {
  const many = Math.max(1, machineCores);
  const few = Math.max(1, Math.floor(many / 2));
  const neighbours = new Map<number, number[]>();
  for (const [a, b] of pairs)
    if (a !== undefined && b !== undefined) {
      neighbours.set(a, [...(neighbours.get(a) ?? []), b]);
      neighbours.set(b, [...(neighbours.get(b) ?? []), a]);
    }
  const cores = new Map<number, number>();
  const ids = [...text.matchAll(/id: (\d+)/g)].map((m) => Number(m[1]));
  for (const start of ids) {
    if (cores.has(start)) continue;
    cores.set(start, few);
    const queue = [start];
    for (let host = queue.shift(); host !== undefined; host = queue.shift())
      for (const next of neighbours.get(host) ?? [])
        if (!cores.has(next)) {
          cores.set(next, cores.get(host) === few ? many : few);
          queue.push(next);
        }
  }
  return text
    .replace(
      /^source: .*$/m,
      `source: the demo volunteers on this machine (the first batch, ${few === many ? `${many} cores` : `${few} or ${many} cores`} each)`,
    )
    .replace(/id: (\d+), cores: \d+/g, (_, id) => `id: ${id}, cores: ${cores.get(Number(id)) ?? few}`);
}

/**
 * The demo's fleet as the planner sees it when the demo runs: every host carries the benchmark and
 * BLAS measured on this machine now, so a busy machine is sized as it is.
 */
export function measuredFleet(snapshot: FleetSource, benchmark: MachineBenchmark): FleetSource {
  return {
    label: `${snapshot.label}, with this machine's benchmark measured now`,
    async readHosts() {
      return (await snapshot.readHosts()).map((h) => ({
        ...h,
        fpops: benchmark.fpops,
        ...(benchmark.blas ? { blas: benchmark.blas } : {}),
      }));
    },
  };
}

/** A lab repository with a bare origin (the local forge), the fleet and a configuration for short runs. */
async function createLab(p: DemoPaths, budget: number, validator: SchemaValidator): Promise<void> {
  mkdirSync(p.dir, { recursive: true });
  writeFileSync(join(p.dir, MARKER), 'an Axiom Lab demo; axiom demo --fresh starts it over\n');
  await git(p.dir, 'init', '--quiet', '--bare', '--initial-branch=main', p.origin);
  await git(p.dir, 'clone', '--quiet', p.origin, p.lab);
  await git(p.lab, 'checkout', '--quiet', '-B', 'main');
  // The person the demo approves as, when `axiom pr merge` is run by hand in the lab.
  await git(p.lab, 'config', 'user.name', DEMO_REVIEWER.name);
  await git(p.lab, 'config', 'user.email', DEMO_REVIEWER.email);
  writeFileSync(
    join(p.lab, 'fleet.yaml'),
    demoFleet(
      readFileSync(join(CATALOGUE_ROOT, 'fleet.yaml'), 'utf8'),
      manifestsIn(CATALOGUE_ROOT, validator)
        .filter((m) => !m.retired)
        .map((m) => m.targets.slice(0, 2).map((t) => t.host)),
      availableParallelism(),
    ),
  );
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

function prepareDir(p: DemoPaths, fresh: boolean): void {
  if (fresh && existsSync(p.dir)) {
    if (!existsSync(join(p.dir, MARKER)))
      throw new ConfigurationError(`${p.dir} is not a demo lab; --fresh deletes only what axiom demo made`);
    rmSync(p.dir, { recursive: true, force: true });
  }
  if (existsSync(p.dir) && !existsSync(join(p.dir, MARKER)))
    throw new ConfigurationError(`${p.dir} exists and is not a demo lab; choose another --dir`);
}

/** Merges the open pull requests with this prefix when `yes`; the branches that wait otherwise. */
async function approve(forge: LocalForge, p: DemoPaths, prefix: string, yes: boolean): Promise<string[]> {
  const open = (await forge.list()).filter((pr) => pr.state === 'open' && pr.branch.startsWith(prefix));
  if (open.length === 0 || !yes) return open.map((pr) => pr.branch);
  const approval: Approval = { approver: DEMO_REVIEWER, at: new Date() };
  for (const pr of open) await forge.merge(pr.ref, approval);
  await git(p.lab, 'pull', '--quiet', '--ff-only', 'origin', 'main');
  return [];
}

function count(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

/** What every step of the demo works with. */
interface DemoRun {
  p: DemoPaths;
  options: DemoOptions;
  validator: SchemaValidator;
  store: SqliteBoincStore;
  forge: LocalForge;
  layout: ProjectLayout;
  /** This machine, measured when the demo runs: what its volunteers report as their benchmark. */
  benchmark: MachineBenchmark;
  fleet: FleetSource;
}

/** What was not proposed and why, beside what the lab already has and what is retired. */
export type Dropped = { name: string; reason: string }[];

async function proposeStep(run: DemoRun): Promise<{ waiting: string[]; dropped: Dropped }> {
  const { p, options } = run;
  const proposed = await proposeExperiments({
    root: p.lab,
    catalogueRoot: CATALOGUE_ROOT,
    validator: run.validator,
    python: options.python,
    count: 10,
    // A short smoke run of each script, so that every proposal shows real numbers.
    smokeSeconds: DEMO_SMOKE_SECONDS,
    // One smoke run per core at a time.
    parallel: run.benchmark.cores,
    repairs: 3,
    scaledRunDuration: options.budget,
    benchmark: run.benchmark,
    ...designerFrom(options.claude),
    forge: run.forge,
    ...(options.progress ? { onProgress: options.progress } : {}),
  });
  const n = proposed.proposed.length;
  options.say(
    `propose: ${n} proposal${n === 1 ? '' : 's'} (${proposed.designedBy === 'claude' ? 'designed by Claude' : 'from the built-in catalogue'})`,
  );
  // What was not proposed, and why: a reader is never left to count.
  const dropped = proposed.skipped.filter(
    (s) => !s.reason.startsWith('the lab already') && !s.reason.startsWith('retired'),
  );
  for (const s of dropped) options.say(`propose: ${s.name} not proposed: ${s.reason}`);
  return { waiting: await approve(run.forge, p, 'axiom/propose/', options.yes), dropped };
}

async function deployStep(run: DemoRun): Promise<void> {
  const { p } = run;
  const deployed = await deployManifests({
    root: p.lab,
    validator: run.validator,
    python: run.options.python,
    store: run.store,
    fleet: run.fleet,
    target: {
      publishDir: p.download,
      baseUrl: pathToFileURL(p.download).href,
      manifestCommit: await headCommit(p.lab),
      jobCreator: new LocalJobCreator(run.store, run.layout),
    },
  });
  run.options.say(
    `deploy: ${deployed.totals.created} workunits created, ${deployed.totals.present} already there`,
  );
}

async function volunteerStep(run: DemoRun): Promise<VolunteerRun[]> {
  const parallel = Math.max(1, availableParallelism());
  const volunteers = await runVolunteers({
    cores: parallel,
    store: run.store,
    layout: run.layout,
    runsDir: run.p.runs,
    spoolDir: run.p.spool,
    python: run.options.python,
    validator: run.validator,
    parallel,
    onFinished: (done, n, total) =>
      run.options.progress?.(`volunteers: ${n}/${total} workunits done (${done.workunit}: ${done.status})`),
    onUnsent: (unsent) =>
      run.options.say(`volunteers: ${unsent.workunit} not sent to host ${unsent.host}: ${unsent.reason}`),
  });
  const ok = volunteers.filter((r) => r.status === 'ok').length;
  run.options.say(
    `volunteers: ran ${volunteers.length} workunits on ${parallel} cores, never asking for more at once; ${ok} finished ok`,
  );
  return volunteers;
}

async function collectStep(
  run: DemoRun,
): Promise<{ experiments: string[]; verdicts: Record<string, number>; outcomes: Record<string, number> }> {
  const { p } = run;
  const collected = await collectResults({
    root: p.lab,
    spoolDir: p.spool,
    store: run.store,
    validator: run.validator,
    judge: await openJudge(run.options.claude),
    run: runId(new Date()),
    hostDayLimit: requireConfig(p.lab, run.validator).limits.creditPerHostDay,
    forge: run.forge,
    dryRun: false,
    plots: { enabled: true },
  });
  const verdicts = count(collected.collected.map((c) => c.verdict));
  const outcomes = count(collected.collected.map((c) => c.outcome));
  const said = [verdicts, outcomes].map((tally) =>
    Object.entries(tally)
      .map(([word, n]) => `${n} ${word}`)
      .join(', '),
  );
  run.options.say(
    `collect: ${collected.collected.length} results judged (${
      collected.collected.length === 0 ? 'nothing new' : `${said[0]}; outcomes: ${said[1]}`
    })`,
  );
  return {
    experiments: [...new Set(collected.collected.map((c) => c.experiment))].sort(),
    verdicts,
    outcomes,
  };
}

async function creditAndSiteStep(run: DemoRun): Promise<Pick<DemoReport, 'creditPerHost' | 'creditPerUser'>> {
  const { p, validator, store } = run;
  const commit = await headCommit(p.lab);
  const now = () => Math.floor(Date.now() / 1000);
  const credit = await applyCredit({ root: p.lab, store, validator, commit, now, dryRun: false });
  const granted = credit.granted.reduce((s, g) => s + g.amount, 0);
  run.options.say(`credit: granted ${granted} credit for ${credit.granted.length} results in ${p.store}`);
  const renderer = new PlotRenderer();
  try {
    await buildSite({ root: p.lab, out: p.site, validator, renderer, dryRun: false });
  } finally {
    await renderer.close();
  }
  run.options.say(`site: ${join(p.site, 'index.html')}`);
  const status = await creditStatus({ root: p.lab, store, validator });
  return {
    creditPerHost: status.hosts.map((h) => ({ host: h.id, credit: h.granted })),
    creditPerUser: status.users.map((u) => ({ user: u.id, credit: u.granted })),
  };
}

/** The loop's steps, as the second round runs them again. */
const SECOND_ROUND_STEPS: RoundSteps<DemoRun> = {
  approve: (run, prefix) => approve(run.forge, run.p, prefix, run.options.yes),
  deploy: deployStep,
  volunteers: volunteerStep,
  collect: collectStep,
  creditAndSite: creditAndSiteStep,
};

function roundContext(run: DemoRun): RoundContext {
  return {
    lab: run.p.lab,
    validator: run.validator,
    python: run.options.python,
    smokeSeconds: DEMO_SMOKE_SECONDS,
    benchmark: run.benchmark,
    claude: run.options.claude,
    forge: run.forge,
    say: run.options.say,
    ...(run.options.progress ? { progress: run.options.progress } : {}),
  };
}

/**
 * This machine's benchmark for the lab: measured now when the lab is new, then kept with it, so that
 * what its proposals were sized for is what deploy checks and plans them with on a later run (a busier
 * machine then would refuse the work it already planned); --fresh measures again.
 */
async function labMachine(
  p: DemoPaths,
  python: string,
): Promise<{ benchmark: MachineBenchmark; when: string }> {
  const file = join(p.dir, MACHINE_FILE);
  const kept = existsSync(file) ? keptMachine(readFileSync(file, 'utf8')) : undefined;
  if (kept) return { benchmark: kept.benchmark, when: `when this lab was made (${kept.at})` };
  const benchmark = await measureMachine(python, availableParallelism());
  writeFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), benchmark }, null, 2)}\n`);
  return { benchmark, when: 'now' };
}

/** The benchmark a lab keeps, or undefined when the file is not one (then the machine is measured again). */
function keptMachine(text: string): { at: string; benchmark: MachineBenchmark } | undefined {
  try {
    const kept = JSON.parse(text) as { at?: unknown; benchmark?: Partial<MachineBenchmark> };
    const b = kept.benchmark;
    const positive = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n > 0;
    const stamp = typeof kept.at === 'string' && /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(kept.at);
    return stamp && b && positive(b.fpops) && positive(b.cores)
      ? { at: kept.at as string, benchmark: b as MachineBenchmark }
      : undefined;
  } catch {
    return undefined;
  }
}

async function openLab(options: DemoOptions): Promise<DemoRun> {
  const p = demoPaths(options.dir);
  prepareDir(p, options.fresh);
  const validator = new SchemaValidator();
  if (!existsSync(p.lab)) {
    await createLab(p, options.budget, validator);
    options.say(`lab: created ${p.lab} with its origin ${p.origin}`);
  } else options.say(`lab: reusing ${p.lab}`);
  const store = new SqliteBoincStore(p.store);
  const snapshot = new SnapshotFleet(join(p.lab, 'fleet.yaml'), 'fleet.yaml', validator);
  const hosts = await snapshot.readHosts();
  const { benchmark, when } = await labMachine(p, options.python);
  options.say(
    `machine: ${(benchmark.fpops / 1e9).toPrecision(3)} GFLOPS per core measured ${when} on ${benchmark.cores} cores at once (${benchmark.blasLibrary ?? 'BLAS unknown'}); the volunteers report it as their benchmark`,
  );
  if (await seedStore(store, hosts))
    options.say(`store: ${p.store} seeded with ${hosts.length} volunteer hosts`);
  await git(p.lab, 'pull', '--quiet', '--ff-only', 'origin', 'main');
  return {
    p,
    options,
    validator,
    store,
    forge: new LocalForge({ repoDir: p.lab, remote: 'origin', identity: DEFAULT_IDENTITY }),
    layout: { projectDir: p.dir, downloadDir: p.download, fanout: FANOUT },
    benchmark,
    fleet: measuredFleet(snapshot, benchmark),
  };
}

/**
 * The whole loop on this machine, with the use cases a real lab runs: propose → approve → deploy →
 * volunteers (the reference client on the staged wu.json, assimilated as BOINC would) → collect →
 * approve → credit → site. Running it again does only what is missing.
 */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const started = Date.now();
  const run = await openLab(options);
  const report = (waiting: DemoReport['waiting'], rest: Partial<DemoReport> = {}): DemoReport => ({
    seconds: Math.round((Date.now() - started) / 1000),
    waiting,
    experiments: [],
    verdicts: {},
    outcomes: {},
    stillWaiting: [],
    dropped: [],
    volunteers: [],
    creditPerHost: [],
    creditPerUser: [],
    paths: run.p,
    siteIndex: join(run.p.site, 'index.html'),
    benchmark: {
      gflopsPerCore: Number((run.benchmark.fpops / 1e9).toPrecision(3)),
      cores: run.benchmark.cores,
      ...(run.benchmark.blasLibrary ? { blas: run.benchmark.blasLibrary } : {}),
    },
    budgets: manifestsIn(run.p.lab, run.validator).map((m) => ({
      experiment: m.name,
      seconds: m.run_duration,
      ...(m.production_run_duration ? { production: m.production_run_duration } : {}),
    })),
    ...rest,
  });
  try {
    const { waiting: proposals, dropped } = await proposeStep(run);
    // With nothing approved yet there is nothing to run; once some are, the loop runs with those
    // and the rest keep waiting.
    const approved = existsSync(join(run.p.lab, 'manifests'))
      ? readdirSync(join(run.p.lab, 'manifests')).filter((f) => f.endsWith('.yaml')).length
      : 0;
    if (proposals.length > 0 && approved === 0)
      return report({ step: 'proposals', pullRequests: proposals }, { dropped });
    if (proposals.length > 0)
      options.say(`propose: ${proposals.length} still wait for approval; running the ${approved} approved`);
    const stillWaiting = { stillWaiting: proposals, dropped };
    await deployStep(run);
    const volunteers = await volunteerStep(run);
    const collected = { ...(await collectStep(run)), volunteers };
    const results = await approve(run.forge, run.p, RESULTS_BRANCH_PREFIX, options.yes);
    if (results.length > 0)
      return report({ step: 'results', pullRequests: results }, { ...collected, ...stillWaiting });
    const credit = await creditAndSiteStep(run);
    const secondRound = await runSecondRound(run, roundContext(run), SECOND_ROUND_STEPS);
    return report(null, { ...collected, ...stillWaiting, ...(secondRound.credit ?? credit), secondRound });
  } finally {
    await run.store.close();
  }
}
