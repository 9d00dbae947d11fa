// Delay before the next attempt of a job or a webhook delivery: exponential, capped. No jitter:
// retries are spread by their own failure times, and tests can name the exact instant.

export interface ExponentialBackoff {
  /** Delay after the first failed attempt. */
  initialMs: number;
  /** Growth per further attempt (2 doubles). */
  factor?: number;
  /** No delay exceeds this. */
  maxMs: number;
}

/** Delay after failed attempt number `attempt` (1, 2, 3, ...): initial · factor^(attempt-1). */
export function exponentialDelay(
  attempt: number,
  { initialMs, factor = 2, maxMs }: ExponentialBackoff,
): number {
  return Math.min(maxMs, Math.round(initialMs * factor ** Math.max(0, attempt - 1)));
}
