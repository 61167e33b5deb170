import { resolve } from 'node:path';
import { assembleAppVersion, PLATFORMS, type Platform } from '../app/app.js';
import { UsageError } from '../errors.js';
import { booleanOption, choiceOption, defineCommand, numberOption, stringOption } from './command.js';

export const appCommand = defineCommand({
  name: 'app',
  summary: 'assemble the BOINC app version volunteers run: the wrapper, the Python runtime and the client',
  usage: '',
  description: [
    "Writes the app version directory BOINC's update_versions installs, apps/<app>/<version>/",
    "<platform>__mt/ under --out: BOINC's wrapper (--wrapper) as the main program, the frozen Python",
    'runtime with numpy (--runtime; built by app.yml with PyInstaller from scripts/app/axiom_python.py),',
    'job.xml running the reference client with the cores BOINC reserved, the client, its sandbox and',
    'the workunit schema, and version.xml naming them. Prints the plan_class_spec.xml entry of the mt',
    'plan class that makes the scheduler reserve up to --max-threads cores per task. Then, on the BOINC',
    'server: bin/update_versions (which signs the files with the project key).',
  ].join('\n'),
  options: {
    platform: {
      type: 'string',
      value: 'NAME',
      description: `BOINC platform: ${Object.keys(PLATFORMS).join(' or ')}`,
    },
    version: { type: 'string', value: 'N', description: 'app version number, e.g. 100 for 1.00' },
    wrapper: { type: 'string', value: 'FILE', description: "BOINC's wrapper built for the platform" },
    runtime: { type: 'string', value: 'FILE', description: 'the frozen Python runtime (axiom_python)' },
    out: { type: 'string', value: 'DIR', description: 'where apps/ goes (default: apps)' },
    app: {
      type: 'string',
      value: 'NAME',
      description: 'BOINC app name (default: AXIOM_BOINC_APP, else axiom)',
    },
    'max-threads': {
      type: 'string',
      value: 'N',
      description: 'cores the scheduler reserves per task at most (default 64)',
    },
    'dry-run': { type: 'boolean', description: 'check the inputs and list the files; write nothing' },
    json: { type: 'boolean', description: 'report as JSON' },
  },
  async run(args, { io, env }) {
    const platform = choiceOption(
      args,
      'app',
      'platform',
      Object.keys(PLATFORMS) as Platform[],
      'x86_64-pc-linux-gnu',
    );
    const version = numberOption(args, 'app', 'version', { min: 1, integer: true });
    const wrapper = stringOption(args, 'wrapper');
    const runtime = stringOption(args, 'runtime');
    if (version === undefined || !wrapper || !runtime)
      throw new UsageError('--version, --wrapper and --runtime are required', 'app');
    const report = assembleAppVersion({
      platform,
      version,
      wrapper: resolve(io.cwd, wrapper),
      runtime: resolve(io.cwd, runtime),
      out: resolve(io.cwd, stringOption(args, 'out') ?? 'apps'),
      appName: stringOption(args, 'app') ?? env.boinc.app,
      maxThreads: numberOption(args, 'app', 'max-threads', { min: 1, integer: true }) ?? 64,
      dryRun: booleanOption(args, 'dry-run'),
    });
    io.stdout.write(
      booleanOption(args, 'json')
        ? `${JSON.stringify(report, null, 2)}\n`
        : [
            `${report.dryRun ? 'would write' : 'wrote'} ${report.directory}:`,
            ...report.files.map(
              (f) => `  ${f.physical}${f.logical ? ` (${f.logical})` : ''}  ${f.bytes} bytes`,
            ),
            '',
            "The plan class, for the project's plan_class_spec.xml:",
            report.planClassSpec,
          ].join('\n'),
    );
    return 0;
  },
});
