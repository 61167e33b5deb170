import type { Host } from '../fleet/types.js';
import type { Resources } from './types.js';

/** What a host lacks to run an experiment with these resources; empty when it fits. */
export function hostShortfalls(host: Host, resources: Resources): string[] {
  const shortfalls: string[] = [];
  if (host.cores < resources.min_cpus) {
    shortfalls.push(`has ${host.cores} cores, needs at least ${resources.min_cpus}`);
  }
  if (host.memoryGb < resources.min_memory_gb) {
    shortfalls.push(`has ${host.memoryGb} GB of memory, needs at least ${resources.min_memory_gb} GB`);
  }
  if (resources.gpu === 'required' && host.gpus.length === 0) {
    shortfalls.push('has no GPU, the manifest requires one');
  }
  if (!resources.os.includes(host.os)) {
    shortfalls.push(`runs ${host.os}, the manifest allows ${resources.os.join(', ')}`);
  }
  return shortfalls;
}

/**
 * Python's ProcessPoolExecutor refuses more than 61 workers on Windows (concurrent/futures/process.py,
 * _MAX_WINDOWS_WORKERS = 63 - 2: WaitForMultipleObjects waits on at most 64 handles): the scripts use
 * at most this many there.
 */
export const WINDOWS_MAX_WORKERS = 61;

/** Cores handed to the script on this host (AXIOM_CPUS), and planned for. */
export function cpusFor(host: Host, resources: Resources): number {
  const cap = host.os === 'windows' ? WINDOWS_MAX_WORKERS : host.cores;
  return Math.min(host.cores, resources.max_cpus ?? host.cores, cap);
}
