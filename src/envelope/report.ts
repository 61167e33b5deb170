import { readRegularFile } from '../read-file.js';
import { isFiniteNumber } from './envelope.js';
import { describeJsonError, parseStrictJson } from './json.js';

/** The report scripts/axiom_client.py writes for BOINC to upload (axiom_result.json). */
export const CLIENT_REPORT_FILE = 'axiom_result.json';

/** Result files larger than this are rejected unread. */
export const MAX_RESULT_BYTES = 4 * 1024 * 1024;

/** What the client says of a run; `ok` is the only status whose envelope may be used. */
export type ClientStatus =
  | 'ok'
  | 'failed'
  | 'overran'
  | 'memory-exceeded'
  | 'disk-exceeded'
  | 'no-result'
  | 'invalid-result'
  | 'rejected-script'
  | 'download-failed'
  | 'sandbox-unavailable';

const STATUSES: ReadonlySet<string> = new Set<ClientStatus>([
  'ok',
  'failed',
  'overran',
  'memory-exceeded',
  'disk-exceeded',
  'no-result',
  'invalid-result',
  'rejected-script',
  'download-failed',
  'sandbox-unavailable',
]);

/** How the run was isolated from the volunteer's computer (see README, "The sandbox"). */
export type Isolation = 'sandbox' | 'limits-only';

/** What a run's numbers may depend on beyond seed and params, as the client found it on the host. */
export interface RunEnvironment {
  python?: string;
  numpy?: string;
  blas?: string;
  cpu?: string;
  machine?: string;
  os?: string;
}

/** The keys of a run's environment, in the order they are shown. */
export const ENVIRONMENT_KEYS: readonly (keyof RunEnvironment)[] = [
  'python',
  'numpy',
  'blas',
  'cpu',
  'machine',
  'os',
];

/** The environment a client reports: known keys only, short single-line text, nothing else. */
export function environmentOf(raw: unknown): RunEnvironment | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const out: RunEnvironment = {};
  for (const key of ENVIRONMENT_KEYS) {
    const value = (raw as Record<string, unknown>)[key];
    if (typeof value === 'string' && value.trim() !== '')
      out[key] = value
        .replace(/\p{Cc}/gu, ' ')
        .trim()
        .slice(0, 120);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The client's report, reduced to what we read; the envelope stays raw until it is sanitised. */
export interface ClientReport {
  status: ClientStatus | 'unknown';
  message: string;
  exitCode: number | null;
  elapsedSeconds: number | null;
  /** The most resident memory the run's processes held together, as the client sampled it (Linux). */
  peakMemoryMb?: number;
  scriptSha256?: string;
  isolation?: Isolation;
  environment?: RunEnvironment;
  stderrTail: string;
  envelope?: unknown;
}

export type ReadReport = { report: ClientReport } | { reason: string };

const text = (value: unknown, limit: number) =>
  typeof value === 'string' ? value.replace(/\p{Cc}/gu, (c) => (c === '\n' ? c : ' ')).slice(-limit) : '';

/** Reads the client's report from its bytes; anything unusable is a reason, never an exception. */
export function readClientReport(bytes: Buffer): ReadReport {
  if (bytes.length > MAX_RESULT_BYTES)
    return { reason: `the result file is larger than ${MAX_RESULT_BYTES} bytes` };
  let decoded: string;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { reason: 'the result file is not UTF-8 text' };
  }
  let raw: unknown;
  try {
    raw = parseStrictJson(decoded);
  } catch (error) {
    return { reason: `the result file is not valid JSON (${describeJsonError(error)})` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { reason: 'the result file is not a JSON object' };
  const r = raw as Record<string, unknown>;
  const status =
    typeof r.status === 'string' && STATUSES.has(r.status) ? (r.status as ClientStatus) : 'unknown';
  const environment = environmentOf(r.environment);
  return {
    report: {
      status,
      message: text(r.message, 500),
      exitCode: Number.isInteger(r.exit_code) ? (r.exit_code as number) : null,
      elapsedSeconds: isFiniteNumber(r.elapsed_seconds) ? r.elapsed_seconds : null,
      ...(isFiniteNumber(r.peak_memory_mb) && r.peak_memory_mb >= 0
        ? { peakMemoryMb: r.peak_memory_mb }
        : {}),
      ...(typeof r.script_sha256 === 'string' && /^[0-9a-f]{64}$/.test(r.script_sha256)
        ? { scriptSha256: r.script_sha256 }
        : {}),
      ...(r.isolation === 'sandbox' || r.isolation === 'limits-only' ? { isolation: r.isolation } : {}),
      ...(environment ? { environment } : {}),
      stderrTail: text(r.stderr_tail, 4000),
      ...(r.envelope !== undefined && r.envelope !== null ? { envelope: r.envelope } : {}),
    },
  };
}

/**
 * Reads the client's report from a file BOINC hands over: a regular file only, never through a link,
 * refused unread above the size limit.
 */
export function readClientReportFile(path: string): ReadReport {
  const read = readRegularFile(path, MAX_RESULT_BYTES);
  return 'refused' in read ? { reason: `the result file is ${read.refused}` } : readClientReport(read.bytes);
}

/** How the client marks its report in stderr (scripts/axiom_client.py REPORT_PREFIX). */
export const STDERR_REPORT_PREFIX = 'axiom-report: ';

/**
 * A failed task uploads no file; its report reaches the project in the task's stderr
 * (result.stderr_out), as the last line the client wrote. Only failures are read this way: a
 * report there that claims success is not a result.
 */
export function readReportFromStderr(stderrOut: string): ReadReport {
  const line = stderrOut
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(STDERR_REPORT_PREFIX))
    .at(-1);
  if (!line) return { reason: "the task's stderr holds no report of the volunteer client" };
  const read = readClientReport(Buffer.from(line.slice(STDERR_REPORT_PREFIX.length)));
  if ('report' in read && read.report.status === 'ok')
    return { reason: "the task's stderr claims success; only an uploaded result file can" };
  if ('reason' in read) return read;
  const { envelope: _ignored, ...report } = read.report;
  return { report };
}
