import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError, UsageError } from '../errors.js';

/** The BOINC platforms the volunteer app is built for, and how their executables are named. */
export const PLATFORMS = {
  'x86_64-pc-linux-gnu': { exe: '' },
  windows_x86_64: { exe: '.exe' },
} as const;
export type Platform = keyof typeof PLATFORMS;

const SCRIPTS = new URL('../../scripts/', import.meta.url).pathname;
const SCHEMAS = new URL('../../schemas/', import.meta.url).pathname;

/** One file of an app version: its physical name in the project, and the name the app opens. */
export interface AppFile {
  physical: string;
  logical?: string;
  mainProgram?: boolean;
  /** Copied into the slot directory instead of linked: the client and what it reads beside itself. */
  copy?: boolean;
  source: string;
}

export interface AppOptions {
  platform: Platform;
  /** BOINC app version number, e.g. 100 for 1.00. */
  version: number;
  /** BOINC's wrapper (samples/wrapper) built for the platform. */
  wrapper: string;
  /** The frozen Python runtime with numpy (scripts/app/axiom_python.py, built with PyInstaller). */
  runtime: string;
  /** Where `apps/` goes (the project's `apps/` on the BOINC server). */
  out: string;
  appName: string;
  /** Cores the scheduler reserves at most per task (the plan class's max_threads). */
  maxThreads: number;
  dryRun: boolean;
}

export interface AppReport {
  directory: string;
  platform: Platform;
  planClass: string;
  files: { physical: string; logical?: string; bytes: number }[];
  planClassSpec: string;
  dryRun: boolean;
}

/** The plan class that makes BOINC reserve the cores a task uses and tell the app how many (--nthreads). */
export const PLAN_CLASS = 'mt';

/**
 * BOINC's plan_class_spec.xml entry for it (sched/plan_class_spec.cpp): at least one core, at most
 * `maxThreads`, the count on the app's command line, and memory for the interpreter per task.
 */
export function planClassSpec(maxThreads: number): string {
  return `<plan_classes>
    <plan_class>
        <name>${PLAN_CLASS}</name>
        <min_ncpus>1</min_ncpus>
        <max_threads>${maxThreads}</max_threads>
        <nthreads_cmdline/>
        <mem_usage_base_mb>512</mem_usage_base_mb>
    </plan_class>
</plan_classes>
`;
}

/**
 * job.xml of BOINC's wrapper (samples/wrapper/wrapper.cpp): one task, the frozen Python running the
 * reference client in the slot directory. $NTHREADS is the --nthreads the scheduler put on the
 * command line (the cores BOINC reserved); `multi_process` makes the wrapper count the CPU time of
 * the script's worker processes. The task's stderr stays the wrapper's, which BOINC sends the
 * project as result.stderr_out, failed tasks included.
 */
export function jobXml(platform: Platform): string {
  const python = `axiom_python${PLATFORMS[platform].exe}`;
  return `<job_desc>
    <task>
        <application>${python}</application>
        <command_line>axiom_client.py --wu wu.json --out axiom_result.json --workdir run --nthreads $NTHREADS</command_line>
        <multi_process/>
    </task>
</job_desc>
`;
}

/** The files of an app version, with names that include the version (BOINC files never change). */
export function appFiles(
  options: Pick<AppOptions, 'platform' | 'version' | 'wrapper' | 'runtime'>,
): AppFile[] {
  const { platform, version } = options;
  const exe = PLATFORMS[platform].exe;
  const v = String(version);
  return [
    { physical: `axiom_wrapper_${v}_${platform}${exe}`, mainProgram: true, source: options.wrapper },
    {
      physical: `axiom_python_${v}_${platform}${exe}`,
      logical: `axiom_python${exe}`,
      source: options.runtime,
    },
    { physical: `axiom_job_${v}.xml`, logical: 'job.xml', source: '' },
    {
      physical: `axiom_client_${v}.py`,
      logical: 'axiom_client.py',
      copy: true,
      source: join(SCRIPTS, 'axiom_client.py'),
    },
    {
      physical: `axiom_sandbox_${v}.py`,
      logical: 'axiom_sandbox.py',
      copy: true,
      source: join(SCRIPTS, 'axiom_sandbox.py'),
    },
    {
      physical: `axiom_workunit_schema_${v}.json`,
      logical: 'workunit.schema.json',
      copy: true,
      source: join(SCHEMAS, 'workunit.schema.json'),
    },
  ];
}

/** version.xml as BOINC's update_versions reads it (tools/update_versions). */
export function versionXml(files: readonly AppFile[]): string {
  const entries = files.map((f) =>
    [
      '    <file>',
      `        <physical_name>${f.physical}</physical_name>`,
      ...(f.logical ? [`        <logical_name>${f.logical}</logical_name>`] : []),
      ...(f.mainProgram ? ['        <main_program/>'] : []),
      ...(f.copy ? ['        <copy_file/>'] : []),
      '    </file>',
    ].join('\n'),
  );
  return `<version>\n${entries.join('\n')}\n    <is_wrapper/>\n</version>\n`;
}

function requireFile(path: string, what: string): void {
  if (!existsSync(path) || !statSync(path).isFile())
    throw new ConfigurationError(`${what} ${path} is not a file`);
}

/**
 * Assembles the app version directory `<out>/<app>/<version>/<platform>__mt/` that BOINC's
 * update_versions installs: the wrapper as main program, the frozen Python, job.xml, the client,
 * its sandbox and the workunit schema, and version.xml naming them all.
 */
export function assembleAppVersion(options: AppOptions): AppReport {
  if (!(options.platform in PLATFORMS))
    throw new UsageError(
      `unknown platform "${options.platform}"; expected ${Object.keys(PLATFORMS).join(', ')}`,
      'app',
    );
  requireFile(options.wrapper, "BOINC's wrapper");
  requireFile(options.runtime, 'the Python runtime');
  const directory = join(
    options.out,
    options.appName,
    String(options.version),
    `${options.platform}__${PLAN_CLASS}`,
  );
  if (existsSync(directory) && readdirSync(directory).length > 0)
    throw new ConfigurationError(
      `${directory} exists: an app version never changes once installed; give a new --version`,
    );
  const files = appFiles(options);
  const job = jobXml(options.platform);
  const report: AppReport = {
    directory,
    platform: options.platform,
    planClass: PLAN_CLASS,
    files: files.map((f) => ({
      physical: f.physical,
      ...(f.logical ? { logical: f.logical } : {}),
      bytes: f.source ? statSync(f.source).size : Buffer.byteLength(job),
    })),
    planClassSpec: planClassSpec(options.maxThreads),
    dryRun: options.dryRun,
  };
  if (options.dryRun) return report;
  mkdirSync(directory, { recursive: true });
  for (const file of files) {
    if (file.source) copyFileSync(file.source, join(directory, file.physical));
    else writeFileSync(join(directory, file.physical), job);
  }
  writeFileSync(join(directory, 'version.xml'), versionXml(files));
  return report;
}
