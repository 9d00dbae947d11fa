// Exponential backoff, capped: the delay before the next attempt of a job, a webhook delivery or
// an upstream call. No jitter here: jobs and deliveries are spread by their own failure times, so
// tests can name the exact instant; the FHIR client adds its own jitter on top.

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
