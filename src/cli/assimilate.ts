import { type ResultRef, readResult, type SpoolEntry, writeSpoolEntry } from '../boinc/assimilate.js';
import { openStore } from '../boinc/open.js';
import { AxiomError, ConfigurationError, UsageError } from '../errors.js';
import { type Command, type Io, type ParsedArgs, stringOption } from './command.js';

const WU_NAME = /^[A-Za-z0-9_.-]{1,191}$/;

function integer(text: string | undefined, what: string): number {
  if (text === undefined || !/^-?\d+$/.test(text))
    throw new UsageError(`axiom assimilate: ${what} must be an integer; found ${JSON.stringify(text ?? '')}`);
  return Number(text);
}

function wuName(text: string | undefined): string {
  if (!text || !WU_NAME.test(text))
    throw new UsageError(
      `axiom assimilate: workunit name must be letters, digits, _ . -; found ${JSON.stringify(text ?? '')}`,
    );
  return text;
}

export const assimilateCommand: Command = {
  name: 'assimilate',
  summary: "store one BOINC result in the spool for collect (BOINC's script_assimilator runs it)",
  usage: 'WU_NAME WU_ID RESULT_ID RUNTIME FILE... | --error MASK WU_NAME WU_ID BATCH_ID',
  description: [
    "Run by BOINC's script_assimilator with",
    '  --script "axiom_assimilate wu_name wu_id result_id runtime files"',
    "It reads the volunteer client's result file (at most 4 MiB, UTF-8 JSON), keeps only numbers and a",
    'short summary, and writes a spool entry into AXIOM_SPOOL_DIR atomically (write, fsync, rename),',
    'with the host and user of the result when AXIOM_DB_URL is set. Bad volunteer data is recorded as',
    'rejected with the reason and exits 0; the exit status is 1 only when nothing could be stored, so the',
    'daemon stops and retries later. With --error (a workunit that failed without a canonical result) the',
    'error mask is recorded.',
  ].join('\n'),
  options: {
    error: { type: 'string', value: 'MASK', description: "the workunit failed: record BOINC's error mask" },
  },
  async run(args, io) {
    const spoolDir = io.env.AXIOM_SPOOL_DIR;
    if (!spoolDir)
      throw new ConfigurationError('AXIOM_SPOOL_DIR is not set; expected the directory axiom collect reads');
    const entry = stringOption(args, 'error') === undefined ? await resultEntry(args, io) : errorEntry(args);
    let path: string;
    try {
      path = writeSpoolEntry(spoolDir, entry);
    } catch (error) {
      // Exit non-zero: script_assimilator stops and the workunit is retried after a restart.
      throw new AxiomError(
        `cannot store the result of ${entry.wu_name} in ${spoolDir}: ${(error as Error).message}`,
      );
    }
    io.stdout.write(
      `assimilate: ${entry.verdict}${entry.reason ? ` (${entry.reason})` : ''}: ${entry.wu_name} -> ${path}\n`,
    );
    return 0;
  },
};

function errorEntry(args: ParsedArgs): SpoolEntry {
  const [name, wuId, batchId] = args.positionals;
  if (args.positionals.length !== 3)
    throw new UsageError('axiom assimilate: --error MASK needs WU_NAME WU_ID BATCH_ID');
  return {
    kind: 'workunit-error',
    received_at: new Date().toISOString(),
    wu_name: wuName(name),
    wu_id: integer(wuId, 'WU_ID'),
    batch_id: integer(batchId, 'BATCH_ID'),
    error_mask: integer(stringOption(args, 'error'), 'MASK'),
    verdict: 'failed-task',
    reason: 'the workunit failed without a canonical result',
  };
}

async function resultEntry(args: ParsedArgs, io: Io): Promise<SpoolEntry> {
  const [name, wuId, resultId, runtime, ...files] = args.positionals;
  if (files.length === 0)
    throw new UsageError('axiom assimilate: expected WU_NAME WU_ID RESULT_ID RUNTIME FILE...');
  const seconds = Number(runtime);
  if (!Number.isFinite(seconds))
    throw new UsageError(`axiom assimilate: RUNTIME must be a number; found ${JSON.stringify(runtime)}`);
  const ref: ResultRef = {
    wuName: wuName(name),
    wuId: integer(wuId, 'WU_ID'),
    resultId: integer(resultId, 'RESULT_ID'),
    runtime: seconds,
    files,
  };
  const owner = io.env.AXIOM_DB_URL ? await lookUpOwner(io.env.AXIOM_DB_URL, ref.resultId, io) : undefined;
  return readResult({ ...ref, ...(owner ? { hostId: owner.hostId, userId: owner.userId } : {}) }, new Date());
}

/** Host and user of the result; without them the entry is still stored (collect reads them again). */
async function lookUpOwner(url: string, resultId: number, io: Io) {
  const store = openStore(url, io.cwd);
  try {
    return await store.resultOwner(resultId);
  } catch (error) {
    io.stderr.write(`axiom assimilate: could not look up result ${resultId}: ${(error as Error).message}\n`);
    return undefined;
  } finally {
    await store.close();
  }
}
