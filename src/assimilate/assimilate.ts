import { deployedWorkunit, type ProjectLayout } from '../boinc/project.js';
import type { AssimilationSubject, BoincStore, FailedResult } from '../boinc/store.js';
import { readClientReportFile, readReportFromStderr } from '../envelope/report.js';
import { resultEntry, type SpoolEntry, writeSpoolEntry } from '../envelope/spool.js';
import { AxiomError, ConfigurationError } from '../errors.js';
import type { SchemaValidator } from '../schema/validate.js';
import type { WorkunitInput } from '../workunit/input.js';

/**
 * How BOINC's script_assimilator called us. Its token list decides what we get: the explicit form
 * (`wu_name wu_id result_id runtime files`, server 1.4), the default form (`wu_id files`: what
 * servers 1.6.1 and later pass, their token parsing being broken), or a failed workunit.
 */
export type AssimilateCall =
  | { kind: 'result'; wuId: number; files: string[]; wuName?: string; resultId?: number; runtime?: number }
  | { kind: 'error'; wuId: number; errorMask: number; wuName?: string; batchId?: number };

export interface AssimilateOptions {
  spoolDir: string;
  /** Where deploy staged each workunit's wu.json. */
  layout: Pick<ProjectLayout, 'downloadDir' | 'fanout'>;
  /** The BOINC database: host, user and runtime of the canonical result, and the default form's names. */
  store?: BoincStore;
  validator: SchemaValidator;
  now: Date;
}

export interface Assimilated {
  entry: SpoolEntry;
  path: string;
  /** For a failed workunit: one entry per failed task, with the report its stderr carried. */
  failedTasks: { entry: SpoolEntry; path: string }[];
}

async function subjectOf(call: AssimilateCall, store?: BoincStore): Promise<AssimilationSubject | undefined> {
  if (!store) return undefined;
  const subject = await store.assimilationSubject(call.wuId);
  if (!subject) throw new ConfigurationError(`BOINC has no workunit ${call.wuId} (${store.label})`);
  return subject;
}

function nameOf(call: AssimilateCall, subject?: AssimilationSubject): string {
  const name = call.wuName ?? subject?.workunitName;
  if (!name)
    throw new ConfigurationError(
      `workunit ${call.wuId} came without its name (BOINC's default token form); set AXIOM_DB_URL or AXIOM_BOINC_PROJECT_DIR so it can be looked up`,
    );
  return name;
}

function failedWorkunit(
  call: AssimilateCall,
  name: string,
  subject: AssimilationSubject | undefined,
  now: Date,
): SpoolEntry {
  const errorMask = call.kind === 'error' ? call.errorMask : (subject?.errorMask ?? 0) | 32;
  const batch = call.kind === 'error' ? call.batchId : subject?.batch;
  return {
    kind: 'workunit-error',
    received_at: now.toISOString(),
    wu_name: name,
    wu_id: call.wuId,
    error_mask: errorMask,
    ...(batch !== undefined ? { batch_id: batch } : {}),
    verdict: 'failed-task',
    reason:
      call.kind === 'error'
        ? `the workunit failed without a canonical result (BOINC error mask ${errorMask})`
        : `BOINC lost the canonical result of this workunit (error mask ${errorMask}): there is nothing to collect`,
  };
}

/**
 * A task that failed on a volunteer's computer uploads no file: what it reported comes from the
 * stderr BOINC kept (result.stderr_out), and what it was asked from the staged wu.json.
 */
function failedTaskEntry(
  failed: FailedResult,
  name: string,
  wuId: number,
  workunit: WorkunitInput | { missing: string },
  options: AssimilateOptions,
): SpoolEntry {
  return resultEntry(
    {
      wuName: name,
      wuId,
      resultId: failed.resultId,
      runtime: failed.elapsedTime,
      hostId: failed.hostId,
      userId: failed.userId,
      workunit,
    },
    readReportFromStderr(failed.stderrOut),
    options.now,
  );
}

function store(spoolDir: string, name: string, entry: SpoolEntry): { entry: SpoolEntry; path: string } {
  try {
    return { entry, path: writeSpoolEntry(spoolDir, entry) };
  } catch (error) {
    throw new AxiomError(`cannot store the result of ${name} in ${spoolDir}: ${(error as Error).message}`);
  }
}

/**
 * Stores one result of BOINC's assimilator in the spool: what its workunit asked for (the staged
 * wu.json), BOINC's own record of the result, and the client's report reduced to numbers. Bad
 * volunteer data is a rejected entry; only a failure to store anything is an error (the daemon then
 * stops and retries the workunit later).
 */
export async function assimilateResult(
  call: AssimilateCall,
  options: AssimilateOptions,
): Promise<Assimilated> {
  const subject = await subjectOf(call, options.store);
  const name = nameOf(call, subject);
  let entry: SpoolEntry;
  if (call.kind === 'error' || call.files.length === 0)
    entry = failedWorkunit(call, name, subject, options.now);
  else {
    const resultId = call.resultId ?? subject?.canonicalResultId;
    if (!resultId)
      throw new ConfigurationError(
        `workunit ${call.wuId} came without its canonical result id; set AXIOM_DB_URL`,
      );
    const canonical = subject?.canonical?.resultId === resultId ? subject.canonical : undefined;
    entry = resultEntry(
      {
        wuName: name,
        wuId: call.wuId,
        resultId,
        runtime: canonical?.elapsedTime ?? call.runtime ?? 0,
        ...(canonical ? { hostId: canonical.hostId, userId: canonical.userId } : {}),
        workunit: await deployedWorkunit(options.store, options.layout, name, options.validator),
      },
      readClientReportFile(call.files[0] as string),
      options.now,
    );
    if (subject && call.wuName && subject.workunitName !== call.wuName)
      entry = {
        ...entry,
        verdict: 'rejected',
        reason: `BOINC names workunit ${call.wuId} ${subject.workunitName}, not ${call.wuName}`,
      };
  }
  const failed =
    entry.kind === 'workunit-error' && options.store ? await options.store.failedResults(call.wuId) : [];
  const asked = failed.length
    ? await deployedWorkunit(options.store, options.layout, name, options.validator)
    : undefined;
  const failedTasks = failed.map((task) =>
    store(
      options.spoolDir,
      name,
      failedTaskEntry(task, name, call.wuId, asked as WorkunitInput | { missing: string }, options),
    ),
  );
  return { ...store(options.spoolDir, name, entry), failedTasks };
}
