import { randomInt } from 'node:crypto';
import type { BoincStore, DeployedWorkunit, WorkunitState } from '../boinc/store.js';
import type { Host } from '../fleet/types.js';
import type { Manifest } from '../manifest/types.js';
import type { ResearchRecord } from '../record/research.js';
import { recordedSeeds, watchedHosts } from '../record/watch.js';
import type { SchemaValidator } from '../schema/validate.js';
import { canonicalJson, replicaKey } from '../workunit/computation.js';
import { renderWorkunitInput, type WorkunitInput } from '../workunit/input.js';
import { WorkunitName } from '../workunit/name.js';
import type { ManifestPlan, PlannedWorkunit } from '../workunit/plan.js';
import {
  extraHost,
  extraReplicaInput,
  extraReplicaName,
  maxResultsOf,
  quorumOf,
} from '../workunit/replication.js';

/** Seeds are drawn from 1 to 2^31 - 1, the range every script's numpy generator takes. */
const SEED_LIMIT = 2 ** 31;

/** Where fresh seeds come from: the operating system's cryptographic generator. */
export function drawSeed(avoid: ReadonlySet<number>): number {
  for (;;) {
    const seed = randomInt(1, SEED_LIMIT);
    if (!avoid.has(seed)) return seed;
  }
}

/**
 * The workunits of a plan that run one computation: those the planner gave the same seed slot and
 * params (seed policy fixed: every workunit; per_replica: replica r of every host; unique: each alone).
 */
export function computationsOf(plan: ManifestPlan): PlannedWorkunit[][] {
  const groups = new Map<string, PlannedWorkunit[]>();
  for (const wu of plan.workunits) {
    const key = canonicalJson([wu.seed, wu.params]);
    groups.set(key, [...(groups.get(key) ?? []), wu]);
  }
  return [...groups.values()];
}

/** What deploying one manifest's computations reads once: BOINC's state and the record. */
export interface DeploymentContext {
  store: Pick<BoincStore, 'workunitStates' | 'deployedWorkunits' | 'usedSeeds'>;
  validator: SchemaValidator;
  hosts?: ReadonlyMap<number, Host>;
  /** The record on this checkout, read once and only when a seed or a watched host is needed. */
  record: () => ResearchRecord;
  now: number;
}

/** A computation's existing members: its rows, and BOINC's state of every member. */
interface Members {
  rows: Map<string, DeployedWorkunit>;
  states: Map<string, WorkunitState>;
}

/**
 * The seed of the members still to create. They join the seed their siblings were created with as
 * long as the computation is untouched: every sibling recorded, none closed, none back. Otherwise the
 * siblings' numbers may be public, so the new members are a new computation with a fresh seed.
 */
async function seedFor(
  manifest: Manifest,
  group: readonly PlannedWorkunit[],
  members: Members,
  context: DeploymentContext,
  drawn: Set<number>,
): Promise<number> {
  const existing = group.filter((wu) => members.states.get(wu.name)?.exists);
  const untouched = group.every((wu) => {
    const row = members.rows.get(wu.name);
    const state = members.states.get(wu.name);
    if (row?.closed || state?.returned) return false;
    return !state?.exists || row !== undefined;
  });
  const sibling = existing.map((wu) => members.rows.get(wu.name)).find((row) => row !== undefined);
  if (untouched && sibling) return sibling.seed;
  const avoid = new Set([
    ...(await context.store.usedSeeds(manifest.name)),
    ...recordedSeeds(context.record(), manifest.name),
    ...drawn,
  ]);
  const seed = drawSeed(avoid);
  drawn.add(seed);
  return seed;
}

/** The row of a workunit: its wu.json with the computation's seed, recorded before create_work runs. */
function rowOf(
  manifest: Manifest,
  input: WorkunitInput,
  kind: DeployedWorkunit['kind'],
  bounds: DeployedWorkunit['bounds'],
  context: DeploymentContext,
): DeployedWorkunit {
  return {
    name: input.wu_name,
    experiment: manifest.name,
    computation: replicaKey(input),
    seed: input.seed,
    host: WorkunitName.parse(input.wu_name)?.host ?? 0,
    kind,
    input: renderWorkunitInput(input, context.validator).toString('utf8'),
    bounds,
    createdAt: context.now,
    closed: false,
  };
}

export interface ComputationRows {
  rows: DeployedWorkunit[];
  /** Notes for the report: a shadow replica that found no host, say. */
  notes: string[];
}

/**
 * The rows for every workunit of a plan BOINC does not have yet, computation by computation, with a
 * seed each computation shares; plus a shadow replica beside a computation that would run alone on a
 * host under watch. A closed row is never created again.
 */
export async function rowsToCreate(
  manifest: Manifest,
  plan: ManifestPlan,
  inputOf: (wu: PlannedWorkunit) => WorkunitInput,
  boundsOf: (wu: Pick<PlannedWorkunit, 'cpus' | 'memoryGb'>) => DeployedWorkunit['bounds'],
  context: DeploymentContext,
): Promise<ComputationRows> {
  const names = plan.workunits.map((wu) => wu.name);
  const members: Members = {
    rows: new Map((await context.store.deployedWorkunits({ names })).map((r) => [r.name, r])),
    states: await context.store.workunitStates(names),
  };
  const out: ComputationRows = { rows: [], notes: [] };
  const drawn = new Set<number>();
  for (const group of computationsOf(plan)) {
    const missing = group.filter(
      (wu) => !members.states.get(wu.name)?.exists && !members.rows.get(wu.name)?.closed,
    );
    if (missing.length === 0) continue;
    const seed = await seedFor(manifest, group, members, context, drawn);
    const rows = missing.map((wu) =>
      rowOf(manifest, { ...inputOf(wu), seed }, 'planned', boundsOf(wu), context),
    );
    out.rows.push(...rows);
    if (group.length === 1 && missing.length === 1)
      out.rows.push(...shadowOf(manifest, rows[0] as DeployedWorkunit, boundsOf, context, out.notes));
  }
  return out;
}

/**
 * A shadow replica for a computation of one workunit on a host a quorum outvoted not long ago: the
 * same computation on another host, so the host's result is checked (BOINC's adaptive replication).
 */
function shadowOf(
  manifest: Manifest,
  row: DeployedWorkunit,
  boundsOf: (wu: Pick<PlannedWorkunit, 'cpus' | 'memoryGb'>) => DeployedWorkunit['bounds'],
  context: DeploymentContext,
  notes: string[],
): DeployedWorkunit[] {
  if (!context.hosts || maxResultsOf(manifest, quorumOf(manifest, 1)) < 2) return [];
  const watched = watchedHosts(context.record());
  if (!watched.has(row.host)) return [];
  const owner = context.hosts.get(row.host)?.userId;
  const host = extraHost([...context.hosts.values()], manifest, row.computation, {
    hosts: new Set([row.host]),
    users: new Set(owner !== undefined ? [owner] : []),
    watched,
  });
  if (!host) {
    notes.push(`${row.name}: host ${row.host} is under watch, but no other host fits for a shadow replica`);
    return [];
  }
  const template = JSON.parse(row.input) as WorkunitInput;
  const input = extraReplicaInput(template, manifest, host, extraReplicaName(template, host.id, 0));
  return [
    rowOf(manifest, input, 'shadow', boundsOf({ cpus: input.cpus, memoryGb: input.memory_gb }), context),
  ];
}
