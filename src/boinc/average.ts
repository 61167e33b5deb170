/** BOINC's half-life for recent average credit: 7 days. */
export const CREDIT_HALF_LIFE_S = 604_800;

export interface RecentAverage {
  /** Credit per day. */
  avg: number;
  /** Unix seconds of the last update. */
  avgTime: number;
}

/**
 * BOINC's `update_average` (lib/util.cpp): decays the average by a 7-day half-life since the last
 * update and adds `work` spread over the time since then. The first credit of a row (avgTime 0) is
 * spread over the time since `start` (the result's sent time); BOINC divides by zero when that is
 * now, so here it is spread over at least one second.
 */
export function updateAverage(
  now: number,
  start: number,
  work: number,
  current: RecentAverage,
  halfLife = CREDIT_HALF_LIFE_S,
): RecentAverage {
  let avg = current.avg;
  if (current.avgTime !== 0) {
    const elapsed = Math.max(0, now - current.avgTime);
    const weight = Math.exp((-elapsed * Math.LN2) / halfLife);
    avg *= weight;
    avg +=
      1 - weight > 1e-6 ? ((1 - weight) * work) / (elapsed / 86_400) : (Math.LN2 * work * 86_400) / halfLife;
  } else if (work !== 0) {
    avg = work / (Math.max(1, now - start) / 86_400);
  }
  return { avg, avgTime: now };
}
