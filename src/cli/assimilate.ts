import { type AssimilateCall, assimilateResult } from '../assimilate/assimilate.js';
import { openStore } from '../boinc/open.js';
import { projectDatabaseUrl, readProjectLayout } from '../boinc/project.js';
import { required } from '../env/environment.js';
import { UsageError } from '../errors.js';
import { SchemaValidator } from '../schema/validate.js';
import { defineCommand, type ParsedArgs, stringOption } from './command.js';

const WU_NAME = /^[A-Za-z0-9_.-]{1,191}$/;

function integer(text: string | undefined, what: string): number {
  if (text === undefined || !/^\d{1,12}$/.test(text))
    throw new UsageError(`${what} must be a whole number; found ${JSON.stringify(text ?? '')}`, 'assimilate');
  return Number(text);
}

function wuName(text: string | undefined): string {
  if (!text || !WU_NAME.test(text))
    throw new UsageError(
      `workunit name must be letters, digits, _ . -; found ${JSON.stringify(text ?? '')}`,
      'assimilate',
    );
  return text;
}

/** The call, in whichever of script_assimilator's forms it came. */
function callOf(args: ParsedArgs<typeof assimilateOptions>): AssimilateCall {
  const error = stringOption(args, 'error');
  const p = args.positionals;
  if (error !== undefined) {
    // 1.6+: --error MASK WU_NAME WU_ID BATCH_ID; 1.4: --error MASK WU_ID
    if (p.length === 1)
      return { kind: 'error', errorMask: integer(error, 'MASK'), wuId: integer(p[0], 'WU_ID') };
    if (p.length !== 3)
      throw new UsageError('--error MASK needs WU_NAME WU_ID BATCH_ID (or WU_ID)', 'assimilate');
    return {
      kind: 'error',
      errorMask: integer(error, 'MASK'),
      wuName: wuName(p[0]),
      wuId: integer(p[1], 'WU_ID'),
      batchId: integer(p[2], 'BATCH_ID'),
    };
  }
  if (p.length === 0)
    throw new UsageError(
      'expected WU_ID FILE... or WU_NAME WU_ID RESULT_ID RUNTIME FILE...; called with nothing at all, this is a BOINC server 1.6.1 or later with a token list in --script, which it cannot parse: use --script axiom_assimilate (no tokens)',
      'assimilate',
    );
  // The default form (no token list) starts with the workunit id; workunit names never are all digits.
  if (/^\d+$/.test(p[0] as string))
    return { kind: 'result', wuId: integer(p[0], 'WU_ID'), files: p.slice(1) };
  const [name, wuId, resultId, runtime, ...files] = p;
  const seconds = Number(runtime);
  if (runtime === undefined || !Number.isFinite(seconds))
    throw new UsageError(`RUNTIME must be a number; found ${JSON.stringify(runtime ?? '')}`, 'assimilate');
  return {
    kind: 'result',
    wuName: wuName(name),
    wuId: integer(wuId, 'WU_ID'),
    resultId: integer(resultId, 'RESULT_ID'),
    runtime: seconds,
    files,
  };
}

const assimilateOptions = {
  error: { type: 'string', value: 'MASK', description: "the workunit failed: record BOINC's error mask" },
} as const;

export const assimilateCommand = defineCommand({
  name: 'assimilate',
  summary: "store one BOINC result in the spool for collect (BOINC's script_assimilator runs it)",
  usage: 'WU_ID FILE... | WU_NAME WU_ID RESULT_ID RUNTIME FILE... | --error MASK WU_NAME WU_ID BATCH_ID',
  description: [
    "Run by BOINC's script_assimilator through bin/axiom_assimilate, in either form:",
    '  --script "axiom_assimilate"                                        (servers 1.6 and later)',
    '  --script "axiom_assimilate wu_name wu_id result_id runtime files"  (servers 1.4)',
    "The first passes only the workunit id and the files; the rest is looked up in BOINC's database",
    "(AXIOM_DB_URL, else the project's config.xml). It reads the workunit's staged wu.json from the",
    "download hierarchy of AXIOM_BOINC_PROJECT_DIR and the volunteer client's report (a regular file,",
    'never read through a link; at most 4 MiB, UTF-8 JSON, no duplicate keys), keeps only numbers and',
    'a short summary, and writes a spool entry',
    "into AXIOM_SPOOL_DIR atomically (write, fsync, rename) with BOINC's own runtime, host and user.",
    'Bad volunteer data, and a canonical result whose files are gone, are recorded with the reason and',
    'exit 0; the exit status is 1 only when nothing could be stored (the daemon stops and retries).',
  ].join('\n'),
  options: assimilateOptions,
  async run(args, { io, env }) {
    const call = callOf(args);
    const spoolDir = required(env.spoolDir, 'AXIOM_SPOOL_DIR');
    const projectDir = required(
      env.boinc.projectDir,
      'AXIOM_BOINC_PROJECT_DIR',
      "where the workunits' inputs are staged",
    );
    const layout = readProjectLayout(projectDir);
    const url = env.databaseUrl ?? projectDatabaseUrl(projectDir);
    const store = url ? openStore(url) : undefined;
    try {
      const { entry, path } = await assimilateResult(call, {
        spoolDir,
        layout,
        ...(store ? { store } : {}),
        validator: new SchemaValidator(),
        now: new Date(),
      });
      io.stdout.write(
        `assimilate: ${entry.verdict}${entry.reason ? ` (${entry.reason})` : ''}: ${entry.wu_name} -> ${path}\n`,
      );
      return 0;
    } finally {
      await store?.close();
    }
  },
});
