import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { CreditEntry, CreditFile } from '../src/record/credit-file.js';
import { creditEntryYaml, creditYaml } from '../src/record/credit-yaml.js';

const entry = (overrides: Partial<Record<keyof CreditEntry, unknown>> = {}): CreditEntry =>
  ({
    result: 1,
    workunit: 'axm_bench_mean_aeeea886a9fd_h1000_r0',
    experiment: 'bench_mean',
    host: 1000,
    user: 1,
    team: 0,
    verdict: 'valid',
    quality: 0.1234,
    credit: 10,
    ...overrides,
  }) as CreditEntry;

/** Values yaml writes plainly, and values it must quote or write otherwise. */
const PLAIN = ['axm_x-1.2_h3_r0', 'A', '_x', 'claude-haiku-5-5', 'e5', 'yes', 'Infinity', 'nan'];
const AWKWARD = [
  'true',
  'False',
  'NULL',
  'null',
  '',
  '~',
  '123',
  '0x1F',
  '1e5',
  '.inf',
  '-x',
  '- x',
  'a: b',
  'a #b',
  ' lead',
  'trail ',
  'two\nlines',
  'tab\there',
  '"q"',
  "'s'",
  '---',
  '...',
  'ünï',
  'a\u0007b',
  '[x]',
  '{x}',
  '@x',
  '*x',
  '!x',
  '%x',
];
const NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.5,
  1e-7,
  1e21,
  123456789.125,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.MAX_SAFE_INTEGER,
];

function filesOf(values: readonly unknown[]): CreditFile[] {
  return values.flatMap((value) => [
    {
      run: '2026-11-25T120000Z',
      judged_by: 'rules',
      entries: [entry(), entry({ workunit: value, result: 2 })],
    },
    {
      run: '2026-11-25T120000Z',
      batch: '2026-11-25T120000Z-2',
      judged_by: 'rules',
      entries: [entry({ quality: value })],
    },
    {
      run: 'r',
      judged_by: String(value),
      entries: [entry({ experiment: value }), entry({ team: undefined })],
    },
  ]);
}

describe('credit file YAML', () => {
  it('is byte for byte what yaml writes, for plain values and for every value yaml quotes or writes otherwise', () => {
    const files = [...filesOf(PLAIN), ...filesOf(AWKWARD), ...filesOf(NUMBERS)];
    files.push({ run: 'r', judged_by: 'rules', entries: [] });
    for (const file of files) {
      expect(creditYaml(file)).toBe(stringify(file, { lineWidth: 0 }));
      for (const e of file.entries) expect(creditEntryYaml(e)).toBe(stringify([e], { lineWidth: 0 }));
    }
  });

  it('reads back as the file it was written from, for hostile text too', () => {
    for (const file of filesOf(AWKWARD))
      expect(parse(creditYaml(file))).toEqual(JSON.parse(JSON.stringify(file)));
  });
});
