import type { BlasFamily, Host } from './types.js';

/**
 * The family of the BLAS a client reported (scripts/axiom_client.py blas_library(): the library's
 * directory and file, e.g. `openblas-pthread/libblas.so.3`, `blas/libblas.so.3.11.0`, or a wheel's
 * `numpy.libs/libopenblas64_p-r0.3.23.so`): what the planner's work models are calibrated for.
 */
export function blasFamily(reported: string | undefined): BlasFamily | undefined {
  if (!reported) return undefined;
  const text = reported.toLowerCase();
  if (text.includes('openblas')) return 'openblas';
  if (/(^|[/,])blas\/libblas\.so|(^|[/,])(ref)?blas$/.test(text)) return 'reference';
  return 'other';
}

/** A host's BLAS as its results reported it: the latest result's, by when it was received. */
export interface ReportedBlas {
  host: number;
  blas?: string;
  receivedAt: string;
}

/** The hosts with the BLAS their latest result ran with, where a result said; others as they were. */
export function withReportedBlas(hosts: readonly Host[], reports: readonly ReportedBlas[]): Host[] {
  const latest = new Map<number, ReportedBlas>();
  for (const r of reports) {
    const seen = latest.get(r.host);
    if (r.blas && (!seen || seen.receivedAt < r.receivedAt)) latest.set(r.host, r);
  }
  return hosts.map((host) => {
    const family = blasFamily(latest.get(host.id)?.blas);
    return family ? { ...host, blas: family } : host;
  });
}
