// What every benchmark module returns to the runner (bench/index.ts): figures, never verdicts.

/** One benchmark's outcome: what it ran on, and its figures (ratios beside absolute numbers). */
export interface BenchResult {
  /** Short and stable, e.g. `budget-utilization`. */
  name: string;
  /** The conditions, in words: sizes, limits, concurrency, what the baseline is. */
  inputs: string;
  /** Each ratio is against a baseline measured in the same run, with the absolute numbers beside it. */
  figures: Record<string, number | string>;
}

/** A benchmark module's entry point, e.g. `benchBudget()`. */
export type Bench = () => Promise<BenchResult[]>;
