import type { Host } from '../fleet/types.js';
import type { MemoryModel, Resources } from './types.js';

/**
 * The share of a host's memory a task may hold while the computer is in use: BOINC's default
 * ram_max_used_busy_pct (lib/prefs.cpp, ram_max_used_busy_frac = 0.5). A task whose memory bound is
 * above what is left waits (client/cpu_sched.cpp); the planner keeps every workunit within it.
 */
export const BUSY_MEMORY_SHARE = 0.5;

/**
 * The share of a host's memory BOINC's scheduler lets one task's rsc_memory_bound take: the larger
 * of the volunteer's busy and idle limits, 0.9 by default (sched/sched_send.cpp get_mem_sizes,
 * sched/sched_check.cpp check_memory; lib/prefs.cpp ram_max_used_idle_frac). A workunit above it is
 * never sent to that host.
 */
export const SCHEDULER_MEMORY_SHARE = 0.9;

/** What a run with `cpus` cores holds resident, by the manifest's memory model, in GB (rounded up to 0.01). */
export function memoryOf(model: MemoryModel, cpus: number): number {
  return Math.ceil((model.base_gb + cpus * model.per_cpu_gb) * 100 - 1e-9) / 100;
}

/** The memory a workunit on `host` may hold: the model's cap and half the host's memory, whichever is less. */
function memoryRoom(host: Host, model: MemoryModel): number {
  return Math.min(model.max_gb, host.memoryGb * BUSY_MEMORY_SHARE);
}

/** What a host lacks to run an experiment with these resources; empty when it fits. */
export function hostShortfalls(host: Host, resources: Resources): string[] {
  const shortfalls: string[] = [];
  if (host.cores < resources.min_cpus) {
    shortfalls.push(`has ${host.cores} cores, needs at least ${resources.min_cpus}`);
  }
  if (host.memoryGb < resources.min_memory_gb) {
    shortfalls.push(`has ${host.memoryGb} GB of memory, needs at least ${resources.min_memory_gb} GB`);
  }
  const model = resources.memory;
  if (model && memoryOf(model, resources.min_cpus) > memoryRoom(host, model)) {
    shortfalls.push(
      `would have ${memoryRoom(host, model)} GB for the run (the manifest's max_gb, or half its ${host.memoryGb} GB, BOINC's default while the computer is in use), needs ${memoryOf(model, resources.min_cpus)} GB at ${resources.min_cpus} cores`,
    );
  }
  const bound = memoryGbFor(resources, cpusFor(host, resources));
  const usable = Math.round(host.memoryGb * SCHEDULER_MEMORY_SHARE * 100) / 100;
  if (host.memoryGb >= resources.min_memory_gb && bound > usable) {
    shortfalls.push(
      `would not be sent the workunit: its ${bound} GB memory bound is above the ${usable} GB (90% of ${host.memoryGb} GB) BOINC's scheduler lets one task use by default`,
    );
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

/**
 * Cores handed to the script on this host (AXIOM_CPUS), and planned for: all of them, up to the
 * manifest's max_cpus, Windows' 61 workers, and as many as the memory model fits in the memory the
 * host can give one task.
 */
export function cpusFor(host: Host, resources: Resources): number {
  const cap = host.os === 'windows' ? WINDOWS_MAX_WORKERS : host.cores;
  const model = resources.memory;
  const byMemory = model
    ? Math.floor((memoryRoom(host, model) - model.base_gb) / model.per_cpu_gb + 1e-9)
    : host.cores;
  return Math.max(1, Math.min(host.cores, resources.max_cpus ?? host.cores, cap, byMemory));
}

/**
 * The memory a workunit with `cpus` cores may hold resident (its wu.json memory_gb and BOINC
 * rsc_memory_bound): what the model says it holds, and never less than min_memory_gb.
 */
export function memoryGbFor(resources: Resources, cpus: number): number {
  const model = resources.memory;
  return model ? Math.max(resources.min_memory_gb, memoryOf(model, cpus)) : resources.min_memory_gb;
}
