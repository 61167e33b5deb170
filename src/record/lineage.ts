import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../manifest/types.js';
import type { Problem } from '../problems.js';
import type { SchemaValidator } from '../schema/validate.js';
import { dataFile, LEGACY, parseResultAddress, RESULTS_DIR } from './layout.js';
import { parseDataFile, type ResultRecord } from './research.js';

/**
 * Lines of inquiry: which experiment grew out of which results. A follow-up's manifest names its
 * parents and the results it builds on (`follow_up`); everything here is read from that, so the
 * record, not a side file, says what came next.
 */
export interface Lineage {
  /** The follow-ups of each experiment, by round and name. */
  children: ReadonlyMap<string, readonly string[]>;
  /** The experiments that cite each result, by its stable address. */
  citedBy: ReadonlyMap<string, readonly string[]>;
  /** Each line of inquiry: its first experiment and every experiment of it, by round and name. */
  lines: readonly { root: string; members: readonly string[] }[];
  /** The first experiment of the line an experiment belongs to (itself when it is no follow-up). */
  rootOf(name: string): string;
  /** Its round: 1 for an experiment that follows up nothing. */
  roundOf(name: string): number;
}

interface Named {
  name: string;
  manifest?: Pick<Manifest, 'follow_up'>;
}

const append = (map: Map<string, string[]>, key: string, value: string) => {
  const list = map.get(key) ?? [];
  if (!list.includes(value)) list.push(value);
  map.set(key, list);
};

export function lineageOf(experiments: readonly Named[]): Lineage {
  const byName = new Map(experiments.map((e) => [e.name, e]));
  const roundOf = (name: string) => byName.get(name)?.manifest?.follow_up?.round ?? 1;
  const order = (a: string, b: string) => roundOf(a) - roundOf(b) || a.localeCompare(b);
  const children = new Map<string, string[]>();
  const citedBy = new Map<string, string[]>();
  for (const e of experiments)
    for (const parent of e.manifest?.follow_up?.parents ?? []) {
      append(children, parent.experiment, e.name);
      for (const address of parent.results) append(citedBy, address, e.name);
    }
  for (const list of children.values()) list.sort(order);
  const rootOf = (name: string): string => {
    const seen = new Set<string>();
    let at = name;
    for (;;) {
      const first = byName.get(at)?.manifest?.follow_up?.parents[0]?.experiment;
      // A parent the record does not have, or a loop someone wrote by hand, ends the walk.
      if (!first || !byName.has(first) || seen.has(first)) return at;
      seen.add(at);
      at = first;
    }
  };
  const members = new Map<string, string[]>();
  for (const e of experiments) append(members, rootOf(e.name), e.name);
  const lines = [...members.entries()]
    .map(([root, names]) => ({ root, members: names.sort(order) }))
    .sort((a, b) => a.root.localeCompare(b.root));
  return { children, citedBy, lines, rootOf, roundOf };
}

/** The largest data file read to resolve a citation, as the record reader bounds it. */
const MAX_DATA_FILE_BYTES = 256 * 1024 * 1024;

/**
 * Finds the recorded result a stable address names, reading only that result's batch (each data
 * file once per resolver): what `axiom check` uses to refuse a citation of a result that is not there.
 */
export function citationResolver(
  root: string,
  validator: SchemaValidator,
): (address: string) => ResultRecord | { legacy: string } | undefined {
  const batches = new Map<string, Map<number, ResultRecord>>();
  const batch = (experiment: string, id: string): Map<number, ResultRecord> => {
    const file = dataFile(experiment, id);
    const cached = batches.get(file);
    if (cached) return cached;
    const path = join(root, file);
    const problems: Problem[] = [];
    const results =
      existsSync(path) && statSync(path).size <= MAX_DATA_FILE_BYTES
        ? parseDataFile(readFileSync(path, 'utf8'), experiment, file, id, validator, problems)
        : [];
    const byId = new Map(results.map((r) => [r.id, r]));
    batches.set(file, byId);
    return byId;
  };
  return (address) => {
    const named = parseResultAddress(address);
    if (!named) return undefined;
    if (named.batch) return batch(named.experiment, named.batch).get(named.id);
    const folder = `${RESULTS_DIR}/${named.experiment}/${named.id}`;
    return existsSync(join(root, folder, LEGACY.resultFile)) ? { legacy: folder } : undefined;
  };
}
