import { type RenderedPlot, renderNewPlots, withPlotsSection } from '../plots/plots.js';
import type { PlotRenderer } from '../plots/render.js';
import type { ExperimentRecord, ResultRecord } from '../record/research.js';
import { REVIEW_MD } from '../record/review.js';
import type { CollectOutcome } from './collect.js';
import { reviewOf } from './record.js';

/**
 * Adds to the results pull request the refreshed overview of each experiment it touches (old and
 * new results together) and, when the run has at most `perResultLimit` new results, the plots of
 * each (embedded in its review.md). A backlog of thousands is reviewed from the overviews; `axiom
 * plots` adds the rest after the merge.
 */
export async function addPlots(
  outcome: CollectOutcome,
  renderer: PlotRenderer,
  perResultLimit: number,
): Promise<RenderedPlot[]> {
  const touched = new Set(outcome.collected.map((c) => c.experiment));
  const existing = outcome.record.experiments.filter((e) => touched.has(e.name));
  const experiments: ExperimentRecord[] = [...touched].map((name) => {
    const before = existing.find((e) => e.name === name);
    const added: ResultRecord[] = outcome.collected
      .filter((c) => c.experiment === name)
      .map((c) => ({
        experiment: name,
        id: c.resultId,
        dir: `results/${name}/${c.resultId}`,
        envelope: c.envelope,
        review: reviewOf(c, outcome.run),
      }));
    const manifest = outcome.collected.find((c) => c.experiment === name)?.manifest;
    return { name, ...(manifest ? { manifest } : {}), results: [...(before?.results ?? []), ...added] };
  });
  const fresh = outcome.collected.length <= perResultLimit ? outcome.collected.map((c) => c.resultId) : [];
  const plots = await renderNewPlots(experiments, new Set(fresh), renderer);
  const byReview = new Map<string, RenderedPlot[]>();
  for (const plot of plots) {
    if (plot.result === undefined) continue;
    const review = `results/${plot.experiment}/${plot.result}/${REVIEW_MD}`;
    byReview.set(review, [...(byReview.get(review) ?? []), plot]);
  }
  for (const file of outcome.files) {
    const own = byReview.get(file.path);
    if (own && typeof file.content === 'string') file.content = withPlotsSection(file.content, own);
  }
  outcome.files.push(...plots.map((p) => ({ path: p.path, content: p.svg })));
  return plots;
}
