// healow's rate limit (since 2025-10-07): calls per practice code per clock minute, counting
// /authorize, /token and FHIR calls. Over the limit the app is blocked with 429 for the rest
// of that window (window = floor(now / windowMs)); `Retry-After` only with the quirk switched on.

import type { SimClock, SimCounters, SimQuirks, SimRateLimit } from './context.ts';

export type RateDecision = { allowed: true } | { allowed: false; retryAfterS: number };

export interface RateLimiter {
  /** Counts one call for the practice and says whether it may proceed. */
  take(practiceCode: string): RateDecision;
  /** Headers for a 429: `Retry-After` when the quirk is on, none otherwise. */
  headers(decision: RateDecision): Record<string, string>;
}

export function createRateLimiter(deps: {
  clock: SimClock;
  counters: SimCounters;
  rateLimit: SimRateLimit;
  quirks: SimQuirks;
}): RateLimiter {
  const { clock, counters, rateLimit, quirks } = deps;
  return {
    take(practiceCode) {
      const count = counters.countCall(practiceCode);
      if (count <= rateLimit.limit) return { allowed: true };
      counters.rateLimited(practiceCode);
      const now = clock.now();
      const windowEnd = (Math.floor(now / rateLimit.windowMs) + 1) * rateLimit.windowMs;
      return { allowed: false, retryAfterS: Math.max(1, Math.ceil((windowEnd - now) / 1000)) };
    },
    headers(decision) {
      if (decision.allowed || !quirks.retryAfterOn429) return {};
      const headers: Record<string, string> = { 'retry-after': String(decision.retryAfterS) };
      return headers;
    },
  };
}
