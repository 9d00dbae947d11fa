// The simulator's clock: a base time source plus an offset the admin API shifts, so that token
// expiry and rate windows are tested by moving time instead of sleeping.

import type { SimClock } from './context.ts';

/** Real time (or an injected base, for tests) plus a shiftable offset. */
export function createSimClock(base: () => number = Date.now): SimClock {
  let offsetMs = 0;
  return {
    now: () => base() + offsetMs,
    shift(ms: number) {
      offsetMs += ms;
    },
  };
}
