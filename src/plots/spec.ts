import type { PlotSpec } from '../manifest/types.js';
import type { ResultRecord } from '../record/research.js';

/** One plotted point: `kind` separates the data from a fitted curve. */
export interface PlotPoint {
  x: number;
  y: number;
  series: string;
  /** data and fit lines; a batch plot's band (y to y2) and its flagged results. */
  kind: 'data' | 'fit' | 'band' | 'flagged';
  y2?: number;
  /** Which result a point belongs to, so each result is its own line within its colour. */
  group?: number;
}

/** A Vega-Lite specification without its data, and the data to render it with. */
export interface PlotJob {
  spec: Record<string, unknown>;
  values: PlotPoint[];
  /** The text alternative for people who cannot see the plot. */
  alt: string;
}

const WIDTH = 560;
const HEIGHT = 320;

/** Points of `y` against `x` for one result, leaving out what a log axis cannot show. */
function points(record: ResultRecord, plot: PlotSpec, series: (y: string) => string): PlotPoint[] {
  const xs = record.envelope.series[plot.x] ?? [];
  const usable = (v: number, scale?: string) => Number.isFinite(v) && (scale !== 'log' || v > 0);
  return plot.y.flatMap((y) => {
    const ys = record.envelope.series[y] ?? [];
    const n = Math.min(xs.length, ys.length);
    const out: PlotPoint[] = [];
    for (let i = 0; i < n; i++) {
      const x = xs[i] as number;
      const v = ys[i] as number;
      if (usable(x, plot.x_scale) && usable(v, plot.y_scale))
        out.push({ x, y: v, series: series(y), kind: 'data' });
    }
    return out;
  });
}

/** Least squares on log-log axes: y = a·x^b over the positive points. */
export function fitPowerLaw(data: readonly { x: number; y: number }[]): { a: number; b: number } | undefined {
  const usable = data.filter((p) => p.x > 0 && p.y > 0);
  if (usable.length < 2) return undefined;
  const lx = usable.map((p) => Math.log(p.x));
  const ly = usable.map((p) => Math.log(p.y));
  const mx = lx.reduce((s, v) => s + v, 0) / lx.length;
  const my = ly.reduce((s, v) => s + v, 0) / ly.length;
  let sxy = 0;
  let sxx = 0;
  lx.forEach((v, i) => {
    sxy += (v - mx) * ((ly[i] as number) - my);
    sxx += (v - mx) ** 2;
  });
  if (sxx === 0) return undefined;
  const b = sxy / sxx;
  return { a: Math.exp(my - b * mx), b };
}

/** The fitted power law of each data series, as a line from the smallest to the largest x. */
function fits(values: readonly PlotPoint[]): PlotPoint[] {
  const bySeries = new Map<string, PlotPoint[]>();
  for (const p of values) bySeries.set(p.series, [...(bySeries.get(p.series) ?? []), p]);
  return [...bySeries.entries()].flatMap(([series, data]) => {
    const fit = fitPowerLaw(data);
    if (!fit) return [];
    const xs = data.map((p) => p.x);
    const label = `${series} fit, exponent ${fit.b.toPrecision(3)}`;
    return [Math.min(...xs), Math.max(...xs)].map((x) => ({
      x,
      y: fit.a * x ** fit.b,
      series: label,
      kind: 'fit' as const,
    }));
  });
}

function axis(field: 'x' | 'y', title: string, scale?: 'linear' | 'log'): Record<string, unknown> {
  // A log scale never includes zero; a linear one starts where the data does.
  return { field, type: 'quantitative', title, scale: scale === 'log' ? { type: 'log' } : { zero: false } };
}

/**
 * The specification depends only on the manifest's plot, never on one result, so a renderer compiles
 * it once for all results of an experiment; the text alternative travels beside it.
 */
function specFor(
  plot: PlotSpec,
  title: string,
  colorTitle: string,
  options: { legend: boolean; perResult: boolean },
): Record<string, unknown> {
  const encoding = {
    x: axis('x', plot.x, plot.x_scale),
    y: axis('y', plot.y.join(', '), plot.y_scale),
    color: {
      field: 'series',
      type: 'nominal',
      title: colorTitle,
      legend: options.legend ? { labelLimit: 280 } : null,
    },
    ...(options.perResult ? { detail: { field: 'group', type: 'nominal', title: 'result' } } : {}),
  };
  const mark = plot.mark === 'point' ? { type: 'point', filled: true } : { type: 'line', point: true };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    title,
    data: { name: 'points' },
    layer: [
      { transform: [{ filter: "datum.kind === 'data'" }], mark, encoding },
      {
        transform: [{ filter: "datum.kind === 'fit'" }],
        mark: { type: 'line', strokeDash: [6, 4] },
        encoding,
      },
    ],
  };
}

function describe(plot: PlotSpec, what: string, values: readonly PlotPoint[]): string {
  const data = values.filter((v) => v.kind === 'data');
  const scales = [
    plot.x_scale === 'log' ? 'log x axis' : '',
    plot.y_scale === 'log' ? 'log y axis' : '',
  ].filter(Boolean);
  const fit = values.find((v) => v.kind === 'fit');
  return `${plot.title}: ${plot.y.join(' and ')} against ${plot.x} for ${what}, ${data.length} points${
    scales.length ? ` (${scales.join(', ')})` : ''
  }${fit ? `; dashed: ${[...new Set(values.filter((v) => v.kind === 'fit').map((v) => v.series))].join('; ')}` : ''}.`;
}

/** The plot of one result, with a fitted power law when the manifest asks for it. */
export function resultPlot(record: ResultRecord, plot: PlotSpec): PlotJob {
  const data = points(record, plot, (y) => y);
  const values = plot.fit === 'power_law' ? [...data, ...fits(data)] : data;
  const alt = describe(plot, `result ${record.id}`, values);
  return { spec: specFor(plot, plot.title, 'series', { legend: true, perResult: false }), values, alt };
}

/** A legend longer than this helps nobody; the text alternative still names the hosts. */
const MAX_LEGEND = 24;
const MAX_OVERVIEW_RESULTS = 200;

/**
 * Every result of an experiment in one plot, so replicas can be compared: one colour per host, one
 * line per result.
 */
export function overviewPlot(experiment: string, all: readonly ResultRecord[], plot: PlotSpec): PlotJob {
  // The latest results only: past a few hundred lines an overview shows a blur, and costs minutes.
  const records = all.length > MAX_OVERVIEW_RESULTS ? all.slice(-MAX_OVERVIEW_RESULTS) : all;
  const values = records.flatMap((record) => {
    const host = `host ${record.review?.host ?? '?'}`;
    return points(record, plot, (y) => (plot.y.length > 1 ? `${host}: ${y}` : host)).map((p) => ({
      ...p,
      group: record.id,
    }));
  });
  const colours = new Set(values.map((v) => v.series)).size;
  const alt = describe(
    plot,
    `all ${records.length} results of ${experiment}, one line per result, coloured by host`,
    values,
  );
  return {
    spec: specFor(plot, `${plot.title} (all results)`, 'host', {
      legend: colours <= MAX_LEGEND,
      perResult: true,
    }),
    values,
    alt,
  };
}

/** A batch plot summarises its results in at most this many x positions. */
const MAX_BATCH_BINS = 120;
/** Results drawn on their own over a batch's band: the flagged ones, up to this many. */
const MAX_HIGHLIGHTED = 4;

function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (at - lo);
}

/**
 * The centre x of each bin: the distinct x values when there are few, else equal-width bins (on a
 * log axis, in log space).
 */
function binner(xs: readonly number[], log: boolean): (x: number) => number {
  const distinct = [...new Set(xs)];
  if (distinct.length <= MAX_BATCH_BINS) return (x) => x;
  const t = (x: number) => (log ? Math.log10(x) : x);
  const inv = (v: number) => (log ? 10 ** v : v);
  const lo = Math.min(...distinct.map(t));
  const hi = Math.max(...distinct.map(t));
  const width = (hi - lo) / MAX_BATCH_BINS || 1;
  return (x) => {
    const k = Math.min(MAX_BATCH_BINS - 1, Math.floor((t(x) - lo) / width));
    return Number(inv(lo + (k + 0.5) * width).toPrecision(6));
  };
}

/**
 * One plot of a batch's results, of a size that does not grow with the batch: for each series the
 * median over the results and the band from the 10th to the 90th percentile at each x, with the
 * flagged results drawn on their own so that a reviewer sees how they differ.
 */
export function batchPlot(
  experiment: string,
  batch: string,
  results: readonly ResultRecord[],
  plot: PlotSpec,
  highlighted: ReadonlySet<number>,
): PlotJob {
  const perSeries = new Map<string, { x: number; y: number }[]>();
  for (const record of results)
    for (const p of points(record, plot, (y) => y)) {
      const list = perSeries.get(p.series) ?? [];
      list.push({ x: p.x, y: p.y });
      perSeries.set(p.series, list);
    }
  const values: PlotPoint[] = [];
  for (const [series, data] of perSeries) {
    const bin = binner(
      data.map((d) => d.x),
      plot.x_scale === 'log',
    );
    const bins = new Map<number, number[]>();
    for (const d of data) {
      const x = bin(d.x);
      const ys = bins.get(x) ?? [];
      ys.push(d.y);
      bins.set(x, ys);
    }
    for (const [x, ys] of [...bins.entries()].sort((a, b) => a[0] - b[0])) {
      ys.sort((a, b) => a - b);
      values.push({ x, y: quantile(ys, 0.1), y2: quantile(ys, 0.9), series, kind: 'band' });
      values.push({ x, y: quantile(ys, 0.5), series, kind: 'data' });
    }
  }
  const shown = results.filter((r) => highlighted.has(r.id)).slice(0, MAX_HIGHLIGHTED);
  for (const record of shown)
    for (const p of points(record, plot, (y) => `result ${record.id}: ${y}`))
      values.push({ ...p, kind: 'flagged', group: record.id });
  const encoding = {
    x: axis('x', plot.x, plot.x_scale),
    y: axis('y', plot.y.join(', '), plot.y_scale),
    color: { field: 'series', type: 'nominal', title: 'series', legend: { labelLimit: 280 } },
  };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    title: `${plot.title} (batch ${batch})`,
    data: { name: 'points' },
    layer: [
      {
        transform: [{ filter: "datum.kind === 'band'" }],
        mark: { type: 'area', opacity: 0.25 },
        encoding: { ...encoding, y2: { field: 'y2' } },
      },
      { transform: [{ filter: "datum.kind === 'data'" }], mark: { type: 'line' }, encoding },
      {
        transform: [{ filter: "datum.kind === 'flagged'" }],
        mark: { type: 'line', strokeDash: [4, 3] },
        encoding: { ...encoding, detail: { field: 'group', type: 'nominal' } },
      },
    ],
  };
  const medians = values.filter((v) => v.kind === 'data').length;
  const alt = `${plot.title}: ${plot.y.join(' and ')} against ${plot.x} over the ${results.length} result${results.length === 1 ? '' : 's'} of ${experiment} in batch ${batch}: the median at ${medians} x positions with the band from the 10th to the 90th percentile${shown.length ? `; dashed: flagged results ${shown.map((r) => r.id).join(', ')}` : ''}.`;
  return { spec, values, alt };
}
