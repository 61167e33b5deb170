// copy-check-100k: the copy check (src/collect/copies.ts) of 1,000 new results against a record of
// 100,000, as collect runs it: the record is indexed once, then each new result is looked up and
// added. Results look like the first batch's: 12 metrics and two 40-point series, numbers that depend
// on the seed. Ten of the new results are copies of recorded ones (of another seed, every number
// moved by 1e-7); the rest are honest. The figure is the time per new result, index build included;
// the check must find the ten copies and nothing else.
import { join } from 'node:path';

const RECORD = 100_000;
const NEW = 1_000;
const COPIES = 10;
const TARGET_MS = 1;

/** A deterministic stream of numbers per seed (mulberry32), standing in for a script's draws. */
function draws(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function envelope(seed) {
  const next = draws(seed);
  const metrics = {};
  for (let k = 0; k < 12; k++) metrics[`m${k}`] = k === 0 ? 0.5 + next() / 10 : next() * 10 ** (k % 4);
  metrics.steps = 1000;
  const curve = Array.from({ length: 40 }, (_, i) => Math.exp(-i / 10) + next() / 100);
  return {
    seed,
    params: {},
    metrics,
    series: { x: Array.from({ length: 40 }, (_, i) => i), y: curve },
    summary: '',
  };
}

const MANIFEST = {
  outputs: {
    metrics: {
      steps: { type: 'integer' },
      ...Object.fromEntries(Array.from({ length: 12 }, (_, k) => [`m${k}`, { type: 'number' }])),
    },
    series: { x: {}, y: {} },
  },
};

export async function benchCopyCheck({ root, log }) {
  const { CopyIndex } = await import(join(root, 'dist/collect/copies.js'));
  const record = Array.from({ length: RECORD }, (_, i) => ({
    id: i + 1,
    host: 1 + (i % 500),
    experiment: 'bench',
    computation: `c${i + 1}`,
    where: 'the record',
    envelope: envelope(i + 1),
  }));
  const incoming = Array.from({ length: NEW }, (_, n) => {
    const id = RECORD + 1 + n;
    let probe = envelope(id);
    if (n % (NEW / COPIES) === 0) {
      // A copy of another seed's recorded result, every number moved by 1e-7.
      const source = envelope(1 + ((n * 7919) % RECORD));
      probe = {
        ...source,
        seed: id,
        metrics: Object.fromEntries(
          Object.entries(source.metrics).map(([k, v]) => [k, k === 'steps' ? v : v * (1 + 1e-7)]),
        ),
        series: { x: source.series.x, y: source.series.y.map((v) => v * (1 + 1e-7)) },
      };
    }
    return { id, host: 7, experiment: 'bench', computation: `c${id}`, where: 'this run', envelope: probe };
  });
  const started = process.hrtime.bigint();
  const index = new CopyIndex();
  for (const known of record) index.add(known);
  const found = [];
  for (const [n, known] of incoming.entries()) {
    if (index.copyOf(known, MANIFEST)) found.push(n);
    index.add(known);
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const perResult = ms / NEW;
  const expected = Array.from({ length: COPIES }, (_, k) => k * (NEW / COPIES));
  if (JSON.stringify(found) !== JSON.stringify(expected))
    throw new Error(
      `the copy check found ${JSON.stringify(found)}, expected the copies ${JSON.stringify(expected)}`,
    );
  log(
    `${RECORD} recorded, ${NEW} new: ${ms.toFixed(0)} ms in all; the ${COPIES} copies found, no honest result flagged`,
  );
  return [
    {
      name: 'copy-check-100k-ms-per-result',
      value: Number(perResult.toFixed(3)),
      unit: 'ms',
      target: `< ${TARGET_MS}`,
      pass: perResult < TARGET_MS,
    },
  ];
}
