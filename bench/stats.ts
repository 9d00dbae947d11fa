// The arithmetic every benchmark shares: rounding, ratios, percentiles, a worker pool, targets.
import type { Target } from './types.ts';

export const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

/** `a / b`, rounded; 'n/a' when the baseline is zero (a ratio against nothing says nothing). */
export const ratio = (a: number, b: number, digits = 2): number | string =>
  b > 0 ? round(a / b, digits) : 'n/a';

/** The p-th percentile (0-100) by nearest rank. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] ?? 0;
}

/** Runs `jobs` with `concurrency` workers, in order of the list. */
export async function pool<T>(concurrency: number, jobs: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      results[index] = await (jobs[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
  return results;
}

/**
 * A target on one figure: met when it is a number on the right side of `limit`. `blocker` says
 * what the profile shows standing in its way, for the report to print if it is not met.
 */
export function target(
  figures: Record<string, number | string>,
  figure: string,
  side: '<=' | '>=' | '==',
  limit: number,
  blocker?: string,
): Target {
  const value = figures[figure];
  const met =
    typeof value === 'number' &&
    (side === '<=' ? value <= limit : side === '>=' ? value >= limit : value === limit);
  return { figure, target: `${side} ${limit}`, met, ...(blocker && !met ? { blocker } : {}) };
}
