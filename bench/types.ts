// What every benchmark module returns to the runner (bench/index.ts): figures, and for the figures
// that have one, the target beside it, marked met or not.

/** A figure's goal: `figure` names a key of the result's figures. */
export interface Target {
  figure: string;
  /** In words, e.g. `<= 0.2`. */
  target: string;
  met: boolean;
  /** What the profile shows standing in the way, printed when the target is not met. */
  blocker?: string;
}

/** One benchmark's outcome: what it ran on, and its figures (ratios beside absolute numbers). */
export interface BenchResult {
  /** Short and stable, e.g. `budget-utilization`. */
  name: string;
  /** The conditions, in words: sizes, limits, concurrency, what the baseline is. */
  inputs: string;
  /** Each ratio is against a baseline measured in the same run, with the absolute numbers beside it. */
  figures: Record<string, number | string>;
  targets?: Target[];
}

/** `quick` for development (smaller inputs, fewer requests), `full` for the report. */
export type Preset = 'quick' | 'full';

export interface BenchOptions {
  preset: Preset;
}

/** A benchmark module's entry point, e.g. `benchBudget()`. */
export type Bench = (options: BenchOptions) => Promise<BenchResult[]>;
