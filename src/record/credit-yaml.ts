import { stringify } from 'yaml';
import type { CreditEntry, CreditFile } from './credit-file.js';

/**
 * Credit files as YAML, byte for byte as `yaml` writes them (lineWidth 0), without building a YAML
 * document for every entry: a run of 10,000 results spent seconds there. Values that are plain
 * scalars (names, ids, finite numbers) are written directly; any other value leaves the writing to
 * `yaml`, so quoting rules are never re-implemented.
 */

const OPTIONS = { lineWidth: 0 } as const;

/** Strings `yaml` writes unquoted in YAML 1.2's core schema: a word that reads as no other type. */
const PLAIN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const KEYWORD = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE|[Nn]ull|NULL)$/;

function plainScalar(value: unknown): string | undefined {
  if (typeof value === 'number')
    return Number.isFinite(value) && !Object.is(value, -0) ? JSON.stringify(value) : undefined;
  if (typeof value === 'string' && PLAIN.test(value) && !KEYWORD.test(value)) return value;
  return undefined;
}

/** An entry as an item of a block sequence indented by `indent`; undefined when a value is not plain. */
function entryItem(entry: CreditEntry, indent: string): string | undefined {
  let item = '';
  for (const [key, value] of Object.entries(entry)) {
    if (value === undefined) continue;
    const text = plainScalar(value);
    if (text === undefined || plainScalar(key) !== key) return undefined;
    item += `${item === '' ? `${indent}- ` : `${indent}  `}${key}: ${text}\n`;
  }
  return item === '' ? undefined : item;
}

/** One entry as `yaml` writes `[entry]`: what the entry adds to a credit file, for sizing a batch. */
export function creditEntryYaml(entry: CreditEntry): string {
  return entryItem(entry, '') ?? stringify([entry], OPTIONS);
}

/** A credit file's YAML, as `yaml` writes it. */
export function creditYaml(file: CreditFile): string {
  const { entries, ...head } = file;
  const items = entries.map((entry) => entryItem(entry, '  '));
  const entriesLast = Object.keys(file).at(-1) === 'entries';
  if (!entriesLast || items.length === 0 || items.some((i) => i === undefined))
    return stringify(file, OPTIONS);
  return `${stringify(head, OPTIONS)}entries:\n${items.join('')}`;
}
