import { createHash } from 'node:crypto';
import type { Host } from '../fleet/types.js';
import { cpusFor, hostShortfalls, memoryGbFor } from '../manifest/fit.js';
import type { Manifest } from '../manifest/types.js';
import type { WorkunitInput } from './input.js';
import { WorkunitName } from './name.js';
import { costOn, workSeconds } from './plan.js';

/**
 * Replica indexes from here up name the replicas the project chose itself (tie-breakers,
 * replacements, shadows): a manifest's targets have at most 100 replicas each, and a workunit
 * name allows six digits.
 */
export const EXTRA_REPLICA_BASE = 100_000;
const EXTRA_REPLICA_SLOTS = 900_000;

/**
 * Agreeing results that decide a computation: the manifest's, else every workunit planned for it
 * (so the replicas a manifest asks for must all agree), at least one.
 */
export function quorumOf(manifest: Pick<Manifest, 'replication'>, planned: number): number {
  return manifest.replication?.quorum ?? Math.max(1, planned);
}

/** The most results one computation may get, extra replicas included. */
export function maxResultsOf(manifest: Pick<Manifest, 'replication'>, quorum: number): number {
  return Math.max(quorum, manifest.replication?.max_results ?? quorum + 2);
}

/** Whether a workunit name is one of the replicas the project chose itself. */
export function isExtraReplica(name: string): boolean {
  return (WorkunitName.parse(name)?.replica ?? 0) >= EXTRA_REPLICA_BASE;
}

/** Hosts in the order a computation tries them: spread by the computation, the same order every run. */
function spread(hosts: readonly Host[], computation: string): Host[] {
  const rank = (host: Host) => createHash('sha256').update(`${computation}:${host.id}`).digest('hex');
  return [...hosts].sort((a, b) => rank(a).localeCompare(rank(b)));
}

/**
 * The host an extra replica of a computation goes to: one that fits the manifest, has run none of
 * the computation and is not itself under watch; a host of another volunteer than the computation's
 * own first (two hosts of one volunteer are a weaker pair of opinions). Undefined when the fleet has
 * none.
 */
export function extraHost(
  hosts: readonly Host[],
  manifest: Pick<Manifest, 'resources'>,
  computation: string,
  exclude: { hosts: ReadonlySet<number>; users: ReadonlySet<number>; watched?: ReadonlySet<number> },
): Host | undefined {
  const fitting = spread(hosts, computation).filter(
    (host) =>
      !exclude.hosts.has(host.id) &&
      !exclude.watched?.has(host.id) &&
      hostShortfalls(host, manifest.resources).length === 0,
  );
  return fitting.find((host) => host.userId === undefined || !exclude.users.has(host.userId)) ?? fitting[0];
}

/**
 * The name of an extra replica on `host`: the computation's script, a replica index above every
 * target's, chosen by the computation and the attempt, so two computations rarely ask for one name
 * (the caller tries the next attempt when the name is taken).
 */
export function extraReplicaName(template: WorkunitInput, host: number, attempt: number): string {
  const slot = Number.parseInt(
    createHash('sha256').update(`${template.wu_name}:${host}`).digest('hex').slice(0, 8),
    16,
  );
  return WorkunitName.format({
    experiment: template.experiment,
    scriptSha: template.script_sha256,
    host,
    replica: EXTRA_REPLICA_BASE + ((slot + attempt) % EXTRA_REPLICA_SLOTS),
  });
}

/**
 * The wu.json of an extra replica: the computation exactly as its other workunits were given it
 * (script, seed, params, manifest commit), with the cores, memory and planned time of its own host.
 */
export function extraReplicaInput(
  template: WorkunitInput,
  manifest: Pick<Manifest, 'resources' | 'work'>,
  host: Host,
  name: string,
): WorkunitInput {
  const cpus = cpusFor(host, manifest.resources);
  const { planned_seconds: _planned, ...rest } = template;
  const units = manifest.work ? template.params[manifest.work.param] : undefined;
  const planned =
    manifest.work && typeof units === 'number' && host.fpops
      ? Math.round(workSeconds(costOn(manifest.work, host), manifest.work, units, host.fpops, cpus) * 10) / 10
      : undefined;
  return {
    ...rest,
    wu_name: name,
    cpus,
    memory_gb: memoryGbFor(manifest.resources, cpus),
    ...(planned !== undefined ? { planned_seconds: planned } : {}),
  };
}
