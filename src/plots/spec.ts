import { spread } from '../manifest/headline.js';
import type { FitKind, Outputs, PlotSpec } from '../manifest/types.js';
import type { ResultRecord } from '../record/research.js';

/** One plotted point: `kind` separates the data from fitted curves and reference lines. */
export interface PlotPoint {
  x: number;
  y: number;
  series: string;
  /** data and fit lines; a batch plot's band (y to y2) and its flagged results; reference lines. */
  kind: 'data' | 'fit' | 'band' | 'flagged' | 'refx' | 'refy';
  y2?: number;
  /** Which line a point belongs to within its colour (a result, or a result and its group). */
  group?: number | string;
  /** A reference line's label. */
  label?: string;
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

/** Text sizes that stay readable when the plot is shown at its own width (about 720 px). */
const CONFIG = {
  font: 'sans-serif',
  title: { fontSize: 16 },
  axis: { labelFontSize: 13, titleFontSize: 14 },
  legend: { labelFontSize: 13, titleFontSize: 13, labelLimit: 280 },
};

const short = (v: number) => String(Number(v.toPrecision(4)));

function seriesLabel(key: string, outputs: Outputs | undefined): string {
  const spec = outputs?.series?.[key];
  const words = spec?.description && spec.description.length <= 60 ? spec.description : key;
  return spec?.unit ? `${words} (${spec.unit})` : words;
}

/** The plot with its axis titles filled in from the manifest's series: description and unit. */
export function withLabels(plot: PlotSpec, outputs: Outputs | undefined): PlotSpec {
  return {
    ...plot,
    x_label: plot.x_label ?? seriesLabel(plot.x, outputs),
    y_label:
      plot.y_label ?? (plot.y.length === 1 ? seriesLabel(plot.y[0] as string, outputs) : plot.y.join(', ')),
  };
}

/**
 * Points of `y` against `x` for one result, leaving out what a log axis cannot show. With
 * `group_by`, each row is named by its group so that every group is a line of its own.
 */
function points(
  record: ResultRecord,
  plot: PlotSpec,
  series: (y: string, group: string | undefined) => string,
): (PlotPoint & { groupLabel?: string })[] {
  const xs = record.envelope.series[plot.x] ?? [];
  const groups = plot.group_by ? (record.envelope.series[plot.group_by] ?? []) : undefined;
  const usable = (v: number, scale?: string) => Number.isFinite(v) && (scale !== 'log' || v > 0);
  return plot.y.flatMap((y) => {
    const ys = record.envelope.series[y] ?? [];
    const n = Math.min(xs.length, ys.length, groups ? groups.length : Number.POSITIVE_INFINITY);
    const out: (PlotPoint & { groupLabel?: string })[] = [];
    for (let i = 0; i < n; i++) {
      const x = xs[i] as number;
      const v = ys[i] as number;
      const g = groups ? `${plot.group_by} ${short(groups[i] as number)}` : undefined;
      if (usable(x, plot.x_scale) && usable(v, plot.y_scale))
        out.push({ x, y: v, series: series(y, g), kind: 'data', ...(g ? { groupLabel: g } : {}) });
    }
    return out;
  });
}

/** How a result's line is named: its y key, its group, or both. */
const lineName = (plot: PlotSpec) => (y: string, group: string | undefined) =>
  group ? (plot.y.length > 1 ? `${y}, ${group}` : group) : y;

function linearFit(xs: readonly number[], ys: readonly number[]) {
  const n = xs.length;
  const mx = xs.reduce((s, v) => s + v, 0) / n;
  const my = ys.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  xs.forEach((v, i) => {
    sxy += (v - mx) * ((ys[i] as number) - my);
    sxx += (v - mx) ** 2;
    syy += ((ys[i] as number) - my) ** 2;
  });
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  const residual = ys.reduce((s, v, i) => s + (v - (slope * (xs[i] as number) + intercept)) ** 2, 0);
  return { slope, intercept, r2: syy > 0 ? 1 - residual / syy : 0 };
}

/** Least squares on log-log axes: y = a·x^b over the positive points. */
export function fitPowerLaw(data: readonly { x: number; y: number }[]): { a: number; b: number } | undefined {
  const usable = data.filter((p) => p.x > 0 && p.y > 0);
  if (usable.length < 2) return undefined;
  const line = linearFit(
    usable.map((p) => Math.log(p.x)),
    usable.map((p) => Math.log(p.y)),
  );
  return line ? { a: Math.exp(line.intercept), b: line.slope } : undefined;
}

/**
 * y = a·x^-alpha + c, the floor c chosen on a grid for the best straight line of log(y - c)
 * against log x: the fit experiments/neural_scaling_laws.py reports as alpha.
 */
export function fitPowerLawFloor(
  data: readonly { x: number; y: number }[],
): { a: number; alpha: number; c: number } | undefined {
  const usable = data.filter((p) => p.x > 0 && p.y > 0);
  if (usable.length < 3) return undefined;
  const lx = usable.map((p) => Math.log(p.x));
  const low = Math.min(...usable.map((p) => p.y));
  let best: { a: number; alpha: number; c: number; r2: number } | undefined;
  for (let k = -1; k < 60; k++) {
    const c = k < 0 ? 0 : low * (0.01 + (0.94 * k) / 59);
    const line = linearFit(
      lx,
      usable.map((p) => Math.log(p.y - c)),
    );
    if (line && (!best || line.r2 > best.r2 + 1e-4))
      best = { a: Math.exp(line.intercept), alpha: -line.slope, c, r2: line.r2 };
  }
  return best;
}

const geomspace = (lo: number, hi: number, n: number) =>
  Array.from({ length: n }, (_, i) => lo * (hi / lo) ** (i / (n - 1)));
const linspace = (lo: number, hi: number, n: number) =>
  Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));

/** The least-squares two-parameter retention curve on a grid, as experiments/power_law_forgetting.py fits it. */
function fitRetention(
  data: readonly { x: number; y: number }[],
  model: (t: number, tau: number, other: number) => number,
  others: readonly number[],
): { tau: number; other: number } | undefined {
  if (data.length < 3) return undefined;
  let best: { tau: number; other: number; error: number } | undefined;
  for (const tau of geomspace(0.1, 1e5, 120))
    for (const other of others) {
      let error = 0;
      for (const p of data) error += (model(p.x, tau, other) - p.y) ** 2;
      if (!best || error < best.error) best = { tau, other, error };
    }
  return best;
}

const retentionPower = (t: number, tau: number, beta: number) => (1 + t / tau) ** -beta;
const retentionExponential = (t: number, tau: number, c: number) => (1 - c) * Math.exp(-t / tau) + c;

/** One fitted curve through a series: its function and how the legend names it. */
function fitCurve(
  kind: FitKind,
  data: readonly { x: number; y: number }[],
): { f: (x: number) => number; label: string } | undefined {
  switch (kind) {
    case 'power_law': {
      const fit = fitPowerLaw(data);
      return fit && { f: (x) => fit.a * x ** fit.b, label: `fit, exponent ${fit.b.toPrecision(3)}` };
    }
    case 'power_law_floor': {
      const fit = fitPowerLawFloor(data);
      return (
        fit && {
          f: (x) => fit.a * x ** -fit.alpha + fit.c,
          label: `fit a·x^-α + c, α ${fit.alpha.toPrecision(3)}`,
        }
      );
    }
    case 'retention_power': {
      const fit = fitRetention(data, retentionPower, geomspace(0.005, 4, 120));
      return fit && { f: (x) => retentionPower(x, fit.tau, fit.other), label: 'power-law fit' };
    }
    case 'retention_exponential': {
      const fit = fitRetention(data, retentionExponential, linspace(-0.5, 1, 121));
      return fit && { f: (x) => retentionExponential(x, fit.tau, fit.other), label: 'exponential fit' };
    }
  }
}

/** The fitted curves of each data series, sampled from the smallest to the largest x. */
function fits(plot: PlotSpec, values: readonly PlotPoint[]): PlotPoint[] {
  const kinds = plot.fit === undefined ? [] : Array.isArray(plot.fit) ? plot.fit : [plot.fit];
  if (kinds.length === 0) return [];
  const bySeries = new Map<string, PlotPoint[]>();
  for (const p of values)
    if (p.kind === 'data') bySeries.set(p.series, [...(bySeries.get(p.series) ?? []), p]);
  return [...bySeries.entries()].flatMap(([series, data]) =>
    kinds.flatMap((kind) => {
      const curve = fitCurve(kind, data);
      if (!curve) return [];
      const xs = data.map((p) => p.x);
      const lo = Math.min(...xs);
      const hi = Math.max(...xs);
      const at = plot.x_scale === 'log' && lo > 0 ? geomspace(lo, hi, 40) : linspace(lo, hi, 40);
      const name = `${series} ${curve.label}`;
      return at
        .map((x) => ({ x, y: curve.f(x), series: name, kind: 'fit' as const }))
        .filter((p) => Number.isFinite(p.y) && (plot.y_scale !== 'log' || p.y > 0));
    }),
  );
}

/** Reference lines, at numbers or at metrics (`metric` gives a metric's value for this plot). */
function references(plot: PlotSpec, metric: (key: string) => number | undefined): PlotPoint[] {
  return (plot.reference ?? []).flatMap((line): PlotPoint[] => {
    const axis = line.x !== undefined ? 'x' : 'y';
    const at = line[axis] as number | string;
    const value = typeof at === 'number' ? at : metric(at);
    const scale = axis === 'x' ? plot.x_scale : plot.y_scale;
    if (value === undefined || !Number.isFinite(value) || (scale === 'log' && value <= 0)) return [];
    const label = `${line.label} (${short(value)})`;
    return [
      axis === 'x'
        ? { x: value, y: 0, series: label, kind: 'refx', label }
        : { x: 0, y: value, series: label, kind: 'refy', label },
    ];
  });
}

/** A metric's median over results: where an overview or a batch draws a metric's reference line. */
const medianMetric = (records: readonly ResultRecord[]) => (key: string) =>
  spread(
    records.flatMap((r) =>
      r.envelope.metrics[key] === undefined ? [] : [r.envelope.metrics[key] as number],
    ),
  )?.median;

function axis(field: 'x' | 'y', title: string, scale?: 'linear' | 'log'): Record<string, unknown> {
  // A log scale never includes zero; a linear one starts where the data does.
  return { field, type: 'quantitative', title, scale: scale === 'log' ? { type: 'log' } : { zero: false } };
}

/**
 * On a log y axis, values more than four decades below the largest are left out of the data
 * layers: an error that reaches 1e-29 would otherwise squeeze the rest into a line.
 */
function trim(plot: PlotSpec): Record<string, unknown>[] {
  return plot.y_scale === 'log'
    ? [
        { joinaggregate: [{ op: 'max', field: 'y', as: 'ymax' }], groupby: ['series'] },
        { filter: 'datum.y >= datum.ymax * 1e-4' },
      ]
    : [];
}

/** The layers every plot shares: fitted curves dashed, reference lines grey with their labels. */
function commonLayers(_plot: PlotSpec, encoding: Record<string, unknown>): Record<string, unknown>[] {
  const x = encoding.x;
  const y = encoding.y;
  return [
    {
      transform: [{ filter: "datum.kind === 'fit'" }],
      mark: { type: 'line', strokeDash: [6, 4], strokeWidth: 2 },
      encoding,
    },
    {
      transform: [{ filter: "datum.kind === 'refx'" }],
      mark: { type: 'rule', color: '#555', strokeDash: [2, 2] },
      encoding: { x },
    },
    {
      transform: [{ filter: "datum.kind === 'refx'" }],
      mark: { type: 'text', align: 'left', dx: 4, fontSize: 13, color: '#333' },
      encoding: { x, y: { value: 10 }, text: { field: 'label' } },
    },
    {
      transform: [{ filter: "datum.kind === 'refy'" }],
      mark: { type: 'rule', color: '#555', strokeDash: [2, 2] },
      encoding: { y },
    },
    {
      transform: [{ filter: "datum.kind === 'refy'" }],
      mark: { type: 'text', align: 'left', dx: 4, dy: -6, fontSize: 13, color: '#333' },
      encoding: { y, x: { value: 0 }, text: { field: 'label' } },
    },
  ];
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
    x: axis('x', plot.x_label ?? plot.x, plot.x_scale),
    y: axis('y', plot.y_label ?? plot.y.join(', '), plot.y_scale),
    color: {
      field: 'series',
      type: 'nominal',
      title: colorTitle,
      legend: options.legend ? {} : null,
    },
    ...(options.perResult || plot.group_by
      ? { detail: { field: 'group', type: 'nominal', title: 'line' } }
      : {}),
  };
  const mark = plot.mark === 'point' ? { type: 'point', filled: true } : { type: 'line', point: true };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    config: CONFIG,
    title,
    data: { name: 'points' },
    layer: [
      { transform: [{ filter: "datum.kind === 'data'" }, ...trim(plot)], mark, encoding },
      ...commonLayers(plot, encoding),
    ],
  };
}

function describe(plot: PlotSpec, what: string, values: readonly PlotPoint[]): string {
  const data = values.filter((v) => v.kind === 'data');
  const scales = [
    plot.x_scale === 'log' ? 'log x axis' : '',
    plot.y_scale === 'log' ? 'log y axis' : '',
  ].filter(Boolean);
  const lines = new Set(data.map((v) => `${v.series}\u0000${v.group ?? ''}`)).size;
  const named = (kind: PlotPoint['kind']) => [
    ...new Set(values.filter((v) => v.kind === kind).map((v) => v.series)),
  ];
  const fitted = named('fit');
  const marks = [...named('refx'), ...named('refy')];
  return `${plot.title}: ${plot.y_label ?? plot.y.join(' and ')} against ${plot.x_label ?? plot.x} for ${what}, ${data.length} points in ${lines} line${lines === 1 ? '' : 's'}${
    scales.length ? ` (${scales.join(', ')})` : ''
  }${fitted.length ? `; dashed: ${fitted.join('; ')}` : ''}${marks.length ? `; reference lines: ${marks.join('; ')}` : ''}.`;
}

/** Lines of a result split by group: the group is the line within the series' colour. */
function withGroups(data: (PlotPoint & { groupLabel?: string })[], prefix?: number): PlotPoint[] {
  return data.map(({ groupLabel, ...p }) =>
    groupLabel || prefix !== undefined
      ? {
          ...p,
          group:
            prefix === undefined ? (groupLabel as string) : `${prefix}${groupLabel ? ` ${groupLabel}` : ''}`,
        }
      : p,
  );
}

/** The plot of one result, with its fits and reference lines. */
export function resultPlot(record: ResultRecord, plot: PlotSpec): PlotJob {
  const data = withGroups(points(record, plot, lineName(plot)));
  const values = [...data, ...fits(plot, data), ...references(plot, (key) => record.envelope.metrics[key])];
  const alt = describe(plot, `result ${record.id}`, values);
  return { spec: specFor(plot, plot.title, 'series', { legend: true, perResult: false }), values, alt };
}

/**
 * The results a plot of many draws: invalid ones are left out, so that one holding 1e308 cannot
 * stretch the axes and flatten every real curve (its own result plot still shows it).
 */
export const plottable = (records: readonly ResultRecord[]) =>
  records.filter((r) => r.review?.verdict !== 'invalid');

/** Decades a result's largest value may lie above the other results' before it is off scale. */
const OFF_SCALE_DECADES = 6;

/** The decade of the largest value a result draws on one axis of a plot, if it draws any. */
function decadeOf(record: ResultRecord, plot: PlotSpec, field: 'x' | 'y'): number | undefined {
  let largest = 0;
  for (const p of points(record, plot, lineName(plot))) {
    const v = Math.abs(p[field]);
    if (Number.isFinite(v) && v > largest) largest = v;
  }
  return largest > 0 ? Math.log10(largest) : undefined;
}

/**
 * The results a plot of many draws, and how many it leaves out: invalid ones, and valid ones whose
 * values lie more than OFF_SCALE_DECADES decades above the median result's on either axis (a valid
 * result can hold 1e300 too); a result's own plot still shows it.
 */
export function drawable(
  all: readonly ResultRecord[],
  plot: PlotSpec,
): { results: ResultRecord[]; note: string } {
  const valid = plottable(all);
  const off = new Set<number>();
  if (valid.length >= 2)
    for (const field of ['x', 'y'] as const) {
      const decades = valid.map((r) => decadeOf(r, plot, field));
      const known = decades.filter((d): d is number => d !== undefined).sort((a, b) => a - b);
      if (known.length < 2) continue;
      const median = quantile(known, 0.5);
      decades.forEach((d, i) => {
        if (d !== undefined && d > median + OFF_SCALE_DECADES) off.add((valid[i] as ResultRecord).id);
      });
    }
  const results = valid.filter((r) => !off.has(r.id));
  const invalid = all.length - valid.length;
  const note = [
    invalid > 0 ? `; ${invalid} invalid result${invalid === 1 ? '' : 's'} left out` : '',
    off.size > 0
      ? `; ${off.size} result${off.size === 1 ? '' : 's'} off scale left out (${[...off].join(', ')}: values over a million times the others'; ${off.size === 1 ? 'its' : 'each'} own plot shows ${off.size === 1 ? 'it' : 'them'})`
      : '',
  ].join('');
  return { results, note };
}

/** A legend longer than this helps nobody; the text alternative still names the hosts. */
const MAX_LEGEND = 24;
const MAX_OVERVIEW_RESULTS = 200;

/**
 * Every result of an experiment in one plot, so replicas can be compared: one line per result (and
 * per group), coloured by host, or by group when the plot has one.
 */
export function overviewPlot(experiment: string, all: readonly ResultRecord[], plot: PlotSpec): PlotJob {
  // The latest results only: past a few hundred lines an overview shows a blur, and costs minutes.
  const { results: valid, note } = drawable(all, plot);
  const records = valid.length > MAX_OVERVIEW_RESULTS ? valid.slice(-MAX_OVERVIEW_RESULTS) : valid;
  const data = records.flatMap((record) => {
    const host = `host ${record.review?.host ?? '?'}`;
    const name = plot.group_by ? lineName(plot) : (y: string) => (plot.y.length > 1 ? `${host}: ${y}` : host);
    return withGroups(points(record, plot, name), record.id);
  });
  const values = [...data, ...fits(plot, data), ...references(plot, medianMetric(records))];
  const colours = new Set(data.map((v) => v.series)).size;
  const alt = describe(
    plot,
    `all ${records.length} results of ${experiment}, one line per result${plot.group_by ? ` and ${plot.group_by}, coloured by ${plot.group_by}` : ', coloured by host'}`,
    values,
  ).replace(/\.$/, `${note}.`);
  return {
    spec: specFor(plot, `${plot.title} (all results)`, plot.group_by ?? 'host', {
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
  all: readonly ResultRecord[],
  plot: PlotSpec,
  highlighted: ReadonlySet<number>,
): PlotJob {
  const { results, note } = drawable(all, plot);
  const perSeries = new Map<string, { x: number; y: number }[]>();
  for (const record of results)
    for (const p of points(record, plot, lineName(plot))) {
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
    for (const { groupLabel, ...p } of points(
      record,
      plot,
      (y, g) => `result ${record.id}: ${lineName(plot)(y, g)}`,
    ))
      values.push({ ...p, kind: 'flagged', group: `${record.id}${groupLabel ? ` ${groupLabel}` : ''}` });
  values.push(...fits(plot, values), ...references(plot, medianMetric(results)));
  const encoding = {
    x: axis('x', plot.x_label ?? plot.x, plot.x_scale),
    y: axis('y', plot.y_label ?? plot.y.join(', '), plot.y_scale),
    color: { field: 'series', type: 'nominal', title: 'series' },
  };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH,
    height: HEIGHT,
    background: 'white',
    config: CONFIG,
    title: `${plot.title} (batch ${batch})`,
    data: { name: 'points' },
    layer: [
      {
        transform: [{ filter: "datum.kind === 'band'" }],
        mark: { type: 'area', opacity: 0.25 },
        encoding: { ...encoding, y2: { field: 'y2' } },
      },
      { transform: [{ filter: "datum.kind === 'data'" }, ...trim(plot)], mark: { type: 'line' }, encoding },
      {
        transform: [{ filter: "datum.kind === 'flagged'" }, ...trim(plot)],
        mark: { type: 'line', strokeDash: [4, 3] },
        encoding: { ...encoding, detail: { field: 'group', type: 'nominal' } },
      },
      ...commonLayers(plot, encoding),
    ],
  };
  const medians = values.filter((v) => v.kind === 'data').length;
  const alt = `${plot.title}: ${plot.y.join(' and ')} against ${plot.x} over the ${results.length} result${results.length === 1 ? '' : 's'} of ${experiment} in batch ${batch}: the median at ${medians} x positions with the band from the 10th to the 90th percentile${shown.length ? `; dashed: flagged results ${shown.map((r) => r.id).join(', ')}` : ''}${note}.`;
  return { spec, values, alt };
}
